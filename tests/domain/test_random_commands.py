"""Bad input never hurts: random command sequences, valid and malformed, thrown at the
desk. Nothing raises anything but a typed error with a code, and a rejected command
leaves the stored events exactly as they were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.commands.args import SPECS
from domain.desk import SupportDesk
from domain.errors import ERRORS_BY_CODE, SupportlogError
from domain.policy.profile import PROFILE_IDS, builtin_profile

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

IDS = {
    "customer": ["c0", "c1", "c2"], "ticket": ["t0", "t1", "t2"], "of": ["t0", "t1", "t2"],
    "subscription": ["s0", "s1"], "license": ["l0"], "purchase": ["p0", "p1"],
    "addon": ["a0"], "dispute": ["d0"], "charge": ["t0/1", "t1/1", "t1/2"],
    "agent": ["a1"],
}
GOOD = {
    "product": ["cs-cart", "shop-pro", "multi-vendor"],
    "plan": ["plus", "premium", "site", "free", "standard"],
    "term": ["month", "year", "1m", "12m"], "package": [80, 160, "incident"],
    "department": ["technical", "consultation", "sales"],
    "channel": ["helpdesk", "email", "phone"], "subject": ["Checkout fails"],
    "category": ["account", "refund", "complaint", "technical"],
    "minutes": [5, 15, 20, 45, 90], "kind": ["investigation", "modification"],
    "classification": ["own_addon_bug", "third_party_addon"],
    "notice": ["charge_over_40", "replenish_after_60"],
    "reason": ["rudeness", "cannot_reproduce", "spam", "multiple_problems"],
    "to": ["custom_development"], "outcome": ["upheld", "rejected"],
    "paid": [True, False], "in_package": [True], "anonymous": [False, True],
    "waiting_on_customer": [True, False], "technical_fault": [False, True],
    "until": ["2026-04-01T00:00:00+00:00"], "estimate_hours": [3],
}
JUNK = st.one_of(st.none(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                 st.text(max_size=3), st.text(min_size=1001, max_size=1200),
                 st.lists(st.integers(), max_size=2), st.just({"x": 1}),
                 st.just("2026-13-45T99:00"))


@st.composite
def command(draw):
    name = draw(st.sampled_from(sorted(SPECS)))
    required, optional = SPECS[name]
    fields = list(required) + [f for f in optional if f != "desk" and draw(st.booleans())]
    args = {}
    for field in fields:
        if draw(st.integers(0, 24)) == 0:  # one field in 25 is junk
            args[field] = draw(JUNK)
        elif field in IDS:
            args[field] = draw(st.sampled_from(IDS[field]))
        else:
            args[field] = draw(st.sampled_from(GOOD.get(field, ["x"])))
    if draw(st.integers(0, 19)) == 0:
        args.pop(draw(st.sampled_from(fields)), None) if fields else None
    if draw(st.integers(0, 19)) == 0:
        args["unexpected"] = 1
    if draw(st.integers(0, 29)) == 0:
        name = draw(st.sampled_from(["drop_table", "", "REGISTER_CUSTOMER"]))
    step_min = draw(st.integers(-120, 24 * 60))  # sometimes time goes backwards
    return name, args, step_min


def stored(desk: SupportDesk) -> list:
    return [(n.id, n.originator_id, n.originator_version, n.state)
            for n in desk.recorder.select_notifications(1, 10_000)]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=st.sampled_from(PROFILE_IDS),
       commands=st.lists(command(), min_size=5, max_size=60))
def test_random_commands_only_ever_fail_with_a_typed_error_and_write_nothing(
        profile, commands):
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    desk.adopt(builtin_profile(profile), T0)
    now = T0
    for customer in IDS["customer"][:2]:  # a valid start, so later commands get far
        desk.execute("register_customer", {"customer": customer}, now)
    for name, args, step_min in commands:
        now += timedelta(minutes=step_min)
        before = stored(desk)
        try:
            desk.execute(name, args, now)
        except SupportlogError as e:
            assert e.code in ERRORS_BY_CODE and e.message
            assert stored(desk) == before, f"{name} was rejected ({e}) but wrote events"
