"""The table registry: every table the toolbox reads or writes, defined once, in this package.

One module per family, each on one of the two schemas of ``metadata.py``:

- ``ledger``: the run ledger (datamart database), the only tables kept across versions;
- ``contract``: the source contract, what the jobs read (source database);
- ``reportes``, ``cxc``: the datamart tables the BI dashboards read.

Importing this package (or any module of it) imports every module of it, so the registry is
complete whoever imports what: ``db init`` creates every table, the writer and the guard
know every table, a per-table setting is checked against all of them. A task that writes a
new table defines it in a module here, new or existing, and nothing else needs to know.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

from sqlalchemy import Table

from toolbox_cli.errors import TaskFailed
from toolbox_cli.storage.tables.metadata import datamart_metadata, source_metadata

__all__ = ["datamart_metadata", "datamart_table", "guarded_tables", "ledger_tables",
           "source_metadata", "source_table", "undefined"]


def _import_every_module() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_import_every_module()

# Names such as Año, ñ in legal names and arrows in warnings need utf8mb4 whatever the
# server's default character set is (a stock MariaDB defaults to latin1).
for _metadata in (source_metadata, datamart_metadata):
    for _table in _metadata.tables.values():
        _table.kwargs.setdefault("mysql_charset", "utf8mb4")
        _table.kwargs.setdefault("mysql_collate", "utf8mb4_unicode_ci")


def ledger_tables() -> list[Table]:
    """The ledger's tables (``toolbox_runs`` and the two beside it)."""
    from toolbox_cli.storage.tables.ledger import LEDGER_TABLES

    return list(LEDGER_TABLES)


def datamart_table(name: str) -> Table:
    """The datamart table ``name`` (not a ledger table)."""
    table = datamart_metadata.tables.get(name)
    if table is None or table in ledger_tables():
        raise TaskFailed(f"no datamart table named {name!r} is defined in "
                         "toolbox_cli/storage/tables")
    return table


def source_table(name: str) -> Table:
    table = source_metadata.tables.get(name)
    if table is None:
        raise TaskFailed(f"no source table named {name!r} is defined in "
                         "toolbox_cli/storage/tables")
    return table


def guarded_tables() -> list[str]:
    """Every table a run may replace or write, so every table the guard judges: the
    datamart tables and the source-contract tables (the ledger's are not among them)."""
    ledger = {t.name for t in ledger_tables()}
    return sorted({*datamart_metadata.tables, *source_metadata.tables} - ledger)


def undefined(names: Iterable[str]) -> list[str]:
    """Those of ``names`` that name no table a run may write or read, in the order given."""
    known = set(guarded_tables())
    return [name for name in names if name not in known]
