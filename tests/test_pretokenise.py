"""The pre-tokenising feed (encoders.pretokenise), run on the CPU: batches are tokenised in worker processes,
come back in order, and an encoder using it gives SentenceTransformer.encode's vectors in input order."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from univar_core.encoders import pretokenise
from univar_core.encoders.sentence_encoder import SentenceEncoder

from tiny_bert import build_tiny_bert

WORDS = ("should i help my friend neighbour family money work yes no because it is good bad the a to and of "
         "you we they always never maybe honest truth lie value").split()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ":", "?", ".", ","] + WORDS
    vocab += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + list("0123456789")
    return str(build_tiny_bert(tmp_path_factory.mktemp("tiny_feed"), vocab, intermediate_size=37,
                               max_position_embeddings=64, max_seq_length=48)[1])


def test_batches_are_tokenised_in_worker_processes_and_come_back_in_order():
    def preprocess(texts):  # runs in a worker: says which one
        return {"x": torch.tensor([[float(t)] for t in texts]), "pid": torch.tensor(os.getpid())}

    pids: list[int] = []

    def embed(features):
        pids.append(int(features["pid"]))
        return features["x"] * 2

    texts = [str(i) for i in range(12)]
    batches = [np.arange(s, s + 3) for s in range(0, 12, 3)]
    out = list(pretokenise.embed_batches(preprocess, embed, texts, batches, device="cpu", workers=2))
    assert [rows.tolist() for rows, _ in out] == [b.tolist() for b in batches]
    assert all(np.array_equal(vectors[:, 0], 2 * rows) for rows, vectors in out)
    assert os.getpid() not in pids and len(set(pids)) == 2


def test_default_workers_tokenise_ahead_only_on_a_gpu():
    assert pretokenise.default_workers("cpu") == 0
    assert 1 <= pretokenise.default_workers("cuda:0") <= pretokenise.MAX_WORKERS


def test_encoder_with_the_feed_equals_sentence_transformers_encode(tiny_model, monkeypatch):
    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 60)))) + f" {i}" for i in range(70)]
    texts.append(texts[3])  # a repeated text: one row each
    used = []
    real = pretokenise.embed_batches
    monkeypatch.setattr(pretokenise, "embed_batches", lambda *a, **k: used.append(k["workers"]) or real(*a, **k))

    encoder = SentenceEncoder(tiny_model, cache_dir=None, batch_size=8, tokenise_workers=2)
    ours = encoder.encode(texts)
    assert used == [2]  # the feed ran, with two tokenising processes
    bare = encoder.model.encode(texts, batch_size=8, normalize_embeddings=True)
    assert ours.shape == bare.shape and np.abs(ours - bare).max() <= 1e-5
    np.testing.assert_array_equal(ours[3], ours[-1])
