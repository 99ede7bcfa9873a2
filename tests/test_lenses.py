"""lenses.py (ValueLex / Schwartz / MFT scoring) and culture.py (external validation)."""
from __future__ import annotations

import io
import json
import re
import zlib

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from univar_core.analysis import culture, lenses
from univar_core.data.schema import QAInputError


class BagOfWordsEncoder:
    """Deterministic stand-in encoder: a text is the normalised sum of fixed random word vectors."""

    dim = 64

    def _word(self, w: str) -> np.ndarray:
        return np.random.default_rng(zlib.crc32(w.encode())).normal(size=self.dim)

    def encode(self, texts, progress=None):
        out = []
        for t in texts:
            v = sum((self._word(w) for w in re.findall(r"[a-z]+", t.lower())), np.zeros(self.dim))
            out.append(v / (np.linalg.norm(v) or 1.0))
        return np.asarray(out, dtype=np.float32)


@pytest.fixture(scope="module")
def bow():
    return BagOfWordsEncoder()


@pytest.mark.parametrize("name", lenses.LENS_NAMES)
def test_builtin_lenses_have_unique_names_and_descriptors(name):
    lens = lenses.get_lens(name)
    names = lens.dimension_names + lens.subdimension_names
    assert len(names) == len(set(names))
    assert all(s.descriptors for d in lens.dimensions for s in d.subdimensions)
    assert len(lens.describe()) == len(lens.subdimension_names)


def test_valuelex_follows_the_paper_and_alternatives_have_their_sizes():
    lex = lenses.get_lens("valuelex")
    assert lex.dimension_names == ["Competence", "Character", "Integrity"]
    assert lex.subdimension_names == ["Self-Competent", "User-Oriented", "Social", "Idealistic",
                                      "Professional", "Ethical"]
    idealistic = lex.dimensions[1].subdimensions[1]
    assert idealistic.words == ("altruism", "patriotism", "environmentalism", "freedom")
    assert len(lenses.get_lens("schwartz").subdimension_names) == 10
    assert lenses.get_lens("mft").subdimension_names == ["Care", "Fairness", "Loyalty", "Authority", "Sanctity"]
    with pytest.raises(ValueError, match="unknown lens"):
        lenses.get_lens("nope")


def test_prototypes_are_unit_rows_with_neutral_last(bow):
    names, matrix = lenses.lens_prototypes(bow, "valuelex")
    assert names[-1] == lenses.NEUTRAL and names[0] == "Competence / Self-Competent"
    assert matrix.shape == (7, bow.dim) and matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1, rtol=1e-5)


def test_scores_follow_the_documented_formula(bow):
    protos = lenses.lens_prototypes(bow, "mft")
    emb = bow.encode(["caring for others with compassion and kindness", "obedience and duty to leaders"])
    scores = lenses.score_qas(emb, protos)
    names, matrix = protos
    expected_care = emb @ matrix[names.index("Individualizing / Care")] - emb @ matrix[-1]
    np.testing.assert_allclose(scores["Care"], expected_care, rtol=1e-5)
    np.testing.assert_allclose(scores["Binding"], scores[["Loyalty", "Authority", "Sanctity"]].mean(axis=1))
    assert lenses.dimension_columns(protos) == (["Individualizing", "Binding"],
                                                ["Care", "Fairness", "Loyalty", "Authority", "Sanctity"])
    # the planted direction: the caring answer scores higher on Care, the obedient one on Authority
    assert scores.loc[0, "Care"] > scores.loc[1, "Care"]
    assert scores.loc[1, "Authority"] > scores.loc[0, "Authority"]
    with pytest.raises(ValueError, match="map's encoder"):
        lenses.score_qas(np.ones((2, 5), np.float32), protos)


def _scored_table(bow):
    answers = {"green$eng": ["protecting the environment and unity with nature"] * 3 + ["a world at peace"],
               "grey$eng": ["wealth and control over people and resources"] * 3 + ["personal success"]}
    rows = [{"qa_id": f"{v}:{i}", "value_id": v, "question": f"q{i}", "answer": a}
            for v, ans in answers.items() for i, a in enumerate(ans)]
    qas = pd.DataFrame(rows)
    emb = bow.encode(qas["answer"])
    return qas, lenses.score_qas(emb, lenses.lens_prototypes(bow, "schwartz"))


def test_value_id_scores_have_intervals_and_planted_order(bow):
    qas, scores = _scored_table(bow)
    summary = lenses.score_value_ids(qas, scores, n_boot=100, seed=1)
    assert set(summary.columns) == {"value_id", "score", "mean", "lo", "hi", "n"}
    assert len(summary) == 2 * scores.shape[1]
    assert (summary["lo"] <= summary["mean"] + 1e-12).all() and (summary["mean"] <= summary["hi"] + 1e-12).all()
    uni = summary[summary["score"] == "Universalism"].set_index("value_id")["mean"]
    power = summary[summary["score"] == "Power"].set_index("value_id")["mean"]
    assert uni["green$eng"] > uni["grey$eng"] and power["grey$eng"] > power["green$eng"]
    np.testing.assert_allclose(uni["green$eng"], scores["Universalism"][:4].mean())


def test_top_driving_qas_are_the_highest_scoring(bow):
    qas, scores = _scored_table(bow)
    top = lenses.top_driving_qas(qas, scores, "green$eng", "Universalism", n=2)
    assert list(top.columns) == ["row", "qa_id", "question", "answer", "score", "contribution"]
    assert top["score"].is_monotonic_decreasing and len(top) == 2
    assert top["score"].iloc[0] == pytest.approx(scores.loc[0:3, "Universalism"].max())
    assert top["contribution"].iloc[0] == pytest.approx(top["score"].iloc[0] / 4)
    low = lenses.top_driving_qas(qas, scores, "green$eng", "Universalism", n=1, lowest=True)
    assert low["score"].iloc[0] == pytest.approx(scores.loc[0:3, "Universalism"].min())
    with pytest.raises(ValueError, match="no score 'Kindness'"):
        lenses.top_driving_qas(qas, scores, "green$eng", "Kindness")


def test_descriptor_prototypes_score_each_word(bow):
    protos = lenses.descriptor_prototypes(bow, "valuelex")
    assert protos[0][0] == "Self-Competent / accuracy" and protos[0][-1] == lenses.NEUTRAL
    scores = lenses.score_qas(bow.encode(["environmentalism matters", "be friendly"]), protos)
    assert {"environmentalism", "patriotism", "Idealistic"} <= set(scores.columns)
    np.testing.assert_allclose(scores["Social"], scores[["friendliness", "empathy"]].mean(axis=1))
    assert scores.loc[0, "environmentalism"] > scores.loc[1, "environmentalism"]


def test_user_lens_file_loads_and_bad_files_name_the_field(tmp_path, bow):
    good = {"name": "tiny", "dimensions": [{"name": "Nature", "subdimensions": [
        {"name": "Green", "descriptors": ["protecting nature"]}, {"name": "Growth", "descriptors": ["profit"]}]}]}
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(good))
    lens = lenses.load_lens(path)
    assert lens.subdimension_names == ["Green", "Growth"]
    assert lenses.score_qas(bow.encode(["x"]), lenses.lens_prototypes(bow, lens)).columns.tolist() == \
        ["Green", "Growth", "Nature"]
    bad = {"name": "bad", "dimensions": [{"name": "Nature", "subdimensions": [{"name": "Green"}]}]}
    path.write_text(json.dumps(bad))
    with pytest.raises(QAInputError, match=r"tiny.json, column 'descriptors'"):
        lenses.load_lens(path)
    path.write_text("{not json")
    with pytest.raises(QAInputError, match="tiny.json: cannot read"):
        lenses.load_lens(path)


def test_demo_pro_environment_value_ids_score_higher_on_universalism(minilm):
    """The demo plants an environment-vs-growth stance per value ID. On that dimension's questions,
    every pro-environment value ID scores higher on Schwartz Universalism (whose descriptors include
    protecting the environment and unity with nature) than every pro-growth one. ValueLex Idealistic
    does not separate them with MiniLM: it mixes environmentalism with patriotism and freedom."""
    from univar_core.data.demo import VALUE_ID_STANCES, demo_qas

    qas = demo_qas()
    qas = qas[qas["dimension"] == "environment_vs_growth"].reset_index(drop=True)
    emb = minilm.encode_qas(qas["question"].tolist(), qas["answer"].tolist()).embeddings
    scores = lenses.score_qas(emb, lenses.lens_prototypes(minilm, "schwartz"))
    summary = lenses.score_value_ids(qas, scores, n_boot=50)
    universalism = summary[summary["score"] == "Universalism"].set_index("value_id")["mean"]
    stance = {v: s["environment_vs_growth"] for v, s in VALUE_ID_STANCES.items()}
    pro = [universalism[v] for v in universalism.index if stance[v] == -1]
    growth = [universalism[v] for v in universalism.index if stance[v] == 1]
    assert pro and growth and min(pro) > max(growth)
    # one level down, ValueLex's own word does move with the stance (patriotism, in the same
    # subdimension, moves the other way, which is why Idealistic as a whole does not)
    words = lenses.score_qas(emb, lenses.descriptor_prototypes(minilm, "valuelex"))
    env_stance = qas["stance"].astype(int).to_numpy()
    assert words["environmentalism"][env_stance == -1].mean() > words["environmentalism"][env_stance == 1].mean()


@pytest.mark.shared_data
def test_real_mfq_items_score_highest_on_their_own_foundation(shared_data, minilm):
    """ValueBench keeps the inventory value of each item: GPT-4's answers to Moral Foundations
    Questionnaire items (58 QAs) must score highest, relative to the other foundations, on their own
    foundation (scores z-scored per foundation over these QAs, so each column is comparable)."""
    raw = pd.read_csv(shared_data / "valuebench_qa" / "qa.csv")
    foundation = {"Care": "Care", "Fairness": "Fairness", "Loyalty": "Loyalty", "Authority": "Authority",
                  "Purity": "Sanctity"}
    qas = raw[raw["value"].isin(foundation) & (raw["model"] == "gpt-4-1106-preview")].reset_index(drop=True)
    assert 50 <= len(qas) <= 70
    emb = minilm.encode_qas(qas["question"].tolist(), qas["answer"].tolist()).embeddings
    scores = lenses.score_qas(emb, lenses.lens_prototypes(minilm, "mft"))[list(set(foundation.values()))]
    z = (scores - scores.mean()) / scores.std()
    by_item = z.groupby(qas["value"].map(foundation).to_numpy()).mean()
    assert {item: by_item.loc[item].idxmax() for item in by_item.index} == {f: f for f in by_item.index}


# --- culture.py ---------------------------------------------------------------------------------
def test_example_cultural_map_is_labelled_and_loads():
    text = culture.EXAMPLE_CULTURAL_MAP.read_text()
    assert "EXAMPLE, NOT REAL DATA" in text.splitlines()[0]
    table = culture.load_cultural_map(culture.EXAMPLE_CULTURAL_MAP)
    assert list(table.columns) == ["country", "traditional_secular", "survival_self_expression"]


def test_rank_correlation_on_a_hand_made_case_equals_scipy():
    cmap = culture.load_cultural_map(io.StringIO("# comment\ncountry,x,y\nA,0,0\nB,1,0\nC,0,3\nD,4,4\n"),
                                     name="hand.csv")
    mapping = pd.DataFrame({"lang": ["aaa", "bbb", "ccc", "ddd", "ddd"], "country": ["A", "B", "C", "D", "B"]})
    human = culture.human_distance_matrix(cmap, mapping)
    assert human.loc["ddd", "aaa"] == pytest.approx(np.hypot(2.5, 2))  # ddd: mean of D and B
    labels = ["aaa", "bbb", "ccc", "ddd"]
    model = pd.DataFrame([[0, .1, .5, .3], [.1, 0, .2, .9], [.5, .2, 0, .4], [.3, .9, .4, 0]],
                         index=labels, columns=labels)
    result = culture.rank_correlation(model, human)
    iu = np.triu_indices(4, k=1)
    expected = spearmanr(model.to_numpy()[iu], human.to_numpy()[iu])
    assert result["rho"] == pytest.approx(expected.statistic)
    assert result["p_value"] == pytest.approx(expected.pvalue)
    assert result["n_pairs"] == 6 and result["labels"] == labels
    # Mantel: 4 labels have 24 relabellings; the identity one always counts, so p >= 1/24-ish
    mantel = culture.rank_correlation(model, human, n_perm=500, seed=0)["mantel_p"]
    assert 0 < mantel <= 1
    same = culture.rank_correlation(human, human, n_perm=500, seed=0)
    assert same["rho"] == pytest.approx(1) and same["mantel_p"] < 0.1


def test_culture_errors_name_file_row_and_column():
    with pytest.raises(QAInputError, match=r"m.csv, row 2, column 'x': not a number"):
        culture.load_cultural_map(io.StringIO("country,x\nA,1\nB,high\n"), name="m.csv", coordinates=["x"])
    with pytest.raises(QAInputError, match=r"column 'country'"):
        culture.load_cultural_map(pd.DataFrame({"nation": ["A"], "x": [1.0]}))
    with pytest.raises(QAInputError, match="row 2, column 'country': country 'A' appears twice"):
        culture.load_cultural_map(pd.DataFrame({"country": ["A", "A"], "x": [1.0, 2.0]}))
    cmap = culture.load_cultural_map(pd.DataFrame({"country": ["A", "B"], "x": [0.0, 1.0]}))
    with pytest.raises(QAInputError, match="no country given for language"):
        culture.human_distance_matrix(cmap, culture.default_lang_country(["xyz"]))
    with pytest.raises(QAInputError, match=r"row 2, column 'country': country 'Z'"):
        culture.human_distance_matrix(cmap, pd.DataFrame({"lang": ["a", "b"], "country": ["A", "Z"]}))
    assert culture.default_lang_country(["jpn", "eng"])["country"].tolist() == ["United States", "Japan"]


def test_example_cultural_map_covers_every_default_language_country():
    # the demo's 'ind' -> Indonesia once made the section fail out of the box
    cmap = culture.load_cultural_map(culture.EXAMPLE_CULTURAL_MAP)
    langs = sorted(culture.DEFAULT_LANG_COUNTRY)
    human = culture.human_distance_matrix(cmap, culture.default_lang_country(langs), langs=langs)
    assert list(human.index) == langs
