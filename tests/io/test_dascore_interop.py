"""Independent check against DASCore (optional extra, installed in the dev venv).

Our reads of OptoDAS, PRODML (and Terra15, DASDAE) files - real samples and
files our writers produced - must agree with ``dascore.spool(path)``.
Known, deliberate differences (not compared here): Silixa H5 distances
(we use ``Start Distance (m)``, which matches ``Stop Distance (m)``), the
Valencia Febus file (DASCore assumes a 100 % overlap and drops half the
rows; its blocks have no overlap) and ``febus_2.h5`` (a PSD, refused by us).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import dascore as dc
import numpy as np
import pytest

from dasedge import io
from dasedge.io.dascore_adapter import from_dascore_patch, to_dascore_patch
from tests.io.conftest import make_block

warnings.filterwarnings("ignore", module="dascore")


def _compare(path: Path, ours_fmt: str, dascore_fmt: str) -> None:
    ours = io.read(path)
    assert ours.attrs["format"] == ours_fmt
    assert dc.get_format(path)[0] == dascore_fmt
    sp = dc.spool(path)
    assert len(sp) == 1
    patch = sp[0].transpose("time", "distance")
    theirs = from_dascore_patch(patch)
    assert theirs.shape == ours.shape
    assert theirs.t0_ns == ours.t0_ns or abs(theirs.t0_ns - ours.t0_ns) <= 1000
    assert theirs.dt_s == pytest.approx(ours.dt_s, rel=1e-6)
    np.testing.assert_allclose(theirs.distance_m, ours.distance_m, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(theirs.data, ours.data, rtol=1e-6, atol=1e-6 * float(np.abs(ours.data).max()))
    if ours.gauge_length_m is not None and theirs.gauge_length_m is not None:
        assert theirs.gauge_length_m == pytest.approx(ours.gauge_length_m, rel=1e-6)


@pytest.mark.parametrize(
    "name,ours,theirs",
    [
        ("decimated_optodas.hdf5", "optodas", "OptoDAS"),
        ("prodml_2.0.h5", "prodml", "PRODML"),
        ("terra15_v5_test_file.hdf5", "terra15", "TERRA15"),
        ("deformation_rate_event_1.hdf5", "dasdae", "DASDAE"),
    ],
)
def test_real_files_agree_with_dascore(das_samples: Path, name: str, ours: str, theirs: str) -> None:
    _compare(das_samples / name, ours, theirs)


def test_our_optodas_int32_file_reads_the_same_in_dascore(tmp_path: Path) -> None:
    p = io.write(make_block(x0=13.3, dx=4.0), tmp_path / "w.hdf5", fmt="optodas")
    _compare(p, "optodas", "OptoDAS")


def test_our_prodml_file_reads_the_same_in_dascore(tmp_path: Path) -> None:
    p = io.write(make_block(x0=-40.0), tmp_path / "w.h5", fmt="prodml")
    _compare(p, "prodml", "PRODML")


def test_adapter_round_trip(das_samples: Path) -> None:
    block = io.read(das_samples / "prodml_2.0.h5")
    patch = to_dascore_patch(block)
    assert patch.dims == ("time", "distance")
    assert patch.attrs.data_type == "strain_rate"
    back = from_dascore_patch(patch)
    np.testing.assert_array_equal(back.data, block.data)
    assert back.t0_ns == block.t0_ns and back.dt_s == pytest.approx(block.dt_s, rel=1e-12)
    np.testing.assert_allclose(back.distance_m, block.distance_m, rtol=1e-12)
    assert back.gauge_length_m == block.gauge_length_m and back.data_type == block.data_type
    # a (distance, time) patch is transposed back
    t = from_dascore_patch(patch.transpose("distance", "time"))
    np.testing.assert_array_equal(t.data, block.data)
