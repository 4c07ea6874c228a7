"""Kafka record codec for DAS blocks.

One record = one ``[time, channel]`` chunk of one fiber:

* **key**: ``fiber_id`` (UTF-8), so all chunks of a fiber stay ordered on one partition
  (optionally ``fiber_id#channel_start`` to spread channel blocks over partitions);
* **value**: the raw little-endian array bytes, C order (``float32`` by default, or
  ``int16``/``int32`` quantised with a scale), optionally lz4/zstd compressed and
  optionally byte-shuffled before compression;
* **headers** (all ASCII, except the binary ``das.distance``/``das.chidx`` arrays):

  ============== ===================================================================
  das.v          format version (``1``)
  das.fiber      fiber id
  das.t0_ns      UTC ns of the first sample
  das.dt_s       sampling interval (Python ``repr`` of the float, round-trips exactly)
  das.dtype      ``float32`` | ``int16`` | ``int32`` (stored little-endian)
  das.scale      physical value = stored * scale (quantised dtypes only)
  das.shape      ``n_time,n_channel``
  das.dist0/das.dstep  distance of the first channel and spacing, m (regular layout) or
  das.distance   float64 LE array of all channel distances (irregular layout)
  das.ch_start   channel index of the first channel; das.ch_step (regular) or
  das.chidx      int64 LE array of all channel indices (irregular)
  das.ch_count   number of channels
  das.seq        block sequence number in the fiber stream
  das.part / das.n_parts  position of this chunk in the block (time-major, then channel block)
  das.data_type / das.units / das.gauge_m   physical quantity, unit, gauge length (``""`` = none)
  das.codec      ``none`` | ``lz4`` | ``zstd``;  das.shuffle ``1`` if byte-shuffled
  ============== ===================================================================

:func:`decode_record` validates all of it and raises :class:`RecordError` with a one-line
reason; an uncompressed float32 value is wrapped with ``np.frombuffer`` (zero copy).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from dasedge.block import BlockError, DASBlock

FORMAT_VERSION = 1
#: default upper bound of one record value (the broker accepts 32 MiB)
MAX_RECORD_BYTES = 8 * 1024 * 1024

DTYPES = {"float32": np.dtype("<f4"), "int16": np.dtype("<i2"), "int32": np.dtype("<i4")}
CODECS = ("none", "lz4", "zstd")
REQUIRED = ("das.v", "das.fiber", "das.t0_ns", "das.dt_s", "das.dtype", "das.shape", "das.ch_start",
            "das.ch_count", "das.seq", "das.part", "das.n_parts", "das.data_type", "das.units", "das.codec")

Headers = list[tuple[str, bytes]]
Record = tuple[bytes, bytes, Headers]


class RecordError(ValueError):
    """A Kafka record is not a valid dasedge DAS record (one-line reason)."""


# ------------------------------------------------------------------ helpers
def _regular(values: np.ndarray, rtol: float = 1e-9) -> tuple[float, float] | None:
    """``(start, step)`` if ``values == start + step * arange(n)`` within rtol, else None."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return (0.0, 1.0)
    if v.size == 1:
        return (float(v[0]), 1.0)
    step = (v[-1] - v[0]) / (v.size - 1)
    fit = v[0] + step * np.arange(v.size)
    tol = rtol * max(1.0, abs(step), float(np.max(np.abs(v))))
    if step != 0 and float(np.max(np.abs(fit - v))) <= tol:
        return (float(v[0]), float(step))
    return None


def _compress(raw: bytes | memoryview, codec: str, level: int | None) -> bytes:
    if codec == "lz4":
        import lz4.frame

        return lz4.frame.compress(raw, compression_level=level or 0)
    if codec == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=level or 3).compress(raw)
    raise RecordError(f"unknown codec {codec!r}")


def _decompress(value: bytes, codec: str, expected: int) -> bytes:
    try:
        if codec == "lz4":
            import lz4.frame

            # bounded: a small frame must not expand to gigabytes before the length check
            d = lz4.frame.LZ4FrameDecompressor()
            out = d.decompress(value, max_length=expected + 1)
            if not d.eof and len(out) <= expected:
                raise RecordError("lz4 frame is truncated")
            return out
        if codec == "zstd":
            import zstandard

            return zstandard.ZstdDecompressor().decompress(value, max_output_size=expected)
    except Exception as exc:  # corrupt stream
        raise RecordError(f"{codec} decompression failed: {exc}") from None
    raise RecordError(f"unknown codec {codec!r}")


def _shuffle(arr: np.ndarray) -> bytes:
    """Byte-shuffle: all first bytes of every element, then all second bytes, ..."""
    b = arr.reshape(-1).view(np.uint8).reshape(-1, arr.dtype.itemsize)
    return np.ascontiguousarray(b.T).tobytes()


def _unshuffle(raw: bytes, dtype: np.dtype, count: int) -> np.ndarray:
    b = np.frombuffer(raw, dtype=np.uint8).reshape(dtype.itemsize, count)
    return np.ascontiguousarray(b.T).view(dtype).reshape(-1)


def _quantise(data: np.ndarray, dtype: np.dtype, scale: float | None) -> tuple[np.ndarray, float]:
    info = np.iinfo(dtype)
    x = np.asarray(data, dtype=np.float64)
    if x.size and not np.isfinite(x).all():
        raise RecordError("cannot quantise non-finite samples")
    if scale is None:
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        scale = peak / info.max if peak > 0 else 1.0
    if not (math.isfinite(scale) and scale > 0):
        raise RecordError(f"quantisation scale must be finite and > 0, got {scale!r}")
    q = np.clip(np.rint(x / scale), info.min, info.max).astype(dtype)
    return q, float(scale)


def split_plan(n_time: int, n_channel: int, itemsize: int, max_bytes: int,
               channels_per_record: int | None = None) -> tuple[list[slice], list[slice]]:
    """Time slices and channel slices so each chunk holds at most ``max_bytes``."""
    cpr = n_channel if channels_per_record is None else max(1, min(channels_per_record, n_channel))
    if cpr * itemsize > max_bytes:  # even one time row is too big: split channels
        cpr = max(1, max_bytes // itemsize)
    ch_slices = [slice(c, min(c + cpr, n_channel)) for c in range(0, max(n_channel, 1), cpr)]
    rows = max(1, max_bytes // (cpr * itemsize))
    t_slices = [slice(t, min(t + rows, n_time)) for t in range(0, max(n_time, 1), rows)]
    return t_slices, ch_slices


# ------------------------------------------------------------------- encode
def encode_block(
    block: DASBlock,
    *,
    max_bytes: int = MAX_RECORD_BYTES,
    dtype: str = "float32",
    scale: float | None = None,
    codec: str = "none",
    level: int | None = None,
    shuffle: bool = False,
    channels_per_record: int | None = None,
    key_by_channel_block: bool = False,
) -> list[Record]:
    """Encode one block as Kafka records ``(key, value, headers)``.

    The block is split by time (and by channel block when one time row does not fit or
    ``channels_per_record`` is given) so every *uncompressed* value is ≤ ``max_bytes``.
    Parts are numbered time-major: ``part = i_time * n_channel_blocks + i_channel``.

    Parameters
    ----------
    dtype
        ``float32`` (exact), or ``int16``/``int32`` quantised with ``scale`` (default:
        peak / int max of each chunk).
    codec, level, shuffle
        Optional lz4/zstd compression (with a byte-shuffle first if ``shuffle``).
    """
    if dtype not in DTYPES:
        raise RecordError(f"unsupported dtype {dtype!r}; expected one of {sorted(DTYPES)}")
    if codec not in CODECS:
        raise RecordError(f"unsupported codec {codec!r}; expected one of {CODECS}")
    dt = DTYPES[dtype]
    t_slices, ch_slices = split_plan(block.n_time, block.n_channel, dt.itemsize, max_bytes, channels_per_record)
    n_parts = len(t_slices) * len(ch_slices)
    fiber = block.fiber_id.encode()
    common: Headers = [
        ("das.v", str(FORMAT_VERSION).encode()),
        ("das.fiber", fiber),
        ("das.dt_s", repr(block.dt_s).encode()),
        ("das.dtype", dtype.encode()),
        ("das.seq", str(int(block.seq)).encode()),
        ("das.n_parts", str(n_parts).encode()),
        ("das.data_type", block.data_type.encode()),
        ("das.units", block.data_units.encode()),
        ("das.gauge_m", b"" if block.gauge_length_m is None else repr(float(block.gauge_length_m)).encode()),
        ("das.codec", codec.encode()),
    ]
    if shuffle:
        common.append(("das.shuffle", b"1"))
    records: list[Record] = []
    part = 0
    for ts in t_slices:
        t0 = block.t0_ns + round((ts.start or 0) * block.dt_s * 1e9)
        for cs in ch_slices:
            data = block.data[ts, cs]
            dist = block.distance_m[cs]
            chidx = block.channel_index[cs]
            if dtype == "float32":
                arr, sc = np.ascontiguousarray(data, dtype=dt), None
            else:
                arr, sc = _quantise(np.asarray(data), dt, scale)
            raw: bytes | memoryview = _shuffle(arr) if shuffle else memoryview(arr).cast("B")
            value = bytes(raw) if codec == "none" else _compress(raw, codec, level)
            h = list(common)
            h += [
                ("das.t0_ns", str(int(t0)).encode()),
                ("das.shape", f"{data.shape[0]},{data.shape[1]}".encode()),
                ("das.part", str(part).encode()),
                ("das.ch_start", str(int(chidx[0]) if chidx.size else 0).encode()),
                ("das.ch_count", str(int(chidx.size)).encode()),
            ]
            if sc is not None:
                h.append(("das.scale", repr(sc).encode()))
            reg = _regular(dist)
            if reg is not None:
                h += [("das.dist0", repr(reg[0]).encode()), ("das.dstep", repr(reg[1]).encode())]
            else:
                h.append(("das.distance", np.ascontiguousarray(dist, dtype="<f8").tobytes()))
            steps = np.diff(chidx)
            if chidx.size < 2 or np.all(steps == steps[0]):
                h.append(("das.ch_step", str(int(steps[0]) if chidx.size >= 2 else 1).encode()))
            else:
                h.append(("das.chidx", np.ascontiguousarray(chidx, dtype="<i8").tobytes()))
            key = fiber if not key_by_channel_block else fiber + b"#" + str(int(chidx[0])).encode()
            records.append((key, value, h))
            part += 1
    return records


# ------------------------------------------------------------------- decode
def headers_dict(headers: Iterable[tuple[str, bytes]] | None) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for item in headers or ():
        try:
            k, v = item
        except (TypeError, ValueError):
            raise RecordError("malformed header entry") from None
        out[k] = v if v is not None else b""
    return out


def _text(h: dict[str, bytes], key: str) -> str:
    try:
        return h[key].decode("ascii" if key not in ("das.fiber", "das.units") else "utf-8")
    except UnicodeDecodeError:
        raise RecordError(f"header {key} is not valid text") from None


def _int(h: dict[str, bytes], key: str) -> int:
    s = _text(h, key)
    try:
        v = int(s)
    except ValueError:
        raise RecordError(f"header {key}={s[:40]!r} is not an integer") from None
    if not -(2**63) <= v < 2**63:  # every integer header is stored as int64
        raise RecordError(f"header {key}={s[:40]!r} is outside the int64 range")
    return v


def _float(h: dict[str, bytes], key: str) -> float:
    s = _text(h, key)
    try:
        v = float(s)
    except ValueError:
        raise RecordError(f"header {key}={s!r} is not a number") from None
    if not math.isfinite(v):
        raise RecordError(f"header {key}={s!r} is not finite")
    return v


def decode_record(value: bytes | None, headers: Sequence[tuple[str, bytes]] | dict | None) -> DASBlock:
    """Decode one record into a :class:`DASBlock` (zero copy when uncompressed float32).

    The block's ``attrs`` carry ``part``, ``n_parts`` and ``codec``.

    Raises
    ------
    RecordError
        Missing/garbled header, unknown version/dtype/codec, wrong value length,
        inconsistent distances, or a block that fails :class:`DASBlock` validation.
    """
    h = headers if isinstance(headers, dict) else headers_dict(headers)
    if "das.v" not in h:
        raise RecordError("missing header das.v (not a dasedge DAS record)")
    version = _int(h, "das.v")
    if version != FORMAT_VERSION:
        raise RecordError(f"unsupported record format version {version} (this reader knows {FORMAT_VERSION})")
    missing = [k for k in REQUIRED if k not in h]
    if missing:
        raise RecordError(f"missing header(s) {', '.join(missing)}")
    if value is None:
        raise RecordError("record has no value")
    dtype_name = _text(h, "das.dtype")
    if dtype_name not in DTYPES:
        raise RecordError(f"bad dtype {dtype_name!r}; expected one of {sorted(DTYPES)}")
    dt = DTYPES[dtype_name]
    shape_s = _text(h, "das.shape")
    try:
        nt, nch = (int(x) for x in shape_s.split(","))
    except ValueError:
        raise RecordError(f"header das.shape={shape_s!r} is not 'n_time,n_channel'") from None
    if nt < 0 or nch < 1:
        raise RecordError(f"bad shape {shape_s!r}")
    if _int(h, "das.ch_count") != nch:
        raise RecordError(f"das.ch_count={_int(h, 'das.ch_count')} does not match shape {shape_s}")
    part, n_parts = _int(h, "das.part"), _int(h, "das.n_parts")
    if not (0 <= part < n_parts):
        raise RecordError(f"part {part} outside 0..{n_parts - 1}")
    codec = _text(h, "das.codec")
    if codec not in CODECS:
        raise RecordError(f"unknown codec {codec!r}")
    expected = nt * nch * dt.itemsize
    raw = value if codec == "none" else _decompress(value, codec, expected)
    if len(raw) != expected:
        raise RecordError(f"value has {len(raw)} bytes, expected {expected} for {dtype_name} shape {nt}x{nch}")
    if h.get("das.shuffle") == b"1":
        arr = _unshuffle(raw, dt, nt * nch).reshape(nt, nch)
    else:
        arr = np.frombuffer(raw, dtype=dt).reshape(nt, nch)
    if dtype_name != "float32":
        if "das.scale" not in h:
            raise RecordError(f"missing header das.scale for quantised dtype {dtype_name}")
        arr = arr.astype(np.float32) * np.float32(_float(h, "das.scale"))
    if "das.distance" in h:
        if len(h["das.distance"]) != 8 * nch:
            raise RecordError(f"das.distance holds {len(h['das.distance'])} bytes, expected {8 * nch}")
        dist = np.frombuffer(h["das.distance"], dtype="<f8")
    elif "das.dist0" in h and "das.dstep" in h:
        dist = _float(h, "das.dist0") + _float(h, "das.dstep") * np.arange(nch)
    else:
        raise RecordError("missing header das.dist0/das.dstep or das.distance")
    ch0 = _int(h, "das.ch_start")
    if "das.chidx" in h:
        if len(h["das.chidx"]) != 8 * nch:
            raise RecordError(f"das.chidx holds {len(h['das.chidx'])} bytes, expected {8 * nch}")
        chidx = np.frombuffer(h["das.chidx"], dtype="<i8")
    else:
        step = _int(h, "das.ch_step") if "das.ch_step" in h else 1
        chidx = ch0 + step * np.arange(nch, dtype=np.int64)
    gauge_s = _text(h, "das.gauge_m") if "das.gauge_m" in h else ""
    gauge = None if gauge_s == "" else _float(h, "das.gauge_m")
    dt_s = _float(h, "das.dt_s")
    try:
        return DASBlock(
            data=arr,
            t0_ns=_int(h, "das.t0_ns"),
            dt_s=dt_s,
            distance_m=dist,
            gauge_length_m=gauge,
            data_type=_text(h, "das.data_type"),
            data_units=_text(h, "das.units"),
            fiber_id=_text(h, "das.fiber"),
            seq=_int(h, "das.seq"),
            channel_index=chidx,
            attrs={"part": part, "n_parts": n_parts, "codec": codec},
        )
    except BlockError as exc:
        raise RecordError(f"invalid block: {exc}") from None
