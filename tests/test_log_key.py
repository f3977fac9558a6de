"""R-AUD-3, architecture decision 9: the log key lives outside the database. It is
created once with mode 0600 (a file others may read is refused), or given as
SUPPORTLOG_LOG_KEY in hex or base64; it never shows in a message or a repr; a process
whose key is not the store's (or that has none) still reads but may not write; and a
lost key is replaced deliberately, after which the older MACs count as unchecked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
import threading
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.policy.profile import builtin_profile
from eventlog.log_key import LogKey
from supportlog.bootstrap import bootstrap
from supportlog.log_key import LogKeyError, configured_key, create_key_file, parse_key
from supportlog.settings import ENVIRONMENT, Settings
from supportlog.workload import START

SECRET = bytes(range(32))


def test_r_aud_3_the_key_is_created_on_first_use_readable_by_its_owner_only(tmp_path):
    home = tmp_path / "home"
    settings = Settings(home=home)
    assert configured_key(settings) is None
    key = create_key_file(home / "log.key")
    assert stat.S_IMODE((home / "log.key").stat().st_mode) == 0o600
    assert len((home / "log.key").read_text().strip()) == 64
    assert configured_key(settings).id == key.id  # the same key on every later start
    assert create_key_file(home / "log.key").id == key.id  # never replaced
    assert [p.name for p in home.iterdir()] == ["log.key"]  # no temporary file left


def test_r_aud_3_starters_racing_to_create_the_key_agree_on_one(tmp_path):
    ids: list[str] = []
    threads = [threading.Thread(target=lambda: ids.append(
        create_key_file(tmp_path / "log.key").id)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 8 and len(set(ids)) == 1


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_r_aud_3_a_key_file_others_may_use_is_refused_naming_the_fix(tmp_path, mode):
    path = tmp_path / "log.key"
    create_key_file(path)
    path.chmod(mode)
    with pytest.raises(LogKeyError, match=f"has mode {mode:04o}.*chmod 600 {path}"):
        configured_key(Settings(home=tmp_path))


def test_r_aud_3_the_environment_key_wins_in_hex_or_base64(tmp_path):
    create_key_file(tmp_path / "log.key")
    texts = [SECRET.hex(), SECRET.hex().upper(), base64.b64encode(SECRET).decode(),
             base64.urlsafe_b64encode(SECRET).decode(), f"  {SECRET.hex()}\n"]
    ids = {configured_key(Settings.from_env({"SUPPORTLOG_LOG_KEY": text,
                                             "SUPPORTLOG_HOME": str(tmp_path)})).id
           for text in texts}
    assert ids == {LogKey(SECRET).id}


@pytest.mark.parametrize("text", ["ab" * 31, "ab" * 33, "zz" * 32,
                                  base64.b64encode(SECRET[:16]).decode(), "secret!"])
def test_r_aud_3_a_malformed_key_is_refused_without_showing_it(text):
    with pytest.raises(LogKeyError) as raised:
        parse_key(text, "SUPPORTLOG_LOG_KEY")
    assert "SUPPORTLOG_LOG_KEY is not a log key" in str(raised.value)
    assert text not in str(raised.value)


def test_r_aud_3_the_key_never_shows_in_a_repr():
    settings = Settings.from_env({"SUPPORTLOG_LOG_KEY": SECRET.hex()})
    key = LogKey(SECRET)
    assert SECRET.hex() not in repr(settings) and SECRET.hex() not in repr(key)
    assert repr(key) == f"LogKey(id={key.id})" and len(key.id) == 16
    assert "SUPPORTLOG_LOG_KEY" in ENVIRONMENT


def test_r_aud_3_each_use_of_the_key_has_its_own_mac():
    key, other = LogKey(SECRET), LogKey(bytes(32))
    event_hash = "0" * 64
    assert key.event_mac(event_hash) != other.event_mac(event_hash)
    assert key.event_mac(event_hash) != key.links_mac(0, 0, event_hash.encode())
    assert key.record_mac(key.id, 0, 1) != key.record_mac(key.id, 1, 1) != \
        key.record_mac(key.id, 1, 2)
    assert LogKey.same(key.event_mac(event_hash), key.event_mac(event_hash))
    assert not LogKey.same(key.event_mac(event_hash), None)


def test_r_aud_3_a_process_with_another_key_or_none_reads_but_may_not_write(settings):
    first = bootstrap(settings)
    try:
        first.desk.adopt(builtin_profile("cs-cart"), START)
        head = first.desk.recorder.max_notification_id()
    finally:
        first.close()
    for other, problem in (
            (replace(settings, home=settings.home / "another-host"),  # no key there
             f"this store is sealed with log key {first.log_key.id}, and no key is"),
            (replace(settings, log_key=SECRET.hex()),
             f"id {LogKey(SECRET).id}\\) is not this store's key \\(id "
             f"{first.log_key.id}\\)")):
        system = bootstrap(other)
        try:
            assert system.log_key is None
            assert system.desk.recorder.max_notification_id() == head  # it reads
            with pytest.raises(LogKeyError, match=problem):
                system.desk.adopt(builtin_profile("insales"), START)
            with pytest.raises(LogKeyError, match=problem):
                system.relay()
            assert system.desk.recorder.max_notification_id() == head  # nothing written
        finally:
            system.close()
    assert not (settings.home / "another-host" / "log.key").exists()  # none created
    again = bootstrap(replace(settings, log_key=(settings.home / "log.key").read_text()))
    try:
        assert again.log_key.id == first.log_key.id
        again.desk.adopt(builtin_profile("insales"), START)
        assert again.desk.recorder.max_notification_id() > head
    finally:
        again.close()


@given(secret=st.binary(min_size=32, max_size=32), event_hash=st.text(max_size=80))
def test_r_aud_3_the_mac_is_hmac_sha256(secret, event_hash):
    assert LogKey(secret).event_mac(event_hash) == hmac.digest(
        secret, b"event\x00" + event_hash.encode(), hashlib.sha256).hex()
