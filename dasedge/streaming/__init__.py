"""Streaming over Apache Kafka: local broker, record codec, ingest bridge, consumer runtime.

* :mod:`dasedge.streaming.broker` - ``LocalKafka``: a real Apache Kafka 4.3 (KRaft, 127.0.0.1)
  from Maven Central jars; ``dasedge broker start|stop|status``.
* :mod:`dasedge.streaming.codec` - ``encode_block`` / ``decode_record`` (headers + raw LE array).
* :mod:`dasedge.streaming.ingest` - files -> ``das.blocks`` (watch a folder / replay an archive)
  with a durable ledger; ``dasedge ingest``.
* :mod:`dasedge.streaming.windows` - sliding-window assembly (gaps, duplicates, out-of-order).
* :mod:`dasedge.streaming.runtime` - ``run_worker``: consumer groups, commit after the sink, DLQ.

Submodules are imported on demand (``from dasedge.streaming.runtime import run_worker``).
"""
