"""Errors are RFC 9457 problem details with the project's code and never a 500 for what
a client can send; a database that does not answer is 503 with Retry-After; a token over
its rate is 429; imports may say when; the probes and the document are served."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg

from supportlog.http.app import openapi_document
from supportlog.http.problems import STATUS
from supportlog.settings import Settings
from tests.conftest import wait_for
from tests.http.conftest import T0, Api, running_api, unique

CP = "cart-power"


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["status"] == status
    assert set(body) == {"type", "title", "status", "detail", "code"}
    return body


def test_malformed_requests_are_400_naming_what_is_wrong(api: Api):
    with api.client(api.token(CP, "service")) as client:
        url = f"/v1/desks/{CP}/commands"
        not_json = client.post(url, content=b"{nope", headers={"content-type":
                                                                 "application/json"})
        problem(not_json, 400, "invalid_argument")
        unknown = problem(client.post(url, json={"do": "fly", "args": {}}), 400,
                          "invalid_argument")
        assert "do" in unknown["detail"]
        extra = problem(client.post(url, json={"do": "ban", "args": {}, "x": 1}), 400,
                        "invalid_argument")
        assert "x" in extra["detail"]
        field = problem(client.post(url, json={"do": "purchase_credits", "args": {
            "customer": "a-cart-power", "purchase": unique("p"), "package": "lots"}}),
            400, "invalid_argument")
        assert "package" in field["detail"]
        problem(client.get(f"/v1/desks/{CP}/queues/technical", params={"after": -1}), 400,
                "invalid_argument")
        problem(client.get(f"/v1/desks/{CP}/tickets/a%00b"), 400, "invalid_argument")
        problem(client.post(url, content=b"x" * (1 << 21), headers={
            "content-type": "application/json"}), 413, "payload_too_large")
        problem(client.get("/v1/nothing-here"), 404, "not_found")
        problem(client.put(url, json={}), 405, "method_not_allowed")


def test_business_refusals_are_422_and_state_refusals_409(api: Api):
    ticket = unique("t")
    with api.client(api.token(CP, "service")) as client:
        url = f"/v1/desks/{CP}/commands"
        problem(client.post(url, json={"do": "log_work", "args": {
            "ticket": ticket, "agent": "a1", "minutes": 15, "kind": "investigation"}}),
            404, "unknown_ticket")
        problem(client.post(url, json={"do": "register_customer", "args": {
            "customer": "a-cart-power"}}), 409, "duplicate_id")
        customer = unique("anon")
        client.post(url, json={"do": "register_customer", "args": {
            "customer": customer, "anonymous": True}})
        problem(client.post(url, json={"do": "purchase_credits", "args": {
            "customer": customer, "purchase": unique("p"), "package": 80}}), 422,
            "anonymous_not_accepted")


def test_a_service_may_say_when_an_import_happened_others_may_not(api: Api):
    earlier = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"do": "register_customer", "args": {"customer": unique("c")},
            "occurred_at": earlier}
    with api.client(api.token(CP, "desk_admin")) as admin:
        problem(admin.post(f"/v1/desks/{CP}/commands", json=body), 403, "forbidden")
    with api.client(api.token(CP, "service")) as service:
        url = f"/v1/desks/{CP}/commands"
        assert service.post(url, json=body).status_code == 200
        problem(service.post(url, json={**body, "args": {"customer": unique("c")},
                                        "occurred_at": later}), 400, "invalid_argument")
        before_setup = (T0 - timedelta(days=1)).isoformat()
        problem(service.post(url, json={"do": "purchase_credits",
                                        "occurred_at": before_setup,
                                        "args": {"customer": "a-cart-power",
                                                 "purchase": unique("p"), "package": 80}}),
                400, "invalid_argument")  # before the account's last change


def test_a_token_over_its_rate_is_told_when_to_come_back(settings: Settings):
    limited = replace(settings, rate_per_s=0.5, rate_burst=2)
    with running_api(limited, pipeline=False) as api, \
            api.client(api.token(CP, "agent")) as client:
        answers = [client.get(f"/v1/desks/{CP}/me") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    problem(answers[2], 429, "rate_limited")
    assert int(answers[2].headers["retry-after"]) >= 1


def test_a_database_that_does_not_answer_is_503_with_retry_after(settings: Settings):
    name = settings.database_url.rsplit("/", 1)[1]
    admin_url = settings.database_url.rsplit("/", 1)[0] + "/postgres"
    with running_api(settings, pipeline=False) as api:
        token = api.token(CP, "agent")
        with api.client(token) as client:
            assert client.get(f"/v1/desks/{CP}/me").status_code == 200
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
                try:
                    # Commands wait for the health monitor to have seen it (every 3 s)
                    # rather than for the store's own retries.
                    wait_for(lambda: client.get("/readyz").status_code == 503, 30,
                             "the server to notice the database is gone")
                    down = [client.get(f"/v1/desks/{CP}/customers/a-cart-power"),
                            client.post(f"/v1/desks/{CP}/commands", json={
                                "do": "log_work", "args": {"ticket": "t-x", "minutes": 15,
                                                           "kind": "investigation"}}),
                            client.get("/readyz")]
                finally:
                    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    for response in down[:2]:
        problem(response, 503, "database_unavailable")
        assert response.headers["retry-after"] == "5"
    assert down[2].status_code == 503 and not down[2].json()["ready"]


def test_the_probes_say_the_process_answers_and_how_far_the_projector_is(api: Api):
    with api.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["ready"] and body["database"] == "up" and body["broker"].startswith("up")
    assert body["store_head"] >= body["applied_through"] >= 0


def test_the_served_document_is_openapi_3_1_with_every_error_described(api: Api):
    with api.client() as client:
        served = client.get("/v1/openapi.json").json()
    assert served == json.loads(json.dumps(openapi_document()))
    assert served["openapi"].startswith("3.1")
    assert served["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    problem_codes = set(served["components"]["schemas"]["Problem"]["properties"]["code"]
                        ["enum"])
    assert problem_codes == set(STATUS)
    for path, item in served["paths"].items():
        for method, operation in item.items():
            if not path.startswith("/v1/desks/"):
                continue
            assert operation["security"] == [{"bearer": []}], (method, path)
            statuses = set(operation["responses"])
            assert {"400", "401", "403", "404", "429", "503"} <= statuses, (method, path)
            assert "422" not in statuses or method != "get"
            for status, response in operation["responses"].items():
                if status >= "400":
                    assert response["$ref"].startswith("#/components/responses/")
