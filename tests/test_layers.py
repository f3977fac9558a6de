"""The house's import rules: which package may import which, checked on every file.

Data walks one way: the domain decides, projections fold, the published log's contract
(eventlog) is shared by everything on the log, consumers and replay run on it, and only
`supportlog` (the composition root and entry points) knows them all. A new import
against these rules fails `./sl test` with the file and line. Imports inside functions
count too: a late import is still an import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The project's packages and which others each may import (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    "domain": frozenset(),
    "projections": frozenset({"domain"}),
    "eventlog": frozenset({"domain"}),
    "consumers": frozenset({"domain", "projections", "eventlog"}),
    "replay": frozenset({"domain", "projections", "eventlog"}),
    "supportlog": frozenset({"domain", "projections", "eventlog", "consumers", "replay"}),
    # The example subscriber stands for a downstream service: the topic is all it has.
    "examples": frozenset({"eventlog"}),
}

#: Infrastructure clients a package must not use: the domain is pure (no Kafka, no SQL,
#: no cryptography: it is given a cipher and never holds a key, R-PRV-1), and the folds
#: and their tables know nothing of Kafka.
FORBIDDEN_LIBRARIES: dict[str, frozenset[str]] = {
    "domain": frozenset({"kafka", "psycopg", "psycopg_pool", "cryptography"}),
    "projections": frozenset({"kafka"}),
}

PACKAGES = frozenset(ALLOWED)


def imports_of(source: str) -> list[tuple[int, str]]:
    """Returns (line, top-level name) of every import in `source`, nested ones too."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def violations(package: str, relative: str, source: str) -> list[str]:
    """Returns `path:line: package imports name` for every import the rules forbid."""
    out = []
    for line, name in imports_of(source):
        if name == package:
            continue
        if name in PACKAGES and name not in ALLOWED[package]:
            out.append(f"{relative}:{line}: {package} may not import {name}")
        if name in FORBIDDEN_LIBRARIES.get(package, ()):
            out.append(f"{relative}:{line}: {package} may not use {name}")
    return out


def house_violations() -> list[str]:
    """Returns every forbidden import of the project's source files."""
    out: list[str] = []
    for package in sorted(PACKAGES):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            out.extend(violations(package, relative, path.read_text()))
    return out


def test_every_package_imports_only_what_the_house_allows() -> None:
    problems = house_violations()
    assert not problems, "forbidden imports:\n" + "\n".join(problems)


def test_every_top_level_package_has_a_rule() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages - {"tests"} <= PACKAGES, f"no import rule for {packages - PACKAGES}"


@pytest.mark.parametrize(("package", "source", "expected"), [
    ("replay", "from consumers.relay import Relay\n", "x.py:1: replay may not import consumers"),
    ("replay", "def f():\n    import supportlog.bootstrap\n",
     "x.py:2: replay may not import supportlog"),
    ("domain", "import psycopg\n", "x.py:1: domain may not use psycopg"),
    ("projections", "from eventlog.envelope import Envelope\n",
     "x.py:1: projections may not import eventlog"),
    ("eventlog", "from projections.changes import Change\n",
     "x.py:1: eventlog may not import projections"),
])
def test_a_forbidden_import_is_named_with_its_file_and_line(package: str, source: str,
                                                             expected: str) -> None:
    assert violations(package, "x.py", source) == [expected]


def test_an_allowed_import_passes() -> None:
    assert violations("consumers", "x.py", "from projections.planning import plan_batch\n"
                      "import kafka\nfrom consumers.faults import FaultSwitch\n") == []
