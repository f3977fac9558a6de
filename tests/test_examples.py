"""The example subscriber in examples/, run as a real process against the test broker:
it prints every charge once, and (R-PRV-2) a downstream service's copy of an erased
customer's data is deleted when `customer.erased` arrives."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from eventlog.envelope import Envelope
from supportlog.bootstrap import bootstrap
from tests.crash.relay_process import fill_store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "print_charges.py"


def load_example():
    spec = importlib.util.spec_from_file_location("print_charges", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stored_charges(system) -> list[dict]:
    notifications = system.desk.recorder.select_notifications(
        0, 100_000, topics=["credit.charged"], inclusive_of_start=False)
    return [Envelope.from_event(system.desk.mapper.to_domain_event(n), n.id).to_dict()
            for n in notifications]


def test_the_example_subscriber_prints_every_charge_once_with_its_receipt_fields(settings):
    system = bootstrap(settings)
    try:
        fill_store(system, seed=3, customers=25, days=4)
        relay = system.relay()
        relay.pump()
        relay.rewind_to(0)  # everything twice on the topic: at least once delivery
        relay.pump()
        charges = stored_charges(system)
        assert len(charges) >= 3
        result = subprocess.run(
            [sys.executable, str(EXAMPLE), "--bootstrap", settings.kafka_bootstrap,
             "--topic", settings.topic, "--max-messages", str(len(charges)),
             "--timeout", "30"],
            capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        receipt = load_example().receipt
        assert sorted(result.stdout.splitlines()) == sorted(receipt(c) for c in charges)
        first = charges[0]["data"]
        line = receipt(charges[0])
        for value in (first["charge_id"], first["ticket"], first["rule"],
                      f"{first['balance_before']} -> {first['balance_after']}"):
            assert str(value) in line
    finally:
        system.close()


def test_the_example_subscriber_gives_up_after_its_timeout(settings):
    system = bootstrap(settings)
    system.close()
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--bootstrap", settings.kafka_bootstrap,
         "--topic", settings.topic, "--max-messages", "1", "--timeout", "1"],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1 and "timed out after 0 charges" in result.stderr


def test_r_prv_2_the_example_subscriber_deletes_its_copy_of_an_erased_customer(settings,
                                                                             tmp_path):
    system = bootstrap(settings)
    try:
        fill_store(system, seed=3, customers=25, days=4)
        charges = stored_charges(system)
        customers = sorted({c["customer"] for c in charges})
        gone, stays = customers[0], customers[1:]
        system.erase_customer(gone, reason="request 11", by="dpo")
        relay = system.relay()
        relay.pump()
        copy = tmp_path / "copy.jsonl"
        result = subprocess.run(
            [sys.executable, str(EXAMPLE), "--bootstrap", settings.kafka_bootstrap,
             "--topic", settings.topic, "--max-messages", str(len(charges) + 1),
             "--timeout", "30", "--keep", str(copy)],
            capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        ours = sum(c["customer"] == gone for c in charges)
        assert f"forgot customer {gone}: {ours} line(s) of the copy deleted" in result.stdout
        kept = [json.loads(line) for line in copy.read_text().splitlines()]
        assert {k["customer"] for k in kept} == set(stays)
        assert len(kept) == len(charges) - ours and ours > 0
    finally:
        system.close()
