"""Write -> read round trips (OptoDAS, PRODML 2.0), the OptoDAS tree, and synthetic layouts."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from dasedge import io
from dasedge.io import optodas
from tests.io.conftest import T0_NS, make_block, write_febus_overlap, write_prodml21_locus_time


def _assert_meta_equal(back, block) -> None:
    assert back.shape == block.shape
    assert back.t0_ns == block.t0_ns
    assert back.dt_s == pytest.approx(block.dt_s, rel=1e-12)
    np.testing.assert_allclose(back.distance_m, block.distance_m, rtol=1e-12, atol=1e-9)
    assert back.gauge_length_m == block.gauge_length_m
    assert back.data_type == block.data_type


@pytest.mark.parametrize("x0,dx", [(120.0, 2.0), (13.3, 4.0), (0.0, 1.0213001907746815)])
def test_optodas_int32_round_trip_within_quantisation(tmp_path: Path, x0: float, dx: float) -> None:
    block = make_block(x0=x0, dx=dx)
    p = optodas.write_optodas(block, tmp_path / "o.hdf5", raw_int=True)
    with h5py.File(p) as f:  # really an int32 v8 file with a scale
        assert f["data"].dtype == np.int32 and int(f["fileVersion"][()]) == 8
        scale = float(f["header/dataScale"][()])
        assert np.max(np.abs(f["data"][()])) == 2**24 - 1
    back = io.read(p)
    _assert_meta_equal(back, block)
    assert back.data_units == "1/s"
    err = np.abs(back.data.astype(np.float64) - block.data)
    assert err.max() <= 0.5 * scale + 1e-7 * np.abs(block.data).max()
    assert err.max() > 0 or scale == 0  # it really was quantised, not stored as float


def test_optodas_float_round_trip_exact(tmp_path: Path) -> None:
    block = make_block().new(data_type="phase_rate", data_units="rad/(m*s)")
    back = io.read(io.write(block, tmp_path / "f.hdf5", fmt="optodas", raw_int=False))
    _assert_meta_equal(back, block)
    assert back.data_units == "rad/(m*s)"
    np.testing.assert_array_equal(back.data, block.data)


@pytest.mark.parametrize("dtype", ["float32", "int16"])
def test_prodml_round_trip(tmp_path: Path, dtype: str) -> None:
    block = make_block(x0=-40.0, dx=2.0)  # negative StartLocusIndex like the Silixa sample
    p = io.write(block, tmp_path / "p.h5", fmt="prodml", dtype=dtype)
    with h5py.File(p) as f:
        raw = f["Acquisition/Raw[0]"]
        assert raw["RawData"].dtype == np.dtype(dtype)
        assert int(raw.attrs["StartLocusIndex"]) == -20
        assert f["Acquisition"].attrs["schemaVersion"] == b"2.0"
    back = io.read(p)
    _assert_meta_equal(back, block)
    assert back.data_units == block.data_units
    if dtype == "float32":
        np.testing.assert_array_equal(back.data, block.data)
    else:
        step = np.abs(block.data).max() / 32767
        # half a step, plus float32 rounding of the scaled output
        assert np.abs(back.data.astype(np.float64) - block.data).max() <= 0.5 * step + 1e-7 * np.abs(block.data).max()


def test_prodml21_locus_time_uom_feet(tmp_path: Path) -> None:
    """2.1 style: (locus, time) order, ``.uom`` attributes, dx in feet, PulseRate != output rate."""
    block = make_block(x0=7 * 2.0, dx=2.0)
    back = io.read(write_prodml21_locus_time(tmp_path / "p21.h5", block, start_locus=7))
    assert back.shape == block.shape
    np.testing.assert_array_equal(back.data, block.data)
    np.testing.assert_allclose(back.distance_m, block.distance_m, rtol=1e-12)
    assert back.fs == pytest.approx(block.fs)  # OutputDataRate, not the 10 kHz PulseRate
    assert back.t0_ns == T0_NS
    assert back.data_type == "phase" and back.data_units == "rad"


def test_febus_overlapping_blocks_are_trimmed(tmp_path: Path) -> None:
    p, truth, t0 = write_febus_overlap(tmp_path / "fb.h5")
    b = io.read(p)
    assert b.shape == truth.shape  # 6 blocks x 200 kept rows: no duplicated overlap
    np.testing.assert_array_equal(b.data, truth)
    assert b.dt_s == pytest.approx(0.002)
    assert abs(b.t0_ns - round(t0 * 1e9)) <= 1000
    np.testing.assert_allclose(b.distance_m, 5.0 + 0.8 * np.arange(30))
    # a window crossing block boundaries
    w = io.read(p, time=(b.t0_ns + 190 * 2_000_000, b.t0_ns + 610 * 2_000_000))
    np.testing.assert_array_equal(w.data, truth[190:610])


def test_write_tree_layout_and_read_back(tmp_path: Path) -> None:
    blocks = [make_block(nt=500, seed=i).new(t0_ns=T0_NS + i * 1_000_000_000) for i in range(3)]
    paths = optodas.write_tree(blocks, tmp_path, "EXP1")
    # 1_700_000_000 s = 2023-11-14 22:13:20 UTC
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "EXP1/20231114/dphi/221320.hdf5",
        "EXP1/20231114/dphi/221321.hdf5",
        "EXP1/20231114/dphi/221322.hdf5",
    ]
    for p, b in zip(paths, blocks):
        back = io.read(p)
        assert back.t0_ns == b.t0_ns
        assert np.abs(back.data - b.data).max() <= np.abs(b.data).max() / 2**23
    with pytest.raises(ValueError, match="same second"):
        optodas.write_tree([blocks[0], blocks[0].new(t0_ns=T0_NS + 10_000)], tmp_path / "x", "E")


def test_write_rejects_unstorable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data_type"):
        io.write(make_block().new(data_type="velocity"), tmp_path / "v.hdf5", fmt="optodas")
    with pytest.raises(ValueError, match="cannot write"):
        io.write(make_block(), tmp_path / "v.hdf5", fmt="febus")
    irregular = make_block(nch=3).new(distance_m=np.array([0.0, 1.0, 2.7]))
    with pytest.raises(ValueError, match="grid"):
        io.write(irregular, tmp_path / "i.h5", fmt="prodml")
