"""Question-centred embeddings: the planted case, the means, what cannot be centred, maps and placement."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from univar_core.analysis.identification import (
    CENTRED_SUFFIX,
    centred_split_features,
    value_identification_table,
)
from univar_core.data.schema import QAInputError
from univar_core.data.splits import split_qas
from univar_core.encoders import centring
from univar_core.maps import build, store
from univar_core.maps.placement import add_layer, place_on_map

VALUE_IDS = ["alpha$eng", "beta$eng", "gamma$eng", "delta$eng"]


def planted_corpus(n_questions: int = 60, dim: int = 24, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Every value ID answers every question. Each answer = the question's topic (large, random) + its
    value ID's small stance + noise: raw cosine neighbours are the question's other answers (topic),
    so raw k-NN on held-out questions is at chance; the stance is all that centring leaves."""
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(n_questions, dim)) * 4.0
    stances = rng.normal(size=(len(VALUE_IDS), dim))
    rows, vecs = [], []
    for q in range(n_questions):
        for v, vid in enumerate(VALUE_IDS):
            model, lang = vid.split("$")
            rows.append({"model": model, "lang": lang, "question_id": f"q{q}", "question": f"Question number {q}?",
                         "answer": f"answer of {model} to {q}"})
            vecs.append(topics[q] + 0.6 * stances[v] + 0.3 * rng.normal(size=dim))
    df = pd.DataFrame(rows)
    df["value_id"] = df["model"] + "$" + df["lang"]
    df["dataset"] = "planted"
    df["qa_id"] = [f"planted:{i}" for i in range(len(df))]
    return df, np.asarray(vecs, dtype=np.float32)


def test_centring_reveals_a_value_id_difference_that_raw_embeddings_hide():
    qas, emb = planted_corpus()
    split = split_qas(qas, by="question_id", test_fraction=0.3, seed=0)
    table = value_identification_table(qas, {"planted": emb}, split, k=10, probe=False, tfidf=False,
                                       baselines=False, centre_questions=True).set_index("representation")
    raw = table.loc["planted", "knn_bal_acc"]
    centred = table.loc["planted" + CENTRED_SUFFIX, "knn_bal_acc"]
    assert raw < 0.45          # chance is 0.25: the topic hides the stance
    assert centred > 0.9       # the stance is what is left
    assert table.loc["planted" + CENTRED_SUFFIX, "n_test_not_centred"] == 0


def test_question_mean_is_over_value_ids_not_over_answers():
    # value ID a answered q0 three times (all at +x), b once (at -x): the mean over value IDs is 0, the
    # mean over answers would be +0.5x
    emb = np.array([[1, 0], [1, 0], [1, 0], [-1, 0]], dtype=np.float32)
    means, _ = centring.fit_question_means(emb, ["q0"] * 4, ["a", "a", "a", "b"])
    np.testing.assert_allclose(means.means[0], [0, 0], atol=1e-7)
    plain, _ = centring.fit_question_means(emb, ["q0"] * 4, None)
    np.testing.assert_allclose(plain.means[0], [0.5, 0], atol=1e-7)


def test_single_value_id_questions_are_counted_and_not_centred():
    qas, emb = planted_corpus(n_questions=3)
    extra = qas.iloc[:2].assign(question_id=["lonely", "lonely"], question="A lonely question?",
                                model="alpha", value_id="alpha$eng")
    qas2 = pd.concat([qas, extra], ignore_index=True)
    emb2 = np.concatenate([emb, emb[:2] + 1.0])
    vectors, ok, means, report = centring.centre_questions(emb2, qas2["question_id"], qas2["value_id"])
    assert report.n_single_value_id_questions == 1 and report.n_single_value_id_qas == 2
    assert not ok[-2:].any() and ok[:-2].all()
    assert np.all(vectors[-2:] == 0) and np.allclose(np.linalg.norm(vectors[ok], axis=1), 1.0, atol=1e-5)
    assert "lonely" not in set(means.question_ids)
    assert "2 QA(s) of 1 question(s) answered by a single value ID" in report.summary()


def test_held_out_centring_uses_no_value_id_label():
    qas, emb = planted_corpus(n_questions=20)
    split = split_qas(qas, by="question_id", test_fraction=0.3, seed=1)
    _, test_vectors, _ = centred_split_features(emb, qas, split.train, split.test)
    shuffled = qas.copy()
    shuffled["value_id"] = np.random.default_rng(0).permutation(shuffled["value_id"].to_numpy())
    _, test_again, _ = centred_split_features(emb, shuffled, split.train, split.test)
    np.testing.assert_array_equal(test_vectors, test_again)


def test_new_qas_match_the_maps_question_by_id_or_by_text():
    qas, emb = planted_corpus(n_questions=4)
    _, _, means, _ = centring.centre_questions(emb, qas["question_id"], qas["value_id"], qas["question"])
    stored = centring.QuestionMeans.from_frame(means.to_frame())  # the parquet round trip's frame
    new = emb[:3]
    vectors, ok, report = centring.centre_new(new, ["q0", "other-id", "nope"], stored,
                                              ["whatever", "Question number 1?", "Never asked?"])
    assert ok.tolist() == [True, True, False] and report.n_unknown_question_qas == 1
    expect = new[1] - means.means[1]
    np.testing.assert_allclose(vectors[1], expect / np.linalg.norm(expect), rtol=1e-5)


# ------------------------------------------------------------------ maps: build, store, place

@pytest.fixture(scope="module")
def centred_map(tmp_path_factory):
    qas, emb = planted_corpus(n_questions=30, seed=3)
    lonely = qas.iloc[:1].assign(question_id="lonely", question="Only alpha answered this?", qa_id="planted:x")
    qas = pd.concat([qas, lonely], ignore_index=True)
    emb = np.concatenate([emb, emb[:1]])
    data_dir = tmp_path_factory.mktemp("centred_maps")
    table = qas.drop(columns=["value_id"])
    vmap, report = build.build_map(table, "planted", embeddings=emb, encoder_name="planted-vectors",
                                   centre_questions=True, data_dir=data_dir)
    return vmap, report, data_dir, qas, emb


def test_centred_map_records_the_choice_and_stores_the_means(centred_map):
    vmap, report, data_dir, qas, _ = centred_map
    rep = vmap.manifest["representation"]
    assert rep["kind"] == "question-centred" and rep["n_qas_left_out"] == 1
    assert rep["n_single_value_id_questions"] == 1 and rep["n_questions_with_mean"] == 30
    assert len(vmap.qas) == len(qas) - 1 and "lonely" not in set(vmap.qas["question_id"])
    assert any("single value ID" in w for w in report.warnings)
    assert store.QUESTION_MEANS_FILE in vmap.manifest["files"]
    loaded = store.load_map("planted", data_dir=data_dir, verify=True)
    assert build.is_centred(loaded.manifest)
    means = centring.QuestionMeans.from_frame(loaded.question_means)
    assert means.means.dtype == np.float32 and len(means) == 30
    np.testing.assert_allclose(np.linalg.norm(loaded.embeddings, axis=1), 1.0, atol=1e-5)


def test_placing_on_a_centred_map_centres_with_its_means_and_leaves_out_unknown_questions(centred_map):
    vmap, _, data_dir, qas, emb = centred_map
    vmap = store.load_map("planted", data_dir=data_dir)
    # one new value ID answering five of the map's questions (its own stance) and one new question
    rng = np.random.default_rng(9)
    new = qas.iloc[:5].assign(model="epsilon", value_id="epsilon$eng", qa_id=[f"n{i}" for i in range(5)])
    new_emb = emb[:5] + 0.3 * rng.normal(size=emb[:5].shape).astype(np.float32)
    unknown = new.iloc[:1].assign(question_id="brand-new", question="A question the map lacks?", qa_id="n9")
    source = pd.concat([new, unknown], ignore_index=True).drop(columns=["value_id"])
    placement = place_on_map(vmap, source, layer="epsilon",
                             embeddings=np.concatenate([new_emb, new_emb[:1]]))
    assert placement.centring["n_unknown_question_qas"] == 1 and placement.centring["n_centred"] == 5
    assert len(placement.qas) == 5 and any("not placed" in w for w in placement.report.warnings)
    means = centring.QuestionMeans.from_frame(vmap.question_means)
    expect, _ = centring.apply_means(new_emb, means.lookup(new["question_id"]), means)
    np.testing.assert_allclose(placement.embeddings, expect, rtol=1e-5, atol=1e-6)
    updated = add_layer(vmap, placement, data_dir=data_dir)
    assert updated.question_means is not None
    assert store.load_map("planted", data_dir=data_dir, verify=True).question_means is not None


def test_placing_only_unknown_questions_on_a_centred_map_is_refused(centred_map):
    vmap, _, _, qas, emb = centred_map
    new = qas.iloc[:3].assign(question_id=["u1", "u2", "u3"], question=["New one?", "New two?", "New three?"])
    with pytest.raises(QAInputError, match="none of the 3 new QAs answers a question"):
        place_on_map(vmap, new.drop(columns=["value_id"]), layer="x", embeddings=emb[:3])
