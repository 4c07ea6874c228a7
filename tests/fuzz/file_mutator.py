"""Child process for the reader fuzz tests: mutate real files, read them, report outcomes.

Run as ``python -m tests.fuzz.file_mutator SAMPLES_DIR WORK_DIR N_PER_FILE SEED``; prints one
JSON line ``{"rejected": n, "ok": n, "other": [[file, mutation, type, message], ...],
"by_file": {...}}``.  It runs in its own process (with an address-space limit) so that a
crash or a runaway allocation inside HDF5 shows up as a non-zero exit code of the child
instead of killing the test runner.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

import numpy as np


def mutations(data: bytes, rng: np.random.Generator, n: int):
    """Yield ``(label, mutated_bytes)``: truncations, bit flips, zeroed and shuffled ranges."""
    size = len(data)
    raw = np.frombuffer(data, dtype=np.uint8)
    # metadata lives mostly near the start and the end of HDF5 files: oversample them
    def pos(k):
        lo = rng.integers(0, min(size, 8192), k // 2)
        hi = rng.integers(0, size, k - k // 2)
        return np.concatenate([lo, hi])

    kinds = ("truncate", "flip", "zero", "dup", "flip_many")
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == "truncate":
            cut = int(pos(2)[i % 2])
            yield f"truncate@{cut}", data[:cut]
        elif kind == "flip":
            m = raw.copy()
            idx = pos(int(rng.integers(1, 5)))
            m[idx] ^= (1 << rng.integers(0, 8, idx.size)).astype(np.uint8)
            yield f"flip@{idx.tolist()}", m.tobytes()
        elif kind == "flip_many":
            m = raw.copy()
            idx = rng.integers(0, size, 64)
            m[idx] = rng.integers(0, 256, idx.size, dtype=np.uint8)
            yield "flip_many", m.tobytes()
        elif kind == "zero":
            a = int(pos(1)[0])
            b = min(size, a + int(rng.integers(1, 4096)))
            m = raw.copy()
            m[a:b] = 0
            yield f"zero@{a}:{b}", m.tobytes()
        else:  # copy a block over another place (plausible-looking garbage)
            a, b = (int(x) for x in pos(2))
            ln = int(rng.integers(8, 2048))
            m = raw.copy()
            src = m[a:a + ln].copy()
            m[b:b + src.size] = src[: max(0, min(src.size, size - b))]
            yield f"dup@{a}->{b}", m.tobytes()


CASE_TIMEOUT_S = 10
TRACE = bool(__import__("os").environ.get("FUZZ_TRACE"))


def _check(target: Path) -> tuple[str, str]:
    """Read one file like the ingest does; ``("rejected"|"ok"|"other", detail)``."""
    from dasedge import io
    from dasedge.block import DASBlock

    try:
        info = io.scan(target)
        blk = io.read(target)
        assert isinstance(blk, DASBlock) and blk.data.ndim == 2 and blk.n_time == info.n_time
        t1 = info.t0_ns + int(0.25 * info.n_time * info.dt_s * 1e9)
        io.read(target, time=(info.t0_ns, t1))
        return "ok", ""
    except io.DASFileError as exc:
        msg = str(exc)
        if not msg or "\n" in msg or str(target) not in msg:
            return "other", f"BadMessage: {msg[:300]}"
        return "rejected", msg[:200]
    except Exception as exc:  # noqa: BLE001 - this is what the test looks for
        return "other", f"{type(exc).__name__}: {str(exc)[:300]}"


def _run_case(target: Path) -> tuple[str, str]:
    """Run :func:`_check` in a forked child with a deadline (a hang inside libhdf5's C code
    cannot be interrupted from Python) and report crashes by signal."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            kind, detail = _check(target)
        except BaseException as exc:  # noqa: BLE001
            kind, detail = "other", f"{type(exc).__name__}: {exc}"
        os.write(w, json.dumps([kind, detail]).encode())
        os._exit(0)
    os.close(w)
    deadline = time.monotonic() + CASE_TIMEOUT_S
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.002)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
        return "hang", f"no answer within {CASE_TIMEOUT_S} s"
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    if os.WIFSIGNALED(status):
        return "crash", f"killed by signal {os.WTERMSIG(status)}"
    return tuple(json.loads(data)) if data else ("crash", f"exit status {status}")


def main(argv: list[str]) -> int:
    samples, work, n_per, seed = Path(argv[0]), Path(argv[1]), int(argv[2]), int(argv[3])
    # a runaway allocation must be a MemoryError (-> DASFileError), not the OOM killer
    resource.setrlimit(resource.RLIMIT_AS, (6 * 1024**3, 6 * 1024**3))
    import h5py  # noqa: F401 - import once, before forking

    import dasedge.io  # noqa: F401

    rng = np.random.default_rng(seed)
    work.mkdir(parents=True, exist_ok=True)
    out: dict = {"rejected": 0, "ok": 0, "other": [], "hang": [], "crash": [], "by_file": {}}
    files = sorted(p for p in samples.iterdir() if p.suffix in (".h5", ".hdf5"))
    for f in files:
        data = f.read_bytes()
        stats = out["by_file"].setdefault(f.name, {"rejected": 0, "ok": 0})
        for i, (label, mutated) in enumerate(mutations(data, rng, n_per)):
            # a fresh name each time: HDF5 must not hand back a cached handle of an earlier file
            target = work / f"{i:05d}-{f.name}"
            target.write_bytes(mutated)
            if TRACE:
                print(f"case {f.name} {label}", file=sys.stderr, flush=True)
            kind, detail = _run_case(target)
            if kind in ("rejected", "ok"):
                out[kind] += 1
                stats[kind] += 1
            else:
                out[kind].append([f.name, label, detail])
                if kind == "hang":  # keep the file for the report
                    keep = work / "hangs"
                    keep.mkdir(exist_ok=True)
                    target.rename(keep / target.name)
                    continue
            target.unlink()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
