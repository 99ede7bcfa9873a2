"""Clusters on the 2-D map (HDBSCAN) and short keyword labels for them (contrastive TF-IDF).

scikit-learn's HDBSCAN builds its tree with Prim's algorithm, O(n^2): 20k points take seconds,
100k points take minutes. Maps larger than `max_fit_points` are therefore clustered on a fixed,
seeded sample, and every other point takes the label of its nearest sampled point in 2-D (a
KD-tree query, well under a second for 100k points). Small maps are clustered exactly.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

NOISE = -1
SEPARATOR = " · "


def default_min_cluster_size(n: int) -> int:
    """max(5, n // 50): about fifty clusters at most, never specks of two or three QAs."""
    return max(5, n // 50)


def _renumber_by_size(labels: np.ndarray) -> np.ndarray:
    """Cluster 0 is the largest, 1 the next ...; ties by old id. Noise stays -1. Keeps colours
    stable-ish and makes the numbering mean something."""
    out = np.full(len(labels), NOISE, dtype=np.int64)
    ids, counts = np.unique(labels[labels != NOISE], return_counts=True)
    order = ids[np.lexsort((ids, -counts))]
    for new_id, old_id in enumerate(order):
        out[labels == old_id] = new_id
    return out


def _hdbscan(xy: np.ndarray, min_cluster_size: int) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    # min_samples defaults to min_cluster_size, which merges everything into a couple of huge
    # clusters on big maps (and is slower); a small fixed neighbourhood keeps the density estimate
    # local while min_cluster_size alone decides how large a cluster must be.
    model = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min(min_cluster_size, 10),
                    algorithm="kd_tree", copy=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return model.fit_predict(xy).astype(np.int64)


def cluster_points(xy, *, min_cluster_size: int | None = None, max_fit_points: int = 10_000,
                   seed: int = 0) -> np.ndarray:
    """HDBSCAN cluster label per point (int64; -1 = noise), clusters numbered by size.

    Deterministic for given inputs. Fewer points than min_cluster_size: all noise (no cluster can
    exist), not an error.
    """
    pts = np.asarray(xy, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"xy must have shape (n, 2), got {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError("xy contains NaN or infinite coordinates")
    n = len(pts)
    mcs = default_min_cluster_size(n) if min_cluster_size is None else int(min_cluster_size)
    if mcs < 2:
        raise ValueError(f"min_cluster_size must be >= 2, got {min_cluster_size}")
    if n < mcs or n < 2:
        return np.full(n, NOISE, dtype=np.int64)
    if n <= max_fit_points:
        return _renumber_by_size(_hdbscan(pts, mcs))
    from sklearn.neighbors import KDTree

    sample = np.sort(np.random.default_rng(seed).choice(n, size=max_fit_points, replace=False))
    sample_mcs = max(2, math.ceil(mcs * max_fit_points / n))  # same share of the points as asked
    sample_labels = _hdbscan(pts[sample], sample_mcs)
    nearest = KDTree(pts[sample]).query(pts, k=1, return_distance=False)[:, 0]
    return _renumber_by_size(sample_labels[nearest])


def label_clusters(texts, labels, *, n_words: int = 3, max_texts_per_cluster: int = 500,
                   seed: int = 0) -> dict[int, str]:
    """{cluster: "kw1 · kw2 · kw3"} for every label present; -1 -> "noise".

    Keywords are the words whose mean TF-IDF inside the cluster most exceeds their mean outside it
    (English stop words and numbers dropped), so words every answer uses do not label everything.
    Large clusters are represented by a seeded sample of `max_texts_per_cluster` texts. A cluster
    with no distinctive word is called "cluster <id>".
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    labels = np.asarray(labels, dtype=np.int64)
    texts = ["" if t is None or (isinstance(t, float) and math.isnan(t)) else str(t) for t in texts]
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    names: dict[int, str] = {int(c): f"cluster {int(c)}" for c in np.unique(labels)}
    if NOISE in names:
        names[NOISE] = "noise"
    clusters = [c for c in names if c != NOISE]
    if not clusters:
        return names

    rng = np.random.default_rng(seed)
    picked = []
    for c in names:
        members = np.flatnonzero(labels == c)
        if len(members) > max_texts_per_cluster:
            members = np.sort(rng.choice(members, size=max_texts_per_cluster, replace=False))
        picked.append(members)
    rows = np.concatenate(picked)
    sub_labels = labels[rows]
    vectorizer = TfidfVectorizer(stop_words="english", token_pattern=r"(?u)\b[^\W\d_]{2,}\b",
                                 sublinear_tf=True, max_features=30_000, dtype=np.float32)
    try:
        tfidf = vectorizer.fit_transform([texts[i] for i in rows])
    except ValueError:  # empty vocabulary: only stop words, numbers or empty texts
        return names
    vocab = vectorizer.get_feature_names_out()
    sums, sizes = _cluster_sums(tfidf, sub_labels, clusters)
    total, n_total = sums.sum(axis=0) + _noise_sum(tfidf, sub_labels), len(sub_labels)
    used: set[frozenset] = set()
    # Largest clusters choose first; a cluster whose keywords are another's (in any order: "a · b · c"
    # and "c · b · a" read as the same place) takes its next distinctive word instead, or its number.
    for j in np.argsort(-sizes, kind="stable"):
        c, sum_in, n_in = clusters[j], sums[j], sizes[j]
        n_out = n_total - n_in
        score = sum_in / n_in - ((total - sum_in) / n_out if n_out else 0.0)
        ranked = [int(i) for i in np.argsort(-score, kind="stable")[:n_words + 5] if score[i] > 0]
        if not ranked:
            continue
        best = ranked[:n_words]
        for extra in ranked[n_words:]:
            if frozenset(best) not in used:
                break
            best = best[:-1] + [extra]
        label = SEPARATOR.join(vocab[i] for i in best)
        if frozenset(best) in used:
            label = f"{label} ({c})"
        used.add(frozenset(best))
        names[c] = label
    return names


def _cluster_sums(tfidf, sub_labels: np.ndarray, clusters: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster column sums of the TF-IDF rows, as one sparse product."""
    from scipy import sparse

    index = {c: i for i, c in enumerate(clusters)}
    member = np.flatnonzero(sub_labels != NOISE)
    rows = np.array([index[c] for c in sub_labels[member]], dtype=np.int64)
    indicator = sparse.csr_matrix((np.ones(len(member), dtype=np.float32), (rows, member)),
                                  shape=(len(clusters), len(sub_labels)))
    sums = np.asarray((indicator @ tfidf).todense(), dtype=np.float64)
    return sums, np.bincount(rows, minlength=len(clusters))


def _noise_sum(tfidf, sub_labels: np.ndarray) -> np.ndarray:
    noise = np.flatnonzero(sub_labels == NOISE)
    if len(noise) == 0:
        return np.zeros(tfidf.shape[1])
    return np.asarray(tfidf[noise].sum(axis=0), dtype=np.float64).ravel()
