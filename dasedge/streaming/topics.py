"""Topic helpers (create with the right size limits, wait until usable)."""

from __future__ import annotations

import time

from dasedge.streaming.broker import MESSAGE_MAX_BYTES


def create_topic(
    bootstrap: str,
    name: str,
    partitions: int = 1,
    *,
    config: dict[str, str] | None = None,
    timeout_s: float = 30.0,
) -> str:
    """Create ``name`` (no error if it already exists) and wait until it has a leader.

    ``max.message.bytes`` defaults to the broker's 32 MiB DAS limit.
    """
    from kafka import KafkaConsumer
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    cfg = {"max.message.bytes": str(MESSAGE_MAX_BYTES)}
    cfg.update(config or {})
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="dasedge-admin")
    try:
        try:
            admin.create_topics([NewTopic(name, partitions, 1, topic_configs=cfg)], timeout_ms=int(timeout_s * 1000))
        except TopicAlreadyExistsError:
            pass
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="dasedge-admin-wait")
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(name)
            if parts and len(parts) >= partitions:
                return name
            time.sleep(0.2)
    finally:
        consumer.close()
    raise TimeoutError(f"topic {name!r} has no partitions after {timeout_s:.0f} s")


def delete_topic(bootstrap: str, name: str) -> None:
    """Delete ``name``; errors (already gone) are ignored."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="dasedge-admin")
    try:
        admin.delete_topics([name], timeout_ms=30000)
    except Exception:
        pass
    finally:
        admin.close()


def send_records(producer, topic: str, records) -> None:
    """Send result records (``.id``, ``.to_dict()``) to ``topic`` as JSON keyed by id; the caller flushes."""
    import json

    for r in records:
        producer.send(topic, key=r.id.encode(), value=json.dumps(r.to_dict()).encode())
