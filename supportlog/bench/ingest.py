"""Ingest: commands through the domain and the store, against bare `eventsourcing` saves
of the very same events with the same batching (`ingest_vs_es_save`).

The workload is the demo's (`supportlog.workload`), played the way the demo plays it:
hour by hour, firing the timers due (SLA breaches, auto-close, month roll-over) between
hours, so the log holds every kind of event the five desks produce. Only the calls into
the desk are timed; the hourly catch-up of relay and projector that the scheduler needs
is not. The baseline reads back the stored events and saves them again, in groups of
the size each command saved, with a plain `Application` into its own table of the same
database: the difference is what deciding costs (one look at the notification log to
keep the desk's aggregate cache current, loading what it does not hold, pricing, hash
links), since encoding and inserting are the same code on the same rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.application import Application

from domain.desk import Outcome, SupportDesk
from domain.errors import SupportlogError
from domain.policy.profile import PROFILE_IDS, builtin_profile
from supportlog.bench.measure import Rate
from supportlog.bootstrap import System, desk_env
from supportlog.pipeline import Pipeline
from supportlog.workload import START, Workload, iter_hours

#: Events the workload stores per customer: about 8 for registering and buying, and
#: about 7.6 per ticket, with 10 tickets a 30-day month (measured over 30 days: 80-86).
_EVENTS_PER_SIGNUP = 8
_EVENTS_PER_TICKET = 7.6
DAYS = 30

Advance = Callable[[int], None]


def customers_for(events: int, days: int = DAYS) -> int:
    """Returns how many generated customers make about `events` stored events over
    `days` days."""
    per_customer = _EVENTS_PER_SIGNUP + _EVENTS_PER_TICKET * max(1.0, 10 * days / 30)
    return max(1, round(events / per_customer))


@dataclass
class Played:
    """What playing the workload did, and the timing of the desk calls that saved."""

    domain: Rate = field(default_factory=lambda: Rate(unit="commands"))
    #: Events saved by each saving call, in store order (the baseline's batching).
    batches: list[int] = field(default_factory=list)
    setup_events: int = 0
    commands: int = 0
    rejected: int = 0
    timers_fired: int = 0
    #: Time in calls that saved nothing (rejections, timers already handled).
    idle_calls_s: float = 0.0

    def record(self, seconds: float, outcome: Outcome | None) -> None:
        if outcome is not None and outcome.events:
            self.domain.items += 1
            self.domain.seconds += seconds
            self.batches.append(len(outcome.events))
        else:
            self.idle_calls_s += seconds


class _TimedDesk:
    """The desk as the scheduler sees it, with every timer firing timed and recorded."""

    def __init__(self, desk: SupportDesk, played: Played):
        self.desk = desk
        self.played = played

    def fire_timer(self, kind: str, subject: str, timer_id: str, now: datetime) -> Outcome:
        with _Clock() as clock:
            outcome = self.desk.fire_timer(kind, subject, timer_id, now)
        self.played.record(clock.seconds, outcome)
        if outcome.events:
            self.played.timers_fired += 1
        return outcome


class _Clock:
    """A stopwatch for one call: `seconds` is set when the block ends."""

    seconds = 0.0

    def __enter__(self) -> _Clock:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._started


def play(system: System, *, seed: int, customers: int, days: int = DAYS, prefix: str = "",
         track: Callable[[int], Advance] | None = None) -> Played:
    """Plays the generated month through `system`, timing each desk call; `track(steps)`
    is told how many steps there are and returns the function to report progress."""
    played = Played()
    for profile_id in PROFILE_IDS:
        system.desk.adopt(builtin_profile(profile_id), START)
    played.setup_events = system.desk.recorder.max_notification_id() or 0
    steps = Workload(seed, customers, days, prefix=prefix).build()
    advance = track(len(steps)) if track else None
    pipeline = Pipeline(system)
    scheduler = system.scheduler(sync=pipeline.sync, desk=_TimedDesk(system.desk, played))
    for hour, bucket in iter_hours(steps):
        scheduler.fire_due(hour)
        for step in bucket:
            outcome = None
            with _Clock() as clock:
                try:
                    outcome = system.desk.execute(step.do, step.args, step.at)
                except SupportlogError:
                    played.rejected += 1
            played.record(clock.seconds, outcome)
            played.commands += 1
        if advance:
            advance(len(bucket))
    scheduler.fire_due(steps[-1].at)
    pipeline.sync()
    return played


class BareStore(Application):
    """A plain `eventsourcing` application: no domain, its own events table."""

    name = "BenchBareStore"


def es_save_baseline(system: System, played: Played, advance: Advance | None = None) -> Rate:
    """Saves the events the domain stored again, grouped as the domain saved them, into
    a bare application's table in the same database; returns saves per second."""
    desk = system.desk
    events: list[Any] = []
    position = played.setup_events
    while True:
        page = desk.recorder.select_notifications(position, 1000, inclusive_of_start=False)
        if not page:
            break
        events.extend(desk.mapper.to_domain_event(n) for n in page)
        position = page[-1].id
    if len(events) != sum(played.batches):
        raise RuntimeError(f"the store holds {len(events)} events after setup, the desk "
                           f"reported saving {sum(played.batches)}")
    bare = BareStore(env=desk_env(system.database_url))
    rate = Rate(unit="saves")
    try:
        start = 0
        with rate.timing():
            for size in played.batches:
                bare.save(*events[start:start + size])
                start += size
                if advance:
                    advance(size)
        rate.items = len(played.batches)
    finally:
        bare.close()
    return rate
