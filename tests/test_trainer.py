"""The multi-view InfoNCE trainer: sampling, loss, head mode, full fine-tuning, save/reload, lock, resume."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from univar_core.data.schema import QAInputError
from univar_core.encoders.head import HeadEncoder
from univar_core.training.run_folder import (
    LOCK_NAME,
    RunLock,
    TrainingLockedError,
    read_loss_log,
    read_status,
)
from univar_core.training.trainer import ViewSampler, multiview_infonce, train_encoder

from tiny_bert import build_tiny_bert

WORDS = ("the a is to of and i should you it be yes no help people value answer question life family work "
         "money honest freedom duty rules fun").split()


@pytest.fixture(scope="module")
def tiny_st(tmp_path_factory):
    """A tiny random BERT sentence-transformer (hidden 32, 2 layers, word-level vocab) built locally."""
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789:?.,$")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(WORDS) + chars + ["##" + c for c in chars]
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), vocab, intermediate_size=64,
                           max_position_embeddings=128, max_seq_length=64)[1]


def _planted(n_value_ids=6, per=120, dim=24, seed=0):
    """Embeddings = a shared topic per question (large) + a small value-ID direction: base k-NN is hard."""
    rng = np.random.default_rng(seed)
    value_dirs = rng.normal(size=(n_value_ids, dim))
    topics = rng.normal(size=(per, dim)) * 2.0
    X = np.concatenate([topics + value_dirs[v] for v in range(n_value_ids)]).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    qas = pd.DataFrame({"value_id": [f"m{v}$eng" for v in range(n_value_ids) for _ in range(per)],
                        "question": [f"q {i}" for _ in range(n_value_ids) for i in range(per)],
                        "answer": [f"m{v} says {i}" for v in range(n_value_ids) for i in range(per)]})
    return qas, X


def _text_qas(n_value_ids=3, per=12):
    rng = np.random.default_rng(1)
    rows = []
    for v in range(n_value_ids):
        for _ in range(per):
            words = " ".join(rng.choice(WORDS, size=6))
            rows.append({"value_id": f"m{v}$eng", "question": f"should i {words}?",
                         "answer": f"{WORDS[v]} {WORDS[v + 5]} {words}"})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ sampling / loss

def test_view_sampler_gives_disjoint_views_of_one_value_id():
    labels = np.repeat(np.arange(4), [50, 7, 3, 20])   # value ID 2 has only 3 QAs: k must be 1
    sampler = ViewSampler(labels, lam=5, rng=np.random.default_rng(0))
    for _ in range(30):
        cls, idx, mask = sampler.sample(np.arange(4), pairs_per_class=4)
        assert cls.tolist() == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4
        for p in range(len(cls)):
            a, b = idx[p, 0][mask[p, 0]], idx[p, 1][mask[p, 1]]
            assert 1 <= len(a) <= 5 and 1 <= len(b) <= 5
            assert not set(a) & set(b) and len(set(a)) == len(a) and len(set(b)) == len(b)
            assert (labels[a] == cls[p]).all() and (labels[b] == cls[p]).all()
        assert mask[cls == 2].sum(-1).max() == 1


def test_view_sizes_cover_one_to_lambda():
    sampler = ViewSampler(np.repeat(np.arange(2), 100), lam=4, rng=np.random.default_rng(0))
    _, _, mask = sampler.sample(np.arange(2), pairs_per_class=200)
    assert set(mask.sum(-1).ravel().tolist()) == {1, 2, 3, 4}


def test_infonce_with_one_pair_per_value_id_is_clip_loss():
    torch.manual_seed(0)
    a, b = F.normalize(torch.randn(5, 8), dim=1), F.normalize(torch.randn(5, 8), dim=1)
    logits = 10 * a @ b.T
    expected = (F.cross_entropy(logits, torch.arange(5)) + F.cross_entropy(logits.T, torch.arange(5))) / 2
    assert torch.allclose(multiview_infonce(a, b, torch.arange(5), 10.0), expected)


def test_infonce_treats_same_value_id_views_as_positives():
    a = F.normalize(torch.tensor([[1.0, 0], [1, 0], [0, 1]]), dim=1)
    labels = torch.tensor([0, 0, 1])
    # perfect grouping: the loss equals the entropy of the uniform target over 2 positives (log 2) for
    # the rows of value ID 0 when the scale is large; the row of value ID 1 contributes 0
    loss = multiview_infonce(a, a, labels, 100.0)
    assert loss.item() == pytest.approx(2 / 3 * np.log(2), abs=1e-4)


# ------------------------------------------------------------------------------------ head mode

def test_head_loss_falls_on_planted_value_ids(tmp_path):
    qas, X = _planted()
    seen = []
    result = train_encoder(qas, embeddings=X, base="planted", out_dir=tmp_path, steps=150, seed=0,
                           checkpoint_every=1000, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (150, 150) and len(seen) == 150
    first, last = np.mean(result.losses[:15]), np.mean(result.losses[-15:])
    assert last < first - 0.25, (first, last)   # seeded run: 3.71 -> 3.32 (floor log(16) = 2.77)
    log = read_loss_log(tmp_path)
    assert list(log.columns) == ["step", "loss", "lr", "elapsed"] and log["step"].iloc[-1] == 150
    status = read_status(tmp_path)
    assert status["state"] == "done" and status["config"]["lam"] == 5 and status["config"]["logit_scale"] == 20.0
    assert (tmp_path / LOCK_NAME).read_text() == ""  # the lock is released: no holder recorded
    # the head pulls QAs of one value ID together: leave-one-out 1-NN improves over the raw features
    head = HeadEncoder(None, _load_head_module(tmp_path), json.loads((tmp_path / "head.json").read_text())["config"])
    assert _nn_accuracy(head.transform(X), qas["value_id"].to_numpy()) > _nn_accuracy(X, qas["value_id"].to_numpy())


def _load_head_module(path):
    from safetensors.torch import load_file

    from univar_core.encoders.head import make_head

    meta = json.loads((path / "head.json").read_text())
    head = make_head(meta["in_dim"], meta["config"]["hidden_dim"], meta["config"]["out_dim"])
    head.load_state_dict(load_file(str(path / "head.safetensors")))
    return head


def _nn_accuracy(X, y):
    sims = X @ X.T
    np.fill_diagonal(sims, -np.inf)
    return float(np.mean(y[sims.argmax(1)] == y))


def test_training_input_errors_name_the_column(tmp_path):
    qas, X = _planted(n_value_ids=2, per=5)
    with pytest.raises(QAInputError, match="'value_id'"):
        train_encoder(qas.drop(columns=["value_id"]), embeddings=X, out_dir=tmp_path)
    with pytest.raises(QAInputError, match="at least 2 value IDs"):
        train_encoder(qas.assign(value_id="one$eng"), embeddings=X, out_dir=tmp_path)
    with pytest.raises(ValueError, match="embeddings must be"):
        train_encoder(qas, embeddings=X[:3], base="x", out_dir=tmp_path, steps=2)
    with pytest.raises(ValueError, match="mode"):
        train_encoder(qas, embeddings=X, mode="bogus", out_dir=tmp_path)


def test_saved_head_reloads_and_embeds_identically(tmp_path, tiny_st):
    from univar_core.encoders.resolve import load_encoder
    from univar_core.encoders.sentence_encoder import SentenceEncoder

    base = SentenceEncoder(str(tiny_st), device="cpu")
    qas = _text_qas()
    base_emb = base.encode_qas(qas["question"].tolist(), qas["answer"].tolist()).embeddings
    train_encoder(qas, base=base, embeddings=base_emb, out_dir=tmp_path / "head", steps=20, seed=0)
    meta = json.loads((tmp_path / "head" / "head.json").read_text())
    assert meta["base"] == str(tiny_st) and meta["base_content_hash"] == base.content_hash
    loaded = load_encoder(str(tmp_path / "head"), device="cpu")        # through the library's loader
    assert isinstance(loaded, HeadEncoder) and loaded.dim == 256
    direct = _load_head_module(tmp_path / "head")
    with torch.no_grad():
        expected = F.normalize(direct(torch.from_numpy(base_emb)), dim=1).numpy()
    got = loaded.encode_qas(qas["question"].tolist(), qas["answer"].tolist())
    np.testing.assert_allclose(got.embeddings, expected, rtol=0, atol=1e-6)
    again = HeadEncoder.load(tmp_path / "head", base=base)
    assert again.content_hash == loaded.content_hash
    np.testing.assert_array_equal(again.transform(base_emb), loaded.transform(base_emb))
    # a head must not silently run on a different base
    meta["base_content_hash"] = "f" * 16
    (tmp_path / "head" / "head.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="content hash"):
        HeadEncoder.load(tmp_path / "head", base=base)


# ------------------------------------------------------------------------------------ full mode

def test_full_fine_tune_on_cpu_saves_a_sentence_transformer(tmp_path, tiny_st):
    from sentence_transformers import SentenceTransformer

    qas = _text_qas()
    out = tmp_path / "full"
    result = train_encoder(qas, mode="full", base=str(tiny_st), lam=2, steps=4, batch_pairs=6,
                           micro_batch_pairs=3, out_dir=out, seed=0, device="cpu")
    assert result.steps_done == 4 and result.device == "cpu" and np.isfinite(result.losses).all()
    assert result.config.lr == 2e-4 and result.config.logit_scale == 50.0
    tuned, original = SentenceTransformer(str(out), device="cpu"), SentenceTransformer(str(tiny_st), device="cpu")
    texts = ["Q: should i be honest? A: yes"]
    assert tuned.encode(texts).shape == (1, 32)
    assert not np.allclose(tuned.encode(texts), original.encode(texts))
    assert json.loads((out / "train_config.json").read_text())["config"]["micro_batch_pairs"] == 3


def test_full_fine_tune_micro_batches_train_like_the_whole_batch(tmp_path, tiny_st):
    """Without dropout, 2 view pairs per forward pass and the whole batch in one give the same run."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_st), device="cpu")
    model[0].auto_model.config.hidden_dropout_prob = 0.0
    model[0].auto_model.config.attention_probs_dropout_prob = 0.0
    model.save(str(tmp_path / "no_dropout"))
    kw = dict(mode="full", base=str(tmp_path / "no_dropout"), lam=2, steps=3, batch_pairs=6, seed=0,
              device="cpu", log_every=1)
    whole = train_encoder(_text_qas(), out_dir=tmp_path / "whole", **kw)
    micro = train_encoder(_text_qas(), out_dir=tmp_path / "micro", micro_batch_pairs=2, **kw)
    assert whole.config.micro_batch_pairs is None
    assert micro.losses == pytest.approx(whole.losses, rel=1e-4)
    assert read_loss_log(tmp_path / "micro")["step"].tolist() == [1, 2, 3]


# ------------------------------------------------------------------------------------ lock / resume

def test_lock_refuses_a_second_run_and_stale_lock_is_taken_over(tmp_path):
    qas, X = _planted(n_value_ids=2, per=10)
    with RunLock(tmp_path, print):  # a live run in this process
        with pytest.raises(TrainingLockedError, match=f"pid {os.getpid()}"):
            train_encoder(qas, embeddings=X, base="x", out_dir=tmp_path, steps=2)
    # a live run in another process, then that process killed: the OS frees its lock, its record remains
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from univar_core.training.run_folder import RunLock; "
         "lock = RunLock(__import__('pathlib').Path(sys.argv[1]), print).__enter__(); print('held', flush=True); "
         "time.sleep(600)", str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TrainingLockedError, match=f"pid {holder.pid} on host {socket.gethostname()}"):
            train_encoder(qas, embeddings=X, base="x", out_dir=tmp_path, steps=2)
    finally:
        holder.kill()
        holder.wait()
    messages = []
    train_encoder(qas, embeddings=X, base="x", out_dir=tmp_path, steps=2, log=messages.append)
    assert any("stale lock" in m and str(holder.pid) in m for m in messages)
    assert (tmp_path / LOCK_NAME).read_text() == ""  # released: no holder recorded


class _Interrupt(Exception):
    pass


def test_resume_continues_from_checkpoint_and_matches_an_uninterrupted_run(tmp_path):
    qas, X = _planted(n_value_ids=3, per=30)
    kw = dict(embeddings=X, base="x", steps=20, checkpoint_every=10, log_every=1, seed=5)
    full = train_encoder(qas, out_dir=tmp_path / "straight", **kw)

    def stop_at_13(done, total):
        if done == 13:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train_encoder(qas, out_dir=tmp_path / "resumed", progress=stop_at_13, **kw)
    assert read_status(tmp_path / "resumed")["state"] == "failed"
    resumed = train_encoder(qas, out_dir=tmp_path / "resumed", resume=True, **kw)
    assert resumed.resumed_from == 10 and len(resumed.losses) == 10
    assert resumed.losses == pytest.approx(full.losses[10:], abs=1e-5)
    np.testing.assert_allclose(_load_head_module(tmp_path / "resumed")[0].weight.detach().numpy(),
                               _load_head_module(tmp_path / "straight")[0].weight.detach().numpy(), atol=1e-6)
    log = read_loss_log(tmp_path / "resumed")
    assert log["step"].tolist() == list(range(1, 21))     # rows past the checkpoint were replaced


def test_full_mode_on_cpu_passes_at_most_32_pairs_at_a_time(tmp_path, tiny_st):
    messages = []
    train_encoder(_text_qas(n_value_ids=3, per=40), mode="full", base=str(tiny_st), lam=1, steps=1,
                  batch_pairs=48, out_dir=tmp_path, device="cpu", log=messages.append)
    assert any("3 value IDs x 16 pairs per step, 32 pairs per forward pass" in m for m in messages), messages
