"""pipeline: build a map from real QAs, place held-out QAs, add a layer, precomputed embeddings.

One small ValueBench map (40 questions x 6 models) is built once per module and reused; UMAP is
compiled once per process (numba cache in .cache/numba makes later runs quick).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from univar_core.data.schema import QAInputError
from univar_core.encoders import sentence_encoder
from univar_core.maps import build, store
from univar_core.maps.placement import (
    add_layer,
    check_new_layer,
    own_value_id_fraction,
    place_on_map,
)

N_BUILD_QUESTIONS = 40
N_HELDOUT_QUESTIONS = 20


def _valuebench_split(shared_data) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two question-disjoint subsets of ValueBench (all 6 models each), chosen by a fixed seed.
    Questions are picked by distinct text: 282 texts repeat under two question_ids."""
    raw = pd.read_csv(shared_data / "valuebench_qa" / "qa.csv")
    texts = raw.drop_duplicates("question_id")["question"].drop_duplicates()
    rng = np.random.default_rng(7)
    chosen = rng.choice(texts.to_numpy(), N_BUILD_QUESTIONS + N_HELDOUT_QUESTIONS, replace=False)
    build_q, held_q = set(chosen[:N_BUILD_QUESTIONS]), set(chosen[N_BUILD_QUESTIONS:])
    first_id = raw.drop_duplicates("question").set_index("question")["question_id"]
    keep_ids = lambda qs: raw["question_id"].isin(first_id[list(qs)])  # noqa: E731
    return raw[keep_ids(build_q)].reset_index(drop=True), raw[keep_ids(held_q)].reset_index(drop=True)


@pytest.fixture(scope="module")
def vb_files(shared_data, tmp_path_factory):
    build_df, held_df = _valuebench_split(shared_data)
    # Planted problems the report must count: one empty answer, one exact duplicate row.
    bad = build_df.iloc[[0, 1]].copy()
    bad.iloc[0, bad.columns.get_loc("answer")] = "   "
    build_df = pd.concat([build_df, bad], ignore_index=True)
    folder = tmp_path_factory.mktemp("vb")
    build_csv, held_csv = folder / "vb_build.csv", folder / "vb_heldout.csv"
    build_df.to_csv(build_csv, index=False)
    held_df.to_csv(held_csv, index=False)
    return build_csv, held_csv, len(build_df), len(held_df)


@pytest.fixture(scope="module")
def vb_map(vb_files, minilm, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("maps")
    vmap, report = build.build_map(vb_files[0], "vb", encoder=minilm, data_dir=data_dir)
    return vmap, report, data_dir


@pytest.fixture(scope="module")
def heldout(vb_files, vb_map, minilm):
    """The held-out QAs placed on the module's map (embedded once, shared by the tests below)."""
    return place_on_map(vb_map[0], vb_files[1], layer="heldout", encoder=minilm)


def test_build_keeps_every_accepted_row_and_reports_skips(vb_files, vb_map, minilm):
    vmap, report, data_dir = vb_map
    n_input = vb_files[2]
    assert report.n_input_rows == n_input
    assert len(report.skipped) == 2
    assert len(vmap.qas) == n_input - len(report.skipped) == N_BUILD_QUESTIONS * 6
    assert vmap.embeddings.shape == (len(vmap.qas), 384)
    assert set(vmap.qas["layer"]) == {"base"}
    assert {"x", "y", "cluster", "cluster_label"} <= set(vmap.qas.columns)
    assert vmap.qas["value_id"].nunique() == 6
    validation = vmap.manifest["validation"]
    assert validation["n_input"] == n_input and validation["n_skipped"] == 2
    assert validation["n_skipped_by_reason"] == {"duplicate": 1, "empty answer": 1}
    assert vmap.manifest["encoder"]["content_hash"] == minilm.content_hash
    stored = store.load_map("vb", data_dir=data_dir)
    np.testing.assert_array_equal(stored.qas[["x", "y"]].to_numpy(), vmap.qas[["x", "y"]].to_numpy())
    np.testing.assert_array_equal(np.asarray(stored.embeddings), vmap.embeddings)


def test_place_heldout_qas_nearest_their_own_model(vb_files, vb_map, heldout):
    vmap, _, _ = vb_map
    placement = heldout
    assert len(placement.qas) == vb_files[3] == N_HELDOUT_QUESTIONS * 6
    nearest = placement.nearest
    assert list(nearest.columns) == ["value_id", "similarity", "share_nearest", "rank"]
    assert sorted(nearest["value_id"]) == sorted(vmap.qas["value_id"].unique())
    assert list(nearest["rank"]) == [1, 2, 3, 4, 5, 6]
    assert nearest["similarity"].is_monotonic_decreasing
    assert nearest["share_nearest"].sum() == pytest.approx(1.0)
    own = own_value_id_fraction(placement)
    print(f"\nheld-out QAs nearest to their own model's centroid: {own:.3f} (chance 1/6 = 0.167)")
    # MiniLM encodes topic more than values, and these are unseen questions: well above chance is
    # what it can do (measured 0.325 on this seed).
    assert own > 0.25
    # each placed QA takes the cluster of a map point, and lands inside the map's extent
    assert set(placement.qas["cluster"]) <= set(vmap.qas["cluster"])
    lo, hi = vmap.qas[["x", "y"]].min().to_numpy(), vmap.qas[["x", "y"]].max().to_numpy()
    xy = placement.qas[["x", "y"]].to_numpy()
    assert ((xy >= lo - 1e-4) & (xy <= hi + 1e-4)).all()


def test_add_layer_keeps_existing_points_and_refuses_a_second_layer_of_that_name(vb_map, heldout):
    vmap, _, data_dir = vb_map
    base_xy = vmap.qas[["x", "y"]].to_numpy().copy()
    placement = heldout
    updated = add_layer(vmap, placement, data_dir=data_dir)
    stored = store.load_map("vb", data_dir=data_dir)
    assert len(stored.qas) == len(vmap.qas) + len(placement.qas)
    base = stored.qas[stored.qas["layer"] == "base"]
    np.testing.assert_array_equal(base[["x", "y"]].to_numpy(), base_xy)
    layer = stored.qas[stored.qas["layer"] == "heldout"]
    assert layer["qa_id"].str.startswith("heldout:").all()
    assert stored.qas["qa_id"].is_unique
    np.testing.assert_array_equal(np.asarray(stored.embeddings)[len(vmap.qas):], placement.embeddings)
    assert stored.manifest["layer_validation"]["heldout"]["n_accepted"] == len(placement.qas)
    assert stored.layers == ["base", "heldout"]
    with pytest.raises(QAInputError, match="already has a layer named 'heldout'"):
        add_layer(updated, placement, data_dir=data_dir)
    with pytest.raises(QAInputError, match="already has a layer named 'base'"):  # the map's own QAs
        check_new_layer(vmap, "base")
    with pytest.raises(QAInputError, match="must not contain ':'"):
        check_new_layer(vmap, "a:b")
    assert len(store.load_map("vb", data_dir=data_dir).qas) == len(stored.qas)  # refusals wrote nothing


def test_place_refuses_embeddings_of_the_wrong_dimension(vb_files, vb_map):
    vmap, _, _ = vb_map
    wrong = np.ones((vb_files[3], 12), dtype=np.float32)
    with pytest.raises(QAInputError, match="dimension 12 but map 'vb' has 384"):
        place_on_map(vmap, vb_files[1], layer="x", embeddings=wrong)


def test_place_refuses_an_encoder_other_than_the_maps(vb_files, vb_map):
    vmap, _, _ = vb_map

    class OtherEncoder:
        name, content_hash, dim = "other", "0" * 16, 384

    with pytest.raises(QAInputError, match="is not the encoder map 'vb' was built with"):
        place_on_map(vmap, vb_files[1], layer="x", encoder=OtherEncoder())


# ----------------------------------------------------------------------------------------------------
# precomputed embeddings: used bit for bit, no encoder ever loaded


@pytest.fixture()
def no_encoder(monkeypatch):
    """Any attempt to load an encoder fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("an encoder was loaded for precomputed embeddings")

    monkeypatch.setattr(sentence_encoder, "Encoder", refuse)
    monkeypatch.setattr(sentence_encoder, "load_encoder", refuse)


def _small_table(vb_files, n: int) -> pd.DataFrame:
    return pd.read_csv(vb_files[1]).iloc[:n].reset_index(drop=True)


def _random_unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_precomputed_parquet_embedding_column_is_kept_bit_for_bit(vb_files, data_dir, no_encoder, tmp_path):
    table = _small_table(vb_files, 30)
    emb = _random_unit(len(table), 16, seed=1)
    path = tmp_path / "pre.parquet"
    table.assign(embedding=list(emb)).to_parquet(path, index=False)
    vmap, report = build.build_map(path, "pre", encoder_name="my-model", data_dir=data_dir)
    stored = store.load_map("pre", data_dir=data_dir)
    assert np.asarray(stored.embeddings).dtype == np.float32
    assert np.array_equal(np.asarray(stored.embeddings), emb)
    assert stored.manifest["encoder"] == {"name": "my-model", "content_hash": "precomputed", "dim": 16}
    assert stored.manifest["embedding"]["precomputed"] is True
    assert report.n_accepted == 30


def test_precomputed_npy_aligned_with_input_rows_skips_the_same_rows(vb_files, data_dir, no_encoder, tmp_path):
    table = _small_table(vb_files, 30)
    table.loc[4, "answer"] = ""  # skipped by validation: its vector must be dropped with it
    emb = _random_unit(len(table), 16, seed=2)
    csv, npy = tmp_path / "pre.csv", tmp_path / "pre.npy"
    table.to_csv(csv, index=False)
    np.save(npy, emb)
    vmap, report = build.build_map(csv, "pre2", embeddings=npy, encoder_name="m", data_dir=data_dir)
    assert [s.row for s in report.skipped] == [5]
    stored = store.load_map("pre2", data_dir=data_dir)
    assert np.array_equal(np.asarray(stored.embeddings), np.delete(emb, 4, axis=0))
    assert np.asarray(stored.embeddings).dtype == np.float32
    # a DataFrame source with an in-memory array takes the same path
    vmap_df, _ = build.build_map(table, "pre3", embeddings=emb, encoder_name="m", data_dir=data_dir)
    assert np.array_equal(vmap_df.embeddings, np.delete(emb, 4, axis=0))


def test_precomputed_embeddings_with_the_wrong_row_count_are_refused(vb_files, data_dir, no_encoder, tmp_path):
    table = _small_table(vb_files, 12)
    with pytest.raises(QAInputError, match="11 rows but the input has 12 data rows"):
        build.build_map(table, "bad", embeddings=_random_unit(11, 8, 3), data_dir=data_dir)
    nan = _random_unit(12, 8, 3)
    nan[6, 2] = np.nan
    with pytest.raises(QAInputError, match="row 7, column 'embedding'"):
        build.build_map(table, "bad", embeddings=nan, data_dir=data_dir)
    assert not (data_dir / "bad").exists()


def test_placing_on_a_precomputed_map_needs_embeddings_or_an_encoder(vb_files, data_dir, no_encoder):
    table = _small_table(vb_files, 24)
    emb = _random_unit(len(table), 64, seed=4)
    vmap, _ = build.build_map(table, "pre4", embeddings=emb, encoder_name="ext", data_dir=data_dir)
    with pytest.raises(QAInputError, match="built from precomputed embeddings"):
        place_on_map(vmap, table.iloc[:6], layer="new")
    placement = place_on_map(vmap, table.iloc[:6], layer="new", embeddings=emb[:6])
    # a QA placed with its own map vector sits exactly on its own point's value ID and cluster
    assert (placement.qas["nearest_value_id"] == table["model"].iloc[:6] + "$eng").all()
    np.testing.assert_array_equal(placement.qas["cluster"].to_numpy(), vmap.qas["cluster"].to_numpy()[:6])


def test_too_few_qas_for_a_map_is_a_clear_error(vb_files, data_dir, no_encoder):
    table = _small_table(vb_files, 3)
    with pytest.raises(QAInputError, match="at least 5 QAs"):
        build.build_map(table, "tiny", embeddings=_random_unit(3, 8, 5), data_dir=data_dir)


# ----------------------------------------------------------------------------------------------------
# progress and the demo map


def test_progress_reports_every_stage_in_order(vb_files, data_dir, no_encoder):
    table = _small_table(vb_files, 20)
    calls = []
    build.build_map(table, "prog", embeddings=_random_unit(20, 8, 6), encoder_name="m",
                       data_dir=data_dir, progress=lambda stage, done, total: calls.append((stage, done, total)))
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages == ["embed", "project", "cluster", "store"]
    for stage in stages:
        last = [c for c in calls if c[0] == stage][-1]
        assert last[1] == last[2]


def test_ensure_demo_map_builds_once_then_opens_the_stored_map(vb_files, data_dir, minilm, monkeypatch):
    from univar_core.data import demo

    # A small stand-in corpus keeps this test fast; build_demo_map's own wiring is what is tested.
    monkeypatch.setattr(demo, "demo_qas", lambda *a, **k: _small_table(vb_files, 30))
    monkeypatch.setattr(sentence_encoder, "load_encoder", lambda *a, **k: minilm)
    first = build.ensure_demo_map(data_dir=data_dir)
    assert first.name == "demo" and len(first.qas) == 30

    def refuse(**kwargs):
        raise AssertionError("the demo map was rebuilt although it is stored")

    monkeypatch.setattr(build, "build_demo_map", refuse)
    again = build.ensure_demo_map(data_dir=data_dir)
    assert again.manifest["files"] == first.manifest["files"]
