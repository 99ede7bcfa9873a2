"""Encoder backends (torch, ONNX Runtime fp32 and int8), the accuracy guard behind `auto`, caches kept apart
per backend, and every QA embedded once across `univar train` -> `univar eval` -> `univar build`.

The ONNX exports of the tiny random BERT go to a per-module folder; the real MiniLM's go to the default
folder (<repo>/.cache/onnx), so a machine exports it once.
"""
from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from univar_core import cli
from univar_core.data.demo import demo_qas
from univar_core.data.schema import QAInputError
from univar_core.encoders import onnx_backend, resolve
from univar_core.encoders.sentence_encoder import Encoder
from univar_core.maps import build

from tiny_bert import build_tiny_bert

WORDS = "q a should i help my friend family money work yes no because it is good bad the to and of you".split()
TEXTS = ["Q: should i help my friend A: yes because it is good", "Q: money A: no",
         "Q: work and family A: " + " ".join(WORDS * 6), "Q: you A: the friend of my family is good to you"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ":", "?", ".", ","] + WORDS
    return build_tiny_bert(tmp_path_factory.mktemp("tiny"), vocab, intermediate_size=37,
                           max_position_embeddings=64, max_seq_length=48)[1]


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def tiny_torch(tiny_dir):
    return Encoder(str(tiny_dir), backend="torch", cache_dir=None)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a.astype(np.float64) * b, axis=1)


def test_onnx_backends_match_torch_on_the_tiny_bert(tiny_dir, tiny_torch, onnx_dir):
    ref = tiny_torch.encode(TEXTS)
    fp32 = Encoder(str(tiny_dir), backend="onnx", cache_dir=None, onnx_dir=onnx_dir)
    int8 = Encoder(str(tiny_dir), backend="onnx-int8", cache_dir=None, onnx_dir=onnx_dir)
    assert (fp32.backend, int8.backend) == ("onnx", "onnx-int8")
    assert fp32.content_hash == int8.content_hash == tiny_torch.content_hash  # one model, three backends
    np.testing.assert_allclose(fp32.encode(TEXTS), ref, atol=1e-5)  # the same module chain, exported
    assert _cos(int8.encode(TEXTS), ref).min() > 0.95
    # exported and checked once: the guard of all backends is on disk next to the exports
    folder = onnx_dir / tiny_torch.content_hash
    assert {p.name for p in folder.iterdir()} >= {"model.onnx", "model.int8.onnx", "guard.json"}
    guard = onnx_backend.read_guard(folder)
    assert set(guard["backends"]) == {"torch", "onnx", "onnx-int8"}
    assert guard["backends"]["onnx"]["mean_cosine"] > 0.9999 and guard["backends"]["onnx"]["passed"]


def test_qa_texts_and_cut_are_the_same_on_every_backend(tiny_dir, tiny_torch, onnx_dir):
    enc = Encoder(str(tiny_dir), backend="onnx", cache_dir=None, onnx_dir=onnx_dir)
    questions, answers = ["should i help " * 30, "money"], ["yes because it is good " * 20, "no"]
    assert enc.qa_texts(questions, answers) == tiny_torch.qa_texts(questions, answers)
    np.testing.assert_allclose(enc.encode_qas(questions, answers).embeddings,
                               tiny_torch.encode_qas(questions, answers).embeddings, atol=1e-5)


def test_caches_of_two_backends_never_mix(tiny_dir, onnx_dir, tmp_path):
    torch_enc = Encoder(str(tiny_dir), backend="torch", cache_dir=tmp_path, onnx_dir=onnx_dir)
    onnx_enc = Encoder(str(tiny_dir), backend="onnx-int8", cache_dir=tmp_path, onnx_dir=onnx_dir)
    assert torch_enc.cache_key == torch_enc.content_hash  # caches made before backends stay valid
    assert onnx_enc.cache_key == f"{torch_enc.content_hash}-onnx-int8"
    torch_enc.encode_qas(["q"], ["a"])
    assert onnx_enc.encode_qas(["q"], ["a"]).n_from_cache == 0  # torch's vector is not served to int8
    assert onnx_enc.encode_qas(["q"], ["a"]).n_from_cache == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([torch_enc.cache_key, onnx_enc.cache_key])


def test_auto_picks_int8_when_it_passes_and_records_why(tiny_dir, onnx_dir):
    enc = Encoder(str(tiny_dir), backend="auto", cache_dir=None, onnx_dir=onnx_dir)
    passed = [b for b in onnx_backend.CPU_PREFERENCE if enc.backend_guard["backends"][b]["passed"]]
    assert enc.backend == (passed[0] if passed else "torch")
    record = build.encoder_record(enc)
    assert record["backend"] == enc.backend and "mean cosine" in record["backend_note"]
    assert record["backend_guard"]["backends"]["onnx"]["mean_cosine"] > 0.9999


def test_auto_falls_back_to_torch_and_says_why(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_backend, "MIN_MEAN_COSINE", 1.5)  # nothing can pass
    enc = Encoder(str(tiny_dir), backend="auto", cache_dir=None, onnx_dir=tmp_path / "strict")
    assert enc.backend == "torch" and "fallback" in enc.backend_note and "< 1.5" in enc.backend_note

    def broken_export(model, path):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(onnx_backend, "export_onnx", broken_export)
    enc = Encoder(str(tiny_dir), backend="auto", cache_dir=None, onnx_dir=tmp_path / "broken")
    assert enc.backend == "torch" and "unsupported operator" in enc.backend_note
    assert not list((tmp_path / "broken").rglob("*.onnx"))  # nothing half-written


def test_choose_takes_the_fastest_passing_backend():
    guard = {"backends": {"onnx-int8": {"passed": False, "mean_cosine": 0.95},
                          "onnx": {"passed": True, "mean_cosine": 0.99999}}}
    assert onnx_backend.choose(guard)[0] == "onnx"
    guard["backends"]["onnx-int8"] = {"passed": True, "mean_cosine": 0.995}
    assert onnx_backend.choose(guard)[0] == "onnx-int8"


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend must be one of"):
        onnx_backend.check_backend("tensorrt")
    result = CliRunner().invoke(cli.app, ["eval", "x.csv", "--backend", "tensorrt"])
    assert result.exit_code == 2 and "backend must be one of" in result.output


def test_placing_refuses_vectors_of_another_backend(tiny_torch):
    vmap = SimpleNamespace(name="m", manifest={"encoder": {"name": tiny_torch.name, "backend": "onnx-int8",
                                                           "content_hash": tiny_torch.content_hash}})
    with pytest.raises(QAInputError, match="embedded with the onnx-int8 backend"):
        resolve.encoder_for_map(vmap, None, backend="torch")
    with pytest.raises(QAInputError, match="runs on the torch backend"):
        resolve.encoder_for_map(vmap, tiny_torch)


def test_minilm_int8_stays_close_to_fp32(minilm):
    """The real MiniLM (from the wheel) through ONNX Runtime int8: the guard's threshold on a few texts."""
    enc = Encoder(backend="onnx-int8", cache_dir=None)
    texts = ["Q: Should I tell my friend the truth? A: Yes, honesty matters even when it hurts.",
             "Q: Is economic growth more important than the environment? A: Protecting nature comes first.",
             "Q: Should children obey their parents? A: Family and tradition guide good decisions."]
    cos = _cos(enc.encode(texts), minilm.encode(texts))
    assert cos.min() > 0.98 and cos.mean() >= onnx_backend.MIN_MEAN_COSINE
    assert enc.backend_guard["backends"]["onnx-int8"]["passed"]


def test_train_eval_build_embed_each_qa_once(tiny_dir, tmp_path, monkeypatch):
    """`univar train` (head) -> `univar eval` (base and head) -> `univar build` (head): one shared cache."""
    embedded: Counter = Counter()
    forward = Encoder._forward_batches

    def counting(self, texts, batches):
        for rows, vectors in forward(self, texts, batches):
            embedded.update(texts[i] for i in rows)
            yield rows, vectors

    monkeypatch.setattr(Encoder, "_forward_batches", counting)
    qas = demo_qas()
    qas = qas[qas["question_id"].isin(qas["question_id"].unique()[:12])]
    csv = tmp_path / "qas.csv"
    qas.to_csv(csv, index=False)
    env = {"UNIVAR_DATA_DIR": str(tmp_path / "maps"), "UNIVAR_CACHE_DIR": str(tmp_path / "cache"),
           "UNIVAR_BACKEND": "torch"}
    runner = CliRunner()
    head = tmp_path / "head"
    for args in (["train", csv, "--out", head, "--base", tiny_dir, "--steps", "5"],
                 ["eval", csv, "-e", tiny_dir, "-e", head, "--no-probe", "--no-tfidf", "--k", "5"],
                 ["build", csv, "--name", "m", "--encoder", head, "--n-neighbors", "5"]):
        result = runner.invoke(cli.app, [str(a) for a in args], env=env)
        assert result.exit_code == 0, result.output
    texts, _ = Encoder(str(tiny_dir), backend="torch", cache_dir=None).qa_texts(qas["question"], qas["answer"])
    assert set(embedded) == set(texts) and max(embedded.values()) == 1


def test_cli_embedding_shows_a_progress_bar(tiny_dir, tmp_path):
    qas = demo_qas()
    qas = qas[qas["question_id"].isin(qas["question_id"].unique()[:2])]
    csv = tmp_path / "qas.csv"
    qas.to_csv(csv, index=False)
    env = {"UNIVAR_CACHE_DIR": str(tmp_path / "cache"), "UNIVAR_BACKEND": "torch"}
    result = CliRunner().invoke(cli.app, ["train", str(csv), "--out", str(tmp_path / "h"), "--base", str(tiny_dir),
                                          "--steps", "2"], env=env)
    assert result.exit_code == 0, result.output
    n = len(qas)
    assert "embed: 100%" in result.output and f"{n}/{n}" in result.output
