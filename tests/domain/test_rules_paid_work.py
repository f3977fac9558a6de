"""ImageCMS after its 30-day period (R-TKT-8, R-SUB-2, R-SUB-3, R-PAY-1, R-PAY-2): the
technical department takes no new ticket; technical work is ordered through the
consultation department and charged at 30 USD an hour, with a month's warranty;
consultations stay free. The audit re-prices old and new charges alike (R-AUD-1)."""

from __future__ import annotations

import copy
from datetime import timedelta

from domain.desk import SupportDesk
from domain.policy.profile import PolicyProfile, builtin_profile
from replay.charge_audit import sweep
from tests.domain.test_rules import T0, desk_for, open_technical, rejected, run
from tests.domain.test_rules_lifecycle import DAY, charges, ticket

AFTER = 31 * DAY  # a day after the licence's 30 days of technical support


def licensed(desk: SupportDesk) -> SupportDesk:
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "buy_license", customer="c1", license="l1", product="shop-pro")
    return desk


def consultation(desk: SupportDesk, name: str, at_min: int) -> None:
    run(desk, "open_ticket", at_min, customer="c1", ticket=name, department="consultation",
        channel="helpdesk", subject="Please fix the cart template")


def work(desk: SupportDesk, name: str, at_min: int, minutes: int, kind: str) -> None:
    run(desk, "log_work", at_min, ticket=name, agent="a1", minutes=minutes, kind=kind)


def test_r_tkt_8_r_sub_2_the_technical_department_takes_no_ticket_after_30_days():
    """R-TKT-8, R-SUB-2 (seed 001): "Обработка билетов департаментом «Технической
    поддержки» прекращается по истечению 30 календарных дней"."""
    desk = licensed(desk_for("imagecms"))
    open_technical(desk, ticket="t1", at_min=29 * DAY)
    assert rejected(desk, "open_ticket", AFTER, customer="c1", ticket="t2",
                    department="technical", channel="helpdesk",
                    subject="Cart bug") == "department_not_allowed"


def test_r_sub_3_a_question_asked_in_the_period_is_answered_free_after_it():
    """R-SUB-3: entitlement is judged when the ticket is opened."""
    desk = licensed(desk_for("imagecms"))
    open_technical(desk, ticket="t1", at_min=29 * DAY)
    work(desk, "t1", AFTER, 30, "investigation")
    assert charges(desk, "t1") == []


def test_r_sub_2_r_pay_1_technical_work_after_the_period_is_paid_at_30_usd_an_hour():
    """R-PAY-1: ordered through a consultation ticket, billed per started 15 minutes;
    R-SUB-2: within the period the same work is free."""
    desk = licensed(desk_for("imagecms"))
    open_technical(desk, ticket="t1", at_min=10)
    work(desk, "t1", 20, 30, "investigation")
    assert charges(desk, "t1") == []
    consultation(desk, "t2", AFTER)
    assert ticket(desk, "t2").paid_work
    work(desk, "t2", AFTER + 10, 20, "investigation")
    work(desk, "t2", AFTER + 40, 10, "modification")
    assert [(c["money"], c["rule"]) for c in charges(desk, "t2")] == [
        ("15 USD", "R-PAY-1"), ("7.5 USD", "R-PAY-1")]


def test_r_pay_1_a_consultation_itself_stays_free_after_the_period():
    """R-PAY-1 (seed 001): "Консультации ... предоставляются бесплатно": only technical
    work on the ticket is paid work."""
    desk = licensed(desk_for("imagecms"))
    consultation(desk, "t1", AFTER)
    work(desk, "t1", AFTER + 10, 45, "consultation")
    assert charges(desk, "t1") == []


def test_r_pay_1_without_a_licence_a_consultation_is_not_paid_work():
    """R-PAY-1 concerns licence holders after their period; a registered user without a
    licence has consultations only, and they are free."""
    desk = desk_for("imagecms")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    consultation(desk, "t1", 10)
    work(desk, "t1", 20, 30, "investigation")
    assert not ticket(desk, "t1").paid_work and charges(desk, "t1") == []


def test_r_pay_2_questions_about_paid_work_within_a_month_are_free():
    """R-PAY-2: once the paid consultation ticket is solved (the work accepted), more work
    on it within 30 days is free."""
    desk = licensed(desk_for("imagecms"))
    consultation(desk, "t1", AFTER)
    work(desk, "t1", AFTER + 10, 15, "investigation")
    run(desk, "solve_ticket", AFTER + 20, ticket="t1", agent="a1")
    run(desk, "customer_reply", AFTER + 9 * DAY, ticket="t1")
    work(desk, "t1", AFTER + 9 * DAY + 10, 30, "investigation")
    assert [c["money"] for c in charges(desk, "t1")] == ["7.5 USD"]


def test_r_tkt_8_r_pay_1_the_profile_reads_the_period_from_seed_001():
    data = builtin_profile("imagecms").data
    for product in ("shop-pro", "shop-premium"):
        assert data["products"][product]["after_period"]["departments"] == [
            "consultation", "sales"]
        reading = data["products"][product]["readings"]["after_period"]
        assert "seed 001" in reading and "R-TKT-8" in reading and "R-PAY-1" in reading
        assert "в раздел консультаций" in reading
    pricing = data["pricing"]
    assert pricing["paid_work_kinds"] == ["investigation", "modification"]
    assert "seed 001" in pricing["readings"]["paid_work_kinds"]
    assert "seed 001" in pricing["readings"]["warranty_days"]


def _as_recorded_before() -> PolicyProfile:
    """ImageCMS as adopted before this reading: technical work after the period went
    through the technical department, and every kind of work on it was paid."""
    data = copy.deepcopy(dict(builtin_profile("imagecms").data))
    for product in data["products"].values():
        product["after_period"]["departments"] = ["technical", "consultation", "sales"]
        product.pop("readings", None)
    data["pricing"].pop("paid_work_kinds")
    data["pricing"]["readings"].pop("paid_work_kinds")
    return PolicyProfile.from_data(data, "imagecms as recorded before")


def test_r_aud_1_charges_priced_under_the_earlier_reading_still_agree_with_re_pricing():
    """R-AUD-1: an old charge is re-priced under the profile recorded with it, a new one
    under the new profile: both agree."""
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    desk.adopt(_as_recorded_before(), T0)
    licensed(desk)
    open_technical(desk, ticket="old", at_min=AFTER)
    work(desk, "old", AFTER + 10, 20, "investigation")
    work(desk, "old", AFTER + 20, 20, "consultation")
    desk.adopt(builtin_profile("imagecms"), T0 + timedelta(minutes=AFTER + 30))
    consultation(desk, "new", AFTER + 40)
    work(desk, "new", AFTER + 50, 20, "investigation")
    assert [c["money"] for c in charges(desk, "old")] == ["15 USD", "15 USD"]
    assert [c["money"] for c in charges(desk, "new")] == ["15 USD"]
    result = sweep(desk)
    assert (result.audited, result.agreeing) == (3, 3), result.to_dict()

