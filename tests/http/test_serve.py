"""`supportlog serve` as a process: the API and the pipeline behind it in one, so a write
is readable with `?after=`; SIGTERM stops it cleanly (exit 0, every part stopped)."""

from __future__ import annotations

import json
import signal
import subprocess
import threading

import httpx

from domain.policy.profile import builtin_profile
from supportlog.bootstrap import bootstrap
from tests.conftest import wait_for
from tests.http.conftest import OPERATOR, T0
from tests.integration.test_run import SUPPORTLOG, env_for


def test_serve_answers_with_the_pipeline_behind_it_and_stops_on_sigterm(settings):
    system = bootstrap(settings)
    try:
        system.desk.adopt(builtin_profile("cart-power"), T0, actor=OPERATOR)
        system.desk.execute("register_customer", {"customer": "c1"}, T0, actor=OPERATOR)
        _, token = system.principals().create(desk="cart-power", role="customer",
                                              customer="c1", name=None, by=OPERATOR)
    finally:
        system.close()
    process = subprocess.Popen([*SUPPORTLOG, "serve", "--port", "0"], env=env_for(settings),
                               stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    try:
        serving = wait_for(lambda: next((json.loads(line) for line in list(lines)
                                         if '"serving"' in line), None), 60, "serve to start")
        url = serving["url"]
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                          timeout=30) as client:
            assert client.get("/healthz").status_code == 200
            opened = client.post("/v1/desks/cart-power/tickets", json={
                "ticket": "t1", "department": "technical", "channel": "helpdesk",
                "subject": "Checkout fails"})
            assert opened.status_code == 200, opened.text
            read = client.get("/v1/desks/cart-power/tickets/t1",
                              params={"after": opened.json()["position"]})
            assert read.status_code == 200 and read.json()["status"] == "new"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        reader.join(timeout=10)
    assert code == 0, "".join(lines[-20:])
    assert any('"stopped cleanly"' in line for line in lines)
