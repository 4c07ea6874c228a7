"""The session broker is a real Apache Kafka 4.3 that honours the DAS size limits."""

from __future__ import annotations

import numpy as np
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient

from dasedge.streaming.broker import MESSAGE_MAX_BYTES


def test_broker_round_trips_an_8mib_record(kafka_bootstrap, fresh_topic):
    topic = fresh_topic("broker")
    payload = np.random.default_rng(1).standard_normal(2 * 1024 * 1024).astype("<f4").tobytes()  # 8 MiB
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=MESSAGE_MAX_BYTES, acks="all")
    meta = producer.send(topic, key=b"fiber0", value=payload, headers=[("h", b"1")]).get(timeout=60)
    producer.close()
    assert meta.offset == 0
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=MESSAGE_MAX_BYTES,
                             consumer_timeout_ms=20000)
    got = next(iter(consumer))
    consumer.close()
    assert got.key == b"fiber0" and got.value == payload and got.headers == [("h", b"1")]


def test_broker_is_apache_kafka_4(kafka_bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        # kafka-python identifies the broker from its ApiVersions answer
        version = admin._client.check_version(timeout_ms=10000) if hasattr(admin._client, "check_version") else None
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    assert cluster["brokers"] and cluster["brokers"][0]["host"] == "127.0.0.1"
    if version is not None:
        assert tuple(version)[:1] >= (4,)


def test_broker_cli_reports_status(kafka_state_dir, tmp_path):
    import subprocess
    import sys

    def status(state):
        return subprocess.run([sys.executable, "-m", "dasedge.cli", "broker", "status", "--state-dir", str(state)],
                              capture_output=True, text=True, timeout=60)

    empty = status(tmp_path / "nothing")
    assert empty.returncode == 1 and empty.stdout.strip() == "stopped"
    if kafka_state_dir is not None:  # the session broker was started by `dasedge broker start`
        running = status(kafka_state_dir)
        bootstrap = (kafka_state_dir / "broker.bootstrap").read_text().strip()
        assert running.returncode == 0 and f"bootstrap={bootstrap}" in running.stdout and "kafka=4.3" in running.stdout


# ----------------------------------------------------------- --config FILE
EDGE_PROPERTIES = "deploy/edge-kafka/server.properties"


def _broker_cli(*args, timeout=240):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-m", "dasedge.cli", "broker", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=root)


def test_site_config_merge_rules(tmp_path):
    """Managed keys are dropped, ``auto`` retention is 60 % of the disk / partitions, a site
    retention time replaces the template's, and limits below the producer's record size are refused."""
    import shutil

    import pytest

    from dasedge.streaming.broker import BrokerError, LocalKafka, read_properties, site_overrides

    f = tmp_path / "site.properties"
    f.write_text("# site\nlisteners=PLAINTEXT://0.0.0.0:1\nlog.dirs=/nowhere\nnum.partitions = 3\n"
                 "log.retention.bytes=auto\nlog.retention.hours: 5\nmessage.max.bytes=33554432\n"
                 "offset.metadata.max.bytes=1048576\n")
    props = read_properties(f)
    assert props["num.partitions"] == "3" and props["log.retention.hours"] == "5"
    over, notes = site_overrides(props, tmp_path / "data")
    assert "listeners" not in over and "log.dirs" not in over and len([n for n in notes if "ignored" in n]) == 2
    disk = shutil.disk_usage(tmp_path).total
    assert int(over["log.retention.bytes"]) == int(0.6 * disk / 3)
    k = LocalKafka(tmp_path / "data", port=19092, overrides=over)
    k.data_dir.mkdir(parents=True)
    eff = read_properties(k.render_config())
    assert eff["log.retention.hours"] == "5" and "log.retention.ms" not in eff  # template's 1 h gone
    assert eff["listeners"].startswith("PLAINTEXT://127.0.0.1:19092") and eff["log.dirs"] == str(k.kafka_log_dirs)
    assert eff["offset.metadata.max.bytes"] == "1048576" and eff["num.partitions"] == "3"
    with pytest.raises(BrokerError, match="message.max.bytes"):
        site_overrides({"message.max.bytes": str(4 * 1024 * 1024)}, tmp_path)
    with pytest.raises(BrokerError, match="replica.fetch.max.bytes"):
        site_overrides({"message.max.bytes": "33554432", "replica.fetch.max.bytes": "1048576"}, tmp_path)
    bad = tmp_path / "bad.properties"
    bad.write_text("message.max.bytes=1000000\n")
    r = _broker_cli("start", "--state-dir", tmp_path / "never", "--config", bad, timeout=120)
    assert r.returncode == 2 and "message.max.bytes" in r.stderr and not (tmp_path / "never" / "data").exists()


def test_broker_start_with_edge_config_applies_it(tmp_path):
    """``dasedge broker start --config deploy/edge-kafka/server.properties`` (its own broker, the
    session one is left alone): the broker reports the file's settings as effective."""
    import shutil
    from pathlib import Path

    from kafka.admin import ConfigResource, ConfigResourceType

    from dasedge.streaming.broker import free_port, read_properties

    root = Path(__file__).resolve().parents[2]
    site = read_properties(root / EDGE_PROPERTIES)
    state = tmp_path / "kafka"
    port = free_port()
    r = _broker_cli("start", "--state-dir", state, "--port", port, "--config", root / EDGE_PROPERTIES,
                    "--timeout", 200, timeout=260)
    assert r.returncode == 0, r.stderr[-3000:]
    try:
        bootstrap = r.stdout.strip().splitlines()[-1]
        assert bootstrap == f"127.0.0.1:{port}"
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
        try:
            # kafka-python 3: {resource_type: {resource_name: {key: {"value": ..., ...}}}}, all keys
            resp = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")], config_filter="all")
        finally:
            admin.close()
        configs = resp["broker"]["1"]
        eff = {k: v.get("value") for k, v in configs.items()}
    finally:
        stop = _broker_cli("stop", "--state-dir", state, "--timeout", 60, timeout=120)
        assert stop.returncode == 0, stop.stderr
    expect_retention = int(0.6 * shutil.disk_usage(state).total / int(site["num.partitions"]))
    assert eff["message.max.bytes"] == site["message.max.bytes"] == str(MESSAGE_MAX_BYTES)
    assert eff["replica.fetch.max.bytes"] == site["replica.fetch.max.bytes"]
    assert eff["offset.metadata.max.bytes"] == site["offset.metadata.max.bytes"] == "1048576"
    assert eff["num.partitions"] == site["num.partitions"] == "4"
    assert eff["log.retention.hours"] == "6" and eff.get("log.retention.ms") in (None, "", "null")
    assert int(eff["log.retention.bytes"]) == expect_retention
    assert eff["log.segment.bytes"] == site["log.segment.bytes"]
    print(f"broker --config {EDGE_PROPERTIES}: effective message.max.bytes={eff['message.max.bytes']}, "
          f"offset.metadata.max.bytes={eff['offset.metadata.max.bytes']}, log.retention.bytes={eff['log.retention.bytes']}"
          f" (auto: 60 % of the disk / 4 partitions), log.retention.hours={eff['log.retention.hours']}")
