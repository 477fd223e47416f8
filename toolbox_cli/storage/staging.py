"""Staging tables and the atomic swap, without the frames (cheap to import).

Each new table is built in a staging table named ``<table>__stg_<tag>`` (the run id), and
only when every table of the call is complete (and passed the guard) are they swapped in:
MySQL/MariaDB with one ``RENAME TABLE`` statement (atomic for all its pairs), SQLite with
DROP + ALTER TABLE ... RENAME inside one transaction. Readers see the old rows or the new
rows; a failed or killed run leaves the old tables as they were (at worst a staging table is
left behind, dropped by the next run with that tag or by ``drop_staging_tables`` when the
run is reaped as crashed).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence

from sqlalchemy import Index, MetaData, Table, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateIndex

from toolbox_cli.storage.engine import is_mysql


def staging_name(table: str, tag: str) -> str:
    return f"{table}__stg_{tag}"


def _old_name(table: str, tag: str) -> str:
    return f"{table}__old_{tag}"


def staging_copy(table: Table, name: str, engine: Engine | None = None) -> Table:
    """The staging table of ``table``. On MySQL/MariaDB it carries the table's indexes
    (their names are the table's own, and RENAME keeps them); on SQLite, whose index names
    are global to the database, it carries none and ``swap_in`` builds them under their
    own names once the old table is gone, in the swap's transaction."""
    copy = table.to_metadata(MetaData(), name=name)
    if engine is None or not is_mysql(engine):
        copy.indexes.clear()
    return copy


def pause_point(phase: str) -> None:
    """Fault-injection hook for the crash tests: TOOLBOX_PAUSE_AT=<phase>:<seconds>.

    Announces the phase on stderr and sleeps, so a test can kill the process at an exact
    point of the write (staging, before_swap, after_swap). Does nothing when unset.
    """
    wanted = os.environ.get("TOOLBOX_PAUSE_AT", "")
    name, _, seconds = wanted.partition(":")
    if name == phase:
        print(f"toolbox-pause: {phase}", file=sys.stderr, flush=True)
        # In short slices: the kernel may hand a SIGTERM to any of the process's threads
        # (Polars', connectorx's), and Python runs its handler only when the main thread
        # next runs Python code; one long sleep would hold it until the sleep ends.
        until = time.monotonic() + float(seconds or 30)
        while time.monotonic() < until:
            time.sleep(0.05)


def swap_in(engine: Engine, names: list[str], *, tag: str,
            check_alive: Callable[[], None] = lambda: None,
            on_publish: Callable[[], None] = lambda: None,
            indexes: Sequence[Index] = ()) -> None:
    """Swap every staging table in at once. ``on_publish`` is called right before the
    statement that publishes them: from then on the run must not stop half-told.
    ``indexes``: the secondary indexes of the swapped tables (the source tables have some),
    which SQLite builds inside the swap's transaction (``staging_copy``)."""
    existing = set(inspect(engine).get_table_names())
    check_alive()
    pause_point("before_swap")
    on_publish()
    if is_mysql(engine):
        q = engine.dialect.identifier_preparer.quote
        pairs: list[str] = []
        for name in names:
            if name in existing:
                pairs.append(f"{q(name)} TO {q(_old_name(name, tag))}")
            pairs.append(f"{q(staging_name(name, tag))} TO {q(name)}")
        with engine.connect() as conn:
            # One RENAME TABLE statement is atomic for all of its pairs.
            conn.exec_driver_sql("RENAME TABLE " + ", ".join(pairs))
            for name in names:
                if name in existing:
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(_old_name(name, tag))}")
    else:
        q = engine.dialect.identifier_preparer.quote
        with engine.begin() as conn:
            # A view over a table (the legacy's names, decision 24) must not stop the swap:
            # SQLite's ALTER TABLE RENAME re-checks every view and fails on one whose table
            # was just dropped; with legacy_alter_table on, SQLite renames without looking at
            # views, which then read the new table by its name.
            conn.exec_driver_sql("PRAGMA legacy_alter_table = ON")
            try:
                for name in names:
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(name)}")
                    conn.exec_driver_sql(
                        f"ALTER TABLE {q(staging_name(name, tag))} RENAME TO {q(name)}")
            finally:
                conn.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
            for index in indexes:
                conn.execute(CreateIndex(index))


def drop_staging_tables(engine: Engine, tag: str, only: list[str] | None = None) -> list[str]:
    """Drop the staging tables a run left behind (killed, crashed or failed)."""
    try:
        names = inspect(engine).get_table_names()
    except Exception:  # the database may be the reason we are cleaning up
        return []
    suffixes = (f"__stg_{tag}", f"__old_{tag}")
    dropped = []
    q = engine.dialect.identifier_preparer.quote
    for name in names:
        if name.endswith(suffixes) and (only is None or _base_name(name) in only):
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(name)}")
                dropped.append(name)
            except Exception:
                pass
    return dropped


def _base_name(name: str) -> str:
    return name.rsplit("__stg_", 1)[0].rsplit("__old_", 1)[0]
