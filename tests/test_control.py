"""analysis/control.py: the Evaluate page's representations and the non-value control comparison,
tested with a fake encoder (no model): value QAs whose answers carry their model's stance are told
apart, generic answers are not; the drop is their difference; a precomputed map compares TF-IDF only."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from univar_core.analysis import control

MODELS = ["alpha", "beta", "gamma"]
MANIFEST = {"encoder": {"name": "fake-encoder", "content_hash": "fakehash", "dim": 8}}


class FakeEncoder:
    """A word's slot in an 8-d vector: answers that name their model ('alpha says ...') land by model."""
    name, content_hash, dim = "fake-encoder", "fakehash", 8

    def __init__(self):
        self.calls = 0

    def encode_qas(self, questions, answers, progress=None):
        self.calls += 1
        rng = np.random.default_rng(len(answers))
        out = 0.3 * rng.normal(size=(len(answers), self.dim)).astype(np.float32)
        for i, answer in enumerate(answers):
            for j, model in enumerate(MODELS):
                if model in answer:
                    out[i, j] += 1.0
        if progress:
            progress(len(answers), len(answers))
        return SimpleNamespace(embeddings=out)


def _qas(n_q: int, stance: bool) -> pd.DataFrame:
    rows = [{"model": m, "lang": "eng", "value_id": f"{m}$eng", "question_id": f"q{q}", "question": f"question {q}?",
             "answer": (f"{m} says {q}" if stance else f"generic reply {q} number {i}"), "dataset": "d"}
            for q in range(n_q) for i, m in enumerate(MODELS)]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def value_map():
    qas = _qas(30, stance=True)
    return qas, FakeEncoder().encode_qas(qas["question"], qas["answer"]).embeddings


def test_control_comparison_tells_value_from_generic_answers(value_map):
    qas, emb = value_map
    generic = _qas(30, stance=False)
    enc = FakeEncoder()
    loaded = []

    def load(name, **options):
        loaded.append(name)
        return enc

    reps = [{"label": "fake (map embeddings)", "kind": "map", "path": ""},
            {"label": "full run", "kind": "full", "path": "/runs/full"}]
    seen = []
    table = control.control_comparison(qas, emb, MANIFEST, generic, reps, load_encoder=load, k=5,
                                       progress=lambda d, t: seen.append((d, t)))
    assert set(table["representation"]) >= {"fake (map embeddings)", "full run", "TF-IDF", "chance"}
    assert loaded == ["fake-encoder", "/runs/full", "/runs/full"]     # the map's encoder embeds the control
    assert seen and seen[-1] == (len(generic), len(generic))
    assert (table["n_value_ids"] == 3).all()
    row = table.set_index("representation")
    assert row.loc["chance", "value QAs"] == pytest.approx(1 / 3) == row.loc["chance", "non-value QAs"]
    assert row.loc["fake (map embeddings)", "value QAs"] > 0.8          # the stance separates models
    assert row.loc["fake (map embeddings)", "non-value QAs"] < 0.6      # generic answers do not
    assert np.allclose(table["drop"], table["value QAs"] - table["non-value QAs"])


def test_only_shared_value_ids_are_compared(value_map):
    qas, emb = value_map
    generic = _qas(30, stance=False)
    generic = generic[generic["model"] != "gamma"]
    generic = pd.concat([generic, generic.assign(model="delta", value_id="delta$eng")], ignore_index=True)
    reps = [{"label": "map", "kind": "map", "path": ""}]
    table = control.control_comparison(qas, emb, MANIFEST, generic, reps,
                                       load_encoder=lambda n, **options: FakeEncoder(), k=5)
    assert (table["n_value_ids"] == 2).all()
    assert list(control.control_for_map(generic, qas)["value_id"].unique()) == ["alpha$eng", "beta$eng"]


def test_a_precomputed_map_compares_tfidf_only(value_map):
    qas, emb = value_map
    pre = {"encoder": {"name": "vectors", "content_hash": "precomputed", "dim": 8}}

    def load(name, **options):
        raise AssertionError("no encoder may be loaded for a precomputed map")

    table = control.control_comparison(qas, emb, pre, _qas(30, stance=False),
                                       [{"label": "map", "kind": "map", "path": ""}], load_encoder=load, k=5)
    assert "map" not in set(table["representation"]) and "TF-IDF" in set(table["representation"])
    assert not control.can_embed(pre) and control.can_embed(MANIFEST)


def test_cap_questions_keeps_the_same_questions_for_every_value_id():
    capped = control.cap_questions(_qas(30, stance=False), 10, seed=1)
    assert capped["question_id"].nunique() == 10
    per_vid = capped.groupby("value_id")["question_id"].apply(frozenset)
    assert per_vid.nunique() == 1


def test_representations_offer_fitting_heads_and_full_runs_with_leak_notes(tmp_path):
    def run(name, kind, meta=None, source_map=None, split=None):
        path = tmp_path / name
        path.mkdir()
        if meta is not None:
            (path / "head.json").write_text(json.dumps(meta))
            (path / "head.safetensors").write_bytes(b"")
        return {"name": name, "path": str(path), "kind": kind, "source_map": source_map, "split": split}

    fits = {"base": "fake-encoder", "base_content_hash": "fakehash", "in_dim": 8}
    other = {"base": "other", "base_content_hash": "otherhash", "in_dim": 8}
    runs = pd.DataFrame([run("h1", "head", fits, source_map="m"), run("h2", "head", other),
                         run("f1", "full", source_map="m", split={"by": "question_id"})])
    reps = control.representations("m", MANIFEST, runs)
    assert [r["label"] for r in reps] == ["fake-encoder (map embeddings)", "head h1", "full f1 (re-embeds the map)"]
    assert "test questions included" in reps[1]["note"] and "train side of split" in reps[2]["note"]
    assert control.representations("another-map", MANIFEST, runs)[1]["note"] == ""
