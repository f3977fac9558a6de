"""A one-off, recorded re-encryption of a store written before personal data was sealed
(R-PRV-1; docs/privacy.md "Events written before encryption").

Stored events are never edited, so plain-text personal data in them can only be left
behind: the whole store is copied, in order, into a new, empty store, and there every
personal field held in plain text is sealed with its customer's data key (a customer
erased already gets a key that is never stored: nobody can read their values again),
every domain gets its ref (a claim's id and subject, the domain in plain text until
now, become its ref's), and every event after a changed one in its aggregate gets its
new link. Everything else is kept: positions, aggregate versions, times, amounts,
decisions, keys of the customers who had any, and each event untouched by all this
keeps its very bytes, MAC included.

Before anything is written the old store must verify intact under the log key; after,
the new store must verify intact, every event must read the same in both (personal
data revealed, ids and refs mapped), and the mapping of each position to its old and
new event id and hash is stored (`privacy_migration_map`) and its digest recorded in
`privacy.store_migrated`, with who did it and why. Then the new store is relayed to a
new topic; the old store, its topic and their backups are the operator's to destroy.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.utils import resolve_topic

from domain.base import STORED_HASH
from domain.chain import GENESIS
from domain.errors import SupportlogError
from domain.migration import StoreMigration
from domain.personal import ERASED, plain_text
from domain.receipt import CommandReceipt
from domain.tenant import DomainName
from eventlog.envelope import event_id_text
from projections.migrate import migrate
from replay.streams import notification_pages
from replay.verify import verify_store
from supportlog.privacy.cipher import NONCE_BYTES, PersonalCipher, associated_data

_BATCH = 500


class MigrationError(SupportlogError):
    """Raised when a store cannot be re-encrypted, or its copy does not verify."""

    code = "migration_refused"


@dataclass
class MigrationReport:
    """What a re-encryption copied, changed and verified."""

    source_head: int = 0
    events: int = 0
    rewritten: int = 0
    sealed: int = 0
    erased_customers: set[str] = field(default_factory=set)
    mapping_sha256: str = ""
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"source_head": self.source_head, "events": self.events,
                "rewritten": self.rewritten, "sealed": self.sealed,
                "erased_customers": len(self.erased_customers),
                "mapping_sha256": self.mapping_sha256, "problems": self.problems}


def prepare_target(source_conn: psycopg.Connection, target_url: str) -> None:
    """Creates the new store's schema and gives it the old store's key records (the same
    master key's wrapped data keys and ref key: sealed values and refs of the old store
    stay valid); refuses a target that holds events or other keys."""
    with psycopg.connect(target_url, autocommit=True, connect_timeout=10) as target:
        migrate(target)
        events = target.execute("SELECT to_regclass('supportdesk_events')").fetchone()[0]
        if events is not None and target.execute(
                "SELECT EXISTS (SELECT FROM supportdesk_events)").fetchone()[0]:
            raise MigrationError("the target store holds events: migrate into an empty one")
        if target.execute("SELECT EXISTS (SELECT FROM privacy_master)").fetchone()[0]:
            raise MigrationError("the target store has keys of its own already")
        with target.transaction():
            for row in source_conn.execute("SELECT master_key_id, wrapped_ref_key, "
                                           "created_at FROM privacy_master"):
                target.execute("INSERT INTO privacy_master (master_key_id, "
                               "wrapped_ref_key, created_at) VALUES (%s, %s, %s)", row)
            rows = source_conn.execute(
                "SELECT customer, customer_id, key_id, wrapped_key, created_at, "
                "erased_at FROM customer_keys").fetchall()
            with target.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO customer_keys (customer, customer_id, key_id, "
                    "wrapped_key, created_at, erased_at) VALUES (%s, %s, %s, %s, %s, %s)",
                    rows)


class Copier:
    """Copies the old store's events into the new one, in order (see the module doc)."""

    def __init__(self, source: Any, target: Any):
        self.source, self.target = source, target
        self.cipher: PersonalCipher = target.personal
        self.report = MigrationReport()
        self.heads: dict[UUID, str] = {}
        self.renamed: dict[UUID, UUID] = {}
        self.mapping: list[tuple[int, str, str, str, str]] = []
        self.erased = {r[0] for r in source.connect().execute(
            "SELECT customer FROM customer_keys WHERE wrapped_key IS NULL")}
        self.report.erased_customers = set(self.erased)
        self.table = target.desk.recorder.events_table_name

    def copy(self) -> None:
        conn = self.target.connect()
        for page in notification_pages(self.source.desk):
            rows = [self.copied(n) for n in page]
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {self.table} (notification_id, originator_id, "
                    "originator_version, topic, state) VALUES (%s, %s, %s, %s, %s)", rows)
        if self.mapping:
            conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)",
                         (self.table, self.mapping[-1][0]))
        with conn.transaction(), conn.cursor() as cursor:
            cursor.executemany("INSERT INTO privacy_migration_map (position, old_event_id, "
                               "old_hash, new_event_id, new_hash) VALUES (%s, %s, %s, %s, "
                               "%s)", self.mapping)
        self.report.mapping_sha256 = mapping_digest(self.mapping)

    def copied(self, n: Any) -> tuple[int, UUID, int, str, bytes]:
        """Returns the new store's row for the stored notification `n`."""
        cls = resolve_topic(n.topic)
        old, _ = self.source.desk.mapper.decode_sealed(n)
        state = {k: v for k, v in vars(old).items() if k != STORED_HASH}
        changed = self.seal_plain_text(cls, state)
        if cls is DomainName.Claimed and state["ref"] != state["domain_ref"]:
            state["ref"] = state["domain_ref"]
            self.renamed[n.originator_id] = DomainName.id_for(state["domain_ref"])
            changed = True
        if cls is CommandReceipt.Accepted and any(UUID(e[1]) in self.renamed
                                                  for e in state["events"]):
            state["events"] = [[t, str(self.renamed.get(UUID(a), a)), v]
                               for t, a, v in state["events"]]
            changed = True
        aggregate = self.renamed.get(n.originator_id, n.originator_id)
        state["originator_id"] = aggregate
        previous = self.heads.get(aggregate, GENESIS)
        if state["prev_hash"] != previous:
            state["prev_hash"], changed = previous, True
        if changed:
            event = object.__new__(cls)
            object.__setattr__(event, "__dict__", state)
            stored = self.target.desk.mapper.to_stored_event(event)
            body, new_hash = stored.state, event.hash
            self.report.rewritten += 1
        else:
            body, new_hash = n.state, old.hash
        self.heads[aggregate] = new_hash
        self.mapping.append((n.id, event_id_text(n.originator_id, n.originator_version),
                             old.hash, event_id_text(aggregate, n.originator_version),
                             new_hash))
        self.report.events += 1
        self.report.source_head = n.id
        return n.id, aggregate, n.originator_version, n.topic, body

    def seal_plain_text(self, cls: type, state: dict[str, Any]) -> bool:
        """Seals every personal field of an upcast event's `state` that holds plain
        text, and gives its domain a ref; returns whether anything changed."""
        customer, changed = state["customer"], False
        for name in cls.PERSONAL:
            text = plain_text(state.get(name))
            if text is None:
                continue
            if name == "domain" and "domain_ref" in state:
                state["domain_ref"] = self.cipher.ref(text)
            state[name] = self.seal(customer, cls.TOPIC, name, text)
            self.report.sealed += 1
            changed = True
        return changed

    def seal(self, customer: str, event_type: str, field: str, text: str) -> dict[str, str]:
        """Seals with the customer's key; for an erased customer with a key that is
        made for this value and never stored (its key id says whose it was)."""
        if customer not in self.erased:
            sealed = self.cipher.seal(customer, event_type, field, text)
            assert sealed is not None
            return dict(sealed)
        row = self.cipher.key_row(customer)
        nonce = secrets.token_bytes(NONCE_BYTES)
        data = AESGCM(secrets.token_bytes(32)).encrypt(
            nonce, text.encode(), associated_data(customer, event_type, field))
        return {"enc": "aesgcm", "kid": row.key_id if row else "erased",
                "ct": base64.b64encode(nonce + data).decode("ascii")}


def mapping_digest(mapping: list[tuple[int, str, str, str, str]]) -> str:
    """The SHA-256 of the mapping, one line per position, in order."""
    digest = hashlib.sha256()
    for row in mapping:
        digest.update(("\t".join(map(str, row)) + "\n").encode())
    return digest.hexdigest()


def compare(source: Any, target: Any, report: MigrationReport) -> None:
    """Adds to `report.problems` every position where the new store does not read as
    the old one (personal data revealed; ids, refs and links as mapped)."""
    old_show: dict[str, Callable[..., Any]] = {}
    new_show: dict[str, Callable[..., Any]] = {}
    pages = zip(notification_pages(source.desk), notification_pages(target.desk),
                strict=False)
    for old_page, new_page in pages:
        for n, m in zip(old_page, new_page, strict=True):
            old, new = source.desk.mapper.to_domain_event(n), target.desk.mapper.\
                to_domain_event(m)
            customer = old.customer
            if customer not in old_show:
                old_show[customer] = source.personal.revealer(customer)
                new_show[customer] = target.personal.revealer(customer)
            a = _readable(old, old_show[customer], customer in report.erased_customers)
            b = _readable(new, new_show[customer], False)
            if n.id != m.id or a != b:
                report.problems.append(f"position {n.id} ({old.TOPIC}) does not read the "
                                       "same in the new store")
    heads = (source.desk.recorder.max_notification_id(),
             target.desk.recorder.max_notification_id())
    if heads[0] != heads[1]:
        report.problems.append(f"the new store ends at {heads[1]}, the old at {heads[0]}")


_MAPPED = {"prev_hash", "originator_id", "domain_ref", STORED_HASH}


def _readable(event: Any, show: Callable[..., Any], erased: bool) -> dict[str, Any]:
    """The event as a reader sees it, without what the copy maps (ids, refs, links)."""
    state = {k: v for k, v in vars(event).items() if k not in _MAPPED}
    for name in event.PERSONAL:
        if state.get(name) is not None:
            state[name] = ERASED if erased else show(event.TOPIC, name, state[name])
    if isinstance(event, DomainName.Claimed):
        state.pop("ref", None)
    if isinstance(event, CommandReceipt.Accepted):
        state["events"] = [[t, v] for t, _, v in state["events"]]
    return state


def migrate_store(source: Any, target: Any, *, by: str, reason: str,
                  name: str | None = None) -> MigrationReport:
    """Copies `source` (a System) into `target` (a System on a store `prepare_target`
    made), verifies the copy and records it; returns the report. Raises
    MigrationError, having recorded nothing, when either store does not verify or the
    copy does not read as the original."""
    before = verify_store(source.desk, source.connect(), key=source.log_key)
    if source.log_key is None or not before.ok:
        raise MigrationError("the old store does not verify intact under the log key "
                             "(`supportlog verify`): only a store that does is migrated")
    if target.log_key is None or target.log_key.id != source.log_key.id:
        raise MigrationError("the new store must be sealed with the old store's log key")
    if target.personal.master_key_id != source.personal.master_key_id or \
            source.personal.master_key_id is None:
        raise MigrationError("both stores need the same master key: "
                             f"{source.personal.problem or target.personal.problem}")
    copier = Copier(source, target)
    copier.copy()
    report = copier.report
    after = verify_store(target.desk, target.connect(), key=target.log_key)
    if not after.ok:
        report.problems += [str(p) for p in after.problems]
    compare(source, target, report)
    if report.problems:
        raise MigrationError("the copy does not verify: " + "; ".join(report.problems[:5]))
    target.desk.save(StoreMigration.record(
        name or f"migration-{datetime.now(UTC):%Y%m%dT%H%M%SZ}", datetime.now(UTC),
        by=by, reason=reason, source_head=report.source_head,
        source_key=source.log_key.id, events=report.events, rewritten=report.rewritten,
        sealed=report.sealed, erased_customers=len(report.erased_customers),
        mapping_sha256=report.mapping_sha256))
    return report
