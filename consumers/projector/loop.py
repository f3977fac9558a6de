"""The projector: Kafka records in, read-model rows out, exactly once in effect.

Each poll's batch is folded in memory and written in ONE PostgreSQL transaction together
with the next offset of every partition it read (architecture decision 2; the writing
is `batch_writer`'s). On start and on every partition assignment it seeks to the offsets
stored in PostgreSQL (`assignment`); Kafka's own committed offsets are never read (in
group mode they are written after each batch, for tooling only). An event that cannot
be folded (undecodable, unknown type, a fold that raises in Python or in the database)
is quarantined in the same transaction, and the later events of its aggregate are
parked behind it so folds never run out of order; after the commit it goes to the
dead-letter topic. The loop goes on; a failing database stops it.

This module is the loop (`run`, `step`), which overlaps each batch's commit with the
next poll on one thread: the batch's statements and its COMMIT go out in psycopg's
pipeline mode without waiting for the answers, the next batch is polled and decoded
while the server executes them, and only once the commit is confirmed are the batch's
offsets taken as written, its dead letters published and `on_committed` called. If that
commit fails, what was polled after it is discarded and the partitions go back to their
first unwritten offsets; anything else that reads the connection (a rebalance's seek,
`lag`) first waits for the batch in flight. `poll_once` and `write_batch` write one
batch and wait for its commit.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict
from typing import Any, NamedTuple, Protocol

import psycopg
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from consumers.faults import NO_FAULTS, FaultSwitch
from consumers.projector.assignment import (
    SeekOnAssign,
    beyond_the_topic,
    forget_offsets,
    lag,
    read_stored_offsets,
    seek,
)
from consumers.projector.batch_writer import FOLD_SQL_ERRORS, BatchResult, BatchWriter
from consumers.projector.records import decode_batch
from domain.errors import SupportlogError
from projections.planning import Incoming, Quarantine

log = logging.getLogger("consumers.projector")

_MAX_ATTEMPTS = 5
#: The pause after a poll that failed with a retriable Kafka error (see Projector._poll).
_POLL_RETRY_PAUSE_S = 0.5


class ProjectorConflictError(SupportlogError):
    """Raised when a batch keeps deadlocking with a concurrent writer."""

    code = "conflict"
    retriable = True


class _Pending(NamedTuple):
    """A batch whose statements and COMMIT were sent in pipeline mode, unanswered."""

    pipeline: AbstractContextManager[Any]
    result: BatchResult
    quarantined: list[Quarantine]


class DeadLetterSink(Protocol):
    """Where quarantined records go after the commit (consumers.dead_letter)."""

    def publish_pending(self) -> int: ...



class Projector:
    """Folds the topic into the read models of `conn`'s database."""

    def __init__(self, conn: psycopg.Connection, consumer: KafkaConsumer, topic: str,
                 group_id: str, faults: FaultSwitch = NO_FAULTS,
                 on_quarantine: Callable[[Any, str], None] | None = None,
                 dead_letters: DeadLetterSink | None = None,
                 on_committed: Callable[[list[Incoming], BatchResult], None] | None = None):
        """`on_quarantine(record, reason)` runs for each quarantined record and
        `on_committed(items, result)` for each batch, after its commit is confirmed."""
        self.conn = conn
        self.consumer = consumer
        self.topic = topic
        self.group_id = group_id
        self.faults = faults
        self.on_quarantine = on_quarantine
        self.dead_letters = dead_letters
        self._on_committed = on_committed
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
        self.writer = BatchWriter(conn, topic, group_id, faults)
        #: Ask the topic's extent with ListOffsets (right on Apache Kafka only), and
        #: how to make a new connection after a database outage (`run`; None: fatal).
        self.list_offsets = False
        self.reconnect: Callable[[], psycopg.Connection] | None = None

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
        self.consumer.subscribe([self.topic], listener=SeekOnAssign(self))

    def stored_offsets(self) -> dict[int, int]:
        """Returns the next offset to read per partition, as stored with the rows."""
        with self._db:
            self._await_in_flight()
        with self._db, self.conn.transaction():
            return read_stored_offsets(self.conn, self.group_id, self.topic)

    def seek_to_stored(self, tps: list[TopicPartition]) -> dict[int, int]:
        """Seeks each partition to its stored offset (or the beginning, forgetting an
        offset beyond the refilled topic's end); returns them."""
        stored = self.stored_offsets()
        beyond = beyond_the_topic(self.consumer, self.topic, stored, tps, self.list_offsets)
        if beyond:
            with self._db, self.conn.transaction():
                forget_offsets(self.conn, self.group_id, self.topic, beyond)
            for partition in beyond:
                del stored[partition]
        return seek(self.consumer, tps, stored)

    # --- the loop ---------------------------------------------------------------------

    def poll_once(self, timeout_ms: int = 200) -> BatchResult:
        """Polls one batch and writes it; returns what it did once it is committed."""
        batch = self._poll(timeout_ms)
        if not batch:
            return self.settle()
        return self.write_batch(batch)

    def write_batch(self, batch: dict[TopicPartition, list[Any]]) -> BatchResult:
        """Folds `batch` and writes rows, applied versions, quarantine and offsets in one
        transaction; returns after its commit (with what a batch still in flight from
        `step`, finished first, did). A deadlock with a concurrent writer retries the
        whole batch."""
        items = decode_batch(batch)
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
        batch = self._poll(0 if self._in_flight else timeout_ms)
        items = decode_batch(batch) if batch else []
        done = self.settle(discard=items)
        if items:
            with self._db:
                self._send(items)
        return done

    def _poll(self, timeout_ms: int) -> dict[TopicPartition, list[Any]]:
        """Polls the consumer; a retriable Kafka error (the broker unreachable, say while
        it restarts) is logged and taken as an empty poll after a short pause, so the
        loop goes on once the broker is back. kafka-python 3.0.12 raises a refused
        connection out of `poll` when it looks up the group coordinator; nothing is
        lost by going on, since the offsets to read from are the ones stored with the
        rows."""
        try:
            return self.consumer.poll(timeout_ms=timeout_ms)
        except KafkaError as e:
            if not e.retriable:
                raise
            log.warning("poll failed; polling again", extra={"error": f"{e}"})
            time.sleep(_POLL_RETRY_PAUSE_S)
            return {}

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
        events here); calls the `on_committed` given at construction, if any."""
        if self._on_committed is not None:
            self._on_committed(items, result)

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
                    return self.writer.write_isolated(items)
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
            steps = self.writer.write_steps(cur, items, result, isolated=False)
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
        """Returns how many produced records this projector has not yet written
        (`assignment.lag`: from PostgreSQL alone, never the broker's end offsets)."""
        with self._db:
            self._await_in_flight()
        with self._db, self.conn.transaction():
            return lag(self.conn, self.group_id, self.topic)

    def run(self, stop: threading.Event, timeout_ms: int = 200) -> None:
        """Polls and writes until `stop` is set, each batch's commit overlapped with the
        next poll (`step`), riding out lost servers (`consumers.projector.running`)."""
        from consumers.projector.running import run

        run(self, stop, timeout_ms)
