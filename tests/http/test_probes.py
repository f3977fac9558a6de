"""Issue #14's probes over HTTP, as a new user would try them, and desks kept apart
(R-ACL-2, R-ACL-4): another customer's dispute, an agent id nobody issued, a foreign
desk, no token. Each is refused with its code and writes nothing."""

from __future__ import annotations

import httpx

from tests.http.conftest import Api, unique

CP = "cart-power"


def charged_ticket(api: Api, customer: str) -> str:
    ticket = unique("t")
    api.run("open_ticket", customer=customer, ticket=ticket, department="technical",
            channel="helpdesk", subject="x")
    api.run("log_work", ticket=ticket, agent="a1", minutes=15, kind="investigation")
    return ticket


def post(api: Api, token: str | None, body: dict, desk: str = CP) -> httpx.Response:
    with api.client(token) as client:
        return client.post(f"/v1/desks/{desk}/commands", json=body)


def refused(api: Api, response: httpx.Response, status: int, code: str, head: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code and problem["status"] == status
    assert problem["type"].endswith(code) and problem["title"] and problem["detail"]
    assert api.written_since(head) == [], "a refused request wrote events"
    return problem


def test_a_customer_cannot_dispute_another_customers_charge(api: Api):
    ticket = charged_ticket(api, "b-cart-power")
    api.token(CP, "customer")  # issued before looking at the head: issuing is an event
    head = api.head()
    for args in ({"customer": "b-cart-power", "dispute": unique("d"), "charge": f"{ticket}/1"},
                 {"dispute": unique("d"), "charge": f"{ticket}/1"}):
        response = post(api, api.token(CP, "customer"), {"do": "open_dispute", "args": args})
        refused(api, response, 403, "not_owner", head)


def test_an_agent_id_nobody_issued_cannot_uphold_a_dispute_and_credit_a_customer(api: Api):
    ticket = charged_ticket(api, "b-cart-power")
    dispute = unique("d")
    api.run("open_dispute", customer="b-cart-power", dispute=dispute, charge=f"{ticket}/1")
    for role in ("agent", "desk_admin", "customer", "auditor"):
        api.token(CP, role)
    head = api.head()
    body = {"do": "resolve_dispute", "args": {"dispute": dispute, "agent": "anonymous-nobody",
                                              "outcome": "upheld", "reason": "sure"}}
    for role in ("agent", "desk_admin"):
        refused(api, post(api, api.token(CP, role), body), 403, "forbidden", head)
    for role in ("customer", "auditor"):
        refused(api, post(api, api.token(CP, role), body), 403, "forbidden", head)
    refused(api, post(api, None, body), 401, "unauthenticated", head)
    refused(api, post(api, "sl.agent-000000000000." + "x" * 43, body), 401,
            "unauthenticated", head)
    del body["args"]["agent"]
    upheld = post(api, api.token(CP, "agent"), body)
    assert upheld.status_code == 200, upheld.text
    with api.client(api.token(CP, "agent")) as client:
        shown = client.get(f"/v1/desks/{CP}/disputes/{dispute}",
                           params={"after": upheld.json()["position"]}).json()
    agent_id = api.token(CP, "agent").split(".")[1]
    assert shown["status"] == "upheld" and shown["agent"] == agent_id


def test_customer_reply_needs_the_customers_own_ticket(api: Api):
    ticket = charged_ticket(api, "b-cart-power")
    api.token(CP, "customer")
    head = api.head()
    response = post(api, api.token(CP, "customer"),
                    {"do": "customer_reply", "args": {"ticket": ticket}})
    refused(api, response, 403, "not_owner", head)


def test_no_token_gets_nothing_at_all(api: Api):
    with api.client() as client:
        for method, path in (("GET", "/v1/desks/cart-power/me"),
                             ("GET", "/v1/desks/cart-power/tickets/x"),
                             ("GET", "/v1/desks/nowhere/queues/technical"),
                             ("POST", "/v1/desks/cart-power/commands")):
            response = client.request(method, path, json={})
            assert response.status_code == 401, (path, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
    with api.client("not-a-token") as client:
        assert client.get("/v1/desks/cart-power/me").status_code == 401


def test_a_token_of_one_desk_is_worth_nothing_on_another(api: Api):
    """R-ACL-2: the foreign desk is answered exactly as a desk nobody founded."""
    token = api.token(CP, "desk_admin")
    with api.client(token) as client:
        foreign = client.get("/v1/desks/cs-cart/me")
        unknown = client.get("/v1/desks/nowhere/me")
        command = client.post("/v1/desks/cs-cart/commands", json={
            "do": "register_customer", "args": {"customer": unique("c")}})
    assert foreign.status_code == unknown.status_code == command.status_code == 404
    assert foreign.json() | {"detail": ""} == unknown.json() | {"detail": ""}
    assert foreign.json()["detail"] == "no desk 'cs-cart'"
    assert unknown.json()["detail"] == "no desk 'nowhere'"


def test_another_desks_data_is_answered_as_an_id_nobody_used(api: Api):
    """A cart-power agent asking through its own desk for a cs-cart ticket, customer or
    dispute gets what it would get for an id that does not exist, body for body."""
    ticket = unique("t")
    api.run("open_ticket", customer="a-cs-cart", ticket=ticket, department="consultation",
            channel="helpdesk", subject="x")
    token = api.token(CP, "agent")
    head = api.head()
    with api.client(token) as client:
        for path in (f"/tickets/{ticket}", "/customers/a-cs-cart",
                     "/customers/a-cs-cart/charges"):
            foreign = client.get(f"/v1/desks/{CP}{path}", params={"after": head})
            nobody = client.get(f"/v1/desks/{CP}{path.replace(ticket, 'zz-nobody')}"
                                .replace("a-cs-cart", "zz-nobody"), params={"after": head})
            assert foreign.status_code == nobody.status_code == 404, foreign.text
            same = foreign.json()["detail"].replace(ticket, "X").replace("a-cs-cart", "X")
            assert same == nobody.json()["detail"].replace("zz-nobody", "X")
            assert foreign.json()["code"] == nobody.json()["code"]
        work = client.post(f"/v1/desks/{CP}/commands", json={"do": "log_work", "args": {
            "ticket": ticket, "minutes": 15, "kind": "investigation"}})
        nowhere = client.post(f"/v1/desks/{CP}/commands", json={"do": "log_work", "args": {
            "ticket": "zz-nobody", "minutes": 15, "kind": "investigation"}})
    refused(api, work, 404, "unknown_ticket", head)
    assert work.json()["detail"].replace(ticket, "X") == \
        nowhere.json()["detail"].replace("zz-nobody", "X")


def test_a_revoked_token_is_refused_at_once_by_the_server_that_revoked_it(api: Api):
    token = api.issue(CP, "agent")
    principal = token.split(".")[1]
    with api.client(token) as agent, api.client(api.token(CP, "desk_admin")) as admin:
        assert agent.get(f"/v1/desks/{CP}/me").status_code == 200  # now remembered
        revoked = admin.delete(f"/v1/desks/{CP}/tokens/{principal}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        after = agent.get(f"/v1/desks/{CP}/me")
        listed = admin.get(f"/v1/desks/{CP}/tokens").json()
    assert after.status_code == 401 and after.json()["code"] == "unauthenticated"
    assert token.split(".")[2] not in str(listed)
    assert [p["revoked_by"]["role"] for p in listed if p["principal"] == principal] == \
        ["desk_admin"]
