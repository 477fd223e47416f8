#!/usr/bin/env python3
"""The mutation score of the modules that decide what gets published (``make mutate``).

mutmut 3 mutates whole files; ``SCOPE`` names the functions in scope, as mutmut's mutant
names (``module.x_function__mutmut_N``, methods ``module.xǁClassǁmethod__mutmut_N``):

    scripts/mutation_score.py scope    # the globs, one a line, for `mutmut run`
    scripts/mutation_score.py          # the score of the last run; exit 1 if it fails

The score reads mutmut's results (``mutants/**/*.py.meta``). It fails when a mutant in scope
survived and is not listed in ``tests/mutants-equivalent.txt`` (one ``name  reason`` a line:
a mutant no test can tell from the original, with why), when one was never checked (an
interrupted run), or when mutmut found no test for it. A new surviving mutant therefore
fails ``make mutate`` until a test kills it or it is listed with its reason. A listed
mutant that is killed now is reported, so the list does not outlive its reasons.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MUTANTS = REPO / "mutants"
EQUIVALENT = REPO / "tests" / "mutants-equivalent.txt"

# What is mutated, by module (``[tool.mutmut] only_mutate`` lists the files).
SCOPE: dict[str, list[str]] = {
    "guard": ["toolbox_cli.storage.guard.*"],
    "lock": ["toolbox_cli.storage.lock.*"],
    # The writer's rounding (decision 12), not its loading and swapping.
    "rounding": [f"toolbox_cli.storage.writer.x_{name}__mutmut_*"
                 for name in ("half_up", "_half_up_fast", "_round_money", "prepare")],
    "payment collapse": ["toolbox_cli.compute.payments.*"],  # decision 3
    # The ledger's status transitions, not its lookups (holder_of, get_run, recent_runs...).
    "ledger transitions": [f"toolbox_cli.ledger.lifecycle.x_{name}__mutmut_*"
                           for name in ("start_run", "record_skipped", "record_unstarted",
                                        "heartbeat", "finish_run", "reap_crashed")],
}
# Not yet in scope (issue 26 item 5 asks for it too; README "Tests"): the cell rules
# (toolbox_cli.compute.cells.*, 443 mutants). Adding one: its file to [tool.mutmut]
# only_mutate, its globs here, its tests to pytest_add_cli_args_test_selection.

# mutmut's exit codes (mutmut/stats.py): killed when a test failed or timed out.
KILLED = {1, 3, 36, -24, 24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


def scope_patterns() -> list[str]:
    return [pattern for patterns in SCOPE.values() for pattern in patterns]


def module_of(name: str) -> str | None:
    for module, patterns in SCOPE.items():
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return module
    return None


def load_results() -> dict[str, int | None]:
    results: dict[str, int | None] = {}
    for meta in MUTANTS.glob("toolbox_cli/**/*.py.meta"):
        results.update(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])
    return results


def load_equivalent() -> dict[str, str]:
    """``name  reason`` lines; blank lines and ``#`` comments skipped."""
    if not EQUIVALENT.exists():
        return {}
    listed = {}
    for line in EQUIVALENT.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        listed[name] = reason.strip()
    return listed


def status(code: int | None) -> str:
    if code is None:
        return "not checked"
    if code in KILLED:
        return "killed"
    if code in SURVIVED:
        return "survived"
    if code in NO_TESTS:
        return "no tests"
    return "suspicious"


def report() -> int:
    results = {n: c for n, c in load_results().items() if module_of(n) is not None}
    if not results:
        print("mutation score: no results in mutants/; run `make mutate`", file=sys.stderr)
        return 2
    equivalent = load_equivalent()
    rows: dict[str, Counter[str]] = {m: Counter() for m in SCOPE}
    problems: list[str] = []
    stale = []
    for name, code in sorted(results.items()):
        module = module_of(name)
        assert module is not None
        state = status(code)
        if state == "survived" and name in equivalent:
            state = "equivalent"
        elif state != "survived" and name in equivalent:
            stale.append(f"{name}: listed as equivalent but {state}")
        rows[module][state] += 1
        if state in ("survived", "not checked", "no tests", "suspicious"):
            problems.append(f"{name}: {state}")
    print(f"{'module':<20} {'mutants':>7} {'killed':>7} {'equiv.':>7} {'other':>6}  score")
    total: Counter[str] = Counter()
    for module, counts in rows.items():
        total += counts
        print(_line(module, counts))
    print(_line("total", total))
    listing = EQUIVALENT.relative_to(REPO) if EQUIVALENT.is_relative_to(REPO) else EQUIVALENT
    for line in stale:
        print(f"stale entry in {listing}: {line}")
    if problems:
        print(f"\n{len(problems)} mutant(s) neither killed nor listed as equivalent "
              f"(`mutmut show NAME`; kill it with a test or list it with why in "
              f"{listing}):")
        for line in problems:
            print(f"  {line}")
        return 1
    return 0


def _line(module: str, counts: Counter[str]) -> str:
    mutants = sum(counts.values())
    killed, equivalent = counts["killed"], counts["equivalent"]
    other = mutants - killed - equivalent
    score = 100.0 * killed / mutants if mutants else 0.0
    of_killable = 100.0 * killed / (mutants - equivalent) if mutants - equivalent else 0.0
    return (f"{module:<20} {mutants:>7} {killed:>7} {equivalent:>7} {other:>6}  "
            f"{score:5.1f}% killed ({of_killable:.1f}% of the non-equivalent)")


def main(argv: list[str]) -> int:
    if argv[1:] == ["scope"]:
        print("\n".join(scope_patterns()))
        return 0
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    return report()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
