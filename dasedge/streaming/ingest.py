"""Ingest bridge: DAS files -> Kafka topic ``das.blocks``.

Two modes share one publisher and one durable ledger:

* :meth:`Ingest.watch` - follow a folder an interrogator writes into.  A file is published
  only once it is *stable*: its size and mtime unchanged for ``stable_polls`` polls, or it
  just appeared under its final name while a temporary name (``<name>.tmp`` / ``.part`` /
  ``.partial``) disappeared (atomic rename).  Temporary and hidden files are never read.
  A file that failed while it may still have been written is retried when its size or
  mtime changes.
* :meth:`Ingest.replay` - publish an archive (files or folders, sorted by start time) at
  ``speed`` x real time (``1`` = real time, ``None`` = as fast as possible); each chunk is
  sent when its last sample would have been recorded.

Delivery contract
-----------------
* Files are read window by window with :func:`dasedge.io.read` (``time=``, at most
  ``read_bytes`` per call), cut into ``chunk_s`` blocks and encoded with :func:`dasedge.streaming.codec.encode_block` (keyed by
  fiber id, ≤ 8 MiB per record).  The producer is idempotent with ``acks=all``.
* A file counts as published only after the broker acknowledged **all** its records; then
  it is written to the ledger (SQLite, ``synchronous=FULL``) together with the fiber's
  next sequence number, in one transaction.
* Chunk ``i`` of a file gets ``seq = first_seq + i`` where ``first_seq`` is the fiber's
  next sequence number in the ledger when the file starts.  After a crash the file is
  published again from its start with the same keys and the same seq numbers, so
  consumers drop the duplicates (:mod:`dasedge.streaming.windows`).
* A file that cannot be read (:class:`dasedge.io.DASFileError`) is logged with its one-line
  reason and recorded as ``failed`` in the ledger; the bridge goes on.  Broker errors are
  not file errors: in ``watch`` the file is retried after ``broker_retry_s``; in ``replay``
  they propagate (the file stays un-published and is published again on restart).
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from kafka.errors import KafkaError

from dasedge.streaming.broker import MESSAGE_MAX_BYTES
from dasedge.streaming.codec import MAX_RECORD_BYTES, encode_block

log = logging.getLogger(__name__)

DEFAULT_TOPIC = "das.blocks"
TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".lock", ".swp")
DAS_SUFFIXES = (".h5", ".hdf5", ".he5", ".hdf")


# -------------------------------------------------------------------- ledger
class Ledger:
    """Durable record of published files and each fiber's next sequence number (SQLite)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS files (
                path TEXT PRIMARY KEY, status TEXT NOT NULL, reason TEXT, size INTEGER, mtime_ns INTEGER,
                fiber_id TEXT, first_seq INTEGER, next_seq INTEGER, n_records INTEGER, n_bytes INTEGER,
                t0_ns INTEGER, finished_at REAL);
            CREATE TABLE IF NOT EXISTS fibers (fiber_id TEXT PRIMARY KEY, next_seq INTEGER NOT NULL);
            """
        )
        self._lock = threading.Lock()

    def next_seq(self, fiber_id: str) -> int:
        row = self.db.execute("SELECT next_seq FROM fibers WHERE fiber_id=?", (fiber_id,)).fetchone()
        return int(row[0]) if row else 0

    def entry(self, path: str | os.PathLike) -> dict | None:
        cur = self.db.execute("SELECT * FROM files WHERE path=?", (str(Path(path).resolve()),))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([c[0] for c in cur.description], row))

    def status(self, path: str | os.PathLike) -> str | None:
        e = self.entry(path)
        return None if e is None else e["status"]

    def files(self, status: str | None = None) -> list[dict]:
        q = "SELECT * FROM files" + (" WHERE status=?" if status else "") + " ORDER BY t0_ns, path"
        cur = self.db.execute(q, (status,) if status else ())
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    def mark_done(self, path: Path, *, size: int, mtime_ns: int, fiber_id: str, first_seq: int, next_seq: int,
                  n_records: int, n_bytes: int, t0_ns: int) -> None:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute(
                    "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (str(path.resolve()), "done", None, size, mtime_ns, fiber_id, first_seq, next_seq,
                     n_records, n_bytes, t0_ns, time.time()),
                )
                self._advance(fiber_id, next_seq)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def mark_failed(self, path: Path, reason: str, *, size: int | None, mtime_ns: int | None,
                    fiber_id: str | None = None, advance_to: int | None = None) -> None:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute(
                    "INSERT OR REPLACE INTO files (path,status,reason,size,mtime_ns,fiber_id,finished_at) "
                    "VALUES (?,?,?,?,?,?,?)",
                    (str(path.resolve()), "failed", reason, size, mtime_ns, fiber_id, time.time()),
                )
                if fiber_id is not None and advance_to is not None:
                    self._advance(fiber_id, advance_to)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def _advance(self, fiber_id: str, next_seq: int) -> None:
        self.db.execute(
            "INSERT INTO fibers VALUES (?,?) ON CONFLICT(fiber_id) DO UPDATE SET next_seq=MAX(next_seq, excluded.next_seq)",
            (fiber_id, next_seq),
        )

    def close(self) -> None:
        self.db.close()


# ------------------------------------------------------------------- ingest
@dataclass
class IngestConfig:
    """Publishing options.

    ``fiber_id`` may be a literal or contain ``{stem}`` / ``{parent}`` placeholders; ``None``
    keeps the reader's ``block.fiber_id``.
    """

    topic: str = DEFAULT_TOPIC
    chunk_s: float = 1.0
    fiber_id: str | None = None
    max_bytes: int = MAX_RECORD_BYTES
    dtype: str = "float32"
    codec: str = "none"
    shuffle: bool = False
    channels_per_record: int | None = None
    key_by_channel_block: bool = False
    linger_ms: int = 10
    read_bytes: int = 64 * 1024 * 1024  # samples read from the file per io.read call


@dataclass
class IngestStats:
    files_done: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    records: int = 0
    bytes: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def is_temp_name(path: Path) -> bool:
    n = path.name
    return n.startswith(".") or n.startswith("~") or n.lower().endswith(TEMP_SUFFIXES)


def list_das_files(root: Path) -> list[Path]:
    """DAS-looking files under ``root`` (recursive), temp/hidden names excluded."""
    if root.is_file():
        return [root]
    out = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in DAS_SUFFIXES and not is_temp_name(p)]
    return sorted(out)


class Ingest:
    """Publish DAS files to Kafka with a durable ledger.  See the module docstring."""

    def __init__(self, bootstrap: str, ledger: Ledger | str | os.PathLike, config: IngestConfig | None = None,
                 producer=None) -> None:
        from dasedge.streaming.runtime import require_crc32c

        require_crc32c()
        self.bootstrap = bootstrap
        self.cfg = config or IngestConfig()
        self.ledger = ledger if isinstance(ledger, Ledger) else Ledger(ledger)
        if producer is None:
            from kafka import KafkaProducer

            producer = KafkaProducer(
                bootstrap_servers=bootstrap,
                acks="all",
                enable_idempotence=True,
                max_in_flight_requests_per_connection=5,
                max_request_size=MESSAGE_MAX_BYTES,
                batch_size=min(self.cfg.max_bytes, 1024 * 1024),
                linger_ms=self.cfg.linger_ms,
                retries=2**31 - 1,
                client_id="dasedge-ingest",
            )
        self.producer = producer
        self.stats = IngestStats()
        self.broker_retry_s = 5.0

    # ------------------------------------------------------------- files
    def _fiber(self, path: Path, block_fiber: str) -> str:
        f = self.cfg.fiber_id
        if not f:
            return block_fiber
        return f.format(stem=path.stem, parent=path.parent.name)

    def publish_file(self, path: str | os.PathLike, *, pace=None) -> bool:
        """Publish one file (all chunks acknowledged) and record it in the ledger.

        Returns ``True`` if published, ``False`` if it failed (logged and recorded).
        ``pace(t_end_ns)`` is called before each chunk is sent (replay timing).
        """
        from dasedge import io

        path = Path(path)
        try:
            st = path.stat()
        except OSError as exc:
            self._fail(path, f"{path}: cannot stat ({exc.strerror})", None, None)
            return False
        size, mtime = st.st_size, st.st_mtime_ns
        sent: list = []
        fiber = None
        first = 0
        n_chunks = 0
        try:
            info = io.scan(path)
            if info.n_time <= 0:
                raise io.DASFileError(path, "no samples")
            chunk_n = max(1, round(self.cfg.chunk_s / info.dt_s))
            n_chunks = math.ceil(info.n_time / chunk_n)
            n_bytes = 0
            # one io.read per group of chunks (<= read_bytes), so header parsing is amortised
            per_read = max(1, self.cfg.read_bytes // max(1, chunk_n * info.n_channel * 4))
            window = None
            for i in range(n_chunks):
                if i % per_read == 0:
                    j = min(n_chunks, i + per_read)
                    t_lo = info.t0_ns + round(i * chunk_n * info.dt_s * 1e9)
                    t_hi = info.t0_ns + round(j * chunk_n * info.dt_s * 1e9) if j < n_chunks else None
                    window = io.read(path, time=(t_lo, t_hi))
                    expect = min(j * chunk_n, info.n_time) - i * chunk_n
                    if window.n_time != expect:
                        raise io.DASFileError(path, f"window at chunk {i} read {window.n_time} samples, expected {expect}")
                k = (i % per_read) * chunk_n
                block = window.select(samples=slice(k, k + chunk_n))
                if fiber is None:
                    fiber = self._fiber(path, block.fiber_id)
                    first = self.ledger.next_seq(fiber)
                block = block.new(fiber_id=fiber, seq=first + i)
                if pace is not None:
                    pace(block.t_end_ns)
                for key, value, headers in encode_block(
                    block, max_bytes=self.cfg.max_bytes, dtype=self.cfg.dtype, codec=self.cfg.codec,
                    shuffle=self.cfg.shuffle, channels_per_record=self.cfg.channels_per_record,
                    key_by_channel_block=self.cfg.key_by_channel_block,
                ):
                    sent.append(self.producer.send(self.cfg.topic, key=key, value=value, headers=headers))
                    n_bytes += len(value)
        except ValueError as exc:  # DASFileError and other data problems of this file
            reason = " ".join(str(exc).split())
            if fiber is not None and sent:
                # some chunks are already on the topic: keep their seq numbers unique
                self._settle(sent)
                self._fail(path, reason, size, mtime, fiber, first + n_chunks)
            else:
                self._fail(path, reason, size, mtime)
            return False
        except OSError as exc:
            self._fail(path, f"{path}: {exc}", size, mtime)
            return False
        self._settle(sent)  # raises KafkaError if any record was not acknowledged
        self.ledger.mark_done(path, size=size, mtime_ns=mtime, fiber_id=fiber, first_seq=first,
                              next_seq=first + n_chunks, n_records=len(sent), n_bytes=n_bytes, t0_ns=info.t0_ns)
        self.stats.files_done += 1
        self.stats.records += len(sent)
        self.stats.bytes += n_bytes
        log.info("published %s: %d records, %.1f MB, seq %d..%d", path, len(sent), n_bytes / 1e6, first,
                 first + n_chunks - 1)
        return True

    def _settle(self, futures: Sequence) -> None:
        self.producer.flush()
        for f in futures:
            f.get(timeout=120)

    def _fail(self, path: Path, reason: str, size, mtime, fiber=None, advance_to=None) -> None:
        log.error("ingest failed: %s", reason)
        self.ledger.mark_failed(path, reason, size=size, mtime_ns=mtime, fiber_id=fiber, advance_to=advance_to)
        self.stats.files_failed += 1
        self.stats.failed.append((str(path), reason))

    # ------------------------------------------------------------- replay
    def replay(self, paths: Iterable[str | os.PathLike], *, speed: float | None = 1.0,
               stop_event: threading.Event | None = None) -> IngestStats:
        """Publish an archive sorted by start time at ``speed`` x real time (``None`` = max)."""
        from dasedge import io

        files: list[Path] = []
        for p in paths:
            files += list_das_files(Path(p))
        todo: list[tuple[int, Path]] = []
        for f in files:
            if self.ledger.status(f) in ("done", "failed"):
                self.stats.files_skipped += 1
                continue
            try:
                todo.append((io.scan(f).t0_ns, f))
            except ValueError as exc:
                st = f.stat()
                self._fail(f, " ".join(str(exc).split()), st.st_size, st.st_mtime_ns)
        todo.sort()
        clock: dict[str, float] = {}

        def pace(t_end_ns: int) -> None:
            if speed is None or speed <= 0:
                return
            if "wall0" not in clock:
                clock["wall0"] = time.monotonic()
                clock["data0"] = todo[0][0]
            target = clock["wall0"] + (t_end_ns - clock["data0"]) / 1e9 / speed
            while True:
                left = target - time.monotonic()
                if left <= 0 or (stop_event is not None and stop_event.is_set()):
                    return
                time.sleep(min(left, 0.2))

        for _, f in todo:
            if stop_event is not None and stop_event.is_set():
                break
            self.publish_file(f, pace=pace)
        return self.stats

    # -------------------------------------------------------------- watch
    def watch(self, folder: str | os.PathLike, *, poll_s: float = 1.0, stable_polls: int = 2,
              stop_event: threading.Event | None = None, idle_exit_s: float | None = None) -> IngestStats:
        """Follow ``folder`` and publish each file once it is stable (see module docstring)."""
        root = Path(folder)
        history: dict[Path, tuple[tuple[int, int], int]] = {}  # path -> ((size, mtime), unchanged polls)
        temps_before: set[Path] = set()
        last_activity = time.monotonic()
        while not (stop_event is not None and stop_event.is_set()):
            temps_now: set[Path] = set()
            ready: list[Path] = []
            if root.is_dir():
                entries = [p for p in root.rglob("*") if p.is_file()]
            else:
                entries = []
            for p in entries:
                if is_temp_name(p):
                    temps_now.add(p)
                    continue
                if p.suffix.lower() not in DAS_SUFFIXES:
                    continue
                try:
                    st = p.stat()
                except OSError:
                    continue
                sig = (st.st_size, st.st_mtime_ns)
                entry = self.ledger.entry(p)
                if entry is not None and (entry["status"] == "done" or
                                          (entry["size"], entry["mtime_ns"]) == sig):
                    continue  # published, or failed and unchanged since
                prev = history.get(p)
                renamed = any(p.with_name(p.name + s) in temps_before for s in TEMP_SUFFIXES)
                count = (prev[1] + 1) if prev is not None and prev[0] == sig else 0
                history[p] = (sig, count)
                if (count >= stable_polls or renamed) and st.st_size > 0:
                    ready.append(p)
            for p in sorted(ready):
                try:
                    self.publish_file(p)
                except KafkaError as exc:  # broker trouble: not the file's fault, retry later
                    log.error("publishing %s failed on the broker side (%s); retrying in %.0f s", p, exc,
                              self.broker_retry_s)
                    if stop_event is not None:
                        stop_event.wait(self.broker_retry_s)
                    else:
                        time.sleep(self.broker_retry_s)
                    break
                history.pop(p, None)
                last_activity = time.monotonic()
            temps_before = temps_now
            present = set(entries)
            for p in [p for p in history if p not in present]:
                history.pop(p)
            if ready or history or temps_now:
                last_activity = time.monotonic()
            if idle_exit_s is not None and time.monotonic() - last_activity > idle_exit_s:
                break
            if stop_event is not None:
                stop_event.wait(poll_s)
            else:
                time.sleep(poll_s)
        return self.stats

    def close(self) -> None:
        try:
            self.producer.flush()
            self.producer.close(timeout=30)
        finally:
            self.ledger.close()
