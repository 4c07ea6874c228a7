"""Every kind of bad file gives a one-line DASFileError naming the file and the problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from dasedge import io
from dasedge.io import DASFileError, optodas
from tests.io.conftest import make_block


def _check(path: Path, *words: str, scan_too: bool = True) -> DASFileError:
    with pytest.raises(DASFileError) as ei:
        io.read(path)
    err = ei.value
    msg = str(err)
    assert isinstance(err, ValueError)
    assert "\n" not in msg and str(path) in msg, msg
    for w in words:
        assert w.lower() in msg.lower(), msg
    if scan_too:
        with pytest.raises(DASFileError):
            io.scan(path)
    return err


def test_missing(tmp_path: Path) -> None:
    _check(tmp_path / "nope.h5", "no such file")


def test_empty(tmp_path: Path) -> None:
    p = tmp_path / "empty.h5"
    p.write_bytes(b"")
    _check(p, "empty")


def test_not_hdf5_text(tmp_path: Path) -> None:
    p = tmp_path / "notes.hdf5"
    p.write_text("time,channel,value\n0,1,2\n")
    _check(p, "not an HDF5")


def test_random_bytes(tmp_path: Path) -> None:
    p = tmp_path / "rand.h5"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    _check(p, "not an HDF5")


def test_hdf5_signature_then_garbage(tmp_path: Path) -> None:
    src = make_block()
    good = optodas.write_optodas(src, tmp_path / "good.hdf5")
    raw = bytearray(good.read_bytes())
    rng = np.random.default_rng(2)
    raw[64:] = rng.integers(0, 256, len(raw) - 64, dtype=np.uint8).tobytes()  # keep only the signature
    p = tmp_path / "corrupt.hdf5"
    p.write_bytes(bytes(raw))
    _check(p, "corrupt")


@pytest.mark.parametrize("frac", [0.3, 0.8])
def test_truncated_real_file(tmp_path: Path, das_samples: Path, frac: float) -> None:
    data = (das_samples / "prodml_2.0.h5").read_bytes()
    p = tmp_path / "trunc.h5"
    p.write_bytes(data[: int(len(data) * frac)])
    _check(p, scan_too=False)  # metadata may sit before the cut; the samples do not


def test_unknown_layout(tmp_path: Path) -> None:
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f["images/cat"] = np.zeros((4, 4))
    _check(p, "unknown HDF5 layout", "images")


def test_directory(tmp_path: Path) -> None:
    _check(tmp_path, "directory")


def _opto(tmp_path: Path, name: str = "o.hdf5") -> Path:
    return optodas.write_optodas(make_block(), tmp_path / name)


def test_optodas_channel_count_mismatch(tmp_path: Path) -> None:
    p = _opto(tmp_path)
    with h5py.File(p, "a") as f:
        del f["header/channels"]
        f["header/channels"] = np.arange(10, dtype=np.int32)
    _check(p, "OptoDAS", "10 channels", "40")


def test_optodas_string_data(tmp_path: Path) -> None:
    p = _opto(tmp_path)
    with h5py.File(p, "a") as f:
        del f["data"]
        f["data"] = np.array([[b"a", b"b"], [b"c", b"d"]])
    _check(p, "non-numeric")


def test_optodas_dimension_sizes_mismatch(tmp_path: Path) -> None:
    p = _opto(tmp_path)
    with h5py.File(p, "a") as f:
        f["header/dimensionSizes"][...] = [999, 40]
    _check(p, "dimensionSizes")


def test_optodas_nan_samples(tmp_path: Path) -> None:
    p = optodas.write_optodas(make_block(), tmp_path / "nan.hdf5", raw_int=False)
    with h5py.File(p, "a") as f:
        f["data"][5, 3] = np.nan
    _check(p, "non-finite", scan_too=False)


def test_optodas_old_version(tmp_path: Path) -> None:
    p = _opto(tmp_path)
    with h5py.File(p, "a") as f:
        f["fileVersion"][...] = 6
    _check(p, "version 6")


def _prodml(tmp_path: Path) -> Path:
    return io.write(make_block(), tmp_path / "p.h5", fmt="prodml")


def test_prodml_time_length_mismatch(tmp_path: Path) -> None:
    p = _prodml(tmp_path)
    with h5py.File(p, "a") as f:
        r = f["Acquisition/Raw[0]"]
        t = r["RawDataTime"][()]
        del r["RawDataTime"]
        r["RawDataTime"] = t[:-7]
    _check(p, "RawDataTime", "1493", "1500")


def test_prodml_loci_mismatch(tmp_path: Path) -> None:
    p = _prodml(tmp_path)
    with h5py.File(p, "a") as f:
        f["Acquisition/Raw[0]"].attrs["NumberOfLoci"] = np.int64(41)
    _check(p, "NumberOfLoci")


def test_prodml_rate_disagrees_with_times(tmp_path: Path) -> None:
    p = _prodml(tmp_path)
    with h5py.File(p, "a") as f:
        f["Acquisition/Raw[0]"].attrs["OutputDataRate"] = np.float64(1000.0)  # file says 500 Hz in RawDataTime
    _check(p, "OutputDataRate", "disagrees")


def test_prodml_fbe_only_is_refused(das_samples: Path) -> None:
    _check(das_samples / "prodml_fbe_1.h5", "no raw data", "FBE")


def test_febus_psd_is_refused(das_samples: Path) -> None:
    _check(das_samples / "febus_2.h5", "power spectral density")


def test_silixa_bad_sampling_attr(tmp_path: Path, das_samples: Path) -> None:
    p = tmp_path / "s.hdf5"
    shutil.copy(das_samples / "silixa_h5_1.hdf5", p)
    p.chmod(0o644)
    with h5py.File(p, "a") as f:
        f["Acoustic"].attrs["SamplingFrequency[Hz]"] = "fast"
    _check(p, "SamplingFrequency", "not a number")


def test_dasdae_coord_mismatch(tmp_path: Path, das_samples: Path) -> None:
    p = tmp_path / "d.hdf5"
    shutil.copy(das_samples / "deformation_rate_event_1.hdf5", p)
    p.chmod(0o644)
    with h5py.File(p, "a") as f:
        g = f["waveforms"][list(f["waveforms"])[0]]
        d = g["_coord_distance"][()]
        del g["_coord_distance"]
        g["_coord_distance"] = d[:-1]
    _check(p, "_coord_distance")
