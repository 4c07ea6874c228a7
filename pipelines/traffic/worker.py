"""Streaming traffic worker: ``dasedge traffic-worker``.

Consumes DAS blocks from Kafka through the consumer runtime
(:func:`dasedge.streaming.runtime.run_worker`, sliding windows of
``site.window_s`` every ``site.step_s`` on the epoch grid - the same
:class:`~dasedge.streaming.windows.WindowAssembler` the batch CLI uses) and
calls :func:`pipelines.traffic.pipeline.process_window` on each window with the
per-fiber JSON state (persisted with the committed offsets, so a restarted
worker resumes with it).  The sink writes ``Vehicle`` records (``reported_ns``
= wall clock at emission) first to the store (idempotent upsert by id), then
to the topic ``traffic.vehicles`` (JSON, key = vehicle id); stopped-vehicle
``TrafficEvent`` records detected from the data go to the store's traffic
events and the topic ``traffic.events``.  The runtime commits offsets only
after the sink returned.

Latency: a vehicle is owned by the first window whose end is at least
``margin_s`` after the vehicle leaves the section, so it is reported within
``step_s + margin_s`` + block length + processing time after it leaves (2 + 1.5 + 1 s by
default; measured through Kafka in bench/results/traffic.md).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from typing import Any, Callable

from dasedge.block import DASBlock
from dasedge.records import TrafficEvent, Vehicle
from dasedge.streaming.topics import send_records
from pipelines.traffic.pipeline import TrafficState, process_window
from pipelines.traffic.site import SiteConfig

log = logging.getLogger(__name__)

VEHICLES_TOPIC = "traffic.vehicles"
EVENTS_TOPIC = "traffic.events"


class TrafficProcess:
    """``process(window, state)`` for the runtime."""

    def __init__(self, site: SiteConfig, clock: Callable[[], int] = time.time_ns) -> None:
        self.site = site
        self.clock = clock

    def __call__(self, window: DASBlock, state: Any) -> list:
        if window.attrs.get("after_gap"):
            state.clear()  # a gap: lines cannot continue across it
        events: list = []
        vehicles = process_window(window, self.site, state, now_ns=None,
                                  events=events if self.site.stopped_detection else None)
        return vehicles + events


class ListSink:
    """In-memory sink (tests / until a store is configured)."""

    def __init__(self) -> None:
        self.records: list = []

    def put_vehicles(self, vehicles: list[Vehicle]) -> int:
        self.records.extend(vehicles)
        return len(vehicles)


class TrafficSink:
    """Durable sink: store first (``put_vehicles``), then the Kafka topic; returns after both."""

    def __init__(self, store: Any | None = None, producer: Any | None = None, topic: str = VEHICLES_TOPIC,
                 clock: Callable[[], int] = time.time_ns, events_topic: str = EVENTS_TOPIC) -> None:
        self.store = store
        self.producer = producer
        self.topic = topic
        self.events_topic = events_topic
        self.clock = clock
        self.vehicles: list[Vehicle] = []
        self.events: list[TrafficEvent] = []
        from service.store.heartbeat import WorkerHeartbeat

        self.heartbeat = WorkerHeartbeat(store, "traffic-worker", clock=clock)

    def __call__(self, records: list) -> None:
        import dataclasses

        now = self.clock()
        self.heartbeat()
        vs = [dataclasses.replace(r, reported_ns=now) for r in records if isinstance(r, Vehicle)]
        evs = [r for r in records if isinstance(r, TrafficEvent)]
        if evs:
            if self.store is not None and hasattr(self.store, "put_traffic_events"):
                self.store.put_traffic_events(evs)
            if self.producer is not None:
                send_records(self.producer, self.events_topic, evs)
                self.producer.flush()
            self.events += evs
        if not vs:
            return
        if self.store is not None:
            self.store.put_vehicles(vs)
        if self.producer is not None:
            send_records(self.producer, self.topic, vs)
            self.producer.flush()
        self.vehicles += vs


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    p.add_argument("--topic", default="das.blocks", help="input topic of DAS blocks")
    p.add_argument("--out-topic", default=VEHICLES_TOPIC, help="output topic of vehicles")
    p.add_argument("--group", default="dasedge-traffic", help="consumer group id")
    p.add_argument("--store", default=None, help="store URL (SQLite path or postgresql://); none = Kafka only")
    p.add_argument("--site", default=None, help="site YAML (deploy/sites/*.yaml)")
    p.add_argument("--window", type=float, default=None, help="window length, s (site default 60)")
    p.add_argument("--step", type=float, default=None, help="window step, s (site default 2)")
    p.add_argument("--idle-timeout", type=float, default=None, help="stop after this many idle seconds")


def load_site(args: argparse.Namespace) -> SiteConfig:
    site = SiteConfig.load(args.site) if getattr(args, "site", None) else SiteConfig()
    if getattr(args, "window", None):
        site.window_s = float(args.window)
    if getattr(args, "step", None):
        site.step_s = float(args.step)
    return site


def serve(bootstrap: str, site: SiteConfig, sink: Callable[[list], None], *, topic: str = "das.blocks",
          group: str = "dasedge-traffic", stop_event: threading.Event | None = None,
          idle_timeout_s: float | None = None) -> dict[str, float]:
    """Run the worker loop (blocking) - used by the CLI, the demo and the tests."""
    from dasedge.streaming.runtime import WindowSpec, run_worker

    hb = getattr(sink, "heartbeat", None)
    process = TrafficProcess(site)
    if hb is not None:  # processed windows -> coverage (completeness of interval statistics)
        process = hb.track(process)
    metrics = run_worker(bootstrap, topic, group, process, sink,
                         WindowSpec(length_s=site.window_s, step_s=site.step_s), state=TrafficState,
                         stop_event=stop_event, idle_timeout_s=idle_timeout_s,
                         on_poll=hb.on_poll if hb is not None else None)
    if hb is not None:
        hb.flush_coverage()  # spans processed since the last (throttled) beat
    return metrics


def run(args: argparse.Namespace) -> int:
    from kafka import KafkaProducer

    site = load_site(args)
    store = None
    if args.store:
        from service.store import open_store

        store = open_store(args.store)
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, acks="all", linger_ms=5)
    sink = TrafficSink(store, producer, topic=args.out_topic)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    metrics = serve(args.bootstrap, site, sink, topic=args.topic, group=args.group, stop_event=stop,
                    idle_timeout_s=args.idle_timeout)
    producer.close()
    log.info("traffic worker stopped: %s (%d vehicles)", metrics, len(sink.vehicles))
    return 0
