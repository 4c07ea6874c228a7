"""Vendor-specific rules, each checked on a file modified or built with raw h5py."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from dasedge import io
from dasedge.io import optodas
from tests.io.conftest import T0_NS, make_block


def _copy(src: Path, dst: Path) -> Path:
    shutil.copy(src, dst)
    dst.chmod(0o644)
    return dst


def test_terra15_incomplete_last_block_is_dropped(das_samples: Path, tmp_path: Path) -> None:
    p = _copy(das_samples / "terra15_v5_test_file.hdf5", tmp_path / "t.hdf5")
    with h5py.File(p, "a") as f:
        t = f["data_product/gps_time"][()]
        full_dt = (t[-1] - t[0]) / (len(t) - 1)
        f["data_product/gps_time"][-300:] = 0.0  # unfilled tail of the last frame
        f["data_product/posix_time"][-300:] = 0.0
        expect = f["data_product/data"][: len(t) - 300].astype(np.float32)
    b = io.read(p)
    assert b.n_time == len(t) - 300
    np.testing.assert_array_equal(b.data, expect)
    assert b.dt_s == pytest.approx((t[-301] - t[0]) / (len(t) - 301), rel=1e-12)
    assert b.dt_s == pytest.approx(full_dt, rel=1e-3)


def test_terra15_v4_layout_group_named_by_product(das_samples: Path, tmp_path: Path) -> None:
    p = tmp_path / "v4.hdf5"
    with h5py.File(das_samples / "terra15_v5_test_file.hdf5") as src, h5py.File(p, "w") as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        dst.attrs["file_version"] = np.int64(4)
        g = dst.create_group("velocity")
        g["data"] = src["data_product/data"][()]
        g["gps_time"] = src["data_product/gps_time"][()]
        ref = src["data_product/data"][()]
    b = io.read(p)
    assert b.attrs["format"] == "terra15" and b.attrs["version"] == "4"
    assert b.data_type == "velocity" and b.data_units == "m/s"
    np.testing.assert_array_equal(b.data, ref)


def test_optodas_per_channel_sensitivity_gives_strain_rate(tmp_path: Path) -> None:
    block = make_block(nch=10).new(data_type="phase_rate", data_units="rad/(m*s)")
    p = optodas.write_optodas(block, tmp_path / "s.hdf5", raw_int=True)
    sens = np.linspace(9.0e6, 9.9e6, 10)
    with h5py.File(p, "a") as f:
        del f["header/sensitivities"], f["header/sensitivityUnits"]
        f["header/sensitivities"] = sens[None, :].astype(np.float32)
        f["header/sensitivityUnits"] = np.array([b"rad/(m*strain)"])
        raw = f["data"][()].astype(np.float64) * float(f["header/dataScale"][()])
    b = io.read(p)
    assert b.data_type == "strain_rate" and b.data_units == "1/s"
    np.testing.assert_allclose(b.data, raw / sens.astype(np.float32), rtol=1e-6)
    # the same raw file without sensitivities is phase rate in rad/m/s
    with h5py.File(p, "a") as f:
        f["header/sensitivities"][...] = 1.0
    assert io.read(p).data_type == "phase_rate"


def test_optodas_missing_datascale_uses_old_default(tmp_path: Path) -> None:
    block = make_block(nch=6).new(data_type="phase_rate", data_units="rad/(m*s)")
    p = optodas.write_optodas(block, tmp_path / "old.hdf5", raw_int=True)
    with h5py.File(p, "a") as f:
        del f["header/dataScale"]
        raw = f["data"][()].astype(np.float64)
    b = io.read(p)
    expect = raw * np.pi / 2**29 / block.dt_s / block.gauge_length_m
    np.testing.assert_allclose(b.data, expect, rtol=1e-6)
    assert b.data_type == "phase_rate"


def test_prodml_rate_fallbacks(tmp_path: Path) -> None:
    block = make_block(dt=0.004)
    p = io.write(block, tmp_path / "p.h5", fmt="prodml")
    with h5py.File(p, "a") as f:
        del f["Acquisition/Raw[0]"].attrs["OutputDataRate"]
    assert io.scan(p).dt_s == pytest.approx(0.004, rel=1e-9)  # from RawDataTime
    with h5py.File(p, "a") as f:
        del f["Acquisition/Raw[0]/RawDataTime"]
    info = io.scan(p)  # from PartStart/PartEndTime
    assert info.dt_s == pytest.approx(0.004, rel=1e-9)
    assert info.t0_ns == T0_NS


def test_prodml_real_uses_output_rate_not_pulse_rate(das_samples: Path) -> None:
    with h5py.File(das_samples / "prodml_2.0.h5") as f:
        pulse = float(f["Acquisition"].attrs["PulseRate"])
        out = float(f["Acquisition/Raw[0]"].attrs["OutputDataRate"])
    assert pulse != out
    assert io.scan(das_samples / "prodml_2.0.h5").fs == pytest.approx(out)


def test_valencia_febus_blocks_do_not_overlap(das_samples: Path) -> None:
    """Evidence for keeping all 250 rows: no row repeats in the next block, and 250 rows x 4 ms = the ~1 s block period."""
    with h5py.File(das_samples / "valencia_febus_example.h5") as f:
        cube = f["fa1-20050027/Source1/Zone1/SR_Valencia"][()]
        t = f["fa1-20050027/Source1/time"][()].ravel()
    for k in range(cube.shape[0] - 1):
        a, b = cube[k], cube[k + 1]
        same = (a[:, None, :] == b[None, :, :]).all(axis=2)
        assert not same.any()
    assert abs(np.median(np.diff(t)) - cube.shape[1] * 0.004) < 0.02
    blk = io.read(das_samples / "valencia_febus_example.h5")
    assert blk.n_time == cube.shape[0] * cube.shape[1]


def test_silixa_day_first_gps_matches_local_iso(das_samples: Path) -> None:
    from dasedge.io.silixa_h5 import gps_to_ns

    # 22/09/2023 must be 22 September (day first), equal to 19:29 at +01:00
    assert gps_to_ns("22/09/2023 18:29:26.158 (UTC)") == 1695407366158000000
    assert gps_to_ns("03/04/2024 00:00:00.5 (UTC)") == 1712102400500000000  # 3 April
    assert io.scan(das_samples / "silixa_h5_1.hdf5").t0_ns == 1695407366158000000
