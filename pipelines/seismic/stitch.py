"""Run a picker network over overlapping tiles and blend the outputs.

The reference (EQNet ``--cut_patch``) cuts non-overlapping tiles and
concatenates per-tile picks, so an arrival on a tile edge is lost (the
network sees half of it) or duplicated (a peak on both sides).  Here tiles
overlap in time and channels, each tile's output is weighted by a cosine
taper that falls toward its *interior* edges (edges on the domain boundary
keep weight 1), and the blended output is the weighted sum divided by the
summed weights.  Peaks are then picked once on the blended image.

Everything is model-agnostic: ``annotate`` is any callable
``x[nt, nx] float32 -> probs[n_class, nt, nx]`` accepting tiles up to
``(tile_nt, tile_nx)``.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

Annotator = Callable[[np.ndarray], np.ndarray]


def tile_starts(n: int, tile: int, overlap: int) -> np.ndarray:
    """Start indices of tiles of length ``tile`` covering ``[0, n)`` with at least ``overlap`` shared samples.

    Uses the fewest tiles that satisfy the overlap, spread evenly (the first
    starts at 0, the last ends at ``n``; no zero-padded partial tile), so every
    neighbour pair shares about the same number of samples instead of one pair
    sharing almost a whole tile.
    """
    if n <= tile:
        return np.array([0], dtype=np.int64)
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap {overlap} must be in [0, tile={tile})")
    k = -(-(n - overlap) // (tile - overlap))  # tiles needed
    return np.floor(np.linspace(0, n - tile, k)).astype(np.int64)


def cosine_ramp(n: int) -> np.ndarray:
    """Half-cosine ramp of ``n`` strictly positive weights rising toward 1."""
    if n <= 0:
        return np.zeros(0)
    i = np.arange(n) + 0.5
    return 0.5 - 0.5 * np.cos(np.pi * i / n)


def taper(length: int, ramp: int, *, rise: bool, fall: bool) -> np.ndarray:
    """1-D taper weights: cosine ramps of ``ramp`` samples at the requested sides."""
    w = np.ones(length)
    r = min(ramp, length // 2)
    if r > 0:
        ramp_w = cosine_ramp(r)
        if rise:
            w[:r] = ramp_w
        if fall:
            w[length - r :] = ramp_w[::-1]
    return w


@functools.lru_cache(maxsize=64)
def _taper32(length: int, ramp: int, rise: bool, fall: bool) -> np.ndarray:
    w = taper(length, ramp, rise=rise, fall=fall).astype(np.float32)
    w.flags.writeable = False
    return w


def annotate_tiled(
    x: np.ndarray,
    annotate: Annotator,
    *,
    tile_nt: int,
    tile_nx: int,
    overlap_t: int,
    overlap_x: int,
    with_offset: bool = False,
    classes: Sequence[int] | None = None,
) -> np.ndarray:
    """Blend ``annotate`` over overlapping, cosine-tapered tiles.

    Parameters
    ----------
    x
        ``[nt, nx]`` model input.
    annotate
        The network; returns ``[n_class, tile_nt', tile_nx']`` for a tile.
    tile_nt, tile_nx
        Maximum tile shape accepted by ``annotate``.
    overlap_t, overlap_x
        Minimum overlap between neighbouring tiles (also the taper length).
    with_offset
        Call ``annotate(tile, (t_start, x_start))`` instead (position-aware oracles).
    classes
        Output classes to keep (e.g. ``(1, 2)`` for P and S); default all.

    Returns
    -------
    ``[n_class', nt, nx]`` float32 blended probabilities.
    """
    nt, nx = x.shape
    ts = tile_starts(nt, tile_nt, overlap_t)
    xs = tile_starts(nx, tile_nx, overlap_x)
    sel: list[int] | slice | None = list(classes) if classes is not None else None
    if sel and sel == list(range(sel[0], sel[-1] + 1)):
        sel = slice(sel[0], sel[-1] + 1)  # a view, no copy

    def run(t0: int, t1: int, x0: int, x1: int) -> np.ndarray:
        tile = x if (t1 - t0, x1 - x0) == (nt, nx) else np.ascontiguousarray(x[t0:t1, x0:x1])
        p = annotate(tile, (int(t0), int(x0))) if with_offset else annotate(tile)
        p = np.asarray(p)
        return np.asarray(p if sel is None else p[sel], dtype=np.float32)

    if len(ts) == 1 and len(xs) == 1:  # one tile: no blending needed
        return run(0, nt, 0, nx)
    acc: np.ndarray | None = None
    # weights are separable, w(t, x) = wt(t) * wx(x), and every (time-tile, channel-tile) pair is
    # visited, so the normaliser is the product of the 1-D weight sums
    wsum_t = np.zeros(nt, np.float32)
    wsum_x = np.zeros(nx, np.float32)
    for i, t0 in enumerate(ts):
        t1 = min(int(t0) + tile_nt, nt)
        wt = _taper32(t1 - t0, overlap_t, bool(t0 > 0), t1 < nt)
        wsum_t[t0:t1] += wt
        for x0 in xs:
            x1 = min(int(x0) + tile_nx, nx)
            wx = _taper32(x1 - x0, overlap_x, bool(x0 > 0), x1 < nx)
            if i == 0:
                wsum_x[x0:x1] += wx
            p = run(t0, t1, x0, x1)
            if acc is None:
                acc = np.zeros((p.shape[0], nt, nx), np.float32)
            p = p * wx  # a copy: the annotator may keep its output
            p *= wt[:, None]
            acc[:, t0:t1, x0:x1] += p
    assert acc is not None
    acc *= 1.0 / wsum_x
    acc *= (1.0 / wsum_t)[:, None]
    return acc


def annotate_patches_reference(x: np.ndarray, annotate: Annotator, *, tile_nt: int, tile_nx: int) -> list[tuple[int, int, np.ndarray]]:
    """The reference's non-overlapping tiling (EQNet ``--cut_patch``), for comparison only.

    Returns ``(t_offset, x_offset, probs)`` per tile; the last tiles are zero-padded.
    """
    nt, nx = x.shape
    out = []
    for t0 in range(0, nt, tile_nt):
        for x0 in range(0, nx, tile_nx):
            tile = np.zeros((tile_nt, tile_nx), np.float32)
            sub = x[t0 : t0 + tile_nt, x0 : x0 + tile_nx]
            tile[: sub.shape[0], : sub.shape[1]] = sub
            out.append((t0, x0, np.asarray(annotate(tile))[:, : sub.shape[0], : sub.shape[1]]))
    return out
