"""``dasedge broker start|stop|status``: a local Apache Kafka broker for the edge box and CI.

State (pid file, bootstrap file, broker data and logs) lives in ``--state-dir``
(default ``$DASEDGE_KAFKA_STATE`` or ``./.kafka``).  ``start`` prints the bootstrap
address (``127.0.0.1:PORT``) on stdout, so ``export KAFKA_BOOTSTRAP=$(dasedge broker start)``
works in a shell or CI job.

``--config FILE`` (or ``$DASEDGE_KAFKA_CONFIG``) merges a site ``server.properties`` (e.g.
``deploy/edge-kafka/server.properties``: retention sized to the disk, size limits aligned with
the producer, commit metadata size) over the generated KRaft configuration; listeners, roles
and the data folder stay dasedge's (the file's ``PLAINTEXT`` listener port is used when
``--port`` is not given).  The effective file is ``STATE/data/server.properties``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dasedge.streaming.broker import (
    KAFKA_VERSION,
    BrokerError,
    LocalKafka,
    _listener_port,
    api_versions_ok,
    ensure_jars,
    is_kafka_pid,
    read_properties,
    site_overrides,
    stop_pid,
)


def default_state_dir() -> Path:
    return Path(os.environ.get("DASEDGE_KAFKA_STATE", ".kafka")).expanduser()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["start", "stop", "status", "fetch"],
                        help="start (detached), stop, status, or fetch the jars only")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="pid/port files and broker data (default $DASEDGE_KAFKA_STATE or ./.kafka)")
    parser.add_argument("--port", type=int, default=None, help="client port (default: free port / remembered)")
    parser.add_argument("--partitions", type=int, default=None, help="default partitions of auto-created topics")
    parser.add_argument("--timeout", type=float, default=120.0, help="start/stop timeout in seconds")
    parser.add_argument("--config", type=Path, default=os.environ.get("DASEDGE_KAFKA_CONFIG") or None,
                        help="site server.properties merged over the generated KRaft settings "
                             "(default $DASEDGE_KAFKA_CONFIG; log.retention.bytes=auto sizes retention to the disk)")


def _read_state(state: Path) -> tuple[int | None, str | None]:
    try:
        pid = int((state / "broker.pid").read_text().strip())
    except (OSError, ValueError):
        pid = None
    try:
        bootstrap = (state / "broker.bootstrap").read_text().strip()
    except OSError:
        bootstrap = None
    return pid, bootstrap


def run(args: argparse.Namespace) -> int:
    state = (args.state_dir or default_state_dir()).resolve()
    pid, bootstrap = _read_state(state)
    running = pid is not None and is_kafka_pid(pid)
    if args.action == "fetch":
        print(ensure_jars())
        return 0
    if args.action == "status":
        if running and bootstrap and api_versions_ok(bootstrap):
            print(f"running pid={pid} bootstrap={bootstrap} kafka={KAFKA_VERSION}")
            return 0
        print("running (not answering)" if running else "stopped")
        return 1
    if args.action == "stop":
        if not running:
            print("stopped")
            (state / "broker.pid").unlink(missing_ok=True)
            return 0
        stop_pid(pid, timeout_s=min(args.timeout, 60))
        (state / "broker.pid").unlink(missing_ok=True)
        print(f"stopped pid={pid}")
        return 0
    # start
    if running and bootstrap:
        print(bootstrap)
        return 0
    state.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, str] = {}
    port = args.port
    if args.config:
        try:
            props = read_properties(args.config)
            overrides, notes = site_overrides(props, state / "data")
        except (OSError, BrokerError) as exc:
            print(f"dasedge broker: --config {args.config}: {exc}", file=sys.stderr)
            return 2
        for note in notes:
            print(f"dasedge broker: --config {args.config}: {note}", file=sys.stderr)
        if port is None:
            port = _listener_port(props.get("listeners", ""), "PLAINTEXT")
    if args.partitions:
        overrides["num.partitions"] = str(args.partitions)
    kafka = LocalKafka(state / "data", port=port, overrides=overrides or None, detach=True)
    try:
        kafka.start(timeout_s=args.timeout)
    except BrokerError as exc:
        print(f"dasedge broker: {exc}", file=sys.stderr)
        return 1
    (state / "broker.pid").write_text(f"{kafka.pid}\n")
    (state / "broker.bootstrap").write_text(f"{kafka.bootstrap}\n")
    print(kafka.bootstrap)
    return 0
