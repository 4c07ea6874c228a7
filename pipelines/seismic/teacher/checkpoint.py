"""Read a TensorFlow-1 checkpoint (tensor bundle) without TensorFlow.

A TF1 checkpoint ``<prefix>.index`` is a LevelDB-format sorted string table
(SSTable): data blocks of prefix-compressed key/value entries, an index
block pointing at them and a 48-byte footer.  Each key is a tensor name
(the empty key holds the ``BundleHeaderProto``); each value is a serialised
``BundleEntryProto`` with ``dtype`` (field 1), ``shape`` (2, a
``TensorShapeProto`` of ``dim`` messages with ``size``), ``shard_id`` (3),
``offset`` (4) and ``size`` (5) of the raw little-endian tensor bytes in
``<prefix>.data-<shard>-of-<n>``.  Everything here is parsed by hand: varints,
protobuf wire types 0/1/2/5 and the block/restart layout.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["BundleEntry", "read_index", "read_checkpoint", "checkpoint_prefix"]

_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48
_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?", 19: "<f2"}


class CheckpointError(ValueError):
    """The checkpoint files are missing or malformed."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, object]]:
    """Decode a protobuf message into ``(field, wire_type, value)`` triples."""
    out = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        fno, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 1:
            val = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wt == 2:
            n, pos = _varint(buf, pos)
            val = buf[pos : pos + n]
            pos += n
        elif wt == 5:
            val = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wt}")
        out.append((fno, wt, val))
    return out


def _block_entries(buf: bytes) -> list[tuple[bytes, bytes]]:
    """Entries of one (uncompressed) SSTable block."""
    n_restarts = struct.unpack_from("<I", buf, len(buf) - 4)[0]
    end = len(buf) - 4 - 4 * n_restarts
    pos, key, out = 0, b"", []
    while pos < end:
        shared, pos = _varint(buf, pos)
        non_shared, pos = _varint(buf, pos)
        vlen, pos = _varint(buf, pos)
        key = key[:shared] + buf[pos : pos + non_shared]
        pos += non_shared
        out.append((key, buf[pos : pos + vlen]))
        pos += vlen
    return out


def _read_block(data: bytes, offset: int, size: int) -> bytes:
    block = data[offset : offset + size]
    ctype = data[offset + size]  # 5-byte trailer: compression type + crc32c
    if ctype != 0:
        raise CheckpointError(f"compressed SSTable blocks (type {ctype}) are not supported")
    return block


@dataclass(frozen=True)
class BundleEntry:
    """Where one tensor lives in the data shard(s)."""

    name: str
    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int


def _parse_entry(name: str, raw: bytes) -> BundleEntry:
    dtype = shard = offset = size = 0
    shape: list[int] = []
    for fno, _wt, val in _fields(raw):
        if fno == 1:
            dtype = int(val)  # type: ignore[arg-type]
        elif fno == 2:
            for f2, _w2, dim in _fields(val):  # type: ignore[arg-type]
                if f2 == 2:  # TensorShapeProto.dim
                    dsize = 0
                    for f3, _w3, v3 in _fields(dim):  # type: ignore[arg-type]
                        if f3 == 1:
                            dsize = int(v3)  # type: ignore[arg-type]
                    shape.append(dsize)
        elif fno == 3:
            shard = int(val)  # type: ignore[arg-type]
        elif fno == 4:
            offset = int(val)  # type: ignore[arg-type]
        elif fno == 5:
            size = int(val)  # type: ignore[arg-type]
        elif fno == 7:
            raise CheckpointError(f"tensor {name!r} is stored in slices; not supported")
    return BundleEntry(name, dtype, tuple(shape), shard, offset, size)


def checkpoint_prefix(path: str | Path) -> Path:
    """Resolve a checkpoint directory (via its ``checkpoint`` file) or prefix."""
    p = Path(path)
    if p.is_dir():
        state = p / "checkpoint"
        if state.exists():
            for line in state.read_text().splitlines():
                if line.startswith("model_checkpoint_path:"):
                    name = line.split(":", 1)[1].strip().strip('"')
                    return p / Path(name).name
        idx = sorted(p.glob("*.index"))
        if not idx:
            raise CheckpointError(f"{p}: no *.index file in checkpoint directory")
        return idx[-1].with_suffix("")
    if p.suffix == ".index":
        return p.with_suffix("")
    return p


def read_index(prefix: str | Path) -> tuple[dict[str, BundleEntry], int]:
    """Parse ``<prefix>.index``; return the entries and the number of shards."""
    path = Path(str(prefix) + ".index")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror})") from exc
    if len(data) < _FOOTER or struct.unpack_from("<Q", data, len(data) - 8)[0] != _MAGIC:
        raise CheckpointError(f"{path}: not a LevelDB table (bad magic)")
    footer = data[-_FOOTER:]
    _meta_off, pos = _varint(footer, 0)
    _meta_size, pos = _varint(footer, pos)
    idx_off, pos = _varint(footer, pos)
    idx_size, pos = _varint(footer, pos)
    entries: dict[str, BundleEntry] = {}
    num_shards = 1
    for _last_key, handle in _block_entries(_read_block(data, idx_off, idx_size)):
        boff, hp = _varint(handle, 0)
        bsize, _ = _varint(handle, hp)
        for key, val in _block_entries(_read_block(data, boff, bsize)):
            if key == b"":
                for fno, _wt, v in _fields(val):
                    if fno == 1:  # BundleHeaderProto.num_shards
                        num_shards = int(v)  # type: ignore[arg-type]
                continue
            name = key.decode()
            entries[name] = _parse_entry(name, val)
    return entries, num_shards


def read_checkpoint(path: str | Path, *, skip_optimizer: bool = True) -> dict[str, np.ndarray]:
    """All tensors of a TF1 checkpoint as numpy arrays (name -> array).

    Parameters
    ----------
    path
        Checkpoint directory or prefix (``.../model_95.ckpt``).
    skip_optimizer
        Drop Adam slot variables (``*/Adam``, ``*/Adam_1``) and ``beta*_power``.
    """
    prefix = checkpoint_prefix(path)
    entries, num_shards = read_index(prefix)
    shards: dict[int, bytes] = {}
    out: dict[str, np.ndarray] = {}
    for name, e in sorted(entries.items()):
        if skip_optimizer and (name.endswith(("/Adam", "/Adam_1")) or "_power" in name):
            continue
        if e.dtype not in _DTYPES:
            continue  # strings etc. are not needed
        if e.shard_id not in shards:
            sp = Path(f"{prefix}.data-{e.shard_id:05d}-of-{num_shards:05d}")
            try:
                shards[e.shard_id] = sp.read_bytes()
            except OSError as exc:
                raise CheckpointError(f"{sp}: cannot read ({exc.strerror})") from exc
        raw = shards[e.shard_id][e.offset : e.offset + e.size]
        dt = np.dtype(_DTYPES[e.dtype])
        n = int(np.prod(e.shape)) if e.shape else 1
        if len(raw) != n * dt.itemsize:
            raise CheckpointError(f"tensor {name!r}: {len(raw)} bytes, expected {n * dt.itemsize}")
        out[name] = np.frombuffer(raw, dtype=dt).reshape(e.shape).copy()
    return out
