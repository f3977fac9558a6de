"""Settings come from the environment once, and a value the program cannot use is an
error naming the variable, not a surprise later."""

from __future__ import annotations

import pytest

from supportlog.settings import ENVIRONMENT, Settings, SettingsError


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.embedded
    assert settings.partitions == 8
    assert settings.desk_cache == 10_000


def test_the_desk_cache_can_be_sized_or_turned_off() -> None:
    assert Settings.from_env({"SUPPORTLOG_DESK_CACHE": "250"}).desk_cache == 250
    assert Settings.from_env({"SUPPORTLOG_DESK_CACHE": "0"}).desk_cache == 0


def test_the_api_rate_limit_read_wait_and_key_retention_are_settings() -> None:
    settings = Settings.from_env({"SUPPORTLOG_RATE_LIMIT": "5,20", "SUPPORTLOG_READ_WAIT": "2.5",
                                  "SUPPORTLOG_IDEMPOTENCY_HOURS": "48"})
    assert (settings.rate_per_s, settings.rate_burst) == (5.0, 20)
    assert (settings.read_wait_s, settings.idempotency_hours) == (2.5, 48)
    assert Settings.from_env({"SUPPORTLOG_RATE_LIMIT": "0"}).rate_per_s == 0
    assert Settings.from_env({}).rate_burst == 100


@pytest.mark.parametrize(("name", "value"), [
    ("SUPPORTLOG_DESK_CACHE", "-1"), ("SUPPORTLOG_DESK_CACHE", "lots"),
    ("SUPPORTLOG_PARTITIONS", "0"), ("SUPPORTLOG_PARTITIONS", "8.5"),
    ("SUPPORTLOG_RATE_LIMIT", "fast"), ("SUPPORTLOG_RATE_LIMIT", "5,0"),
    ("SUPPORTLOG_RATE_LIMIT", "-1"), ("SUPPORTLOG_READ_WAIT", "0"),
    ("SUPPORTLOG_READ_WAIT", "nan"), ("SUPPORTLOG_IDEMPOTENCY_HOURS", "23"),
])
def test_a_bad_number_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_every_variable_read_is_documented_in_the_readme() -> None:
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in ENVIRONMENT)
