"""Projection of large maps: UMAP fitted on landmarks, every other point placed by its neighbours.

A full UMAP of a million 384-d points on a CPU takes hours and holds a large neighbour graph; the
map's shape is settled long before that. So a map with more QAs than `n_landmarks` is projected in
two steps:

1. a landmark sample, stratified by value ID (every value ID keeps its share, and small ones keep a
   few points), is projected with UMAP. Its neighbour graph comes from a pynndescent index that we
   build ourselves and hand to UMAP (`precomputed_knn`), so the index is built once;
2. every other QA is placed with the project's kNN placement (projection.place_from_neighbours:
   UMAP's fuzzy-membership-weighted mean of the neighbours' positions), its neighbours found by
   querying that same index. No refit, no pickled model: the same rule places uploads later.

What the shortcut costs is measured in docs/benchmarks.md (trustworthiness against a full UMAP).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from univar_core.maps.projection import UmapParams, fit_projection, place_from_neighbours

DEFAULT_LANDMARKS = 50_000
MIN_PER_GROUP = 20          # a small value ID keeps this many landmarks (or all its QAs)
_QUERY_ROWS = 20_000        # placement queries per block (progress ticks, bounded memory)

Progress = Callable[[int, int], None]


@dataclass
class LandmarkProjection:
    xy: np.ndarray                      # (n, 2) float32 for every point
    landmarks: np.ndarray               # sorted int64 row indices of the points UMAP was fitted on
    timings_s: dict = field(default_factory=dict)

    @property
    def is_full(self) -> bool:
        return len(self.landmarks) == len(self.xy)


def stratified_sample(groups, size: int, *, seed: int = 0, min_per_group: int = MIN_PER_GROUP) -> np.ndarray:
    """Sorted row indices of about `size` rows: each group its proportional share (largest
    remainders), but at least min(its size, min_per_group). Deterministic for a seed."""
    codes = np.asarray(groups)
    if codes.dtype.kind not in "iu":
        _, codes = np.unique(codes.astype(str), return_inverse=True)
    n = len(codes)
    if size >= n:
        return np.arange(n, dtype=np.int64)
    counts = np.bincount(codes)
    exact = size * counts / n
    quota = np.floor(exact).astype(np.int64)
    spare = size - int(quota.sum())
    if spare > 0:  # largest remainders get the rounding
        quota[np.argsort(-(exact - quota), kind="stable")[:spare]] += 1
    quota = np.minimum(counts, np.maximum(quota, np.minimum(counts, min_per_group)))
    rng = np.random.default_rng(seed)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    picked = [rng.choice(order[s:s + c], size=q, replace=False)
              for s, c, q in zip(starts, counts, quota) if q > 0]
    return np.sort(np.concatenate(picked)).astype(np.int64)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


def project_with_landmarks(embeddings, params: UmapParams = UmapParams(), *, groups=None,
                           n_landmarks: int = DEFAULT_LANDMARKS, progress: Progress | None = None
                           ) -> LandmarkProjection:
    """2-D coordinates for every row of `embeddings` (an array or read-only memmap, never copied
    whole). Up to `n_landmarks` rows: a plain full UMAP (fit_projection). Above: see the module doc.
    `groups` (e.g. the value_id column) stratifies the landmark sample; None samples uniformly."""
    n = len(embeddings)
    if n_landmarks < 10:
        raise ValueError(f"n_landmarks must be at least 10, got {n_landmarks}")
    if n <= n_landmarks:
        t0 = time.perf_counter()
        xy = fit_projection(embeddings, params, progress=progress)
        return LandmarkProjection(xy, np.arange(n, dtype=np.int64), {"fit": time.perf_counter() - t0})
    if params.metric != "cosine":
        raise ValueError("the landmark projection places points by cosine neighbours; use metric='cosine'")
    import umap
    from pynndescent import NNDescent

    timings: dict[str, float] = {}
    total = n - n_landmarks + 1
    if progress:
        progress(0, total)
    t0 = time.perf_counter()
    landmarks = stratified_sample(np.zeros(n, dtype=np.int64) if groups is None else groups,
                                  n_landmarks, seed=params.random_state)
    base = _unit_rows(embeddings[landmarks])  # unit rows: cosine = 1 - dot in the index
    index = NNDescent(base, metric="cosine", n_neighbors=params.n_neighbors,
                      random_state=params.random_state, low_memory=True, n_jobs=1)
    knn_idx, knn_dist = index.neighbor_graph
    timings["index"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    reducer = umap.UMAP(n_components=2, n_neighbors=params.n_neighbors, min_dist=params.min_dist,
                        metric="cosine", random_state=params.random_state, n_jobs=1,
                        precomputed_knn=(knn_idx, knn_dist, index))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        landmark_xy = reducer.fit_transform(base).astype(np.float32)
    timings["fit"] = time.perf_counter() - t0
    if progress:
        progress(1, total)

    t0 = time.perf_counter()
    xy = np.empty((n, 2), dtype=np.float32)
    xy[landmarks] = landmark_xy
    rest = np.setdiff1d(np.arange(n, dtype=np.int64), landmarks, assume_unique=True)
    index.prepare()
    for start in range(0, len(rest), _QUERY_ROWS):
        rows = rest[start:start + _QUERY_ROWS]
        idx, dist = index.query(_unit_rows(embeddings[rows]), k=params.n_neighbors)
        xy[rows] = place_from_neighbours(landmark_xy, idx, dist)
        if progress:
            progress(1 + start + len(rows), total)
    timings["place"] = time.perf_counter() - t0
    return LandmarkProjection(xy, landmarks, timings)


def trustworthiness(x, xy, *, k: int = 15, block: int = 128) -> float:
    """scikit-learn's manifold.trustworthiness (euclidean on unit rows = cosine ranks), computed in
    row blocks: sklearn's own sorts the whole n x n distance matrix (20 GB at 50k points). Ranks in
    the original space are counted, not sorted; equal to sklearn's up to ties (tested)."""
    from sklearn.neighbors import NearestNeighbors

    x = _unit_rows(x)
    xy = np.asarray(xy, dtype=np.float64)
    n = len(x)
    if k >= n / 2:
        raise ValueError(f"k must be below n / 2 ({n / 2}), got {k}")
    emb_nn = NearestNeighbors(n_neighbors=k + 1).fit(xy).kneighbors(xy, return_distance=False)
    emb_nn = np.array([row[row != i][:k] for i, row in enumerate(emb_nn)])
    penalty = 0.0
    sq = np.einsum("ij,ij->i", x, x)
    for start in range(0, n, block):
        stop = min(n, start + block)
        d = sq[start:stop, None] + sq[None, :] - 2.0 * (x[start:stop] @ x.T)
        d[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # self: rank 0
        d_nn = np.take_along_axis(d, emb_nn[start:stop], axis=1)
        # rank of j among i's neighbours in the original space (1 = nearest), self excluded
        # (self, at -inf, is counted too: exactly the +1 that makes the nearest other rank 1)
        ranks = (d[:, :, None] < d_nn[:, None, :]).sum(axis=1)
        excess = ranks - k
        penalty += float(excess[excess > 0].sum())
    return float(1.0 - penalty * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))))
