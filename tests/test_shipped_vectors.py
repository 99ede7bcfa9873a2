"""encoders.shipped: the demo's vectors shipped in assets/demo_vectors.npz (a first launch loads no model)."""
from __future__ import annotations

import numpy as np

from univar_core.data.demo import demo_qas
from univar_core.encoders import shipped


def test_every_demo_qa_is_shipped_and_equals_the_default_encoders_vector():
    """Fails when the demo texts or the default model change without `univar demo --write-vectors`."""
    from univar_core.encoders.resolve import load_encoder_cached

    vectors = shipped.shipped_demo_encoder()
    assert vectors is not None, "assets/demo_vectors.npz is missing or not the installed model's: " \
                                "run `univar demo --write-vectors`"
    table = demo_qas()
    assert all(shipped.qa_key(q, a) in vectors._rows for q, a in zip(table["question"], table["answer"]))
    sample = table.sample(n=48, random_state=0)
    got = vectors.encode_qas(sample["question"].tolist(), sample["answer"].tolist())
    assert got.n_from_cache == 48
    real = load_encoder_cached(vectors.name, backend=shipped.BACKEND)
    assert real.content_hash == vectors.content_hash
    want = real.encode_qas(sample["question"].tolist(), sample["answer"].tolist()).embeddings
    assert np.abs(got.embeddings - want).max() <= 1e-4


def test_vectors_of_another_model_are_not_used(monkeypatch):
    monkeypatch.setattr(shipped, "default_model_hash", lambda: "0123456789abcdef")
    assert shipped.shipped_demo_encoder() is None


def test_a_qa_the_file_lacks_is_embedded_by_the_real_encoder(monkeypatch):
    vectors = shipped.ShippedVectors()
    asked = []

    class Real:
        def encode_qas(self, questions, answers, *, progress=None):
            asked.append(list(questions))
            return "embedded by the model"

    monkeypatch.setattr(vectors, "_real", lambda: Real())
    table = demo_qas().head(3)
    questions = table["question"].tolist() + ["A question the demo never asks?"]
    answers = table["answer"].tolist() + ["An answer."]
    assert vectors.encode_qas(questions, answers) == "embedded by the model"
    assert asked == [questions]   # the whole batch, so its rows stay in one encoder's space


def test_the_demo_map_is_built_from_the_shipped_vectors_without_loading_a_model(tmp_path, monkeypatch):
    from univar_core.encoders import resolve
    from univar_core.maps import build

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded for the demo")

    monkeypatch.setattr(resolve, "load_encoder_cached", no_model)
    monkeypatch.setattr(resolve, "load_encoder", no_model)
    vmap = build.build_demo_map(data_dir=tmp_path, centre_questions=True)
    record = vmap.manifest["encoder"]
    assert record["name"] == "all-MiniLM-L6-v2" and record["backend"] == shipped.BACKEND
    assert record["content_hash"] == shipped.default_model_hash()   # placing on it loads that same model
    assert "demo_vectors.npz" in record["backend_note"]


def test_without_the_file_there_is_nothing_shipped(tmp_path):
    assert shipped.shipped_demo_encoder(tmp_path / "demo_vectors.npz") is None
