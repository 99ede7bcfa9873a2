"""Projection, placement on an existing map, centroids.

One UMAP fit on small synthetic blobs is shared by the module (the first UMAP call in a process
compiles numba for tens of seconds); everything else is numpy and fast.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from univar_core.maps.projection import (
    UmapParams,
    centroid_matrix,
    fit_projection,
    nearest_map_points,
    place_points,
    value_id_centroids,
)

N_BLOBS, PER_BLOB, DIM = 5, 50, 32


def blobs(seed: int = 0):
    """Well-separated normalised Gaussian blobs: (embeddings float32, blob label per row)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(N_BLOBS, DIM)) * 3
    labels = np.repeat(np.arange(N_BLOBS), PER_BLOB)
    x = centres[labels] + rng.normal(size=(len(labels), DIM))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    perm = rng.permutation(len(labels))
    return x[perm].astype(np.float32), labels[perm]


@pytest.fixture(scope="module")
def fitted_map():
    emb, labels = blobs()
    n_fit = int(0.8 * len(emb))
    calls = []
    xy = fit_projection(emb[:n_fit], UmapParams(), progress=lambda d, t: calls.append((d, t)))
    return emb, labels, n_fit, xy, calls


def test_fit_projection_shape_progress_and_seed(fitted_map):
    emb, _, n_fit, xy, calls = fitted_map
    assert xy.shape == (n_fit, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
    assert calls == [(0, 1), (1, 1)]
    again = fit_projection(emb[:n_fit], UmapParams())
    assert np.array_equal(xy, again), "same seed, same map"


def test_fit_projection_separates_blobs(fitted_map):
    _, labels, n_fit, xy, _ = fitted_map
    fit_labels = labels[:n_fit]
    centres = np.stack([xy[fit_labels == b].mean(axis=0) for b in range(N_BLOBS)])
    nearest = np.argmin(((xy[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest == fit_labels).mean() > 0.95


def test_placed_points_land_in_their_own_blob(fitted_map):
    emb, labels, n_fit, xy, _ = fitted_map
    xy_before = xy.copy()
    placed = place_points(emb[:n_fit], xy, emb[n_fit:], k=15)
    assert placed.shape == (len(emb) - n_fit, 2) and placed.dtype == np.float32
    assert np.array_equal(xy, xy_before), "placing must not move existing points"
    fit_labels = labels[:n_fit]
    centres = np.stack([xy[fit_labels == b].mean(axis=0) for b in range(N_BLOBS)])
    nearest_centre = np.argmin(((placed[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest_centre == labels[n_fit:]).mean() >= 0.9
    assert np.array_equal(placed, place_points(emb[:n_fit], xy, emb[n_fit:], k=15)), "deterministic"


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 12])
def test_tiny_maps_never_crash(fitted_map, n):
    emb, *_ = fitted_map  # UMAP is compiled by the fixture already
    xy = fit_projection(emb[:n], UmapParams(n_neighbors=15))
    assert xy.shape == (n, 2) and np.isfinite(xy).all()
    if n >= 2:
        assert len({tuple(p) for p in xy.tolist()}) > 1, "distinct points must not all collapse"


def test_umap_params_round_trip_and_validation():
    params = UmapParams(n_neighbors=30, min_dist=0.25, metric="euclidean", random_state=7)
    d = params.to_dict()
    assert d == {"method": "umap", "n_neighbors": 30, "min_dist": 0.25, "metric": "euclidean", "random_state": 7}
    assert UmapParams.from_dict(d) == params
    assert UmapParams.from_dict({}) == UmapParams()
    with pytest.raises(ValueError, match="unknown UMAP parameter"):
        UmapParams.from_dict({"n_neighbours": 5})
    with pytest.raises(ValueError, match="n_neighbors"):
        UmapParams(n_neighbors=1)
    with pytest.raises(ValueError, match="min_dist"):
        UmapParams(min_dist=-0.1)


def test_nearest_map_points_is_exact_and_chunk_independent():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(300, 16)).astype(np.float32)
    new = rng.normal(size=(40, 16)).astype(np.float32)
    idx, sims = nearest_map_points(base, new, k=7)
    cos = (new / np.linalg.norm(new, axis=1, keepdims=True)) @ (base / np.linalg.norm(base, axis=1, keepdims=True)).T
    expected = np.argsort(-cos, axis=1)[:, :7]
    assert np.array_equal(idx, expected)
    assert np.allclose(sims, np.take_along_axis(cos, expected, axis=1), atol=1e-5)
    assert np.all(np.diff(sims, axis=1) <= 0), "most similar first"
    idx_small, sims_small = nearest_map_points(base, new, k=7, chunk_elements=500)  # one row per chunk
    # BLAS may round a one-row product differently in the last bit; the neighbours are the same
    assert np.array_equal(idx, idx_small) and np.allclose(sims, sims_small, atol=1e-6)
    big = rng.normal(size=(20_000, 16)).astype(np.float32)  # large enough for the block search
    idx_big, sims_big = nearest_map_points(big, new, k=7)
    cos_big = (new / np.linalg.norm(new, axis=1, keepdims=True)) @ (big / np.linalg.norm(big, axis=1, keepdims=True)).T
    assert np.array_equal(idx_big, np.argsort(-cos_big, axis=1)[:, :7])
    idx_all, _ = nearest_map_points(base[:4], new, k=10)  # k larger than the map
    assert idx_all.shape == (40, 4) and all(sorted(r) == [0, 1, 2, 3] for r in idx_all.tolist())


def test_placement_edge_cases():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(10, 4)).astype(np.float32)
    xy = rng.normal(size=(10, 2)).astype(np.float32)
    assert place_points(base, xy, np.zeros((0, 4), np.float32)).shape == (0, 2)
    # a map point placed again with k=1 lands exactly on itself
    assert np.allclose(place_points(base, xy, base[3:4], k=1), xy[3:4])
    # placed points stay inside the convex hull of their neighbours (a weighted mean)
    placed = place_points(base, xy, rng.normal(size=(20, 4)).astype(np.float32), k=5)
    assert (placed.min(0) >= xy.min(0) - 1e-5).all() and (placed.max(0) <= xy.max(0) + 1e-5).all()
    with pytest.raises(ValueError, match="dimension 5 but the map's have 4"):
        place_points(base, xy, np.ones((1, 5), np.float32))
    with pytest.raises(ValueError, match="map_xy must have shape"):
        place_points(base, xy[:5], base[:1])
    with pytest.raises(ValueError, match="empty map"):
        nearest_map_points(np.zeros((0, 4), np.float32), base[:1])


def test_centroids():
    emb = np.array([[1, 0], [0, 1], [3, 0], [0, 2], [1, 1]], dtype=np.float32)
    qas = pd.DataFrame({
        "value_id": ["b$eng", "b$eng", "a$eng", "c$ind", "c$ind"],
        "x": [0.0, 2.0, 5.0, -1.0, -3.0],
        "y": [1.0, 1.0, 0.0, 4.0, 0.0],
    })
    labels, cents = centroid_matrix(qas, emb)
    assert labels == ["a$eng", "b$eng", "c$ind"]
    assert cents.dtype == np.float32 and np.allclose(np.linalg.norm(cents, axis=1), 1)
    assert np.allclose(cents[1], np.array([1, 1]) / np.sqrt(2))
    c_dir = np.array([0, 1]) + np.array([1, 1]) / np.sqrt(2)   # [0, 2] and [1, 1], each made unit-length
    assert np.allclose(cents[2], c_dir / np.linalg.norm(c_dir)), "rows count by direction, not length"
    table = value_id_centroids(qas, emb)
    assert list(table.columns) == ["value_id", "n", "x", "y", "cohesion"]
    assert table["value_id"].tolist() == labels and table["n"].tolist() == [1, 2, 2]
    assert np.allclose(table[["x", "y"]].to_numpy(), [[5, 0], [1, 1], [-2, 2]])
    assert table["cohesion"].iloc[0] == pytest.approx(1.0)
    assert table["cohesion"].iloc[1] == pytest.approx(np.sqrt(0.5))
    by_x = value_id_centroids(qas.assign(model=["m", "m", "n", "n", "n"]), None, by="model")
    assert by_x["model"].tolist() == ["m", "n"] and "cohesion" not in by_x
    with pytest.raises(ValueError, match="no column 'lang'"):
        centroid_matrix(qas, emb, by="lang")
    with pytest.raises(ValueError, match="project it first"):
        value_id_centroids(qas.drop(columns=["x"]), emb)


def test_real_answers_are_placed_next_to_answers_to_the_same_question(fitted_map, shared_data):
    """ValueBench, 150 questions x 6 models: fit the map on five models' QAs, place the sixth's.
    Answers to the same question are alike, so a placed QA should land among the fitted QAs of
    its own question. TF-IDF + SVD stands in for the encoder to keep this test fast."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    qas = pd.read_csv(shared_data / "valuebench_qa" / "qa.csv",
                      usecols=["model", "question_id", "question", "answer"])
    qas = qas[qas["question_id"].isin(sorted(qas["question_id"].unique())[:150])].reset_index(drop=True)
    tfidf = TfidfVectorizer(sublinear_tf=True).fit_transform("Q: " + qas["question"] + " A: " + qas["answer"])
    emb = TruncatedSVD(64, random_state=0).fit_transform(tfidf)
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    held = (qas["model"] == "mixtral-8x7b-instruct").to_numpy()
    xy = fit_projection(emb[~held])
    placed = place_points(emb[~held], xy, emb[held])
    fitted_q = qas["question_id"].to_numpy()[~held]
    placed_q = qas["question_id"].to_numpy()[held]
    nearest5 = np.argsort(((placed[:, None, :] - xy[None]) ** 2).sum(-1), axis=1)[:, :5]
    hit = (fitted_q[nearest5] == placed_q[:, None]).any(axis=1).mean()
    shuffled = placed_q[np.random.default_rng(0).permutation(len(placed_q))]
    chance = (fitted_q[nearest5] == shuffled[:, None]).any(axis=1).mean()
    assert len(placed_q) == 150
    assert hit >= 0.8 and chance < 0.1, (hit, chance)


def test_layout_from_distances_recovers_a_planar_configuration():
    from scipy.spatial.distance import pdist, squareform

    from univar_core.maps.projection import layout_from_distances

    pts = np.array([[0.0, 0.0], [3.0, 0.2], [0.4, 4.0], [3.1, 4.4], [1.3, 2.1], [5.0, 1.0]])
    labels = [f"m{i}$eng" for i in range(len(pts))]
    dm = pd.DataFrame(squareform(pdist(pts)), index=labels, columns=labels)
    layout = layout_from_distances(dm)
    assert list(layout.coords.index) == labels and list(layout.coords.columns) == ["x", "y"]
    np.testing.assert_allclose(squareform(pdist(layout.coords.to_numpy())), dm.to_numpy(), atol=1e-6)
    assert layout.fidelity == pytest.approx(1.0)
    again = layout_from_distances(dm)
    np.testing.assert_array_equal(again.coords.to_numpy(), layout.coords.to_numpy())   # deterministic


def test_layout_from_distances_small_and_bad_matrices():
    from univar_core.maps.projection import layout_from_distances

    two = layout_from_distances(pd.DataFrame([[0, 2.0], [2.0, 0]], index=["a", "b"], columns=["a", "b"]))
    assert two.coords["x"].tolist() == [-1.0, 1.0] and np.isnan(two.fidelity)
    assert layout_from_distances(pd.DataFrame([[0.0]], index=["a"], columns=["a"])).coords.shape == (1, 2)
    with pytest.raises(ValueError, match="same labels"):
        layout_from_distances(pd.DataFrame([[0, 1.0], [1.0, 0]], index=["a", "b"], columns=["b", "a"]))
    with pytest.raises(ValueError, match="not symmetric"):
        layout_from_distances(pd.DataFrame([[0, 1.0], [2.0, 0]], index=["a", "b"], columns=["a", "b"]))
    with pytest.raises(ValueError, match="finite and non-negative"):
        layout_from_distances(pd.DataFrame([[0, np.nan], [np.nan, 0]], index=["a", "b"], columns=["a", "b"]))


def test_warm_up_compiles_umap_and_maps_up_to_20k_points_need_no_nn_descent(monkeypatch):
    """The app's background warm-up compiles UMAP's layout code; between umap's 4,096-point switch and
    EXACT_KNN_MAX the neighbour graph is exact and ours, so pynndescent (compiled anew in every process)
    is never called."""
    import umap.layouts
    import umap.umap_

    from univar_core.maps import projection

    class NoNNDescent:
        def __init__(self, *args, **kwargs):
            raise AssertionError("UMAP's own NN-descent was called")

    monkeypatch.setattr(umap.umap_, "NNDescent", NoNNDescent)
    assert projection.warm_up() > 0    # 300 and 4,200 points
    assert umap.layouts._nb_optimize_layout_euclidean_single_epoch.signatures   # compiled (or loaded) here
    assert projection._WARM_SIZES[-1] > projection._UMAP_SMALL
