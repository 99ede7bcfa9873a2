"""Value identification: k-NN / probe numbers against hand-computed cases, baselines, the table, the control map."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from univar_core.analysis.identification import (
    CONTROL_MODEL_MAP,
    METRICS,
    balance_by_subsampling,
    baseline_rows,
    evaluate_features,
    knn_predict,
    map_control_models,
    value_identification_table,
)
from univar_core.data.splits import split_qas
from univar_core.encoders.sentence_encoder import EncodeResult


def _at(*degrees) -> np.ndarray:
    r = np.radians(degrees)
    return np.stack([np.cos(r), np.sin(r)], axis=1).astype(np.float32)


def test_knn_metrics_equal_hand_computed_case():
    # Train: A at 0/10/20 degrees, B at 90/100/110. k = 3, cosine = cos(angle difference).
    # Test  5 (A): nearest 0, 10, 20            -> A (right)
    # Test 95 (B): nearest 90, 100, 110         -> B (right)
    # Test 52 (A): nearest 20 (32), 90 (38), 10 (42 degrees away) -> A, A, B -> A (right)
    # Test 62 (A): nearest 90 (28), 100 (38), 20 (42)             -> B, B, A -> B (wrong)
    # accuracy 3/4; recall A 2/3, B 1 -> balanced 5/6;
    # F1 A = 2 * 1 * (2/3) / (1 + 2/3) = 0.8, F1 B = 2 * 0.5 * 1 / 1.5 = 2/3 -> macro 11/15.
    train_X, train_y = _at(0, 10, 20, 90, 100, 110), np.array(["A"] * 3 + ["B"] * 3)
    test_X, test_y = _at(5, 95, 52, 62), np.array(["A", "B", "A", "A"])
    assert knn_predict(train_X, train_y, test_X, k=3).tolist() == ["A", "B", "A", "B"]
    m = evaluate_features(train_X, train_y, test_X, test_y, k=3, probe=False, balance_train=False)
    assert m["knn_acc"] == pytest.approx(3 / 4)
    assert m["knn_bal_acc"] == pytest.approx(5 / 6)
    assert m["knn_macro_f1"] == pytest.approx(11 / 15)
    assert (m["n_value_ids"], m["n_train"], m["n_test"]) == (2, 6, 4)


def test_knn_tie_goes_to_larger_summed_similarity():
    train_X, train_y = _at(0, 30), np.array(["A", "B"])
    assert knn_predict(train_X, train_y, _at(14, 16), k=2).tolist() == ["A", "B"]


def test_knn_is_scale_invariant_cosine():
    train_X, train_y = _at(0, 10, 90, 100) * np.array([[1], [5], [0.1], [3]], dtype=np.float32), np.array(list("AABB"))
    assert knn_predict(train_X, train_y, _at(20, 80) * 7, k=1).tolist() == ["A", "B"]


def test_balance_by_subsampling_keeps_min_count_per_label():
    y = np.array(["a"] * 10 + ["b"] * 3 + ["c"] * 5)
    keep = balance_by_subsampling(y, seed=0)
    assert pd.Series(y[keep]).value_counts().to_dict() == {"a": 3, "b": 3, "c": 3}
    assert np.array_equal(keep, balance_by_subsampling(y, seed=0))


def test_baseline_rows_by_hand():
    rows = baseline_rows(["a", "a", "a", "b"], ["a", "b", "b", "b"])
    assert rows["chance"]["knn_bal_acc"] == pytest.approx(0.5)
    # only 2 classes: any 5 guesses cover both, a 1.0 that says nothing: left out (NaN)
    assert np.isnan(rows["chance"]["probe_acc@5"]) and np.isnan(rows["majority"]["probe_acc@10"])
    # majority always says "a": accuracy 1/4, recall a = 1, b = 0 -> balanced 0.5;
    # F1 a = 2 * 0.25 * 1 / 1.25 = 0.4, F1 b = 0 -> macro 0.2
    assert rows["majority"]["knn_acc"] == pytest.approx(0.25)
    assert rows["majority"]["knn_bal_acc"] == pytest.approx(0.5)
    assert rows["majority"]["knn_macro_f1"] == pytest.approx(0.2)


def test_linear_probe_separates_planted_clusters():
    rng = np.random.default_rng(0)
    centers = np.eye(8, dtype=np.float32)[:4] * 3
    y = np.repeat(np.arange(4), 60)
    X = centers[y] + rng.normal(scale=0.3, size=(len(y), 8)).astype(np.float32)
    labels = np.array([f"v{i}" for i in y])
    # 120 train rows are a single batch of 512: the paper's 20 epochs would be 20 steps, so train longer
    m = evaluate_features(X[::2], labels[::2], X[1::2], labels[1::2], k=5, seed=0, probe_kwargs={"epochs": 300})
    assert m["probe_acc@1"] == pytest.approx(1.0)
    assert np.isnan(m["probe_acc@5"]) and np.isnan(m["probe_acc@10"])   # k >= 4 value IDs: always a hit
    assert m["knn_bal_acc"] == pytest.approx(1.0)


def test_unknown_test_value_id_is_an_error():
    with pytest.raises(ValueError, match="absent from train"):
        evaluate_features(_at(0, 90), ["A", "B"], _at(45), ["C"], k=1, probe=False)


class _PlantedEncoder:
    """An encoder object (the library's duck type) whose vectors carry the value ID planted in the answer."""
    name, content_hash, dim = "planted", "0" * 16, 6

    def encode_qas(self, questions, answers, *, progress=None):
        vecs = np.zeros((len(answers), self.dim), dtype=np.float32)
        for i, a in enumerate(answers):
            vecs[i, int(a.split()[0][1])] = 1.0
            vecs[i, 5] = (hash(a) % 7) / 20  # noise that does not depend on the value ID
        if progress:
            progress(len(answers), len(answers))
        return EncodeResult(vecs / np.linalg.norm(vecs, axis=1, keepdims=True), 0, 0)


def _planted_qas() -> pd.DataFrame:
    rows = []
    for ds in ("set1", "set2"):
        for q in range(30):
            for v in range(3):
                rows.append({"dataset": ds, "value_id": f"m{v}$eng", "question_id": f"{ds}-{q}",
                             "question": f"{ds} question {q}", "answer": f"v{v} answer to {q} word{v}"})
    return pd.DataFrame(rows)


def test_value_identification_table_per_dataset_and_baselines():
    qas = _planted_qas()
    split = split_qas(qas, test_fraction=0.3, seed=0)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(len(qas), 6)).astype(np.float32)
    table = value_identification_table(qas, {"planted": _PlantedEncoder(), "noise": noise}, split, k=5, seed=0)
    assert list(table.columns[-len(METRICS):]) == METRICS
    assert set(table["dataset"]) == {"all", "set1", "set2"}
    assert set(table["representation"]) == {"planted", "noise", "TF-IDF", "chance", "majority"}
    overall = table[table["dataset"] == "all"].set_index("representation")
    assert overall.loc["planted", "knn_bal_acc"] == pytest.approx(1.0)
    assert overall.loc["TF-IDF", "knn_bal_acc"] > 0.9            # "v0/word0" tokens give it away
    assert overall.loc["chance", "knn_bal_acc"] == pytest.approx(1 / 3)
    assert overall.loc["noise", "knn_bal_acc"] < 0.7
    assert overall.loc["planted", "n_test"] == len(split.test)


def test_table_scores_seen_and_unseen_value_ids_separately():
    qas = _planted_qas()
    split = split_qas(qas, heldout_value_ids=["m2$eng"], seed=0)
    table = value_identification_table(qas, {"planted": _PlantedEncoder()}, split, k=5, tfidf=False,
                                       probe=False, baselines=False, by_dataset=False)
    by_subset = table.set_index("subset")
    assert set(by_subset.index) == {"all", "seen", "unseen"}
    assert by_subset.loc["unseen", "n_test"] == int((qas["value_id"].iloc[split.test] == "m2$eng").sum())


@pytest.mark.shared_data
def test_control_model_map_matches_both_corpora(shared_data):
    vb_models = set(pd.read_csv(shared_data / "valuebench_qa" / "qa.csv", usecols=["model"])["model"])
    ae = pd.read_csv(shared_data / "alpacaeval_control" / "qa.csv", usecols=["model", "lang"], dtype=str)
    assert set(CONTROL_MODEL_MAP) <= set(ae["model"])
    assert set(CONTROL_MODEL_MAP.values()) == vb_models
    mapped = map_control_models(ae)
    assert set(mapped["model"]) == vb_models
    assert set(mapped["value_id"]) == {f"{m}$eng" for m in vb_models}
    assert len(mapped) == 6 * 805 - 1      # llama-2-70b-chat-hf answered 804 instructions
