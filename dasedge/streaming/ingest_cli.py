"""``dasedge ingest``: publish DAS files to Kafka (watch a folder or replay an archive).

Examples::

    dasedge ingest watch /data/interrogator --fiber-id bridge-1
    dasedge ingest replay /archive/exp1 --speed 10          # 10x real time
    dasedge ingest replay file1.hdf5 file2.hdf5 --speed max

The bootstrap address comes from ``--bootstrap``, ``$KAFKA_BOOTSTRAP`` or the local broker
started by ``dasedge broker start`` (``.kafka/broker.bootstrap``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
from pathlib import Path

from dasedge.streaming.ingest import DEFAULT_TOPIC, Ingest, IngestConfig, Ledger

log = logging.getLogger(__name__)


def resolve_bootstrap(arg: str | None) -> str:
    if arg:
        return arg
    env = os.environ.get("KAFKA_BOOTSTRAP")
    if env:
        return env
    state = Path(os.environ.get("DASEDGE_KAFKA_STATE", ".kafka")) / "broker.bootstrap"
    if state.exists():
        return state.read_text().strip()
    return "127.0.0.1:9092"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mode", choices=["watch", "replay", "ledger"],
                        help="watch a folder, replay files/folders, or print the ledger")
    parser.add_argument("paths", nargs="*", type=Path, help="folder to watch / files or folders to replay")
    parser.add_argument("--bootstrap", default=None, help="Kafka bootstrap (default $KAFKA_BOOTSTRAP / local broker)")
    parser.add_argument("--topic", default=DEFAULT_TOPIC)
    parser.add_argument("--ledger", type=Path, default=Path(os.environ.get("DASEDGE_INGEST_LEDGER", "var/ingest-ledger.sqlite")),
                        help="SQLite ledger of published files (default var/ingest-ledger.sqlite)")
    parser.add_argument("--fiber-id", default=None, help="fiber id (may use {stem}/{parent}); default from the file")
    parser.add_argument("--chunk-s", type=float, default=1.0, help="seconds of data per block (default 1)")
    parser.add_argument("--dtype", choices=["float32", "int16", "int32"], default="float32")
    parser.add_argument("--codec", choices=["none", "lz4", "zstd"], default="none")
    parser.add_argument("--shuffle", action="store_true", help="byte-shuffle before compression")
    parser.add_argument("--channels-per-record", type=int, default=None, help="split channels into blocks")
    parser.add_argument("--key-by-channel-block", action="store_true", help="key fiber#channel_start (spread partitions)")
    parser.add_argument("--partitions", type=int, default=None, help="create the topic with this many partitions")
    parser.add_argument("--speed", default="1", help="replay speed factor, or 'max' (default 1 = real time)")
    parser.add_argument("--poll-s", type=float, default=1.0, help="watch poll interval")
    parser.add_argument("--stable-polls", type=int, default=2, help="polls with unchanged size before publishing")
    parser.add_argument("--probe-timeout", type=float, default=30.0,
                        help="deadline (s) for reading a new file's metadata in a child process; a file that "
                             "hangs the reader is quarantined (0 = read in-process, unprotected; default 30)")
    parser.add_argument("--quarantine-dir", type=Path, default=os.environ.get("DASEDGE_INGEST_QUARANTINE") or None,
                        help="move quarantined files here (default: leave them in place, ledger only)")
    parser.add_argument("--idle-exit-s", type=float, default=None, help="watch: exit after this long with nothing to do")


def run(args: argparse.Namespace) -> int:
    if args.mode == "ledger":
        if not args.ledger.exists():
            print(f"dasedge ingest: no ledger at {args.ledger}")
            return 1
        led = Ledger(args.ledger)
        for row in led.files():
            print(json.dumps(row))
        return 0
    if not args.paths:
        print("dasedge ingest: give a folder to watch or files/folders to replay")
        return 2
    bootstrap = resolve_bootstrap(args.bootstrap)
    if args.partitions:
        from dasedge.streaming.topics import create_topic

        create_topic(bootstrap, args.topic, args.partitions)
    cfg = IngestConfig(topic=args.topic, chunk_s=args.chunk_s, fiber_id=args.fiber_id, dtype=args.dtype,
                       codec=args.codec, shuffle=args.shuffle, channels_per_record=args.channels_per_record,
                       key_by_channel_block=args.key_by_channel_block,
                       probe_timeout_s=args.probe_timeout if args.probe_timeout and args.probe_timeout > 0 else None,
                       quarantine_dir=str(args.quarantine_dir) if args.quarantine_dir else None)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ing = Ingest(bootstrap, args.ledger, cfg)
    try:
        if args.mode == "watch":
            if len(args.paths) != 1:
                print("dasedge ingest watch: exactly one folder")
                return 2
            stats = ing.watch(args.paths[0], poll_s=args.poll_s, stable_polls=args.stable_polls, stop_event=stop,
                              idle_exit_s=args.idle_exit_s)
        else:
            speed = None if str(args.speed).lower() in ("max", "0", "inf") else float(args.speed)
            stats = ing.replay(args.paths, speed=speed, stop_event=stop)
    finally:
        ing.close()
    print(json.dumps({"files_done": stats.files_done, "files_failed": stats.files_failed,
                      "files_skipped": stats.files_skipped, "files_quarantined": stats.files_quarantined, "records": stats.records, "bytes": stats.bytes,
                      "failed": stats.failed}))
    return 0
