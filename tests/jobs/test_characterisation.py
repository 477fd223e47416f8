"""The current code reproduces the committed characterisation fixtures exactly.

Every datamart table of two demo books (1 000 operations each, fixed day and cut-off), as the
row-at-a-time implementation computed them after the fidelity fixes of decisions 17-20
(``scripts/characterise.py`` wrote them): same rows, money to the cent, rates to 6 decimals,
same texts and dates. On SQLite and, marked ``production``, on MariaDB.
"""

from __future__ import annotations

import difflib

import pytest

from tests.characterisation import (
    OPERATIONS,
    RUNS,
    SEEDS,
    TABLES,
    TODAY,
    params,
    read_fixture,
    table_csv,
)
from toolbox_cli.demo import seed_demo
from toolbox_cli.registry import get_task
from toolbox_cli.runner import run_task


@pytest.mark.parametrize("seed", SEEDS)
def test_every_datamart_table_matches_its_fixture(engines, toolbox_env, seed):
    seed_demo(engines.source, operations=OPERATIONS, seed=seed, today=TODAY)
    for task in RUNS:
        outcome = run_task(get_task(task), toolbox_env, params(get_task(task)), engines=engines)
        assert outcome.status == "success", f"{task}: {outcome.error_message}"
    for name in TABLES:
        got, expected = table_csv(engines, name), read_fixture(seed, name)
        if got != expected:
            diff = "\n".join(list(difflib.unified_diff(
                expected.splitlines(), got.splitlines(), "fixture", "now", lineterm="", n=0))[:12])
            pytest.fail(f"seed {seed}, {name} differs from its fixture:\n{diff}")
