"""Tiling, tapered blending and the tile-edge arrival (against the reference's non-overlapping tiles)."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.seismic.picking import OracleAnnotator, detect_peaks
from pipelines.seismic.stitch import annotate_patches_reference, annotate_tiled, taper, tile_starts
from tests.seismic.helpers import tiny_onnx


@pytest.mark.parametrize("n,tile,ov", [(100, 100, 10), (1000, 256, 32), (1025, 256, 64), (5000, 2048, 128)])
def test_tile_starts_cover_with_overlap(n, tile, ov):
    s = tile_starts(n, tile, ov)
    assert s[0] == 0 and s[-1] + min(tile, n) == n
    if len(s) > 1:
        assert np.all(np.diff(s) <= tile - ov)  # every neighbour pair shares >= ov samples
        assert np.all(np.diff(s) > 0)


def test_taper_positive_and_flat_on_domain_edges():
    w = taper(100, 20, rise=False, fall=True)
    assert w[0] == 1.0 and np.all(w > 0) and w[-1] < 0.01
    assert np.all(np.diff(w[80:]) < 0)


def test_blending_a_pointwise_annotator_is_exact():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(700, 300)).astype(np.float32)

    def pointwise(tile):  # position independent: blending must reproduce it exactly
        p = 1 / (1 + np.exp(-tile))
        return np.stack([1 - p, p * 0.5, p * 0.5])

    out = annotate_tiled(x, pointwise, tile_nt=256, tile_nx=128, overlap_t=40, overlap_x=16)
    np.testing.assert_allclose(out, pointwise(x), rtol=1e-5, atol=1e-6)


def _picks_reference(x, annotate, tile_nt, tile_nx, thr):
    """EQNet-style: pick each non-overlapping tile, offset, concatenate."""
    out = []
    for t0, x0, p in annotate_patches_reference(x, annotate, tile_nt=tile_nt, tile_nx=tile_nx):
        it, ix, _ = detect_peaks(p[1], thr)
        out += [(int(t0 + a), int(x0 + b)) for a, b in zip(it, ix)]
    return sorted(out)


def test_arrival_on_tile_edge_tiny_onnx(tmp_path):
    """A P arrival exactly on a tile edge: the reference duplicates it, blending picks it once."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tiny_onnx(tmp_path / "tiny.onnx", bias_noise=2.0, gain=8.0)))

    def annotate(tile):
        return sess.run(None, {"x": tile[None, None].astype(np.float32)})[0][0]

    nt, nx, tile = 1024, 8, 256
    edge = 512  # first sample of the third tile
    # an arrival waveform centred exactly on the edge (energy on both sides of it)
    bump = np.exp(-0.5 * ((np.arange(nt) - edge) / 3.0) ** 2).astype(np.float32)
    x = np.repeat(bump[:, None], nx, axis=1)
    ref = _picks_reference(x, annotate, tile, nx, 0.3)
    per_channel = {c: [t for t, cc in ref if cc == c] for c in range(nx)}
    assert all(len(v) == 2 for v in per_channel.values())  # duplicated: last sample of tile 2 + first of tile 3
    for v in per_channel.values():  # one copy on each side of the edge, both within 0.1 s of it
        lo, hi = sorted(v)
        assert edge - 10 <= lo < edge <= hi <= edge + 10

    probs = annotate_tiled(x, annotate, tile_nt=tile, tile_nx=nx, overlap_t=64, overlap_x=0)
    it, ix, _ = detect_peaks(probs[1], 0.3)
    assert sorted(zip(ix.tolist(), it.tolist())) == [(c, edge) for c in range(nx)]


def test_arrival_on_tile_edge_context_hungry_network():
    """A network that needs context (fades at tile edges) loses the edge arrival in the reference."""
    t0_ns = 0
    fs = 100.0
    nt, nx, tile = 2048, 4, 512
    edge = 1024
    arrivals = [(c, int(edge / fs * 1e9), "P") for c in range(nx)]
    oracle = OracleAnnotator(arrivals, sigma_s=0.05, edge_fade=64)

    def ann(tile_x, pos=(0, 0)):
        return oracle.annotate(tile_x, offset=(t0_ns + int(pos[0] / fs * 1e9), fs, np.arange(pos[1], pos[1] + tile_x.shape[1])))

    x = np.zeros((nt, nx), np.float32)
    ref = []  # reference: non-overlapping tiles, picks concatenated
    for t0 in range(0, nt, tile):
        p = ann(x[t0 : t0 + tile], (t0, 0))
        it, ix, _ = detect_peaks(p[1], 0.3)
        ref += list(zip((t0 + it).tolist(), ix.tolist()))
    assert ref == []  # lost
    probs = annotate_tiled(x, ann, tile_nt=tile, tile_nx=nx, overlap_t=256, overlap_x=0, with_offset=True)
    it, ix, _ = detect_peaks(probs[1], 0.3)
    assert sorted(zip(ix.tolist(), it.tolist())) == [(c, edge) for c in range(nx)]


@pytest.mark.parametrize("n,tile,ov", [(5000, 1024, 64), (5000, 2560, 64), (1025, 256, 64), (768, 256, 32)])
def test_tile_starts_fewest_tiles_even_overlaps(n, tile, ov):
    s = tile_starts(n, tile, ov)
    k = len(s)
    # fewest tiles: k - 1 tiles could not cover n with the required overlap
    assert (k - 1) * tile - (k - 2) * ov < n <= k * tile - (k - 1) * ov
    shared = tile - np.diff(s)
    assert shared.min() >= ov and shared.max() - shared.min() <= 1  # spread evenly
