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

from typing import Callable

import numpy as np

Annotator = Callable[[np.ndarray], np.ndarray]


def tile_starts(n: int, tile: int, overlap: int) -> np.ndarray:
    """Start indices of tiles of length ``tile`` covering ``[0, n)`` with at least ``overlap`` shared samples.

    The last tile is aligned to the end (so no zero-padded partial tile).
    """
    if n <= tile:
        return np.array([0], dtype=np.int64)
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap {overlap} must be in [0, tile={tile})")
    step = tile - overlap
    starts = np.arange(0, n - tile, step, dtype=np.int64)
    return np.append(starts, n - tile)


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


def annotate_tiled(
    x: np.ndarray,
    annotate: Annotator,
    *,
    tile_nt: int,
    tile_nx: int,
    overlap_t: int,
    overlap_x: int,
    with_offset: bool = False,
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

    Returns
    -------
    ``[n_class, nt, nx]`` float32 blended probabilities.
    """
    nt, nx = x.shape
    ts = tile_starts(nt, tile_nt, overlap_t)
    xs = tile_starts(nx, tile_nx, overlap_x)
    if len(ts) == 1 and len(xs) == 1:  # one tile: no blending needed
        p = annotate(x, (0, 0)) if with_offset else annotate(x)
        return np.asarray(p, dtype=np.float32)
    acc: np.ndarray | None = None
    wsum_t = np.zeros(nt)
    wsum_x = np.zeros(nx)
    # weights are separable: w(t, x) = wt(t) * wx(x), so the normaliser is the product of sums
    # only when every (time-tile, channel-tile) pair is visited, which it is.
    for t0 in ts:
        t1 = min(t0 + tile_nt, nt)
        wt = taper(t1 - t0, overlap_t, rise=t0 > 0, fall=t1 < nt)
        for x0 in xs:
            x1 = min(x0 + tile_nx, nx)
            wx = taper(x1 - x0, overlap_x, rise=x0 > 0, fall=x1 < nx)
            tile = np.ascontiguousarray(x[t0:t1, x0:x1])
            p = annotate(tile, (int(t0), int(x0))) if with_offset else annotate(tile)
            p = np.asarray(p, dtype=np.float32)
            if acc is None:
                acc = np.zeros((p.shape[0], nt, nx), np.float32)
            acc[:, t0:t1, x0:x1] += p * (wt[:, None] * wx[None, :]).astype(np.float32)
        wsum_t[t0:t1] += wt
    for x0 in xs:
        x1 = min(x0 + tile_nx, nx)
        wsum_x[x0:x1] += taper(x1 - x0, overlap_x, rise=x0 > 0, fall=x1 < nx)
    assert acc is not None
    acc /= (wsum_t[:, None] * wsum_x[None, :]).astype(np.float32)
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
