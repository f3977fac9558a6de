"""SupportDesk: the application that loads aggregates, asks them to decide, and saves.

It names no database: the event store comes from the `eventsourcing` environment given
by the composition root. `execute` checks a command's arguments, runs its handler and
saves every changed aggregate in one transaction; a concurrent writer makes it reload
and decide again, a bounded number of times. Policy comes from the profile each tenant
adopted (an event), so history is judged under the version that was in force.

Inside a command, aggregates come from a per-thread `AggregateCache` that is brought up
to date from the store's notification log at the start of every attempt (see
`domain.cache`), so a command reads from the store only what it has not seen before and
still decides on what the store holds, whoever else writes to it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.access import authorize_command
from domain.actor import SCHEDULER, Actor, acting_as
from domain.base import SupportAggregate, utc
from domain.cache import ABSENT, AggregateCache
from domain.chain import event_hash
from domain.commands import AllHandlers, parse_args
from domain.commands.args import ident
from domain.errors import (
    ConflictError,
    IdempotencyKeyReusedError,
    InvalidArgumentError,
    PastRewriteError,
)
from domain.instants import within_range
from domain.personal import UNSEALED, PersonalData
from domain.policy.profile import PolicyProfile
from domain.principal import Principal  # noqa: F401  (its events live in this store)
from domain.receipt import CommandReceipt
from domain.sealing import SealingMapper, Signer
from domain.tenant import Tenant

A = TypeVar("A", bound=SupportAggregate)

#: Lost races before a command is refused with `conflict`. Under a burst of writes to one
#: aggregate the writer whose cache is current decides fastest and wins back to back,
#: so a loser mostly gets its turn when that burst pauses, not by luck in between:
#: measured with three processes each sending 200 commands for one credit account at
#: once (tests/integration/test_contention.py), losers lost up to 14 races in a row
#: (about 3 s on a loaded 2-core machine). With the composition root's backoff (at
#: random up to 5 ms * 2**n, at most 0.5 s) 40 attempts wait about 9 s in all.
_MAX_ATTEMPTS = 40

#: How far an aggregate's last event may lie ahead of the server's clock for a command
#: on that clock to be moved to it rather than refused (see `SupportDesk.execute`).
#: Processes on one host share a clock; hosts kept by NTP differ by milliseconds.
MAX_CLOCK_SKEW = timedelta(seconds=5)

#: Aggregates (and known-absent ids) each desk thread keeps between commands, least
#: recently used dropped first. A customer brings about 15 (itself, its credit account,
#: ban record, tickets, subscriptions, domains); an aggregate takes about 2.5 KiB, so the
#: default costs at most about 25 MiB and holds every aggregate the 100,000-event bench
#: still works on. 0 turns the cache off: every load reads the store.
DEFAULT_CACHE_SIZE = 10_000

#: Stored topics whose arrival makes the desk forget the profiles it has read.
_PROFILE_TOPICS = frozenset({Tenant.Founded.TOPIC, Tenant.ProfileAdopted.TOPIC})
#: The stored topic whose arrival makes the desk's cipher drop the data keys it holds.
_ERASED_TOPIC = "customer.erased"


@dataclass(frozen=True)
class Outcome:
    """What an accepted command wrote: the stored events' (type, aggregate id, version),
    and the store position (notification id) of the last one, when this call wrote them
    (a reader waits for the projector to pass it: read your writes)."""

    events: list[tuple[str, str, int]]
    repeated: bool = False
    position: int | None = None


def fingerprint(command: str, checked: dict[str, Any]) -> str:
    """Returns the hash of a command and its checked arguments: what a command id
    promises to mean (a repeat with other arguments is refused)."""
    return event_hash(f"command:{command}", checked)


class SupportDesk(Application):
    """The event-sourced support desk: one store for every aggregate of the deployment."""

    name = "SupportDesk"

    def __init__(self, env: dict[str, str] | None = None,
                 profile_override: Callable[[str], PolicyProfile | None] | None = None,
                 retry_pause: Callable[[int], None] | None = None,
                 cache_size: int = DEFAULT_CACHE_SIZE, signer: Signer | None = None,
                 personal: PersonalData | None = None):
        """`retry_pause(attempt)` waits before deciding again after losing a race; the
        composition root injects a jittered backoff (the domain owns no clock or RNG).
        `cache_size` bounds each thread's aggregate cache (0: no cache). `signer` seals
        every stored event (`domain.sealing`); the root builds it from the log key.
        `personal` seals personal fields before they enter an event (`domain.personal`,
        R-PRV-1); the root builds it from the master key. Without one, a desk (the pure
        tests' in-memory ones) stores them unprotected."""
        self._signer = signer  # read by construct_mapper, during the library's __init__
        self.personal: PersonalData = personal or UNSEALED
        super().__init__(env=env)
        self.retry_pause = retry_pause or (lambda attempt: None)
        self.cache_size = cache_size
        # .cache (AggregateCache), .active (in an attempt), .fingerprint (of the command
        # `execute` runs, for its receipt: kept beside the attempt, not passed through it)
        self._local = threading.local()
        self._profiles: dict[str, PolicyProfile] = {}
        self.profile_override = profile_override
        self.default_profile: str | None = None

    def construct_mapper(self) -> SealingMapper:
        """The library's mapper with the seal (`domain.sealing`)."""
        mapper = self.factory.mapper(transcoder=self.construct_transcoder(),
                                     mapper_class=SealingMapper)
        mapper.signer = self._signer
        return mapper

    def load(self, aggregate_class: type[A], aggregate_id: UUID) -> A | None:
        """Returns the aggregate with `aggregate_id`, or None if it has no events.

        Within a command's attempt it comes from the thread's cache (the same object each
        time, changes included); elsewhere it is read from the store, a private copy."""
        cache = self._attempt_cache()
        found = cache.get(aggregate_id) if cache is not None else None
        if found is None:
            try:
                found = self.repository.get(aggregate_id)
            except AggregateNotFoundError:
                found = ABSENT
            if cache is not None:
                cache.put(aggregate_id, found)
        if found is ABSENT or not isinstance(found, aggregate_class):
            return None
        return found

    def _attempt_cache(self) -> AggregateCache | None:
        """The thread's cache while it runs a command's attempt, else None."""
        return self._local.cache if getattr(self._local, "active", False) else None

    def _begin_attempt(self) -> AggregateCache | None:
        """Brings the thread's cache up to date with the store and marks the attempt."""
        if self.cache_size <= 0:
            self.personal.forget()  # no log read to learn of an erasure from
            return None
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = AggregateCache(self.recorder, self.cache_size)
        topics = cache.begin()
        if topics is None or topics & _PROFILE_TOPICS:
            self._profiles.clear()  # another writer may have adopted a profile
        if topics is None or _ERASED_TOPIC in topics:
            self.personal.forget()  # no copy of an erased customer's key stays here
        self._local.active = True
        return cache

    # --- policy ------------------------------------------------------------------

    def adopt(self, profile: PolicyProfile, now: datetime, actor: Actor | None = None) -> bool:
        """Records that the tenant adopts `profile` unless it already has that exact one;
        the events record `actor` (a desk admin, the local operator)."""
        with acting_as(actor):
            return self._adopt(profile, now)

    def _adopt(self, profile: PolicyProfile, now: datetime) -> bool:
        tenant = self.load(Tenant, Tenant.id_for(profile.id))
        if tenant is None:
            tenant = Tenant.start(Tenant.Founded, id=Tenant.id_for(profile.id), now=now,
                                  customer=f"desk:{profile.id}", tenant=profile.id,
                                  ref=profile.id)
        elif tenant.current and tenant.current["digest"] == profile.digest:
            self.default_profile = self.default_profile or profile.id
            return False
        tenant.record(Tenant.ProfileAdopted, now=now, profile_id=profile.id,
                      version=profile.version, digest=profile.digest,
                      profile=dict(profile.data))
        self.save(tenant)
        self._profiles.pop(profile.id, None)
        self.default_profile = self.default_profile or profile.id
        return True

    def profile_for(self, tenant: str) -> PolicyProfile:
        """Returns the profile the tenant adopted last."""
        if self.profile_override is not None:
            override = self.profile_override(tenant)
            if override is not None:
                return override
        cached = self._profiles.get(tenant)
        if cached is not None:
            return cached
        record = self.load(Tenant, Tenant.id_for(tenant))
        if record is None or not record.current:
            raise InvalidArgumentError(f"desk {tenant!r} has adopted no policy profile")
        version = record.current["version"]
        for event in reversed(list(self.events.get(record.id))):
            if isinstance(event, Tenant.ProfileAdopted) and event.version == version:
                profile = PolicyProfile.from_record(event.profile, f"{tenant} v{version}")
                self._profiles[tenant] = profile
                return profile
        raise InvalidArgumentError(f"desk {tenant!r} has no adopted profile")

    # --- commands ------------------------------------------------------------------

    def handlers(self) -> AllHandlers:
        return AllHandlers(self, self.profile_for, self.default_profile)

    def execute(self, command: str, args: Any, now: datetime | None = None,
                command_id: str | None = None, actor: Actor | None = None, *,
                clock: Callable[[], datetime] | None = None) -> Outcome:
        """Runs `command` at `now`, or at the time `clock` gives; raises a SupportlogError
        (nothing written) if rejected. Give exactly one of `now` and `clock`.

        An explicit `now` is the caller's statement of when the command happened (a
        scenario's `at`, a replay, a line with "at"): every attempt decides at it, and
        a `now` before the last event of an aggregate the command changes is refused
        (`invalid_argument`, "would rewrite its past").

        `clock` is the server's clock (a line without "at"): the command happens when
        the server handles it, so every attempt reads it again. A retry after losing a
        write race then decides after the winner's event instead of at the time it
        first took, which that event has since overtaken. If an aggregate's last event
        is still later than the reading (another process's clock runs ahead, or two
        processes read the same microsecond), the command decides again at that
        event's time: `max(clock(), last event)`. Nobody gave that time, so moving it
        to the moment the log could first take the command states what happened, off
        by no more than the clocks' skew; refusing would reject a legitimate command.
        Only up to MAX_CLOCK_SKEW, though: an event further ahead was given an explicit
        future time, and stamping server-clock commands with it would misdate them, so
        they are refused as an explicit time would be. An explicit time is never moved,
        since the caller chose it.

        Every instant must lie in the supported range (`domain.instants`). With a
        `command_id`, a repeat of an accepted command has no second effect: it returns
        the first outcome (`repeated=True`); the same id with another command or other
        arguments raises IdempotencyKeyReusedError. `actor` is the principal: its role
        is checked first (R-ACL-3), the handlers keep it to its desk and its own
        (R-ACL-2), and every event records it (R-ACL-1); None acts without limits and
        records nobody (replays, tests of the rules alone).
        """
        if (now is None) == (clock is None):
            raise TypeError("execute takes either now or clock, not both or neither")
        args = authorize_command(actor, command, args)
        checked = parse_args(command, args)
        if now is not None:
            now = within_range(now, "now")
        if command_id is not None:
            ident(command_id, "command_id")
        self._local.fingerprint = fingerprint(command, checked) if command_id else None
        with acting_as(actor):
            return self._decide_and_save(lambda h, at: getattr(h, command)(checked, at),
                                         now=now, clock=clock, command=command,
                                         command_id=command_id)

    def fire_timer(self, kind: str, subject: str, timer_id: str, now: datetime) -> Outcome:
        """Fires a due timer as the scheduler; a timer that already fired records
        nothing."""
        with acting_as(SCHEDULER):
            return self._decide_and_save(lambda h, at: h.fire(kind, subject, timer_id, at),
                                         now=utc(now))

    def _receipt(self, command: str, command_id: str) -> Outcome | None:
        """The first outcome of `command_id`, if it was accepted before; raises
        IdempotencyKeyReusedError if it answered another command or other arguments (a
        receipt stored before fingerprints existed is compared by command name)."""
        receipt = self.load(CommandReceipt, CommandReceipt.id_for(command_id))
        if receipt is None:
            return None
        if receipt.command != command or receipt.fingerprint not in (
                None, self._local.fingerprint):
            raise IdempotencyKeyReusedError(
                f"command id {command_id!r} was used for another {receipt.command} "
                "command; a retry must repeat the command exactly")
        return Outcome([tuple(e) for e in receipt.events], repeated=True)

    def _decide_and_save(self, decide: Callable[[AllHandlers, datetime], list], *,
                         now: datetime | None, clock: Callable[[], datetime] | None = None,
                         command: str = "", command_id: str | None = None) -> Outcome:
        """Decides and saves until no concurrent writer wins, at most _MAX_ATTEMPTS lost
        races. The time of each attempt is `now`, or a reading of `clock` taken once the
        cache has caught up with the store (so the events it holds were stamped before
        the reading, on one host's clock) and no earlier than the last event of an
        aggregate that refused an earlier attempt as too late (see `execute`): one
        loaded after the reading may hold a later event."""
        floor: datetime | None = None  # the latest event a clock reading fell behind
        lost_races = moves = 0
        while True:
            cache = self._begin_attempt()
            try:
                at = now if clock is None else self._reading(clock, floor)
                outcome = self._attempt(decide, at, command, command_id, cache)
            except PastRewriteError as e:
                if cache is not None:
                    cache.abandon()  # a rejection may have changed what it loaded
                moves += 1
                # A move follows an event written since the reading, as a lost race
                # does; bounded alike, it never loops for ever.
                if clock is None or e.last_changed_at - at > MAX_CLOCK_SKEW or \
                        moves > _MAX_ATTEMPTS:
                    raise
                floor = max(floor or e.last_changed_at, e.last_changed_at)
                continue
            except BaseException:
                if cache is not None:
                    cache.abandon()  # a rejection may have changed what it loaded
                raise
            finally:
                self._local.active = False
            if outcome is not None:
                return outcome
            lost_races += 1
            if lost_races == _MAX_ATTEMPTS:
                raise ConflictError(
                    f"gave up after {_MAX_ATTEMPTS} concurrent attempts; try again")
            self.retry_pause(lost_races)

    @staticmethod
    def _reading(clock: Callable[[], datetime], floor: datetime | None) -> datetime:
        """Returns the clock's time in UTC, or `floor` if that is later."""
        try:
            at = within_range(clock(), "the clock's time")
        except InvalidArgumentError as e:  # a broken clock is the server's fault
            raise RuntimeError(f"the desk's clock is wrong: {e.message}") from e
        return at if floor is None or at >= floor else floor

    def _attempt(self, decide: Callable[[AllHandlers, datetime], list], now: datetime,
                 command: str, command_id: str | None,
                 cache: AggregateCache | None) -> Outcome | None:
        """Decides once at `now` and saves; returns None if a concurrent writer won."""
        if command_id is not None and (first := self._receipt(command, command_id)):
            return first
        changed = decide(self.handlers(), now)
        pending = [a for a in changed if a.pending_events]
        written = [(type(e).TOPIC, str(e.originator_id), e.originator_version)
                   for a in pending for e in a.pending_events]
        if not pending:
            if cache is not None:
                cache.saved((), [])  # evicts anything changed and not returned
            return Outcome([])
        if command_id is not None:
            pending.append(CommandReceipt.start(
                CommandReceipt.Accepted, id=CommandReceipt.id_for(command_id), now=now,
                customer=pending[0].customer, tenant=pending[0].tenant, ref=command_id,
                command_id=command_id, command=command, events=[list(w) for w in written],
                fingerprint=self._local.fingerprint))
        try:
            recordings = self.save(*pending)
        except IntegrityError:
            if cache is not None:
                cache.abandon()  # reload what the other writer stored
            return None  # a concurrent writer (or the same command) won: look again
        positions = [r.notification.id for r in recordings]
        if cache is not None:
            cache.saved(pending, positions)
        return Outcome(written, position=max(positions, default=None))
