"""maps.build: build a map from real QAs, precomputed embeddings, progress, the demo map.

The small ValueBench map (40 questions x 6 models, conftest ``vb_map``) is built once per session and
shared with test_placement.py; UMAP is compiled once per process (numba cache makes later runs quick).
"""
from __future__ import annotations

import numpy as np
import pytest

from univar_core.data.schema import QAInputError
from univar_core.encoders import resolve
from univar_core.maps import build, store

from valuebench import N_BUILD_QUESTIONS, random_unit, small_table


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


# ----------------------------------------------------------------------------------------------------
# precomputed embeddings: used bit for bit, no encoder ever loaded


def test_precomputed_parquet_embedding_column_is_kept_bit_for_bit(vb_files, data_dir, no_encoder, tmp_path):
    table = small_table(vb_files, 30)
    emb = random_unit(len(table), 16, seed=1)
    path = tmp_path / "pre.parquet"
    table.assign(embedding=list(emb)).to_parquet(path, index=False)
    vmap, report = build.build_map(path, "pre", encoder_name="my-model", data_dir=data_dir)
    stored = store.load_map("pre", data_dir=data_dir)
    assert np.asarray(stored.embeddings).dtype == np.float32
    assert np.array_equal(np.asarray(stored.embeddings), emb)
    assert stored.manifest["encoder"] == {"name": "my-model", "content_hash": "precomputed", "dim": 16,
                                         "trust_remote_code": False}
    assert stored.manifest["embedding"]["precomputed"] is True
    assert report.n_accepted == 30


def test_precomputed_npy_aligned_with_input_rows_skips_the_same_rows(vb_files, data_dir, no_encoder, tmp_path):
    table = small_table(vb_files, 30)
    table.loc[4, "answer"] = ""  # skipped by validation: its vector must be dropped with it
    emb = random_unit(len(table), 16, seed=2)
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
    table = small_table(vb_files, 12)
    with pytest.raises(QAInputError, match="11 rows but the input has 12 data rows"):
        build.build_map(table, "bad", embeddings=random_unit(11, 8, 3), data_dir=data_dir)
    nan = random_unit(12, 8, 3)
    nan[6, 2] = np.nan
    with pytest.raises(QAInputError, match="row 7: precomputed embeddings contain NaN"):
        build.build_map(table, "bad", embeddings=nan, data_dir=data_dir)
    assert not (data_dir / "bad").exists()


def test_too_few_qas_for_a_map_is_a_clear_error(vb_files, data_dir, no_encoder):
    table = small_table(vb_files, 3)
    with pytest.raises(QAInputError, match="at least 5 QAs"):
        build.build_map(table, "tiny", embeddings=random_unit(3, 8, 5), data_dir=data_dir)


# ----------------------------------------------------------------------------------------------------
# progress and the demo map


def test_progress_reports_every_stage_in_order(vb_files, data_dir, no_encoder):
    table = small_table(vb_files, 20)
    calls = []
    build.build_map(table, "prog", embeddings=random_unit(20, 8, 6), encoder_name="m",
                       data_dir=data_dir, progress=lambda stage, done, total: calls.append((stage, done, total)))
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages == ["embed", "project", "cluster", "store"]
    for stage in stages:
        last = [c for c in calls if c[0] == stage][-1]
        assert last[1] == last[2]


def test_a_question_centred_map_records_its_encoders_backend_and_the_build_stages(vb_files, data_dir, minilm):
    """Centring once dropped the encoder's record: the manifest lost its backend, so QAs placed on the
    map (and lens prototypes) were embedded with torch whatever backend had made its vectors."""
    vmap, _ = build.build_map(small_table(vb_files, 30), "centred", encoder=minilm, data_dir=data_dir,
                              centre_questions=True)
    assert vmap.manifest["encoder"]["backend"] == minilm.backend == "torch"
    assert vmap.manifest["encoder"]["dim"] == 384 and build.is_centred(vmap.manifest)
    timings = vmap.manifest["timings_s"]
    assert {"read_validate", "encoder_load", "embed", "project", "cluster"} <= set(timings)
    assert timings["encoder_load"] < 1.0   # an encoder object is used as it is: nothing to load


def test_ensure_demo_map_builds_once_then_opens_the_stored_map(vb_files, data_dir, minilm, monkeypatch):
    from univar_core.data import demo

    # A small stand-in corpus keeps this test fast; build_demo_map's own wiring is what is tested.
    monkeypatch.setattr(demo, "demo_qas", lambda *a, **k: small_table(vb_files, 30))
    monkeypatch.setattr(resolve, "load_encoder", lambda *a, **k: minilm)
    first = build.ensure_demo_map(data_dir=data_dir)
    assert first.name == "demo" and len(first.qas) == 30

    def refuse(**kwargs):
        raise AssertionError("the demo map was rebuilt although it is stored")

    monkeypatch.setattr(build, "build_demo_map", refuse)
    again = build.ensure_demo_map(data_dir=data_dir)
    assert again.manifest["files"] == first.manifest["files"]


def test_first_launch_builds_a_question_centred_demo_value_map_and_the_plain_one(vb_files, data_dir, minilm,
                                                                                  monkeypatch):
    """The app opens demo-values (values, not topics); uploads of new questions go on the plain demo."""
    from univar_core.data import demo

    monkeypatch.setattr(demo, "demo_qas", lambda *a, **k: small_table(vb_files, 30))
    monkeypatch.setattr(resolve, "load_encoder", lambda *a, **k: minilm)
    values, plain = build.ensure_demo_maps(data_dir=data_dir)
    assert (values.name, plain.name) == ("demo-values", "demo")
    assert build.is_centred(values.manifest) and not build.is_centred(plain.manifest)

    monkeypatch.setattr(build, "build_demo_map", lambda **kw: pytest.fail("rebuilt although stored"))
    assert [m.name for m in build.ensure_demo_maps(data_dir=data_dir)] == ["demo-values", "demo"]
