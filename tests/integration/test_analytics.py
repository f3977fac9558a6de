"""The analysts' views and role: every ```sql block of docs/analytics.md runs as
`supportlog_analyst` on a real history and returns the columns the page shows, every
view of the `analytics` schema is documented, and the role reads the views and
nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import psycopg
import pytest

from supportlog.bootstrap import System
from tests.integration.test_projector import played_history

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
ROLE = "supportlog_analyst"


def documented_queries() -> list[tuple[str, list[str]]]:
    """Returns each ```sql block with the column names of the output shown after it."""
    text = DOC.read_text()
    out = []
    for match in re.finditer(r"```sql\n(.*?)```(?:\s*```text\n(.*?)```)?", text, re.S):
        query, output = match.group(1), match.group(2) or ""
        header = output.splitlines()[0] if output.strip() else ""
        out.append((query, [c.strip() for c in header.split("|")] if header else []))
    return out


QUERIES = documented_queries()


@pytest.fixture(scope="module")
def history(servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[System, psycopg.Connection]]:
    with played_history(servers, tmp_path_factory.mktemp("analytics")) as played:
        yield played


@pytest.fixture
def analyst(history: tuple[System, psycopg.Connection]) -> Iterator[psycopg.Connection]:
    """A session of the history's database with exactly the analyst's rights."""
    system, _ = history
    with psycopg.connect(system.database_url, autocommit=True) as conn:
        conn.execute(f"SET ROLE {ROLE}")
        conn.execute("SET TIME ZONE 'UTC'")
        yield conn


def test_the_page_documents_queries():
    assert len(QUERIES) >= 13
    assert all(columns for _, columns in QUERIES), "a query without its output"


@pytest.mark.parametrize("query,columns", QUERIES,
                         ids=[q.split("FROM ")[1].split()[0] for q, _ in QUERIES])
def test_every_documented_query_runs_as_the_analyst_with_the_columns_shown(
        analyst, query, columns):
    cursor = analyst.execute(query)
    assert [d.name for d in cursor.description] == columns
    cursor.fetchall()


def test_every_analytics_view_is_documented(history):
    _, conn = history
    views = {v for (v,) in conn.execute(
        "SELECT viewname FROM pg_views WHERE schemaname = 'analytics'")}
    documented = set(re.findall(r"^## analytics\.(\w+)$", DOC.read_text(), re.M))
    assert views == documented


def test_the_analyst_reads_the_views_and_nothing_else(analyst):
    assert analyst.execute("SELECT count(*) FROM analytics.ban_list").fetchone() == (1,)
    refused = ["SELECT * FROM balances", "SELECT * FROM public.ledger",
               "DELETE FROM analytics.subscriptions",  # updatable, but not by the role
               "UPDATE analytics.quota_months SET free_limit = 99",
               "CREATE VIEW analytics.mine AS SELECT 1",
               "CREATE TABLE analytics.mine (x int)"]
    for statement in refused:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            analyst.execute(statement)
    writable = analyst.execute(
        "SELECT viewname, p FROM pg_views, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) p "
        "WHERE schemaname = 'analytics' AND has_table_privilege(%s, "
        "format('analytics.%%I', viewname), p)", (ROLE,)).fetchall()
    assert writable == []
    can_login = analyst.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s",
                                (ROLE,)).fetchone()
    assert can_login == (False,)


def test_the_analytics_migration_runs_again_without_error(history):
    """The role belongs to the cluster: every database's migration meets it existing."""
    _, conn = history
    sql = (resources.files("projections") / "schema" / "004_analytics.sql").read_text()
    with conn.transaction():
        conn.execute(sql)
        conn.execute(sql)


def test_credits_per_month_add_up_to_each_balance(analyst, history):
    _, conn = history
    monthly = dict(analyst.execute(
        "SELECT customer, sum(net_change) FROM analytics.credits_monthly GROUP BY customer"
    ).fetchall())
    balances = dict(conn.execute("SELECT customer, credits FROM balances WHERE customer "
                                 "IN (SELECT customer FROM ledger)").fetchall())
    assert monthly == balances and balances


def test_r_sla_4_ticket_times_are_measured_in_calendar_and_business_time(analyst):
    """R-SLA-4: CS-Cart's t1 (opened Monday 10:00, answered Wednesday 10:00 at UTC+4)
    took 48 hours, two working days of 9 hours; t2 (Monday 11:03 to Tuesday 12:00) 1497
    minutes, 597 of them working. Cart-Power's kt2 waited 20 minutes on the customer and
    was solved 50 minutes after opening, all within working hours."""
    rows = {r[0]: tuple(r[1:]) for r in analyst.execute(
        "SELECT ticket, first_response_minutes, first_response_business_minutes, "
        "waiting_minutes, waiting_business_minutes, resolution_minutes, "
        "resolution_business_minutes, business_clock FROM analytics.ticket_times "
        "WHERE ticket IN ('t1', 't2', 'kt2')").fetchall()}
    assert rows["t1"] == (2880, 1080, 0, 0, None, None, "business_hours")
    assert rows["t2"][:2] == (1497, 597)
    assert rows["kt2"][:6] == (20, 20, 20, 20, 50, 50)
    by_plan = analyst.execute(
        "SELECT plan, responded, solved, median_first_response_business_minutes "
        "FROM analytics.ticket_times_by_desk_plan_channel WHERE tenant = 'cs-cart' "
        "ORDER BY plan").fetchall()
    assert by_plan == [("standard", 1, 0, 1080), ("ultimate", 1, 0, 597)]
