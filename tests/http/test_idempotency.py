"""Idempotency keys, as Stripe keeps them: a retried write gets the first answer and
writes nothing; the same key with another body is 422 `idempotency_key_reused`; keys
are per principal, kept at least 24 hours, and safe under concurrent retries and a
first answer that was never kept."""

from __future__ import annotations

import threading

import httpx
import psycopg

from supportlog.http.idempotency import IdempotencyStore
from tests.conftest import wait_for
from tests.http.conftest import Api, unique

CP = "cart-power"
PATH = f"/v1/desks/{CP}/commands"


def purchase(purchase: str, package: int = 80) -> dict:
    return {"do": "purchase_credits",
            "args": {"customer": "a-cart-power", "purchase": purchase, "package": package}}


def post(client: httpx.Client, body: dict, key: str) -> httpx.Response:
    return client.post(PATH, json=body, headers={"Idempotency-Key": key})


def test_a_retry_with_the_same_key_gets_the_first_answer_and_writes_nothing(api: Api):
    key, body = unique("key"), purchase(unique("p"))
    with api.client(api.token(CP, "service")) as client:
        first = post(client, body, key)
        head = api.head()
        again = post(client, {**body, "args": dict(reversed(body["args"].items()))}, key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and not first.json()["repeated"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert api.written_since(head) == []


def test_the_same_key_with_another_body_is_refused(api: Api):
    key, name = unique("key"), unique("p")
    with api.client(api.token(CP, "service")) as client:
        assert post(client, purchase(name), key).status_code == 200
        head = api.head()
        other = post(client, purchase(name, 160), key)
        elsewhere = client.post(f"/v1/desks/{CP}/tickets", headers={"Idempotency-Key": key},
                                json={"customer": "a-cart-power"})
    for response in (other, elsewhere):
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "idempotency_key_reused"
    assert api.written_since(head) == []


def test_a_refusal_is_kept_for_the_key_as_a_success_would_be(api: Api):
    """The first answer stands even if a retry would now succeed (Stripe's rule)."""
    key, ticket = unique("key"), unique("t")
    body = {"do": "customer_reply", "args": {"ticket": ticket}}
    with api.client(api.token(CP, "service")) as client:
        first = post(client, body, key)
        api.run("open_ticket", customer="a-cart-power", ticket=ticket,
                department="technical", channel="helpdesk", subject="x")
        again = post(client, body, key)
        fresh = post(client, body, unique("key"))
    assert first.status_code == again.status_code == 404
    assert again.json() == first.json() and again.json()["code"] == "unknown_ticket"
    assert again.headers["content-type"] == "application/problem+json"
    assert fresh.status_code == 200


def test_keys_belong_to_their_principal(api: Api):
    key = unique("key")
    other = api.issue(CP, "service")
    with api.client(api.token(CP, "service")) as one, api.client(other) as two:
        first = post(one, purchase(unique("p")), key)
        second = post(two, purchase(unique("p")), key)
    assert first.status_code == second.status_code == 200
    assert first.json()["position"] != second.json()["position"]


def test_a_key_longer_than_255_characters_is_malformed(api: Api):
    with api.client(api.token(CP, "service")) as client:
        response = post(client, purchase(unique("p")), "k" * 256)
        fits = post(client, purchase(unique("p")), "k" * 255)
    assert response.status_code == 400 and response.json()["code"] == "invalid_argument"
    assert "Idempotency-Key" in response.json()["detail"]
    assert fits.status_code == 200


def test_concurrent_retries_with_one_key_run_the_command_once(api: Api):
    key, body = unique("key"), purchase(unique("p"))
    token = api.token(CP, "service")
    head = api.head()
    answers: list[httpx.Response] = []
    start = threading.Barrier(8)

    def retry() -> None:
        with api.client(token) as client:
            start.wait()
            answers.append(post(client, body, key))

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = [a for a in answers if a.status_code == 200]
    assert accepted and all(a.json() == accepted[0].json() for a in accepted)
    assert all(a.status_code == 200 or a.json()["code"] == "idempotency_key_in_use"
               for a in answers)
    # The command's events and its receipt (a key runs the command under a command id).
    assert len(api.written_since(head)) == len(accepted[0].json()["events"]) + 1


def test_a_first_answer_that_was_never_kept_still_has_no_second_effect(api: Api):
    """The process died after the command and before keeping its answer: the retry runs
    again, and the desk's command receipt answers it as a repeat."""
    key, body = unique("key"), purchase(unique("p"))
    token = api.token(CP, "service")
    with api.client(token) as client:
        first = post(client, body, key)
        with psycopg.connect(api.system.database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM idempotency_keys WHERE key = %s", (key,))
        head = api.head()
        again = post(client, body, key)
    assert again.status_code == 200 and again.json()["repeated"]
    assert again.json()["events"] == first.json()["events"]
    assert api.written_since(head) == []


def test_keys_are_kept_24_hours_then_purged(api: Api):
    key = unique("key")
    with api.client(api.token(CP, "service")) as client:
        assert post(client, purchase(unique("p")), key).status_code == 200
    keys = IdempotencyStore(api.system.pool(1), retention_hours=24)
    with psycopg.connect(api.system.database_url, autocommit=True) as conn:
        conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '23 hours' "
                     "WHERE key = %s", (key,))
        keys.purge()
        assert conn.execute("SELECT count(*) FROM idempotency_keys WHERE key = %s",
                            (key,)).fetchone()[0] == 1
        conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
                     "WHERE key = %s", (key,))
        assert keys.purge() >= 1
        assert conn.execute("SELECT count(*) FROM idempotency_keys WHERE key = %s",
                            (key,)).fetchone()[0] == 0


def test_a_new_token_is_never_kept_for_retries(api: Api):
    """Tokens are stored only as hashes: a retried creation answers the principal, not
    its token, and the key table never holds it."""
    key = unique("key")
    with api.client(api.token(CP, "desk_admin")) as admin:
        first = admin.post(f"/v1/desks/{CP}/tokens", json={"role": "auditor"},
                           headers={"Idempotency-Key": key})
        token = first.json()["token"]
        with psycopg.connect(api.system.database_url, autocommit=True) as conn:
            wait_for(lambda: conn.execute(
                "SELECT status FROM idempotency_keys WHERE key = %s", (key,)).fetchone()[0],
                10, "the answer to be kept")
            kept = bytes(conn.execute("SELECT body FROM idempotency_keys WHERE key = %s",
                                      (key,)).fetchone()[0])
        again = admin.post(f"/v1/desks/{CP}/tokens", json={"role": "auditor"},
                           headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert token.startswith("sl.auditor-") and token.encode() not in kept
    assert again.json() == {**first.json(), "token": None}
    with api.client(token) as auditor:
        assert auditor.get(f"/v1/desks/{CP}/me").json()["role"] == "auditor"
