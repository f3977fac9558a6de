"""The cipher of personal data (R-PRV-1): the desk's `PersonalData`, and readers' reveal.

Each customer has a 256-bit data key of their own, made (from the operating system's
random source) the first time something of theirs is sealed, and stored only wrapped
by the master key in `customer_keys` (`supportlog.privacy.master_key`). A personal
field is sealed with AES-GCM under it: a fresh random 96-bit nonce per value, and the
associated data binds the ciphertext to (customer, event type, field), so a ciphertext
moved to another customer, event or field does not decrypt. A domain's ref is
HMAC-SHA256 of its lower-cased text under the deployment's ref key (`privacy_master`).

A new key's row is committed before the event that first uses it, in a transaction of
its own with `synchronous_commit = off`: the event's commit, which is synchronous and
comes after it, flushes the write-ahead log up to itself and so the key with it; a key
whose event was never stored is unused and harmless. Two processes that make a key for
the same customer at once agree on the one stored first.

Data keys that seal are held in memory per customer, so a command does not read the key
table; `forget` drops them all (the desk calls it when the log shows an erasure). Reads
hold no key: each `revealer` reads the customer's key row when it is made, so after an
erasure no process can open the customer's data, whatever it held before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.customer import Customer
from domain.errors import CustomerErasedError
from domain.personal import AESGCM as SEALED_WITH_AESGCM
from domain.personal import ERASED, Sealed, is_unprotected, plain_text
from supportlog.privacy.master_key import MasterKey, MasterKeyError, SettledMaster

NONCE_BYTES = 12
#: Data keys held for sealing before all are dropped (a bound on memory, not a cache
#: policy: dropping costs one read of the key table per customer).
MAX_HELD = 10_000


@dataclass(frozen=True)
class KeyRow:
    """A customer's row of `customer_keys`; `wrapped` None: erased at `erased_at`."""

    key_id: str
    wrapped: bytes | None
    created_at: datetime
    erased_at: datetime | None


def associated_data(customer: str, event_type: str, field: str) -> bytes:
    """What a sealed value is bound to (unambiguous: a JSON array of the three)."""
    return orjson.dumps(["supportlog", customer, event_type, field])


def cannot(reason: str) -> str:
    """How a reader shows a value it may not or cannot open: never the ciphertext."""
    return f"[cannot decrypt: {reason}]"


class PersonalCipher:
    """Seals, names and reveals personal data with the store's keys (see module doc).

    `connect` opens a connection to the store (autocommit); one is opened when first
    needed and shared under a lock. Until `settle` gives it a master key, or while the
    master key is missing or not the store's, it refuses to seal (MasterKeyError, saying
    why) and reveals nothing."""

    def __init__(self, connect: Callable[[], psycopg.Connection] | None,
                 problem: str = "the master key is not settled yet"):
        self._connect = connect
        self._conn: psycopg.Connection | None = None
        self._lock = threading.RLock()
        self._master: MasterKey | None = None
        self._ref_key: bytes | None = None
        self.problem: str | None = problem
        self._held: dict[str, tuple[str, AESGCM]] = {}

    def settle(self, settled: SettledMaster) -> None:
        """Holds `settled`'s master key and ref key, or, if there is a problem, why."""
        self._master, self._ref_key, self.problem = settled.key, settled.ref_key, \
            settled.problem

    @property
    def master_key_id(self) -> str | None:
        return self._master.id if self._master is not None else None

    # --- the desk's PersonalData ------------------------------------------------------

    def seal(self, customer: str, event_type: str, field: str,
             text: str | None) -> Sealed | None:
        if text is None:
            return None
        key_id, aead = self._sealing_key(customer)
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = aead.encrypt(nonce, text.encode("utf-8"),
                              associated_data(customer, event_type, field))
        return {"enc": SEALED_WITH_AESGCM, "kid": key_id,
                "ct": base64.b64encode(nonce + sealed).decode("ascii")}

    def ref(self, text: str) -> str:
        if self._ref_key is None:
            raise MasterKeyError(f"a domain cannot be named: {self.problem}")
        digest = hmac.new(self._ref_key, text.lower().encode("utf-8"), hashlib.sha256)
        return f"d-{digest.hexdigest()[:32]}"

    def forget(self) -> None:
        with self._lock:
            self._held.clear()

    # --- readers ----------------------------------------------------------------------

    def reveal(self, customer: str, event_type: str, field: str, value: Any) -> str | None:
        """A `domain.personal.Reveal`: the text of one value (see `revealer`)."""
        return self.revealer(customer)(event_type, field, value)

    def revealer(self, customer: str) -> Callable[[str, str, Any], str | None]:
        """Returns a function that shows each value of `customer`'s (event type, field,
        value): its text; `[erased]` once the customer's key was destroyed; or
        `[cannot decrypt: why]` (no master key, another key, an altered value). The
        customer's key row is read once, now."""
        row: list[KeyRow | None] = []

        def show(event_type: str, field: str, value: Any) -> str | None:
            if value is None:
                return None
            if is_unprotected(value):
                return plain_text(value)
            if not (isinstance(value, dict) and value.get("enc") == SEALED_WITH_AESGCM):
                return cannot("not a sealed value")
            if self._master is None:
                return cannot(self.problem or "no master key")
            if not row:
                row.append(self.key_row(customer))
            found = row[0]
            if found is not None and found.wrapped is None:
                return ERASED
            if found is None or found.key_id != value.get("kid"):
                return cannot(f"key {value.get('kid')} is not customer {customer}'s key")
            try:
                raw = base64.b64decode(value["ct"], validate=True)
                aead = AESGCM(self._master.unwrap(found.wrapped))
                return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data(
                    customer, event_type, field)).decode("utf-8")
            except MasterKeyError as e:
                return cannot(e.message)
            except (InvalidTag, ValueError, KeyError, TypeError):
                return cannot("the value does not open with its key (altered, or moved "
                              "from another customer, event or field)")
        return show

    def key_row(self, customer: str) -> KeyRow | None:
        """Returns `customer`'s row of `customer_keys`, or None."""
        with self._lock:
            row = self._db().execute(
                "SELECT key_id, wrapped_key, created_at, erased_at FROM customer_keys "
                "WHERE customer = %s", (customer,)).fetchone()
        if row is None:
            return None
        return KeyRow(row[0], None if row[1] is None else bytes(row[1]), row[2], row[3])

    # --- keys -------------------------------------------------------------------------

    def _sealing_key(self, customer: str) -> tuple[str, AESGCM]:
        """The customer's key id and cipher, made and stored if they have none yet."""
        with self._lock:
            held = self._held.get(customer)
            if held is not None:
                return held
            if self._master is None:
                raise MasterKeyError(f"personal data cannot be sealed: {self.problem}")
            row = self.key_row(customer) or self._create(customer)
            if row.wrapped is None:
                raise CustomerErasedError(f"customer {customer!r} was erased: their "
                                          "personal data cannot be recorded again")
            if len(self._held) >= MAX_HELD:
                self._held.clear()
            held = self._held[customer] = (row.key_id, AESGCM(self._master.unwrap(
                row.wrapped)))
            return held

    def _create(self, customer: str) -> KeyRow:
        assert self._master is not None
        conn = self._db()
        with conn.transaction():
            conn.execute("SET LOCAL synchronous_commit = off")
            # Only while the store is still under this process's master key: after a
            # rotation (`master_key.rotate_master`) a key wrapped by the old one would
            # never open again.
            conn.execute(
                "INSERT INTO customer_keys (customer, customer_id, key_id, wrapped_key) "
                "SELECT %s, %s, %s, %s WHERE EXISTS (SELECT FROM privacy_master WHERE "
                "master_key_id = %s FOR SHARE) ON CONFLICT DO NOTHING",
                (customer, Customer.id_for(customer), f"k-{secrets.token_hex(8)}",
                 self._master.wrap(secrets.token_bytes(32)), self._master.id))
        row = self.key_row(customer)
        if row is None:
            raise MasterKeyError("the store's master key changed (rotated) since this "
                                 "process started: restart it with the new key")
        return row

    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            if self._connect is None:
                raise MasterKeyError("this cipher has no store to keep keys in")
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        with self._lock:
            self._held.clear()
            self._master = self._ref_key = None
            if self._conn is not None:
                self._conn.close()
