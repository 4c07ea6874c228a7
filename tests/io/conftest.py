"""Fixtures for the IO tests: synthetic blocks and files written with raw h5py."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from dasedge.block import DASBlock

T0_NS = 1_700_000_000_123_456_000  # µs-exact start time (formats store µs)


def make_block(nt: int = 1500, nch: int = 40, dt: float = 0.002, x0: float = 120.0, dx: float = 2.0,
               data_type: str = "strain_rate", units: str = "1/s", seed: int = 0) -> DASBlock:
    """Band-limited noise plus a moving pulse, strain-rate scale ~1e-6."""
    rng = np.random.default_rng(seed)
    t = np.arange(nt)[:, None] * dt
    x = np.arange(nch)[None, :]
    pulse = np.exp(-(((t - 0.5 - x * 0.01) / 0.02) ** 2))
    data = (1e-6 * (pulse + 0.1 * rng.standard_normal((nt, nch)))).astype(np.float32)
    return DASBlock(data=data, t0_ns=T0_NS, dt_s=dt, distance_m=x0 + dx * np.arange(nch),
                    gauge_length_m=8.0, data_type=data_type, data_units=units)


def write_prodml21_locus_time(path: Path, block: DASBlock, start_locus: int = 7) -> Path:
    """A PRODML 2.1-style file written with raw h5py: (locus, time) order, ``.uom`` units, dx in ft."""
    nt, nch = block.shape
    dx_ft = block.dx_m / 0.3048
    with h5py.File(path, "w") as f:
        acq = f.create_group("Acquisition")
        acq.attrs["schemaVersion"] = "2.1"
        acq.attrs["NumberOfLoci"] = np.int32(nch)
        acq.attrs["StartLocusIndex"] = np.int32(start_locus)
        acq.attrs["SpatialSamplingInterval"] = np.float64(dx_ft)
        acq.attrs["SpatialSamplingInterval.uom"] = "ft"
        acq.attrs["GaugeLength"] = np.float64(block.gauge_length_m)
        acq.attrs["GaugeLength.uom"] = "m"
        acq.attrs["PulseRate"] = np.float64(10000.0)  # laser rate: must NOT be used as sample rate
        raw = acq.create_group("Raw[0]")
        raw.attrs["OutputDataRate"] = np.float64(block.fs)
        raw.attrs["RawDataUnit"] = b"rad"
        raw.attrs["RawDescription"] = b"Phase"
        ds = raw.create_dataset("RawData", data=np.ascontiguousarray(block.data.T))
        ds.attrs["Dimensions"] = "locus time"  # 2.1 vendors sometimes write one string
        times = block.t0_ns // 1000 + np.round(np.arange(nt) * block.dt_s * 1e6).astype(np.int64)
        raw.create_dataset("RawDataTime", data=times)
    return path


def write_febus_overlap(path: Path, nblocks: int = 6, keep: int = 200, pad: int = 10, nch: int = 30,
                        dt_ms: float = 2.0, x0: float = 5.0, dx: float = 0.8, t0: float = 1.6e9) -> tuple[Path, np.ndarray, float]:
    """A Febus A1-like file whose blocks overlap by ``pad`` rows on each side.

    Returns the path, the continuous truth signal ``[n_time, n_ch]`` and the
    time of its first sample (epoch s).  Block ``k`` is stamped at the time of
    its first *kept* row minus the (negative) ``Origin`` offset.
    """
    rows = keep + 2 * pad
    n_total = nblocks * keep + 2 * pad
    rng = np.random.default_rng(3)
    truth_ext = rng.standard_normal((n_total, nch)).astype(np.float32)  # row j = time t0 + (j - pad)*dt
    cube = np.stack([truth_ext[k * keep : k * keep + rows] for k in range(nblocks)])
    dt = dt_ms / 1000
    origin_ms = -pad * dt_ms  # first row of a block is pad samples before its stamp... plus trim
    # stamp_k + origin + pad*dt = time of first kept row = t0 + k*keep*dt
    stamps = t0 + np.arange(nblocks) * keep * dt - origin_ms / 1000 - pad * dt
    with h5py.File(path, "w") as f:
        src = f.create_group("fa1-test").create_group("Source1")
        src.attrs["SamplingRate"] = np.array([500000000], dtype=np.int32)
        src.attrs["Hostname"] = b"fa1-test"
        src.attrs["AmpliPower"] = np.array([30], dtype=np.int8)
        src.attrs["WholeExtent"] = np.array([0, 100, 0, rows - 1, 0, 0], dtype=np.int32)
        src.create_dataset("time", data=stamps)
        z = src.create_group("Zone1")
        z.attrs["Spacing"] = np.array([dx, dt_ms, 1.0])
        z.attrs["Origin"] = np.array([x0, origin_ms, 0.0])
        z.attrs["Extent"] = np.array([0, nch - 1, 0, rows - 1, 0, 0], dtype=np.int32)
        z.attrs["BlockRate"] = np.array([round(1000 / (keep * dt))], dtype=np.int32)
        z.attrs["BlockOverlap"] = np.array([round(100 * 2 * pad / keep)], dtype=np.int32)
        z.attrs["GaugeLength"] = np.array([4.0])
        z.attrs["Version"] = b"2.3.1"
        z.create_dataset("StrainRate", data=cube)
    return path, truth_ext[pad : pad + nblocks * keep], t0


@pytest.fixture(scope="session")
def written_files(tmp_path_factory) -> dict[str, Path]:
    """Files produced by our writers (and raw-h5py synthetic layouts), written once."""
    from dasedge import io
    from dasedge.io import optodas

    d = tmp_path_factory.mktemp("written")
    b = make_block()
    out = {
        "optodas_int32": optodas.write_optodas(b, d / "opto_int.hdf5", raw_int=True),
        "optodas_float": optodas.write_optodas(b.new(data_type="phase_rate", data_units="rad/(m*s)"), d / "opto_f.hdf5", raw_int=False),
        "prodml_float": io.write(b, d / "prodml_f.h5", fmt="prodml"),
        "prodml_int16": io.write(b, d / "prodml_i16.h5", fmt="prodml", dtype="int16"),
        "prodml21_locus_time": write_prodml21_locus_time(d / "prodml21.h5", b),
        "febus_overlap": write_febus_overlap(d / "febus_overlap.h5")[0],
    }
    return out
