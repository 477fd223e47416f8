"""A sheet URL that carries a login (``https://user:password@host/...``, a proxy in front of
the sheets) is read with that login as HTTP Basic, not taken for a host name; the login is
never sent to another host on a redirect, and it is a secret like the rest of the URL."""

from __future__ import annotations

import base64
import json

from tests.support.loopback import QuietHandler, loopback, serving

SECTORES = [{"RUC": "20100000001", "SECTOR": "Minería", "GRUPO ECO.": "Grupo Andino"}]


def test_a_sheet_url_with_a_login_is_read_with_basic_auth(cli, toolbox_env) -> None:  # type: ignore[no-untyped-def]
    seen: list[str | None] = []

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802  (http.server's name)
            seen.append(self.headers.get("Authorization"))
            body = json.dumps(SECTORES).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = loopback(Handler)
    port = server.server_address[1]
    assert cli("db", "init").exit_code == 0
    with serving(server):
        url = f"http://ana:s3cr%40t@127.0.0.1:{port}/macros/s/KEY/exec"
        result = cli("import", "sectores", url)
    assert result.exit_code == 0, result.output
    assert "1 row read" in result.stdout
    assert seen == ["Basic " + base64.b64encode(b"ana:s3cr@t").decode()]
    assert "s3cr" not in result.output
