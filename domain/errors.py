"""Typed errors of the domain: one class per error code of the scenario format.

A command is checked before any event is triggered, so a raised error means nothing
was written. Messages are for the customer or agent who sent the command: they say why,
and what would change the answer (until when a ban runs, when a counter resets).
"""

from __future__ import annotations


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


class InvalidArgumentError(SupportlogError):
    """Raised for malformed or out-of-range input; the message names the field."""

    code = "invalid_argument"


class InsufficientCreditsError(SupportlogError):
    """Raised when a modification needs more credits than the balance holds (R-CRD-7)."""

    code = "insufficient_credits"


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


ERRORS_BY_CODE: dict[str, type[SupportlogError]] = {
    cls.code: cls
    for cls in (
        BannedError, RequestLimitReachedError, DepartmentNotAllowedError,
        WrittenRequestRequiredError, InvalidTransitionError, UnknownCustomerError,
        UnknownTicketError, DuplicateIdError, AnonymousNotAcceptedError, NotOwnerError,
        InvalidArgumentError, InsufficientCreditsError, ConflictError, ForbiddenError,
        IdempotencyKeyReusedError,
    )
}
