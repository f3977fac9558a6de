"""The bodies the API takes and gives, as pydantic models: they are checked on the way
in and described in the OpenAPI document from the same declarations.

Command arguments are deliberately an open object here: they are checked by the one
command parser (`domain.commands.args`) shared with the command line and the scenario
runner, so the API accepts exactly the names, arguments and error codes of the scenario
format, and its refusals name the field the same way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.actor import TOKEN_ROLES
from domain.commands import COMMANDS

CommandName = Literal[COMMANDS]  # type: ignore[valid-type]
RoleName = Literal[TOKEN_ROLES]  # type: ignore[valid-type]

#: Free text the database can hold: no NUL, and not too long.
TEXT_PATTERN = r"^[^\x00]*$"


class Strict(BaseModel):
    """A body with no fields but its own: a misspelt field is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


class CommandRequest(Strict):
    """One command of the scenario format."""

    do: CommandName = Field(description="The command, as in scenario files (`open_ticket`).")
    args: dict[str, Any] = Field(default_factory=dict,
                                 description="Its arguments, as in scenario files.")
    occurred_at: AwareDatetime | None = Field(
        default=None, description="For imports by a `service` principal only: when the "
        "command happened (never before the aggregate's last change, never in the "
        "future). Everyone else acts at the server's clock.")


class EventRef(BaseModel):
    """One stored event of an accepted command."""

    type: str
    aggregate_id: str
    version: int


class CommandAnswer(BaseModel):
    """An accepted command: what it stored, and the store position to wait for."""

    accepted: Literal[True] = True
    repeated: bool = Field(description="True if this answers a repeat of a command already "
                           "accepted (nothing new was written).")
    position: int = Field(description="The store position of the command's last event: "
                          "pass it as `?after=` to read your write.")
    events: list[EventRef]


class ActorOut(BaseModel):
    """Who acted, as events record it."""

    role: str
    id: str


class Me(BaseModel):
    """The calling principal."""

    principal: str
    role: str
    desk: str
    customer: str | None


class PrincipalOut(BaseModel):
    """A principal as listed; never its token."""

    principal: str
    desk: str
    role: str
    customer: str | None
    name: str | None
    issued_at: str
    issued_by: ActorOut
    revoked_at: str | None
    revoked_by: ActorOut | None


class NewPrincipal(PrincipalOut):
    """A principal just issued, with its token: shown this once, kept nowhere."""

    token: str | None = Field(description="The bearer token, shown only in the first "
                              "answer: null when this answers a retry of the same "
                              "Idempotency-Key (revoke the principal if it was lost).")


class TokenRequest(Strict):
    """A principal to issue on this desk."""

    role: RoleName
    customer: str | None = Field(default=None, max_length=200, pattern=TEXT_PATTERN,
                                 description="The customer a `customer` principal is.")
    name: str | None = Field(default=None, max_length=200, pattern=TEXT_PATTERN,
                             description="A label for people: who holds the token.")


class AdoptRequest(Strict):
    """A policy profile for this desk: a built-in version (`cart-power@1`) or a whole
    profile document."""

    profile: str | None = Field(default=None, max_length=200, pattern=TEXT_PATTERN,
                                description="A built-in profile of this desk: `id@version`.")
    document: dict[str, Any] | None = Field(default=None,
                                            description="A profile document of this desk.")


class Adopted(BaseModel):
    """The profile in force after an adoption."""

    profile: str
    version: int
    digest: str
    adopted: bool = Field(description="False if that exact profile was already in force.")


class WhatIfRequest(Strict):
    """A replay of this desk's history under its profile with some values changed."""

    set: dict[str, Any] = Field(default_factory=dict, description=(
        "Values to change, by dotted path: `{\"credits.unit_minutes\": 10}`."))
    from_: AwareDatetime | None = Field(default=None, alias="from",
                                        description="Start of the period.")
    to: AwareDatetime | None = Field(default=None, description="End of the period.")
    baseline: bool = Field(default=True, description="Compare with a replay under the "
                           "recorded profiles (else with the recorded history).")


class EraseRequest(Strict):
    """Why a customer's personal data is erased."""

    reason: str = Field(min_length=1, max_length=500, pattern=TEXT_PATTERN,
                        description="The request's reference (kept in the log for ever: "
                        "never the customer's name or e-mail, which is refused).")


class Erased(BaseModel):
    """What an erasure did."""

    customer: str
    key_id: str | None = Field(description="The data key destroyed (null: the customer "
                               "never had personal data sealed, or it was erased before).")
    erased_at: str | None
    erased_before: bool = Field(description="True if the customer had been erased before: "
                                "nothing new was recorded.")
    unprotected_events: int = Field(description="Stored events of the customer holding "
                                    "personal data in plain text, written before it was "
                                    "sealed: erasure cannot reach them (docs/privacy.md).")
    position: int = Field(description="A store position at or after `customer.erased`: "
                          "pass it as `?after=` to read the erased account.")


class Page(BaseModel):
    """One page of a list, in order; `next_cursor` continues it."""

    data: list[dict[str, Any]]
    has_more: bool
    next_cursor: int | None


class Readiness(BaseModel):
    """Whether the servers behind the API answer, and how far the projector is."""

    ready: bool
    database: str
    broker: str
    store_head: int | None
    applied_through: int | None
    projector_lag: int | None
