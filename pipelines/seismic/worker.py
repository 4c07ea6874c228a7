"""Streaming seismic worker: ``dasedge seismic-worker``.

Consumes DAS blocks from Kafka (``dasedge.streaming.runtime.Worker``, windows
stepping by ``--block-s`` seconds and one picker restart context long, see
:class:`SeismicProcess`), feeds the new data of each to one
:class:`~.processor.SeismicProcessor` per fiber (same code as the batch CLI),
and hands picks and event messages (``new`` / ``update`` / ``final``) to the
sink: first the store (``service.store.open_store(url).put_picks/put_events``,
idempotent upserts), then the Kafka topics ``seismic.picks`` and
``seismic.events`` (JSON, key = record id); offsets are committed by the
runtime only after the sink returned (at-least-once; ids are stable).
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import threading
import time
from typing import Any, Callable

from dasedge.block import DASBlock
from dasedge.records import Pick, SeismicEvent
from dasedge.streaming.topics import send_records

from .picking import PickerConfig
from .processor import SeismicProcessor

log = logging.getLogger(__name__)

PICKS_TOPIC = "seismic.picks"
EVENTS_TOPIC = "seismic.events"


def restart_window_s(cfg: PickerConfig, block_s: float) -> float:
    """Runtime window length: the picker's restart context rounded up to whole blocks, plus one block.

    Stepping by one block, the runtime then keeps the last ``window - block`` seconds uncommitted,
    which a restarted worker re-reads (:meth:`PickerConfig.restart_context_s`).
    """
    return max(block_s, math.ceil(cfg.restart_context_s() / block_s) * block_s + block_s)


class SeismicProcess:
    """``process(window, state)`` for the runtime: one processor per fiber stream.

    Crash safety: the runtime windows overlap (length :meth:`window_s`, step one block), so the
    committed offset stays :meth:`~pipelines.seismic.picking.StreamPicker.context_s` behind the
    data the picker has seen.  Only the new part of each window is fed to a running processor;
    after a restart the first window (the re-read context) is fed whole to a fresh processor that
    was given the per-stream ``state`` persisted with the last commit (tracker, pick buffer,
    picker resume point), so picks and events continue exactly as without the crash.
    """

    def __init__(self, factory: Callable[[], SeismicProcessor]) -> None:
        self.factory = factory
        self.procs: dict[str, SeismicProcessor] = {}
        self._end_ns: dict[str, int] = {}
        self._spare: SeismicProcessor | None = None  # built by window_s(), used for the first stream

    def window_s(self, block_s: float) -> float:
        """Runtime window length for blocks of ``block_s`` (:func:`restart_window_s` of the picker's settings)."""
        if self._spare is None:
            self._spare = self.factory()
        return restart_window_s(self._spare.picker.cfg, block_s)

    def _new(self) -> SeismicProcessor:
        proc, self._spare = (self._spare, None) if self._spare is not None else (self.factory(), None)
        return proc

    def __call__(self, window: DASBlock, state: Any) -> list:
        key = window.fiber_id
        proc = self.procs.get(key)
        out: list = []
        fresh = proc is None
        restart = fresh or bool(window.attrs.get("after_gap"))
        if proc is not None and not restart:
            tmpl = proc.picker._template
            if tmpl is not None and (tmpl.n_channel != window.n_channel or tmpl.dt_s != window.dt_s):
                restart = True
        if restart:
            if proc is not None:
                p, m = proc.flush()
                out += p + m
            proc = self.procs[key] = self._new()
            if fresh and isinstance(state, dict):  # (re)started worker: continue from the committed state
                proc.load_state(state)
            self._end_ns.pop(key, None)
        # feed only data not seen yet (windows overlap: length > step)
        end = self._end_ns.get(key)
        blk = window if end is None else window.select(time=(end, None))
        if blk.n_time:
            p, m = proc.push(blk)
            out += p + m
            self._end_ns[key] = blk.t_end_ns
        if isinstance(state, dict):
            proc.save_state(state)
        return out

    def flush(self, unclaimed: dict[str, Any] | None = None) -> list:
        """End of a finite stream: flush every processor.

        ``unclaimed`` (:meth:`dasedge.streaming.runtime.Worker.unclaimed_states`): committed
        state of streams this process never got a window of (restarted at the very end of the
        stream); their open events are finalised from it.
        """
        out: list = []
        for proc in self.procs.values():
            p, m = proc.flush()
            out += p + m
        for key, state in (unclaimed or {}).items():
            if key.split("|", 1)[0] in self.procs or not isinstance(state, dict) or not state:
                continue
            proc = self._new()
            proc.load_state(state)
            p, m = proc.flush()
            out += p + m
        return out


class SeismicSink:
    """Durable sink: store first (if any), then Kafka topics; returns after both."""

    def __init__(self, store: Any | None = None, producer: Any | None = None,
                 picks_topic: str = PICKS_TOPIC, events_topic: str = EVENTS_TOPIC) -> None:
        self.store = store
        self.producer = producer
        self.picks_topic = picks_topic
        self.events_topic = events_topic
        self.messages: list[SeismicEvent] = []  # emitted event messages (for metrics / tests)
        self.emit_wall_ns: list[int] = []
        from service.store.heartbeat import WorkerHeartbeat

        # the annotator (ONNX model) is created when the worker starts, so a running worker has it loaded
        self.heartbeat = WorkerHeartbeat(store, "seismic-worker", detail={"model_loaded": True})

    def __call__(self, records: list) -> None:
        self.heartbeat()
        picks = [r for r in records if isinstance(r, Pick)]
        events = [r for r in records if isinstance(r, SeismicEvent)]
        if self.store is not None:
            if picks:
                self.store.put_picks(picks)
            if events:
                self.store.put_events(events)
        if self.producer is not None:
            send_records(self.producer, self.picks_topic, picks)
            send_records(self.producer, self.events_topic, events)
            if picks or events:
                self.producer.flush()
        now = time.time_ns()
        self.messages += events
        self.emit_wall_ns += [now] * len(events)


def build_factory(args: argparse.Namespace) -> Callable[[], SeismicProcessor]:
    from .cli import processor_factory

    return processor_factory(args, clock=time.time_ns)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .cli import add_common_arguments

    p.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    p.add_argument("--topic", default="das.blocks", help="input topic of DAS blocks")
    p.add_argument("--group", default="dasedge-seismic", help="consumer group id")
    p.add_argument("--store", default=None, help="store URL (SQLite path or postgresql://); none = Kafka only")
    p.add_argument("--block-s", type=float, default=1.0, help="tumbling window length handed to the picker, s")
    p.add_argument("--idle-timeout", type=float, default=None, help="stop after this many idle seconds")
    add_common_arguments(p, default_preset="latency")


def run(args: argparse.Namespace) -> int:
    from kafka import KafkaProducer

    from dasedge.streaming.runtime import WindowSpec, Worker

    store = None
    if args.store:
        from service.store import open_store

        store = open_store(args.store)
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, acks="all", linger_ms=5)
    process = SeismicProcess(build_factory(args))
    sink = SeismicSink(store, producer)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker = Worker(args.bootstrap, args.topic, args.group, process, sink,
                    window=WindowSpec(length_s=process.window_s(args.block_s), step_s=args.block_s),
                    on_poll=sink.heartbeat.on_poll)
    metrics = worker.run(stop, idle_timeout_s=args.idle_timeout)
    sink(process.flush(worker.unclaimed_states()))
    producer.close()
    log.info("seismic worker stopped: %s", metrics)
    return 0
