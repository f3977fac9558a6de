"""R-TKT-12: the channels a desk (and a plan) offers are profile data; a ticket on a
channel of R-TKT-1's vocabulary that the desk or the customer's plan does not offer is
refused with `channel_not_offered` and writes nothing (in-memory store, fixed clock)."""

from __future__ import annotations

import copy

import pytest

from domain.errors import ERRORS_BY_CODE, SupportlogError
from domain.policy.profile import builtin_profile
from domain.policy.profile_check import profile_problems, profile_schema
from tests.domain.test_profile_schema import desk_with
from tests.domain.test_rules import desk_for, run


def ticket_on(desk, channel: str, ticket: str, department: str = "technical",
              at_min: int = 5, customer: str = "c1") -> str | None:
    """Opens a ticket on `channel`; returns the refusal's code (after checking that it
    wrote nothing), or None if the ticket was accepted."""
    head = desk.recorder.max_notification_id()
    try:
        run(desk, "open_ticket", at_min, customer=customer, ticket=ticket,
            department=department, channel=channel, subject="Checkout fails")
    except SupportlogError as e:
        assert desk.recorder.max_notification_id() == head, "a refusal wrote events"
        return e.code
    return None


def test_r_tkt_12_channel_not_offered_is_an_error_code():
    assert ERRORS_BY_CODE["channel_not_offered"].code == "channel_not_offered"


def test_r_tkt_12_cart_power_gives_no_support_by_phone_chat_or_the_admin_panel():
    """R-TKT-12 (seed 003): "Technical support is not provided by phone, on online chat
    or messaging apps"; the ways of contact are contact forms, e-mail and HelpDesk."""
    desk = desk_for("cart-power")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    for n, channel in enumerate(("phone", "chat", "admin_panel")):
        assert ticket_on(desk, channel, f"x{n}") == "channel_not_offered", channel
    for n, channel in enumerate(("helpdesk", "email", "contact_form")):
        assert ticket_on(desk, channel, f"t{n}") is None, channel


def test_r_tkt_12_cs_cart_chat_is_for_ultimate_only():
    """R-TKT-12 (seed 000): "Поддержка в чате" is an Ultimate feature; without a plan, on
    a licence's Standard and on Plus the chat is refused."""
    desk = desk_for("cs-cart")
    for name in ("c0", "c1", "c2", "c3"):
        run(desk, "register_customer", customer=name, email=f"{name}@example.com")
    run(desk, "buy_license", 1, customer="c1", license="l1", product="cs-cart")
    run(desk, "start_subscription", 1, customer="c2", subscription="s2", plan="plus",
        term="month")
    run(desk, "start_subscription", 1, customer="c3", subscription="s3", plan="ultimate",
        term="month")
    assert ticket_on(desk, "chat", "t0", "consultation", customer="c0") \
        == "channel_not_offered"
    assert ticket_on(desk, "chat", "t1", customer="c1") == "channel_not_offered"
    assert ticket_on(desk, "chat", "t2", customer="c2") == "channel_not_offered"
    assert ticket_on(desk, "chat", "t3", customer="c3") is None
    assert ticket_on(desk, "helpdesk", "t2", customer="c2") is None


def test_r_tkt_12_after_a_plan_change_to_ultimate_the_chat_is_offered():
    """R-TKT-12: the channels are the plan's in force when the ticket is opened."""
    desk = desk_for("cs-cart")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "start_subscription", 1, customer="c1", subscription="s1", plan="plus",
        term="month")
    assert ticket_on(desk, "chat", "t1", at_min=2) == "channel_not_offered"
    run(desk, "change_plan", 3, subscription="s1", plan="ultimate")
    assert ticket_on(desk, "chat", "t1", at_min=4) is None


def test_r_tkt_12_r_tkt_11_cs_cart_technical_support_is_written_only():
    """R-TKT-12, R-TKT-11 (seed 000): "Техническая поддержка предоставляется только в
    письменном виде": by phone a consultation, never a technical request."""
    desk = desk_for("cs-cart")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    run(desk, "buy_license", 1, customer="c1", license="l1", product="cs-cart")
    assert ticket_on(desk, "phone", "t1") == "written_request_required"
    assert ticket_on(desk, "phone", "t1", "consultation") is None


def test_r_tkt_12_imagecms_takes_requests_only_in_the_personal_account():
    """R-TKT-12 (seed 001): "Заявка может быть оформлена только на странице «Техническая
    поддержка в личном кабинете пользователя»"."""
    desk = desk_for("imagecms")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    for n, channel in enumerate(("email", "chat", "phone", "contact_form", "admin_panel")):
        assert ticket_on(desk, channel, f"x{n}", "consultation") == "channel_not_offered"
    assert ticket_on(desk, "helpdesk", "t1", "consultation") is None


def test_r_tkt_12_insales_registers_no_request_sent_another_way():
    """R-TKT-12 (seed 004): requests come through the admin panel (and its ticket system),
    the administrative mail and the phone; "обращения, поданные другими способами
    (Telegram, ICQ, Skype), не регистрируются"."""
    desk = desk_for("insales")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    for n, channel in enumerate(("chat", "contact_form")):
        assert ticket_on(desk, channel, f"x{n}", "consultation") == "channel_not_offered"
    for n, channel in enumerate(("admin_panel", "helpdesk", "email", "phone")):
        assert ticket_on(desk, channel, f"t{n}", "consultation") is None, channel


def test_r_tkt_1_a_channel_outside_the_vocabulary_is_malformed_not_unoffered():
    """R-TKT-1: `fax` is no channel at all (invalid_argument); R-TKT-12: `chat` is one a
    desk may not offer (channel_not_offered)."""
    desk = desk_for("cart-power")
    run(desk, "register_customer", customer="c1", email="c1@example.com")
    assert ticket_on(desk, "fax", "t1") == "invalid_argument"
    assert ticket_on(desk, "chat", "t1") == "channel_not_offered"


def test_r_tkt_12_a_plan_offers_only_channels_of_the_desk():
    """R-TKT-12: a plan's channels must be the desk's; the schema knows R-TKT-1's six."""
    data = copy.deepcopy(dict(builtin_profile("cart-power").data))
    data["plans"]["premium"]["channels"] = ["helpdesk", "phone"]
    data["no_plan"]["channels"] = ["pigeon"]
    paths = {p.path for p in profile_problems(data)}
    assert paths == {"plans.premium.channels[1]", "no_plan.channels[0]"}
    from domain.ticket import CHANNELS  # R-TKT-1's vocabulary

    assert profile_schema()["$defs"]["channel"]["enum"] == list(CHANNELS)


def test_r_tkt_12_a_profile_recorded_with_every_channel_still_offers_every_channel():
    """R-TKT-12: a profile whose plans name no channels offers the desk's channels."""
    data = copy.deepcopy(dict(builtin_profile("cs-cart").data))
    for plan in (data["no_plan"], *data["plans"].values()):
        plan.pop("channels", None)
        plan.pop("readings", None)
    data["tickets"]["phone_written_request_required"] = False
    data["tickets"].pop("readings", None)
    desk = desk_with(data)
    assert ticket_on(desk, "chat", "t1", "consultation") is None


@pytest.mark.parametrize("profile_id", ["cs-cart", "cart-power", "imagecms", "prem-site",
                                        "insales"])
def test_r_tkt_12_every_built_in_profile_explains_its_channels(profile_id):
    readings = builtin_profile(profile_id).data.get("readings", {})
    assert "channels" in readings and "R-TKT-12" in readings["channels"]
    assert "seed" in readings["channels"]
