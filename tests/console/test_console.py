"""The console's pages in Chromium, one desk and server for the module: signing in and
out, the agent's queue and ticket forms, the balance chart, a customer kept to its own
tickets (R-ACL-2), an auditor's receipt, disputes and as-of pages, CSRF, the phone
layout, and nothing fetched from outside the machine."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import wait_for
from tests.console.conftest import OPERATOR, SLA_DESK, ConsoleDesk, Visit, visit

pytestmark = pytest.mark.browser


def test_an_agent_signs_in_with_a_token_that_never_reaches_a_url_and_signs_out(
        web: Visit, desk: ConsoleDesk):
    token = desk.token("agent")
    web.sign_in(token)
    page = web.page
    expect(page.locator("#principal")).to_contain_text("agent agent-")
    expect(page).to_have_url(re.compile(r"/console/queue$"))
    cookie = next(c for c in page.context.cookies() if c["name"] == "sl_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert token not in cookie["value"]
    assert all(token not in url for url in web.requested)
    web.screenshot("signed-in")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Token")).to_be_visible()
    page.goto(f"{desk.url}/console/queue")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    web.screenshot()
    assert web.outside() == []


def test_a_revoked_or_unknown_token_is_not_accepted_and_revoking_ends_the_session(
        web: Visit, desk: ConsoleDesk):
    page = web.page
    page.goto(f"{desk.url}/console")
    page.get_by_label("Token").fill("sl.agent-nobody.not-a-real-secret-at-all-0000000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in-error")).to_contain_text("not accepted")
    token = desk.token("agent")
    web.sign_in(token)
    principal = token.split(".")[1]
    desk.system.principals().revoke(principal, OPERATOR)
    page.goto(f"{desk.url}/console/queue")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    web.screenshot()


def test_r_tkt_6_an_agent_takes_the_first_ticket_replies_logs_work_and_sees_the_charge(
        web: Visit, desk: ConsoleDesk):
    web.sign_in(desk.token("agent"))
    page = web.page
    first = page.locator("table.queue[data-department=technical] tbody tr").first
    ticket = first.get_by_role("link").first.inner_text()
    first.get_by_role("link").first.click()
    expect(page.locator("h1")).to_have_text(f"Ticket {ticket}")
    expect(page.locator("#timeline")).to_contain_text("ticket.opened")
    page.locator("#form-agent_reply").get_by_role("button", name="Reply").click()
    expect(page.locator("#done")).to_contain_text("agent_reply")
    expect(page.locator("#status")).to_have_text("open")
    expect(page.locator("#timeline")).to_contain_text("ticket.agent_replied")
    page.get_by_label("Minutes").fill("40")
    page.get_by_label("Classification").select_option("third_party_addon")
    page.locator("#form-log_work").get_by_role("button", name="Log work").click()
    expect(page.locator("#done")).to_contain_text("log_work")
    logged = page.locator("#work-log tbody tr").last
    expect(logged).to_contain_text("40 (")
    charge = logged.get_by_role("link").inner_text()
    assert charge.startswith(f"{ticket}/")
    expect(page.locator("#timeline")).to_contain_text("by agent agent-")
    web.screenshot("ticket")
    customer = page.locator("dl.facts a").first.inner_text()
    page.locator("dl.facts").get_by_role("link", name=customer).click()
    expect(page.locator("h1")).to_have_text(f"Customer {customer}")
    page.wait_for_function("() => window.Chart && Chart.getChart('balance-chart')")
    causes = page.evaluate("() => JSON.parse(document.getElementById('balance-data')"
                           ".textContent).causes")
    assert any(c.startswith(f"charge {charge} (-") for c in causes), causes
    points = page.evaluate("() => Chart.getChart('balance-chart').data.datasets[0].data")
    assert len(points) == len(causes) and points[-1] < points[0] + 160
    expect(page.locator("#quota")).to_contain_text("resets on")
    web.screenshot()
    assert web.outside() == []


def test_an_agents_refused_command_shows_the_apis_error_message(web: Visit, desk: ConsoleDesk):
    web.sign_in(desk.token("agent"))
    page = web.page
    page.goto(f"{desk.url}/console/tickets/{desk.ids['q2']}")
    page.get_by_label("Minutes").fill("-5")
    page.locator("#form-log_work").get_by_role("button", name="Log work").click()
    expect(page.locator("#command-error")).to_contain_text("invalid_argument")
    expect(page.locator("#command-error")).to_contain_text("minutes")
    web.screenshot()


def test_r_acl_2_a_customer_cannot_open_another_customers_ticket_page(
        web: Visit, desk: ConsoleDesk):
    web.sign_in(desk.token("customer", customer=desk.ids["b"]))
    page = web.page
    expect(page.locator("h1")).to_have_text(f"Customer {desk.ids['b']}")
    page.goto(f"{desk.url}/console/tickets/{desk.ids['q2']}")
    expect(page.locator("h1")).to_have_text(f"Ticket {desk.ids['q2']}")
    expect(page.locator("#form-log_work")).to_have_count(0)
    response = page.goto(f"{desk.url}/console/tickets/{desk.ids['q1']}")
    assert response is not None and response.status == 403
    expect(page.locator("#refusal")).to_contain_text("not_owner")
    expect(page.locator("#refusal")).to_contain_text("is not yours")
    assert desk.ids["a"] not in page.content()
    web.screenshot()
    response = page.goto(f"{desk.url}/console/queue")
    assert response is not None and response.status == 403
    expect(page.locator("#refusal")).to_contain_text("forbidden")


def test_r_aud_1_an_auditor_opens_a_disputed_charges_receipt_from_the_dispute_list(
        web: Visit, desk: ConsoleDesk):
    web.sign_in(desk.token("auditor"))
    page = web.page
    expect(page).to_have_url(re.compile(r"/console/disputes$"))
    row = page.locator("#disputes tbody tr", has_text=desk.ids["d"])
    expect(row).to_contain_text("open")
    expect(row.locator(".countdown")).to_contain_text(re.compile(r"due in|overdue by"))
    row.get_by_role("link", name=f"{desk.ids['charged']}/1").click()
    expect(page.locator("h1")).to_have_text(f"Receipt of charge {desk.ids['charged']}/1")
    expect(page.locator("#verdict")).to_contain_text("Every check holds")
    expect(page.locator("#receipt-disputes")).to_contain_text(desk.ids["d"])
    expect(page.locator("#checks")).to_contain_text("ok")
    expect(page.locator("#checks")).not_to_contain_text("MISMATCH")
    expect(page.locator("#receipt-text")).to_contain_text(
        f"charge {desk.ids['charged']}/1: 30 credits")
    web.screenshot()
    assert web.outside() == []


def test_r_aud_2_an_auditor_sees_a_customer_as_of_an_instant(web: Visit, desk: ConsoleDesk):
    web.sign_in(desk.token("auditor"))
    page = web.page
    page.get_by_role("link", name="As of").click()
    page.get_by_label("Customer").fill(desk.ids["b"])
    page.get_by_label(re.compile("Instant")).fill("2099-01-01T00:00+00:00")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#asof-balance")).to_have_text("160")
    expect(page.locator("#as-of-state")).to_contain_text(desk.ids["q2"])
    web.screenshot()


def test_r_sla_the_queue_counts_down_and_marks_breached_tickets(web: Visit, desk: ConsoleDesk):
    conn = desk.system.connect()
    wait_for(lambda: conn.execute("SELECT sla_breached FROM tickets WHERE ticket = %s",
                                  (desk.ids["late"],)).fetchone() == (True,),
             60, "the scheduler to record the breach")
    web.sign_in(desk.token("agent", desk=SLA_DESK))
    page = web.page
    late = page.locator("table.queue tbody tr", has_text=desk.ids["late"])
    fresh = page.locator("table.queue tbody tr", has_text=desk.ids["fresh"])
    expect(late).to_contain_text("breached")
    expect(late.locator(".countdown")).to_contain_text("overdue by")
    countdown = fresh.locator(".countdown")
    expect(countdown).to_contain_text("due in")
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first)  # it ticks
    web.screenshot()


def test_every_form_needs_the_sessions_csrf_token(web: Visit, desk: ConsoleDesk):
    web.sign_in(desk.token("agent"))
    page = web.page
    response = page.request.post(
        f"{desk.url}/console/tickets/{desk.ids['q2']}/do/solve_ticket",
        form={"csrf": "forged", "key": "k1"})
    assert response.status == 403
    assert "CSRF" in response.text()
    page.goto(f"{desk.url}/console/tickets/{desk.ids['q2']}")
    expect(page.locator("#status")).to_have_text("new")
    web.screenshot()


def test_a_phone_sized_screen_keeps_the_page_in_its_width_with_visible_focus(
        browser, desk: ConsoleDesk, request: pytest.FixtureRequest):
    opened = visit(browser, desk.url, request.node.name,
                   viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = next(opened)
    try:
        phone.sign_in(desk.token("agent"))
        page = phone.page
        page.goto(f"{desk.url}/console/tickets/{desk.ids['q2']}")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        page.keyboard.press("Tab")
        focused = page.evaluate("() => { const e = document.activeElement; const s = "
                                "getComputedStyle(e); return [e.textContent, s.outlineStyle,"
                                " s.outlineWidth]; }")
        assert focused[0].strip() == "Skip to content" and focused[1] != "none", focused
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("none", ""), outline
        phone.screenshot()
        assert phone.outside() == []
    finally:
        opened.close()
