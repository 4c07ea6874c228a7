"""A real Apache Kafka broker (KRaft, single node, 127.0.0.1) started by dasedge.

The broker runs from the official Maven Central jars (``org.apache.kafka:kafka_2.13``)
on the local Java 17+.  The jars are fetched once with Maven
(``deploy/kafka/pom.xml``, ``dependency:copy-dependencies``) into a cache folder
outside the repository:

* ``$DASEDGE_KAFKA_LIBS`` if set, else
* ``$XDG_CACHE_HOME/dasedge/kafka-<version>/libs`` (``~/.cache/...``).

Usage::

    with LocalKafka("/tmp/kafka-data") as kafka:
        print(kafka.bootstrap)          # "127.0.0.1:PORT"

The lifecycle is: render ``server.properties`` from ``deploy/kafka/server.properties.template``,
format the storage (``kafka.tools.StorageTool format --standalone``), spawn
``java -cp libs/* kafka.Kafka server.properties``, and wait for a real ApiVersions
answer (a kafka-python admin ``list_topics()``), not just an open port.
``stop()`` sends SIGTERM (controlled shutdown) and SIGKILL after a timeout.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: Apache Kafka version fetched from Maven Central (must match deploy/kafka/pom.xml).
KAFKA_VERSION = "4.3.1"
#: broker / producer record limit (32 MiB); producers split records at 8 MiB.
MESSAGE_MAX_BYTES = 32 * 1024 * 1024

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"
POM = DEPLOY_DIR / "pom.xml"
TEMPLATE = DEPLOY_DIR / "server.properties.template"
LOG4J2 = DEPLOY_DIR / "log4j2.properties"


class BrokerError(RuntimeError):
    """The local broker could not be fetched, formatted, started or stopped."""


# ------------------------------------------------------------- site config
#: ``server.properties`` keys dasedge sets itself (listeners, KRaft roles, data folder): a
#: ``--config`` file cannot change them (use ``--port`` / ``--state-dir``).
MANAGED_KEYS = frozenset({
    "process.roles", "node.id", "controller.quorum.bootstrap.servers", "controller.quorum.voters", "listeners",
    "advertised.listeners", "inter.broker.listener.name", "controller.listener.names",
    "listener.security.protocol.map", "log.dirs", "log.dir",
})
#: retention time keys: Kafka uses the finest one set, so a site file's value replaces all of them
RETENTION_TIME_KEYS = ("log.retention.ms", "log.retention.minutes", "log.retention.hours")
#: the producer splits records at 8 MiB (codec.MAX_RECORD_BYTES); batch and header overhead on top
MIN_MESSAGE_MAX_BYTES = 8 * 1024 * 1024 + 1024 * 1024
#: workers keep resume points and small state in the commit metadata (see runtime)
MIN_OFFSET_METADATA_BYTES = 64 * 1024
#: ``log.retention.bytes=auto``: this fraction of the data disk, shared by ``num.partitions``
AUTO_RETENTION_DISK_FRACTION = 0.6


def read_properties(path: str | os.PathLike) -> dict[str, str]:
    """Parse a Java ``.properties`` file (``key=value`` / ``key: value``, ``#``/``!`` comments,
    trailing-backslash continuation lines).  Later keys win, as in Java."""
    props: dict[str, str] = {}
    pending = ""
    for raw in Path(path).read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#!":
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending = line[:-1]
            continue
        cut = min([i for i in (line.find("="), line.find(":")) if i >= 0], default=-1)
        key, value = (line, "") if cut < 0 else (line[:cut].strip(), line[cut + 1:].strip())
        props[key] = value
    if pending:
        props[pending.strip()] = ""
    return props


def _listener_port(listeners: str, name: str) -> int | None:
    for item in listeners.split(","):
        proto, _, addr = item.strip().partition("://")
        if proto == name and ":" in addr:
            try:
                return int(addr.rsplit(":", 1)[1])
            except ValueError:
                return None
    return None


def site_overrides(props: dict[str, str], data_dir: str | os.PathLike) -> tuple[dict[str, str], list[str]]:
    """Turn a site ``server.properties`` into overrides for :class:`LocalKafka` and check them.

    Managed keys (:data:`MANAGED_KEYS`) are dropped with a note; ``log.retention.bytes=auto``
    becomes :data:`AUTO_RETENTION_DISK_FRACTION` of the disk holding ``data_dir`` divided by
    ``num.partitions``.

    Returns
    -------
    overrides, notes
        Keys to write over the generated configuration, and one line per dropped key or warning.

    Raises
    ------
    BrokerError
        If the size limits do not fit what dasedge producers send (``message.max.bytes`` below
        an 8 MiB record plus overhead, ``replica.fetch.max.bytes`` below ``message.max.bytes``).
    """
    out, notes = {}, []
    for k, v in props.items():
        if k in MANAGED_KEYS:
            notes.append(f"{k} ignored (set by dasedge broker: use --port / --state-dir)")
            continue
        out[k] = v
    if out.get("log.retention.bytes", "").lower() == "auto":
        d = Path(data_dir)
        while not d.exists() and d != d.parent:
            d = d.parent
        parts = max(1, int(out.get("num.partitions", "1")))
        out["log.retention.bytes"] = str(int(AUTO_RETENTION_DISK_FRACTION * shutil.disk_usage(d).total / parts))
        notes.append(f"log.retention.bytes=auto -> {out['log.retention.bytes']} "
                     f"({AUTO_RETENTION_DISK_FRACTION:.0%} of the disk of {d} / {parts} partitions)")

    def as_int(key: str) -> int | None:
        if key not in out:
            return None
        try:
            return int(out[key])
        except ValueError:
            raise BrokerError(f"{key}={out[key]!r} is not an integer") from None

    mmb = as_int("message.max.bytes")
    if mmb is not None and mmb < MIN_MESSAGE_MAX_BYTES:
        raise BrokerError(f"message.max.bytes={mmb} is below {MIN_MESSAGE_MAX_BYTES}: dasedge producers send records "
                          f"up to 8 MiB (codec.MAX_RECORD_BYTES) plus headers; the broker would reject them")
    rfb = as_int("replica.fetch.max.bytes")
    if rfb is not None and rfb < (mmb or MESSAGE_MAX_BYTES):
        raise BrokerError(f"replica.fetch.max.bytes={rfb} is below message.max.bytes={mmb or MESSAGE_MAX_BYTES}")
    omb = as_int("offset.metadata.max.bytes")
    if omb is not None and omb < MIN_OFFSET_METADATA_BYTES:
        notes.append(f"offset.metadata.max.bytes={omb} < {MIN_OFFSET_METADATA_BYTES}: workers will commit without "
                     f"their state (restarts then rebuild it from the stream)")
    return out, notes


# ---------------------------------------------------------------------- jars
def libs_dir() -> Path:
    """Folder holding the broker jars (may not exist yet)."""
    env = os.environ.get("DASEDGE_KAFKA_LIBS")
    if env:
        return Path(env).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser()
    return cache / "dasedge" / f"kafka-{KAFKA_VERSION}" / "libs"


def _has_jars(libs: Path) -> bool:
    return libs.is_dir() and any(libs.glob("kafka_2.13-*.jar")) and any(libs.glob("log4j-core-*.jar"))


def ensure_jars(libs: Path | None = None, *, timeout_s: float = 900) -> Path:
    """Make sure the broker jars are in ``libs`` (fetching them with Maven if not).

    The download goes to a temporary sibling folder that is renamed into place, so an
    interrupted fetch never leaves a half-filled ``libs`` folder behind.

    Raises
    ------
    BrokerError
        If Maven is missing or the fetch fails (the Maven output tail is included).
    """
    libs = libs_dir() if libs is None else Path(libs)
    if _has_jars(libs):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(f"Kafka jars not in {libs} and `mvn` is not on PATH to fetch them")
    libs.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".libs-", dir=libs.parent))
    cmd = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={tmp}"]
    log.info("fetching Apache Kafka %s jars from Maven Central into %s", KAFKA_VERSION, libs)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BrokerError(f"mvn fetch of the Kafka jars timed out after {timeout_s:.0f} s") from exc
    if proc.returncode != 0 or not _has_jars(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise BrokerError("mvn fetch of the Kafka jars failed:\n" + "\n".join(tail))
    if libs.exists():  # a concurrent fetch won, or a partial folder: replace it
        if _has_jars(libs):
            shutil.rmtree(tmp, ignore_errors=True)
            return libs
        shutil.rmtree(libs, ignore_errors=True)
    os.replace(tmp, libs)
    return libs


# --------------------------------------------------------------------- utils
def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_cluster_id() -> str:
    """16 random bytes as base64url without padding (Kafka's ``Uuid`` string form).

    Like Kafka's own ``Uuid.randomUuid`` it never starts with ``-`` (the command line
    parser of the storage tool would read that as an option).
    """
    while True:
        cid = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def java_bin() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise BrokerError("`java` (17+) is not on PATH and JAVA_HOME is not set")
    return java


def api_versions_ok(bootstrap: str, timeout_s: float = 5.0) -> bool:
    """True if a Kafka broker at ``bootstrap`` answers ApiVersions + Metadata."""
    from kafka.admin import KafkaAdminClient

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=int(timeout_s * 1000),
            client_id="dasedge-broker-probe",
        )
    except Exception:  # NoBrokersAvailable, timeouts
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()


def _tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


# -------------------------------------------------------------------- broker
class LocalKafka:
    """A single-node Apache Kafka (KRaft combined mode) bound to 127.0.0.1.

    Parameters
    ----------
    data_dir
        Folder for the log segments, the rendered config and the broker logs.  Re-using
        a folder restarts the same cluster (the ports and cluster id are remembered in
        ``data_dir/broker.json``).
    port
        Client port; a free one is chosen if ``None`` (or the remembered one on restart).
    heap
        JVM heap (``-Xmx``); Kafka keeps records in the page cache, not the heap.
    overrides
        Extra ``server.properties`` keys (e.g. ``{"num.partitions": "3"}``).
    detach
        Start the JVM in its own session so it outlives this Python process (CLI use).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        port: int | None = None,
        *,
        heap: str = "768m",
        overrides: dict[str, str] | None = None,
        detach: bool = False,
        libs: str | os.PathLike | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.heap = heap
        self.overrides = dict(overrides or {})
        self.detach = detach
        self.libs = Path(libs) if libs is not None else libs_dir()
        self.proc: subprocess.Popen | None = None
        meta = self._read_meta()
        self.port = int(port or meta.get("port") or free_port())
        cport = meta.get("controller_port")
        self.controller_port = int(cport) if cport and int(cport) != self.port else free_port()
        self.cluster_id = str(meta.get("cluster_id") or new_cluster_id())

    # ---------------------------------------------------------------- paths
    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients."""
        return f"127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def kafka_log_dirs(self) -> Path:
        return self.data_dir / "kraft-data"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _read_meta(self) -> dict:
        try:
            return json.loads((self.data_dir / "broker.json").read_text())
        except (OSError, ValueError):
            return {}

    def _write_meta(self) -> None:
        meta = {"port": self.port, "controller_port": self.controller_port, "cluster_id": self.cluster_id,
                "version": KAFKA_VERSION}
        (self.data_dir / "broker.json").write_text(json.dumps(meta))

    # ------------------------------------------------------------- lifecycle
    def render_config(self) -> Path:
        """Write ``server.properties`` for this broker and return its path."""
        text = TEMPLATE.read_text().format(
            port=self.port, controller_port=self.controller_port, log_dir=self.kafka_log_dirs
        )
        if self.overrides:
            # an overridden key replaces the template's line (a retention time replaces all of them)
            drop = set(self.overrides)
            if drop & set(RETENTION_TIME_KEYS):
                drop |= set(RETENTION_TIME_KEYS)
            kept = [ln for ln in text.splitlines()
                    if ln.lstrip().startswith("#") or ln.split("=", 1)[0].strip() not in drop]
            text = "\n".join(kept) + "\n\n# overrides (--config / overrides=)\n" + "".join(
                f"{k}={v}\n" for k, v in self.overrides.items())
        self.config_path.write_text(text)
        return self.config_path

    def _java_cmd(self, main: str, *args: str, heap: str | None = None) -> list[str]:
        cmd = [java_bin()]
        if heap:
            cmd += [f"-Xms{min(heap, '256m', key=_mb)}", f"-Xmx{heap}"]
        cmd += [
            "-server",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J2}",
            f"-Dkafka.logs.dir={self.log_dir}",
            "-cp",
            str(self.libs / "*"),
            main,
            *args,
        ]
        return cmd

    def format_storage(self) -> None:
        """Format the KRaft storage (idempotent thanks to ``--ignore-formatted``)."""
        cmd = self._java_cmd(
            "kafka.tools.StorageTool", "format", f"--cluster-id={self.cluster_id}", "-c", str(self.config_path),
            "--standalone", "--ignore-formatted", heap="256m",
        )
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise BrokerError(f"kafka StorageTool format failed (rc {proc.returncode}): "
                              + (proc.stderr or proc.stdout).strip()[-1500:])

    def start(self, timeout_s: float = 120.0) -> "LocalKafka":
        """Fetch jars if needed, format, spawn the broker and wait until it answers.

        Raises
        ------
        BrokerError
            With the reason and the tail of the broker log if it does not come up.
        """
        if self.proc is not None and self.proc.poll() is None:
            return self
        ensure_jars(self.libs)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        self.kafka_log_dirs.mkdir(exist_ok=True)
        self._write_meta()
        self.render_config()
        self.format_storage()
        out = open(self.log_dir / "stdout.log", "ab")
        try:
            self.proc = subprocess.Popen(
                self._java_cmd("kafka.Kafka", str(self.config_path), heap=self.heap),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=self.detach,
            )
        finally:
            out.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise BrokerError(
                    f"Kafka broker exited with code {rc} during start-up; log tail:\n"
                    f"{_tail(self.log_dir / 'stdout.log')}\n{_tail(self.log_dir / 'server.log')}"
                )
            if _port_open(self.port) and api_versions_ok(self.bootstrap, timeout_s=5):
                log.info("Kafka %s up at %s (pid %d)", KAFKA_VERSION, self.bootstrap, self.proc.pid)
                return self
            time.sleep(0.5)
        self.stop()
        raise BrokerError(f"Kafka broker did not answer ApiVersions within {timeout_s:.0f} s; log tail:\n"
                          f"{_tail(self.log_dir / 'server.log')}")

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM (controlled shutdown), then SIGKILL after ``timeout_s``."""
        if self.proc is None:
            return
        stop_pid(self.proc.pid, timeout_s=timeout_s, proc=self.proc)
        self.proc = None

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> "LocalKafka":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _mb(size: str) -> int:
    size = size.strip().lower()
    mult = {"k": 1 / 1024, "m": 1, "g": 1024}.get(size[-1], 1 / (1024 * 1024))
    return int(float(size.rstrip("kmg")) * mult)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie counts as dead
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


def is_kafka_pid(pid: int) -> bool:
    """True if ``pid`` is a running ``kafka.Kafka`` JVM (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in cmdline and pid_alive(pid)


def stop_pid(pid: int, *, timeout_s: float = 30.0, proc: subprocess.Popen | None = None) -> bool:
    """Stop one broker process: SIGTERM, wait, SIGKILL.  Returns True if it was running."""
    if proc is not None:
        if proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("Kafka pid %d ignored SIGTERM for %.0f s; SIGKILL", pid, timeout_s)
            proc.kill()
            proc.wait(timeout=10)
        return True
    if not pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.2)
    log.warning("Kafka pid %d ignored SIGTERM for %.0f s; SIGKILL", pid, timeout_s)
    os.kill(pid, signal.SIGKILL)
    return True
