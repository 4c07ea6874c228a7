"""Codec round trips and validation, checked against the original numpy arrays."""

from __future__ import annotations

import numpy as np
import pytest

from dasedge.block import DASBlock, concat_time
from dasedge.streaming.codec import MAX_RECORD_BYTES, RecordError, decode_record, encode_block

T0 = 1_700_000_000_123_456_789


def make_block(nt=1000, nch=64, seed=0, **kw) -> DASBlock:
    rng = np.random.default_rng(seed)
    data = np.cumsum(rng.standard_normal((nt, nch)), axis=0).astype(np.float32)
    kw.setdefault("distance_m", 100.0 + 1.0213 * np.arange(nch))
    return DASBlock(data=data, t0_ns=T0, dt_s=0.002, gauge_length_m=10.21, fiber_id="f-1", seq=7, **kw)


def test_float32_round_trip_is_exact_and_zero_copy():
    block = make_block()
    [(key, value, headers)] = encode_block(block)
    assert key == b"f-1" and len(value) == block.data.nbytes
    out = decode_record(value, headers)
    np.testing.assert_array_equal(out.data, block.data)
    np.testing.assert_allclose(out.distance_m, block.distance_m, rtol=0, atol=1e-9)
    assert (out.t0_ns, out.dt_s, out.gauge_length_m, out.fiber_id, out.seq) == (T0, 0.002, 10.21, "f-1", 7)
    assert (out.data_type, out.data_units) == ("strain_rate", "1/s")
    # zero copy: the array is a view on the record value bytes
    assert np.shares_memory(out.data, np.frombuffer(value, dtype=np.uint8))


def test_irregular_distance_and_channel_index_survive():
    dist = np.array([0.0, 1.0, 2.5, 7.0, 7.5])
    chidx = np.array([32500, 32550, 32600, 32700, 32750])
    block = make_block(nt=50, nch=5, distance_m=dist, channel_index=chidx)
    [(_, value, headers)] = encode_block(block)
    out = decode_record(value, headers)
    np.testing.assert_array_equal(out.distance_m, dist)
    np.testing.assert_array_equal(out.channel_index, chidx)


def test_split_by_time_and_channels_stays_under_limit_and_reassembles():
    block = make_block(nt=3000, nch=700)  # 8.4 MB float32
    limit = 1_000_000
    recs = encode_block(block, max_bytes=limit, channels_per_record=300)
    assert all(len(v) <= limit for _, v, _ in recs)
    parts = [decode_record(v, h) for _, v, h in recs]
    assert sorted(p.attrs["part"] for p in parts) == list(range(len(recs)))
    assert {p.attrs["n_parts"] for p in parts} == {len(recs)}
    # channel blocks: 0..299, 300..599, 600..699; reassemble each along time, then channels
    cols = []
    for c0 in (0, 300, 600):
        col = [p for p in parts if p.channel_index[0] == c0]
        col.sort(key=lambda p: p.t0_ns)
        cols.append(concat_time(col).data)
    np.testing.assert_array_equal(np.concatenate(cols, axis=1), block.data)


def test_default_limit_is_8_mib():
    block = make_block(nt=40000, nch=64)  # 10.24 MB
    recs = encode_block(block)
    assert len(recs) == 2 and max(len(v) for _, v, _ in recs) <= MAX_RECORD_BYTES == 8 * 1024 * 1024


@pytest.mark.parametrize("codec", ["lz4", "zstd"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_compressed_round_trip(codec, shuffle):
    block = make_block()
    [(_, value, headers)] = encode_block(block, codec=codec, shuffle=shuffle)
    assert dict(headers)["das.codec"] == codec.encode()
    np.testing.assert_array_equal(decode_record(value, headers).data, block.data)


@pytest.mark.parametrize("dtype,bits", [("int16", 16), ("int32", 32)])
def test_quantised_error_is_within_half_a_step(dtype, bits):
    block = make_block()
    [(_, value, headers)] = encode_block(block, dtype=dtype, codec="zstd")
    out = decode_record(value, headers)
    step = np.abs(block.data).max() / (2 ** (bits - 1) - 1)
    assert np.abs(out.data - block.data).max() <= 0.5 * step * 1.001 + 1e-6 * np.abs(block.data).max()


def _one():
    block = make_block(nt=10, nch=4)
    [(_, value, headers)] = encode_block(block)
    return value, headers


def _replace(headers, key, new):
    return [(k, new if k == key else v) for k, v in headers]


@pytest.mark.parametrize(
    "mutate,reason",
    [
        (lambda v, h: (v[:-4], h), "expected 160"),
        (lambda v, h: (v, _replace(h, "das.v", b"9")), "version 9"),
        (lambda v, h: (v, _replace(h, "das.dtype", b"float16")), "bad dtype"),
        (lambda v, h: (v, [x for x in h if x[0] != "das.t0_ns"]), "missing header(s) das.t0_ns"),
        (lambda v, h: (v, []), "missing header das.v"),
        (lambda v, h: (v, _replace(h, "das.shape", b"ten,4")), "das.shape"),
        (lambda v, h: (v, _replace(h, "das.dt_s", b"-1")), "dt_s"),
        (lambda v, h: (v, _replace(h, "das.codec", b"zstd")), "zstd decompression failed"),
        (lambda v, h: (v, _replace(h, "das.part", b"3")), "part 3 outside"),
        (lambda v, h: (b"\xff" * 160, h), "non-finite"),
        (lambda v, h: (v, _replace(h, "das.data_type", b"voltage")), "unknown data_type"),
    ],
)
def test_invalid_records_raise_record_error_with_reason(mutate, reason):
    value, headers = mutate(*_one())
    with pytest.raises(RecordError, match=None) as err:
        decode_record(value, headers)
    assert reason in str(err.value)


from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=40, deadline=None)
@given(
    nt=st.integers(1, 300),
    nch=st.integers(1, 40),
    max_bytes=st.integers(4, 20000),
    cpr=st.one_of(st.none(), st.integers(1, 40)),
    codec=st.sampled_from(["none", "lz4", "zstd"]),
    shuffle=st.booleans(),
)
def test_any_split_reassembles_exactly(nt, nch, max_bytes, cpr, codec, shuffle):
    block = make_block(nt=nt, nch=nch, seed=nt * 41 + nch)
    recs = encode_block(block, max_bytes=max_bytes, channels_per_record=cpr, codec=codec, shuffle=shuffle)
    parts = [decode_record(v, h) for _, v, h in recs]
    out = np.full((nt, nch), np.nan, dtype=np.float32)
    for p in parts:
        if codec == "none":
            assert p.data.nbytes <= max(max_bytes, 4)
        i0 = round((p.t0_ns - block.t0_ns) / (block.dt_s * 1e9))
        c0 = int(p.channel_index[0])
        out[i0 : i0 + p.n_time, c0 : c0 + p.n_channel] = p.data
    np.testing.assert_array_equal(out, block.data)
    assert sorted(p.attrs["part"] for p in parts) == list(range(len(recs)))
