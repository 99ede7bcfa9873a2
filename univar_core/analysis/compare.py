"""Distances between value IDs, same-question divergence, permutation tests, trajectories.

Every function takes plain inputs: a QA table with the CORE_COLUMNS (``value_id``, ``lang``,
``model``, ``question_id`` ...; ``x``, ``y`` where map coordinates are wanted) and an embedding
matrix row-aligned with it (float32, L2-normalised, so cosine similarity is a dot product).

Three distances between two sets of QA embeddings A and B:

- ``"centroid"``: cosine distance ``1 - cos(mean(A), mean(B))`` between the group means (the
  paper's grouped map compares value IDs this way). Cheap, but blind to anything but the mean.
- ``"energy"``: the energy distance ``sqrt(2 E|a-b| - E|a-a'| - E|b-b'|)`` with Euclidean
  distances between the unit vectors (V-statistic, so a set's distance to itself is exactly 0;
  the square root makes it a metric, as in ``scipy.stats.energy_distance``). Zero only when the
  two distributions are the same, so it sees spread and shape, not only the mean.
- ``"mmd"``: maximum mean discrepancy ``sqrt(E k(a,a') + E k(b,b') - 2 E k(a,b))`` with an RBF
  kernel ``k(u,v) = exp(-|u-v|^2 / (2 s^2))``; the bandwidth s is the median pairwise distance of
  the pooled QAs (one bandwidth for a whole matrix, so its entries are comparable).

Large groups are subsampled (``max_per_group``, seeded) for the distribution-level distances, so a
127 x 127 matrix stays a matter of seconds; centroids always use every QA.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from univar_core.neighbours import cosine_top_k, unit_rows

_unit = functools.partial(unit_rows, dtype=None)  # distances here are computed in float64

METHODS = ("centroid", "energy", "mmd")
GROUP_COLUMNS = ("value_id", "lang", "model")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown distance method {method!r}; choose one of {', '.join(METHODS)}")


def _check_aligned(qas: pd.DataFrame, emb: np.ndarray) -> np.ndarray:
    emb = np.asarray(emb)
    if emb.ndim != 2 or emb.shape[0] != len(qas):
        raise ValueError(
            f"embeddings of shape {emb.shape} are not row-aligned with a QA table of {len(qas)} rows"
        )
    return emb


def _check_column(qas: pd.DataFrame, column: str) -> None:
    if column not in qas.columns:
        raise ValueError(f"the QA table has no column {column!r} (columns: {', '.join(map(str, qas.columns))})")


def group_rows(qas: pd.DataFrame, by: str = "value_id") -> dict[str, np.ndarray]:
    """Positional row indices of each group, keys sorted."""
    _check_column(qas, by)
    codes, labels = pd.factorize(qas[by].astype(str), sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
    return {str(lab): order[bounds[i]:bounds[i + 1]] for i, lab in enumerate(labels)}


def _rows_of(qas: pd.DataFrame, value_id: str, by: str = "value_id") -> np.ndarray:
    _check_column(qas, by)
    rows = np.flatnonzero(qas[by].astype(str).to_numpy() == value_id)
    if rows.size == 0:
        raise ValueError(f"no QAs with {by} = {value_id!r}")
    return rows


def _subsample(rows: np.ndarray, max_n: int | None, rng: np.random.Generator) -> np.ndarray:
    if max_n is None or rows.size <= max_n:
        return rows
    return np.sort(rng.choice(rows, size=max_n, replace=False))


def _pair_terms(sim: np.ndarray, method: str, bandwidth: float | None) -> np.ndarray:
    """In place: cosine similarities of unit vectors -> the pair terms of ``method``: the Euclidean
    distance sqrt(2 - 2 cos) (energy) or the RBF kernel exp(-(2 - 2 cos) / (2 s^2)) (MMD)."""
    if method == "energy":
        sim *= -2.0
        sim += 2.0
        np.maximum(sim, 0.0, out=sim)
        return np.sqrt(sim, out=sim)
    if bandwidth is None:
        raise ValueError("MMD needs a bandwidth (median_bandwidth of the pooled QAs)")
    sim -= 1.0
    sim *= 1.0 / bandwidth**2
    np.minimum(sim, 0.0, out=sim)
    return np.exp(sim, out=sim)


def median_bandwidth(emb: np.ndarray, *, max_n: int = 1000, seed: int = 0) -> float:
    """Median pairwise Euclidean distance of (a seeded sample of) the rows: the RBF bandwidth."""
    emb = np.asarray(emb)
    sample = emb[_subsample(np.arange(len(emb)), max_n, np.random.default_rng(seed))]
    d = _pair_matrix(sample, sample, "energy", None)
    off = d[np.triu_indices(len(sample), k=1)]
    med = float(np.median(off)) if off.size else 1.0
    return med if med > 0 else 1.0


def _pair_matrix(a: np.ndarray, b: np.ndarray, method: str, bandwidth: float | None) -> np.ndarray:
    """All pair terms between the rows of a and of b (float64); ``a is b``: a QA paired with itself
    gets exactly distance 0 (kernel 1), not float32 rounding's sqrt(2e-7)."""
    sim = (a.astype(np.float32, copy=False) @ b.astype(np.float32, copy=False).T).astype(np.float64)
    if a is b:
        np.fill_diagonal(sim, 1.0)
    return _pair_terms(sim, method, bandwidth)


def _combine(cross: float, within_a: float, within_b: float, method: str) -> float:
    """Energy: 2 E|a-b| - E|a-a'| - E|b-b'|; MMD^2: E k(a,a') + E k(b,b') - 2 E k(a,b); then sqrt."""
    value = 2 * cross - within_a - within_b if method == "energy" else within_a + within_b - 2 * cross
    return float(np.sqrt(max(value, 0.0)))


def set_distance(emb_a: np.ndarray, emb_b: np.ndarray, method: str = "centroid", *,
                 bandwidth: float | None = None) -> float:
    """Distance between two sets of QA embeddings (see the module docstring for the methods)."""
    _check_method(method)
    emb_a, emb_b = np.asarray(emb_a), np.asarray(emb_b)
    if len(emb_a) == 0 or len(emb_b) == 0:
        raise ValueError("both sets need at least one QA embedding")
    if method == "centroid":
        ca, cb = _unit(emb_a.mean(0, dtype=np.float64)), _unit(emb_b.mean(0, dtype=np.float64))
        return float(max(1.0 - ca @ cb, 0.0))
    if method == "mmd" and bandwidth is None:
        bandwidth = median_bandwidth(np.vstack([emb_a, emb_b]))
    return float(_set_distance_matrix([emb_a, emb_b], method, bandwidth)[0, 1])


# ---------------------------------------------------------------------------------------------
# distance matrices
# ---------------------------------------------------------------------------------------------
def value_id_distance_matrix(qas: pd.DataFrame, emb: np.ndarray, method: str = "centroid", *,
                             by: str = "value_id", max_per_group: int | None = 100,
                             seed: int = 0) -> pd.DataFrame:
    """Square, symmetric distance matrix between the groups of ``by`` (labels sorted, zero diagonal).

    ``by`` is ``"value_id"`` (default), ``"lang"`` or ``"model"`` (any column works): a group pools
    all its QAs. For ``"energy"``/``"mmd"`` each group is first reduced to at most ``max_per_group``
    QAs drawn without replacement with ``seed`` (``None`` = use all); ``"centroid"`` uses every QA.
    """
    _check_method(method)
    emb = _check_aligned(qas, emb)
    groups = group_rows(qas, by)
    labels = list(groups)
    if method == "centroid":
        cents = _unit(np.stack([emb[r].mean(0, dtype=np.float64) for r in groups.values()]))
        dist = np.clip(1.0 - cents @ cents.T, 0.0, None)
    else:
        sets = [emb[_subsample(r, max_per_group, np.random.default_rng([seed, i]))]
                for i, r in enumerate(groups.values())]
        bandwidth = median_bandwidth(np.vstack(sets), seed=seed) if method == "mmd" else None
        dist = _set_distance_matrix(sets, method, bandwidth)
    dist = (dist + dist.T) / 2  # exact symmetry despite float rounding
    np.fill_diagonal(dist, 0.0)
    out = pd.DataFrame(dist, index=labels, columns=labels)
    out.index.name = out.columns.name = by
    return out


def _set_distance_matrix(sets: list[np.ndarray], method: str, bandwidth: float | None) -> np.ndarray:
    """Energy or MMD between every two sets (float64, k x k), from their mean pair terms."""
    sizes = np.array([len(x) for x in sets])
    mean_pair = _group_pair_sums(np.vstack(sets), sizes, method, bandwidth) / np.outer(sizes, sizes)
    within = np.diag(mean_pair)
    if method == "energy":
        sq = 2 * mean_pair - within[:, None] - within[None, :]
    else:
        sq = within[:, None] + within[None, :] - 2 * mean_pair
    return np.sqrt(np.clip(sq, 0.0, None))


PAIR_TILE = 2048  # rows (and columns) per tile of the pairwise computation: 16 MB of float32


def _group_pair_sums(x: np.ndarray, sizes: np.ndarray, method: str, bandwidth: float | None) -> np.ndarray:
    """(k, k) float64 sums of the pair terms between every two groups of the stacked rows ``x``
    (group g: ``sizes[g]`` consecutive rows), a group with itself included (self-pairs exactly 0 /
    kernel 1).

    All groups at once: the n x n pairwise matrix in square tiles, only the tiles on and above the
    diagonal (the matrix is symmetric), each one float32 product + in-place pair terms, then summed
    group by group along columns (float32) and rows (float64). 375 groups of 100 QAs: about 170
    tiles of 2048 x 2048 instead of 375 row blocks of float64 temporaries.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    sizes, tile = np.asarray(sizes, dtype=np.int64), PAIR_TILE
    if (sizes < 1).any():
        raise ValueError("every set needs at least one QA embedding")
    n, k = len(x), len(sizes)
    bounds = np.concatenate([[0], np.cumsum(sizes)])  # group g: rows bounds[g]:bounds[g + 1]
    group_of = np.repeat(np.arange(k), sizes)

    def cut(start: int, stop: int) -> tuple[int, int, np.ndarray]:
        """Groups meeting rows start:stop (first, last) and where each begins within them."""
        first, last = int(group_of[start]), int(group_of[stop - 1])
        return first, last, np.concatenate([[0], bounds[first + 1:last + 1] - start])

    on_diag, above = np.zeros((k, k)), np.zeros((k, k))
    for r0 in range(0, n, tile):
        r1 = min(n, r0 + tile)
        rf, rl, rcuts = cut(r0, r1)
        for c0 in range(r0, n, tile):
            c1 = min(n, c0 + tile)
            cf, cl, ccuts = cut(c0, c1)
            sim = x[r0:r1] @ x[c0:c1].T
            if c0 == r0:
                np.fill_diagonal(sim, 1.0)  # a QA with itself: exactly distance 0 / kernel 1
            terms = _pair_terms(sim, method, bandwidth)
            # columns first (float32 partial sums: fast, and their rounding averages out), rows in float64
            sums = np.add.reduceat(np.add.reduceat(terms, ccuts, axis=1).astype(np.float64), rcuts, axis=0)
            (on_diag if c0 == r0 else above)[rf:rl + 1, cf:cl + 1] += sums
    return on_diag + above + above.T


def aggregate_distance(dm: pd.DataFrame, qas: pd.DataFrame, by: str = "lang") -> pd.DataFrame:
    """Aggregate a value-ID distance matrix to languages (``by="lang"``) or models (``by="model"``).

    Entry (G, H) is the mean distance over pairs of value IDs u in G, v in H (average linkage). The
    diagonal is set to 0 so the result is a distance matrix like the others; to compare whole
    languages by their pooled QAs instead, use ``value_id_distance_matrix(..., by="lang")``. Which
    group a value ID belongs to is read from ``qas`` (its ``value_id`` and ``by`` columns).
    """
    _check_column(qas, "value_id")
    _check_column(qas, by)
    owner = qas.drop_duplicates("value_id").set_index("value_id")[by].astype(str)
    missing = [v for v in dm.index if v not in owner.index]
    if missing:
        raise ValueError(f"value IDs in the matrix but not in the QA table: {', '.join(map(str, missing[:5]))}")
    group_of = owner.loc[list(dm.index)].to_numpy()
    labels = sorted(set(group_of))
    member = np.stack([group_of == g for g in labels]).astype(float)  # (groups, value IDs)
    off_diag = 1.0 - np.eye(len(dm))
    sums = member @ (dm.to_numpy() * off_diag) @ member.T
    counts = member @ off_diag @ member.T
    with np.errstate(invalid="ignore", divide="ignore"):
        agg = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), 0.0)
    agg = (agg + agg.T) / 2  # exact symmetry despite float rounding
    np.fill_diagonal(agg, 0.0)
    out = pd.DataFrame(agg, index=labels, columns=labels)
    out.index.name = out.columns.name = by
    return out


def cluster_order(dm: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Leaf order for a clustered heatmap and the scipy linkage matrix (average linkage) for a dendrogram.

    The linkage matrix has the usual scipy layout, (n - 1) rows of [left, right, height, size], with
    leaves numbered in ``dm``'s label order; the leaf order is optimal (adjacent leaves most similar).
    """
    labels = [str(v) for v in dm.index]
    if len(labels) < 2:
        return labels, np.zeros((0, 4))
    condensed = squareform(np.asarray(dm.to_numpy(), dtype=float), checks=False)
    z = linkage(condensed, method="average", optimal_ordering=len(labels) > 2)
    return [labels[i] for i in leaves_list(z)], z


def pair_distance_rank(dm: pd.DataFrame, a: str, b: str) -> dict:
    """Where the distance between ``a`` and ``b`` ranks among all pairs of distinct labels in ``dm``.

    Returns ``distance``, ``rank`` (1 = the closest pair; ties share the better rank), ``n_pairs``
    and ``percentile``: the share (0-100) of the other pairs that are closer than this one.
    """
    for v in (a, b):
        if v not in dm.index:
            raise ValueError(f"{v!r} is not in the distance matrix")
    if a == b:
        raise ValueError("pick two different value IDs")
    values = dm.to_numpy()[np.triu_indices(len(dm), k=1)]
    distance = float(dm.loc[a, b])
    closer = int(np.sum(values < distance - 1e-12))
    n_pairs = int(values.size)
    return {
        "distance": distance,
        "rank": closer + 1,
        "n_pairs": n_pairs,
        "percentile": 100.0 * closer / max(n_pairs - 1, 1),
    }


# ---------------------------------------------------------------------------------------------
# uncertainty and significance
# ---------------------------------------------------------------------------------------------
def _replicate_means(mat: np.ndarray, codes_x: np.ndarray, codes_y: np.ndarray, counts_x: np.ndarray,
                     counts_y: np.ndarray, shared: bool) -> np.ndarray:
    """Mean of ``mat`` (rows x, columns y) in each bootstrap replicate of strata draws.

    ``counts_*[r, q]``: how often stratum q (a question, or a single QA) was drawn in replicate r;
    a draw brings all rows of its stratum. A resample repeats strata, and two draws of the same
    stratum would add pairs the original sample has once per stratum (a QA with itself: distance 0;
    a question's answer on side A with its answer on side B: unusually close), biasing the
    distances. So only pairs of draws of *different* strata count, plus each draw's own
    same-stratum pairs once (``shared``: x and y use the same strata); with every count 1 this is
    exactly the original sample's mean.
    """
    k_x, k_y = counts_x.shape[1], counts_y.shape[1]
    block = np.zeros((k_x, mat.shape[1]))
    np.add.at(block, codes_x, mat)
    block_sum = np.zeros((k_y, k_x))
    np.add.at(block_sum, codes_y, block.T)
    block_sum = block_sum.T
    block_n = np.outer(np.bincount(codes_x, minlength=k_x), np.bincount(codes_y, minlength=k_y)).astype(float)
    if not shared:
        total = np.einsum("rq,qs,rs->r", counts_x, block_sum, counts_y)
        return total / np.einsum("rq,qs,rs->r", counts_x, block_n, counts_y)
    off = 1.0 - np.eye(k_x)
    total = np.einsum("rq,qs,rs->r", counts_x, block_sum * off, counts_y) + counts_x @ np.diag(block_sum)
    n = np.einsum("rq,qs,rs->r", counts_x, block_n * off, counts_y) + counts_x @ np.diag(block_n)
    return total / n


def _check_strata(a: np.ndarray, b: np.ndarray, strata_a, strata_b) -> None:
    """Strata (one label per QA) are given for both sides or for neither."""
    if (strata_a is None) != (strata_b is None):
        raise ValueError("give strata for both sides or for neither")
    if strata_a is not None and (len(strata_a) != len(a) or len(strata_b) != len(b)):
        raise ValueError("strata must have one label per QA on each side")


def _prepared_sides(emb_a, emb_b, strata_a, strata_b, max_per_group: int | None,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Both sides cut to ``max_per_group`` QAs, with their strata (None when none were given): each
    side on its own (A drawn first: keeps seeded results stable), or whole strata (questions)."""
    a, b = np.asarray(emb_a), np.asarray(emb_b)
    _check_strata(a, b, strata_a, strata_b)
    if strata_a is None:
        return (a[_subsample(np.arange(len(a)), max_per_group, rng)],
                b[_subsample(np.arange(len(b)), max_per_group, rng)], None, None)
    labels = np.r_[np.asarray(strata_a, dtype=str), np.asarray(strata_b, dtype=str)]
    keep = _subsample_strata(labels, np.r_[np.ones(len(a)), np.zeros(len(b))], max_per_group, rng)
    keep_a, keep_b = keep[keep < len(a)], keep[keep >= len(a)]  # positions in the pooled rows
    return a[keep_a], b[keep_b - len(a)], labels[keep_a], labels[keep_b]


def bootstrap_distance(emb_a: np.ndarray, emb_b: np.ndarray, method: str = "centroid", *,
                       n_boot: int = 200, seed: int = 0, max_per_group: int | None = 300,
                       level: float = 0.95, strata_a=None, strata_b=None) -> tuple[float, float, float]:
    """Point distance and a percentile bootstrap confidence interval ``(point, lo, hi)`` over QAs.

    Each replicate resamples the QAs of A and of B with replacement (independently) and recomputes
    the distance. With ``strata_a`` / ``strata_b`` (the question_id of each QA) the questions are
    resampled instead, the same draw for both sides: when both answered the same questions this
    keeps them comparable (independent draws unbalance the questions, which inflates the distance
    so much that the interval can miss the point estimate). Groups above ``max_per_group`` are first
    subsampled (seeded; whole questions when strata are given) so this stays fast.
    """
    _check_method(method)
    rng = np.random.default_rng(seed)
    a, b, strata_a, strata_b = _prepared_sides(emb_a, emb_b, strata_a, strata_b, max_per_group, rng)
    if len(a) == 0 or len(b) == 0:
        raise ValueError("both sets need at least one QA embedding")
    na, nb = len(a), len(b)
    if strata_a is None:  # every QA its own stratum, each side drawn on its own
        code_a, code_b = np.arange(na), np.arange(nb)
        count_a = rng.multinomial(na, np.full(na, 1 / na), size=n_boot).astype(float)
        count_b = rng.multinomial(nb, np.full(nb, 1 / nb), size=n_boot).astype(float)
    else:  # questions drawn once for both sides
        codes, labels = pd.factorize(np.r_[np.asarray(strata_a, dtype=str), np.asarray(strata_b, dtype=str)])
        code_a, code_b, k = codes[:na], codes[na:], len(labels)
        count_a = count_b = rng.multinomial(k, np.full(k, 1 / k), size=n_boot).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):  # a replicate may miss one side entirely
        if method == "centroid":
            # cos(mean a, mean b) = E<a,b> / sqrt(E<a,a'> E<b,b'>): pair means again, so repeated
            # draws are handled as for the other methods
            point = set_distance(a, b, "centroid")
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            cross = _replicate_means(a64 @ b64.T, code_a, code_b, count_a, count_b, strata_a is not None)
            within_a = _replicate_means(a64 @ a64.T, code_a, code_a, count_a, count_a, True)
            within_b = _replicate_means(b64 @ b64.T, code_b, code_b, count_b, count_b, True)
            reps = np.clip(1.0 - cross / np.sqrt(within_a * within_b), 0.0, None)
        else:
            bandwidth = median_bandwidth(np.vstack([a, b]), seed=seed) if method == "mmd" else None
            m_ab = _pair_matrix(a, b, method, bandwidth)
            m_aa = _pair_matrix(a, a, method, bandwidth)
            m_bb = _pair_matrix(b, b, method, bandwidth)
            point = _combine(m_ab.mean(), m_aa.mean(), m_bb.mean(), method)
            cross = _replicate_means(m_ab, code_a, code_b, count_a, count_b, strata_a is not None)
            within_a = _replicate_means(m_aa, code_a, code_a, count_a, count_a, True)
            within_b = _replicate_means(m_bb, code_b, code_b, count_b, count_b, True)
            squared = (2 * cross - within_a - within_b if method == "energy"
                       else within_a + within_b - 2 * cross)
            reps = np.sqrt(np.clip(squared, 0.0, None))
        empty = (count_a[:, code_a].sum(1) == 0) | (count_b[:, code_b].sum(1) == 0)
    reps = reps[~empty & np.isfinite(reps)]
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(reps, [tail, 100 - tail])
    return float(point), float(lo), float(hi)


def _value_id_sides(qas: pd.DataFrame, emb: np.ndarray, a: str, b: str, *, by: str, paired: bool,
                    kwargs: dict) -> tuple[np.ndarray, np.ndarray]:
    """The embeddings of value IDs a and b; when paired, their question ids go into kwargs as strata."""
    emb = _check_aligned(qas, emb)
    rows_a, rows_b = _rows_of(qas, a, by), _rows_of(qas, b, by)
    if paired:
        _check_column(qas, "question_id")
        qid = qas["question_id"].astype(str).to_numpy()
        kwargs.update(strata_a=qid[rows_a], strata_b=qid[rows_b])
    return emb[rows_a], emb[rows_b]


def bootstrap_distance_value_ids(qas: pd.DataFrame, emb: np.ndarray, a: str, b: str, *,
                                 method: str = "centroid", paired: bool = True, by: str = "value_id",
                                 **kwargs) -> tuple[float, float, float]:
    """``bootstrap_distance`` between two value IDs of a map; ``paired`` (default) resamples
    questions (``question_id``), the right design when both answered the same questions."""
    emb_a, emb_b = _value_id_sides(qas, emb, a, b, by=by, paired=paired, kwargs=kwargs)
    return bootstrap_distance(emb_a, emb_b, method, **kwargs)


def _subsample_strata(strata: np.ndarray, side_a: np.ndarray, max_n: int | None,
                      rng: np.random.Generator) -> np.ndarray:
    """Rows to keep: whole strata (e.g. questions) drawn at random until side A would pass max_n."""
    if max_n is None or side_a.sum() <= max_n:
        return np.arange(len(strata))
    labels = rng.permutation(np.unique(strata))
    per_label = pd.Series(side_a.astype(int)).groupby(strata).sum().reindex(labels).to_numpy()
    keep = labels[np.cumsum(per_label) <= max_n]
    return np.flatnonzero(np.isin(strata, keep))


def _permuted_membership(codes: np.ndarray, is_a: np.ndarray, n_perm: int,
                         rng: np.random.Generator) -> np.ndarray:
    """0/1 rows (observed first, then n_perm shuffles) marking side A; shuffles stay inside strata.

    Each shuffle sorts the rows by (stratum, random key); within a stratum the first n_A(stratum)
    rows go to side A, so every stratum keeps its count of A rows.
    """
    n = len(codes)
    order = np.argsort(codes + rng.random((n_perm, n)), axis=1)
    sorted_codes = np.sort(codes)
    starts = np.searchsorted(sorted_codes, sorted_codes)  # first sorted position of each row's stratum
    n_a = np.bincount(codes, weights=is_a, minlength=codes.max() + 1)
    goes_a = ((np.arange(n) - starts) < n_a[sorted_codes]).astype(float)
    member = np.zeros((n_perm + 1, n))
    member[0] = is_a
    np.put_along_axis(member[1:], order, np.broadcast_to(goes_a, order.shape), axis=1)
    return member


def permutation_test(emb_a: np.ndarray, emb_b: np.ndarray, method: str = "energy", *,
                     n_perm: int = 999, seed: int = 0, max_per_group: int | None = 200,
                     strata_a=None, strata_b=None) -> float:
    """p-value of "A and B are draws from the same distribution of QA embeddings".

    The statistic is the chosen distance; the QAs of both sets are pooled and relabelled at random
    ``n_perm`` times (vectorised: one pairwise matrix, permutations as 0/1 membership rows);
    p = (1 + #{permuted >= observed}) / (1 + n_perm), so it is never 0. Small p: distinguishable.

    ``strata_a`` / ``strata_b`` (e.g. the question_id of each QA) restrict relabelling to QAs of the
    same stratum. Use them when both sides answered the same questions: a QA embedding is dominated
    by its question, so a free shuffle, which unbalances the questions, inflates the permuted
    distances and hides real differences (p near 1 for clearly different value IDs).
    """
    _check_method(method)
    rng = np.random.default_rng(seed)
    a, b, strata_a, strata_b = _prepared_sides(emb_a, emb_b, strata_a, strata_b, max_per_group, rng)
    is_a = np.r_[np.ones(len(a)), np.zeros(len(b))]
    strata = (np.zeros(len(is_a), dtype=np.int64) if strata_a is None
              else pd.factorize(np.r_[strata_a, strata_b])[0])
    if len(a) < 2 or len(b) < 2:
        raise ValueError("a permutation test needs at least 2 QAs on each side")
    pooled = np.vstack([a, b]).astype(np.float64)
    na, n = len(a), len(a) + len(b)
    member = _permuted_membership(strata, is_a, n_perm, rng)
    other = 1.0 - member
    nb = n - na
    if method == "centroid":
        stat = 1.0 - (_unit(member @ pooled) * _unit(other @ pooled)).sum(1)
    else:
        bandwidth = median_bandwidth(pooled, seed=seed) if method == "mmd" else None
        mat = _pair_matrix(pooled, pooled, method, bandwidth)
        m_a = member @ mat
        within_a = (m_a * member).sum(1) / na**2
        cross = (m_a * other).sum(1) / (na * nb)
        within_b = ((other @ mat) * other).sum(1) / nb**2
        stat = 2 * cross - within_a - within_b if method == "energy" else within_a + within_b - 2 * cross
    observed = stat[0]
    return float((1 + np.sum(stat[1:] >= observed - 1e-12)) / (1 + n_perm))


def permutation_test_value_ids(qas: pd.DataFrame, emb: np.ndarray, a: str, b: str, *,
                               method: str = "energy", paired: bool = True, by: str = "value_id",
                               **kwargs) -> float:
    """``permutation_test`` between two value IDs of a map; ``paired`` (default) shuffles only
    within questions (``question_id``), the right design when both answered the same questions."""
    emb_a, emb_b = _value_id_sides(qas, emb, a, b, by=by, paired=paired, kwargs=kwargs)
    return permutation_test(emb_a, emb_b, method, **kwargs)


def pair_design(qas: pd.DataFrame, a: str, b: str, *, by: str = "value_id") -> tuple[bool, int]:
    """(paired, shared questions) of two value IDs: paired by question when they share at least 2
    questions and at least half of the smaller one's; otherwise QAs are resampled freely."""
    if "question_id" not in qas.columns:
        return False, 0
    qid = qas.set_index(by)["question_id"].astype(str)
    qa, qb = set(qid.loc[[a]]), set(qid.loc[[b]])
    shared = len(qa & qb)
    return shared >= max(2, min(len(qa), len(qb)) // 2), shared


def pair_test(qas: pd.DataFrame, emb: np.ndarray, a: str, b: str, *, method: str = "centroid",
              n_boot: int = 200, n_perm: int = 499, by: str = "value_id") -> dict:
    """Two value IDs' distance with a bootstrap 95% CI and the permutation-test p, paired by question
    when ``pair_design`` says so: {a, b, method, paired, shared_questions, distance, lo, hi, p}."""
    paired, shared = pair_design(qas, a, b, by=by)
    point, lo, hi = bootstrap_distance_value_ids(qas, emb, a, b, method=method, paired=paired, by=by, n_boot=n_boot)
    p = permutation_test_value_ids(qas, emb, a, b, method=method, paired=paired, by=by, n_perm=n_perm)
    return {"a": a, "b": b, "method": method, "paired": paired, "shared_questions": shared,
            "distance": point, "lo": lo, "hi": hi, "p": p}


# ---------------------------------------------------------------------------------------------
# QA-level comparison of two value IDs
# ---------------------------------------------------------------------------------------------
def same_question_pairs(qas: pd.DataFrame, emb: np.ndarray, a: str, b: str, *,
                        by: str = "value_id") -> pd.DataFrame:
    """The questions both ``a`` and ``b`` answered (matched by ``question_id``), most divergent first.

    Columns: question_id, question, answer_a, answer_b, divergence (cosine distance between the two
    QA embeddings, 0 = same meaning), row_a, row_b (positional rows of ``qas``/``emb``). When a value
    ID answered one question several times, its first answer in table order is used.
    """
    emb = _check_aligned(qas, emb)
    _check_column(qas, "question_id")
    rows_a, rows_b = _rows_of(qas, a, by), _rows_of(qas, b, by)
    first_a = qas.iloc[rows_a].assign(row_a=rows_a).drop_duplicates("question_id")
    first_b = qas.iloc[rows_b].assign(row_b=rows_b).drop_duplicates("question_id")
    merged = first_a[["question_id", "question", "answer", "row_a"]].merge(
        first_b[["question_id", "answer", "row_b"]], on="question_id", suffixes=("_a", "_b"))
    ra, rb = merged["row_a"].to_numpy(), merged["row_b"].to_numpy()
    sim = np.einsum("ij,ij->i", emb[ra].astype(np.float64), emb[rb].astype(np.float64)) if len(merged) else []
    merged["divergence"] = np.clip(1.0 - np.asarray(sim, dtype=float), 0.0, None)
    cols = ["question_id", "question", "answer_a", "answer_b", "divergence", "row_a", "row_b"]
    return merged[cols].sort_values("divergence", ascending=False, kind="stable").reset_index(drop=True)


def nearest_cross(qas: pd.DataFrame, emb: np.ndarray, a: str, b: str, *, k: int = 5,
                  by: str = "value_id", chunk: int = 2048) -> pd.DataFrame:
    """For each QA of ``a``, its ``k`` nearest QAs (cosine) among those of ``b``; long format.

    Columns: row_a, question_a, answer_a, rank (1 = nearest), row_b, question_b, answer_b,
    similarity; plus qa_id_a / qa_id_b when the table has ``qa_id``.
    """
    emb = _check_aligned(qas, emb)
    rows_a, rows_b = _rows_of(qas, a, by), _rows_of(qas, b, by)
    k = max(1, min(k, rows_b.size))
    # bounded memory on large value IDs: cosine_top_k works through rows_a in chunks
    idx, sim = cosine_top_k(emb[rows_a].astype(np.float32), emb[rows_b].astype(np.float32), k,
                            chunk_elements=chunk * max(rows_b.size, 1))
    row_a = np.repeat(rows_a, k)
    row_b = rows_b[idx.ravel()]
    out = pd.DataFrame({
        "row_a": row_a,
        "question_a": qas["question"].to_numpy()[row_a],
        "answer_a": qas["answer"].to_numpy()[row_a],
        "rank": np.tile(np.arange(1, k + 1), rows_a.size),
        "row_b": row_b,
        "question_b": qas["question"].to_numpy()[row_b],
        "answer_b": qas["answer"].to_numpy()[row_b],
        "similarity": sim.ravel().astype(float),
    })
    if "qa_id" in qas.columns:
        out.insert(1, "qa_id_a", qas["qa_id"].to_numpy()[row_a])
        out.insert(6, "qa_id_b", qas["qa_id"].to_numpy()[row_b])
    return out


# ---------------------------------------------------------------------------------------------
# trajectories (paper appendix G)
# ---------------------------------------------------------------------------------------------
def _natural_key(name: str) -> list:
    """'step-2' < 'step-10': compare digit runs as numbers."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", str(name))]


def _checkpoint_sets(checkpoints) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(embeddings per checkpoint, x/y per checkpoint where known) from either accepted input form."""
    if isinstance(checkpoints, Mapping):
        return {str(k): np.asarray(v) for k, v in checkpoints.items()}, {}
    table, emb = checkpoints
    emb = _check_aligned(table, emb)
    _check_column(table, "checkpoint")
    sets, xy = {}, {}
    for name, rows in group_rows(table, "checkpoint").items():
        sets[name] = emb[rows]
        if {"x", "y"} <= set(table.columns):
            xy[name] = table[["x", "y"]].to_numpy(dtype=float)[rows]
    return sets, xy


CHECKPOINT_SOURCES = {"demo": "use the demo checkpoints", "column": "the map's checkpoint column",
                      "layers": "layers of the map as checkpoints"}


def checkpoint_sources(qas: pd.DataFrame, *, is_demo: bool = False) -> list[str]:
    """Where a map's checkpoints can come from (keys of CHECKPOINT_SOURCES): the demo's synthetic ones,
    a 'checkpoint' column, or its layers (each uploaded checkpoint a layer)."""
    out = ["demo"] if is_demo else []
    if "checkpoint" in qas.columns and qas["checkpoint"].notna().any():
        out.append("column")
    if "layer" in qas.columns and qas["layer"].nunique() >= 2:
        out.append("layers")
    return out


def checkpoint_table(qas: pd.DataFrame, emb: np.ndarray, column: str,
                     values: Sequence[str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """The QAs (and their rows of emb) that are checkpoints: rows with a value in ``column`` (only
    ``values`` when given), that value copied to a 'checkpoint' column, for ``trajectory``."""
    col = qas[column]
    keep = col.notna().to_numpy() if values is None else col.astype(str).isin(list(values)).to_numpy()
    rows = np.flatnonzero(keep)
    table = qas.iloc[rows].assign(checkpoint=col.astype(str).to_numpy()[rows]).reset_index(drop=True)
    return table, np.asarray(emb)[rows]


def trajectory(checkpoints: Mapping[str, np.ndarray] | tuple[pd.DataFrame, np.ndarray],
               target: np.ndarray | str, *, map_qas: pd.DataFrame | None = None,
               map_emb: np.ndarray | None = None, order: Sequence[str] | None = None,
               checkpoint_xy: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Distance of each checkpoint's centroid to a target, in checkpoint order (appendix G, fig. A1).

    ``checkpoints``: a dict ``{checkpoint: embeddings}`` or a pair ``(table, embeddings)`` whose
    table has a ``checkpoint`` column (and optionally ``x``, ``y`` map coordinates).
    ``target``: a target centroid vector, or a value ID whose QAs are taken from ``map_qas`` /
    ``map_emb``. ``order``: checkpoint names in training order; by default names are sorted
    naturally ("step-2" before "step-10").
    Returns columns checkpoint, step (0-based), n, distance_to_target (cosine distance between the
    L2-normalised centroids), and x, y (mean map position) when coordinates are known.
    """
    sets, xy = _checkpoint_sets(checkpoints)
    if checkpoint_xy is not None:
        xy = {str(k): np.asarray(v, dtype=float) for k, v in checkpoint_xy.items()}
    if not sets:
        raise ValueError("no checkpoints given")
    if isinstance(target, str):
        if map_qas is None or map_emb is None:
            raise ValueError("a target value ID needs map_qas and map_emb to find its QAs")
        target_vec = np.asarray(map_emb)[_rows_of(map_qas, target)].mean(0, dtype=np.float64)
    else:
        target_vec = np.asarray(target, dtype=np.float64)
    target_vec = _unit(target_vec)
    if order is None:
        names = sorted(sets, key=_natural_key)
    else:
        names = [str(o) for o in order]
        unknown = [o for o in names if o not in sets]
        if unknown or len(set(names)) != len(sets):
            raise ValueError(f"order must list each checkpoint once; unknown: {unknown}, "
                             f"checkpoints: {sorted(sets, key=_natural_key)}")
    records = []
    for step, name in enumerate(names):
        vec = sets[name]
        if len(vec) == 0:
            raise ValueError(f"checkpoint {name!r} has no QAs")
        cent = _unit(vec.mean(0, dtype=np.float64))
        rec = {"checkpoint": name, "step": step, "n": len(vec),
               "distance_to_target": float(max(1.0 - cent @ target_vec, 0.0))}
        if name in xy:
            rec["x"], rec["y"] = (float(c) for c in xy[name].mean(0))
        records.append(rec)
    return pd.DataFrame.from_records(records)
