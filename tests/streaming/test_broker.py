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
