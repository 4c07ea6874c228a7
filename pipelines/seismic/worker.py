"""Streaming seismic worker: ``dasedge seismic-worker``.

Consumes DAS blocks from Kafka (``dasedge.streaming.runtime.run_worker``,
tumbling windows of ``--block-s`` seconds), feeds them to one
:class:`~.processor.SeismicProcessor` per fiber (same code as the batch CLI),
and hands picks and event messages (``new`` / ``update`` / ``final``) to the
sink: first the store (``service.store.open_store(url).put_picks/put_events``,
idempotent upserts), then the Kafka topics ``seismic.picks`` and
``seismic.events`` (JSON, key = record id); offsets are committed by the
runtime only after the sink returned (at-least-once; ids are stable).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from typing import Any, Callable

from dasedge.block import DASBlock
from dasedge.records import Pick, SeismicEvent

from .processor import SeismicProcessor

log = logging.getLogger(__name__)

PICKS_TOPIC = "seismic.picks"
EVENTS_TOPIC = "seismic.events"


class SeismicProcess:
    """``process(window, state)`` for the runtime: one processor per fiber stream."""

    def __init__(self, factory: Callable[[], SeismicProcessor]) -> None:
        self.factory = factory
        self.procs: dict[str, SeismicProcessor] = {}
        self._end_ns: dict[str, int] = {}

    def __call__(self, window: DASBlock, state: Any) -> list:
        key = window.fiber_id
        proc = self.procs.get(key)
        out: list = []
        restart = proc is None or bool(window.attrs.get("after_gap"))
        if proc is not None and not restart:
            tmpl = proc.picker._template
            if tmpl is not None and (tmpl.n_channel != window.n_channel or tmpl.dt_s != window.dt_s):
                restart = True
        if restart:
            if proc is not None:
                p, m = proc.flush()
                out += p + m
            proc = self.procs[key] = self.factory()
            self._end_ns.pop(key, None)
        # feed only data not seen yet (windows may overlap if length > step)
        end = self._end_ns.get(key)
        blk = window if end is None else window.select(time=(end, None))
        if blk.n_time:
            p, m = proc.push(blk)
            out += p + m
            self._end_ns[key] = blk.t_end_ns
        return out

    def flush(self) -> list:
        out: list = []
        for proc in self.procs.values():
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
            for p in picks:
                self.producer.send(self.picks_topic, key=p.id.encode(), value=json.dumps(p.to_dict()).encode())
            for e in events:
                self.producer.send(self.events_topic, key=e.id.encode(), value=json.dumps(e.to_dict()).encode())
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

    from dasedge.streaming.runtime import WindowSpec, run_worker

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
    metrics = run_worker(args.bootstrap, args.topic, args.group, process, sink,
                         WindowSpec(length_s=args.block_s, step_s=args.block_s), stop_event=stop,
                         idle_timeout_s=args.idle_timeout, on_poll=sink.heartbeat.on_poll)
    sink(process.flush())
    producer.close()
    log.info("seismic worker stopped: %s", metrics)
    return 0
