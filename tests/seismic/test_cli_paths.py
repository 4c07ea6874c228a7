"""The batch seismic CLI reads folders of DAS files like the traffic CLI does."""

from __future__ import annotations

import numpy as np

from dasedge.block import DASBlock
from dasedge.io.optodas import write_tree
from pipelines.seismic.cli import iter_chunks


def test_iter_chunks_reads_a_folder_in_time_order(tmp_path):
    rng = np.random.default_rng(3)
    t0 = 1_767_268_800_000_000_000
    blocks = [DASBlock(data=rng.normal(size=(200, 16)).astype(np.float32), t0_ns=t0 + k * 2_000_000_000, dt_s=0.01,
                       distance_m=np.arange(16) * 8.0, data_type="strain_rate", data_units="1/s") for k in range(3)]
    files = write_tree(blocks[::-1], tmp_path, "exp", raw_int=False)
    (tmp_path / "exp" / "notes.txt").write_text("not a DAS file")
    got = list(iter_chunks([str(tmp_path)], chunk_s=1.0))
    assert [b.t0_ns for b in got] == [t0 + k * 1_000_000_000 for k in range(6)]
    np.testing.assert_allclose(np.concatenate([b.data for b in got]), np.concatenate([b.data for b in blocks]), rtol=1e-6)
    assert len(files) == 3
