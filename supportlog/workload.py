"""A generated month of support-desk activity for all five desks, deterministic from a
seed and a start: customers buy licences, plans, packages and credits; tickets are
opened, answered (some too late), worked on, solved and sometimes reopened or disputed;
a few customers are banned. Used by `supportlog demo` (which starts it `days` before
now, so its state is current) and the benchmarks (which start it at `START`, so their
figures compare from run to run). No clock and no I/O but reading the built-in
profiles, whose support periods say when a licence's customers turn from the technical
department to consultations; the caller gives the dates.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.policy.profile import builtin_profile

#: The benchmarks' and tests' fixed start: a Monday morning at the desks.
START = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)

#: What each desk sells, and how its customers behave. `channels` weighs the channels
#: tickets arrive on: mostly those the desk offers (R-TKT-12), with a rare one it does
#: not, as real customers now and then try the chat; `plan_channels` replaces them for
#: customers on a plan that offers more (CS-Cart Ultimate's chat).
DESKS: dict[str, dict] = {
    "cs-cart": {"licenses": ["cs-cart", "multi-vendor"], "plans": ["plus", "ultimate"],
                "terms": ["month", "year"], "kinds": ["investigation", "modification"],
                "channels": {"helpdesk": 6, "email": 3, "chat": 0.2},
                "plan_channels": {"ultimate": {"helpdesk": 5, "email": 2, "chat": 3}}},
    "cart-power": {"credits": [80, 160, 320], "packages": ["incident", "examination"],
                   "kinds": ["investigation", "investigation", "modification"],
                   "channels": {"helpdesk": 6, "email": 3, "contact_form": 1, "chat": 0.2}},
    "imagecms": {"licenses": ["shop-pro", "shop-premium"], "kinds": ["investigation"],
                 "channels": {"helpdesk": 10, "email": 0.2}},
    "prem-site": {"plans": ["free", "standard", "premium"], "terms": ["month", "year"],
                  "kinds": ["investigation", "consultation"],
                  "channels": {"helpdesk": 6, "email": 3, "chat": 1}},
    "insales": {"plans": ["free", "site", "combo", "premium"], "terms": ["month"],
                "kinds": ["modification", "modification", "consultation"],
                "categories": ["technical", "account", "refund", "complaint"],
                "channels": {"helpdesk": 4, "admin_panel": 3, "email": 3, "chat": 0.2}},
}
CLASSIFICATIONS = ["third_party_addon", "own_addon_bug", "configuration", "question",
                   "customization"]


@dataclass(frozen=True, order=True)
class Step:
    """One command at one instant; `seq` keeps generation order among equal instants."""

    at: datetime
    seq: int
    do: str
    args: dict


class Workload:
    """Builds the steps of `customers` customers over `days` days from `start`.

    Customers register in the first two days and open tickets over the next `days`;
    a ticket's conversation, work and dispute follow it, so the last steps fall about
    a week after `start + days` unless `build(until=...)` cuts them off there.
    """

    def __init__(self, seed: int, customers: int, days: int, prefix: str = "",
                 start: datetime = START):
        self.rng = random.Random(seed)
        self.customers = customers
        self.days = days
        self.prefix = prefix
        self.start = start
        self._seq = 0
        self.steps: list[Step] = []

    def _add(self, at: datetime, do: str, **args) -> None:
        self._seq += 1
        self.steps.append(Step(at, self._seq, do, args))

    def build(self, until: datetime | None = None) -> list[Step]:
        """Returns every step, in time order; with `until`, only those at or before it
        (what had happened by then: the rest of a conversation is still to come). The
        steps before `until` are the same whatever it is."""
        desks = list(DESKS)
        for n in range(self.customers):
            desk = desks[n % len(desks)]
            self._customer(desk, f"{self.prefix}{desk}-c{n:04d}")
        return sorted(step for step in self.steps if until is None or step.at <= until)

    def _minutes(self, low: int, high: int) -> timedelta:
        return timedelta(minutes=self.rng.randint(low, high))

    def _customer(self, desk: str, name: str) -> None:
        rng, spec = self.rng, DESKS[desk]
        at = self.start + self._minutes(0, 24 * 60 * 2)
        self._add(at, "register_customer", customer=name, desk=desk,
                  email=f"{name}@example.com", name=f"Shop {name}")
        at += self._minutes(5, 120)
        domain = f"{name}.example.com"
        plan = None
        entitled = "licenses" in spec or "credits" in spec
        period_end = None
        served_by = None  # the plan whose channels the customer's tickets are offered
        if "licenses" in spec:
            product = rng.choice(spec["licenses"])
            self._add(at, "buy_license", customer=name, license=f"{name}-l1",
                      product=product, domain=domain)
            bought = builtin_profile(desk).section("products")[product]
            period_end = at + timedelta(days=bought["support_days"])
            served_by = bought["plan"]
        if "plans" in spec and rng.random() < 0.7:
            plan = rng.choice(spec["plans"])
            entitled = entitled or plan != "free" or desk == "insales"
            period_end = None  # the plan keeps the technical department open
            served_by = plan
            self._add(at + timedelta(minutes=1), "start_subscription", customer=name,
                      subscription=f"{name}-s1", plan=plan,
                      term=rng.choice(spec["terms"]), domain=domain)
        if "credits" in spec:
            self._add(at, "purchase_credits", customer=name, purchase=f"{name}-p1",
                      package=rng.choice(spec["credits"]))
            for k in range(rng.randint(0, 2)):
                self._add(at + timedelta(minutes=2 + k), "grant_addon_credits",
                          customer=name, addon=f"{name}-a{k}", paid=rng.random() < 0.8)
            if rng.random() < 0.2:
                self._add(at + timedelta(minutes=5), "buy_package", customer=name,
                          purchase=f"{name}-pk", package=rng.choice(spec["packages"]))
        tickets = max(1, int(rng.gauss(10 * self.days / 30, 3)))
        first_ticket_step = len(self.steps)
        for k in range(tickets):
            opened = at + timedelta(minutes=30) + self._minutes(0, 24 * 60 * self.days)
            after = period_end is not None and opened >= period_end
            self._ticket(desk, name, f"{name}-t{k:02d}", opened, entitled, plan, after,
                         served_by)
        self._over_the_limit(desk, served_by, first_ticket_step)
        if rng.random() < 0.03:
            banned_at = at + self._minutes(60, 24 * 60 * self.days)
            self._add(banned_at, "ban", customer=name, agent="supervisor",
                      reason=rng.choice(["rudeness", "spam"]),
                      until=(self.start + timedelta(days=self.days + 7)).isoformat())
            self._refused_from(first_ticket_step, banned_at)

    def _over_the_limit(self, desk: str, plan: str | None, first: int) -> None:
        """Keeps only the attempt to open each ticket past the plan's requests of a
        calendar month (R-QTA-5: the desk refuses it, so nothing follows it)."""
        profile = builtin_profile(desk)
        entry = profile.section("plans").get(plan) if plan else None
        limit = (entry or profile.plan(None)).get("requests_per_month")
        if limit is None:
            return
        opened: dict[tuple[int, int], int] = {}
        refused = set()
        for step in sorted(s for s in self.steps[first:] if s.do == "open_ticket"):
            day = profile.calendar.local_date(step.at)
            month = (day.year, day.month)
            opened[month] = opened.get(month, 0) + 1
            if opened[month] > limit:
                refused.add(step.args["ticket"])
        self._drop_conversations(first, refused)

    def _refused_from(self, first: int, banned_at: datetime) -> None:
        """Keeps only the attempt to open each ticket opened from `banned_at` on (the
        desk refuses it, R-BAN-3): a refused ticket has no conversation to follow."""
        self._drop_conversations(first, {s.args["ticket"] for s in self.steps[first:]
                                         if s.do == "open_ticket" and s.at >= banned_at})

    def _drop_conversations(self, first: int, tickets: set[str]) -> None:
        """Removes every step from `first` on that acts on one of `tickets`, but the
        attempt to open it."""
        if tickets:
            self.steps[first:] = [s for s in self.steps[first:]
                                  if s.do == "open_ticket" or not _about(s, tickets)]

    def _ticket(self, desk: str, customer: str, ticket: str, opened: datetime,
                entitled: bool, plan: str | None, after_period: bool = False,
                served_by: str | None = None) -> None:
        """`after_period`: the customer's licence is past its support period, so it
        asks mostly consultations (ImageCMS: technical work is then ordered there as
        paid work, R-TKT-8, R-PAY-1), now and then still the technical department."""
        rng, spec = self.rng, DESKS[desk]
        if desk == "prem-site" and plan in (None, "free"):
            department = "sales"
        elif entitled:
            weights = [0.2, 8.8, 1] if after_period else [6, 3, 1]
            department = rng.choices(["technical", "consultation", "sales"], weights)[0]
        else:
            department = rng.choice(["consultation", "sales"])
        channels = spec.get("plan_channels", {}).get(plan, spec["channels"])
        args = {"customer": customer, "ticket": ticket, "department": department,
                "channel": rng.choices(list(channels), list(channels.values()))[0],
                "subject": "Something is not working"}
        if "categories" in spec:
            args["category"] = rng.choice(spec["categories"])
        self._add(opened, "open_ticket", **args)
        if args["channel"] not in offered_channels(desk, served_by):
            return  # refused (R-TKT-12): the customer tried a channel the desk lacks
        at = opened + self._minutes(10, 60 * 30)  # some answers come too late
        self._add(at, "agent_reply", ticket=ticket, agent="agent1",
                  waiting_on_customer=rng.random() < 0.3)
        for entry in range(rng.randint(1, 3)):
            at += self._minutes(5, 120)
            kind = rng.choice(spec["kinds"])
            minutes = rng.choice([10, 15, 20, 30, 45, 60, 90])
            if desk == "cart-power" and minutes > 40 and rng.random() < 0.5:
                self._add(at, "notify_customer", ticket=ticket, agent="agent1",
                          notice="charge_over_40")
                at += timedelta(minutes=1)
            work = {"ticket": ticket, "agent": "agent1", "minutes": minutes, "kind": kind}
            if desk == "cart-power":
                work["classification"] = rng.choice(CLASSIFICATIONS)
            self._add(at, "log_work", **work)
            if entry == 0 and rng.random() < 0.3:
                at += self._minutes(30, 600)
                self._add(at, "customer_reply", ticket=ticket)
        at += self._minutes(10, 240)
        self._add(at, "solve_ticket", ticket=ticket, agent="agent1")
        if rng.random() < 0.1:
            self._add(at + self._minutes(60, 24 * 60 * 3), "customer_reply", ticket=ticket)
        if desk == "cart-power" and rng.random() < 0.08:
            dispute_at = at + self._minutes(30, 24 * 60)
            self._add(dispute_at, "open_dispute", customer=customer,
                      dispute=f"{ticket}-d", charge=f"{ticket}/1")
            if rng.random() < 0.7:
                self._add(dispute_at + self._minutes(60, 24 * 60 * 3), "resolve_dispute",
                          dispute=f"{ticket}-d", agent="manager",
                          outcome=rng.choice(["upheld", "rejected"]),
                          reason="reviewed the work log")


def offered_channels(desk: str, plan: str | None) -> list[str]:
    """Returns the channels `desk` offers a customer served under `plan` (R-TKT-12)."""
    profile = builtin_profile(desk)
    entry = profile.section("plans").get(plan) if plan else None
    return (entry or profile.plan(None)).get("channels", profile.section("channels"))


def _about(step: Step, tickets: set[str]) -> bool:
    """True if `step` acts on one of `tickets` (or disputes a charge of one)."""
    ticket = step.args.get("ticket") or step.args.get("charge", "").rpartition("/")[0] \
        or step.args.get("dispute", "").removesuffix("-d")
    return ticket in tickets


def iter_hours(steps: list[Step]) -> Iterator[tuple[datetime, list[Step]]]:
    """Groups time-ordered steps by the hour they fall in."""
    bucket: list[Step] = []
    hour: datetime | None = None
    for step in steps:
        step_hour = step.at.replace(minute=0, second=0, microsecond=0)
        if hour is not None and step_hour != hour:
            yield hour, bucket
            bucket = []
        hour = step_hour
        bucket.append(step)
    if hour is not None:
        yield hour, bucket
