"""docker-compose.yml cannot run here (no container engine), so its structure is tested:
the services, the images, and that the environment it sets is what the code reads."""

from __future__ import annotations

from pathlib import Path

import yaml

from supportlog.settings import ENVIRONMENT, Settings

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_kafka_in_kraft_mode_postgres_and_supportlog():
    services = _compose()["services"]
    assert set(services) == {"kafka", "postgres", "supportlog"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    kafka_env = services["kafka"]["environment"]
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"]
    assert not any("ZOOKEEPER" in key for key in kafka_env)
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["postgres"]["image"] in ("postgres:17", "postgres:18")


def test_compose_runs_the_apache_kafka_version_the_tests_run():
    """The image's tag is the version of the embedded broker that `./sl test --broker
    apache-kafka` runs (supportlog/embedded/pom.xml), so compose runs what was tested."""
    from supportlog.embedded.apache_kafka import pom_version

    image = _compose()["services"]["kafka"]["image"]
    assert image == f"apache/kafka:{pom_version()}"


def test_supportlog_service_runs_the_production_command_with_settings_the_code_reads():
    service = _compose()["services"]["supportlog"]
    assert service["command"] == ["supportlog", "run"]
    env = service["environment"]
    assert set(env) <= set(ENVIRONMENT)
    settings = Settings.from_env({k: str(v) for k, v in env.items()})
    assert not settings.embedded
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.broker == "apache-kafka" and settings.trusts_list_offsets
    assert "@postgres:5432/" in settings.database_url
    assert set(service["depends_on"]) == {"kafka", "postgres"}


def test_dockerfile_builds_on_python_3_11_slim_and_runs_supportlog():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.splitlines()[2] == "FROM python:3.11-slim"
    assert 'CMD ["supportlog", "run"]' in dockerfile
