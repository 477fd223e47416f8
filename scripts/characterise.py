#!/usr/bin/env python3
"""Write the characterisation fixtures (tests/characterisation/seed*/TABLE.csv.gz).

    .venv/bin/python scripts/characterise.py

For each demo seed: a fresh SQLite database, the demo book (1 000 operations, fixed day),
then tablas-reportes, kpi-acumulado and tablas-cxc with that day as cut-off; every datamart
table is dumped. Run it only to pin what the code computes *now*, before changing how it
computes; tests/test_characterisation.py then checks that later code reproduces the files.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.characterisation import (  # noqa: E402
    OPERATIONS,
    RUNS,
    SEEDS,
    TABLES,
    TODAY,
    params,
    table_csv,
    write_fixture,
)
from toolbox_cli.demo import seed_demo  # noqa: E402
from toolbox_cli.registry import get_task  # noqa: E402
from toolbox_cli.runner import run_task  # noqa: E402
from toolbox_cli.settings import Settings  # noqa: E402
from toolbox_cli.storage.engine import init_schema, open_engines  # noqa: E402


def main() -> int:
    for seed in SEEDS:
        with tempfile.TemporaryDirectory() as tmp:
            # _env_file: BaseSettings' own argument, not a field, so mypy does not know it.
            settings = Settings(_env_file=None,  # type: ignore[call-arg]  # see above
                                database_url=f"sqlite:///{tmp}/c.db", data_dir=Path(tmp))
            engines = open_engines(settings, create=True)
            init_schema(engines)
            seed_demo(engines.source, operations=OPERATIONS, seed=seed, today=TODAY)
            for task in RUNS:
                outcome = run_task(get_task(task), settings, params(get_task(task)), engines=engines)
                if outcome.status != "success":
                    print(f"seed {seed}: {task} {outcome.status}: {outcome.error_message}")
                    return 1
            for name in TABLES:
                text = table_csv(engines, name)
                write_fixture(seed, name, text)
                print(f"seed {seed}: {name}: {text.count(chr(10)) - 1} rows")
            engines.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
