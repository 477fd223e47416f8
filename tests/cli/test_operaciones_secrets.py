"""The webservice's password and its tokens appear nowhere a person or a program reads:
the screen, the run's log, the ledger, ``status --json``, ``config``, the notifications and
the metrics; after a run that succeeds and one that fails, with ``--debug`` too."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from tests.cli.test_notifications import Stub as Receiver
from tests.jobs.test_operaciones import PASSWORD, stub_of
from tests.support.runs import DEMO_TODAY
from toolbox_cli.storage.tables.ledger import runs


def test_the_password_and_the_token_are_never_shown_nor_stored(demo, cli, clean_env: Path):
    receiver = Receiver()
    seen: list[str] = []
    try:
        with stub_of() as stub:
            env = {"TOOLBOX_OPERACIONES_URL": stub.url, "TOOLBOX_OPERACIONES_USER": "demo",
                   "TOOLBOX_OPERACIONES_PASSWORD": PASSWORD, "TOOLBOX_TRIGGER": "cron",
                   "TOOLBOX_OPERACIONES_BACKOFF_SECONDS": "0",
                   "TOOLBOX_NOTIFY_URLS": f"json://127.0.0.1:{receiver.port}/hook"}
            good = cli("operaciones", **env)
            seen.append(good.output)
            assert good.exit_code == 0, good.output
            stub.faults.refuse_token = -1
            bad = cli("--debug", "kpi", "--hasta", str(DEMO_TODAY), "--fecha-corte",
                      str(DEMO_TODAY), **env)
            seen.append(bad.output)
            assert bad.exit_code == 1 and "refused the token twice" in bad.output, bad.output
            for command in (["status", "--json"], ["status", "2"], ["list", "--json"],
                            ["config"], ["config", "--json"], ["metrics"], ["logs", "2"]):
                result = cli(*command, **env)
                seen.append(result.output)
            tokens = set(stub.tokens)
    finally:
        receiver.close()
    assert len(tokens) == 3  # one login by the first run, two by the second (401, 401)
    seen += [p.read_text() for p in (clean_env / "logs").rglob("*") if p.is_file()]
    with demo.datamart.connect() as conn:
        seen += [json.dumps([str(v) for v in row]) for row in conn.execute(select(runs))]
    notified = receiver.notifications()
    assert notified, "the failed run was notified"
    seen += [json.dumps(n) for n in notified]
    assert any("refused the token twice" in text for text in seen[1:2])
    blob = "\n".join(seen)
    assert PASSWORD not in blob
    for token in tokens:
        assert token not in blob
    config = json.loads(next(t for t in seen if '"operaciones_password"' in t))
    assert config["operaciones_password"] == "********"
