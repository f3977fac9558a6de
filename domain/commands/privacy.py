"""Erasing a customer's personal data (R-PRV-1, R-PRV-2).

The domain records the decision, `customer.erased` with who and why; destroying the
customer's data key is not the domain's to do (it holds no key): the store's recorder
does it in the same transaction as it stores this event (`supportlog.privacy`), so the
log never says "erased" while the key lives, nor loses the key without saying so.
"""

from __future__ import annotations

from datetime import datetime

from domain.commands.handlers import Handlers
from domain.customer import Customer
from domain.errors import CustomerErasedError
from domain.migration import StoreMigration

#: Re-encrypted stores record themselves (`domain.migration`); imported here so that
#: every event type is known wherever the handlers are.
RECORDS = (StoreMigration,)


class PrivacyHandlers(Handlers):
    """The commands on customers' personal data."""

    def erase_customer(self, a: dict, now: datetime) -> list:
        customer = self.customer(a["customer"])
        if customer.erased:
            raise CustomerErasedError(f"customer {a['customer']!r} was erased already")
        customer.record(Customer.Erased, now=now, by=a["by"], reason=a["reason"])
        return [customer]
