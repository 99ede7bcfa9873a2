"""demo.py: the synthetic corpus is deterministic, labelled, complete, and its planted structure is
recoverable by the real MiniLM encoder."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from univar_core.data import demo
from univar_core.data.schema import CORE_COLUMNS, validate_qas


@pytest.fixture(scope="module")
def qas() -> pd.DataFrame:
    return demo.demo_qas()


def stance_vector(value_id: str) -> np.ndarray:
    return np.array([demo.VALUE_ID_STANCES[value_id][d] for d in demo.DIMENSIONS])


def test_deterministic_and_seeded(qas):
    pd.testing.assert_frame_equal(qas, demo.demo_qas())
    other = demo.demo_qas(seed=1)
    assert other.shape == qas.shape and (other["answer"] != qas["answer"]).mean() > 0.5


def test_sizes_columns_and_labels(qas):
    n_ids, n_questions = len(demo.VALUE_ID_STANCES), sum(len(q) for q in demo.QUESTIONS.values())
    assert 6 <= len(demo.DIMENSIONS) <= 8 and 10 <= n_ids <= 16
    assert all(8 <= len(q) <= 12 for q in demo.QUESTIONS.values())
    assert len(qas) == n_ids * n_questions and 600 <= len(qas) <= 2000
    assert list(qas.columns) == CORE_COLUMNS + ["dimension", "stance", "synthetic"]
    assert set(qas["value_id"]) == set(demo.VALUE_ID_STANCES)
    assert qas.groupby("value_id").size().eq(n_questions).all()
    assert qas.groupby("question_id")["value_id"].nunique().eq(n_ids).all()  # every ID answers every question
    assert set(qas["dataset"]) == {"demo (synthetic)"} and set(qas["synthetic"]) == {"yes"}
    assert "SYNTHETIC" in demo.__doc__
    assert qas["qa_id"].is_unique and qas["answer"].str.len().between(40, 600).all()


def test_table_is_already_valid(qas):
    again, report = validate_qas(qas, source="demo")
    pd.testing.assert_frame_equal(again, qas)
    assert report.skipped == [] and report.warnings == [] and report.n_truncated == 0


def test_stance_column_matches_documented_stances(qas):
    expected = [demo.VALUE_ID_STANCES[v][d] for v, d in zip(qas["value_id"], qas["dimension"])]
    assert qas["stance"].tolist() == expected
    assert all(set(s.values()) <= {-1, 0, 1} for s in demo.VALUE_ID_STANCES.values())


def test_planted_structure_in_the_stances():
    a, b = demo.DEMO_PLANTED_NEAREST
    assert a.endswith("$eng") and b.endswith("$zho") and a.split("$")[0] != b.split("$")[0]
    for x, y in itertools.combinations(demo.VALUE_ID_STANCES, 2):
        n_diff = int((stance_vector(x) != stance_vector(y)).sum())
        if {x, y} == {a, b}:
            assert n_diff == 0
        else:
            assert n_diff >= 2, (x, y)  # the planted pair is the only identical one, by a margin
    for x, y in demo.DEMO_OPPOSITE_PAIRS:
        assert (stance_vector(x) == -stance_vector(y)).all()
    collectivism = list(demo.DIMENSIONS)[0]
    zho = [v for v in demo.VALUE_ID_STANCES if v.endswith("$zho")]
    assert len(zho) >= 3 and all(demo.VALUE_ID_STANCES[v][collectivism] == -1 for v in zho)


def test_checkpoints_move_monotonically_toward_the_target():
    cps = demo.demo_checkpoints()
    assert cps.groupby("checkpoint").size().to_dict() == {f"step{i}": 80 for i in range(5)}
    assert set(cps["value_id"]) == {"aurora-7b-dpo$eng"} and set(cps["synthetic"]) == {"yes"}
    assert cps["dataset"].str.contains("synthetic").all()
    target = stance_vector(demo.DEMO_TRAJECTORY_TARGET)
    steps = [np.array(list(demo.checkpoint_stances(s).values())) for s in range(5)]
    assert (steps[0] == stance_vector(demo.DEMO_TRAJECTORY_SOURCE)).all() and (steps[-1] == target).all()
    gaps = [int((s != target).sum()) for s in steps]
    assert gaps == sorted(gaps, reverse=True) and gaps[0] > gaps[-1] == 0
    row = cps.iloc[-1]
    assert row["stance"] == demo.checkpoint_stances(int(row["step"]))[row["dimension"]]
    pd.testing.assert_frame_equal(cps, demo.demo_checkpoints())


def test_minilm_recovers_the_planted_structure(qas, minilm):
    """Same-stance value IDs are nearer (centroid cosine distance) than opposite-stance ones."""
    ids = sorted({*demo.DEMO_PLANTED_NEAREST, *itertools.chain(*demo.DEMO_OPPOSITE_PAIRS)})
    first_questions = {q for q in qas["question_id"] if int(q.rsplit("-", 1)[1]) <= 5}  # 5 per dimension
    sub = qas[qas["value_id"].isin(ids) & qas["question_id"].isin(first_questions)]
    emb = minilm.encode_qas(sub["question"].tolist(), sub["answer"].tolist()).embeddings
    cent = np.stack([emb[(sub["value_id"] == v).to_numpy()].mean(axis=0) for v in ids])
    cent /= np.linalg.norm(cent, axis=1, keepdims=True)
    dist = {frozenset((x, y)): 1 - float(cent[i] @ cent[j])
            for (i, x), (j, y) in itertools.combinations(enumerate(ids), 2)}
    planted = dist[frozenset(demo.DEMO_PLANTED_NEAREST)]
    opposite = [dist[frozenset(p)] for p in demo.DEMO_OPPOSITE_PAIRS]
    assert planted == min(dist.values())
    assert planted < min(opposite)
    assert min(opposite) > np.median(list(dist.values()))
