"""Malformed Kafka records: ``decode_record`` raises ``RecordError`` with a reason, nothing else.

Two kinds of input:

* **certainly invalid** (truncated/extended value, missing required header, garbage in a
  numeric header, wrong version, corrupt compressed stream, ...): must raise
  :class:`RecordError` with a non-empty one-line message;
* **arbitrary mutations** (bit flips anywhere, random header values): must either raise
  ``RecordError`` or give a block that satisfies the ``DASBlock`` invariants.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dasedge.block import DASBlock
from dasedge.streaming.codec import REQUIRED, RecordError, decode_record, encode_block

from .common import count, sample_block

VARIANTS = [
    {},
    {"codec": "lz4"},
    {"codec": "zstd", "shuffle": True},
    {"dtype": "int16"},
    {"dtype": "int32", "codec": "zstd"},
    {"shuffle": True},
    {"dtype": "int32"},
]


def _records():
    out = []
    for i, kw in enumerate(VARIANTS):
        blk = sample_block(seed=i)
        if i == 1:  # irregular distances and channel indices -> binary headers
            blk = blk.new(distance_m=np.array([0, 1, 3, 7, 8, 20.0]), channel_index=np.array([0, 1, 3, 7, 8, 20]))
        out += encode_block(blk, **kw)
    return out


RECORDS = _records()


def _reject(value, headers) -> str:
    try:
        decode_record(value, headers)
    except RecordError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg, repr(msg)
        return msg
    raise AssertionError(f"accepted an invalid record: headers={headers!r} value={len(value or b'')} bytes")


def _decode_or_reject(value, headers) -> bool:
    """True if rejected (RecordError), False if it decoded into a valid block."""
    try:
        blk = decode_record(value, headers)
    except RecordError as exc:
        assert str(exc)
        return True
    assert isinstance(blk, DASBlock)
    assert blk.data.ndim == 2 and blk.data.shape[1] == blk.distance_m.shape[0] == blk.channel_index.shape[0]
    assert blk.data.dtype == np.float32 and np.isfinite(blk.data).all()
    return False


def test_decoder_vectorised_mutations():
    """Cheap deterministic mutations of every record variant: about 8,000 inputs."""
    rng = np.random.default_rng(7)
    n_rejected = n_arbitrary = 0
    for key, value, headers in RECORDS:
        hd = dict(headers)
        # 1) truncated / extended values (certainly invalid for uncompressed values)
        cuts = np.unique(rng.integers(0, len(value), 900))
        for c in cuts:
            if hd["das.codec"] == b"none":
                _reject(value[:c], headers)
                n_rejected += 1
            else:
                n_arbitrary += _decode_or_reject(value[:c], headers) or 1
        for extra in (1, 2, 3, 4, 7, 4096):
            if hd["das.codec"] == b"none":
                _reject(value + b"\0" * extra, headers)
                n_rejected += 1
        # 2) each required header missing
        for k in REQUIRED:
            _reject(value, [(hk, hv) for hk, hv in headers if hk != k])
            n_rejected += 1
        # 3) garbage in every header (non-numeric, non-ASCII, empty, huge, negative, nan/inf)
        garbage = [b"", b"x", b"-1", b"nan", b"inf", b"1e400", b"\xff\xfe", b"9" * 5000, b"1,2,3", b"0",
                   b"-9223372036854775809", b" ", b"0x10", b"1.5", b"\x00"]
        for k, _ in headers:
            for g in garbage:
                h = [(hk, g if hk == k else hv) for hk, hv in headers]
                n_arbitrary += 1
                _decode_or_reject(value, h)
        # 4) random bit flips in the value (compressed: mostly corrupt streams)
        raw = np.frombuffer(value, dtype=np.uint8)
        for _ in range(350):
            m = raw.copy()
            idx = rng.integers(0, m.size, rng.integers(1, 8))
            m[idx] ^= (1 << rng.integers(0, 8, idx.size)).astype(np.uint8)
            _decode_or_reject(m.tobytes(), headers)
            n_arbitrary += 1
        # 5) wrong version, unknown dtype/codec, no value, shape mismatch
        for k, v in (("das.v", b"2"), ("das.dtype", b"float64"), ("das.codec", b"gzip"), ("das.shape", b"3,4"),
                     ("das.ch_count", b"999"), ("das.part", hd["das.n_parts"]), ("das.data_type", b"weird")):
            _reject(value, [(hk, v if hk == k else hv) for hk, hv in headers])
            n_rejected += 1
        _reject(None, headers)
        _reject(value, None)
        _reject(value, [("das.v", b"1")])
        n_rejected += 3
    total = n_rejected + n_arbitrary
    count("codec_vectorised", total)
    print(f"codec: {n_rejected} certainly-invalid records rejected, {n_arbitrary} arbitrary mutations handled")
    assert n_rejected >= 2200 and total >= 8200, (n_rejected, total)


_header_names = st.sampled_from(sorted({k for _, _, h in RECORDS for k, _ in h} | {"das.shuffle", "junk"}))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    idx=st.integers(0, len(RECORDS) - 1),
    edits=st.lists(st.tuples(_header_names, st.binary(max_size=24)), max_size=4),
    drop=st.lists(_header_names, max_size=2),
    value_edit=st.one_of(st.none(), st.binary(max_size=64), st.tuples(st.integers(0, 10_000), st.integers(0, 255))),
)
def test_decoder_hypothesis(idx, edits, drop, value_edit):
    """Random header edits/drops and value replacements: RecordError or a valid block."""
    _, value, headers = RECORDS[idx]
    h = dict(headers)
    for k in drop:
        h.pop(k, None)
    for k, v in edits:
        h[k] = v
    if isinstance(value_edit, bytes):
        value = value_edit
    elif isinstance(value_edit, tuple):
        b = bytearray(value)
        b[value_edit[0] % len(b)] ^= value_edit[1] or 1
        value = bytes(b)
    count("codec_hypothesis")
    _decode_or_reject(value, list(h.items()))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(headers=st.lists(st.tuples(st.text(max_size=12), st.binary(max_size=16)), max_size=8),
       value=st.one_of(st.none(), st.binary(max_size=256)))
def test_decoder_random_garbage(headers, value):
    """Records from another producer (no das.v) are rejected, never crash."""
    count("codec_garbage")
    if not any(k == "das.v" for k, _ in headers):
        _reject(value, headers)
    else:
        _decode_or_reject(value, headers)


def test_lz4_frame_bomb_is_bounded():
    """A small lz4 frame that expands far beyond the declared shape is rejected."""
    import lz4.frame

    _, value, headers = encode_block(sample_block(), codec="lz4")[0]
    bomb = lz4.frame.compress(b"\0" * (64 * 1024 * 1024))
    assert len(bomb) < 1_000_000
    msg = _reject(bomb, headers)
    count("codec_vectorised")
    assert "bytes" in msg or "lz4" in msg
