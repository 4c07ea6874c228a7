"""Common reader suite: every real sample file and every file our writers produce.

Expected values are derived in this test *directly from each file with raw
h5py* (not through the reader), following each vendor's documented rules.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import h5py
import numpy as np
import pytest

from dasedge import io

REAL_FILES = [
    "decimated_optodas.hdf5",
    "prodml_2.0.h5",
    "silixa_h5_1.hdf5",
    "terra15_v5_test_file.hdf5",
    "valencia_febus_example.h5",
    "deformation_rate_event_1.hdf5",
]
WRITTEN = ["optodas_int32", "optodas_float", "prodml_float", "prodml_int16", "prodml21_locus_time", "febus_overlap"]


def _iso_ns(s: str) -> int:
    d = dt.datetime.fromisoformat(s)
    return round(d.timestamp() * 1e6) * 1000


def _s(v):
    v = v[()] if isinstance(v, h5py.Dataset) else v
    if isinstance(v, np.ndarray) and v.size == 1:
        v = v.reshape(-1)[0]
    if isinstance(v, (bytes, np.bytes_)):
        v = v.decode()
    return v


# ------------------------------------------------------------- expectations
def expect_optodas(f: h5py.File) -> dict:
    h = f["header"]
    raw = f["data"][()].astype(np.float64)
    sens = np.atleast_2d(h["sensitivities"][()])[0] if "sensitivities" in h else np.ones(1)
    data = raw * float(_s(h["dataScale"])) / sens
    unit = _s(h["unit"])
    return dict(
        fmt="optodas", data=data, dt=float(_s(h["dt"])), t0_ns=round(float(_s(h["time"])) * 1e6) * 1000,
        distance=h["channels"][()] * float(_s(h["dx"])), gauge=float(_s(h["gaugeLength"])),
        data_type={"strain/s": "strain_rate", "rad/m/s": "phase_rate"}[unit],
    )


def expect_prodml(f: h5py.File) -> dict:
    acq = f["Acquisition"]
    raw = acq["Raw[0]"]
    ds = raw["RawData"]
    dims = ds.attrs["Dimensions"]
    dims = dims.split() if isinstance(dims, str) else [x.decode() for x in dims]
    data = ds[()].astype(np.float64)
    if dims[0] == "locus":
        data = data.T
    data = data * float(raw.attrs.get("dasedgeScale", 1.0))
    n = data.shape[1]
    unit = _s(acq.attrs.get("SpatialSamplingIntervalUnit", acq.attrs.get("SpatialSamplingInterval.uom", "m")))
    dx = float(acq.attrs["SpatialSamplingInterval"]) * (0.3048 if unit == "ft" else 1.0)
    sli = int(_s(raw.attrs.get("StartLocusIndex", acq.attrs.get("StartLocusIndex"))))
    times = raw["RawDataTime"][()]
    fs = float(_s(raw.attrs["OutputDataRate"]))
    assert abs(np.mean(np.diff(times)) / 1e6 - 1 / fs) < 1e-6 / fs  # the file agrees with itself
    desc = _s(raw.attrs["RawDescription"]).lower()
    return dict(
        fmt="prodml", data=data, dt=1 / fs, t0_ns=int(times[0]) * 1000, distance=(sli + np.arange(n)) * dx,
        gauge=float(_s(acq.attrs["GaugeLength"])),
        data_type="strain_rate" if "strain rate" in desc else "phase" if "phase" in desc else None,
    )


def expect_silixa(f: h5py.File) -> dict:
    ds = f["Acoustic"]
    a = {k: _s(v) for k, v in ds.attrs.items()}
    dx = float(a["SpatialResolution[m]"]) * float(a["Fibre Length Multiplier"])
    n = ds.shape[1]
    dist = float(a["Start Distance (m)"]) + dx * np.arange(n)
    assert abs(dist[-1] - float(a["Stop Distance (m)"])) < 0.1  # the two ends agree (independent check)
    t0 = _iso_ns(a["ISO8601 Timestamp"])  # local-offset ISO -> UTC; the reader uses the day-first GPS stamp
    return dict(fmt="silixa_h5", data=ds[()].astype(np.float64), dt=1 / float(a["SamplingFrequency[Hz]"]),
                t0_ns=t0, distance=dist, gauge=float(a["GaugeLength"]), data_type="strain_rate")


def expect_terra15(f: h5py.File) -> dict:
    g = f["data_product"]
    t = g["gps_time"][()]
    n = len(t)
    assert np.all(np.diff(t) > 0)  # complete file: every stamp valid
    a = f.attrs
    dist = float(a["sensing_range_start"]) + float(a["dx"]) * np.arange(g["data"].shape[1])
    assert abs(dist[-1] + float(a["dx"]) - float(a["sensing_range_end"])) < 1e-6
    return dict(fmt="terra15", data=g["data"][()].astype(np.float64), dt=(t[-1] - t[0]) / (n - 1),
                t0_ns=round(float(a["file_start_gps_time"]) * 1e6) * 1000, distance=dist,
                gauge=float(a["gauge_length"]), data_type="velocity")


def expect_febus(f: h5py.File) -> dict:
    src = f[list(f.keys())[0]]["Source1"]
    z = src["Zone1"]
    ds = z[list(z.keys())[0]]
    nb, rows, nch = ds.shape
    sp = z.attrs["Spacing"]
    btimes = src["time"][()].ravel()
    if "Version" in z.attrs:
        dts = sp[1] / 1000
        keep = round(1000 / float(z.attrs["BlockRate"][0]) / dts)
    else:  # old file: SamplingRate is the output rate; blocks (1 s apart) are filled exactly
        dts = 1 / float(z.attrs["SamplingRate"][0])
        keep = rows
        assert abs(np.median(np.diff(btimes)) - rows * dts) < 0.05
    trim = (rows - keep) // 2
    data = ds[:, trim:trim + keep, :].reshape(-1, nch).astype(np.float64)
    t0 = btimes[0] + z.attrs["Origin"][1] / 1000 + trim * dts
    dist = z.attrs["Extent"][0] * sp[0] + z.attrs["Origin"][0] + sp[0] * np.arange(nch)
    return dict(fmt="febus", data=data, dt=dts, t0_ns=round(t0 * 1e6) * 1000, distance=dist,
                gauge=float(z.attrs["GaugeLength"][0]), data_type="strain_rate")


def expect_dasdae(f: h5py.File) -> dict:
    g = f["waveforms"][list(f["waveforms"].keys())[0]]
    t = g["_coord_time"][()]
    return dict(fmt="dasdae", data=g["data"][()].astype(np.float64), dt=(t[-1] - t[0]) / (len(t) - 1) / 1e9,
                t0_ns=int(t[0]), distance=g["_coord_distance"][()], gauge=None,
                data_type=_s(g.attrs["_attrs_data_type"]))


def expected(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        if "fileVersion" in f:
            return expect_optodas(f)
        if "Acquisition" in f:
            return expect_prodml(f)
        if "Acoustic" in f:
            return expect_silixa(f)
        if "data_product" in f:
            return expect_terra15(f)
        if f.attrs.get("__format__") == b"DASDAE":
            return expect_dasdae(f)
        return expect_febus(f)


# ------------------------------------------------------------------ cases
@pytest.fixture(params=REAL_FILES + WRITTEN)
def case(request, das_samples, written_files) -> Path:
    name = request.param
    return das_samples / name if name in REAL_FILES else written_files[name]


def test_full_read_matches_raw_metadata(case: Path) -> None:
    exp = expected(case)
    info = io.scan(case)
    block = io.read(case)
    assert io.detect_format(case) == exp["fmt"] == info.format
    assert block.shape == exp["data"].shape == info.shape
    assert block.dt_s == pytest.approx(exp["dt"], rel=1e-9)
    assert info.dt_s == block.dt_s
    assert abs(block.t0_ns - exp["t0_ns"]) <= 1000  # µs is the files' resolution
    assert info.t0_ns == block.t0_ns
    np.testing.assert_allclose(block.distance_m, exp["distance"], rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(info.distance_m, block.distance_m)
    if exp["gauge"] is None:
        assert block.gauge_length_m is None
    else:
        assert block.gauge_length_m == pytest.approx(exp["gauge"], rel=1e-6)
    if exp["data_type"] is not None:
        assert block.data_type == exp["data_type"]
    assert block.data.dtype == np.float32
    np.testing.assert_allclose(block.data, exp["data"], rtol=2e-7, atol=1e-7 * np.max(np.abs(exp["data"])))
    assert block.attrs["format"] == exp["fmt"]


def _window(info) -> tuple[tuple[int, int], tuple[float, float]]:
    """A window inside the file, not aligned to samples: middle 40 % in time, middle channels."""
    span = info.t_end_ns - info.t0_ns
    t0 = info.t0_ns + int(0.3 * span) + 17
    t1 = info.t0_ns + int(0.7 * span) + 5
    d = info.distance_m
    lo, hi = sorted((d[len(d) // 4], d[(3 * len(d)) // 4]))
    return (t0, t1), (float(lo) - 1e-6, float(hi) + 1e-6)


def test_lazy_window_equals_slice_of_full_read(case: Path) -> None:
    info = io.scan(case)
    full = io.read(case)
    tw, dw = _window(info)
    win = io.read(case, time=tw, distance=dw)
    ref = full.select(time=tw, distance=dw)
    assert 0 < win.n_time < full.n_time and 0 < win.n_channel <= full.n_channel
    assert win.t0_ns == ref.t0_ns and win.t0_ns >= tw[0]
    assert win.t0_ns + round((win.n_time - 1) * win.dt_s * 1e9) < tw[1]
    np.testing.assert_array_equal(win.distance_m, ref.distance_m)
    np.testing.assert_array_equal(win.channel_index, ref.channel_index)
    np.testing.assert_array_equal(win.data, ref.data)
    # open-ended windows
    head = io.read(case, time=(None, tw[0]))
    np.testing.assert_array_equal(head.data, full.select(time=(None, tw[0])).data)
    tail = io.read(case, distance=(dw[0], None))
    np.testing.assert_array_equal(tail.data, full.select(distance=(dw[0], None)).data)


def test_window_reads_only_a_hyperslab(case: Path, monkeypatch) -> None:
    """The window is read from disk as a hyperslab: far fewer samples than the file holds."""
    info = io.scan(case)
    tw, dw = _window(info)
    read_sizes: list[int] = []
    orig = h5py.Dataset.__getitem__

    def spy(self, key):
        out = orig(self, key)
        if self.ndim >= 2 and self.size > 100:  # sample arrays, not tiny 2-D headers
            read_sizes.append(np.asarray(out).size)
        return out

    orig_direct = h5py.Dataset.read_direct

    def spy_direct(self, dest, source_sel=None, dest_sel=None):
        read_sizes.append(np.asarray(dest).size)  # buffers are allocated to the selection size
        return orig_direct(self, dest, source_sel, dest_sel)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    monkeypatch.setattr(h5py.Dataset, "read_direct", spy_direct)
    win = io.read(case, time=tw, distance=dw)
    total = info.n_time * info.n_channel
    assert read_sizes, "no 2-D/3-D dataset read"
    # Febus reads whole blocks in time (at most one extra block on each side)
    assert sum(read_sizes) <= max(win.data.size * 2.5, win.data.size + 2 * info.attrs.get("rows_per_block", 0) * win.n_channel)
    assert sum(read_sizes) < 0.6 * total


def test_scan_reads_no_samples(case: Path, monkeypatch) -> None:
    read_sizes: list[int] = []
    orig = h5py.Dataset.__getitem__

    def spy(self, key):
        out = orig(self, key)
        if self.ndim >= 2 and self.size > 100:  # sample arrays, not tiny 2-D headers
            read_sizes.append(np.asarray(out).size)
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    monkeypatch.setattr(h5py.Dataset, "read_direct", lambda self, *a, **k: read_sizes.append(-1))
    info = io.scan(case)
    assert info.n_time > 0
    assert read_sizes == []
