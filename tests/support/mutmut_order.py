"""A pytest plugin for ``make mutate``: per mutant, the fast tests only, the fastest first.

mutmut runs, for each mutant, the selected tests that call the mutated function, with
``-x``; a surviving mutant runs all of them. The tests that seed a demo book and run whole
tasks (the ``demo`` fixture, about a second each) would make a run take hours on two cores,
so they are left out here (``make test`` runs them), and so are the MariaDB (``production``)
tests but the lock's; what they check of the mutated modules is checked directly by the unit
tests (``tests/unit/test_mutants_*.py``) and, for the MySQL lock, by
``tests/storage/test_mutants_mysql_lock.py`` against the real server. The pure unit
tests then run before the storage tests, so most mutants die in milliseconds.
Loaded by ``[tool.mutmut] pytest_add_cli_args``; no other run uses it.
"""

from __future__ import annotations

import pytest


def _rank(item: pytest.Item) -> int:
    path = item.nodeid
    if path.startswith("tests/unit/test_mutants_"):
        return 0
    if path.startswith("tests/unit/"):
        return 1
    return 2


# The MariaDB tests that run per mutant (``make mutate`` brings the server up and names it in
# TOOLBOX_TEST_MYSQL_URL; ``-m "not cron"`` lets ``production`` tests through): the lock's.
# The other ``production`` tests of the selected files repeat SQLite tests on MariaDB.
MYSQL_TESTS = ("tests/storage/test_mutants_mysql_lock.py::",)


def _slow(item: pytest.Item) -> bool:
    if "demo" in getattr(item, "fixturenames", ()):
        return True
    return (item.get_closest_marker("production") is not None
            and not item.nodeid.startswith(MYSQL_TESTS))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = [item for item in items if _slow(item)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item not in slow]
    items.sort(key=_rank)  # stable: the order within each group stays pytest's
