"""Every rule findable from its id (the House issue): each rule of the policy book has
at least one implementing place and one test that names it, no shorthand hides an id
from a search, and `docs/rules.md` lists where each one lives as the tree has it now."""

from __future__ import annotations

from tests.rule_index import PRODUCTION, ROOT, SHORTHAND, files, rendered, rows, where


def test_every_rule_is_implemented_somewhere_and_proved_by_a_test():
    production = files(PRODUCTION, (".py", ".sql", ".json", ".html", ".js"))
    tests = files(("tests",), (".py", ".yaml", ".yml", ".json"))
    ids = [rule for rule, _ in rows()]
    assert len(ids) >= 58, "docs/rules.md lost rules"
    assert [r for r in ids if not where(r, production)] == []
    assert [r for r in ids if not where(r, tests)] == []


def test_no_shorthand_hides_a_rule_id():
    searched = files((*PRODUCTION, "tests", "docs"),
                     (".py", ".sql", ".json", ".md", ".html", ".js", ".yaml"))
    searched.append(ROOT / "README.md")
    # what was published stays as it was published: an old version's description may
    # hold a shorthand, and rewriting it would change a published schema
    searched.remove(ROOT / "eventlog" / "published.json")
    hidden = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in searched
              for m in SHORTHAND.finditer(p.read_text())]
    assert hidden == [], "spell every id out: R-SLA-2, R-SLA-3, not a range"


def test_docs_rules_md_lists_the_places_of_today():
    assert (ROOT / "docs" / "rules.md").read_text() == rendered(), \
        "docs/rules.md is stale: run `python -m tests.rule_index`"
