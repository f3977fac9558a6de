"""Typed errors of the domain: one class per error code of the scenario format.

A command is checked before any event is triggered, so a raised error means nothing
was written. Messages are for the customer or agent who sent the command: they say why,
and what would change the answer (until when a ban runs, when a counter resets).
"""

from __future__ import annotations

from datetime import datetime


class SupportlogError(Exception):
    """Base of every error the program reports with a code.

    `code` is stable (scenario files and programs match on it); `retriable` says whether
    the same command may succeed if simply sent again (a concurrency conflict), never
    read from the message text.
    """

    code: str = "error"
    retriable: bool = False

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class BannedError(SupportlogError):
    """Raised when a banned customer opens a ticket (R-BAN-3)."""

    code = "banned"


class RequestLimitReachedError(SupportlogError):
    """Raised when a plan's monthly request limit is used up (R-QTA-5)."""

    code = "request_limit_reached"


class DepartmentNotAllowedError(SupportlogError):
    """Raised when the customer's entitlements do not include the department (R-TKT-8)."""

    code = "department_not_allowed"


class WrittenRequestRequiredError(SupportlogError):
    """Raised when an account-changing request arrives by phone (R-TKT-11)."""

    code = "written_request_required"


class InvalidTransitionError(SupportlogError):
    """Raised when a command does not fit the current state (R-TKT-3 and others)."""

    code = "invalid_transition"


class UnknownCustomerError(SupportlogError):
    """Raised when a command names a customer that was never registered."""

    code = "unknown_customer"


class UnknownTicketError(SupportlogError):
    """Raised when a command names a ticket that was never opened."""

    code = "unknown_ticket"


class DuplicateIdError(SupportlogError):
    """Raised when a command would create something whose id is already taken."""

    code = "duplicate_id"


class AnonymousNotAcceptedError(SupportlogError):
    """Raised when an anonymous customer asks for something that moves money (R-DSP-2)."""

    code = "anonymous_not_accepted"


class NotOwnerError(SupportlogError):
    """Raised when a customer acts on a domain, charge or ticket of another (R-TKT-11)."""

    code = "not_owner"


class CustomerErasedError(SupportlogError):
    """Raised when a command would start something new for, or write personal data of,
    a customer whose personal data was erased (R-PRV-1): the key that sealed it is gone."""

    code = "customer_erased"


class InvalidArgumentError(SupportlogError):
    """Raised for malformed or out-of-range input; the message names the field."""

    code = "invalid_argument"


class PastRewriteError(InvalidArgumentError):
    """Raised when a command's time is before the last event of an aggregate it would
    change: its history never runs backwards. `last_changed_at` is that event's time (the
    desk decides again from there when the time was the server's clock, not the caller's;
    see `SupportDesk.execute`)."""

    def __init__(self, message: str, last_changed_at: datetime):
        super().__init__(message)
        self.last_changed_at = last_changed_at


class InsufficientCreditsError(SupportlogError):
    """Raised when a modification needs more credits than the balance holds (R-CRD-7)."""

    code = "insufficient_credits"


class ChannelNotOfferedError(SupportlogError):
    """Raised when a ticket arrives on a channel the desk, or the customer's plan, does
    not offer (R-TKT-12: Cart-Power takes no phone or chat, CS-Cart's chat is Ultimate's)."""

    code = "channel_not_offered"


class ForbiddenError(SupportlogError):
    """Raised when the acting principal's role may not do what it asked (R-ACL-3), or
    when it claims to be someone it is not (an agent id other than its own)."""

    code = "forbidden"


class IdempotencyKeyReusedError(SupportlogError):
    """Raised when a command id (or an HTTP `Idempotency-Key`) already answered another
    command or other arguments: a retry must repeat the request exactly."""

    code = "idempotency_key_reused"


class ConflictError(SupportlogError):
    """Raised when concurrent writers kept winning after the bounded retries."""

    code = "conflict"
    retriable = True


class InternalError(SupportlogError):
    """The answer to a request whose handling failed unexpectedly (a bug, a lost
    server): never raised by the domain's rules. Its message carries the id of the log
    line that holds the traceback. A command's events are saved in one transaction, so
    it wrote all or nothing; a repeat with the same command id has no second effect."""

    code = "internal_error"


ERRORS_BY_CODE: dict[str, type[SupportlogError]] = {
    cls.code: cls
    for cls in (
        BannedError, RequestLimitReachedError, DepartmentNotAllowedError,
        WrittenRequestRequiredError, InvalidTransitionError, UnknownCustomerError,
        UnknownTicketError, DuplicateIdError, AnonymousNotAcceptedError, NotOwnerError,
        InvalidArgumentError, InsufficientCreditsError, ChannelNotOfferedError,
        ConflictError, InternalError, CustomerErasedError, ForbiddenError,
        IdempotencyKeyReusedError,
    )
}
