"""R-PRV-1, R-PRV-2 over HTTP: a desk admin erases a customer with
`POST /customers/{customer}/erase`; nobody else may (R-ACL-3), and another desk's
customer does not exist for it (R-ACL-2). Before, the readers entitled to personal data
(the customer, agents, desk admins, auditors) read it in plain text and an integration
reads `[sealed]`; after, everyone reads `[erased]`, the charge still audits, the event
names the desk admin, and a byte search of every table (the event store, the principals
and the idempotency keys included) and of every record of the topic finds nothing of
the customer's."""

from __future__ import annotations

from typing import Any

import httpx

from domain.personal import ERASED, SEALED
from replay.streams import envelopes
from tests.byte_search import database_hits, topic_hits
from tests.http.conftest import Api, unique
from tests.http.test_errors import problem

CP = "cart-power"
ANNA = {"name": "Анна Сергеевна Журавлёва", "email": "anna.zhuravleva@example.ru",
        "subject": "Не работает корзина на витрине zhuravleva-shop",  # noqa: RUF001
        "body": "Здравствуйте! После обновления корзина пустая, заказ 4411"}


def served_customer(api: Api) -> tuple[str, str]:
    """Registers a customer of Cart-Power with a name and e-mail, opens a ticket, charges
    it and has the charge disputed; returns (customer, charge id)."""
    customer, ticket = unique("anna"), unique("t")
    api.run("register_customer", customer=customer, desk=CP, name=ANNA["name"],
            email=ANNA["email"])
    api.run("purchase_credits", customer=customer, purchase=unique("p"), package=160)
    api.run("open_ticket", customer=customer, ticket=ticket, department="technical",
            channel="helpdesk", subject=ANNA["subject"], body=ANNA["body"])
    api.run("log_work", ticket=ticket, agent="a1", minutes=20, kind="investigation")
    api.run("open_dispute", customer=customer, dispute=unique("d"), charge=f"{ticket}/1")
    return customer, f"{ticket}/1"


def read(api: Api, token: str, path: str, after: int | None = None) -> httpx.Response:
    with api.client(token) as client:
        return client.get(f"/v1/desks/{CP}{path}",
                          params={"after": after if after is not None else api.head()})


def erase(api: Api, token: str, customer: str, reason: str = "DSAR 2026-31",
          desk: str = CP, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    with api.client(token, **headers) as client:
        return client.post(f"/v1/desks/{desk}/customers/{customer}/erase",
                           json={"reason": reason})


def account_and_receipt(api: Api, token: str, customer: str, charge: str,
                        after: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    account = read(api, token, f"/customers/{customer}", after)
    receipt = read(api, token, f"/charges/{charge}")
    assert account.status_code == receipt.status_code == 200, (account.text, receipt.text)
    return account.json(), receipt.json()


def test_r_prv_1_entitled_readers_see_plain_text_and_an_integration_sees_it_sealed(api: Api):
    customer, charge = served_customer(api)
    own = api.issue(CP, "customer", customer)
    for token in (own, *(api.token(CP, r) for r in ("agent", "desk_admin", "auditor"))):
        account, receipt = account_and_receipt(api, token, customer, charge)
        assert (account["name"], account["email"]) == (ANNA["name"], ANNA["email"])
        assert receipt["ticket"]["subject"] == ANNA["subject"] and receipt["agrees"]
    account, receipt = account_and_receipt(api, api.token(CP, "service"), customer, charge)
    assert (account["name"], account["email"], receipt["ticket"]["subject"]) == \
        (SEALED, SEALED, SEALED)


def test_r_acl_3_only_a_desk_admin_erases_and_only_its_own_desk_s_customers(api: Api):
    customer, charge = served_customer(api)
    for role in ("customer", "agent", "auditor", "service"):
        problem(erase(api, api.token(CP, role), customer), 403, "forbidden")
    problem(erase(api, api.issue(CP, "customer", customer), customer), 403, "forbidden")
    # another desk's customer is no customer at all, whichever path names it
    problem(erase(api, api.token(CP, "desk_admin"), "a-cs-cart"), 404, "unknown_customer")
    problem(erase(api, api.token("cs-cart", "desk_admin"), customer, desk="cs-cart"), 404,
            "unknown_customer")
    problem(erase(api, api.token(CP, "desk_admin"), customer, desk="cs-cart"), 404,
            "unknown_desk")
    # the reason stays in the log for ever: never the customer's name
    problem(erase(api, api.token(CP, "desk_admin"), customer,
                  reason=f"request of {ANNA['email']}"), 400, "invalid_argument")
    account, _ = account_and_receipt(api, api.token(CP, "agent"), customer, charge)
    assert account["name"] == ANNA["name"] and account["erased_at"] is None


def test_r_prv_1_r_prv_2_a_desk_admin_erases_a_customer_and_nothing_of_theirs_remains(
        api: Api):
    customer, charge = served_customer(api)
    own = api.issue(CP, "customer", customer)
    admin = api.token(CP, "desk_admin")
    before, _ = account_and_receipt(api, api.token(CP, "agent"), customer, charge)

    key = unique("erase")
    done = erase(api, admin, customer, key=key)
    assert done.status_code == 200, done.text
    answer = done.json()
    assert answer["customer"] == customer and answer["key_id"] and \
        not answer["erased_before"] and answer["unprotected_events"] == 0
    retried = erase(api, admin, customer, key=key)  # a retry: the first answer again
    assert retried.json() == answer and retried.headers["Idempotent-Replayed"] == "true"
    again = erase(api, admin, customer)  # a new request: done before, nothing new
    assert again.status_code == 200 and again.json()["erased_before"]

    admin_id = admin.split(".")[1]
    [erased] = [e for e in envelopes(api.system.desk)
                if e.type == "customer.erased" and e.customer == customer]
    assert erased.actor == {"role": "desk_admin", "id": admin_id}
    assert (erased.data["by"], erased.data["reason"]) == (admin_id, "DSAR 2026-31")

    for token in (own, api.token(CP, "agent"), api.token(CP, "auditor")):
        account, receipt = account_and_receipt(api, token, customer, charge,
                                               answer["position"])
        assert (account["name"], account["email"]) == (ERASED, ERASED)
        assert account["erased_at"] is not None
        assert (account["balance"], account["quota"]) == (before["balance"], before["quota"])
        assert receipt["agrees"] and receipt["ticket"]["subject"] == ERASED
    with api.client(own) as portal:  # nothing new is recorded for them
        refused = portal.post(f"/v1/desks/{CP}/tickets", json={
            "ticket": unique("t"), "department": "technical", "channel": "helpdesk",
            "subject": "again"})
    problem(refused, 409, "customer_erased")

    settings = api.system.settings
    needles, control = list(ANNA.values()), [charge]  # the control shows the search works
    found = database_hits(settings.database_url, [*needles, *control])
    assert found and {n for hit in found.values() for n in hit} == set(control)
    found = topic_hits(settings.kafka_bootstrap, [settings.topic], [*needles, *control])
    assert found and {n for hit in found.values() for n in hit} == set(control)
