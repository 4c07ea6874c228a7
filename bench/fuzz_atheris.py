"""Coverage-guided fuzzing of the Kafka record decoder with atheris (longer runs than CI).

    .venv/bin/pip install atheris            # PyPI, builds/installs on Python 3.11 here
    .venv/bin/python bench/fuzz_atheris.py -atheris_runs=200000          # decoder
    .venv/bin/python bench/fuzz_atheris.py --target file -max_total_time=600   # HDF5 readers

Targets
-------
``record`` (default)
    The fuzzer's bytes become a record: a header table (``name=value`` lines, seeded
    with the headers of real encoded blocks) and a value.  ``decode_record`` must return a
    valid block or raise ``RecordError``; anything else is a finding (atheris reports it
    with the input that caused it).
``file``
    The bytes are written to a file and read with ``dasedge.io.scan``/``read``; anything
    but a block or ``DASFileError`` is a finding.  Seed corpus: the real sample files
    (``--samples``).  Note: a libhdf5 hang is not caught here (use -timeout=N).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _record_target(data: bytes) -> None:
    from dasedge.streaming.codec import RecordError, decode_record

    head, _, value = data.partition(b"\0\0")
    headers = []
    for line in head.split(b"\n"):
        k, sep, v = line.partition(b"=")
        if sep:
            headers.append((k.decode("latin-1"), v))
    try:
        blk = decode_record(value, headers)
    except RecordError:
        return
    assert blk.data.shape == (blk.n_time, blk.n_channel)


def _seed_records(out: Path) -> None:
    import numpy as np

    from dasedge.block import DASBlock
    from dasedge.streaming.codec import encode_block

    out.mkdir(parents=True, exist_ok=True)
    blk = DASBlock(data=np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32), t0_ns=10**18, dt_s=0.01,
                   distance_m=np.arange(4.0), fiber_id="f")
    for i, kw in enumerate([{}, {"codec": "lz4"}, {"codec": "zstd", "shuffle": True}, {"dtype": "int16"}]):
        for j, (_, v, h) in enumerate(encode_block(blk, **kw)):
            head = b"\n".join(k.encode() + b"=" + val for k, val in h if b"\n" not in val and b"\0\0" not in val)
            (out / f"seed{i}_{j}").write_bytes(head + b"\0\0" + v)


_TMP = Path(tempfile.mkdtemp(prefix="atheris-das-"))


def _file_target(data: bytes) -> None:
    from dasedge import io

    p = _TMP / "case.h5"
    p.write_bytes(data)
    try:
        io.scan(p)
        io.read(p)
    except io.DASFileError:
        return


def main() -> None:
    import atheris

    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--target", choices=["record", "file"], default="record")
    ap.add_argument("--samples", default=os.environ.get("DASEDGE_SHARED", str(ROOT.parent / "shared")) + "/data/das-samples")
    ap.add_argument("--corpus", default=str(Path(tempfile.gettempdir()) / "dasedge-atheris-corpus"))
    args, rest = ap.parse_known_args()
    with atheris.instrument_imports():  # before anything imports them
        import dasedge.block  # noqa: F401
        import dasedge.io  # noqa: F401
        import dasedge.streaming.codec  # noqa: F401
    corpus = Path(args.corpus) / args.target
    if args.target == "record":
        _seed_records(corpus)
        target = _record_target
    else:
        corpus.mkdir(parents=True, exist_ok=True)
        for f in Path(args.samples).glob("*.h*5"):
            if not (corpus / f.name).exists():
                (corpus / f.name).write_bytes(f.read_bytes())
        target = _file_target
    atheris.Setup([sys.argv[0], *rest, str(corpus)], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
