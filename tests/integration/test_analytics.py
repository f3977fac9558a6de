"""The analysts' views and role: every ```sql block of docs/analytics.md runs as
`supportlog_analyst` on a real history and returns the columns the page shows; each
question of the page's last part is answered (with rows) on a month of the demo; every
view of the `analytics` schema is documented; charges and work entries are there row by
row, money as a numeric amount and a currency; and the role reads the views and nothing
else.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

import psycopg
import pytest

from supportlog.bootstrap import System, bootstrap
from supportlog.demo import play
from supportlog.scenario import ScenarioRunner, load_scenario
from supportlog.settings import Settings
from tests.integration.test_projector import fresh_database, played_history

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
ROLE = "supportlog_analyst"
QUESTIONS_HEADING = "## Questions analysts ask"


def documented_queries(part: str = "") -> list[tuple[str, list[str]]]:
    """Returns each ```sql block (of the questions' part only, with `part="questions"`)
    with the column names of the output shown after it."""
    text = DOC.read_text()
    if part == "questions":
        text = text.split(QUESTIONS_HEADING, 1)[1]
    out = []
    for match in re.finditer(r"```sql\n(.*?)```(?:\s*```text\n(.*?)```)?", text, re.S):
        query, output = match.group(1), match.group(2) or ""
        header = output.splitlines()[0] if output.strip() else ""
        out.append((query, [c.strip() for c in header.split("|")] if header else []))
    return out


QUERIES = documented_queries()
QUESTIONS = documented_queries("questions")


@pytest.fixture(scope="module")
def history(servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[System, psycopg.Connection]]:
    with played_history(servers, tmp_path_factory.mktemp("analytics")) as played:
        yield played


def _as_analyst(database_url: str) -> psycopg.Connection:
    conn = psycopg.connect(database_url, autocommit=True)
    conn.execute(f"SET ROLE {ROLE}")
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


@pytest.fixture
def analyst(history: tuple[System, psycopg.Connection]) -> Iterator[psycopg.Connection]:
    """A session of the history's database with exactly the analyst's rights."""
    system, _ = history
    with _as_analyst(system.database_url) as conn:
        yield conn


@pytest.fixture(scope="module")
def demo_month(servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[str]:
    """The database of a small demo month (the page's answers come from the same seed
    with 200 customers), with a charge of every kind, disputes and held tickets."""
    admin_url, bootstrap_servers = servers
    with fresh_database(admin_url, "demo") as url:
        name = uuid.uuid4().hex[:12]
        system = bootstrap(Settings(
            database_url=url, kafka_bootstrap=bootstrap_servers,
            home=tmp_path_factory.mktemp("demo"), topic=f"events-{name}", partitions=4,
            group_id=f"group-{name}"))
        try:
            play(system, seed=7, customers=20, days=30, end=datetime(2026, 4, 1, tzinfo=UTC))
        finally:
            system.close()
        yield url


def test_the_page_documents_queries():
    assert len(QUERIES) >= 25 and len(QUESTIONS) == 8
    assert all(columns for _, columns in QUERIES), "a query without its output"


@pytest.mark.parametrize("query,columns", QUERIES,
                         ids=[q.split("FROM ")[1].split()[0] for q, _ in QUERIES])
def test_every_documented_query_runs_as_the_analyst_with_the_columns_shown(
        analyst, query, columns):
    cursor = analyst.execute(query)
    assert [d.name for d in cursor.description] == columns
    cursor.fetchall()


@pytest.mark.parametrize("query,columns", QUESTIONS,
                         ids=[f"question-{n}" for n in range(1, len(QUESTIONS) + 1)])
def test_every_documented_question_is_answered_on_a_demo_month_as_the_analyst(
        demo_month, query, columns):
    with _as_analyst(demo_month) as conn:
        cursor = conn.execute(query)
        assert [d.name for d in cursor.description] == columns
        assert cursor.fetchall(), "no answer on a month of the demo"


def test_charges_and_work_entries_are_there_row_by_row(analyst, history):
    """`analytics.charges` has every charge and `analytics.work_entries` every entry,
    free ones too, tied by charge id; credits add up to the ledger's charges."""
    _, conn = history
    assert analyst.execute("SELECT count(*), sum(credits) FROM analytics.charges"
                           ).fetchone() == conn.execute(
        "SELECT count(*), -(SELECT sum(delta) FROM ledger WHERE cause_type = 'charge') "
        "FROM charges").fetchone()
    assert analyst.execute("SELECT count(*) FROM analytics.work_entries").fetchone() == \
        conn.execute("SELECT count(*) FROM work_log").fetchone()
    unmatched = analyst.execute(
        "SELECT w.charge_id FROM analytics.work_entries w LEFT JOIN analytics.charges c "
        "USING (charge_id) WHERE w.charge_id IS NOT NULL AND c.charge_id IS NULL").fetchall()
    assert unmatched == []
    assert analyst.execute("SELECT charge_id, disputed, compensated FROM analytics.charges "
                           "WHERE disputed ORDER BY charge_id").fetchall() == [
        ("kt1/1", True, True), ("kt1/2", True, False)]  # kd1 upheld, kd2 still open


def test_money_priced_charges_are_a_numeric_amount_and_a_currency(settings):
    """R-QTA-4: InSales prices a paid modification at 500 RUB; the analyst reads it as
    the numeric 500 and RUB, and no analytics column is a float."""
    system = bootstrap(settings)
    try:
        runner = ScenarioRunner(system)
        scenario = load_scenario(SCENARIOS / "insales-modifications.json")
        assert runner.run(scenario, base_dir=SCENARIOS).failures == []
        runner.pipeline.sync()
    finally:
        system.close()
    with _as_analyst(settings.database_url) as conn:
        rows = conn.execute("SELECT credits, money_amount, currency, rule FROM "
                            "analytics.charges ORDER BY at, charge_id").fetchall()
        floats = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE "
            "table_schema = 'analytics' AND data_type IN ('real', 'double precision')"
        ).fetchall()
    assert rows and all(credits is None for credits, *_ in rows)
    assert {(amount, currency) for _, amount, currency, _ in rows} == {(Decimal(500), "RUB")}
    assert {rule for *_, rule in rows} <= {"R-QTA-2", "R-QTA-4"}
    assert floats == []


def test_every_analytics_view_is_documented(history):
    _, conn = history
    views = {v for (v,) in conn.execute(
        "SELECT viewname FROM pg_views WHERE schemaname = 'analytics'")}
    documented = set(re.findall(r"^## analytics\.(\w+)$", DOC.read_text(), re.M))
    assert views == documented


def test_the_analyst_reads_the_views_and_nothing_else(analyst):
    assert analyst.execute("SELECT count(*) FROM analytics.ban_list").fetchone() == (1,)
    refused = ["SELECT * FROM balances", "SELECT * FROM public.ledger",
               "SELECT * FROM charges", "SELECT * FROM work_log",
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
    # The migrations create it NOLOGIN; an embedded server gives it a login, always with
    # a password (tests/integration/test_embedded_servers.py).
    can_login, password = analyst.execute(
        "SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_roles WHERE rolname = %s",
        (ROLE,)).fetchone()
    assert not can_login or password


@pytest.mark.parametrize("name", ["004_analytics.sql", "008_analytics_charges_work.sql"])
def test_the_analytics_migrations_run_again_without_error(history, name):
    """The role belongs to the cluster: every database's migration meets it existing;
    views are replaced, never duplicated."""
    _, conn = history
    sql = (resources.files("projections") / "schema" / name).read_text()
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
