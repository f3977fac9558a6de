"""Personal data in events (R-PRV-1): sealed values, the cipher the desk is given, refs.

A customer's personal data (name, e-mail, ticket subjects and bodies, shop domains) is
erasable from a log that is never edited only if it never enters an event in plain
text: each personal field holds a *sealed value*, encrypted with a key of that customer
before the event exists, so the hash chain covers the ciphertext and destroying the key
erases the data everywhere the event went (store, topic, read models, backups of the
ciphertext) while every hash, MAC and amount still holds (architecture decision 10).

The domain never sees a key, randomness or the database: the desk is given a
`PersonalData` by the composition root (`supportlog.privacy`), as it is given the log
key's signer, and only asks it to seal a text or to name a domain by its ref. Shapes:

- `{"enc": "aesgcm", "kid": KEY_ID, "ct": BASE64}`: AES-GCM under the customer's data
  key `KEY_ID`; `ct` is the 96-bit nonce, the ciphertext and the tag; the associated
  data binds it to (customer, event type, field), so it cannot be moved elsewhere.
- `{"enc": "none", "text": TEXT}`: NOT protected. What the upcasters make of a field an
  event stored before encryption held in plain text (its bytes cannot change), and what
  a desk without a cipher writes (the pure tests' in-memory desks; the composition
  root never builds one). `supportlog privacy report` lists every such value.

A domain is also named by a *ref*: a keyed pseudonym (the same domain, the same ref;
without the key nobody can tell which domain it stands for). Ownership (R-TKT-11),
per-domain plans and replay compare refs, never ciphertexts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypedDict

#: `enc` of a value encrypted with the customer's data key.
AESGCM = "aesgcm"
#: `enc` of a value held in plain text (stored before encryption, or by a test desk).
UNPROTECTED = "none"

#: How readers show a value whose key was destroyed (R-PRV-1).
ERASED = "[erased]"
#: How a reader without the cipher shows a sealed value.
SEALED = "[sealed]"

#: How an entitled reader turns the value of personal field `field` of an event of type
#: `event_type` of `customer` (in that order, then the value) into what it shows: its
#: text, `ERASED`, or why it cannot (`supportlog.privacy` gives the real one).
Reveal = Callable[[str, str, str, Any], str | None]


class Sealed(TypedDict, total=False):
    """A personal field's value in an event (see the module doc for its two shapes)."""

    enc: str
    kid: str
    ct: str
    text: str


class PersonalData(Protocol):
    """What the desk asks of the cipher the composition root gives it."""

    def seal(self, customer: str, event_type: str, field: str,
             text: str | None) -> Sealed | None:
        """Returns `text` sealed for `customer` as field `field` of `event_type` (None
        for None). Raises CustomerErasedError for an erased customer, and a
        SupportlogError saying why when it cannot seal (no master key)."""

    def ref(self, text: str) -> str:
        """Returns the keyed pseudonym of a domain (case-insensitive)."""

    def forget(self) -> None:
        """Drops every data key held in memory (a customer was erased)."""


class Unsealed:
    """A `PersonalData` that protects nothing: values are `{"enc": "none"}` and refs are
    the lower-cased text. The default of a desk built without a cipher (the pure tests'
    in-memory desks); the composition root always gives a real one."""

    def seal(self, customer: str, event_type: str, field: str,
             text: str | None) -> Sealed | None:
        return unprotected(text)

    def ref(self, text: str) -> str:
        return f"plain:{text.lower()}"

    def forget(self) -> None:
        """Holds no keys."""


UNSEALED = Unsealed()


def unprotected(text: str | None) -> Sealed | None:
    """Returns the `{"enc": "none"}` value of `text` (None for None): what an upcaster
    makes of a plain-text field of an event stored before encryption."""
    return None if text is None else {"enc": UNPROTECTED, "text": text}


def upcast_domain_v1_v2(state: dict[str, Any]) -> None:
    """`domain`, plain text in v1, becomes `{"enc": "none", "text": ...}` (null stays
    null), and `domain_ref` is null: an upcaster has no key to compute a ref (readers
    that need one, for ownership or replay, ask supportlog's cipher for the ref of the
    text)."""
    state["domain"] = unprotected(state.get("domain"))
    state["domain_ref"] = None


def is_unprotected(value: Any) -> bool:
    """True for a personal field's value held in plain text."""
    return isinstance(value, dict) and value.get("enc") == UNPROTECTED


def plain_text(value: Any) -> str | None:
    """Returns the text of an unprotected value, or None (sealed, or no value)."""
    return value.get("text") if is_unprotected(value) else None


def without_keys(customer: str, event_type: str, field: str, value: Any) -> str | None:
    """The `Reveal` of a reader given no cipher: the text of an unprotected value, and
    `SEALED` for a sealed one. Nothing is decrypted."""
    if value is None:
        return None
    return plain_text(value) if is_unprotected(value) else SEALED


def withheld(customer: str, event_type: str, field: str, value: Any) -> str | None:
    """The `Reveal` of a reader not entitled to personal data (an integration over the
    API): `SEALED` for every value, a plain-text one stored before sealing too."""
    return None if value is None else SEALED


def key_id(value: Any) -> str | None:
    """Returns the data key id a sealed value names, or None."""
    return value.get("kid") if isinstance(value, dict) and value.get("enc") == AESGCM \
        else None
