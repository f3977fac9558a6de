"""The operator's page in Chromium on a desk of its own (this module stops its
projector): positions, lag per partition once the projector is stopped, the dead
letters with their retry, and the breaches chart."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from eventlog.kafka_config import delete_topics, ensure_topic
from tests.conftest import wait_for
from tests.console.conftest import SLA_DESK, ConsoleDesk, Visit

pytestmark = pytest.mark.browser


def test_the_operator_page_shows_positions_and_no_warning_over_an_intact_topic(
        web: Visit, desk: ConsoleDesk):
    web.sign_in(desk.token("desk_admin"))
    page = web.page
    before = desk.head()
    page.get_by_role("link", name="Pipeline").click()
    expect(page.locator("#store-head")).to_have_text(re.compile(r"^\d+$"))
    # The scheduler may store a timer's event meanwhile: the head shown lies between.
    assert before <= int(page.locator("#store-head").inner_text()) <= desk.head()
    expect(page.locator("#topic-warning")).to_have_count(0)
    expect(page.locator("#no-dead-letters")).to_be_visible()
    page.get_by_role("button", name="Retry the dead letters").click()
    expect(page.locator("#retry-result")).to_contain_text("folded 0")
    web.screenshot()
    assert web.outside() == []


def test_sla_breaches_per_week_and_plan_are_a_chart(web: Visit, desk: ConsoleDesk):
    conn = desk.system.connect()
    wait_for(lambda: conn.execute("SELECT count(*) FROM sla_breaches WHERE ticket = %s",
                                  (desk.ids["late"],)).fetchone()[0] == 1,
             60, "the scheduler to record the breach")
    web.sign_in(desk.token("desk_admin", desk=SLA_DESK))
    page = web.page
    page.goto(f"{desk.url}/console/operator")
    page.wait_for_function("() => window.Chart && Chart.getChart('breach-chart')")
    series = page.evaluate("() => Chart.getChart('breach-chart').data.datasets.map("
                           "d => [d.label, d.data.reduce((a, b) => a + b, 0)])")
    assert ["no plan", 1] in series, series
    web.screenshot()


def test_an_agent_may_not_watch_the_pipeline(web: Visit, desk: ConsoleDesk):
    web.sign_in(desk.token("agent"))
    response = web.page.goto(f"{desk.url}/console/operator")
    assert response is not None and response.status == 403
    expect(web.page.locator("#refusal")).to_contain_text("may not use pipeline")
    web.screenshot()


def test_the_operator_page_shows_lag_after_the_projector_is_stopped(
        web: Visit, desk: ConsoleDesk):
    auditor = desk.token("auditor")
    desk.stop("projector")
    customer = desk.ids["a"]
    for n in range(3):
        desk.run("purchase_credits", customer=customer, purchase=f"lag-{n}", package=80)
    head = desk.head()
    conn = desk.system.connect()
    settings = desk.system.settings
    wait_for(lambda: conn.execute(
        "SELECT notification_id FROM relay_position WHERE topic = %s",
        (settings.topic,)).fetchone()[0] >= head, 60, "the relay to publish the new events")
    web.sign_in(auditor)
    page = web.page
    page.goto(f"{desk.url}/console/operator")
    lag = page.locator(".lag").first
    expect(lag).not_to_have_text("0 behind")
    expect(page.locator("table.partitions tr.breached")).not_to_have_count(0)
    assert int(page.locator("#relay-position").inner_text()) >= head
    expect(page.locator("#retry")).to_have_count(0)  # retrying is a desk admin's
    web.screenshot()
    assert web.outside() == []


def test_the_operator_page_warns_when_the_topic_holds_fewer_events_than_were_relayed(
        web: Visit, desk: ConsoleDesk):
    desk.stop("relay")
    settings = desk.system.settings
    delete_topics(desk.system.kafka_bootstrap, [settings.topic])
    ensure_topic(desk.system.kafka_bootstrap, settings.topic, settings.partitions)
    web.sign_in(desk.token("desk_admin"))
    page = web.page
    page.goto(f"{desk.url}/console/operator")
    expect(page.locator("#topic-warning")).to_contain_text("the topic holds 0 events but")
    web.screenshot()
