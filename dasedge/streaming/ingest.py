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
  reason and recorded as ``failed`` in the ledger; the bridge goes on.
* Files that hang the reader: a corrupted HDF5 attribute can make libhdf5 loop forever in C
  (no Python signal interrupts it).  Each new file is therefore marked ``reading`` in the
  ledger *before* it is opened, and its metadata (``io.scan`` plus a one-sample ``io.read``)
  is read in a long-lived child process (:class:`MetadataProbe`) with a deadline
  (``probe_timeout_s``).  A file whose probe does not answer in time, or kills the child, is
  ``quarantined`` (logged at ERROR with the reason, optionally moved to ``quarantine_dir``)
  and the bridge goes on with the next file.  Only after a good probe is the file read in
  this process (state ``publishing``).  On restart, a file still found ``reading`` (the
  process was killed or hung while opening it) is **not** retried: it is quarantined with
  its reason; a file found ``publishing`` is published again from its start (same seq
  numbers, as above).  Quarantined files are never retried automatically.  Broker errors are
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

    def mark_reading(self, path: Path, *, size: int | None, mtime_ns: int | None) -> None:
        """Record that ``path`` is about to be opened (before any reader touches it)."""
        self._set_transient(path, "reading", size, mtime_ns)

    def mark_publishing(self, path: Path, *, size: int | None, mtime_ns: int | None) -> None:
        """Record that ``path``'s metadata read fine and its data is being published."""
        self._set_transient(path, "publishing", size, mtime_ns)

    def clear(self, path: Path) -> None:
        """Forget a transient (``reading``/``publishing``) entry of ``path``."""
        with self._lock:
            self.db.execute("DELETE FROM files WHERE path=? AND status IN ('reading','publishing')",
                            (str(path.resolve()),))

    def _set_transient(self, path: Path, status: str, size, mtime_ns) -> None:
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO files (path,status,size,mtime_ns,finished_at) VALUES (?,?,?,?,?)",
                (str(path.resolve()), status, size, mtime_ns, time.time()),
            )

    def mark_quarantined(self, path: Path, reason: str, *, size: int | None, mtime_ns: int | None) -> None:
        """Record ``path`` as quarantined: never retried automatically."""
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO files (path,status,reason,size,mtime_ns,finished_at) VALUES (?,?,?,?,?,?)",
                (str(path.resolve()), "quarantined", reason, size, mtime_ns, time.time()),
            )

    def recover(self) -> tuple[list[dict], list[dict]]:
        """Settle the entries a killed or hung process left behind (call once at start).

        Returns
        -------
        quarantined, republish
            Entries found ``reading`` (now ``quarantined``, with the reason) and entries found
            ``publishing`` (removed, so the file is published again from its start).
        """
        stuck = self.files("reading")
        again = self.files("publishing")
        for e in stuck:
            reason = (f"{e['path']}: the ingest stopped while opening this file (killed, or hung in the reader "
                      f"on corrupted metadata); quarantined at restart, not retried")
            with self._lock:
                self.db.execute("UPDATE files SET status='quarantined', reason=?, finished_at=? WHERE path=?",
                                (reason, time.time(), e["path"]))
            e["reason"] = reason
        with self._lock:
            self.db.execute("DELETE FROM files WHERE status='publishing'")
        return stuck, again

    def _advance(self, fiber_id: str, next_seq: int) -> None:
        self.db.execute(
            "INSERT INTO fibers VALUES (?,?) ON CONFLICT(fiber_id) DO UPDATE SET next_seq=MAX(next_seq, excluded.next_seq)",
            (fiber_id, next_seq),
        )

    def close(self) -> None:
        self.db.close()


# -------------------------------------------------------------------- probe
class ProbeFailed(RuntimeError):
    """The metadata probe of a file hung (no answer before the deadline) or crashed the child."""


def probe_file(path: str):
    """Metadata of ``path`` plus a one-sample read: every header a later :func:`dasedge.io.read` parses.

    Runs inside the :class:`MetadataProbe` child.  Returns the :class:`dasedge.io.FileInfo`;
    raises :class:`dasedge.io.DASFileError` for a file that cannot be read.
    """
    from dasedge import io

    info = io.scan(path)
    if info.n_time > 0:
        io.read(path, time=(info.t0_ns, info.t0_ns + max(1, round(info.dt_s * 1e9))))
    return info


def _probe_server() -> None:
    """Child side of :class:`MetadataProbe`: one JSON path per line in, one framed pickle out."""
    import ctypes
    import importlib
    import json
    import pickle
    import signal
    import sys

    try:  # die with the parent even while stuck in C (PR_SET_PDEATHSIG = 1)
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass
    parent = int(os.environ.get("DASEDGE_PROBE_PARENT", "0"))
    if parent and os.getppid() != parent:
        return
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints of a reader go to stderr, not into the frames
    mod, _, fn = os.environ.get("DASEDGE_PROBE_TARGET", "dasedge.streaming.ingest:probe_file").partition(":")
    target = getattr(importlib.import_module(mod), fn)

    def reply(obj) -> None:
        payload = pickle.dumps(obj)
        out.write(len(payload).to_bytes(8, "little") + payload)
        out.flush()

    reply(("ready", None))
    for line in sys.stdin.buffer:
        path = json.loads(line)
        try:
            res = ("ok", target(path))
        except ValueError as exc:  # DASFileError and other data problems
            res = ("err", " ".join(str(exc).split()))
        except Exception as exc:  # noqa: BLE001 - anything else is still this file's problem
            res = ("err", f"{path}: {type(exc).__name__}: {' '.join(str(exc).split())}")
        reply(res)


class MetadataProbe:
    """Read files' metadata in a long-lived child process, with a deadline per file.

    A file that makes the reader hang (libhdf5 looping in C on a corrupted attribute) or
    crash costs one child process, not the ingest: after ``timeout_s`` the child is killed
    (a new one is started for the next file) and :class:`ProbeFailed` is raised.  The child
    is started once and reused, so a probe costs one inter-process round trip plus the
    metadata read itself; start-up (imports) is not counted against the deadline.

    Parameters
    ----------
    timeout_s
        Deadline for one file's metadata read.
    target
        ``"module:function"`` run in the child for each path (default :func:`probe_file`);
        tests point it at a reader that hangs.
    start_timeout_s
        Deadline for the child to start (imports).
    """

    def __init__(self, timeout_s: float = 30.0, target: str | None = None, start_timeout_s: float = 120.0) -> None:
        self.timeout_s = float(timeout_s)
        self.target = target
        self.start_timeout_s = float(start_timeout_s)
        self.proc = None
        self.restarts = 0

    def _start(self) -> None:
        import subprocess
        import sys

        env = {**os.environ, "DASEDGE_PROBE_PARENT": str(os.getpid()),
               "PYTHONPATH": os.pathsep.join([p for p in sys.path if p] + [os.environ.get("PYTHONPATH", "")])}
        if self.target:
            env["DASEDGE_PROBE_TARGET"] = self.target
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from dasedge.streaming.ingest import _probe_server; _probe_server()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True)
        self._buf = b""
        kind, _ = self._recv(self.start_timeout_s, "starting the metadata probe")
        assert kind == "ready"

    def _kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            self.proc = None
            self.restarts += 1

    def _recv(self, timeout_s: float, what: str):
        import pickle
        import select

        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        need = None
        while True:
            if need is None and len(self._buf) >= 8:
                need = 8 + int.from_bytes(self._buf[:8], "little")
            if need is not None and len(self._buf) >= need:
                obj = pickle.loads(self._buf[8:need])
                self._buf = self._buf[need:]
                return obj
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill()
                raise ProbeFailed(f"{what}: no answer within {timeout_s:g} s (reader hung, e.g. libhdf5 on a "
                                  f"corrupted attribute); reader process killed")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    code = self.proc.wait()
                    self._kill()
                    raise ProbeFailed(f"{what}: the reader process died (exit status {code})")
                self._buf += chunk

    def scan(self, path: str | os.PathLike):
        """:class:`dasedge.io.FileInfo` of ``path``; raises ``DASFileError`` or :class:`ProbeFailed`."""
        import json

        from dasedge import io

        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self._kill()
            self._start()
        path = str(path)
        try:
            self.proc.stdin.write((json.dumps(path) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._kill()
            raise ProbeFailed(f"{path}: the reader process died before the file was sent") from None
        kind, val = self._recv(self.timeout_s, f"{path}: reading the file's metadata")
        if kind == "ok":
            return val
        raise io.DASFileError(None, val)

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, Exception):  # noqa: BLE001
                pass
            self._kill()
            self.restarts -= 1  # a clean stop is not a restart


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
    probe_timeout_s: float | None = 30.0  # metadata read in a child process with this deadline; None = in-process
    probe_target: str | None = None  # "module:function" the probe child runs (tests); default probe_file
    quarantine_dir: str | None = None  # quarantined files are moved here (None: left in place, ledger only)


@dataclass
class IngestStats:
    files_done: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    files_quarantined: int = 0
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
        self.probe_ = (MetadataProbe(self.cfg.probe_timeout_s, self.cfg.probe_target)
                      if self.cfg.probe_timeout_s else None)
        stuck, again = self.ledger.recover()
        for e in stuck:
            log.error("ingest quarantined: %s", e["reason"])
            self._route_aside(Path(e["path"]), e["reason"], e["size"], e["mtime_ns"])
            self.stats.files_quarantined += 1
            self.stats.failed.append((e["path"], e["reason"]))
        for e in again:
            log.warning("ingest: %s was being published when the ingest stopped; publishing it again from its "
                        "start (same seq numbers, consumers drop the duplicates)", e["path"])

    # ------------------------------------------------------------- files
    def _fiber(self, path: Path, block_fiber: str) -> str:
        f = self.cfg.fiber_id
        if not f:
            return block_fiber
        return f.format(stem=path.stem, parent=path.parent.name)

    def _route_aside(self, path: Path, reason: str, size, mtime) -> None:
        """Quarantine ``path`` in the ledger and, with ``quarantine_dir``, move it there."""
        self.ledger.mark_quarantined(path, reason, size=size, mtime_ns=mtime)
        if not self.cfg.quarantine_dir:
            return
        qdir = Path(self.cfg.quarantine_dir)
        try:
            qdir.mkdir(parents=True, exist_ok=True)
            dest = qdir / path.name
            k = 1
            while dest.exists():
                dest = qdir / f"{path.stem}.{k}{path.suffix}"
                k += 1
            os.replace(path, dest)
        except OSError as exc:
            log.error("ingest: could not move quarantined %s to %s (%s); left in place", path, qdir, exc)
            return
        self.ledger.mark_quarantined(dest, f"moved from {path}: {reason}", size=size, mtime_ns=mtime)
        log.error("ingest: quarantined %s moved to %s", path, dest)

    def _quarantine(self, path: Path, reason: str, size, mtime) -> None:
        log.error("ingest quarantined: %s", reason)
        self._route_aside(path, reason, size, mtime)
        self.stats.files_quarantined += 1
        self.stats.failed.append((str(path), reason))

    def probe(self, path: Path, size: int | None, mtime: int | None):
        """Read ``path``'s metadata safely: ``FileInfo``, or ``None`` if it failed (logged, recorded).

        The ledger says ``reading`` while the reader has the file open; a hang or crash of the
        reader (in the probe child) quarantines the file, a ``DASFileError`` marks it failed.
        """
        from dasedge import io

        self.ledger.mark_reading(path, size=size, mtime_ns=mtime)
        try:
            info = self.probe_.scan(path) if self.probe_ is not None else io.scan(path)
            if info.n_time <= 0:
                raise io.DASFileError(path, "no samples")
        except ProbeFailed as exc:
            self._quarantine(path, str(exc), size, mtime)
            return None
        except ValueError as exc:
            self._fail(path, " ".join(str(exc).split()), size, mtime)
            return None
        except OSError as exc:
            self._fail(path, f"{path}: {exc}", size, mtime)
            return None
        self.ledger.clear(path)
        return info

    def publish_file(self, path: str | os.PathLike, *, pace=None, info=None) -> bool:
        """Publish one file (all chunks acknowledged) and record it in the ledger.

        Returns ``True`` if published, ``False`` if it failed or was quarantined (logged and
        recorded).  ``pace(t_end_ns)`` is called before each chunk is sent (replay timing).
        ``info``: the file's ``FileInfo`` from :meth:`probe` (probed here if ``None``).
        """
        from dasedge import io

        path = Path(path)
        try:
            st = path.stat()
        except OSError as exc:
            self._fail(path, f"{path}: cannot stat ({exc.strerror})", None, None)
            return False
        size, mtime = st.st_size, st.st_mtime_ns
        if info is None:
            info = self.probe(path, size, mtime)
            if info is None:
                return False
        self.ledger.mark_publishing(path, size=size, mtime_ns=mtime)
        sent: list = []
        fiber = None
        first = 0
        n_chunks = 0
        try:
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
        try:
            self._settle(sent)  # raises KafkaError if any record was not acknowledged
        except BaseException:
            self.ledger.clear(path)  # not the file's fault: it is published again (same seq numbers)
            raise
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
        files: list[Path] = []
        for p in paths:
            files += list_das_files(Path(p))
        todo: list[tuple[int, Path]] = []
        infos: dict[Path, object] = {}
        for f in files:
            if self.ledger.status(f) in ("done", "failed", "quarantined"):
                self.stats.files_skipped += 1
                continue
            try:
                st = f.stat()
            except OSError as exc:
                self._fail(f, f"{f}: cannot stat ({exc.strerror})", None, None)
                continue
            info = self.probe(f, st.st_size, st.st_mtime_ns)
            if info is not None:
                infos[f] = info
                todo.append((info.t0_ns, f))
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
            self.publish_file(f, pace=pace, info=infos[f])
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
                if entry is not None and (entry["status"] in ("done", "quarantined") or
                                          (entry["status"] == "failed" and
                                           (entry["size"], entry["mtime_ns"]) == sig)):
                    continue  # published or quarantined, or failed and unchanged since
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
            if self.probe_ is not None:
                self.probe_.close()
            self.ledger.close()
