"""Projection of large maps: UMAP fitted on landmarks, every other point placed by its neighbours.

A full UMAP of a million 384-d points on a CPU takes hours and holds a large neighbour graph; the
map's shape is settled long before that. So a map with more QAs than `n_landmarks` is projected in
two steps:

1. a landmark sample, stratified by value ID (every value ID keeps its share, and small ones keep a
   few points), is projected with UMAP. Its neighbour graph comes from a pynndescent index that we
   build ourselves and hand to UMAP (`precomputed_knn`), so the index is built once;
2. every other QA starts where the project's kNN placement puts it (projection.place_from_neighbours:
   UMAP's fuzzy-membership-weighted mean of the neighbours' positions, the rule that places uploads
   later), its neighbours found by querying that same index; then UMAP's own optimisation moves it
   against the landmarks, which stay fixed (refine_placed: what UMAP.transform does after that start).
   No refit, no pickled model.

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
# pynndescent's query accuracy for placed points: UMAP.transform's own for cosine (angular trees); the
# default 0.1 misses enough true neighbours to cost 0.009 trustworthiness at 1M (docs/benchmarks.md)
QUERY_EPSILON = 0.24
REFINE_EPOCHS = 30          # UMAP.transform's epochs for more than 10,000 new points

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
                           n_landmarks: int = DEFAULT_LANDMARKS, landmarks: np.ndarray | None = None,
                           progress: Progress | None = None) -> LandmarkProjection:
    """2-D coordinates for every row of `embeddings` (an array or read-only memmap, never copied
    whole). Up to `n_landmarks` rows: a plain full UMAP (fit_projection). Above: see the module doc.
    `groups` (e.g. the value_id column) stratifies the landmark sample; None samples uniformly.
    `landmarks`: the rows to fit on, chosen by the caller (then n_landmarks is their number)."""
    n = len(embeddings)
    if landmarks is not None:
        landmarks = np.unique(np.asarray(landmarks, dtype=np.int64))
        if len(landmarks) and (landmarks[0] < 0 or landmarks[-1] >= n):
            raise ValueError(f"landmark rows must lie in 0..{n - 1}")
        n_landmarks = len(landmarks)
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
    from umap.umap_ import find_ab_params

    timings: dict[str, float] = {}
    total = n - n_landmarks + 1
    if progress:
        progress(0, total)
    t0 = time.perf_counter()
    if landmarks is None:
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
    a, b = find_ab_params(1.0, params.min_dist)  # UMAP's curve for this min_dist (spread 1, its default)
    for start in range(0, len(rest), _QUERY_ROWS):
        rows = rest[start:start + _QUERY_ROWS]
        idx, dist = index.query(_unit_rows(embeddings[rows]), k=params.n_neighbors, epsilon=QUERY_EPSILON)
        xy[rows] = refine_placed(landmark_xy, place_from_neighbours(landmark_xy, idx, dist), idx, dist,
                                 a=a, b=b, seed=params.random_state)
        if progress:
            progress(1 + start + len(rows), total)
    timings["place"] = time.perf_counter() - t0
    return LandmarkProjection(xy, landmarks, timings)


def refine_placed(landmark_xy: np.ndarray, start_xy: np.ndarray, idx: np.ndarray, dists: np.ndarray, *,
                  a: float, b: float, n_epochs: int = REFINE_EPOCHS, seed: int = 42) -> np.ndarray:
    """(m, 2) float32: placed points moved by UMAP's own optimisation against the fixed landmark
    embedding, the step UMAP.transform runs after its weighted-mean start (its edge weights: fuzzy
    memberships with local_connectivity 0; weak edges dropped; learning rate 1/4; the landmarks never
    move). Done here rather than by UMAP.transform because transform's start is a Python loop per
    point (minutes at 1M) and it would query the index a second time.

    Why: a weighted mean of 15 landmark positions lands between them when they lie apart on the map,
    so points placed that way lose their order among themselves (trustworthiness on the 1M map: 0.972
    against 0.997 for a full UMAP; refined: 0.991; docs/benchmarks.md)."""
    from umap.layouts import optimize_layout_euclidean
    from umap.umap_ import INT32_MAX, INT32_MIN, compute_membership_strengths, make_epochs_per_sample, smooth_knn_dist

    if len(start_xy) == 0:
        return np.zeros((0, 2), dtype=np.float32)
    dists = np.ascontiguousarray(dists, dtype=np.float32)
    sigmas, rhos = smooth_knn_dist(dists, float(dists.shape[1]), local_connectivity=0.0)
    head, tail, weight, _ = compute_membership_strengths(idx.astype(np.int32), dists, sigmas, rhos, bipartite=True)
    keep = weight >= weight.max() / n_epochs  # as UMAP.transform: edges too weak to be sampled once
    rng_state = np.random.RandomState(seed).randint(INT32_MIN, INT32_MAX, 3).astype(np.int64)
    return optimize_layout_euclidean(
        np.array(start_xy, dtype=np.float32), np.array(landmark_xy, dtype=np.float32), head[keep], tail[keep],
        n_epochs, len(landmark_xy), make_epochs_per_sample(weight[keep], n_epochs), a, b, rng_state,
        gamma=1.0, initial_alpha=0.25, negative_sample_rate=5, move_other=False)


def trustworthiness(x, xy, *, k: int = 15, block: int = 512) -> float:
    """scikit-learn's manifold.trustworthiness (euclidean on unit rows = cosine ranks), computed in
    row blocks: sklearn's own sorts the whole n x n distance matrix (20 GB at 50k points). Ranks in
    the original space are counted, not sorted (one pass over a block per neighbour); equal to
    sklearn's up to ties (tested)."""
    from sklearn.neighbors import NearestNeighbors

    x = _unit_rows(x)
    xy = np.asarray(xy, dtype=np.float64)
    n = len(x)
    if k >= n / 2:
        raise ValueError(f"k must be below n / 2 ({n / 2}), got {k}")
    emb_nn = NearestNeighbors(n_neighbors=k + 1).fit(xy).kneighbors(xy, return_distance=False)
    emb_nn = np.array([row[row != i][:k] for i, row in enumerate(emb_nn)])
    penalty = 0.0
    for start in range(0, n, block):
        stop = min(n, start + block)
        sim = x[start:stop] @ x.T  # unit rows: more similar = nearer
        sim[np.arange(stop - start), np.arange(start, stop)] = np.inf  # self: rank 0
        sim_nn = np.take_along_axis(sim, emb_nn[start:stop], axis=1)
        # rank of j among i's neighbours in the original space (1 = nearest), self excluded
        # (self, at +inf, is counted too: exactly the +1 that makes the nearest other rank 1)
        ranks = np.stack([np.count_nonzero(sim > sim_nn[:, m:m + 1], axis=1) for m in range(k)], axis=1)
        excess = ranks - k
        penalty += float(excess[excess > 0].sum())
    return float(1.0 - penalty * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))))
