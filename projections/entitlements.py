"""What customers hold: licences and their support periods (R-SUB-2, R-SUB-5),
subscriptions (R-SUB-1), Incident/Examination packages (R-SUB-4) and the domains they
own (R-TKT-11). The desk's screens and analysts read these; the domain decides
entitlements from its own aggregates, never from these rows. Domains are copied sealed,
as the events hold them, and named by their ref (R-PRV-1).
"""

from __future__ import annotations

from typing import Any

from projections.changes import Change, Update, Upsert, folds


@folds("customer.license_bought")
def fold_licenses(e: Any) -> list[Change]:
    d = e.data
    return [Upsert("licenses", {"customer": e.customer, "license": d["license"]}, {
        "tenant": e.tenant, "product": d["product"], "plan": d.get("plan"),
        "domain": d.get("domain"), "domain_ref": d.get("domain_ref"),
        "period_starts_at": d["period_starts_at"],
        "period_ends_at": d["period_ends_at"], "after_period": d.get("after_period"),
        "period_ended": False, "bought_at": e.time})]


@folds("customer.support_period_ended")
def fold_license_period_ended(e: Any) -> list[Change]:
    return [Update("licenses", {"customer": e.customer, "license": e.data["license"]},
                   {"period_ended": True})]


@folds("subscription.started")
def fold_subscriptions(e: Any) -> list[Change]:
    d = e.data
    return [Upsert("subscriptions", {"subscription": d["subscription"]}, {
        "customer": e.customer, "tenant": e.tenant, "plan": d["plan"], "term": d["term"],
        "domain": d.get("domain"), "domain_ref": d.get("domain_ref"),
        "starts_at": d["starts_at"], "ends_at": d["ends_at"],
        "price": d.get("price"), "profile_version": d.get("profile_version"),
        "status": "active", "updated_at": e.time})]


@folds("subscription.plan_changed")
def fold_subscription_plan(e: Any) -> list[Change]:
    return [Update("subscriptions", {"subscription": e.ref},
                   {"plan": e.data["plan"], "updated_at": e.time})]


@folds("subscription.cancelled")
def fold_subscription_cancelled(e: Any) -> list[Change]:
    """No renewal; support goes on until the recorded effective instant."""
    return [Update("subscriptions", {"subscription": e.ref}, {
        "status": "cancelled", "cancelled_at": e.time,
        "cancel_effective_at": e.data["effective_at"], "updated_at": e.time})]


@folds("subscription.expired")
def fold_subscription_expired(e: Any) -> list[Change]:
    return [Update("subscriptions", {"subscription": e.ref},
                   {"status": "expired", "expired_at": e.time, "updated_at": e.time})]


@folds("customer.package_bought")
def fold_packages(e: Any) -> list[Change]:
    d = e.data
    return [Upsert("packages", {"purchase": d["purchase"]}, {
        "customer": e.customer, "tenant": e.tenant, "package": d["package"],
        "max_minutes": d["max_minutes"], "bought_at": e.time})]


@folds("customer.package_assigned")
def fold_package_assigned(e: Any) -> list[Change]:
    return [Update("packages", {"purchase": e.data["purchase"]},
                   {"ticket": e.data["ticket"], "assigned_at": e.time})]


@folds("domain.claimed")
def fold_domains(e: Any) -> list[Change]:
    return [Upsert("domains", {"ref": e.ref}, {
        "domain": e.data["domain"], "domain_ref": e.data.get("domain_ref"),
        "customer": e.customer, "tenant": e.tenant, "claimed_at": e.time})]
