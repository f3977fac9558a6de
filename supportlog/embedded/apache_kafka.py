"""The embedded Apache Kafka broker: one KRaft node (broker and controller in one JVM) of
the version `pom.xml` names, assembled from Maven Central, on loopback ports.

Tansu is light but memory-only and lenient; Apache Kafka is the broker production runs
(architecture decisions 7 and 11), so the broker-facing tests and the bench run on it
too. The jars are fetched once with `mvn dependency:copy-dependencies` into a cache
outside the work tree (`<cache>/kafka-<version>/libs`, shared by every home), the KRaft
storage is formatted once under the home folder, and the node keeps its data, cluster
id and ports across restarts: a restarted broker still holds the topic, the consumer
groups' offsets and the idempotent producers' state, so nothing needs a refill.

The configuration is a single node's (replication factor 1, min.insync.replicas 1; see
docs/brokers.md for a real cluster) with three settings for a machine that runs tests:
groups rebalance at once (group.initial.rebalance.delay.ms=0), sessions may be as short
as 1 s (group.min.session.timeout.ms=1000; a stock broker refuses below 6 s), and a node
killed with SIGKILL registers again after 4 s instead of 9 (broker.session.timeout.ms).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import logging
import shutil
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from supportlog.embedded.processes import (
    EmbeddedError,
    ServerState,
    claim_port,
    kill_by_pid,
    pid_alive,
    port_open,
)

POM = Path(__file__).with_name("pom.xml")
#: Start to ready: ~3 s on a quiet machine, 10-36 s on two loaded cores after a SIGKILL
#: (the node waits out its old session, then recovers every partition log).
START_TIMEOUT_S = 120.0
#: A controlled shutdown takes 0.5-7 s (more partitions, longer); SIGKILL after this.
STOP_TIMEOUT_S = 30.0
_HEAP = ["-Xms128m", "-Xmx512m"]
_JVM = ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExplicitGCInvokesConcurrent",
        "-XX:-UsePerfData", "-Djava.awt.headless=true"]

_LOG4J2 = """\
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def pom_version() -> str:
    """Returns the Apache Kafka version `pom.xml` names (the one version the project
    runs: embedded, in CI and in docker-compose.yml)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    found = ET.parse(POM).getroot().find("m:properties/m:kafka.version", ns)
    if found is None or not (found.text or "").strip():
        raise EmbeddedError(f"{POM} names no kafka.version")
    return found.text.strip()


def require_tool(tool: str) -> str:
    """Returns the path of `java` or `mvn`; raises EmbeddedError saying what to install."""
    path = shutil.which(tool)
    if path is None:
        what = {"java": "a Java runtime 17 or newer (Debian: apt-get install "
                        "openjdk-17-jre-headless)",
                "mvn": "Maven 3.6 or newer (Debian: apt-get install maven)"}[tool]
        raise EmbeddedError(f"SUPPORTLOG_BROKER=apache-kafka needs `{tool}`, which is not "
                            f"on PATH: install {what}, or use SUPPORTLOG_BROKER=tansu")
    return path


def preflight(cache: Path) -> None:
    """Fails at once, in one line, if `java` is missing, or `mvn` while the jars are not
    fetched yet: before anything else of the home is started."""
    require_tool("java")
    if not (cache / f"kafka-{pom_version()}" / ".complete").exists():
        require_tool("mvn")


def fetch_jars(cache: Path, version: str | None = None) -> Path:
    """Returns the folder of the broker's jars, fetching them with Maven the first time
    (under a lock: two homes starting at once fetch once). Needs `mvn` only then."""
    version = version or pom_version()
    root = cache / f"kafka-{version}"
    libs, done = root / "libs", root / ".complete"
    if done.exists():
        return libs
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return libs
        mvn = require_tool("mvn")
        partial = root / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        out = subprocess.run(
            [mvn, "-q", "-B", "-f", str(POM), f"-Dkafka.version={version}",
             "dependency:copy-dependencies", f"-DoutputDirectory={partial}"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
        if out.returncode != 0:
            last = (out.stdout + out.stderr).strip().splitlines()[-3:]
            raise EmbeddedError(f"mvn could not fetch Apache Kafka {version} from Maven "
                                f"Central: {' / '.join(last)}")
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        done.write_text(f"{version}\n")
    return libs


def jar_version(libs: Path) -> str:
    """Returns the version stamped in the kafka-clients jar (what actually runs)."""
    for jar in sorted(libs.glob("kafka-clients-*.jar")):
        with zipfile.ZipFile(jar) as archive:
            props = archive.read("kafka/kafka-version.properties").decode()
        for line in props.splitlines():
            if line.startswith("version="):
                return line.split("=", 1)[1].strip()
    raise EmbeddedError(f"no kafka-clients jar in {libs}")


def _server_properties(data: Path, port: int, controller_port: int) -> str:
    return f"""\
# One combined KRaft node (broker and controller) on loopback, written by supportlog
# at every start from the ports recorded in infra.json (see apache_kafka.py).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=2
"""


def _cluster_id() -> str:
    """A KRaft cluster id as `kafka-storage random-uuid` prints it (16 random bytes,
    URL-safe base64), made here to save a JVM start; never starting with '-', which the
    storage tool's argument parser would take for an option."""
    while True:
        cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster.startswith("-"):
            return cluster


def _java(libs: Path, root: Path, heap: list[str], *args: str) -> list[str]:
    return [require_tool("java"), *heap, *_JVM,
            f"-Dlog4j2.configurationFile={root / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={root / 'logs'}", "-cp", f"{libs}/*", *args]


def _format(libs: Path, root: Path) -> None:
    """Formats the KRaft storage once (a formatted folder keeps its cluster id)."""
    if (root / "data" / "meta.properties").exists():
        return
    out = subprocess.run(
        _java(libs, root, ["-Xmx256m"], "kafka.tools.StorageTool", "format",
              "--config", str(root / "server.properties"), f"--cluster-id={_cluster_id()}",
              "--ignore-formatted"),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if out.returncode != 0:
        raise EmbeddedError(f"formatting Apache Kafka's storage in {root} failed: "
                            f"{(out.stdout + out.stderr).strip()[-500:]}")


def start_broker(home: Path, cache: Path, port: int | None = None,
                 controller_port: int | None = None) -> ServerState:
    """Starts the node with its data under `home`/kafka on the given ports (free ones
    the first time) and returns once it serves as an unfenced broker."""
    libs = fetch_jars(cache)
    root = home / "kafka"
    (root / "logs").mkdir(parents=True, exist_ok=True)
    port = claim_port(port, "the embedded Apache Kafka broker")
    controller_port = claim_port(controller_port, "the embedded Apache Kafka controller")
    (root / "server.properties").write_text(
        _server_properties(root / "data", port, controller_port))
    (root / "log4j2.properties").write_text(_LOG4J2)
    _format(libs, root)
    log_path = root / "logs" / "server.log"
    with open(root / "logs" / "stdout.log", "ab") as out:
        process = subprocess.Popen(
            _java(libs, root, _HEAP, "kafka.Kafka", str(root / "server.properties")),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)  # not in our process group: Ctrl-C must not kill it
    state = ServerState("kafka", process.pid, port, f"127.0.0.1:{port}", str(log_path),
                        kind="apache-kafka", version=jar_version(libs),
                        ports={"controller": controller_port})
    try:
        _wait_ready(state)
    except EmbeddedError:
        kill_by_pid(process.pid, STOP_TIMEOUT_S)
        raise
    return state


def _wait_ready(state: ServerState) -> None:
    """Waits until the node answers a metadata request naming itself an unfenced broker
    (after a SIGKILL it first waits out its previous session)."""
    from eventlog.kafka_config import make_admin

    deadline = time.monotonic() + START_TIMEOUT_S
    quiet = logging.getLogger("kafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # refused connections while it starts are expected
    try:
        while True:
            if not pid_alive(state.pid):
                raise EmbeddedError(f"Apache Kafka exited at start; see {state.log_path}")
            if port_open(state.port):
                with contextlib.suppress(Exception):  # not ready yet: asked again below
                    admin = make_admin(state.address, request_timeout_ms=3000,
                                       bootstrap_timeout_ms=3000)
                    try:
                        brokers = admin.describe_cluster()["brokers"]
                    finally:
                        admin.close()
                    if any(not b.get("is_fenced") for b in brokers):
                        return
            if time.monotonic() > deadline:
                raise EmbeddedError(f"Apache Kafka did not serve within "
                                    f"{START_TIMEOUT_S:.0f}s; see {state.log_path}")
            time.sleep(0.2)
    finally:
        quiet.setLevel(level)


def stop_broker(state: ServerState) -> None:
    """Stops the node: SIGTERM (a controlled shutdown, so the next start recovers no
    log), SIGKILL after STOP_TIMEOUT_S."""
    kill_by_pid(state.pid, STOP_TIMEOUT_S)
