"""Reads over HTTP: read your writes (`?after=` a write's position), tickets with their
work log, accounts, charges with the receipt `audit charge` prints, the queue in
serving order (R-TKT-6), as-of states (R-AUD-2) and what-if replays kept to the desk
(R-AUD-4); and the answer when the read models cannot catch up in time."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from replay.charge_audit import ChargeAuditor
from supportlog.settings import Settings
from tests.http.conftest import Api, running_api, unique

CP = "cart-power"


def test_a_read_after_a_write_shows_the_write(api: Api):
    """Read your writes: no polling by the client, no stale portal."""
    ticket = unique("t")
    with api.client(api.token(CP, "customer")) as portal:
        opened = portal.post(f"/v1/desks/{CP}/tickets", json={
            "ticket": ticket, "department": "technical", "channel": "helpdesk",
            "subject": "Checkout fails"})
        assert opened.status_code == 200, opened.text
        position = opened.json()["position"]
        read = portal.get(f"/v1/desks/{CP}/tickets/{ticket}", params={"after": position})
    assert read.status_code == 200, read.text
    assert read.json()["status"] == "new" and read.json()["customer"] == "a-cart-power"
    with api.client(api.token(CP, "service")) as billing:
        before = billing.get(f"/v1/desks/{CP}/customers/a-cart-power",
                             params={"after": position}).json()["balance"]
        bought = billing.post(f"/v1/desks/{CP}/commands", json={
            "do": "purchase_credits", "args": {"customer": "a-cart-power",
                                               "purchase": unique("p"), "package": 320}})
        after = billing.get(f"/v1/desks/{CP}/customers/a-cart-power",
                            params={"after": bought.json()["position"]}).json()["balance"]
    assert after == before + 320


def test_a_ticket_shows_its_work_log_with_charges_and_the_receipt_is_audit_charges(api: Api):
    ticket = unique("t")
    api.run("open_ticket", customer="a-cart-power", ticket=ticket, department="technical",
            channel="helpdesk", subject="x")
    with api.client(api.token(CP, "agent")) as desk_client:
        worked = desk_client.post(f"/v1/desks/{CP}/commands", json={"do": "log_work", "args": {
            "ticket": ticket, "minutes": 20, "kind": "investigation"}})
        shown = desk_client.get(f"/v1/desks/{CP}/tickets/{ticket}",
                                params={"after": worked.json()["position"]}).json()
    [entry] = shown["work_log"]
    agent = api.token(CP, "agent").split(".")[1]
    assert (entry["agent"], entry["minutes"], entry["charge_id"], entry["credits"]) == \
        (agent, 20, f"{ticket}/1", 20)
    with api.client(api.token(CP, "customer")) as portal:
        receipt = portal.get(f"/v1/desks/{CP}/charges/{ticket}/1").json()
        charges = portal.get(f"/v1/desks/{CP}/customers/a-cart-power/charges",
                             params={"after": worked.json()["position"]}).json()
    expected = ChargeAuditor(api.system.desk, api.system.personal.reveal).receipt(
        f"{ticket}/1").to_dict()  # the customer reads its subject (R-PRV-1)
    assert receipt == json.loads(json.dumps(expected, default=str))
    assert receipt["agrees"] and receipt["entries"][0]["actor"] == {"role": "agent",
                                                                    "id": agent}
    assert f"{ticket}/1" in [c["charge_id"] for c in charges]


def test_the_queue_is_in_serving_order_page_by_page(api: Api):
    tickets = [unique("q") for _ in range(3)]
    for ticket in tickets:
        api.run("open_ticket", customer="b-cart-power", ticket=ticket,
                department="consultation", channel="helpdesk", subject="x")
    with api.client(api.token(CP, "agent")) as client:
        seen, cursor = [], 0
        while True:
            page = client.get(f"/v1/desks/{CP}/queues/consultation", params={
                "after": api.head(), "limit": 2, "cursor": cursor}).json()
            seen += [row["ticket"] for row in page["data"]]
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
    assert [t for t in seen if t in tickets] == tickets  # arrival order (R-TKT-6)


def test_as_of_answers_the_account_as_it_stood(api: Api):
    before = datetime.now(UTC)
    api.run("purchase_credits", customer="b-cart-power", purchase=unique("p"), package=80)
    with api.client(api.token(CP, "auditor")) as client:
        then = client.get(f"/v1/desks/{CP}/customers/b-cart-power/as-of",
                          params={"at": before.isoformat()}).json()
        now = client.get(f"/v1/desks/{CP}/customers/b-cart-power/as-of",
                         params={"at": datetime.now(UTC).isoformat()}).json()
        foreign = client.get(f"/v1/desks/{CP}/customers/a-cs-cart/as-of",
                             params={"at": datetime.now(UTC).isoformat()})
    assert now["balance"] == then["balance"] + 80
    assert foreign.status_code == 404 and foreign.json()["code"] == "unknown_customer"


def test_a_what_if_replays_only_the_desks_own_history(api: Api):
    ticket = unique("t")
    api.run("open_ticket", customer="b-cart-power", ticket=ticket, department="technical",
            channel="helpdesk", subject="x")
    # 25 minutes: two 15-minute units (20 credits), three 10-minute ones (30 credits).
    api.run("log_work", ticket=ticket, agent="a1", minutes=25, kind="investigation")
    with api.client(api.token(CP, "auditor")) as client:
        report = client.post(f"/v1/desks/{CP}/what-if", json={
            "set": {"credits.unit_minutes": 10}}, timeout=120)
        bad = client.post(f"/v1/desks/{CP}/what-if", json={"set": {"credits.nope": 1}})
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["profile"]["id"] == CP and body["desk_found"] and body["commands"] > 0
    changed = {row["customer"]: row["difference"]["credits"] for row in body["customers"]}
    assert changed.get("b-cart-power") == 10
    assert not any(customer.endswith("cs-cart") for customer in changed)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_argument"


def test_a_read_the_projector_cannot_reach_in_time_is_504(settings: Settings):
    """Without a pipeline nothing is projected: a write's position is never reached.
    A position no write has reached is the client's mistake, answered at once."""
    with running_api(replace(settings, read_wait_s=0.3), pipeline=False) as api, \
            api.client(api.token(CP, "agent")) as client:
        lagging = client.get(f"/v1/desks/{CP}/queues/technical",
                             params={"after": api.head()})
        beyond = client.get(f"/v1/desks/{CP}/queues/technical",
                            params={"after": api.head() + 1000})
    assert lagging.status_code == 504 and lagging.json()["code"] == "projection_lag"
    assert beyond.status_code == 400 and beyond.json()["code"] == "invalid_argument"
