"""Command handlers: load what a rule needs, decide with the profile, save atomically.

Every check runs before any event is triggered, so a rejected command writes nothing.
Each handler returns the aggregates it changed; `SupportDesk.execute` saves them in one
transaction. Cross-aggregate rules (a ticket needs the customer's plan, ban and balance)
are decided here; lifecycle rules are the aggregates' guards.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from domain.actor import acting, guard_owner, visible
from domain.ban import Ban
from domain.base import SupportAggregate, utc
from domain.credit_account import CreditAccount
from domain.customer import Customer
from domain.errors import (
    AnonymousNotAcceptedError,
    CustomerErasedError,
    DuplicateIdError,
    InvalidArgumentError,
    InvalidTransitionError,
    NotOwnerError,
    UnknownCustomerError,
    UnknownTicketError,
)
from domain.personal import Sealed, plain_text
from domain.policy.profile import PolicyProfile
from domain.subscription import Subscription
from domain.tenant import DomainName
from domain.ticket import Ticket

TERM_MONTHS = {"month": 1, "year": 12, "1m": 1, "3m": 3, "6m": 6, "12m": 12}


def add_months(at: datetime, months: int) -> datetime:
    """Returns `at` plus whole calendar months (the day clamped to the month's end)."""
    month = at.month - 1 + months
    year = at.year + month // 12
    month = month % 12 + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
            31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return at.replace(year=year, month=month, day=min(at.day, days))


def month_key(profile: PolicyProfile, at: datetime) -> str:
    """Returns "YYYY-MM" of `at` in the desk's timezone (R-QTA-3)."""
    return profile.calendar.local_date(at).strftime("%Y-%m")


def next_month_start(profile: PolicyProfile, at: datetime) -> datetime:
    """Returns the first instant of the month after `at`'s, in the desk's timezone: when
    the month's counters reset (R-QTA-3)."""
    from zoneinfo import ZoneInfo

    local = at.astimezone(ZoneInfo(profile.calendar.timezone))
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return add_months(first, 1).replace(tzinfo=ZoneInfo(profile.calendar.timezone))


def _preference(entitlement: dict[str, Any]) -> tuple[int, int, bool, bool]:
    """Orders entitlements in force together: higher rank wins; at equal rank, more
    departments; then what the customer holds over bare registration (an ImageCMS
    licence after its period keeps its paid-work terms, R-TKT-8, R-PAY-1, though it
    opens no more departments than registration); then free over paid."""
    return (entitlement["rank"], len(entitlement["departments"]),
            entitlement["source"] != "registration", not entitlement["paid_work"])


class Handlers:
    """The command handlers of one desk store. `desk` loads; `profile_for` gives policy."""

    def __init__(self, desk: Any, profile_for: Any, default_profile: str | None):
        self.desk = desk
        self.profile_for = profile_for
        self.default_profile = default_profile

    # --- loading helpers -----------------------------------------------------------
    # Another desk's customer, ticket or subscription is reported exactly as one that
    # does not exist, and a customer principal may touch only its own (R-ACL-2).

    def customer(self, name: str) -> Customer:
        customer = self.desk.load(Customer, Customer.id_for(name))
        if customer is None or not visible(customer.tenant):
            raise UnknownCustomerError(f"no customer {name!r} is registered")
        guard_owner(acting(), customer.customer, f"customer {name}")
        return customer

    def active_customer(self, name: str) -> Customer:
        """The customer, who must not be erased: a command that starts something new
        or writes personal data is refused for an erased one (R-PRV-1). Each such
        command also records an event on the customer, so it conflicts with an erasure
        stored meanwhile and decides again, seeing it."""
        customer = self.customer(name)
        if customer.erased:
            raise CustomerErasedError(f"customer {name!r} was erased: nothing new is "
                                      "recorded for them")
        return customer

    def seal(self, customer: str, event_type: str, field: str,
             text: str | None) -> Sealed | None:
        """Returns `text` sealed with the customer's key by the desk's cipher (R-PRV-1)."""
        return self.desk.personal.seal(customer, event_type, field, text)

    def domain_ref(self, domain: str | None) -> str | None:
        """The ref of a domain given in a command (None for none)."""
        return self.desk.personal.ref(domain) if domain else None

    def ref_of(self, domain: Any, domain_ref: str | None) -> str | None:
        """The ref of a domain an event recorded: its `domain_ref`, or for a domain
        recorded in plain text before refs existed, the ref of that text."""
        if domain_ref is not None:
            return domain_ref
        text = plain_text(domain)
        return self.desk.personal.ref(text) if text else None

    def domain_owner(self, domain: str) -> DomainName | None:
        """The claim on `domain`: by its ref, else as claimed before refs existed."""
        return self.desk.load(DomainName, DomainName.id_for(self.desk.personal.ref(domain))) \
            or self.desk.load(DomainName, DomainName.legacy_id_for(domain))

    def ticket(self, name: str) -> Ticket:
        ticket = self.desk.load(Ticket, Ticket.id_for(name))
        if ticket is None or not visible(ticket.tenant):
            raise UnknownTicketError(f"no ticket {name!r}")
        guard_owner(acting(), ticket.customer, f"ticket {name}")
        return ticket

    def subscription(self, name: str) -> Subscription:
        sub = self.desk.load(Subscription, Subscription.id_for(name))
        if sub is None or not visible(sub.tenant):
            raise InvalidArgumentError(f"no subscription {name!r}")
        guard_owner(acting(), sub.customer, f"subscription {name}")
        return sub

    def account(self, customer: Customer, now: datetime) -> CreditAccount:
        account = self.desk.load(CreditAccount, CreditAccount.id_for(customer.customer))
        return account or CreditAccount.open_for(customer.customer, customer.tenant, now)

    def ban_record(self, customer: Customer, now: datetime) -> Ban:
        ban = self.desk.load(Ban, Ban.id_for(customer.customer))
        return ban or Ban.open_for(customer.customer, customer.tenant, now)

    def profile(self, customer: SupportAggregate) -> PolicyProfile:
        return self.profile_for(customer.tenant)

    def entitlement(self, customer: Customer, profile: PolicyProfile, at: datetime,
                    domain_ref: str | None = None,
                    known: Mapping[str, Subscription] | None = None) -> dict[str, Any]:
        """The best entitlement in force at `at`: plan, rank, departments, limits.
        `domain_ref` is the ref of the domain asked about (a plan sold per domain covers
        work on its own domain only). `known` holds subscriptions changed by the command
        being decided (not stored yet), used instead of what the store holds."""
        best: dict[str, Any] = {"plan": None, "source": "registration", "paid_work": False,
                                **profile.plan(None)}
        candidates: list[dict[str, Any]] = []
        for license_id, lic in customer.licenses.items():
            if lic["starts_at"] <= at < lic["ends_at"]:
                candidates.append({"plan": lic["plan"], "source": f"license:{license_id}",
                                   "paid_work": False, **profile.plan(lic["plan"])})
            elif lic.get("after_period") and at >= lic["ends_at"]:
                after = lic["after_period"]
                candidates.append({"plan": None, "source": f"license:{license_id}:after",
                                   **profile.plan(None),
                                   "departments": after["departments"],
                                   "paid_work": bool(after.get("paid_work")),
                                   "covers_work": False})
        known = known or {}
        for sub_name in dict.fromkeys([*customer.subscriptions, *known]):
            sub = known.get(sub_name) or self.desk.load(Subscription,
                                                        Subscription.id_for(sub_name))
            if sub is None or not sub.in_force(at):
                continue
            plan = profile.plan(sub.plan)
            covers = plan["covers_work"]
            sub_ref = self.ref_of(sub.domain, sub.domain_ref)
            if plan.get("per_domain") and sub_ref and domain_ref != sub_ref:
                covers = False
            candidates.append({"plan": sub.plan, "source": f"subscription:{sub_name}",
                               "paid_work": False, **plan, "covers_work": covers})
        for candidate in candidates:
            if _preference(candidate) > _preference(best):
                best = candidate
        return best

    def set_allowance(self, customer: Customer, profile: PolicyProfile, now: datetime,
                      cause: str, known: Mapping[str, Subscription] | None = None) -> None:
        """Records the month's quota as it stands after an entitlement started, changed
        or ended (R-QTA-1, R-QTA-5): the allowance of the plan in force with the month's
        counters, so the quota projection holds the right row before the first ticket
        (architecture decision 3: the fold reads the event, never the profile)."""
        at = utc(now)
        ent = self.entitlement(customer, profile, at, known=known)
        month = month_key(profile, at)
        usage = customer.usage_in(month)
        customer.record(Customer.AllowanceSet, now=now, cause=cause, plan=ent["plan"],
                        month=month, requests_used=usage["requests_used"],
                        requests_limit=ent.get("requests_per_month"),
                        modifications_used=usage["modifications_used"],
                        free_used=usage["free_used"],
                        free_limit=ent.get("free_modifications", 0),
                        rollover_at=utc(next_month_start(profile, at)))

    # --- customers, licences, subscriptions ---------------------------------------

    def register_customer(self, a: dict, now: datetime) -> list:
        tenant = a["desk"] or self.default_profile
        if tenant is None:
            raise InvalidArgumentError("register_customer needs a desk (profile id)")
        profile = self.profile_for(tenant)
        if self.desk.load(Customer, Customer.id_for(a["customer"])) is not None:
            raise DuplicateIdError(f"customer {a['customer']!r} is already registered")
        name, registered = a["customer"], Customer.Registered.TOPIC
        customer = Customer.register(
            customer=name, now=now, email=self.seal(name, registered, "email", a["email"]),
            name=self.seal(name, registered, "name", a["name"]),
            anonymous=bool(a["anonymous"]), profile_id=profile.id,
            profile_version=profile.version)
        self.set_allowance(customer, profile, now, "registration")
        return [customer]

    def _claim_domain(self, customer: Customer, domain: str | None,
                      now: datetime) -> list:
        if not domain:
            return []
        owner = self.domain_owner(domain)
        if owner is None:
            ref = self.desk.personal.ref(domain)
            return [DomainName.start(
                DomainName.Claimed, id=DomainName.id_for(ref), now=now,
                customer=customer.customer, tenant=customer.tenant, ref=ref,
                domain=self.seal(customer.customer, DomainName.Claimed.TOPIC, "domain",
                                 domain), domain_ref=ref)]
        if owner.customer != customer.customer:
            raise NotOwnerError(f"domain {domain} belongs to another customer")
        return []

    def _guard_money(self, customer: Customer, what: str) -> None:
        if customer.anonymous:
            raise AnonymousNotAcceptedError(
                f"{what} needs an identified customer; anonymous accounts cannot pay")

    def buy_license(self, a: dict, now: datetime) -> list:
        customer = self.active_customer(a["customer"])
        profile = self.profile(customer)
        product = profile.section("products").get(a["product"])
        if product is None:
            raise InvalidArgumentError(
                f"{profile.id} sells no product {a['product']!r}; products: "
                f"{', '.join(profile.section('products'))}")
        self._guard_money(customer, "buying a licence")
        if a["license"] in customer.licenses:
            raise DuplicateIdError(f"licence {a['license']!r} is already recorded")
        claimed = self._claim_domain(customer, a["domain"], now)
        customer.record(Customer.LicenseBought, now=now, license=a["license"],
                        product=a["product"], plan=product["plan"],
                        domain=self.seal(customer.customer, Customer.LicenseBought.TOPIC,
                                         "domain", a["domain"]),
                        domain_ref=self.domain_ref(a["domain"]),
                        period_starts_at=utc(now),
                        period_ends_at=utc(now) + timedelta(days=product["support_days"]),
                        after_period=product.get("after_period"))
        self.set_allowance(customer, profile, now, f"license:{a['license']}")
        return [customer, *claimed]

    def start_subscription(self, a: dict, now: datetime) -> list:
        customer = self.active_customer(a["customer"])
        profile = self.profile(customer)
        plan = profile.section("plans").get(a["plan"])
        if plan is None:
            raise InvalidArgumentError(f"{profile.id} has no plan {a['plan']!r}; plans: "
                                       f"{', '.join(profile.section('plans'))}")
        if not plan.get("purchasable", True):
            raise InvalidArgumentError(
                f"plan {a['plan']!r} cannot be bought alone: it comes with a licence")
        if a["term"] not in plan.get("terms", []):
            raise InvalidArgumentError(f"plan {a['plan']!r} is sold for terms "
                                       f"{', '.join(plan.get('terms', []))}, not {a['term']!r}")
        if plan.get("per_domain") and not a["domain"]:
            raise InvalidArgumentError(f"plan {a['plan']!r} is bought per domain: give domain")
        self._guard_money(customer, "a subscription")
        sub_id = Subscription.id_for(a["subscription"])
        if self.desk.load(Subscription, sub_id) is not None:
            raise DuplicateIdError(f"subscription {a['subscription']!r} already exists")
        claimed = self._claim_domain(customer, a["domain"], now)
        ends = add_months(utc(now), TERM_MONTHS[a["term"]])
        sub = Subscription.start(
            Subscription.Started, id=sub_id, now=now, customer=customer.customer,
            tenant=customer.tenant, ref=a["subscription"], subscription=a["subscription"],
            plan=a["plan"], term=a["term"],
            domain=self.seal(customer.customer, Subscription.Started.TOPIC, "domain",
                             a["domain"]),
            domain_ref=self.domain_ref(a["domain"]), starts_at=utc(now), ends_at=ends,
            price=(plan.get("prices") or {}).get(a["term"]), profile_version=profile.version)
        customer.record(Customer.SubscriptionAdded, now=now, subscription=a["subscription"],
                        domain=self.seal(customer.customer, Customer.SubscriptionAdded.TOPIC,
                                         "domain", a["domain"]),
                        domain_ref=self.domain_ref(a["domain"]))
        self.set_allowance(customer, profile, now, f"subscription:{a['subscription']}",
                           known={a["subscription"]: sub})
        return [sub, customer, *claimed]

    def change_plan(self, a: dict, now: datetime) -> list:
        sub = self.subscription(a["subscription"])
        profile = self.profile(sub)
        plan = profile.section("plans").get(a["plan"])
        if plan is None or not plan.get("purchasable", True):
            raise InvalidArgumentError(f"{profile.id} sells no plan {a['plan']!r}")
        if sub.term not in plan.get("terms", []):
            raise InvalidArgumentError(f"plan {a['plan']!r} is not sold for term {sub.term}")
        sub.guard_changeable()
        if sub.plan == a["plan"]:
            raise InvalidTransitionError(f"subscription is already on plan {a['plan']}")
        sub.record(Subscription.PlanChanged, now=now, old_plan=sub.plan, plan=a["plan"])
        customer = self.customer(sub.customer)
        self.set_allowance(customer, profile, now, f"plan_changed:{sub.subscription}",
                           known={sub.subscription: sub})
        return [sub, customer]

    def cancel_subscription(self, a: dict, now: datetime) -> list:
        sub = self.subscription(a["subscription"])
        profile = self.profile(sub)
        sub.guard_changeable()
        effective = sub.ends_at
        if profile.section("subscriptions").get("cancel_effective") == "immediately":
            effective = utc(now)
        sub.record(Subscription.Cancelled, now=now, effective_at=effective)
        if sub.in_force(utc(now)):  # the plan runs to the end of its paid period
            return [sub]
        customer = self.customer(sub.customer)
        self.set_allowance(customer, profile, now, f"cancelled:{sub.subscription}",
                           known={sub.subscription: sub})
        return [sub, customer]

    def buy_package(self, a: dict, now: datetime) -> list:
        customer = self.active_customer(a["customer"])
        profile = self.profile(customer)
        package = profile.section("packages").get(a["package"])
        if package is None:
            raise InvalidArgumentError(f"{profile.id} sells no package {a['package']!r}")
        self._guard_money(customer, "buying a package")
        if a["purchase"] in customer.packages:
            raise DuplicateIdError(f"purchase {a['purchase']!r} is already recorded")
        customer.record(Customer.PackageBought, now=now, purchase=a["purchase"],
                        package=a["package"], max_minutes=package["max_minutes"])
        return [customer]

    # --- credits -------------------------------------------------------------------

    def _credits_enabled(self, profile: PolicyProfile) -> dict:
        credits = profile.section("credits")
        if not credits.get("enabled"):
            raise InvalidArgumentError(f"{profile.id} does not sell support credits")
        return credits

    def purchase_credits(self, a: dict, now: datetime) -> list:
        customer = self.active_customer(a["customer"])
        credits = self._credits_enabled(self.profile(customer))
        if a["package"] not in credits["packages"]:
            raise InvalidArgumentError(
                f"credit packages are {', '.join(map(str, credits['packages']))}")
        self._guard_money(customer, "buying credits")
        account = self.account(customer, now)
        account.purchase(a["purchase"], a["package"], now)
        return [account]

    def grant_addon_credits(self, a: dict, now: datetime) -> list:
        customer = self.active_customer(a["customer"])
        credits = self._credits_enabled(self.profile(customer))
        account = self.account(customer, now)
        account.guard_new_cause(f"addon:{a['addon']}", f"add-on {a['addon']}")
        if not a["paid"]:
            amount = credits["addon_credits_free"]
        elif a["in_package"]:
            amount = credits["addon_credits_in_package"]
        else:
            amount = credits["addon_credits_paid"]
        account.record(CreditAccount.AddonCreditsGranted, now=now, addon=a["addon"],
                       paid=a["paid"], in_package=bool(a["in_package"]), credits=amount,
                       rule="R-CRD-2", balance_before=account.balance,
                       balance_after=account.balance + amount)
        account.release_if_paid(now)
        return [account]
