"""Question-disjoint splits: no question (id or text) on both sides, seeded, held-out value IDs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from univar_core.data.schema import QAInputError
from univar_core.data.splits import assert_no_leak, leaked_questions, split_qas


def _table(n_questions=40, models=("a", "b", "c")) -> pd.DataFrame:
    rows = []
    for q in range(n_questions):
        for m in models:
            rows.append({"model": m, "lang": "eng", "value_id": f"{m}$eng", "question_id": f"q{q}",
                         "question": f"Question number {q}?", "answer": f"{m} says {q}",
                         "questionnaire": f"inv{q % 7}"})
    return pd.DataFrame(rows)


def test_split_by_question_id_shares_no_question_and_is_seeded():
    qas = _table()
    split = split_qas(qas, test_fraction=0.25, seed=3)
    assert_no_leak(qas, split)
    assert leaked_questions(qas, split) == set()
    assert sorted(np.concatenate([split.train, split.test]).tolist()) == list(range(len(qas)))
    assert abs(len(split.test) / len(qas) - 0.25) < 0.05
    again = split_qas(qas, test_fraction=0.25, seed=3)
    assert np.array_equal(split.test, again.test)
    assert not np.array_equal(split.test, split_qas(qas, test_fraction=0.25, seed=4).test)


def test_same_text_under_two_ids_stays_on_one_side():
    qas = _table(n_questions=20)
    # the same item in two inventories: different ids, identical text (ValueBench has 282 such texts)
    qas.loc[qas["question_id"] == "q1", "question"] = "  question NUMBER 0? "
    for seed in range(10):
        split = split_qas(qas, seed=seed)
        assert_no_leak(qas, split)
        sides = {"train": set(qas["question_id"].iloc[split.train]), "test": set(qas["question_id"].iloc[split.test])}
        assert ({"q0", "q1"} <= sides["train"]) or ({"q0", "q1"} <= sides["test"])


def test_split_by_questionnaire_keeps_inventories_whole():
    qas = _table()
    split = split_qas(qas, by="questionnaire", test_fraction=0.3, seed=0)
    assert_no_leak(qas, split)
    assert not set(qas["questionnaire"].iloc[split.train]) & set(qas["questionnaire"].iloc[split.test])


def test_heldout_value_ids_never_reach_encoder_training():
    qas = _table()
    split = split_qas(qas, heldout_value_ids=["b$eng"], seed=0)
    assert split.heldout_value_ids == ["b$eng"]
    assert "b$eng" in set(qas["value_id"].iloc[split.train])          # k-NN still sees its train QAs
    assert "b$eng" not in set(qas["value_id"].iloc[split.encoder_train])
    drawn = split_qas(qas, n_heldout_value_ids=2, seed=1)
    assert len(drawn.heldout_value_ids) == 2
    assert_no_leak(qas, drawn)


def test_leak_is_detected():
    qas = _table()
    split = split_qas(qas, seed=0)
    split.test = np.concatenate([split.test, split.train[:1]])
    with pytest.raises(ValueError, match="split leaks"):
        assert_no_leak(qas, split)


def test_bad_input_errors_name_the_column():
    qas = _table()
    with pytest.raises(QAInputError, match="'questionnaire'"):
        split_qas(qas.drop(columns=["questionnaire"]), by="questionnaire")
    with pytest.raises(QAInputError, match="one 'questionnaire' group"):
        split_qas(qas.assign(questionnaire="x"), by="questionnaire")
    with pytest.raises(QAInputError, match="zzz"):
        split_qas(qas, heldout_value_ids=["zzz$eng"])


@pytest.mark.shared_data
def test_valuebench_questionnaire_split_has_no_leak(shared_data):
    qas = pd.read_csv(shared_data / "valuebench_qa" / "qa.csv", dtype=str, keep_default_na=False,
                      usecols=["model", "lang", "question", "question_id", "questionnaire"], nrows=3000)
    qas["value_id"] = qas["model"] + "$" + qas["lang"]
    split = split_qas(qas, by="questionnaire", seed=0)
    assert_no_leak(qas, split)
    assert len(split.test) > 0 and len(split.train) > 0


def test_group_larger_than_the_test_share_stays_in_train():
    qas = _table(n_questions=40)
    qas.loc[qas["question_id"].isin([f"q{i}" for i in range(25)]), "questionnaire"] = "giant"  # 62% of rows
    for seed in range(5):
        split = split_qas(qas, by="questionnaire", test_fraction=0.3, seed=seed)
        assert "giant" not in set(qas["questionnaire"].iloc[split.test])
        assert 0 < len(split.test) <= 0.3 * len(qas)


def test_split_columns_finest_first_and_only_splittable():
    from univar_core.data.splits import split_columns

    qas = pd.DataFrame({"question_id": ["a", "b", "c"], "questionnaire": ["x", "x", "y"], "dataset": ["d"] * 3,
                        "question": ["1", "2", "3"]})
    assert split_columns(qas) == ["question_id", "questionnaire"]     # one dataset cannot be split
    assert split_columns(qas.assign(question_id="a")) == ["questionnaire"]
    # two inventories that repeat an item merge into one group: they cannot be split apart
    assert split_columns(qas.assign(question=["1", "2", "2"])) == ["question_id"]
