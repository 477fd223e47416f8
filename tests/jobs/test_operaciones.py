"""``toolbox operaciones`` and ``--operaciones``: the source contract from the operations
webservice, against the loopback stub that serves a demo book as the webservice answers
(``toolbox_cli/demo/webservice.py``; ``webservice.md``, decision 25).

The equivalence tests are the spec's: the stub serves the book of a seed, ``operaciones``
stores it, the three tables equal what ``toolbox demo`` writes for the same book, and the
refreshes then reproduce the characterisation fixtures, on SQLite and on MariaDB.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, select

from tests.characterisation import OPERATIONS, RUNS, SEEDS, TABLES, TODAY, params, read_fixture, table_csv
from tests.support.loopback import free_port
from tests.support.progress import Recorder, Step
from tests.support.runs import DEMO_TODAY, run_named
from toolbox_cli import ledger
from toolbox_cli.demo import seed_demo
from toolbox_cli.demo.webservice import Faults, Stub
from toolbox_cli.errors import EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_USAGE
from toolbox_cli.registry import get_task
from toolbox_cli.runner import run_task
from toolbox_cli.settings import Settings
from toolbox_cli.storage.digest import table_digest
from toolbox_cli.storage.engine import Engines
from toolbox_cli.storage.lock import lock_for
from toolbox_cli.storage.tables.contract import (
    colocaciones,
    colocaciones_devoluciones,
    colocaciones_pagos,
)

OPERATIONS_TABLES = (colocaciones, colocaciones_pagos, colocaciones_devoluciones)
PASSWORD = "ws-Pa55word-of-the-test"


def with_webservice(settings: Settings, stub: Stub | str, **more: Any) -> Settings:
    url = stub if isinstance(stub, str) else stub.url
    return settings.model_copy(update={
        "operaciones_url": url, "operaciones_user": "demo",
        "operaciones_password": SecretStr(PASSWORD), "operaciones_backoff_seconds": 0.0,
        **more})


def rows_of(engines: Engines) -> dict[str, list[tuple[Any, ...]]]:
    """Each operations table's rows as typed values, in key order."""
    out = {}
    with engines.source.connect() as conn:
        for table in OPERATIONS_TABLES:
            key = next(iter(table.primary_key.columns))
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(key))]
    return out


def digests(engines: Engines) -> dict[str, str]:
    return {t.name: table_digest(engines.source, t, 5000) for t in OPERATIONS_TABLES}


@contextmanager
def stub_of(seed: int = 8, operations: int = 1000, today: Any = DEMO_TODAY,
            faults: Faults | None = None, host: str = "127.0.0.1") -> Iterator[Stub]:
    with Stub(operations=operations, seed=seed, today=today, password=PASSWORD,
              faults=faults, host=host) as stub:
        yield stub


# ---------------------------------------------------------------------- equivalence


@pytest.mark.parametrize("seed", SEEDS)
def test_the_webservice_book_is_stored_as_demo_stores_it_and_gives_the_fixtures(
        engines, toolbox_env, seed):
    seed_demo(engines.source, operations=OPERATIONS, seed=seed, today=TODAY)
    demo_rows = rows_of(engines)
    with engines.source.begin() as conn:
        for table in reversed(OPERATIONS_TABLES):
            conn.execute(delete(table))
    with stub_of(seed=seed, operations=OPERATIONS, today=TODAY) as stub:
        settings = with_webservice(toolbox_env, stub)
        outcome = run_named("operaciones", settings, engines)
    assert outcome.status == "success", outcome.error_message
    assert outcome.rows == {t.name: len(demo_rows[t.name]) for t in OPERATIONS_TABLES}
    got = rows_of(engines)
    for table in OPERATIONS_TABLES:
        for column_index, column in enumerate(table.columns):
            mine = [r[column_index] for r in got[table.name]]
            theirs = [r[column_index] for r in demo_rows[table.name]]
            assert mine == theirs, f"{table.name}.{column.name} differs from demo's"
    for task in RUNS:
        run = run_task(get_task(task), toolbox_env, params(get_task(task)), engines=engines)
        assert run.status == "success", f"{task}: {run.error_message}"
    for name in TABLES:
        assert table_csv(engines, name) == read_fixture(seed, name), f"{name} differs"


def test_the_source_tables_keep_their_indexes_after_the_swap(engines, toolbox_env):
    from sqlalchemy import inspect

    with stub_of() as stub:
        outcome = run_named("operaciones", with_webservice(toolbox_env, stub), engines)
    assert outcome.status == "success", outcome.error_message
    names = {ix["name"] for t in OPERATIONS_TABLES
             for ix in inspect(engines.source).get_indexes(t.name)}
    assert names == {ix.name for t in OPERATIONS_TABLES for ix in t.indexes}


# ---------------------------------------------------------------------- failures


def _unchanged_after(engines: Engines, settings: Settings, *, task: str = "operaciones",
                     **run_params: Any) -> Any:
    """Run ``task``; assert it failed with exit 1 and that no source or datamart table
    changed; return the outcome."""
    before = digests(engines)
    datamart_before = table_csv(engines, "kpi")
    outcome = run_named(task, settings, engines, as_of=DEMO_TODAY, **run_params)
    assert (outcome.status, outcome.exit_code) == ("failed", EXIT_FAILED), outcome
    assert "\n" not in outcome.error_message
    assert digests(engines) == before
    assert table_csv(engines, "kpi") == datamart_before
    return outcome


FAILURES = [
    ("http_500", Faults(status={"payments": 500}), "subquery: HTTP 500 (after 2 tries)"),
    ("http_404", Faults(status={"refunds": 404}), "subquery: HTTP 404"),
    ("not_a_list", Faults(body={"refunds": b'{"detail": "Internal error"}'}),
     "subquery: the answer is a JSON object, not a list"),
    ("html", Faults(body={"documents": b"<html><body>Mantenimiento</body></html>"},
                    content_type={"documents": "text/html"}),
     "subquery-cab: the answer is an HTML page, not data"),
    ("sign_in_page", Faults(body={"report2": b"<html><form>Usuario <input name=password>"
                                             b"</form></html>"},
                            content_type={"report2": "text/html; charset=utf-8"}),
     "colocaciones?reporte=2: the answer is a sign-in page, not data"),
    ("html_as_json", Faults(body={"payments": b"<!DOCTYPE html><title>Login</title>"}),
     "subquery: the answer is a sign-in page, not data"),
    ("truncated", Faults(truncate={"documents": 40_000}),
     "subquery-cab: the answer is cut or malformed in row"),
    ("truncated_between_rows", Faults(body={"payments": b'[{"IdLiquidacionPago": 1}'}),
     "subquery: the answer ends after 1 rows without closing its list (a truncated body)"),
    ("missing_field", Faults(drop_field={"documents": "IdLiquidacionDet"}),
     "subquery-cab#row 1: IdLiquidacionDet: missing"),
    ("unknown_report", Faults(status={"report0": 422}), "colocaciones?reporte=0: HTTP 422"),
]


@pytest.mark.parametrize("faults, expected", [f[1:] for f in FAILURES],
                         ids=[f[0] for f in FAILURES])
def test_a_bad_answer_fails_the_run_and_keeps_every_table(demo, toolbox_env, faults,
                                                           expected):
    with stub_of(faults=faults) as stub:
        settings = with_webservice(toolbox_env, stub, operaciones_attempts=2)
        outcome = _unchanged_after(demo, settings)
    assert expected in outcome.error_message


def test_an_unreachable_host_fails_after_its_tries(demo, toolbox_env):
    settings = with_webservice(toolbox_env, f"http://127.0.0.1:{free_port()}",
                               operaciones_attempts=3)
    outcome = _unchanged_after(demo, settings)
    assert outcome.error_message.startswith("token: cannot reach the operations webservice")
    assert outcome.error_message.endswith("(after 3 tries)")


def test_an_answer_slower_than_the_timeout_fails_after_its_tries(demo, toolbox_env):
    with stub_of(faults=Faults(delay={"refunds": 5.0})) as stub:
        settings = with_webservice(toolbox_env, stub, operaciones_attempts=2,
                                   operaciones_timeout_seconds=0.5)
        outcome = _unchanged_after(demo, settings)
    assert outcome.error_message == ("subquery: no answer within 0.5 s (after 2 tries)")
    assert stub.served.calls["refunds"] == 2


def test_a_refused_login_fails_naming_the_settings(demo, toolbox_env):
    with stub_of() as stub:
        settings = with_webservice(toolbox_env, stub)
        settings = settings.model_copy(update={"operaciones_password": SecretStr("wrong")})
        outcome = _unchanged_after(demo, settings)
    assert outcome.error_message.startswith("token: the webservice refused the login (HTTP 401)")
    assert "TOOLBOX_OPERACIONES_PASSWORD" in outcome.error_message


def test_one_401_is_answered_by_a_fresh_login(demo, toolbox_env):
    with stub_of(faults=Faults(refuse_token=1)) as stub:
        outcome = run_named("operaciones", with_webservice(toolbox_env, stub), demo)
    assert outcome.status == "success", outcome.error_message
    assert stub.served.logins == 2  # the first token, refused once, then a new one


def test_a_second_401_fails(demo, toolbox_env):
    with stub_of(faults=Faults(refuse_token=-1)) as stub:
        outcome = _unchanged_after(demo, with_webservice(toolbox_env, stub))
    assert outcome.error_message.startswith(
        "colocaciones?reporte=2: the webservice refused the token twice (HTTP 401)")
    assert stub.served.logins == 2


def test_the_token_is_not_sent_on_to_another_host_after_a_redirect(demo, toolbox_env):
    with stub_of(host="127.0.0.2") as elsewhere, \
            stub_of(faults=Faults(redirect_report_to=elsewhere.url)) as stub:
        outcome = _unchanged_after(demo, with_webservice(toolbox_env, stub))
    assert stub.served.authorizations[0].startswith("Bearer ")
    assert elsewhere.served.authorizations  # the redirect was followed
    assert all(a == "" for a in elsewhere.served.authorizations)
    assert "refused the token twice" in outcome.error_message


def test_report_rows_that_match_no_document_are_one_warning_then_fail_beyond_the_limit(
        demo, toolbox_env):
    rows = [{"CodigoLiquidacion": f"LIQ-NONE-{i}", "NroDocumento": "F1", "Anticipo": "No"}
            for i in range(53)]
    with stub_of() as stub:
        good = json.loads(stub.book.file("report2").read_text())
        # Decision 21's limit, 5 % of the rows read: 52 of 1 052 is 4.94 %, 53 of 1 053 5.03 %.
        stub.faults.body["report2"] = json.dumps(good + rows[:52]).encode()
        first = run_named("operaciones", with_webservice(toolbox_env, stub), demo)
        stub.faults.body["report2"] = json.dumps(good + rows[:53]).encode()
        before = digests(demo)
        second = run_named("operaciones", with_webservice(toolbox_env, stub), demo)
    assert first.status == "success", first.error_message
    matching = [w for w in first.warnings if "match no document" in w]
    assert matching == [
        "colocaciones?reporte=2: 52 of 1,052 rows match no document by CodigoLiquidacion and "
        "NroDocumento; their Anticipo, TramoAnticipo were not used (e.g. "
        "colocaciones?reporte=2#row 1001)"]
    assert second.status == "failed" and second.exit_code == EXIT_FAILED
    assert "colocaciones?reporte=2" in second.error_message and "53" in second.error_message
    assert digests(demo) == before


def test_the_task_without_its_settings_is_a_configuration_error(demo, toolbox_env):
    outcome = run_named("operaciones", toolbox_env, demo)
    assert (outcome.status, outcome.exit_code) == ("failed", EXIT_USAGE)
    assert "TOOLBOX_OPERACIONES_URL is not set" in outcome.error_message


# ---------------------------------------------------------------------- the pre-step


def test_a_refresh_gets_fresh_operations_first_in_the_same_run(engines, toolbox_env):
    seed_demo(engines.source, operations=1000, seed=8, today=DEMO_TODAY)
    with engines.source.begin() as conn:
        for table in reversed(OPERATIONS_TABLES):
            conn.execute(delete(table))
    with stub_of() as stub:
        outcome = run_named("tablas-reportes", with_webservice(toolbox_env, stub), engines,
                            as_of=DEMO_TODAY, operaciones=True)
    assert outcome.status == "success", outcome.error_message
    assert outcome.rows["colocaciones"] == 1000 and outcome.rows["kpi"] > 0
    run = ledger.get_run(engines.datamart, outcome.run_id)
    assert set(run.tables) >= {t.name for t in OPERATIONS_TABLES}
    assert "operaciones" in run.sources


def test_scheduled_runs_fetch_by_default_and_manual_runs_do_not(demo, toolbox_env,
                                                                 monkeypatch):
    with stub_of() as stub:
        settings = with_webservice(toolbox_env, stub)
        manual = run_named("kpi", settings, demo, as_of=DEMO_TODAY)
        monkeypatch.setenv("TOOLBOX_TRIGGER", "cron")
        scheduled = run_named("kpi", settings, demo, as_of=DEMO_TODAY)
        opted_out = run_named("kpi", settings, demo, as_of=DEMO_TODAY, operaciones=False)
    assert manual.status == scheduled.status == opted_out.status == "success"
    assert "colocaciones" not in manual.rows and "colocaciones" not in opted_out.rows
    assert scheduled.rows["colocaciones"] == 1000
    assert stub.served.calls.get("documents") == 1


def test_a_failed_fetch_first_fails_the_refresh_before_it_computes(demo, toolbox_env):
    with stub_of(faults=Faults(status={"documents": 403})) as stub:
        outcome = _unchanged_after(demo, with_webservice(toolbox_env, stub), task="kpi",
                                   operaciones=True)
    assert outcome.error_message.startswith("subquery-cab: HTTP 403")
    assert "kpi" not in outcome.rows


def test_the_pre_step_waits_or_skips_on_a_locked_source_table(demo, toolbox_env):
    holder = ledger.start_run(demo.datamart, "operaciones", trigger="manual", slot=None,
                              params={}, tables=["colocaciones_pagos"])
    lock = lock_for(demo.datamart, ["colocaciones_pagos"])
    assert lock.acquire(wait=False)
    try:
        with stub_of() as stub:
            outcome = run_named("kpi", with_webservice(toolbox_env, stub), demo,
                                as_of=DEMO_TODAY, operaciones=True)
            without = run_named("kpi", with_webservice(toolbox_env, stub), demo,
                                as_of=DEMO_TODAY)
    finally:
        lock.release()
    assert (outcome.status, outcome.exit_code) == ("skipped", EXIT_LOCKED)
    assert f"colocaciones_pagos is locked by run {holder} (operaciones" in outcome.error_message
    assert (without.status, without.exit_code) == ("success", EXIT_OK)
    assert stub.served.calls == {}


def test_the_operations_flag_without_the_settings_is_a_usage_error(demo, toolbox_env):
    from toolbox_cli.errors import InputError
    from toolbox_cli.runner import plan_run

    with pytest.raises(InputError, match="TOOLBOX_OPERACIONES_URL is not set"):
        plan_run(get_task("kpi"), toolbox_env, {"operaciones": True})


def test_every_refresh_that_reads_operations_offers_the_pre_step():
    from toolbox_cli.registry import TASKS
    from toolbox_cli.tasks.operaciones import OPERACIONES_FIRST

    readers = {s.name for s in TASKS if "colocaciones" in s.reads and s.name != "operaciones"}
    offering = {s.name for s in TASKS if OPERACIONES_FIRST in s.refresh_first}
    assert readers == offering == {"kpi", "kpi-acumulado", "tablas-reportes", "tablas-cxc"}


def test_the_progress_line_counts_the_calls_and_the_rows_each_one_answered(engines,
                                                                             toolbox_env):
    recorder = Recorder()
    names = {"report2": "report 2", "report0": "report 0", "documents": "documents",
             "payments": "payments", "refunds": "refunds"}
    with stub_of() as stub:
        settings = with_webservice(toolbox_env, stub, chunk_size=300)
        outcome = run_task(get_task("operaciones"), settings, {"dry_run": False},
                           engines=engines, progress=recorder)
        served = {key: len(json.loads(stub.book.file(key).read_text())) for key in names}
    assert outcome.status == "success", outcome.error_message
    calls = {k: n for k, n in stub.served.calls.items() if k != "token"}
    assert calls == dict.fromkeys(names, 1)
    steps = recorder.steps("webservice")
    assert {(s.total, s.unit) for s in steps} == {(len(calls), "calls")}
    assert [s.done for s in steps] == sorted(s.done for s in steps)
    for number, key in enumerate(names):  # in the order the pipeline asks them
        assert Step(number, len(calls), f"asking {names[key]}", "calls") in steps
        assert Step(number + 1, len(calls), f"{names[key]}: {served[key]:,} rows received",
                    "calls") in steps
    shown = {s.detail for s in steps if s.detail.startswith("documents: ")}
    assert shown == {f"documents: {n:,} rows received"  # every chunk_size rows, and the end
                     for n in [*range(300, served["documents"] + 1, 300), served["documents"]]}
    assert "webservice" in recorder.finished


def test_a_retried_call_shows_its_try_and_the_line_goes_when_the_run_fails(demo, toolbox_env):
    recorder = Recorder()
    with stub_of(faults=Faults(status={"payments": 500})) as stub:
        settings = with_webservice(toolbox_env, stub, operaciones_attempts=3)
        outcome = run_task(get_task("operaciones"), settings, {"dry_run": False},
                           engines=demo, progress=recorder)
    assert outcome.status == "failed"
    details = recorder.details("webservice")
    assert stub.served.calls["payments"] == 3
    assert "payments: attempt 2 of 3 after HTTP 500" in details
    assert "payments: attempt 3 of 3 after HTTP 500" in details
    assert "webservice" in recorder.finished


def test_a_dry_run_fetches_and_counts_and_writes_nothing(engines, toolbox_env):
    with stub_of() as stub:
        outcome = run_named("operaciones", with_webservice(toolbox_env, stub), engines,
                            dry_run=True)
    assert outcome.status == "success", outcome.error_message
    assert outcome.rows["colocaciones"] == 1000 and outcome.dry_run
    assert {name: len(rows) for name, rows in rows_of(engines).items()} == {
        t.name: 0 for t in OPERATIONS_TABLES}


def test_values_that_are_not_scalars_are_counted_or_refused_not_a_crash(engines, toolbox_env):
    with stub_of() as stub:
        rows = json.loads(stub.book.file("payments").read_text())
        rows[0]["GastosPago"] = {"monto": 1}  # an object in an amount: NULL, counted
        stub.faults.body["payments"] = json.dumps(rows).encode()
        counted = run_named("operaciones", with_webservice(toolbox_env, stub), engines)
        rows[0]["IdLiquidacionPago"] = 10 ** 30  # an id no column can hold: refused
        stub.faults.body["payments"] = json.dumps(rows).encode()
        refused = run_named("operaciones", with_webservice(toolbox_env, stub), engines)
    assert counted.status == "success", counted.error_message
    assert any("colocaciones_pagos.GastosPago: not a number, stored NULL" in w
               for w in counted.warnings)
    assert refused.status == "failed"
    assert refused.error_message.startswith(
        "subquery#row 1: IdLiquidacionPago: '1000000000000000000000000000000' is not a number")


def test_a_key_repeated_in_a_report_uses_its_last_row_and_says_so(engines, toolbox_env):
    with stub_of() as stub:
        rows = json.loads(stub.book.file("report2").read_text())
        key = {k: rows[0][k] for k in ("CodigoLiquidacion", "NroDocumento")}
        # Padded keys are the same key (trimmed); the row after the original wins.
        before = {**rows[0], "Anticipo": "X-BEFORE"}
        after = {**rows[0], "Anticipo": "X-AFTER",
                 "CodigoLiquidacion": f" {key['CodigoLiquidacion']} "}
        stub.faults.body["report2"] = json.dumps([before, *rows, after]).encode()
        outcome = run_named("operaciones", with_webservice(toolbox_env, stub), engines)
    assert outcome.status == "success", outcome.error_message
    assert ("colocaciones?reporte=2: 2 rows repeat a document's CodigoLiquidacion and "
            "NroDocumento; the last one of each was used") in outcome.warnings
    with engines.source.connect() as conn:
        stored = conn.execute(select(colocaciones.c.Anticipo).where(
            colocaciones.c.CodigoLiquidacion == key["CodigoLiquidacion"],
            colocaciones.c.NroDocumento == key["NroDocumento"])).scalars().all()
        others = conn.execute(select(colocaciones.c.Anticipo).where(
            colocaciones.c.Anticipo.like("X-%"))).scalars().all()
    assert stored and set(stored) == {"X-AFTER"} and others == stored
