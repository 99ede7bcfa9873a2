"""2-D projection of QA embeddings (UMAP), placement of new QAs on an existing map, centroids.

`fit_projection` runs UMAP once per map. `place_points` puts new QAs onto a map that already exists
without refitting it: each new embedding is positioned at the weighted mean of its nearest map
points' coordinates, with UMAP's own fuzzy-membership weights (the position UMAP's `transform`
starts from before its optimisation epochs). That needs only numpy - no numba compile on the first
call, no fitted model object, and so nothing to unpickle - and it never moves an existing point.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Callable

import numpy as np
import pandas as pd

from univar_core.neighbours import cosine_top_k, unit_rows
from univar_core.paths import CACHE_DIR

# numba (used by umap) reads its cache location when it is first imported; point it at the
# project cache so the 25-45 s compile happens once per machine, not once per process.
os.environ.setdefault("NUMBA_CACHE_DIR", str(CACHE_DIR / "numba"))

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class UmapParams:
    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"
    random_state: int = 42

    def __post_init__(self):
        if not isinstance(self.n_neighbors, (int, np.integer)) or self.n_neighbors < 2:
            raise ValueError(f"n_neighbors must be an integer >= 2, got {self.n_neighbors!r}")
        if not 0.0 <= float(self.min_dist) <= 1.0:
            raise ValueError(f"min_dist must be in [0, 1], got {self.min_dist!r}")
        if not isinstance(self.random_state, (int, np.integer)):
            raise ValueError(f"random_state must be an integer, got {self.random_state!r}")

    def to_dict(self) -> dict:
        return {"method": "umap", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "UmapParams":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known - {"method"}
        if unknown:
            raise ValueError(f"unknown UMAP parameter(s) {sorted(unknown)}; known: {sorted(known)}")
        if data.get("method", "umap") != "umap":
            raise ValueError(f"projection method {data['method']!r} is not 'umap'")
        return cls(**{k: v for k, v in data.items() if k in known})


def _as_matrix(embeddings, what: str) -> np.ndarray:
    arr = np.asarray(embeddings, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (n, d), got shape {arr.shape}")
    return arr


def _tiny_coords(x: np.ndarray) -> np.ndarray:
    """Coordinates for maps of <= 3 points, where UMAP's graph is meaningless: the first two
    principal axes, scaled to unit spread, sign fixed so the result is deterministic."""
    n = len(x)
    out = np.zeros((n, 2), dtype=np.float32)
    if n < 2:
        return out
    centred = x.astype(np.float64) - x.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    coords = u[:, :2] * s[:2]
    for j in range(coords.shape[1]):
        pivot = np.argmax(np.abs(coords[:, j]))
        if coords[pivot, j] < 0:
            coords[:, j] = -coords[:, j]
    scale = np.abs(coords).max()
    if scale > 0:
        out[:, : coords.shape[1]] = coords / scale
    return out


def fit_projection(embeddings, params: UmapParams = UmapParams(), *, progress: Progress | None = None) -> np.ndarray:
    """UMAP of `embeddings` to 2-D, seeded by params.random_state. Returns (n, 2) float32.

    progress gets (0, 1) before and (1, 1) after: UMAP offers no per-epoch callback.
    """
    x = _as_matrix(embeddings, "embeddings")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinite values")
    n = len(x)
    if progress:
        progress(0, 1)
    xy = _tiny_coords(x) if n <= 3 else _umap(x, params)
    if progress:
        progress(1, 1)
    return xy


# Up to this many points the neighbour graph is computed exactly here (chunked matrix products, ~5 s for
# 20k x 384 on 2 cores) and handed to UMAP: its own NN-descent is compiled by numba in every process
# (pynndescent does not cache it on disk), which cost a first `univar build` of ValueBench 15-25 s.
EXACT_KNN_MAX = 20_000
_UMAP_SMALL = 4096  # below this umap computes all pairwise distances itself (sklearn, no numba)


def _umap(x: np.ndarray, params: UmapParams, n_epochs: int | None = None) -> np.ndarray:
    import umap  # imported here: importing it is slow and placement never needs it

    n = len(x)
    # UMAP needs more points than neighbours, and its spectral initialisation needs a few more
    # than that; a small map (a handful of QAs) gets fewer neighbours and a random start
    # instead of an error.
    n_neighbors = max(2, min(params.n_neighbors, n - 1))
    init = "spectral" if n > n_neighbors + 2 and n > 10 else "random"
    extra = {}
    if _UMAP_SMALL <= n <= EXACT_KNN_MAX and params.metric == "cosine":
        idx, sims = nearest_map_points(x, x, k=n_neighbors)
        extra["precomputed_knn"] = (idx, np.clip(1.0 - sims, 0.0, None).astype(np.float32))
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=n_neighbors,
        min_dist=params.min_dist,
        metric=params.metric,
        random_state=params.random_state,
        n_jobs=1,  # a seeded UMAP is single-threaded anyway; saying so avoids its warning
        init=init,
        n_epochs=n_epochs,
        **extra,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_neighbors/spectral-fallback chatter on small inputs
        return reducer.fit_transform(x).astype(np.float32)


_WARM_SIZES = (300, 4200)  # below and above umap's 4,096-point switch: both of its code paths compile
WARM_SMALL = (300,)        # only the path of maps under 4,096 QAs (the demo's)


def warm_up(sizes: tuple[int, ...] = _WARM_SIZES) -> float:
    """Compile UMAP's numba code (or load it from numba's on-disk cache, NUMBA_CACHE_DIR) on small random
    inputs of these sizes, so that the first real map does not wait for it; returns the seconds spent. The
    app runs this in a background thread while its first launch embeds the demo; the build waits only for
    what is still compiling."""
    import time

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    for n in sizes:
        x = rng.standard_normal((n, 16)).astype(np.float32)
        _umap(x, UmapParams(), n_epochs=5)  # fit_projection's settings; few epochs: only the compile counts
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# placement

def nearest_map_points(map_embeddings, new_embeddings, k: int = 15, *, chunk_elements: int = 1 << 24):
    """Cosine k-NN of each new embedding among the map's embeddings.

    Returns (idx, sims): (m, k') int64 indices into the map and float32 cosine similarities, most
    similar first, with k' = min(k, n). Exact (neighbours.cosine_top_k: chunked matrix products, no
    index to build, no compile); the map may be a read-only memmap and is never copied whole.
    """
    base = map_embeddings if isinstance(map_embeddings, np.ndarray) else np.asarray(map_embeddings)
    new = _as_matrix(new_embeddings, "new embeddings")
    if base.ndim != 2 or len(base) == 0:
        raise ValueError("cannot place points on an empty map")
    if new.shape[1] != base.shape[1]:
        raise ValueError(
            f"new embeddings have dimension {new.shape[1]} but the map's have {base.shape[1]}: "
            "encode them with the map's encoder"
        )
    return cosine_top_k(new, base, k, chunk_elements=chunk_elements)


def _membership_weights(sims: np.ndarray, n_iter: int = 64) -> np.ndarray:
    """UMAP's fuzzy-membership weights for each row of neighbour similarities (most similar first):
    w_j = exp(-(d_j - rho) / sigma), d = cosine distance, rho = distance to the nearest neighbour,
    sigma found by bisection so that sum_j w_j = log2(k) (UMAP's smooth_knn_dist). Rows normalised."""
    d = 1.0 - sims.astype(np.float64)
    k = d.shape[1]
    if k == 1:
        return np.ones_like(d)
    gap = np.maximum(d - d[:, :1], 0.0)
    target = np.log2(k)
    lo = np.zeros(len(d))
    hi = np.full(len(d), np.inf)
    sigma = np.ones(len(d))
    for _ in range(n_iter):
        total = np.exp(-gap / sigma[:, None]).sum(axis=1)
        too_big = total > target
        hi = np.where(too_big, sigma, hi)
        lo = np.where(too_big, lo, sigma)
        sigma = np.where(np.isinf(hi), sigma * 2.0, (lo + hi) / 2.0)
    sigma = np.maximum(sigma, 1e-12)
    w = np.exp(-gap / sigma[:, None])
    return w / w.sum(axis=1, keepdims=True)


PLACEMENT_K = 15  # map neighbours that position a new point (UMAP's default n_neighbors)


def place_points(map_embeddings, map_xy, new_embeddings, *, k: int = PLACEMENT_K) -> np.ndarray:
    """Positions (m, 2) float32 for new QAs on an existing map; the map itself is not touched.

    Deterministic: the same inputs give the same coordinates, call after call.
    """
    xy = np.asarray(map_xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) != len(map_embeddings):
        raise ValueError(
            f"map_xy must have shape ({len(map_embeddings)}, 2) to match the map embeddings, got {xy.shape}"
        )
    new = _as_matrix(new_embeddings, "new embeddings")
    if len(new) == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if not np.isfinite(new).all():
        raise ValueError("new embeddings contain NaN or infinite values")
    idx, sims = nearest_map_points(map_embeddings, new, k)
    return place_from_neighbours(xy, idx, 1.0 - sims)


def place_from_neighbours(map_xy: np.ndarray, idx: np.ndarray, dists: np.ndarray) -> np.ndarray:
    """(m, 2) float32: each row the fuzzy-membership-weighted mean of its neighbours' map positions.
    idx/dists: (m, k) neighbour indices into map_xy and their distances, nearest first (exact here;
    an approximate index's for the landmark projection)."""
    weights = _membership_weights(1.0 - np.asarray(dists, dtype=np.float64))
    return np.einsum("mk,mkc->mc", weights, np.asarray(map_xy, dtype=np.float64)[idx]).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# centroids (the grouped map, paper fig. 5)

def _group_codes(qas: pd.DataFrame, by: str, n_rows: int) -> tuple[np.ndarray, list[str]]:
    if by not in qas.columns:
        raise ValueError(f"the QA table has no column {by!r} to group by")
    if len(qas) != n_rows:
        raise ValueError(f"{len(qas)} QA rows but {n_rows} embedding rows")
    codes, uniques = pd.factorize(qas[by].astype("string"), sort=True)  # rows with a missing label: -1
    return codes, [str(u) for u in uniques]


def _group_sums(codes: np.ndarray, n_groups: int, embeddings: np.ndarray) -> np.ndarray:
    """Per-group sums of the unit-length embedding rows, as one sparse product (streams a memmap
    once, no normalised copy). Rows are weighted by 1/norm so that precomputed vectors that are not
    unit-length (io keeps them as given) do not outweigh the others in a cosine centroid."""
    from scipy import sparse

    emb = np.asarray(embeddings, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", emb, emb, dtype=np.float64))
    norms[norms == 0] = 1.0
    keep = codes >= 0
    rows = codes[keep]
    cols = np.flatnonzero(keep)
    indicator = sparse.csr_matrix(
        ((1.0 / norms[keep]).astype(np.float32), (rows, cols)), shape=(n_groups, len(codes))
    )
    return np.asarray(indicator @ emb, dtype=np.float32)


def centroid_matrix(qas: pd.DataFrame, embeddings, *, by: str = "value_id") -> tuple[list[str], np.ndarray]:
    """(labels sorted, (L, d) float32 L2-normalised mean of each group's L2-normalised embeddings).
    Rows whose `by` value is missing belong to no group."""
    codes, labels = _group_codes(qas, by, len(embeddings))
    return labels, unit_rows(_group_sums(codes, len(labels), embeddings))


def value_id_centroids(qas: pd.DataFrame, embeddings=None, *, by: str = "value_id") -> pd.DataFrame:
    """One row per group, sorted by label: `by`, n, x, y (mean map coordinates of its QAs) and, when
    embeddings are given, cohesion = mean cosine similarity of its QAs to their centroid (1 = all
    alike; low = the group's answers spread over the map)."""
    for col in ("x", "y"):
        if col not in qas.columns:
            raise ValueError(f"the QA table has no {col!r} column: project it first")
    n_rows = len(qas) if embeddings is None else len(embeddings)
    codes, labels = _group_codes(qas, by, n_rows)
    keep = codes >= 0
    counts = np.bincount(codes[keep], minlength=len(labels))
    xy = qas[["x", "y"]].to_numpy(dtype=np.float64)
    out = pd.DataFrame({
        by: labels,
        "n": counts.astype(np.int64),
        "x": np.bincount(codes[keep], weights=xy[keep, 0], minlength=len(labels)) / np.maximum(counts, 1),
        "y": np.bincount(codes[keep], weights=xy[keep, 1], minlength=len(labels)) / np.maximum(counts, 1),
    })
    if embeddings is not None:
        _, centroids = centroid_matrix(qas, embeddings, by=by)
        emb = np.asarray(embeddings, dtype=np.float32)
        norms = np.linalg.norm(emb, axis=1)
        norms[norms == 0] = 1.0
        # cosine of each QA to its own group's centroid, averaged per group
        cos = np.einsum("ij,ij->i", emb[keep], centroids[codes[keep]]) / norms[keep]
        out["cohesion"] = np.bincount(codes[keep], weights=cos, minlength=len(labels)) / np.maximum(counts, 1)
    return out


# ---------------------------------------------------------------------------------------------
# the grouped map: one point per value ID, laid out by the distances between value IDs

@dataclass(frozen=True)
class DistanceLayout:
    coords: pd.DataFrame   # index: the distance matrix's labels; columns x, y
    fidelity: float        # Spearman correlation of the given distances with the 2-D ones (NaN: < 3 labels)
    method: str = "metric MDS"


def layout_from_distances(distances: pd.DataFrame, *, seed: int = 0) -> DistanceLayout:
    """2-D positions of labelled items whose distances follow a distance matrix (metric MDS from the
    classical-MDS solution, so the same matrix always gives the same picture).

    Why not the mean of each value ID's map coordinates: every value ID answers the same questions, so
    its QAs spread over the whole QA map and all the means fall near its middle. The distances between
    the value IDs' own representations (compare.value_id_distance_matrix) keep what sets them apart.
    """
    labels = [str(v) for v in distances.index]
    if list(map(str, distances.columns)) != labels:
        raise ValueError("the distance matrix must have the same labels, in the same order, on both axes")
    d = distances.to_numpy(dtype=np.float64)
    if not np.isfinite(d).all() or (d < -1e-9).any():
        raise ValueError("distances must be finite and non-negative")
    if not np.allclose(d, d.T, atol=1e-6):
        raise ValueError("the distance matrix is not symmetric")
    d = np.clip((d + d.T) / 2, 0.0, None)
    np.fill_diagonal(d, 0.0)
    n = len(labels)
    if n < 3:
        xy = np.zeros((n, 2))
        if n == 2:
            xy[:, 0] = [-d[0, 1] / 2, d[0, 1] / 2]
        return DistanceLayout(pd.DataFrame(xy, index=labels, columns=["x", "y"]), float("nan"))
    from scipy.spatial.distance import pdist, squareform
    from scipy.stats import spearmanr
    from sklearn.manifold import MDS

    xy = MDS(n_components=2, metric_mds=True, metric="precomputed", init="classical_mds",
             random_state=seed, normalized_stress="auto").fit_transform(d)
    rho = spearmanr(squareform(d, checks=False), pdist(xy)).statistic
    return DistanceLayout(pd.DataFrame(xy, index=labels, columns=["x", "y"]), float(rho))
