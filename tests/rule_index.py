"""The index of the policy book's rules in `docs/rules.md`: for each rule id, the
production files that implement it (code, SQL, and profile data through `readings`)
and the tests that prove it, found by the id itself, so a rule is found from its id.

`python -m tests.rule_index` rewrites the table's "implemented in" and "proved by"
columns from the tree; `tests/test_rule_ids.py` fails when it is stale, when a rule has
no place or no test, or when a shorthand (a range of ids with two dots, or two ids joined by a
slash) hides ids from a search.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "docs" / "rules.md"
PRODUCTION = ("domain", "projections", "eventlog", "consumers", "replay", "supportlog",
              "examples")
SOURCES = (".py", ".sql", ".json", ".html", ".js")
#: A range with two dots, two ids joined by a slash or a dash: several rules under one
#: spelling, so that a search for the ones it covers finds nothing.
SHORTHAND = re.compile(r"\bR-[A-Z]{3}-\d+(?:\.\.|/|-)\d+\b")
_ROW = re.compile(r"^\| `(R-[A-Z]{3}-\d+)` \| (.*?) \| .*? \| .*? \|$", re.M)


def files(under: tuple[str, ...], suffixes: tuple[str, ...]) -> list[Path]:
    """Every file below the named top-level folders with one of `suffixes`."""
    found = []
    for top in under:
        for path in sorted((ROOT / top).rglob("*")):
            if (path.suffix in suffixes and path.is_file()
                    and not {"__pycache__", "vendor"} & set(path.parts)):
                found.append(path)
    return found


def where(rule: str, paths: list[Path]) -> list[str]:
    """The paths (relative to the root) whose text names `rule`."""
    pattern = re.compile(rf"\b{re.escape(rule)}\b")
    return [str(p.relative_to(ROOT)) for p in paths if pattern.search(p.read_text())]


def rows() -> list[tuple[str, str]]:
    """(rule id, its summary) for every row of the index, in its order."""
    return _ROW.findall(INDEX.read_text())


def rendered() -> str:
    """The index with its columns of places as the tree has them now."""
    production = files(PRODUCTION, SOURCES)
    tests = files(("tests",), (".py", ".yaml", ".yml", ".json"))
    text = INDEX.read_text()
    for rule, summary in rows():
        code = ", ".join(f"`{p}`" for p in where(rule, production)) or "—"
        proved = ", ".join(f"`{p}`" for p in where(rule, tests)) or "—"
        text = re.sub(rf"^\| `{re.escape(rule)}` \| .*$",
                      lambda _m, r=rule, s=summary, c=code, t=proved:
                      f"| `{r}` | {s} | {c} | {t} |",
                      text, count=1, flags=re.M)
    return text


def main() -> int:
    INDEX.write_text(rendered())
    print(f"{INDEX.relative_to(ROOT)}: {len(rows())} rules indexed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
