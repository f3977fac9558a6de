"""Writing one batch: rows, applied versions, quarantine and offsets, in one transaction.

Inside the transaction it first locks the batch's partitions, then drops records below
the stored offset (another member already wrote them during a rebalance), plans the
rest against the applied and quarantined versions (`projections.planning`), and writes
the rows, the applied versions, the quarantine rows and the next offsets (architecture
decision 2). A batch the database refuses is written again event by event, each in its
own savepoint, so one bad row quarantines its event, not the batch. It opens and
commits no transaction itself: the projector's loop does, pipelined or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg
from psycopg.types.json import Jsonb

from consumers.faults import NO_FAULTS, FaultSwitch
from consumers.projector.records import header, headers_json, safe_text
from projections.changes import apply_changes
from projections.planning import Apply, Incoming, Quarantine, Skip, Step, parked_reason, plan_batch

#: Database errors a fold's rows can cause (a NULL where a column needs a value, a
#: type mismatch, a missing column): the event is quarantined, not the batch.
FOLD_SQL_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError,
                   psycopg.errors.ProgrammingError)


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
        """Counts what `steps` do."""
        for step in steps:
            if isinstance(step, Apply):
                self.applied += 1
                self.changes += len(step.changes)
            elif isinstance(step, Skip):
                self.skipped += 1
            else:
                self.quarantined += 1


def apply_isolated(conn: psycopg.Connection, cur: psycopg.Cursor,
                   steps: list[Step]) -> list[Step]:
    """Applies each event's changes in its own savepoint; returns the steps with every
    event whose rows the database refused (and its aggregate's later events) turned
    into quarantine. The slow path, taken only after a whole batch was refused."""
    out: list[Step] = []
    parked: set[str] = set()
    for step in steps:
        if isinstance(step, Apply):
            agg = step.item.envelope.aggregate_id
            if agg in parked:
                out.append(Quarantine(step.item, parked_reason(agg)))
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
                     safe_text(e.id if e else header(r, "ce_id")), safe_text(step.reason),
                     r.value, group_id,
                     e.aggregate_id if e else None, e.aggregate_version if e else None,
                     r.key, Jsonb(headers_json(r))))
    if rows:
        cur.executemany(
            'INSERT INTO quarantine (topic, partition, "offset", event_type, event_id, '
            "reason, value, group_id, aggregate_id, aggregate_version, key, headers) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            rows,
        )


class BatchWriter:
    """Writes batches of one topic for one projector group into `conn`'s database."""

    def __init__(self, conn: psycopg.Connection, topic: str, group_id: str,
                 faults: FaultSwitch = NO_FAULTS):
        self.conn = conn
        self.topic = topic
        self.group_id = group_id
        self.faults = faults

    def write_steps(self, cur: psycopg.Cursor, items: list[Incoming], result: BatchResult,
                    isolated: bool) -> list[Step]:
        """Runs the batch's statements inside its transaction, up to the commit: locks
        its partitions, drops records below the stored offsets (another member wrote
        them), plans against the applied and quarantined versions, writes the rows (each
        event in its own savepoint if `isolated`), applied versions, quarantine and
        offsets; returns the steps, as written."""
        lock_partitions(cur, {(i.record.topic, i.record.partition) for i in items})
        ids = {i.envelope.aggregate_id for i in items if i.envelope is not None}
        stored, applied, quarantined = self.read_state(cur, ids)
        fresh = [i for i in items if i.record.offset >= stored.get(i.record.partition, 0)]
        result.stale = len(items) - len(fresh)
        steps = plan_batch(fresh, applied, quarantined)
        if isolated:
            steps = apply_isolated(self.conn, cur, steps)
        else:
            apply_changes(cur, [c for s in steps if isinstance(s, Apply) for c in s.changes])
        record_applied(cur, steps)
        record_quarantine(cur, self.group_id, steps)
        self.record_positions(cur, items, fresh, result)
        result.add(steps)
        self.faults.reached("projector.before_commit")
        return steps

    def write_isolated(self, items: list[Incoming]) -> tuple[BatchResult, list[Quarantine]]:
        """Writes `items` with each event in its own savepoint and waits for the commit:
        the slow path, after the database refused the batch."""
        result = BatchResult(records=len(items))
        with self.conn.transaction(), self.conn.cursor() as cur:
            steps = self.write_steps(cur, items, result, isolated=True)
        return result, [s for s in steps if isinstance(s, Quarantine)]

    def read_state(self, cur: psycopg.Cursor, ids: set[str]
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

    def record_positions(self, cur: psycopg.Cursor, items: list[Incoming],
                         fresh: list[Incoming], result: BatchResult) -> None:
        """Stores the next offset of every partition the batch read, and the highest
        store position folded in each (for `status`); both only move forward."""
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
