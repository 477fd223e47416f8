"""A URL's path and query are secrets by structure, not by length (issue 20, item 6): a sheet
URL given on the command line is shown and stored as scheme://host/…, a server's answer that
echoes the request is scrubbed before it is shown or stored, and no library's debug output
prints a configured URL."""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.loopback import QuietHandler, free_port, loopback, serving
from toolbox_cli.settings import display_url, scrub, url_secrets
from toolbox_cli.storage.tables.ledger import runs


class Echo(QuietHandler):
    """Answers with the request's path and query inside: as an error of a web app (JSON) or
    as the header of a CSV."""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        if "json" in self.path:
            body = json.dumps({"error": f"no deployment at {self.path}"}).encode()
            kind = "application/json"
        else:
            body = f"{urllib.parse.unquote(self.path)},SECTOR\n1,x\n".encode()
            kind = "text/csv"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_url_is_shown_as_its_scheme_and_host() -> None:
    assert display_url("https://script.google.com/macros/s/abc/exec?key=xyz9") == \
        "https://script.google.com/…"
    assert display_url("http://user:pw@127.0.0.1:8080/") == "http://127.0.0.1:8080"
    secrets = url_secrets("https://script.google.com/macros/s/abc/exec?key=xyz9&output=csv&gid=0")
    assert {"abc", "xyz9", "/macros/s/abc/exec"} <= set(secrets)
    assert not {"macros", "s", "exec", "csv", "0"} & set(secrets)  # the fixed words stay
    # A short secret goes only where it is a whole word: the words around it survive.
    assert scrub("deployment abc of /macros/s/abc/exec; abcdef", ["abc"]) == \
        "deployment ******** of /macros/s/********/exec; abcdef"


@pytest.mark.parametrize("key", ["abc", "AKfycbx" + "Q" * 30])  # short and long alike
@pytest.mark.parametrize("answer", ["json", "csv"])
def test_an_answer_echoing_the_request_never_shows_its_path_or_query(cli, engines, key, answer):
    server = loopback(Echo)
    url = (f"http://127.0.0.1:{server.server_address[1]}/macros/s/{key}/{answer}/exec"
           "?key=VALUE9")
    with serving(server):
        result = cli("import", "sectores", url)
        assert result.exit_code == 2
        status = cli("status", "--json")
    with engines.datamart.connect() as conn:
        ledger_rows = json.dumps([dict(r) for r in conn.execute(select(runs)).mappings()],
                                 default=str)
    logs = "".join(p.read_text() for p in Path(os.environ["TOOLBOX_LOG_DIR"]).glob("*.log"))
    seen = result.output + status.output + ledger_rows + logs
    assert "127.0.0.1" in result.output  # the host is named ...
    for secret in (key, "VALUE9", "/macros/s/"):  # ... nothing after it
        assert secret not in seen, secret


def test_debug_output_of_a_notification_never_shows_its_url(cli, toolbox_env) -> None:
    """Apprise logs the URLs it loads and posts to at DEBUG: --debug shows them scrubbed."""
    token = "tok9" + "Z" * 12
    result = cli("--debug", "notify", "--test",
                 TOOLBOX_NOTIFY_URLS=f"json://127.0.0.1:{free_port()}/hook/{token}")
    assert "DEBUG" in result.stderr  # the library's debug lines are there ...
    assert token not in result.output  # ... without the URL's key
