"""Encoding on a Ray cluster (encoders.ray_encode) with a local two-actor cluster and a tiny model: the same
vectors as one process, each in its own row, written to the embedding cache that a later build reads.

One cluster for the module (starting Ray costs seconds); the actors load the tiny model from its folder.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from univar_core import cli
from univar_core.encoders.ray_encode import RayOptions, connect, encode_to_cache, encoder_spec, plan
from univar_core.encoders.sentence_encoder import SentenceEncoder
from univar_core.maps import store

from tiny_bert import build_tiny_bert

WORDS = ("should i help my friend neighbour family money work yes no because it is good bad the a to and of "
         "you we they always never maybe honest truth lie value").split()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ":", "?", ".", ",", "q", "a"] + WORDS
    vocab += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + list("0123456789")
    return str(build_tiny_bert(tmp_path_factory.mktemp("tiny_ray"), vocab, intermediate_size=37,
                               max_position_embeddings=64, max_seq_length=48)[1])


@pytest.fixture(scope="module")
def cluster():
    from univar_core.encoders.ray_encode import _ray

    ray = _ray()                       # the project's one way in to Ray (it keeps Ray's hands off print)
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield
    finally:
        ray.shutdown()


def _qas(n_questions: int = 16, n_models: int = 3) -> pd.DataFrame:
    """Every model answers every question; answers of many lengths (some cut to the token limit), and the
    same answer text under two models (one cache entry, two rows)."""
    rng = np.random.default_rng(0)
    rows = []
    for q in range(n_questions):
        question = " ".join(rng.choice(WORDS, size=int(rng.integers(3, 12)))) + f" {q} ?"
        for m in range(n_models):
            answer = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 60)))) + f" {q}"
            if m == 2 and q % 4 == 0:
                answer = rows[-1]["answer"]
            rows.append({"model": f"m{m}", "lang": "eng", "question": question, "answer": answer})
    return pd.DataFrame(rows)


def test_pool_is_one_actor_per_gpu_else_per_cpu_and_checks_the_size():
    assert plan({"CPU": 2.0}).workers == 2 and plan({"CPU": 2.0}).gpus_per_worker == 0
    gpus = plan({"CPU": 16.0, "GPU": 4.0})
    assert (gpus.workers, gpus.gpus_per_worker) == (4, 1.0)
    assert gpus.backend("auto") == "torch" and gpus.backend(None) == "torch" and gpus.backend("onnx") == "onnx"
    assert plan({"CPU": 2.0}).backend(None) is None
    with pytest.raises(ValueError, match="GPU"):
        plan({"CPU": 16.0, "GPU": 2.0}, workers=3)


def test_actors_load_the_same_encoder_with_the_options_given(tiny_model):
    spec = encoder_spec(SentenceEncoder(tiny_model, cache_dir=None, batch_size=8, tokenise_workers=0))
    assert spec["name"] == tiny_model and len(spec["content_hash"]) == 16
    # the backend as resolved here (not "auto", which could pick another one on a worker); no cache there
    assert spec["options"] == {"backend": "torch", "cache_dir": None, "batch_size": 8, "tokenise_workers": 0}


def test_ray_vectors_equal_one_process_in_row_order_and_fill_the_cache(cluster, tiny_model, tmp_path):
    qas = _qas()
    questions, answers = qas["question"].tolist(), qas["answer"].tolist()
    reference = SentenceEncoder(tiny_model, cache_dir=None, batch_size=8).encode_qas(questions, answers)

    pool = connect(RayOptions(workers=2))
    assert (pool.workers, pool.gpus_per_worker) == (2, 0.0)
    encoder = SentenceEncoder(tiny_model, cache_dir=tmp_path, batch_size=8)
    run = encode_to_cache(encoder, questions, answers, pool)
    texts = encoder.qa_texts(questions, answers)[0]
    assert len(set(texts)) < len(texts)  # a repeated text is embedded once, and fills both rows
    assert run.n_texts == run.n_encoded == len(qas)
    assert 1 <= run.n_workers_used <= 2
    assert run.n_truncated == reference.n_truncated > 0

    # every row from the cache, in input order: each vector went back to its own row's text
    again = encoder.encode_qas(questions, answers)
    assert again.n_from_cache == len(qas)
    assert np.abs(again.embeddings - reference.embeddings).max() <= 1e-5


def test_build_on_ray_then_a_plain_build_reads_its_cache(cluster, tiny_model, tmp_path):
    csv = tmp_path / "qa.csv"
    qas = _qas()
    qas.to_csv(csv, index=False)
    env = {"UNIVAR_DATA_DIR": str(tmp_path / "maps"), "UNIVAR_CACHE_DIR": str(tmp_path / "cache")}
    runner = CliRunner()
    common = ["--encoder", tiny_model, "--n-neighbors", "5"]
    on_ray = runner.invoke(cli.app, ["build", str(csv), "--name", "onray", *common, "--ray", "--workers", "2"],
                           env=env)
    assert on_ray.exit_code == 0, on_ray.output
    assert "Ray worker(s)" in on_ray.output
    first = store.load_map("onray", data_dir=env["UNIVAR_DATA_DIR"])
    ray_run = first.manifest["embedding"]["ray"]
    assert ray_run["workers"] == 2 and ray_run["n_encoded"] == len(qas)
    assert first.manifest["embedding"]["n_from_cache"] == 0  # the cluster embedded them all

    plain = runner.invoke(cli.app, ["build", str(csv), "--name", "plain", *common], env=env)
    assert plain.exit_code == 0, plain.output
    second = store.load_map("plain", data_dir=env["UNIVAR_DATA_DIR"])
    assert second.manifest["embedding"]["n_from_cache"] == len(qas)  # nothing embedded again
    assert "ray" not in second.manifest["embedding"]
    np.testing.assert_array_equal(np.asarray(first.embeddings), np.asarray(second.embeddings))



def test_placing_on_ray_counts_the_clusters_vectors_as_embedded_not_from_cache(cluster, tiny_model, tmp_path,
                                                                                monkeypatch):
    """place_on_map with ray reported every QA the cluster had just embedded as read from the cache (the
    build path subtracted the cluster's count, placement did not)."""
    from univar_core.maps.placement import place_on_map

    qas = _qas()
    csv = tmp_path / "qa.csv"
    qas.to_csv(csv, index=False)
    monkeypatch.setenv("UNIVAR_CACHE_DIR", str(tmp_path / "cache"))
    env = {"UNIVAR_DATA_DIR": str(tmp_path / "maps"), "UNIVAR_CACHE_DIR": str(tmp_path / "cache")}
    built = CliRunner().invoke(cli.app, ["build", str(csv), "--name", "base", "--encoder", tiny_model,
                                         "--n-neighbors", "5"], env=env)
    assert built.exit_code == 0, built.output
    new = pd.DataFrame({"model": "newcomer", "lang": "eng", "question": [f"should we {w} ?" for w in WORDS[:4]],
                        "answer": [f"we {w} because it is good" for w in WORDS[4:8]]})   # none in the cache
    placement = place_on_map(store.load_map("base", data_dir=env["UNIVAR_DATA_DIR"]), new, layer="new",
                             ray=RayOptions(workers=2))
    assert placement.n_from_cache == 0          # all of them embedded by the cluster just now


@pytest.mark.parametrize("command", [["build", "x.csv", "--name", "m"],
                                     ["rebuild", "m", "--name", "n", "--encoder", "e"], ["eval", "x.csv"]])
def test_ray_options_need_ray(command):
    for extra in (["--workers", "2"], ["--ray-address", "head:6379"]):
        result = CliRunner().invoke(cli.app, [*command, *extra])
        assert result.exit_code == 2 and "go with --ray" in result.output, result.output


def test_ray_leaves_print_alone_so_numba_can_still_compile_in_this_process(cluster):
    """Ray's progress-bar manager (ray.experimental.tqdm_ray) replaces builtins.print with a Python function
    unless RAY_TQDM_PATCH_PRINT=0. numba then cannot type `print` in anything it compiles later in the
    process: pynndescent and UMAP failed with "Untyped global name 'print'" in the test run after this
    module, as a build after Ray would on a machine whose numba cache is cold."""
    import builtins
    import types

    import numba
    from ray.experimental import tqdm_ray

    connect(RayOptions(workers=2))         # what a --ray build does first
    tqdm_ray.instance()                    # the bar manager, as Ray Data and ray.shutdown create it
    assert isinstance(builtins.print, types.BuiltinFunctionType)

    @numba.njit
    def count_up(x):
        if x < 0:
            print("negative", x)
        return x + 1

    assert count_up(1) == 2
