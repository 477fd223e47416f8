"""Bringing a MySQL/MariaDB database into being for ``toolbox db init``.

Only ``db init`` calls this: every other command on a missing database stops and asks for
``toolbox db init`` (``engine.translate_db_error``), so a mistyped URL in a cron entry or an
env file never creates a stray database. A SQLite file is created by the engine itself
(``make_engine(create=True)``), so there is nothing to do here for SQLite.
"""

from __future__ import annotations

from typing import NoReturn

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from toolbox_cli.errors import ConfigError
from toolbox_cli.storage.engine import describe_location, make_engine, translate_db_error

# Connecting to a missing database: 1049 (unknown database) for a user with rights on it,
# 1044 (access denied to the database) for one without, since the server does not tell
# such a user whether the database exists.
_NO_SUCH_DATABASE = {1044, 1049}
# CREATE DATABASE refused for want of a privilege.
_NOT_ALLOWED = {1044, 1142, 1227}


def _raise_translated(exc: DBAPIError, url: URL) -> NoReturn:
    """The user's one line for a failure every command reports alike, else ``exc`` itself."""
    err = translate_db_error(exc, url)
    if err is not None:
        raise err from None
    raise exc


def _code(exc: DBAPIError) -> object:
    orig = exc.orig
    return orig.args[0] if orig is not None and orig.args else None


def ensure_database(url: URL) -> bool:
    """Create the MySQL/MariaDB database of ``url`` (``CREATE DATABASE IF NOT EXISTS``,
    utf8mb4) when the server says it is not there; True if it was missing and created.

    A user who may not create it gets one line (ConfigError, exit 2) naming the grant a DBA
    would give, with the account as the server knows it (``CURRENT_USER()``: the host part
    of the grant is the server's, not the URL's). Every other failure (the server down, a
    wrong password) is the usual translated error, so ``db init`` reports it like any
    command."""
    if url.get_backend_name() == "sqlite" or not url.database:
        return False
    engine = make_engine(url)
    try:
        with engine.connect():
            return False
    except DBAPIError as exc:
        code = _code(exc)
        if code not in _NO_SUCH_DATABASE:
            _raise_translated(exc, url)
    finally:
        engine.dispose()
    return _create(url, hidden=code == 1044)


def _create(url: URL, *, hidden: bool) -> bool:
    """CREATE DATABASE on a connection to the server alone. ``hidden``: the server refused
    the database rather than saying it is missing, so it may exist out of the user's reach."""
    name = str(url.database)
    quoted = "`" + name.replace("`", "``") + "`"
    # ``url.set(database=None)`` would keep the database: None there means "unchanged".
    server = make_engine(URL.create(url.drivername, url.username, url.password, url.host,
                                    url.port, None, url.query))
    try:
        with server.connect() as conn:
            account = str(conn.exec_driver_sql("SELECT CURRENT_USER()").scalar_one())
            user, _, host = account.rpartition("@")
            grantee = f"'{user}'@'{host}'"
            existed = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                (name,)).scalar_one()
            try:
                conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS {quoted} "
                                     "CHARACTER SET utf8mb4")
            except DBAPIError as exc:
                if _code(exc) not in _NOT_ALLOWED:
                    raise
                where = describe_location(url)
                what = (f"user {grantee} may not use {where} (it does not exist, or the user "
                        "has no rights on it) nor create it" if hidden else
                        f"{where} does not exist and user {grantee} may not create it")
                raise ConfigError(
                    f"{what}; ask a DBA to run GRANT ALL PRIVILEGES ON {quoted}.* TO {grantee} "
                    "(or to create the database), then run toolbox db init again"
                ) from None
    except DBAPIError as exc:
        _raise_translated(exc, url)
    finally:
        server.dispose()
    return not existed
