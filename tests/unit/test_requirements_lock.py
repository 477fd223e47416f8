"""requirements.lock pins what pyproject.toml asks for: a dependency edit without `make lock` fails here.

Offline and fast: it only reads pyproject.toml and requirements.lock.
"""

import re
import tomllib

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tests.support.paths import REPO

PYPROJECT = REPO / "pyproject.toml"
LOCK = REPO / "requirements.lock"
FIX = "pyproject.toml and requirements.lock disagree: run make lock (and commit requirements.lock)"


def _pyproject_requirements() -> list[tuple[str, Requirement]]:
    """(where, requirement) for the main dependencies and every optional-dependencies extra."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    groups = {"": project.get("dependencies", [])}
    groups.update(project.get("optional-dependencies", {}))
    own_name = canonicalize_name(project["name"])
    found = []
    for extra, lines in groups.items():
        where = f"[project.optional-dependencies] {extra}" if extra else "[project] dependencies"
        for line in lines:
            req = Requirement(line)
            if canonicalize_name(req.name) == own_name:
                continue  # an extra that pulls in other extras of this project
            if req.marker is not None and not req.marker.evaluate({"extra": extra}):
                continue  # not for this interpreter / platform
            found.append((where, req))
    return found


def _lock_lines() -> list[str]:
    """The lock's requirement lines: comments, blank lines and `--hash` options removed."""
    text = LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = []
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw)
        line = re.sub(r"\s--hash=\S+", "", line).strip()
        if line:
            lines.append(line)
    return lines


def _exact_pin(line: str) -> tuple[str, str] | None:
    """(normalized name, version) when the line is a plain `name==version` pin, else None."""
    try:
        req = Requirement(line)
    except InvalidRequirement:
        return None  # an option such as `-e .` or `--index-url ...`
    specs = list(req.specifier)
    if req.url or req.extras or len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
        return None
    try:
        Version(specs[0].version)
    except InvalidVersion:
        return None
    return canonicalize_name(req.name), specs[0].version


def _lock_pins() -> dict[str, str]:
    return dict(pin for pin in map(_exact_pin, _lock_lines()) if pin is not None)


def test_the_lock_exists_and_pins_something():
    assert LOCK.is_file(), f"{LOCK.name} is missing: run make lock"
    assert _lock_pins(), f"{LOCK.name} pins nothing: run make lock"


def test_the_lock_pins_only_exact_versions():
    loose = [line for line in _lock_lines() if _exact_pin(line) is None]
    assert not loose, (
        f"{LOCK.name} must hold only `name==version` lines (no ranges, URLs, extras or options), found:\n  "
        + "\n  ".join(loose)
        + "\nrun make lock"
    )


def test_every_dependency_of_pyproject_is_pinned_in_the_lock():
    pins = _lock_pins()
    missing = [
        f"{req} ({where})"
        for where, req in _pyproject_requirements()
        if canonicalize_name(req.name) not in pins
    ]
    assert not missing, f"not pinned in {LOCK.name}:\n  " + "\n  ".join(missing) + f"\n{FIX}"


def test_every_pinned_version_satisfies_its_pyproject_requirement():
    pins = _lock_pins()
    wrong = []
    for where, req in _pyproject_requirements():
        version = pins.get(canonicalize_name(req.name))
        if version is not None and not req.specifier.contains(version, prereleases=True):
            wrong.append(f"{req} ({where}): the lock pins {version}")
    assert not wrong, (
        f"{LOCK.name} pins versions that pyproject.toml excludes:\n  " + "\n  ".join(wrong) + f"\n{FIX}"
    )
