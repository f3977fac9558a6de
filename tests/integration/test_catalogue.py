"""The event catalogue: a schema for every version of every event type, the current one
generated from the classes, earlier ones kept as published; the records the relay
really publishes validate against it and against the AsyncAPI document; `schema
export` writes both; docs/events.md is current; a published version only ever gains
optional fields."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from domain.actor import Actor
from domain.base import EVENT_TYPES
from domain.migration import StoreMigration
from domain.principal import issue, revoke
from eventlog.asyncapi import asyncapi_document, message_name
from eventlog.catalogue import (
    ENVELOPE_FIELDS,
    ENVELOPE_FILE,
    SEALED_SCHEMA,
    CatalogueError,
    event_file,
    event_schema,
    json_schema_of,
    optional_fields,
    payload_fields,
    publication_problems,
    published_schemas,
    schema_files,
    versions_of,
)
from eventlog.catalogue_docs import with_reference
from supportlog.bootstrap import bootstrap, isolated_system
from supportlog.cli import main
from supportlog.demo import play
from supportlog.pipeline import Pipeline
from supportlog.scenario import ScenarioRunner, load_scenario
from supportlog.settings import Settings
from supportlog.workload import START
from tests.crash.relay_process import topic_envelopes

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = Actor("operator", "cli:test")
SCENARIOS = ROOT / "tests" / "scenarios"


def catalogue_validator() -> Draft202012Validator:
    """Validates a record value against the envelope schema, resolving `data` by type
    (each schema known by its path in the catalogue, as the exported files are)."""
    registry = Registry().with_resources(
        (path, Resource.from_contents(schema)) for path, schema in schema_files().items())
    return Draft202012Validator(schema_files()[ENVELOPE_FILE], registry=registry,
                                format_checker=FormatChecker())


def asyncapi_validators(document: dict, part: str) -> dict[str, Draft7Validator]:
    """Returns, per message, a validator of its `payload` or `headers` in the document."""
    registry = Registry().with_resource(
        "urn:asyncapi", Resource(contents=document, specification=DRAFT7))
    return {name: Draft7Validator(
                {"$ref": f"urn:asyncapi#/components/messages/{name}/{part}"},
                registry=registry, format_checker=FormatChecker())
            for name in document["components"]["messages"]}


def test_every_event_type_has_a_schema_generated_from_its_fields():
    files = schema_files()
    assert len(files) == sum(len(versions_of(name)) for name in EVENT_TYPES) + 1
    for name, cls in EVENT_TYPES.items():
        schema = files[event_file(name, cls.SCHEMA_VERSION)]
        Draft202012Validator.check_schema(schema)
        assert schema["title"] == f"{name} v{cls.SCHEMA_VERSION}"
        assert list(schema["properties"]) == [field for field, _ in payload_fields(cls)]
        # A field added after events of the type were stored is optional: old events
        # lack it, and their bytes never change.
        assert set(schema["required"]) == set(schema["properties"]) - optional_fields(cls)
        assert all(name in schema["properties"] for name in optional_fields(cls))
    envelope = files[ENVELOPE_FILE]
    Draft202012Validator.check_schema(envelope)
    assert envelope["properties"]["type"]["enum"] == sorted(EVENT_TYPES)


def test_every_earlier_version_stays_in_the_catalogue_as_it_was_published():
    """Records of an earlier version stay on the topic: its schema is kept, unchanged,
    and every type's current version is published too."""
    files = schema_files()
    earlier = [(name, v) for name in EVENT_TYPES for v in versions_of(name)[:-1]]
    assert {"customer.registered", "ticket.opened", "domain.claimed"} <= {n for n, _ in earlier}
    for name, version in earlier:
        assert files[event_file(name, version)] == published_schemas()[f"{name}.v{version}"]
        Draft202012Validator.check_schema(files[event_file(name, version)])
    assert publication_problems() == []


def test_a_published_version_may_gain_only_optional_fields(monkeypatch):
    """docs/events.md "Versions of an event type": a renamed, removed or retyped field,
    or a new required one, is a new version with an upcaster; `schema publish` refuses
    to record it as the same version."""
    current = event_schema("credit.charged")
    renamed = {**current, "properties": {("amount" if k == "credits" else k): v
                                         for k, v in current["properties"].items()}}
    monkeypatch.setitem(published_schemas(), "credit.charged.v1", renamed)
    assert any("'amount' was removed or renamed" in p for p in publication_problems())
    retyped = {**current, "properties": {**current["properties"], "credits": {"type": "string"}}}
    monkeypatch.setitem(published_schemas(), "credit.charged.v1", retyped)
    assert any("'credits' changed its type" in p for p in publication_problems())
    fewer = {**current, "properties": {k: v for k, v in current["properties"].items()
                                       if k != "hold"}}
    monkeypatch.setitem(published_schemas(), "credit.charged.v1", fewer)
    assert any("gained the optional field(s) ['hold']" in p for p in publication_problems())


def test_r_prv_1_personal_fields_are_described_as_sealed_values_with_their_key_id():
    registered = event_schema("customer.registered")
    assert registered["properties"]["email"] == {"anyOf": [SEALED_SCHEMA, {"type": "null"}]}
    sealed = SEALED_SCHEMA["anyOf"][0]
    assert sealed["required"] == ["enc", "kid", "ct"]
    assert event_schema("ticket.opened")["properties"]["subject"] == SEALED_SCHEMA
    assert event_schema("customer.registered", 1)["properties"]["email"] == {
        "type": ["string", "null"]}


def test_a_field_type_the_catalogue_cannot_describe_fails_loudly():
    with pytest.raises(CatalogueError, match=r"Example\.field"):
        json_schema_of(complex, "Example.field")
    assert json_schema_of(list[str] | None, "x") == {
        "type": ["array", "null"], "items": {"type": "string"}}
    assert json_schema_of(int | str, "x") == {
        "anyOf": [{"type": "integer"}, {"type": "string"}]}


def step(at: str, do: str, **args) -> dict:
    return {"at": f"2026-{at}+04:00", "do": do, "args": args}


#: Rarer events the scenario files and the demo do not produce: duplicates and spam,
#: a held and released request, an overdue dispute review, a support package;
#: subscriptions that end.
RARE_EVENTS = {"profile": "cart-power", "steps": [
    step("03-02T09:00:00", "register_customer", customer="e1"),
    step("03-02T09:01:00", "purchase_credits", customer="e1", purchase="p1", package=80),
    *[step(f"03-02T09:1{k}:00", "open_ticket", customer="e1", ticket=f"e1-t{k}",
           department="technical", channel="helpdesk", subject="x") for k in range(5)],
    *[step(f"03-02T09:2{k}:00", "mark_duplicate", ticket=f"e1-t{k}", of="e1-t0")
      for k in range(1, 4)],
    step("03-02T10:00:00", "notify_customer", ticket="e1-t4", agent="a1",
         notice="charge_over_40"),
    step("03-02T10:01:00", "notify_customer", ticket="e1-t4", agent="a1",
         notice="replenish_after_60"),
    *[step(f"03-02T10:0{k}:00", "log_work", ticket="e1-t4", agent="a1", minutes=60,
           kind="investigation", classification="third_party_addon") for k in range(2, 5)],
    step("03-02T10:30:00", "open_ticket", customer="e1", ticket="e1-t5",
         department="technical", channel="helpdesk", subject="x"),
    step("03-02T11:00:00", "purchase_credits", customer="e1", purchase="p2", package=160),
    step("03-02T11:10:00", "open_dispute", customer="e1", dispute="e1-d1", charge="e1-t4/1"),
    step("03-02T11:20:00", "buy_package", customer="e1", purchase="pk1", package="incident"),
    step("03-02T11:21:00", "open_ticket", customer="e1", ticket="e1-t6",
         department="technical", channel="helpdesk", subject="x"),
    step("03-30T11:10:00", "customer_reply", ticket="e1-t5"),
    step("03-30T12:00:00", "register_customer", customer="e2", name="Erin", email="e@x.org"),
    step("03-30T12:01:00", "erase_customer", customer="e2", by="dpo", reason="request 7"),
]}
SUBSCRIPTIONS_END = {"profile": "cs-cart", "steps": [
    step("03-02T09:00:00", "register_customer", customer="s1"),
    step("03-02T09:01:00", "start_subscription", customer="s1", subscription="s1-a",
         plan="plus", term="month"),
    step("03-02T09:02:00", "cancel_subscription", subscription="s1-a"),
    step("03-02T09:03:00", "start_subscription", customer="s1", subscription="s1-b",
         plan="plus", term="month"),
    step("05-02T09:00:00", "register_customer", customer="s2"),
]}


@pytest.fixture(scope="module")
def published(servers, tmp_path_factory) -> list:
    """Every record published for a short demo run, every scenario file and the rare
    events above, each on a database and topic of its own."""
    admin_url, bootstrap_servers = servers
    base = Settings(database_url=admin_url, kafka_bootstrap=bootstrap_servers,
                    home=tmp_path_factory.mktemp("catalogue"), partitions=2)
    records = []
    with isolated_system(base, "catalogue") as system:
        play(system, seed=5, customers=10, days=5, end=START + timedelta(days=5))
        system.desk.execute("register_customer", {"customer": "k1"}, START,
                            command_id="catalogue-1", actor=OPERATOR)  # a command receipt
        system.desk.save(StoreMigration.record(  # a re-encrypted store's record
            "catalogue", START, by="op", reason="test", source_head=1, source_key="k",
            events=1, rewritten=0, sealed=0, erased_customers=0, mapping_sha256="0" * 64))
        issue(system.desk, principal="agent-c1", role="agent", tenant="cart-power",
              customer=None, name="Ann", now=START, actor=OPERATOR)
        revoke(system.desk, "agent-c1", now=START, actor=OPERATOR)
        Pipeline(system).sync()
        records += topic_envelopes(system.settings)
    scenarios = [(load_scenario(p), SCENARIOS) for p in sorted(SCENARIOS.glob("*.json"))]
    for scenario, base_dir in [*scenarios, (RARE_EVENTS, None), (SUBSCRIPTIONS_END, None)]:
        with isolated_system(base, "catalogue") as system:
            runner = ScenarioRunner(system)
            assert runner.run(scenario, base_dir=base_dir).failures == []
            runner.pipeline.sync()
            records += topic_envelopes(system.settings)
    return records


def test_every_published_record_validates_against_the_catalogue(published):
    validator = catalogue_validator()
    seen = set()
    for record, envelope in published:
        errors = [e.message for e in validator.iter_errors(json.loads(record.value))]
        assert errors == [], f"{envelope.type} at position {envelope.position}: {errors}"
        event_class = EVENT_TYPES[envelope.type]
        assert ENVELOPE_FIELDS.isdisjoint(envelope.data)
        assert set(envelope.data) == {f for f, _ in payload_fields(event_class)}
        seen.add(envelope.type)
    assert seen == set(EVENT_TYPES), ", ".join(sorted(set(EVENT_TYPES) - seen))
    # R-ACL-1: the envelope says who acted (timers: the scheduler; the operator's and the
    # scenario principals' commands); events recorded by nobody are test_envelope_identity's.
    roles = {(envelope.actor or {}).get("role") for _, envelope in published}
    assert {"operator", "system", "customer", "agent"} <= roles


def test_every_published_record_matches_its_asyncapi_message(published):
    document = asyncapi_document("supportlog.events", 8)
    payloads = asyncapi_validators(document, "payload")
    headers = asyncapi_validators(document, "headers")
    for record, envelope in published:
        value = json.loads(record.value)
        message = message_name(envelope.type, envelope.schema_version)
        assert list(payloads[message].iter_errors(value)) == []
        header_values = {k: v.decode() for k, v in record.headers}
        assert list(headers[message].iter_errors(header_values)) == []


def test_the_asyncapi_document_has_one_channel_and_a_message_per_event_type():
    document = asyncapi_document("acme.events", 12)
    assert document["asyncapi"] == "3.0.0"
    channel = document["channels"]["events"]
    assert channel["address"] == "acme.events"
    assert channel["bindings"]["kafka"]["partitions"] == 12
    assert set(channel["messages"]) == set(document["components"]["messages"]) == {
        message_name(name, v) for name in EVENT_TYPES for v in versions_of(name)}
    assert {"customer.registered", "customer.registered.v1"} <= set(channel["messages"])
    assert document["components"]["messages"]["customer.registered.v1"]["payload"][
        "properties"]["data"] == {"$ref": "#/components/schemas/customer.registered.v1"}
    operation = document["operations"]["publishEvents"]
    assert operation["action"] == "send" and operation["channel"] == {
        "$ref": "#/channels/events"}

    def resolve(pointer: str) -> dict:
        node = document
        for part in pointer.removeprefix("#/").split("/"):
            node = node[part]
        return node

    for message in operation["messages"]:
        assert resolve(resolve(message["$ref"])["$ref"])["name"] in channel["messages"]
    for schema in document["components"]["schemas"].values():
        Draft7Validator.check_schema(schema)
        assert "$schema" not in schema and "$id" not in schema


def test_schema_export_writes_every_schema_the_asyncapi_and_the_profile_document(tmp_path):
    result = CliRunner().invoke(main, ["schema", "export", str(tmp_path / "out")],
                                env={"SUPPORTLOG_TOPIC": "acme.events"})
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(tmp_path / "out").as_posix()
                     for p in (tmp_path / "out").rglob("*.json"))
    assert written == sorted([*schema_files(), "asyncapi.json", "openapi.json",
                              "profile.schema.json"])
    document = json.loads((tmp_path / "out" / "asyncapi.json").read_text())
    assert document["channels"]["events"]["address"] == "acme.events"
    charged = json.loads((tmp_path / "out" / event_file("credit.charged", 1)).read_text())
    assert charged["properties"]["credits"] == {"type": "integer"}


def _references(node: Any) -> list[str]:
    """Returns every `$ref` and `$id` value in a JSON document."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k in ("$ref", "$id")] + [
            r for v in node.values() for r in _references(v)]
    if isinstance(node, list):
        return [r for v in node for r in _references(v)]
    return []


#: An environment where any HTTP(S) request fails at once (a proxy nobody listens on):
#: a schema that still needed the network could not be retrieved.
OFFLINE = {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY":
           "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}


def test_exported_schemas_validate_real_records_offline_with_check_jsonschema(
        published, tmp_path):
    """A subscriber checks records with the exported folder alone: every reference
    resolves to a file in it (none is a URL), and `check-jsonschema` validates the
    records published for every event type without --base-uri and without network."""
    out = tmp_path / "schemas"
    result = CliRunner().invoke(main, ["schema", "export", str(out)])
    assert result.exit_code == 0, result.output
    for path in out.rglob("*.json"):
        for reference in _references(json.loads(path.read_text())):
            assert "://" not in reference, f"{path.name}: {reference}"
            target = reference.split("#")[0]
            assert not target or (path.parent / target).is_file(), f"{path}: {reference}"
    records = tmp_path / "records"
    records.mkdir()
    for n, (record, _envelope) in enumerate(published):
        (records / f"{n:05d}.json").write_bytes(record.value)
    check = [str(ROOT / ".venv" / "bin" / "check-jsonschema"), "--no-cache",
             "--schemafile", str(out / ENVELOPE_FILE)]
    valid = subprocess.run([*check, *sorted(map(str, records.iterdir()))], env=OFFLINE,
                           capture_output=True, text=True, timeout=300)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "ok -- validation done" in valid.stdout
    charged = next(json.loads(r.value) for r, e in published if e.type == "credit.charged")
    charged["data"]["credits"] = "forty"  # the event type's own schema must be applied
    (tmp_path / "bad.json").write_text(json.dumps(charged))
    invalid = subprocess.run([*check, str(tmp_path / "bad.json")], env=OFFLINE,
                             capture_output=True, text=True, timeout=60)
    assert invalid.returncode == 1 and "'forty' is not of type 'integer'" in invalid.stdout


def test_docs_events_md_reference_is_generated_from_the_current_catalogue():
    document = (ROOT / "docs" / "events.md").read_text()
    assert with_reference(document) == document, \
        "docs/events.md is stale: run `supportlog schema docs`"


def test_the_catalogue_leaves_out_exactly_the_fields_the_envelope_carries(settings):
    system = bootstrap(settings)
    try:
        runner = ScenarioRunner(system)
        runner.run(load_scenario(SCENARIOS / "cart-power-credits.json"), base_dir=SCENARIOS)
        notification = system.desk.recorder.select_notifications(
            0, 1, topics=["credit.charged"], inclusive_of_start=False)[0]
        event = system.desk.mapper.to_domain_event(notification)
        assert set(event.payload) == set(vars(event)) - ENVELOPE_FIELDS
    finally:
        system.close()
