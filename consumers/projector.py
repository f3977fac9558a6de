"""The projector: Kafka records in, read-model rows out, exactly once in effect.

Each poll's batch is folded in memory and written in ONE PostgreSQL transaction together
with the next offset of every partition it read (architecture decision 2). On start and
on every partition assignment it seeks to the offsets stored in PostgreSQL; Kafka's own
committed offsets are never read (in group mode they are written after each batch, for
tooling only). Inside the transaction it first locks the batch's partitions, then drops
records below the stored offset (another member already wrote them during a rebalance)
and skips events whose aggregate version was already applied (the relay may publish
twice). An event that cannot be folded (undecodable, unknown type, a fold that raises in
Python or in the database) is quarantined in the same transaction, and the later events
of its aggregate are parked behind it so folds never run out of order; after the commit
it goes to the dead-letter topic. The loop goes on; a failing database stops it.

The loop (`run`, `step`) overlaps each batch's commit with the next poll on one thread:
the batch's statements and its COMMIT go out in psycopg's pipeline mode without waiting
for the answers, the next batch is polled and decoded while the server executes them,
and only once the commit is confirmed are the batch's offsets taken as written, its
dead letters published and `on_committed` called. If that commit fails, what was polled
after it is discarded and the partitions go back to their first unwritten offsets;
anything else that reads the connection (a rebalance's seek, `lag`) first waits for the
batch in flight. `poll_once` and `write_batch` write one batch and wait for its commit.
"""

from __future__ import annotations

import base64
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple, Protocol

import psycopg
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata
from psycopg.types.json import Jsonb

from consumers.envelope import Envelope, EnvelopeError
from consumers.faults import NO_FAULTS, FaultSwitch
from consumers.topic_reader import high_water_marks
from domain.errors import SupportlogError
from projections.changes import Change, apply_changes, changes_for, is_known

log = logging.getLogger(__name__)

#: Database errors a fold's rows can cause (a NULL where a column needs a value, a
#: type mismatch, a missing column): the event is quarantined, not the batch.
FOLD_SQL_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError,
                   psycopg.errors.ProgrammingError)
_MAX_ATTEMPTS = 5


class ProjectorConflictError(SupportlogError):
    """Raised when a batch keeps deadlocking with a concurrent writer."""

    code = "conflict"
    retriable = True


# --- what one record is, and what to do with it ----------------------------------------

class Record(NamedTuple):
    """One Kafka record rebuilt from the quarantine (dead letters), or a consumed record
    with no value (a tombstone). A consumed record with a value is kept as kafka-python's
    `ConsumerRecord` itself, which has the same fields: copying it cost a tuple per
    record. So code that reads a record uses only these fields, and `header` and
    `headers_json`, which work on either."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, record: Any) -> Record:
        """Returns the projector's copy of a kafka-python ConsumerRecord."""
        return cls(record.topic, record.partition, record.offset, record.key,
                   record.value or b"", tuple(record.headers or ()))


def header(record: Any, name: str) -> str | None:
    """Returns the record's header `name` as text, or None (a `Record` or a
    `ConsumerRecord`)."""
    for key, value in record.headers or ():
        if key == name:
            return (value or b"").decode("utf-8", "replace")
    return None


def headers_json(record: Any) -> list[list[str]]:
    """Returns the record's headers as [name, base64 value] pairs, byte for byte."""
    return [[k, base64.b64encode(v or b"").decode()] for k, v in record.headers or ()]


class Incoming(NamedTuple):
    """A record with its decoded envelope, or the reason it could not be decoded (a
    named tuple, as `Record` is, since there is one per record)."""

    record: Any  # a Record or, with bytes for its value, a ConsumerRecord
    envelope: Envelope | None
    error: str | None = None

    @classmethod
    def decode(cls, record: Any) -> Incoming:
        """Decodes the record; an envelope whose stream position PostgreSQL could not
        store or match (an aggregate id not in the canonical UUID form the relay writes,
        a number out of range) counts as undecodable, or it would fail every retry of
        its batch."""
        try:
            envelope = Envelope.decode(record.value)
        except EnvelopeError as e:
            return cls(record, None, safe_text(f"{e}"))
        agg = envelope.aggregate_id
        if not (isinstance(agg, str) and _CANONICAL_UUID.fullmatch(agg)):
            return cls(record, None, safe_text(
                f"malformed envelope: aggregateid: not a canonical UUID: {agg!r}"))
        if not (0 < envelope.aggregate_version < _BIGINT and 0 <= envelope.position < _BIGINT):
            return cls(record, None, "malformed envelope: aggregateversion or position "
                                     "out of range")
        return cls(record, envelope)


_BIGINT = 2**63
#: What `str(UUID)` writes and PostgreSQL's `uuid::text` reads back. Applied versions
#: are matched by this text, so another spelling of the same id (upper case, no
#: hyphens, braces) would escape the duplicate check; a regular expression is also
#: several times cheaper than building a `UUID` per record.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def safe_text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: a record must not be able to wedge the loop."""
    return value.replace("\x00", "\\0") if value is not None else None


@dataclass(frozen=True)
class Apply:
    """Fold this event: write its changes and advance its aggregate's applied version."""

    item: Incoming
    changes: list[Change]


@dataclass(frozen=True)
class Skip:
    """Ignore this event: its aggregate version is applied (or already quarantined)."""

    item: Incoming


@dataclass(frozen=True)
class Quarantine:
    """Keep this record aside with the reason; its aggregate's later events wait."""

    item: Incoming
    reason: str


Step = Apply | Skip | Quarantine


def plan_batch(items: Iterable[Incoming], applied: dict[str, int],
               quarantined: dict[str, set[int]]) -> list[Step]:
    """Returns what to do with each item, in order. Pure: no I/O.

    `applied` is the highest applied version per aggregate id; `quarantined` the
    versions per aggregate waiting in the quarantine. An aggregate with any event in
    quarantine is parked: its later events are quarantined too, so that a retry folds
    them in order (folds set values, so folding an older event last would be wrong).
    """
    applied = dict(applied)
    parked = {a for a, versions in quarantined.items() if versions}
    steps: list[Step] = []
    for item in items:
        e = item.envelope
        if e is None:
            steps.append(Quarantine(item, item.error or "undecodable"))
            continue
        agg = e.aggregate_id
        if e.aggregate_version <= applied.get(agg, 0) or \
                e.aggregate_version in quarantined.get(agg, ()):
            steps.append(Skip(item))
            continue
        if agg in parked:
            steps.append(Quarantine(item, f"parked: an earlier event of aggregate {agg} "
                                          "is in quarantine"))
            continue
        if not is_known(e.type):
            reason = f"unknown event type {e.type!r}"
        else:
            try:
                steps.append(Apply(item, changes_for(e)))
                applied[agg] = e.aggregate_version
                continue
            except Exception as error:  # any fold bug: quarantined with its reason
                reason = f"fold failed: {type(error).__name__}: {error}"
        parked.add(agg)
        steps.append(Quarantine(item, reason))
    return steps


def apply_isolated(conn: psycopg.Connection, cur: psycopg.Cursor,
                   steps: list[Step]) -> list[Step]:
    """Applies each event's changes in its own savepoint; returns the steps with every
    event whose rows the database refused (and its aggregate's later events) turned
    into quarantine. The slow path, taken only after a whole batch was refused."""
    out: list[Step] = []
    parked: set[str] = set()
    for step in steps:
        if isinstance(step, Apply):
            agg = step.item.envelope.aggregate_id  # type: ignore[union-attr]
            if agg in parked:
                out.append(Quarantine(step.item, f"parked: an earlier event of aggregate "
                                                 f"{agg} is in quarantine"))
                continue
            try:
                with conn.transaction():
                    apply_changes(cur, step.changes)
            except FOLD_SQL_ERRORS as e:
                parked.add(agg)
                out.append(Quarantine(step.item, f"fold failed in the database: "
                                                 f"{type(e).__name__}: {e}".strip()))
                continue
        out.append(step)
    return out


def lock_partitions(cur: psycopg.Cursor, partitions: Iterable[tuple[str, int]]) -> None:
    """Serialises writers of the same partitions (a rebalance overlap, a dlq retry)
    until the transaction ends; sorted, so two writers never deadlock on the locks."""
    for topic, partition in sorted(set(partitions)):
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    (f"supportlog.projector:{topic}:{partition}",))


def applied_versions(cur: psycopg.Cursor, aggregate_ids: set[str]) -> dict[str, int]:
    """Returns the applied version of each of `aggregate_ids` that has one."""
    if not aggregate_ids:
        return {}
    cur.execute("SELECT aggregate_id::text, version FROM projector_applied "
                "WHERE aggregate_id = ANY(%s::uuid[])", (list(aggregate_ids),))
    return {a: int(v) for a, v in cur.fetchall()}


def record_applied(cur: psycopg.Cursor, steps: Iterable[Step]) -> None:
    """Moves each applied aggregate's version forward (never back), in one statement
    over arrays (one row per aggregate, in id order, so that two writers lock the rows
    in the same order)."""
    newest: dict[str, int] = {}
    for step in steps:
        if isinstance(step, Apply):
            e = step.item.envelope
            assert e is not None
            newest[e.aggregate_id] = max(newest.get(e.aggregate_id, 0), e.aggregate_version)
    if newest:
        ids, versions = zip(*sorted(newest.items()), strict=True)
        cur.execute(
            "INSERT INTO projector_applied (aggregate_id, version) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[]) "
            "ON CONFLICT (aggregate_id) DO UPDATE SET version = "
            "GREATEST(projector_applied.version, EXCLUDED.version)",
            (list(ids), list(versions)),
        )


def record_quarantine(cur: psycopg.Cursor, group_id: str, steps: Iterable[Step]) -> None:
    """Inserts a quarantine row per quarantined record (once per topic/partition/offset)."""
    rows = []
    for step in steps:
        if not isinstance(step, Quarantine):
            continue
        r, e = step.item.record, step.item.envelope
        rows.append((r.topic, r.partition, r.offset,
                     safe_text(e.type if e else header(r, "ce_type")),
                     safe_text(e.id if e else header(r, "ce_id")), safe_text(step.reason), r.value,
                     group_id,
                     e.aggregate_id if e else None, e.aggregate_version if e else None,
                     r.key, Jsonb(headers_json(r))))
    if rows:
        cur.executemany(
            'INSERT INTO quarantine (topic, partition, "offset", event_type, event_id, '
            "reason, value, group_id, aggregate_id, aggregate_version, key, headers) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            rows,
        )


# --- the consumer loop ------------------------------------------------------------------

@dataclass
class BatchResult:
    """What one batch did."""

    records: int = 0
    applied: int = 0
    skipped: int = 0
    stale: int = 0
    quarantined: int = 0
    changes: int = 0
    partitions: dict[int, int] = field(default_factory=dict)

    def merge(self, other: BatchResult) -> BatchResult:
        """Returns what this batch and `other` (a later one) did together."""
        return BatchResult(
            self.records + other.records, self.applied + other.applied,
            self.skipped + other.skipped, self.stale + other.stale,
            self.quarantined + other.quarantined, self.changes + other.changes,
            {**self.partitions, **other.partitions})

    def add(self, steps: list[Step]) -> None:
        for step in steps:
            if isinstance(step, Apply):
                self.applied += 1
                self.changes += len(step.changes)
            elif isinstance(step, Skip):
                self.skipped += 1
            else:
                self.quarantined += 1


class _Pending(NamedTuple):
    """A batch whose statements and COMMIT were sent in pipeline mode, unanswered."""

    pipeline: AbstractContextManager[Any]
    result: BatchResult
    quarantined: list[Quarantine]


class DeadLetterSink(Protocol):
    """Where quarantined records go after the commit (consumers.dead_letter)."""

    def publish_pending(self) -> int: ...


class _SeekOnAssign(ConsumerRebalanceListener):
    """Seeks newly assigned partitions to the offsets stored in PostgreSQL.

    kafka-python may run these callbacks on another thread than the loop's, possibly
    while the loop is writing a batch or has one in flight: the offset query first
    takes the projector's lock and waits for that batch's commit (milliseconds), so
    the seek lands after what it wrote, never on a half-finished batch. They must
    return promptly, since heartbeats wait on the same thread.
    """

    def __init__(self, projector: Projector):
        self.projector = projector

    def on_partitions_revoked(self, revoked: Any) -> None:
        """Nothing to save: offsets are written with each batch's rows."""
        # replaced, not changed in place: another thread may be reading it
        self.projector.assigned = self.projector.assigned - {tp.partition for tp in revoked}
        if revoked:
            log.info("partitions revoked", extra={
                "partitions": sorted(tp.partition for tp in revoked)})

    def on_partitions_assigned(self, assigned: Any) -> None:
        offsets = self.projector.seek_to_stored(list(assigned))
        self.projector.assigned = self.projector.assigned | {tp.partition for tp in assigned}
        log.info("partitions assigned", extra={"offsets": offsets})


class Projector:
    """Folds the topic into the read models of `conn`'s database."""

    def __init__(self, conn: psycopg.Connection, consumer: KafkaConsumer, topic: str,
                 group_id: str, faults: FaultSwitch = NO_FAULTS,
                 on_quarantine: Callable[[Any, str], None] | None = None,
                 dead_letters: DeadLetterSink | None = None):
        self.conn = conn
        self.consumer = consumer
        self.topic = topic
        self.group_id = group_id
        self.faults = faults
        self.on_quarantine = on_quarantine
        self.dead_letters = dead_letters
        self.in_group = False
        #: The partitions this projector reads now (kept up to date on rebalances).
        self.assigned: set[int] = set()
        # Serialises use of `conn` between the loop and the rebalance callbacks, which
        # run on the Kafka client's network thread. Never held while polling: the
        # network thread may be the one waiting for it.
        self._db = threading.RLock()
        #: The batch sent but whose commit is not yet confirmed (see `step`), the
        #: batches confirmed but not yet followed up, and a failure of the one in flight.
        self._in_flight: tuple[list[Incoming], _Pending] | None = None
        self._confirmed: list[tuple[list[Incoming], BatchResult, list[Quarantine]]] = []
        self._failure: tuple[Exception, list[Incoming]] | None = None

    # --- assignment -------------------------------------------------------------------

    def assign_all(self) -> None:
        """Reads every partition itself (no group): for scenarios, tests and rebuilds."""
        partitions = self.consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        self.seek_to_stored(tps)
        self.assigned = {tp.partition for tp in tps}

    def subscribe(self) -> None:
        """Joins the consumer group; partitions are sought on every assignment."""
        self.in_group = True
        self.consumer.subscribe([self.topic], listener=_SeekOnAssign(self))

    def stored_offsets(self) -> dict[int, int]:
        """Returns the next offset to read per partition, as stored with the rows."""
        with self._db:
            self._await_in_flight()
        with self._db, self.conn.transaction():
            rows = self.conn.execute(
                "SELECT partition, next_offset FROM projector_offsets "
                "WHERE group_id = %s AND topic = %s", (self.group_id, self.topic),
            ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def seek_to_stored(self, tps: list[TopicPartition]) -> dict[int, int]:
        """Seeks each partition to its stored offset (or the beginning); returns them.

        A stored offset beyond what the partition holds means the topic was replaced and
        refilled from the store (a restarted memory broker, a new cluster): the offsets
        are forgotten and the partition is read again from the start, which is safe
        because events already applied are skipped by their aggregate version.
        """
        stored = self.stored_offsets()
        if stored and tps:
            self._forget_offsets_beyond_topic(stored, tps)
        for tp in tps:
            if tp.partition in stored:
                self.consumer.seek(tp, stored[tp.partition])
            else:
                self.consumer.seek_to_beginning(tp)
        return {tp.partition: stored.get(tp.partition, 0) for tp in tps}

    def _forget_offsets_beyond_topic(self, stored: dict[int, int],
                                     tps: list[TopicPartition]) -> None:
        bootstrap = self.consumer.config["bootstrap_servers"]
        if isinstance(bootstrap, list):
            bootstrap = ",".join(bootstrap)
        marks = high_water_marks(bootstrap, self.topic)
        beyond = [tp.partition for tp in tps
                  if stored.get(tp.partition, 0) > marks.get(tp.partition, 0)]
        if not beyond:
            return
        log.warning("stored offsets lie beyond the topic's end: it was refilled; "
                    "reading those partitions again", extra={"partitions": beyond})
        with self._db, self.conn.transaction():
            self.conn.execute(
                "DELETE FROM projector_offsets WHERE group_id = %s AND topic = %s "
                "AND partition = ANY(%s)", (self.group_id, self.topic, beyond))
        for partition in beyond:
            del stored[partition]

    # --- the loop ---------------------------------------------------------------------

    def poll_once(self, timeout_ms: int = 200) -> BatchResult:
        """Polls one batch and writes it; returns what it did once it is committed."""
        batch = self.consumer.poll(timeout_ms=timeout_ms)
        if not batch:
            return self.settle()
        return self.write_batch(batch)

    def write_batch(self, batch: dict[TopicPartition, list[Any]]) -> BatchResult:
        """Folds `batch` and writes rows, applied versions, quarantine and offsets in one
        transaction; returns after its commit (with what a batch still in flight from
        `step`, finished first, did). A deadlock with a concurrent writer retries the
        whole batch."""
        items = self._decode(batch)
        done = self.settle(discard=items)
        with self._db:
            try:
                result, quarantined = self._complete(items, None)
            except BaseException:
                self._rewind(items)
                raise
        self._committed(items, result, quarantined)
        return done.merge(result) if done.records else result

    def step(self, timeout_ms: int = 200) -> BatchResult:
        """One turn of the overlapped loop; returns what the batch committed in this
        turn did (empty if none).

        The batch sent by the previous turn (its statements and COMMIT in pipeline mode,
        no answer awaited) is executed by the server while this turn polls and decodes
        the next batch; then its commit is awaited, and only then are its offsets taken
        as written and its dead letters published; then the next batch is sent. If the
        batch in flight fails, what was polled after it is discarded and every partition
        goes back to its first unwritten offset, as after any failed batch. While a
        batch is in flight the poll takes only what the consumer already holds
        (timeout 0), so an idle topic never holds a commit's confirmation back."""
        batch = self.consumer.poll(timeout_ms=0 if self._in_flight else timeout_ms)
        items = self._decode(batch) if batch else []
        done = self.settle(discard=items)
        if items:
            with self._db:
                self._send(items)
        return done

    def _send(self, items: list[Incoming]) -> None:
        """Sends `items`' transaction and leaves it in flight (caller holds `_db`); if
        the database refuses or conflicts before the COMMIT is sent, writes the batch
        the slow way at once. On failure, rewinds and raises."""
        try:
            try:
                self._in_flight = (items, self._begin(items))
            except (*FOLD_SQL_ERRORS, psycopg.errors.TransactionRollback):
                self._confirmed.append((items, *self._complete(items, None)))
        except BaseException:
            self._rewind(items)
            raise

    def settle(self, discard: list[Incoming] | None = None) -> BatchResult:
        """Waits for the batch in flight, if any, and runs what follows each commit;
        returns what the batches committed since the last call did (one, or none).
        If the batch in flight failed, raises its error with every partition of it and
        of `discard` (records polled after it) back at its first unwritten offset."""
        with self._db:
            self._await_in_flight()
        done = BatchResult()
        while self._confirmed:
            items, result, quarantined = self._confirmed.pop(0)
            self._committed(items, result, quarantined)
            done = done.merge(result)
        if self._failure is not None:
            (failure, unwritten), self._failure = self._failure, None
            self._rewind([*unwritten, *(discard or ())])
            raise failure
        return done

    def _await_in_flight(self) -> None:
        """Finishes the batch in flight (caller holds `_db`): on success it joins the
        confirmed batches; on failure its partitions are rewound and the error kept for
        the loop (`settle` raises it), since this may run in a rebalance callback,
        which must not raise."""
        if self._in_flight is None:
            return
        items, pending = self._in_flight
        self._in_flight = None
        try:
            result, quarantined = self._complete(items, pending)
        except Exception as e:
            self._rewind(items)
            self._failure = (e, items)
            return
        self._confirmed.append((items, result, quarantined))

    def _committed(self, items: list[Incoming], result: BatchResult,
                   quarantined: list[Quarantine]) -> None:
        """Runs after each confirmed commit, on the loop's thread."""
        self.faults.reached("projector.after_commit")
        self._after_commit(result, quarantined)
        self.on_committed(items, result)

    def on_committed(self, items: list[Incoming], result: BatchResult) -> None:
        """Hook: called once a batch's commit is confirmed (the latency bench marks its
        events here); does nothing by default."""

    @staticmethod
    def _decode(batch: dict[TopicPartition, list[Any]]) -> list[Incoming]:
        """Decodes each consumed record, kept as it is unless it has no value (a
        tombstone, copied into a `Record` with an empty value: undecodable, as any)."""
        decode = Incoming.decode
        return [decode(r if r.value is not None else Record.of(r))
                for records in batch.values() for r in records]

    def _rewind(self, items: list[Incoming]) -> None:
        """Seeks each partition of `items` still assigned back to its first record in
        them: nothing from there on is written, and the next poll must read it again
        (the stored offsets say the same; the write skips what another member wrote)."""
        first: dict[int, int] = {}
        for item in items:
            p = item.record.partition
            first[p] = min(first.get(p, item.record.offset), item.record.offset)
        assigned = {tp.partition for tp in self.consumer.assignment()}
        for p, offset in first.items():
            if p in assigned:
                self.consumer.seek(TopicPartition(self.topic, p), offset)

    def _complete(self, items: list[Incoming], pending: _Pending | None
                  ) -> tuple[BatchResult, list[Quarantine]]:
        """Waits for `pending` (the pipelined transaction of `items`), or writes `items`
        if None. A batch the database refused is written again event by event; a
        deadlock with a concurrent writer retries the whole batch."""
        for attempt in range(_MAX_ATTEMPTS):
            try:
                try:
                    if pending is None:
                        pending = self._begin(items)
                    return self._finish(pending)
                except FOLD_SQL_ERRORS as e:
                    log.warning("batch refused by the database; folding event by event",
                                extra={"error": f"{type(e).__name__}: {e}"})
                    return self._write_isolated(items)
            except psycopg.errors.TransactionRollback as e:  # deadlock, serialization
                pending = None
                log.warning("batch conflicted; retrying", extra={"error": str(e)})
                time.sleep(random.uniform(0.01, 0.05) * 2**attempt)
        raise ProjectorConflictError(
            f"batch still conflicting after {_MAX_ATTEMPTS} attempts")

    def _begin(self, items: list[Incoming]) -> _Pending:
        """Sends the batch's transaction in pipeline mode, COMMIT included, and returns
        without waiting for the commit (one round trip: the read of the stored offsets,
        applied and quarantined versions, which the plan needs). Caller holds `_db`."""
        result = BatchResult(records=len(items))
        pipeline = self.conn.pipeline()
        pipeline.__enter__()
        try:
            cur = self.conn.cursor()
            cur.execute("BEGIN")
            steps = self._write_steps(cur, items, result, isolated=False)
            cur.execute("COMMIT")
        except BaseException as e:
            self._close_pipeline(pipeline, e)
            raise
        return _Pending(pipeline, result, [s for s in steps if isinstance(s, Quarantine)])

    def _finish(self, pending: _Pending) -> tuple[BatchResult, list[Quarantine]]:
        """Waits for the answers of `pending`'s statements and its COMMIT (leaving
        pipeline mode syncs); raises the first error, the transaction rolled back."""
        self._close_pipeline(pending.pipeline, None)
        return pending.result, pending.quarantined

    def _close_pipeline(self, pipeline: AbstractContextManager[Any], error: BaseException | None
                        ) -> None:
        """Leaves pipeline mode, reading every answer; after an error, rolls back what
        is left of the transaction (statements after a failed one were not run)."""
        try:
            pipeline.__exit__(type(error) if error else None, error, None)
        except BaseException:
            self._roll_back()
            raise
        if error is not None:
            self._roll_back()

    def _roll_back(self) -> None:
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE and \
                not self.conn.closed:
            self.conn.execute("ROLLBACK")

    def _read_state(self, cur: psycopg.Cursor, ids: set[str]
                    ) -> tuple[dict[int, int], dict[str, int], dict[str, set[int]]]:
        """Returns the stored offsets, applied versions and versions waiting in the
        quarantine of the batch's aggregates, in one statement (one round trip)."""
        cur.execute(
            "SELECT 0, partition::text, next_offset FROM projector_offsets "
            "WHERE group_id = %s AND topic = %s "
            "UNION ALL SELECT 1, aggregate_id::text, version FROM projector_applied "
            "WHERE aggregate_id = ANY(%s::uuid[]) "
            "UNION ALL SELECT 2, aggregate_id::text, aggregate_version FROM quarantine "
            "WHERE NOT retried AND aggregate_id = ANY(%s::uuid[])",
            (self.group_id, self.topic, list(ids), list(ids)))
        stored: dict[int, int] = {}
        applied: dict[str, int] = {}
        quarantined: dict[str, set[int]] = {}
        for kind, name, number in cur.fetchall():
            if kind == 0:
                stored[int(name)] = int(number)
            elif kind == 1:
                applied[name] = int(number)
            else:
                quarantined.setdefault(name, set()).add(
                    int(number) if number is not None else -1)
        return stored, applied, quarantined

    def _write_isolated(self, items: list[Incoming]) -> tuple[BatchResult, list[Quarantine]]:
        """Writes `items` with each event in its own savepoint and waits for the commit:
        the slow path, after the database refused the batch."""
        result = BatchResult(records=len(items))
        with self.conn.transaction(), self.conn.cursor() as cur:
            steps = self._write_steps(cur, items, result, isolated=True)
        return result, [s for s in steps if isinstance(s, Quarantine)]

    def _write_steps(self, cur: psycopg.Cursor, items: list[Incoming], result: BatchResult,
                     isolated: bool) -> list[Step]:
        """Runs the batch's statements inside its transaction, up to the commit: locks
        its partitions, drops records below the stored offsets (another member wrote
        them), plans against the applied and quarantined versions, writes the rows (each
        event in its own savepoint if `isolated`), applied versions, quarantine and
        offsets; returns the steps, as written."""
        lock_partitions(cur, {(i.record.topic, i.record.partition) for i in items})
        ids = {i.envelope.aggregate_id for i in items if i.envelope is not None}
        stored, applied, quarantined = self._read_state(cur, ids)
        fresh = [i for i in items if i.record.offset >= stored.get(i.record.partition, 0)]
        result.stale = len(items) - len(fresh)
        steps = plan_batch(fresh, applied, quarantined)
        if isolated:
            steps = apply_isolated(self.conn, cur, steps)
        else:
            apply_changes(cur, [c for s in steps if isinstance(s, Apply) for c in s.changes])
        record_applied(cur, steps)
        record_quarantine(cur, self.group_id, steps)
        self._record_positions(cur, items, fresh, result)
        result.add(steps)
        self.faults.reached("projector.before_commit")
        return steps

    def _record_positions(self, cur: psycopg.Cursor, items: list[Incoming],
                          fresh: list[Incoming], result: BatchResult) -> None:
        offsets: dict[int, int] = {}
        for item in items:
            p = item.record.partition
            offsets[p] = max(offsets.get(p, 0), item.record.offset + 1)
        positions: dict[int, int] = {}
        for item in fresh:
            if item.envelope is not None:
                p = item.record.partition
                positions[p] = max(positions.get(p, 0), item.envelope.position)
        result.partitions = offsets
        cur.executemany(
            "INSERT INTO projector_offsets (group_id, topic, partition, next_offset) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (group_id, topic, partition) DO UPDATE "
            "SET next_offset = GREATEST(projector_offsets.next_offset, "
            "EXCLUDED.next_offset)",
            [(self.group_id, self.topic, p, o) for p, o in sorted(offsets.items())],
        )
        if positions:
            cur.executemany(
                "INSERT INTO projector_positions (group_id, topic, partition, position) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (group_id, topic, partition) DO UPDATE "
                "SET position = GREATEST(projector_positions.position, EXCLUDED.position)",
                [(self.group_id, self.topic, p, o) for p, o in sorted(positions.items())],
            )

    def _after_commit(self, result: BatchResult, quarantined: list[Quarantine]) -> None:
        log.info("batch written", extra={"batch": asdict(result)})
        for step in quarantined:
            r = step.item.record
            log.warning("quarantined", extra={
                "topic": r.topic, "partition": r.partition, "offset": r.offset,
                "reason": step.reason})
            if self.on_quarantine:
                self.on_quarantine(r, step.reason)
        if quarantined and self.dead_letters is not None:
            self.dead_letters.publish_pending()
        if self.in_group:
            self._commit_to_kafka(result.partitions)

    def _commit_to_kafka(self, offsets: dict[int, int]) -> None:
        """Mirrors the stored offsets to Kafka for tooling (consumer-group lag); never
        read back, so a failed commit changes nothing and is only logged."""
        def done(_offsets: Any, response: Any) -> None:
            if isinstance(response, Exception):
                log.debug("offset mirror to Kafka failed: %s", response)

        try:
            self.consumer.commit_async(
                {TopicPartition(self.topic, p): OffsetAndMetadata(o, "", -1)
                 for p, o in offsets.items()}, callback=done)
        except KafkaError as e:  # e.g. mid-rebalance: the next batch mirrors again
            log.debug("offset mirror to Kafka skipped: %s", e)

    def lag(self) -> int:
        """Returns how many produced records this projector has not yet written.

        It compares the relay's recorded produce offsets with the stored consumed
        offsets, both in PostgreSQL, so it never asks the broker for end offsets.
        """
        with self._db:
            self._await_in_flight()
        with self._db, self.conn.transaction():
            row = self.conn.execute(
                "SELECT COALESCE(SUM(GREATEST(r.next_offset - COALESCE(p.next_offset, 0), 0)),"
                " 0) FROM relay_partition_offsets r LEFT JOIN projector_offsets p "
                "ON p.topic = r.topic AND p.partition = r.partition AND p.group_id = %s "
                "WHERE r.topic = %s", (self.group_id, self.topic),
            ).fetchone()
        return int(row[0]) if row else 0

    def run(self, stop: threading.Event, timeout_ms: int = 200) -> None:
        """Polls and writes until `stop` is set, each batch's commit overlapped with the
        next poll (`step`); the batch in flight is always finished."""
        try:
            while not stop.is_set():
                self.step(timeout_ms)
        finally:
            self.settle()
