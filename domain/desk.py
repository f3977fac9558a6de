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
from datetime import datetime
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
from domain.errors import ConflictError, IdempotencyKeyReusedError, InvalidArgumentError
from domain.policy.profile import PolicyProfile
from domain.principal import Principal  # noqa: F401  (its events live in this store)
from domain.receipt import CommandReceipt
from domain.tenant import Tenant

A = TypeVar("A", bound=SupportAggregate)
_MAX_ATTEMPTS = 12

#: Aggregates (and known-absent ids) each desk thread keeps between commands, least
#: recently used dropped first. A customer brings about 15 (itself, its credit account,
#: ban record, tickets, subscriptions, domains); an aggregate takes about 2.5 KiB, so the
#: default costs at most about 25 MiB and holds every aggregate the 100,000-event bench
#: still works on. 0 turns the cache off: every load reads the store.
DEFAULT_CACHE_SIZE = 10_000

#: Stored topics whose arrival makes the desk forget the profiles it has read.
_PROFILE_TOPICS = frozenset({Tenant.Founded.TOPIC, Tenant.ProfileAdopted.TOPIC})


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
                 cache_size: int = DEFAULT_CACHE_SIZE):
        """`retry_pause(attempt)` waits before deciding again after losing a race; the
        composition root injects a jittered backoff (the domain owns no clock or RNG).
        `cache_size` bounds each thread's aggregate cache (0: no cache)."""
        super().__init__(env=env)
        self.retry_pause = retry_pause or (lambda attempt: None)
        self.cache_size = cache_size
        # .cache (AggregateCache), .active (in an attempt), .fingerprint (of the command
        # `execute` runs, for its receipt: kept beside the attempt, not passed through it)
        self._local = threading.local()
        self._profiles: dict[str, PolicyProfile] = {}
        self.profile_override = profile_override
        self.default_profile: str | None = None

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
            return None
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = AggregateCache(self.recorder, self.cache_size)
        topics = cache.begin()
        if topics is None or topics & _PROFILE_TOPICS:
            self._profiles.clear()  # another writer may have adopted a profile
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
                profile = PolicyProfile.from_data(event.profile, f"{tenant} v{version}")
                self._profiles[tenant] = profile
                return profile
        raise InvalidArgumentError(f"desk {tenant!r} has no adopted profile")

    # --- commands ------------------------------------------------------------------

    def handlers(self) -> AllHandlers:
        return AllHandlers(self, self.profile_for, self.default_profile)

    def execute(self, command: str, args: Any, now: datetime,
                command_id: str | None = None, actor: Actor | None = None) -> Outcome:
        """Runs `command` at `now`; raises a SupportlogError (nothing written) if rejected.

        With a `command_id`, a repeat of an accepted command has no second effect: it
        returns the first outcome (`repeated=True`); the same id with another command or
        other arguments raises IdempotencyKeyReusedError. `actor` is the principal: its
        role is checked first (R-ACL-3), the handlers keep it to its desk and its own
        (R-ACL-2), and every event records it (R-ACL-1); None acts without limits and
        records nobody (replays, tests of the rules alone).
        """
        args = authorize_command(actor, command, args)
        checked = parse_args(command, args)
        try:
            now = utc(now)
        except (ValueError, AttributeError, TypeError) as e:
            raise InvalidArgumentError("now must be an instant with a timezone") from e
        if command_id is not None:
            ident(command_id, "command_id")
        self._local.fingerprint = fingerprint(command, checked) if command_id else None
        with acting_as(actor):
            return self._decide_and_save(lambda h: getattr(h, command)(checked, now),
                                         command=command, command_id=command_id, now=now)

    def fire_timer(self, kind: str, subject: str, timer_id: str, now: datetime) -> Outcome:
        """Fires a due timer as the scheduler; a timer that already fired records
        nothing."""
        with acting_as(SCHEDULER):
            return self._decide_and_save(lambda h: h.fire(kind, subject, timer_id, utc(now)))

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

    def _decide_and_save(self, decide: Callable[[AllHandlers], list], command: str = "",
                         command_id: str | None = None,
                         now: datetime | None = None) -> Outcome:
        for attempt in range(_MAX_ATTEMPTS):
            if attempt:
                self.retry_pause(attempt)
            cache = self._begin_attempt()
            try:
                outcome = self._attempt(decide, command, command_id, now, cache)
            except BaseException:
                if cache is not None:
                    cache.abandon()  # a rejection may have changed what it loaded
                raise
            finally:
                self._local.active = False
            if outcome is not None:
                return outcome
        raise ConflictError(f"gave up after {_MAX_ATTEMPTS} concurrent attempts; try again")

    def _attempt(self, decide: Callable[[AllHandlers], list], command: str,
                 command_id: str | None, now: datetime | None,
                 cache: AggregateCache | None) -> Outcome | None:
        """Decides once and saves; returns None if a concurrent writer won the race."""
        if command_id is not None and (first := self._receipt(command, command_id)):
            return first
        changed = decide(self.handlers())
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
