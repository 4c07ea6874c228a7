"""Consumer-group runtime: Kafka records -> sliding windows -> ``process`` -> durable ``sink``.

::

    run_worker(bootstrap, "das.blocks", "traffic", process, sink,
               window=WindowSpec(length_s=30, step_s=10), stop_event=ev)

Contract (at-least-once, no loss)
---------------------------------
* ``process(window: DASBlock, state) -> list[records]`` is a pure function of the window
  and a per-stream ``state`` object (a fresh ``dict`` by default, or ``state()`` if a
  factory is given) that it may update (e.g. last emitted vehicle ids).
* ``sink(records)`` is the durable store write; it must be an **idempotent upsert keyed by
  record id** (``dasedge.records.stable_id``): after a crash, windows that were sunk but
  not yet committed are processed and sunk again.
* Offsets are committed only after ``sink`` returned.  The committed offset of a
  partition is the oldest record still needed by a window that has not been emitted
  (each window tracks the offsets it covers), so a commit never passes an un-stored
  window.  With the offset the worker commits, as offset metadata, a small JSON of
  ``{stream: next window start}`` and the per-stream ``state`` (if JSON-serialisable -
  a dict, or an object with ``to_dict()`` and a ``from_dict()`` classmethod - and under
  ``max_state_bytes``): a restarted or re-assigned worker restores both, does not emit
  windows that were already stored, and continues from the stored state (a dict state is
  restored into a fresh ``state()`` object with ``update``, so dict subclasses keep their type).
* A fiber that goes silent keeps its partial window buffered, which pins the committed
  offset of its partition at that window's oldest record: after a restart the partition is
  re-read from there (windows already stored are suppressed by the resume points), so
  nothing is lost, at the cost of re-reading.
* Undecodable records go to ``<topic>.DLQ`` with the original key/value/headers plus
  ``dlq.error``, ``dlq.topic``, ``dlq.partition``, ``dlq.offset``, ``dlq.ts_ms``; the
  worker waits for the DLQ ack before committing past them.
* Gaps, duplicates and out-of-order records: see :mod:`dasedge.streaming.windows`.

Scaling: workers with the same ``group_id`` share the partitions; ingest keys records by
fiber (or fiber + channel block), so adding a worker up to the partition count scales out.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from dasedge.block import DASBlock
from dasedge.streaming.broker import MESSAGE_MAX_BYTES
from dasedge.streaming.codec import RecordError, decode_record
from dasedge.streaming.windows import Window, WindowAssembler, WindowSpec, stream_key_str

__all__ = ["WindowSpec", "Worker", "run_worker", "require_crc32c", "DEFAULT_TOPIC"]

log = logging.getLogger(__name__)

DEFAULT_TOPIC = "das.blocks"

Process = Callable[[DASBlock, Any], list]
Sink = Callable[[list], Any]


def require_crc32c() -> None:
    """kafka-python without ``crc32c`` computes CRCs in pure Python (about 20x slower)."""
    try:
        import crc32c  # noqa: F401
    except ImportError as exc:  # pragma: no cover - dependency is declared
        raise RuntimeError("the `crc32c` package is required for Kafka throughput (pip install crc32c)") from exc


# ------------------------------------------------------------------ metrics
_PROM: dict[str, Any] = {}
_PROM_LOCK = threading.Lock()


def _prom() -> dict[str, Any]:
    """Process-wide prometheus_client collectors (labels: topic, group)."""
    with _PROM_LOCK:
        if not _PROM:
            from prometheus_client import Counter, Gauge

            lab = ["topic", "group"]
            _PROM.update(
                records=Counter("dasedge_stream_records", "Kafka records consumed", lab),
                bytes=Counter("dasedge_stream_bytes", "Kafka record value bytes consumed", lab),
                windows=Counter("dasedge_stream_windows", "windows processed", lab),
                gaps=Counter("dasedge_stream_gaps", "gaps in a fiber stream (window restarted)", lab),
                duplicates=Counter("dasedge_stream_duplicates", "duplicate records dropped", lab),
                out_of_order=Counter("dasedge_stream_out_of_order", "out-of-order records dropped", lab),
                dlq=Counter("dasedge_stream_dlq", "records sent to the dead-letter topic", lab),
                results=Counter("dasedge_stream_results", "result records handed to the sink", lab),
                lag_records=Gauge("dasedge_kafka_lag_records", "highwater - position over assigned partitions", lab),
                lag_seconds=Gauge("dasedge_kafka_lag_seconds", "now - Kafka timestamp of the last record", lab),
                data_lag_seconds=Gauge("dasedge_data_lag_seconds", "now - end time of the last DAS data", lab),
                records_per_s=Gauge("dasedge_stream_records_per_second", "records/s since start", lab),
                mb_per_s=Gauge("dasedge_stream_megabytes_per_second", "MB/s since start", lab),
            )
    return _PROM


@dataclass
class Metrics:
    records: int = 0
    bytes: int = 0
    windows: int = 0
    gaps: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    dlq: int = 0
    results: int = 0
    commits: int = 0
    commit_failures: int = 0
    lag_records: int = 0
    lag_seconds: float = 0.0
    data_lag_seconds: float = 0.0
    started: float = 0.0
    busy_s: float = 0.0

    def as_dict(self) -> dict[str, float]:
        el = max(time.monotonic() - self.started, 1e-9)
        d = {k: v for k, v in self.__dict__.items() if k not in ("started",)}
        d["gaps_total"] = self.gaps
        d["duplicates_total"] = self.duplicates
        d["dlq_total"] = self.dlq
        d["elapsed_s"] = el
        d["records_per_s"] = self.records / el
        d["mb_per_s"] = self.bytes / el / 1e6
        return d


# ------------------------------------------------------------------- worker
class Worker:
    """One consumer-group member.  See the module docstring for the contract."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group_id: str,
        process: Process,
        sink: Sink,
        *,
        window: WindowSpec,
        state: Callable[[], Any] | None = None,
        dlq_topic: str | None = None,
        max_poll_records: int = 16,
        session_timeout_ms: int = 6000,
        heartbeat_interval_ms: int = 1000,
        max_poll_interval_ms: int = 300000,
        sink_retries: int = 3,
        max_state_bytes: int = 60000,
        on_process_error: str = "raise",
        client_id: str | None = None,
        prometheus: bool = True,
        on_poll: Callable[["Worker"], Any] | None = None,
    ) -> None:
        require_crc32c()
        self.bootstrap, self.topic, self.group_id = bootstrap, topic, group_id
        self.process, self.sink = process, sink
        self.on_poll = on_poll  # called after every poll (even idle ones): status heartbeats
        self.spec = window
        self.state_factory = state if state is not None else dict
        self.dlq_topic = dlq_topic or f"{topic}.DLQ"
        self.sink_retries = sink_retries
        self.max_state_bytes = max_state_bytes
        if on_process_error not in ("raise", "skip"):
            raise ValueError("on_process_error must be 'raise' or 'skip'")
        self.on_process_error = on_process_error
        self.client_id = client_id or f"dasedge-{group_id}-{uuid.uuid4().hex[:6]}"
        self.metrics = Metrics()
        self.assemblers: dict[int, WindowAssembler] = {}
        self.states: dict[int, dict[str, Any]] = {}  # partition -> stream -> user state
        self.raw_states: dict[int, dict[str, Any]] = {}  # restored JSON not yet handed to process
        self._state_warned = False
        self.next_offset: dict[int, int] = {}  # partition -> offset after the last handled record
        self.committed: dict[int, tuple[int, str]] = {}
        self.assigned: set[int] = set()
        self._pending_restore: set[int] = set()
        self.dlq_done_below: dict[int, int] = {}  # records below this offset were already DLQ'd
        self._producer = None
        self._last_ts_ms: int | None = None
        self._last_data_end_ns: int | None = None
        self._prom = _prom() if prometheus else None
        self._labels = {"topic": topic, "group": group_id}
        from kafka import KafkaConsumer

        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=self.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_poll_records,
            max_partition_fetch_bytes=MESSAGE_MAX_BYTES,
            fetch_max_bytes=64 * 1024 * 1024,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            max_poll_interval_ms=max_poll_interval_ms,
        )
        self.consumer.subscribe([topic], listener=_as_listener(_Listener(self)))

    # --------------------------------------------------------- rebalance
    def _on_revoked(self, revoked: Iterable) -> None:
        # everything handled so far was sunk and committed at the end of the last poll
        for tp in revoked:
            self.assemblers.pop(tp.partition, None)
            self.states.pop(tp.partition, None)
            self.raw_states.pop(tp.partition, None)
            self.next_offset.pop(tp.partition, None)
            self.committed.pop(tp.partition, None)
            self.assigned.discard(tp.partition)
            self._pending_restore.discard(tp.partition)
            self.dlq_done_below.pop(tp.partition, None)

    def _on_assigned(self, assigned: Iterable) -> None:
        # runs on kafka-python's IO thread: no blocking calls here; restore in poll_once
        for tp in assigned:
            self.assigned.add(tp.partition)
            self._pending_restore.add(tp.partition)
        log.info("%s assigned partitions %s", self.client_id, sorted(self.assigned))

    def _restore(self, batch: dict) -> None:
        """Set up newly (re)assigned partitions from their committed offset and metadata.

        The window buffers of a partition are rebuilt from scratch, so consumption must
        restart at the committed offset (the oldest record a pending window needs), even if
        the consumer kept its fetch position across the rebalance: records of ``batch``
        for those partitions are dropped and the partition is seeked back.
        """
        from kafka.structs import TopicPartition

        for p in sorted(self._pending_restore):
            tp = TopicPartition(self.topic, p)
            resume, states, hi = {}, {}, -1
            try:
                om = self.consumer.committed(tp, metadata=True)
            except Exception as exc:  # pragma: no cover - broker hiccup: start without resume info
                log.warning("could not read committed offset of %s: %s", tp, exc)
                om = None
            meta = getattr(om, "metadata", None) if om is not None else None
            if meta:
                try:
                    doc = json.loads(meta)
                    resume = {k: int(v) for k, v in doc.get("next", {}).items()}
                    states = dict(doc.get("state", {}))
                    hi = int(doc.get("hi", -1))
                except (ValueError, TypeError, AttributeError):
                    log.warning("ignoring unreadable commit metadata on %s", tp)
            self.assemblers[p] = WindowAssembler(self.spec, resume=resume)
            self.states[p] = {}
            self.raw_states[p] = states
            self.dlq_done_below[p] = hi
            dropped = batch.pop(tp, None)
            target = om.offset if om is not None and om.offset is not None and om.offset >= 0 else (
                dropped[0].offset if dropped else None)
            if target is not None:
                self.consumer.seek(tp, target)
        self._pending_restore.clear()

    # ------------------------------------------------------------ record
    def _dlq(self, rec: Any, reason: str) -> None:
        if self._producer is None:
            from kafka import KafkaProducer

            self._producer = KafkaProducer(
                bootstrap_servers=self.bootstrap, acks="all", max_request_size=MESSAGE_MAX_BYTES + 1024 * 1024,
                client_id=self.client_id + "-dlq",
            )
        headers = list(rec.headers or []) + [
            ("dlq.error", reason.encode()[:4000]),
            ("dlq.topic", rec.topic.encode()),
            ("dlq.partition", str(rec.partition).encode()),
            ("dlq.offset", str(rec.offset).encode()),
            ("dlq.ts_ms", str(int(time.time() * 1000)).encode()),
        ]
        self._producer.send(self.dlq_topic, key=rec.key, value=rec.value, headers=headers).get(timeout=60)
        self.metrics.dlq += 1
        log.warning("record %s[%d]@%d -> %s: %s", rec.topic, rec.partition, rec.offset, self.dlq_topic, reason)

    def _state_for(self, partition: int, w: Window) -> Any:
        states = self.states.setdefault(partition, {})
        key = stream_key_str(w.stream)
        if key not in states:
            obj = self.state_factory()
            raw = self.raw_states.get(partition, {}).pop(key, None)
            if raw is not None:  # restored from the commit metadata
                if isinstance(obj, dict) and isinstance(raw, dict):
                    obj.update(raw)  # keeps the factory's type (e.g. a dict subclass)
                elif hasattr(type(obj), "from_dict"):
                    obj = type(obj).from_dict(raw)
                else:
                    obj = raw
            states[key] = obj
        return states[key]

    def _state_doc(self, p: int) -> dict | None:
        """JSON-able per-stream state of partition ``p`` (restored-but-unused streams included)."""
        doc = dict(self.raw_states.get(p, {}))
        for k, v in (self.states.get(p) or {}).items():
            doc[k] = v.to_dict() if hasattr(v, "to_dict") else v
        return doc or None

    def _handle(self, rec: Any, results: list) -> None:
        self.metrics.records += 1
        self.metrics.bytes += len(rec.value or b"")
        self._last_ts_ms = rec.timestamp
        try:
            block = decode_record(rec.value, rec.headers)
        except RecordError as exc:
            if rec.offset < self.dlq_done_below.get(rec.partition, -1):
                return  # re-read after a restart: already in the DLQ before the last commit
            self._dlq(rec, str(exc))
            return
        self._last_data_end_ns = block.t_end_ns
        asm = self.assemblers.get(rec.partition)
        if asm is None:  # assignment callback not seen (should not happen)
            asm = self.assemblers[rec.partition] = WindowAssembler(self.spec)
        for w in asm.add(block, rec.offset):
            state = self._state_for(rec.partition, w)
            try:
                out = self.process(w.block, state)
            except Exception:
                if self.on_process_error == "raise":
                    raise
                log.exception("process failed on window %s @ %d; skipped", w.block.attrs["stream"], w.start_ns)
                continue
            self.metrics.windows += 1
            if out:
                results.extend(out)

    # ------------------------------------------------------------ commit
    def _sink(self, results: list) -> None:
        delay = 0.5
        for attempt in range(1, self.sink_retries + 1):
            try:
                self.sink(results)
                self.metrics.results += len(results)
                return
            except Exception:
                if attempt == self.sink_retries:
                    raise
                log.exception("sink failed (attempt %d/%d); retrying", attempt, self.sink_retries)
                time.sleep(delay)
                delay *= 2

    def _commit(self) -> None:
        from kafka.structs import OffsetAndMetadata, TopicPartition

        offsets = {}
        for p in list(self.assigned):
            if p not in self.next_offset:
                continue
            asm = self.assemblers.get(p)
            low = asm.low_token() if asm is not None else None
            off = self.next_offset[p] if low is None else int(low)
            doc: dict[str, Any] = {"next": asm.resume_points() if asm is not None else {},
                                   "hi": self.next_offset[p]}
            states = self._state_doc(p)
            if states:
                try:
                    s_json = json.dumps(states, separators=(",", ":"))
                    if len(s_json) <= self.max_state_bytes:
                        doc["state"] = states
                    elif not self._state_warned:
                        self._state_warned = True
                        log.warning("worker state of partition %d is %d bytes > %d: not persisted",
                                    p, len(s_json), self.max_state_bytes)
                except (TypeError, ValueError):
                    if not self._state_warned:
                        self._state_warned = True
                        log.warning("worker state of partition %d is not JSON-serialisable (give it to_dict/"
                                    "from_dict): not persisted", p)
            meta = json.dumps(doc, separators=(",", ":"))
            if self.committed.get(p) != (off, meta):
                offsets[TopicPartition(self.topic, p)] = OffsetAndMetadata(off, meta, -1)
        if offsets:
            from kafka.errors import KafkaError, OffsetMetadataTooLargeError

            try:
                try:
                    self.consumer.commit(offsets)
                except OffsetMetadataTooLargeError:
                    # broker offset.metadata.max.bytes (default 4096) too small for the state
                    log.warning("commit metadata too large for the broker; committing without worker state")
                    self.max_state_bytes = 0
                    offsets = {tp: OffsetAndMetadata(om.offset, _strip_state(om.metadata), -1)
                               for tp, om in offsets.items()}
                    self.consumer.commit(offsets)
            except KafkaError as exc:
                # The group moved on (broker restart -> UnknownMemberId, rebalance in progress,
                # coordinator gone).  Everything up to here is already sunk (idempotently), so
                # nothing is lost: the next poll rejoins, a re-assigned partition restarts at its
                # last committed offset and re-sinks the same ids.  Retry the commit next poll.
                self._commit_pending = True
                self.metrics.commit_failures += 1
                log.warning("offset commit failed (%s); will rejoin and retry", exc)
                return
            self._commit_pending = False
            for tp, om in offsets.items():
                self.committed[tp.partition] = (om.offset, om.metadata)
            self.metrics.commits += 1

    def _update_lag(self) -> None:
        lag = 0
        for p in self.assigned:
            from kafka.structs import TopicPartition

            tp = TopicPartition(self.topic, p)
            hw = self.consumer.highwater(tp)
            pos = self.next_offset.get(p)
            if hw is not None and pos is not None:
                lag += max(0, hw - pos)
        m = self.metrics
        m.lag_records = lag
        now = time.time()
        if self._last_ts_ms is not None:
            m.lag_seconds = max(0.0, now - self._last_ts_ms / 1000)
        if self._last_data_end_ns is not None:
            m.data_lag_seconds = max(0.0, now - self._last_data_end_ns / 1e9)

    def _export(self, before: dict[str, int]) -> None:
        if self._prom is None:
            return
        m, P, lab = self.metrics, self._prom, self._labels
        for name in ("records", "bytes", "windows", "gaps", "duplicates", "out_of_order", "dlq", "results"):
            inc = getattr(m, name) - before.get(name, 0)
            if inc:
                P[name].labels(**lab).inc(inc)
        d = m.as_dict()
        for name in ("lag_records", "lag_seconds", "data_lag_seconds", "records_per_s", "mb_per_s"):
            P[name].labels(**lab).set(d[name])

    # -------------------------------------------------------------- loop
    def poll_once(self, timeout_ms: int = 500) -> int:
        """Poll, process, sink, commit.  Returns the number of records handled."""
        before = {k: getattr(self.metrics, k) for k in
                  ("records", "bytes", "windows", "gaps", "duplicates", "out_of_order", "dlq", "results")}
        batch = self.consumer.poll(timeout_ms=timeout_ms)
        t_busy = time.monotonic()
        if self._pending_restore:
            self._restore(batch)
        results: list = []
        n = 0
        for tp, recs in batch.items():
            for rec in recs:
                self._handle(rec, results)
                self.next_offset[tp.partition] = rec.offset + 1
                n += 1
        tot = [a.totals() for a in self.assemblers.values()]
        self.metrics.gaps = self._base_gaps + sum(t.gaps for t in tot)
        self.metrics.duplicates = self._base_dups + sum(t.duplicates for t in tot)
        self.metrics.out_of_order = self._base_ooo + sum(t.out_of_order for t in tot)
        if results:
            self._sink(results)
        if n or self._commit_pending:
            self._commit()
        if n:
            self._update_lag()
        self.metrics.busy_s += time.monotonic() - t_busy
        self._export(before)
        if self.on_poll is not None:
            try:
                self.on_poll(self)
            except Exception:  # a status hook must never stop the data path
                log.exception("on_poll hook failed")
        return n

    @property
    def last_data_end_ns(self) -> int | None:
        """End time (UTC ns) of the newest data block handled, or ``None``."""
        return self._last_data_end_ns

    _base_gaps = _base_dups = _base_ooo = 0
    _commit_pending = False

    def run(self, stop_event: threading.Event | None = None, *, idle_timeout_s: float | None = None,
            poll_timeout_ms: int = 500) -> dict[str, float]:
        """Loop until ``stop_event`` is set (or no record for ``idle_timeout_s``); returns metrics."""
        self.metrics.started = time.monotonic()
        last = time.monotonic()
        try:
            while not (stop_event is not None and stop_event.is_set()):
                if self.poll_once(poll_timeout_ms):
                    last = time.monotonic()
                elif idle_timeout_s is not None and time.monotonic() - last > idle_timeout_s:
                    break
        finally:
            self.close()
        return self.metrics.as_dict()

    def unclaimed_states(self) -> dict[str, Any]:
        """Per-stream state restored from the last commit but never handed to ``process``.

        A worker restarted at the very end of a finite stream may get no complete window
        (the re-read records only fill windows that never complete); its ``process`` never
        saw that state.  Keyed by stream key string (``fiber|first channel|channels``);
        kept after :meth:`close` so an end-of-stream flush can still use it.
        """
        if self._unclaimed_at_close is not None:
            return dict(self._unclaimed_at_close)
        return {k: v for states in self.raw_states.values() for k, v in states.items()}

    _unclaimed_at_close: dict[str, Any] | None = None

    def close(self) -> None:
        # leaving the group revokes the partitions (and drops their restored state)
        self._unclaimed_at_close = self.unclaimed_states()
        try:
            self.consumer.close()
        finally:
            if self._producer is not None:
                self._producer.close(timeout=10)
                self._producer = None


def _strip_state(meta: str) -> str:
    doc = json.loads(meta)
    doc.pop("state", None)
    return json.dumps(doc, separators=(",", ":"))


class _Listener:
    """kafka-python rebalance listener (duck-typed ConsumerRebalanceListener)."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def on_partitions_revoked(self, revoked):  # noqa: D401
        w = self.worker
        # keep the counters of streams we are about to drop
        for tp in revoked:
            asm = w.assemblers.get(tp.partition)
            if asm is not None:
                t = asm.totals()
                w._base_gaps += t.gaps
                w._base_dups += t.duplicates
                w._base_ooo += t.out_of_order
        w._on_revoked(revoked)

    def on_partitions_assigned(self, assigned):
        self.worker._on_assigned(assigned)


def _as_listener(obj: _Listener):
    from kafka import ConsumerRebalanceListener

    class L(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            obj.on_partitions_revoked(revoked)

        def on_partitions_assigned(self, assigned):
            obj.on_partitions_assigned(assigned)

    return L()


def run_worker(
    bootstrap: str,
    topic: str,
    group_id: str,
    process: Process,
    sink: Sink,
    window: WindowSpec,
    state: Callable[[], Any] | None = None,
    stop_event: threading.Event | None = None,
    *,
    idle_timeout_s: float | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """Run one consumer-group worker until ``stop_event`` is set; return its metrics dict.

    Parameters
    ----------
    process
        ``process(window_block, state) -> list[records]``, pure.
    sink
        ``sink(records)``: durable, idempotent upsert by record id.  Offsets are
        committed only after it returned.
    window
        :class:`WindowSpec` (``length_s``, ``step_s``).
    state
        Factory of the per-stream state passed to ``process`` (default ``dict``); it is
        restored from the commit metadata after a restart if JSON-serialisable.
    idle_timeout_s
        Also stop after that many seconds without records (batch / test use).
    kwargs
        Passed to :class:`Worker` (``dlq_topic``, ``max_poll_records``, ``on_poll``, ...).
    """
    worker = Worker(bootstrap, topic, group_id, process, sink, window=window, state=state, **kwargs)
    return worker.run(stop_event, idle_timeout_s=idle_timeout_s)
