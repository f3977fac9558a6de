"""R-AUD-3: a desk given a signer stores each event's MAC beside it, in the same stored
state, and nothing else changes: the stored bytes are the unsealed bytes plus the MAC,
and the decoded event, its hash, its envelope and the rebuild's envelope are exactly
those of an unsealed desk. Events stored before MACs decode as they always did."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from domain.desk import SupportDesk
from domain.errors import SupportlogError
from domain.policy.profile import PROFILE_IDS, builtin_profile
from domain.sealing import MAC_FIELD
from eventlog.envelope import Envelope
from eventlog.log_key import LogKey
from replay.decode import EnvelopeDecoder
from supportlog.workload import START, Workload

KEY = LogKey(bytes(range(32)))


def played(signer: Any) -> SupportDesk:
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, signer=signer)
    for profile_id in PROFILE_IDS:
        desk.adopt(builtin_profile(profile_id), START)
    for step in Workload(5, 12, 10).build():
        with contextlib.suppress(SupportlogError):  # the workload includes rejected commands
            desk.execute(step.do, step.args, step.at)
    return desk


def test_r_aud_3_a_sealed_store_differs_from_an_unsealed_one_only_by_each_events_mac():
    sealed, plain = played(KEY.event_mac), played(None)
    sealed_log = sealed.recorder.select_notifications(1, 100_000)
    plain_log = plain.recorder.select_notifications(1, 100_000)
    assert len(sealed_log) == len(plain_log) > 200
    for s, p in zip(sealed_log, plain_log, strict=True):
        event, mac = sealed.mapper.decode_sealed(s)
        assert mac == KEY.event_mac(event.hash)
        state = orjson.loads(s.state)
        assert state.pop(MAC_FIELD) == mac and orjson.dumps(state) == p.state
        assert MAC_FIELD not in vars(event) and MAC_FIELD not in vars(
            sealed.mapper.to_domain_event(s))
        plain_event = plain.mapper.to_domain_event(p)
        assert event.hash == plain_event.hash
        assert Envelope.from_event(event, s.id).encode() == \
            Envelope.from_event(plain_event, p.id).encode()
    assert EnvelopeDecoder(sealed.mapper).envelopes(sealed_log) == \
        EnvelopeDecoder(plain.mapper).envelopes(plain_log)


def test_r_aud_3_an_event_stored_before_macs_decodes_without_one():
    desk = played(None)
    for n in desk.recorder.select_notifications(1, 50):
        _, mac = desk.mapper.decode_sealed(n)
        assert mac is None and MAC_FIELD not in orjson.loads(n.state)
