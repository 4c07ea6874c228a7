"""``dasedge info``: real files, folders, JSON, bad files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from dasedge.cli import main
from dasedge.io import optodas
from tests.io.conftest import T0_NS, make_block

ROOT = Path(__file__).resolve().parents[2]


def test_subprocess_folder_with_bad_files(das_samples: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)  # signature, nothing else
    proc = subprocess.run(
        [sys.executable, "-m", "dasedge.cli", "info", "--json", str(das_samples), str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    by_name = {Path(r["path"]).name: r for r in rows}
    # every HDF5 sample is listed; LICENSE (not HDF5) in the folder is skipped
    assert set(by_name) == {p.name for p in das_samples.glob("*.h*5")} | {"broken.h5"}
    assert "error" in by_name["broken.h5"] and "error" in by_name["prodml_fbe_1.h5"] and "error" in by_name["febus_2.h5"]
    opto = by_name["decimated_optodas.hdf5"]
    with h5py.File(das_samples / "decimated_optodas.hdf5") as f:  # independent values
        dx, ch = float(f["header/dx"][()]), f["header/channels"][()]
        assert opto["shape"] == list(f["data"].shape)
        assert opto["sampling_rate_hz"] == 1 / float(f["header/dt"][()])
    assert opto["format"] == "optodas" and opto["data_type"] == "strain_rate"
    assert opto["distance_start_m"] == ch[0] * dx and opto["distance_end_m"] == ch[-1] * dx
    assert opto["time_start"] == "2023-10-27T14:23:37.020000Z"
    prod = by_name["prodml_2.0.h5"]
    assert prod["sampling_rate_hz"] == 200.0 and prod["shape"] == [2500, 512]
    assert abs(prod["distance_start_m"] - (-260 * 1.0209519863128662)) < 1e-9


def test_text_output_and_ok_exit(das_samples: Path, capsys) -> None:
    rc = main(["info", str(das_samples / "silixa_h5_1.hdf5"), str(das_samples / "terra15_v5_test_file.hdf5")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "format      silixa_h5" in out and "format      terra15" in out
    assert "2023-09-22T18:29:26.158000Z" in out  # GPS stamp, day-first, UTC
    assert "500 Hz" in out and "velocity [m/s]" in out


def test_bad_file_one_line_and_nonzero(tmp_path: Path, capsys) -> None:
    good = optodas.write_optodas(make_block(), tmp_path / "a.hdf5")
    empty = tmp_path / "b.h5"
    empty.write_bytes(b"")
    rc = main(["info", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1
    bad_lines = [ln for ln in out.splitlines() if ln.startswith(str(empty))]
    assert bad_lines == [f"{empty}: empty file (0 bytes)"]
    assert str(good) in out and "strain_rate [1/s]" in out


def test_many_files_progress_bar(tmp_path: Path, capsys) -> None:
    blocks = [make_block(nt=100, nch=8, seed=i).new(t0_ns=T0_NS + i * 1_000_000_000) for i in range(12)]
    paths = optodas.write_tree(blocks, tmp_path, "EXP")
    rc = main(["info", "--json", "--progress", "always", str(tmp_path / "EXP")])
    cap = capsys.readouterr()
    assert rc == 0
    rows = [json.loads(x) for x in cap.out.splitlines()]
    assert [r["path"] for r in rows] == [str(p) for p in paths]
    starts = np.array([r["t0_ns"] for r in rows])
    np.testing.assert_array_equal(np.diff(starts), 1_000_000_000)
    assert "scanning" in cap.err and "12/12" in cap.err  # tqdm on stderr


def test_check_finds_bad_samples(tmp_path: Path, capsys) -> None:
    p = optodas.write_optodas(make_block(), tmp_path / "n.hdf5", raw_int=False)
    with h5py.File(p, "a") as f:
        f["data"][0, 0] = np.inf
    assert main(["info", str(p)]) == 0  # metadata alone is fine
    assert main(["info", "--check", str(p)]) == 1
    assert "non-finite" in capsys.readouterr().out
