"""The event types that deliberately have no fold, each with the reason.

The projector quarantines an event whose type is neither folded nor listed here, and
a test checks that every type of the domain is one or the other, so a new event type
cannot be forgotten silently.
"""

from __future__ import annotations

from projections.changes import not_projected

not_projected("ban.record_opened",
              "opens the customer's ban stream; no ban exists until ban.imposed")
not_projected("customer.subscription_added",
              "the subscription's own stream (subscription.started) carries the same facts")
not_projected("policy.tenant_founded",
              "opens the desk's stream; the desk's state starts with policy.profile_adopted")
not_projected("command.accepted",
              "a receipt that makes a command idempotent; the events it lists are folded "
              "themselves")
not_projected("ticket.charge_disputed",
              "an index for audits on the charge's own stream; the dispute itself is "
              "projected from dispute.opened")
not_projected("privacy.store_migrated",
              "the record of a store's re-encryption (docs/privacy.md); the mapping it "
              "vouches for is its own table, privacy_migration_map")
not_projected("principal.issued",
              "who may act is read from the principals table the token service writes in "
              "the same call (it holds the token hashes, which no event carries)")
not_projected("principal.revoked",
              "a revocation takes effect in the principals table at once, not when a "
              "projector gets to it")
