"""What Apache Kafka has and Tansu lacks, used correctly on both (issue #17, item 3;
docs/brokers.md lists every difference found). Each test runs on the run's broker and
states what holds there: Apache Kafka keeps the topic configs and answers ListOffsets
right and refuses a session below its floor; Tansu accepts and ignores configs and
answers ListOffsets short (the relay, `status` and the projector read the extent from
fetches there, which is right on both).
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from eventlog.kafka_config import TOPIC_CONFIGS, ensure_topic, make_admin, make_producer
from eventlog.topic_reader import high_water_marks
from tests.conftest import BROKER, wait_for
from tests.integration.test_projector import SUPPORTLOG, cli_env

pytestmark = pytest.mark.broker


def topic_config(bootstrap: str, topic: str) -> dict[str, tuple[str, str]]:
    """The topic's configs as the broker states them: name -> (value, source)."""
    admin = make_admin(bootstrap)
    try:
        answer = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    return {name: (c["value"], c["config_source"])
            for name, c in answer["topic"][topic].items()}


def test_topics_are_created_to_keep_every_record(settings):
    ensure_topic(settings.kafka_bootstrap, settings.topic, settings.partitions)
    configs = topic_config(settings.kafka_bootstrap, settings.topic)
    if BROKER == "apache-kafka":  # stored as the topic's own
        assert {name: configs[name] for name in TOPIC_CONFIGS} == {
            name: (value, "DYNAMIC_TOPIC_CONFIG") for name, value in TOPIC_CONFIGS.items()}
    else:  # Tansu takes the request and keeps none of it: it is memory-only anyway
        assert all(configs.get(name, ("", ""))[1] != "DYNAMIC_TOPIC_CONFIG"
                   for name in TOPIC_CONFIGS), configs


def test_the_extent_from_fetches_is_right_on_both_and_list_offsets_on_apache_kafka(settings):
    ensure_topic(settings.kafka_bootstrap, settings.topic, 1)
    producer = make_producer(settings.kafka_bootstrap, linger_ms=0)
    try:
        for _ in range(5):  # five record batches of 20
            for n in range(20):
                producer.send(settings.topic, key=b"k", value=str(n).encode(), partition=0)
            producer.flush()
    finally:
        producer.close()
    assert high_water_marks(settings.kafka_bootstrap, settings.topic) == {0: 100}
    listed = high_water_marks(settings.kafka_bootstrap, settings.topic, list_offsets=True)
    if BROKER == "apache-kafka":
        assert listed == {0: 100}
    else:  # the last batch's base offset + 1: why status and the relay never ask it there
        assert listed[0] < 100


def test_a_session_timeout_below_the_brokers_floor_is_one_line_on_apache_kafka(settings,
                                                                              tmp_path):
    """The embedded Apache Kafka allows 1 s sessions (a stock broker: 6 s); Tansu takes
    any. Below the floor `supportlog project` says so in one line (exit 2)."""
    ensure_topic(settings.kafka_bootstrap, settings.topic, settings.partitions)
    log_path = tmp_path / "project.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(SUPPORTLOG), "project", "--session-timeout-ms", "500"],
            env={**os.environ, **cli_env(settings)}, stdout=log, stderr=log)
    try:
        if BROKER == "apache-kafka":
            assert process.wait(timeout=60) == 2
            errors = [line for line in log_path.read_text().splitlines()
                      if line.startswith("error:")]
            assert errors == [
                "error: invalid_argument: --session-timeout-ms: the broker refuses a 500 ms "
                "session: it must lie within its group.min.session.timeout.ms and "
                "group.max.session.timeout.ms (Apache Kafka's defaults: 6000 and 1800000)"]
        else:
            wait_for(lambda: process.poll() is not None
                     or "partitions assigned" in log_path.read_text(), 60,
                     "the projector to join")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0, log_path.read_text()[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
