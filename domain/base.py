"""The base of every aggregate: stable event names, the partition key and the hash chain.

Every event carries `customer` (the Kafka key: all of one customer's events share a
partition, architecture decision 4), `tenant` (the desk's profile id) and `prev_hash`
(the hash of the aggregate's previous event, R-AUD-3). Events are stored under stable
type names such as `credit.charged`, never under Python class paths, so moving a class
never orphans a stored event. Aggregates never read the clock: every event's
`timestamp` is the `now` the command was given.

Events evolve by versions, never by rewriting what is stored (architecture decision
10, docs/events.md "Versions of an event type"). An event class states its
`class_version`; a class at version N > 1 has static `upcast_vK_vK+1(state)` methods,
which the library's mapper runs, in order, on the state of an event stored at version
K when it is read. An upcaster changes only the event's own fields and only with JSON
values (text, numbers, booleans, null, lists, objects), so the very same function also
upcasts the `data` of a record published at version K (`eventlog.versions`). An event's
hash is that of the event as stored (R-AUD-3): an event created now hashes its fields
and, above version 1, its `class_version`; an event read from an older version keeps
the hash of its stored form, computed before it was upcast (`domain.sealing`).

An event caused by a command of a known principal also carries `actor` (its role and
id, `domain.actor`), set as the event is made and before anything hashes it, so the
hash chain covers who acted (R-ACL-1). It is not a dataclass field: an event made
without an actor (every event stored before principals existed, and replays) has no
such key at all, so its stored bytes, hash and envelope stay exactly what they were.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic

from domain.actor import acting
from domain.chain import GENESIS, event_hash
from domain.errors import PastRewriteError
from domain.instants import InstantOutOfRangeError

#: Every event class by its stable type name; the envelope and the catalogue read it.
EVENT_TYPES: dict[str, type[SupportAggregate.Event]] = {}

#: The fields every event has that the envelope carries itself; `payload` is the rest.
ENVELOPE_FIELDS = frozenset({"originator_id", "originator_version", "timestamp",
                             "originator_topic", "prev_hash", "customer", "tenant", "ref",
                             "actor"})

#: The key under which an event read from an older stored version keeps the hash of its
#: stored form (`domain.sealing`); never a field, never stored, never published.
STORED_HASH = "_stored_hash"

_ID_NAMESPACE = UUID("6f1d6b52-63a5-4a0e-9a51-2c8f3e0d9b11")

def stable_names(name: str):
    """Class decorator: stores the aggregate as `name` and registers its events by `TOPIC`.

    It runs after the library has built the class (which re-declares nested event
    classes), so the registered classes are the final ones.
    """
    return lambda cls: _register(cls, name)


def _register(cls: type[SupportAggregate], name: str) -> type[SupportAggregate]:
    cls.TOPIC = name
    register_topic(name, cls)
    for name, value in vars(cls).items():
        if (isinstance(value, type) and issubclass(value, SupportAggregate.Event)
                and name not in ("Event", "Created")):
            register_topic(value.TOPIC, value)
            EVENT_TYPES[value.TOPIC] = value
            value.SCHEMA_VERSION = value.class_version
    return cls


def aggregate_id(kind: str, name: str) -> UUID:
    """Returns the deterministic id of the aggregate `kind` named `name` by the desk."""
    return uuid5(_ID_NAMESPACE, f"{kind}:{name}")


def utc(now: datetime) -> datetime:
    """Returns `now` in UTC; raises ValueError for a naive instant, and
    InstantOutOfRangeError (also a ValueError, code `invalid_argument`) for one that
    `datetime` cannot hold in UTC. Commands' instants are checked against the supported
    range before (`domain.instants`); this guards every other path."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("instants must carry a timezone offset")
    try:
        return now.astimezone(UTC)
    except OverflowError as e:
        raise InstantOutOfRangeError(
            f"{now.isoformat()} cannot be moved to UTC: it lies outside the years "
            "datetime holds") from e


class SupportAggregate(Aggregate):
    """An aggregate of the support desk: it knows its customer and its chain head.

    The chain head (the hash of the last event) is computed lazily: applying an event
    only remembers it, and `chain_head` hashes it when asked (by `record`, for the next
    event's `prev_hash`). Replaying a stream to load an aggregate then hashes nothing,
    instead of hashing every stored event again; the value is the same.
    """

    TOPIC: ClassVar[str]
    customer: str
    tenant: str
    #: The last applied event, not yet hashed (None once `_chain_hash` is current).
    _chain_event: SupportAggregate.Event | None = None
    _chain_hash: str = GENESIS

    @property
    def chain_head(self) -> str:
        """The hash of the last event applied (GENESIS before any), for `prev_hash`."""
        event = self._chain_event
        if event is not None:
            self._chain_hash = event.hash
            self._chain_event = None
        return self._chain_hash

    class Event(Aggregate.Event):
        """A support desk event: the customer it belongs to and its chain link."""

        TOPIC: ClassVar[str]
        #: The version of this event type's fields; the envelope's `schemaversion`.
        class_version: ClassVar[int] = 1
        SCHEMA_VERSION: ClassVar[int] = 1
        #: Fields that hold personal data, as sealed values (`domain.personal`, R-PRV-1).
        PERSONAL: ClassVar[tuple[str, ...]] = ()
        customer: str
        tenant: str
        ref: str
        prev_hash: str
        #: Who caused it ({"role", "id"}), or None: see the module's docstring.
        actor: ClassVar[dict[str, str] | None] = None

        def apply(self, aggregate: Any) -> None:
            self.evolve(aggregate)
            aggregate._chain_event = self  # hashed only if a next event needs the link

        def evolve(self, aggregate: Any) -> None:
            """Changes the aggregate's state; each event type says how."""

        @property
        def hash(self) -> str:
            """The hex SHA-256 of this event's type and content as stored (R-AUD-3): its
            fields, with its `class_version` above 1; for an event upcast from an older
            stored version, the hash its stored form had."""
            state = vars(self)
            stored = state.get(STORED_HASH)
            if stored is not None:
                return stored
            if self.class_version > 1:
                state = {**state, "class_version": self.class_version}
            return event_hash(self.TOPIC, state)

        @property
        def payload(self) -> dict[str, Any]:
            """The event's own fields, without the store's bookkeeping."""
            return {k: v for k, v in vars(self).items()
                    if k not in ENVELOPE_FIELDS and k != STORED_HASH}

    class Created(Event, Aggregate.Created):
        """The first event of an aggregate."""

        def apply(self, aggregate: Any) -> None:
            aggregate.customer = self.customer
            aggregate.tenant = self.tenant
            aggregate.ref = self.ref
            super().apply(aggregate)

    def __init__(self) -> None:
        """State starts empty; the Created event's `evolve` fills it."""

    @classmethod
    def start(cls, event_class: type, *, id: UUID, now: datetime, customer: str,
              tenant: str, ref: str, **fields: Any):
        """Creates the aggregate with its first event; `ref` is its business id."""
        aggregate = cls._create(event_class, id=id, timestamp=utc(now), customer=customer,
                                tenant=tenant, ref=ref, prev_hash=GENESIS, **fields)
        aggregate._stamp_actor()
        return aggregate

    def _stamp_actor(self) -> None:
        """Records the acting principal on the event just triggered (before anything
        hashed it: hashes are taken lazily, when the next event links to it)."""
        actor = acting()
        if actor is not None:
            object.__setattr__(self._pending_events[-1], "actor", actor.record())

    def record(self, event_class: type, *, now: datetime, **fields: Any) -> None:
        """Triggers `event_class` at `now`, linked to the previous event.

        Raises PastRewriteError (code `invalid_argument`) if `now` is before the
        aggregate's last event: an aggregate's history never runs backwards, so replay
        and as-of stay meaningful.
        """
        at = utc(now)
        if self.modified_on is not None and at < self.modified_on:
            raise PastRewriteError(
                f"{self.ref} last changed at {self.modified_on.isoformat()}; a command "
                f"at {at.isoformat()} would rewrite its past", self.modified_on)
        self.trigger_event(event_class, timestamp=at, customer=self.customer,
                           tenant=self.tenant, ref=self.ref,
                           prev_hash=self.chain_head, **fields)
        self._stamp_actor()
