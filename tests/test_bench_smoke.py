"""`supportlog bench` at a tiny size, so the benchmark keeps working: it runs every stage
and prints one JSON object of the documented shape. The figures themselves mean nothing
at this size; the real run is `supportlog bench --events 100000 --json`."""

from __future__ import annotations

import json

from click.testing import CliRunner

from supportlog.bench.goals import GOALS
from supportlog.cli import main
from supportlog.settings import Settings

RATIOS = {"ingest_vs_es_save", "ingest_sealed_vs_unsealed", "relay_vs_raw_produce",
          "projection_vs_naive", "projection_vs_raw_consume", "rebuild_vs_raw_read",
          "http_vs_ingest"}


def _bench_json(settings: Settings) -> dict:
    env = {"DATABASE_URL": settings.database_url, "KAFKA_BOOTSTRAP_SERVERS":
           settings.kafka_bootstrap, "SUPPORTLOG_TOPIC": settings.topic,
           "SUPPORTLOG_GROUP": settings.group_id, "SUPPORTLOG_PARTITIONS": "2",
           "SUPPORTLOG_HOME": str(settings.home)}
    result = CliRunner().invoke(main, ["bench", "--events", "150", "--days", "2",
                                       "--latency-samples", "3", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("{"), "progress output into a pipe"
    return json.loads(result.stdout)


def test_bench_prints_every_ratio_figure_latency_and_the_environment(settings):
    out = _bench_json(settings)

    assert set(out["ratios"]) == RATIOS
    assert all(isinstance(v, float) and v > 0 for v in out["ratios"].values())
    assert isinstance(out["rss_growth"], float)
    for stage, names in {"ingest": ("domain", "es_save", "unsealed"),
                         "relay": ("relay", "raw_produce"),
                         "projection": ("projector", "naive", "raw_consume"),
                         "rebuild": ("rebuild", "raw_read")}.items():
        for name in names:
            assert out["figures"][stage][name]["items"] > 0
            assert out["figures"][stage][name]["per_s"] > 0
    assert out["figures"]["relay"]["relay"]["items"] == out["events"]
    http = out["figures"]["http"]
    assert http["api"]["items"] == http["in_process"]["items"] > 0
    assert http["api_without_keys"]["items"] == http["api"]["items"]
    assert set(http["api"]["statuses"]) <= {"200", "400", "404", "409", "422"}
    # The same commands on both sides: as many refused through the API as in process.
    refused_over_http = sum(n for s, n in http["api"]["statuses"].items() if s != "200")
    assert refused_over_http == sum(http["in_process"]["refused"].values())
    write = out["latency"]["http_write"]
    assert write["samples"] == http["api"]["items"] and write["clients"] == 8
    assert 0 < write["p50_ms"] <= write["p99_ms"]
    latency = out["latency"]
    assert latency["as_of"]["at_n_ms"] > 0 and latency["as_of"]["at_n_100_ms"] > 0
    for path in ("command_to_projection", "broker_produce_to_consume"):
        assert latency[path]["samples"] == 3
        assert latency[path]["p50_ms"] <= latency[path]["p99_ms"]
    assert set(out["environment"]) >= {"cpu_count", "python", "postgresql", "broker"}
    assert set(out["goals"]) == {g.name for g in GOALS}
