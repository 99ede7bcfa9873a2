"""HDBSCAN clusters on 2-D points and their TF-IDF keyword labels."""
from __future__ import annotations

import numpy as np
import pytest

from univar_core.maps.clusters import (
    cluster_points,
    default_min_cluster_size,
    label_clusters,
)


def planar_blobs(n_per_blob: int, n_blobs: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [20, 0], [0, 20], [20, 20], [40, 40]][:n_blobs], dtype=float)
    truth = np.repeat(np.arange(n_blobs), n_per_blob)
    return centres[truth] + rng.normal(size=(len(truth), 2)), truth


def purity(labels: np.ndarray, truth: np.ndarray) -> float:
    """Share of clustered points whose cluster's majority blob is their own blob."""
    ok = 0
    for c in set(labels.tolist()) - {-1}:
        members = truth[labels == c]
        ok += np.bincount(members).max()
    return ok / max(1, (labels != -1).sum())


def test_blobs_are_recovered():
    xy, truth = planar_blobs(60)
    labels = cluster_points(xy)
    assert labels.dtype == np.int64 and labels.shape == (240,)
    assert len(set(labels.tolist()) - {-1}) == 4
    assert purity(labels, truth) == 1.0
    assert (labels == -1).mean() < 0.2
    sizes = np.bincount(labels[labels >= 0])
    assert list(sizes) == sorted(sizes, reverse=True), "cluster 0 is the largest"
    assert np.array_equal(labels, cluster_points(xy)), "deterministic"


def test_large_maps_are_clustered_on_a_sample():
    xy, truth = planar_blobs(1_500, n_blobs=5, seed=1)
    labels = cluster_points(xy, max_fit_points=1_000)
    assert len(set(labels.tolist()) - {-1}) == 5
    assert purity(labels, truth) > 0.99
    assert np.array_equal(labels, cluster_points(xy, max_fit_points=1_000))


@pytest.mark.parametrize("n", [0, 1, 2, 4])
def test_tiny_inputs_are_all_noise(n):
    labels = cluster_points(np.arange(2 * n, dtype=float).reshape(n, 2))
    assert labels.shape == (n,) and (labels == -1).all()


def test_min_cluster_size_and_bad_input():
    assert default_min_cluster_size(10) == 5 and default_min_cluster_size(10_000) == 200
    xy, _ = planar_blobs(8)
    assert (cluster_points(xy, min_cluster_size=50) == -1).all()
    assert len(set(cluster_points(xy, min_cluster_size=4).tolist()) - {-1}) == 4
    with pytest.raises(ValueError, match="shape"):
        cluster_points(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        cluster_points(np.array([[0.0, np.nan]] * 6))
    with pytest.raises(ValueError, match="min_cluster_size"):
        cluster_points(xy, min_cluster_size=1)


def test_labels_are_contrastive_keywords():
    texts = (
        ["Freedom of choice matters; liberty is essential.", "Personal freedom and liberty first.",
         "Choice, liberty and freedom for every person."]
        + ["Respect your elders and family tradition.", "Family tradition binds us; respect elders.",
           "Tradition and family come first."]
        + ["The answer is 42.", "I would say so."]
    )
    labels = [0, 0, 0, 1, 1, 1, -1, -1]
    names = label_clusters(texts, labels, n_words=2)
    assert set(names) == {-1, 0, 1} and names[-1] == "noise"
    assert set(names[0].split(" · ")) == {"freedom", "liberty"}
    assert set(names[1].split(" · ")) == {"family", "tradition"}


def test_labels_edge_cases():
    assert label_clusters(["the and of", "it is"], [0, 0]) == {0: "cluster 0"}   # only stop words
    assert label_clusters(["a", "b"], [-1, -1]) == {-1: "noise"}
    assert label_clusters([], []) == {}
    one = label_clusters(["kindness helps", "kindness matters", None], [3, 3, 3], n_words=1)
    assert one == {3: "kindness"}  # one cluster, nothing outside it: plain mean TF-IDF
    # text is data: markup is tokenised as words, never interpreted
    assert "script" in label_clusters(["<script>alert</script>", "hello world"], [0, 1])[0]
    with pytest.raises(ValueError, match="2 texts but 3 labels"):
        label_clusters(["a", "b"], [0, 0, 1])


def test_two_clusters_never_share_a_label_in_another_word_order():
    # two clusters of the same words (one map region split in two) and one elsewhere: once shown as
    # "authority · respect · leaders" and "leaders · respect · authority"
    same = ["Respect authority and leaders.", "Leaders deserve respect and authority.",
            "Authority of leaders earns respect."]
    texts = same + same[::-1] + ["Cats and dogs play.", "Dogs chase cats.", "Cats nap."]
    labels = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    names = label_clusters(texts, labels, n_words=3)
    keyword_sets = [frozenset(names[c].split(" (")[0].split(" · ")) for c in (0, 1, 2)]
    assert len(set(keyword_sets)) == 3, names
