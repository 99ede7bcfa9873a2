"""compare.py: value-ID distances, bootstrap CIs, permutation test, same-question pairs, trajectories."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from univar_core.analysis import compare

DIM = 32


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def synthetic():
    """Four value IDs; m1$eng and m2$eng share a mean direction (the planted near pair)."""
    rng = np.random.default_rng(7)
    means = {"m1$eng": rng.normal(size=DIM), "m3$fra": rng.normal(size=DIM), "m4$fra": rng.normal(size=DIM)}
    means["m2$eng"] = means["m1$eng"] + 0.1 * rng.normal(size=DIM)
    rows, embs = [], []
    for vid, mu in sorted(means.items()):
        model, lang = vid.split("$")
        for i in range(40):
            rows.append({"qa_id": f"{vid}:{i}", "dataset": "syn", "model": model, "lang": lang,
                         "value_id": vid, "question_id": f"q{i}", "question": f"question {i}",
                         "answer": f"{vid} answer {i}"})
        embs.append(_unit(mu + 0.8 * rng.normal(size=(40, DIM))))
    return pd.DataFrame(rows), np.vstack(embs)


@pytest.mark.parametrize("method", compare.METHODS)
def test_distance_matrix_is_symmetric_with_zero_diagonal_and_finds_planted_pair(synthetic, method):
    qas, emb = synthetic
    dm = compare.value_id_distance_matrix(qas, emb, method, max_per_group=30)
    assert list(dm.index) == sorted(qas["value_id"].unique()) == list(dm.columns)
    np.testing.assert_array_equal(dm.to_numpy(), dm.to_numpy().T)
    assert np.all(np.diag(dm.to_numpy()) == 0)
    assert (dm.to_numpy()[~np.eye(4, dtype=bool)] > 0).all()
    rank = compare.pair_distance_rank(dm, "m1$eng", "m2$eng")
    assert rank["rank"] == 1 and rank["n_pairs"] == 6 and rank["percentile"] == 0


def test_matrix_entries_equal_pairwise_set_distance(synthetic):
    qas, emb = synthetic
    dm = compare.value_id_distance_matrix(qas, emb, "energy", max_per_group=None)
    a, b = emb[qas["value_id"] == "m1$eng"], emb[qas["value_id"] == "m3$fra"]
    assert dm.loc["m1$eng", "m3$fra"] == pytest.approx(compare.set_distance(a, b, "energy"), rel=1e-6)
    # energy distance of 1-D samples agrees with scipy's definition
    from scipy.stats import energy_distance
    x, y = np.array([[0.0], [1.0], [3.0]]), np.array([[2.0], [5.0]])
    mine = np.sqrt(max(2 * np.abs(x - y.T).mean() - np.abs(x - x.T).mean() - np.abs(y - y.T).mean(), 0))
    assert mine == pytest.approx(energy_distance(x.ravel(), y.ravel()))


@pytest.mark.parametrize("method", ["energy", "mmd"])
@pytest.mark.parametrize("tile", [7, 64, compare.PAIR_TILE])
def test_tiled_matrix_equals_the_float64_definition(method, tile, monkeypatch):
    """The all-groups-at-once matrix (float32 tiles, some groups split across tiles, a group of one)
    equals the distances computed from their definition in float64 (scipy's cdist), pair by pair."""
    from scipy.spatial.distance import cdist

    monkeypatch.setattr(compare, "PAIR_TILE", tile)
    rng = np.random.default_rng(3)
    sizes = {"a": 1, "b": 5, "c": 12, "d": 30, "e": 9, "f": 23}
    sets = {v: _unit(rng.normal(size=DIM) + 0.5 * rng.normal(size=(n, DIM))) for v, n in sizes.items()}
    qas = pd.DataFrame({"value_id": np.repeat(list(sizes), list(sizes.values()))})
    emb = np.vstack(list(sets.values()))
    dm = compare.value_id_distance_matrix(qas, emb, method, max_per_group=None)
    bandwidth = compare.median_bandwidth(emb)

    def mean_term(a, b):
        d = cdist(a.astype(np.float64), b.astype(np.float64))
        return d.mean() if method == "energy" else np.exp(-d**2 / (2 * bandwidth**2)).mean()

    sign = 1 if method == "energy" else -1
    ref = np.array([[np.sqrt(max(sign * (2 * mean_term(a, b) - mean_term(a, a) - mean_term(b, b)), 0.0))
                     for b in sets.values()] for a in sets.values()])
    np.testing.assert_allclose(dm.to_numpy(), ref, rtol=1e-6, atol=1e-12)
    assert dm.loc["a", "d"] == pytest.approx(compare.set_distance(sets["a"], sets["d"], method, bandwidth=bandwidth),
                                             rel=1e-6)


def test_grouping_by_language_and_aggregation(synthetic):
    qas, emb = synthetic
    by_lang = compare.value_id_distance_matrix(qas, emb, "centroid", by="lang")
    assert list(by_lang.index) == ["eng", "fra"]
    dm = compare.value_id_distance_matrix(qas, emb, "centroid")
    agg = compare.aggregate_distance(dm, qas, by="lang")
    expected = dm.loc[["m1$eng", "m2$eng"], ["m3$fra", "m4$fra"]].to_numpy().mean()
    assert agg.loc["eng", "fra"] == pytest.approx(expected)
    assert agg.loc["eng", "eng"] == 0 and agg.loc["fra", "eng"] == agg.loc["eng", "fra"]
    by_model = compare.aggregate_distance(dm, qas, by="model")
    assert list(by_model.index) == ["m1", "m2", "m3", "m4"]


def test_bootstrap_interval_contains_point_and_is_reproducible(synthetic):
    qas, emb = synthetic
    a, b = emb[qas["value_id"] == "m1$eng"], emb[qas["value_id"] == "m3$fra"]
    for method in compare.METHODS:
        point, lo, hi = compare.bootstrap_distance(a, b, method, n_boot=100, seed=3)
        assert lo <= point <= hi and lo < hi, method
        assert compare.bootstrap_distance(a, b, method, n_boot=100, seed=3) == (point, lo, hi)


def test_question_paired_tests_use_the_pairing(synthetic):
    """QA embeddings dominated by their question: both value IDs answer the same questions, B's
    answers shifted a little. Only the question-paired designs see the shift in a p-value and keep
    the point estimate inside the interval."""
    rng = np.random.default_rng(5)
    questions = rng.normal(size=(40, DIM)) * 3
    shift = rng.normal(size=DIM) * 0.6
    a = _unit(questions + rng.normal(size=(40, DIM)) * 0.5)
    b = _unit(questions + shift + rng.normal(size=(40, DIM)) * 0.5)
    same = _unit(questions + rng.normal(size=(40, DIM)) * 0.5)
    qid = [f"q{i}" for i in range(40)]
    assert compare.permutation_test(a, b, n_perm=199, strata_a=qid, strata_b=qid) <= 0.01
    assert compare.permutation_test(a, same, n_perm=199, strata_a=qid, strata_b=qid) > 0.05
    for method in compare.METHODS:
        point, lo, hi = compare.bootstrap_distance(a, b, method, n_boot=100, strata_a=qid, strata_b=qid)
        assert lo <= point <= hi, method
    with pytest.raises(ValueError, match="both sides"):
        compare.permutation_test(a, b, strata_a=qid)


def test_permutation_test_separates_different_groups_not_halves(synthetic):
    qas, emb = synthetic
    a, b = emb[qas["value_id"] == "m1$eng"], emb[qas["value_id"] == "m3$fra"]
    for method in compare.METHODS:
        assert compare.permutation_test(a, b, method, n_perm=199, seed=0) <= 0.01, method
        assert compare.permutation_test(a[:20], a[20:], method, n_perm=199, seed=0) > 0.05, method


def test_cluster_order_puts_planted_pair_side_by_side(synthetic):
    qas, emb = synthetic
    dm = compare.value_id_distance_matrix(qas, emb, "centroid")
    order, z = compare.cluster_order(dm)
    assert sorted(order) == sorted(dm.index) and z.shape == (3, 4)
    assert abs(order.index("m1$eng") - order.index("m2$eng")) == 1


def test_same_question_pairs_sorted_by_divergence_first_answer_kept(synthetic):
    qas, emb = synthetic
    # a second answer to q0 by m1$eng: the first one must be used
    dup = qas.iloc[[0]].assign(qa_id="dup", answer="a later answer")
    qas2 = pd.concat([qas, dup], ignore_index=True)
    emb2 = np.vstack([emb, emb[[50]]])
    pairs = compare.same_question_pairs(qas2, emb2, "m1$eng", "m3$fra")
    assert list(pairs.columns[:5]) == ["question_id", "question", "answer_a", "answer_b", "divergence"]
    assert len(pairs) == 40 and pairs["question_id"].is_unique
    assert pairs["divergence"].is_monotonic_decreasing
    assert pairs.set_index("question_id").loc["q0", "answer_a"] == qas.loc[0, "answer"]
    row = pairs.iloc[0]
    assert row["divergence"] == pytest.approx(1 - float(emb2[row["row_a"]] @ emb2[row["row_b"]]), abs=1e-6)


def test_nearest_cross_returns_k_sorted_neighbours(synthetic):
    qas, emb = synthetic
    near = compare.nearest_cross(qas, emb, "m1$eng", "m2$eng", k=3)
    assert len(near) == 40 * 3
    assert set(qas.loc[near["row_b"], "value_id"]) == {"m2$eng"}
    first = near[near["row_a"] == near["row_a"].iloc[0]]
    sims = emb[first["row_b"].to_numpy()] @ emb[first["row_a"].iloc[0]]
    np.testing.assert_allclose(first["similarity"], sims, rtol=1e-5)
    best = (emb[qas["value_id"] == "m2$eng"] @ emb[first["row_a"].iloc[0]]).max()
    assert first["similarity"].iloc[0] == pytest.approx(best) and first["rank"].tolist() == [1, 2, 3]


def test_trajectory_moves_toward_target_from_dict_and_table():
    rng = np.random.default_rng(1)
    start, target = rng.normal(size=DIM), rng.normal(size=DIM)
    ckpts = {f"step-{s}": _unit((1 - t) * start + t * target + 0.3 * rng.normal(size=(30, DIM)))
             for s, t in [(10, 0.75), (2, 0.25), (0, 0.0), (100, 1.0)]}
    traj = compare.trajectory(ckpts, target)
    assert traj["checkpoint"].tolist() == ["step-0", "step-2", "step-10", "step-100"]  # natural order
    assert traj["distance_to_target"].is_monotonic_decreasing
    table = pd.DataFrame({"checkpoint": np.repeat(list(ckpts), 30), "value_id": "x$eng",
                          "x": np.arange(120.0), "y": 0.0})
    traj2 = compare.trajectory((table, np.vstack(list(ckpts.values()))), target,
                               order=["step-0", "step-2", "step-10", "step-100"])
    np.testing.assert_allclose(traj2["distance_to_target"], traj["distance_to_target"])
    assert traj2.loc[0, "x"] == pytest.approx(np.arange(60, 90).mean())  # step-0 rows are 60..89
    with pytest.raises(ValueError, match="order must list"):
        compare.trajectory(ckpts, target, order=["step-0"])


def test_trajectory_target_given_as_value_id(synthetic):
    qas, emb = synthetic
    target_rows = emb[qas["value_id"] == "m3$fra"]
    traj = compare.trajectory({"a": emb[:40], "b": target_rows}, "m3$fra", map_qas=qas, map_emb=emb)
    assert traj.loc[1, "distance_to_target"] == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="map_qas"):
        compare.trajectory({"a": emb[:40]}, "m3$fra")


def test_clear_errors(synthetic):
    qas, emb = synthetic
    with pytest.raises(ValueError, match="unknown distance method"):
        compare.value_id_distance_matrix(qas, emb, "cosine")
    with pytest.raises(ValueError, match="not row-aligned"):
        compare.value_id_distance_matrix(qas, emb[:5])
    with pytest.raises(ValueError, match="no QAs with value_id = 'nope'"):
        compare.same_question_pairs(qas, emb, "m1$eng", "nope")
    dm = compare.value_id_distance_matrix(qas, emb)
    with pytest.raises(ValueError, match="two different"):
        compare.pair_distance_rank(dm, "m1$eng", "m1$eng")


@pytest.fixture(scope="module")
def valuebench_subset(shared_data, minilm):
    """20 questions answered by each of the six ValueBench models, embedded with MiniLM (120 QAs)."""
    from univar_core.data.schema import validate_qas

    raw = pd.read_csv(shared_data / "valuebench_qa" / "qa.csv")
    keep = sorted(raw["question_id"].unique())[:20]
    qas, _ = validate_qas(raw[raw["question_id"].isin(keep)], source="qa.csv")
    emb = minilm.encode_qas(qas["question"].tolist(), qas["answer"].tolist()).embeddings
    return qas, emb


@pytest.mark.shared_data
def test_real_valuebench_subset(valuebench_subset):
    qas, emb = valuebench_subset
    dm = compare.value_id_distance_matrix(qas, emb, "energy")
    assert dm.shape == (6, 6) and np.all(np.diag(dm.to_numpy()) == 0)
    assert (dm.to_numpy()[~np.eye(6, dtype=bool)] > 0).all()
    a, b = "gpt-4-1106-preview$eng", "llama-7b-chat$eng"
    pairs = compare.same_question_pairs(qas, emb, a, b)
    assert len(pairs) == 20 and pairs["divergence"].is_monotonic_decreasing
    # the same questions answered by two models: the QA embeddings share the question, so they are
    # far closer than two random QAs of different questions
    other_q = 1 - (emb[pairs["row_a"].to_numpy()] * np.roll(emb[pairs["row_b"].to_numpy()], 1, axis=0)).sum(1)
    assert pairs["divergence"].median() < np.median(other_q)


# --- the demo corpus through MiniLM: the planted structure must come out -------------------------
@pytest.fixture(scope="module")
def demo_embedded(minilm):
    """The synthetic demo corpus and its fine-tune checkpoints, embedded once for this module."""
    from univar_core.data import demo

    qas, ckpts = demo.demo_qas(), demo.demo_checkpoints()
    emb = minilm.encode_qas(qas["question"].tolist(), qas["answer"].tolist()).embeddings
    ckpt_emb = minilm.encode_qas(ckpts["question"].tolist(), ckpts["answer"].tolist()).embeddings
    return qas, emb, ckpts, ckpt_emb


@pytest.mark.parametrize("method", compare.METHODS)
def test_demo_planted_pair_is_the_nearest(demo_embedded, method):
    from univar_core.data.demo import DEMO_PLANTED_NEAREST

    qas, emb, _, _ = demo_embedded
    dm = compare.value_id_distance_matrix(qas, emb, method)
    assert compare.pair_distance_rank(dm, *DEMO_PLANTED_NEAREST)["rank"] == 1
    np.testing.assert_array_equal(dm.to_numpy(), dm.to_numpy().T)
    assert np.all(np.diag(dm.to_numpy()) == 0)


def test_demo_permutation_test_separates_planted_stances_only(demo_embedded):
    from univar_core.data.demo import DEMO_OPPOSITE_PAIRS, DEMO_PLANTED_NEAREST

    qas, emb, _, _ = demo_embedded
    for a, b in DEMO_OPPOSITE_PAIRS:  # opposite stances: distinguishable
        assert compare.permutation_test_value_ids(qas, emb, a, b, n_perm=199) <= 0.01
    # identical stances (different model and language): answers from one distribution
    assert compare.permutation_test_value_ids(qas, emb, *DEMO_PLANTED_NEAREST, n_perm=199) > 0.1
    own = emb[(qas["value_id"] == DEMO_OPPOSITE_PAIRS[0][0]).to_numpy()]
    assert compare.permutation_test(own[::2], own[1::2], n_perm=199) > 0.1  # two halves of one value ID


def test_demo_trajectory_moves_monotonically_toward_target(demo_embedded):
    from univar_core.data.demo import DEMO_TRAJECTORY_TARGET

    qas, emb, ckpts, ckpt_emb = demo_embedded
    traj = compare.trajectory((ckpts, ckpt_emb), DEMO_TRAJECTORY_TARGET, map_qas=qas, map_emb=emb)
    assert traj["checkpoint"].tolist() == [f"step{i}" for i in range(5)]
    assert np.all(np.diff(traj["distance_to_target"]) < 0)


def test_demo_paired_bootstrap_contains_point_and_orders_pairs(demo_embedded):
    from univar_core.data.demo import DEMO_OPPOSITE_PAIRS, DEMO_PLANTED_NEAREST

    qas, emb, _, _ = demo_embedded
    for method in compare.METHODS:
        near = compare.bootstrap_distance_value_ids(qas, emb, *DEMO_PLANTED_NEAREST, method=method, n_boot=100)
        far = compare.bootstrap_distance_value_ids(qas, emb, *DEMO_OPPOSITE_PAIRS[0], method=method, n_boot=100)
        for point, lo, hi in (near, far):
            assert lo <= point <= hi, method
        assert far[1] > near[2], method  # the intervals do not overlap


def test_pair_test_pairs_by_question_only_when_the_two_share_them(synthetic):
    """The one "paired" rule of the CLI's --pair and the Value Lenses page: paired when the two value IDs
    share at least half of the smaller one's questions (and at least 2)."""
    qas, emb = synthetic
    assert compare.pair_design(qas, "m1$eng", "m3$fra") == (True, 40)
    disjoint = qas.assign(question_id=np.where(qas["value_id"] == "m3$fra", "other-" + qas["question_id"],
                                               qas["question_id"]))
    assert compare.pair_design(disjoint, "m1$eng", "m3$fra") == (False, 0)
    few = disjoint.copy()
    few.loc[few["value_id"] == "m3$fra", "question_id"] = [f"q{i}" if i < 19 else f"x{i}" for i in range(40)]
    assert compare.pair_design(few, "m1$eng", "m3$fra") == (False, 19)          # 19 < 40 // 2
    assert compare.pair_design(qas.drop(columns="question_id"), "m1$eng", "m3$fra") == (False, 0)
    t = compare.pair_test(qas, emb, "m1$eng", "m3$fra", method="centroid", n_boot=50, n_perm=99)
    assert t["paired"] and t["shared_questions"] == 40 and t["lo"] <= t["distance"] <= t["hi"]
    assert t["p"] <= 0.05                                       # different means: distinguishable
    u = compare.pair_test(disjoint, emb, "m1$eng", "m3$fra", method="centroid", n_boot=50, n_perm=99)
    assert not u["paired"] and u["distance"] == pytest.approx(t["distance"])


def test_checkpoint_sources_and_table(synthetic):
    qas, emb = synthetic
    assert compare.checkpoint_sources(qas) == []
    assert compare.checkpoint_sources(qas, is_demo=True) == ["demo"]
    marked = qas.assign(checkpoint=np.where(qas["value_id"] == "m1$eng", "step" + qas["question_id"], None),
                        layer=np.where(qas["value_id"] == "m4$fra", "ckpt-1", "base"))
    assert compare.checkpoint_sources(marked) == ["column", "layers"]
    table, rows = compare.checkpoint_table(marked, emb, "checkpoint")
    assert len(table) == 40 and (table["value_id"] == "m1$eng").all() and np.array_equal(rows, emb[:40])
    table, rows = compare.checkpoint_table(marked, emb, "layer", ["ckpt-1"])
    assert set(table["checkpoint"]) == {"ckpt-1"} and len(rows) == 40
