"""Map folders: round trip, atomic replace, damage / foreign detection, listing, names, data dir."""
from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from univar_core.maps import store
from univar_core.maps.store import (
    MapError,
    ValueMap,
    delete_map,
    list_maps,
    load_map,
    save_map,
)


def make_map(name: str = "m1", n: int = 12, d: int = 8, seed: int = 0, layer: str = "base") -> ValueMap:
    rng = np.random.default_rng(seed)
    models = ["gpt-x", "llama-y", "qwen-z"]
    langs = ["eng", "ind"]
    model = [models[i % 3] for i in range(n)]
    lang = [langs[i % 2] for i in range(n)]
    qas = pd.DataFrame({
        "qa_id": [f"ds:{i}" for i in range(n)],
        "dataset": ["ds"] * n,
        "model": model,
        "lang": lang,
        "value_id": [f"{m}${la}" for m, la in zip(model, lang)],
        "question_id": [f"q{i // 3}" for i in range(n)],
        "question": [f"Question {i}?" for i in range(n)],
        "answer": [f"<b>Answer</b> {i} — ünïcode" for i in range(n)],
        "source_note": [f"extra {i}" for i in range(n)],          # an extra column the source had
        "x": rng.normal(size=n), "y": rng.normal(size=n),
        "cluster": rng.integers(-1, 3, size=n), "cluster_label": ["kw"] * n,
        "layer": [layer] * n,
    })
    emb = rng.normal(size=(n, d)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    manifest = {"encoder": {"name": "test-encoder", "content_hash": "abc123"},
                "projection": {"method": "umap", "n_neighbors": 15, "min_dist": 0.1, "metric": "cosine",
                               "random_state": 42},
                "build": {"source": "unit test", "n_skipped": np.int64(2)}}   # caller's extra keys
    return ValueMap(name=name, qas=qas, embeddings=emb, manifest=manifest)


def test_round_trip_is_exact(data_dir):
    vmap = make_map()
    path = save_map(vmap)
    assert path == data_dir / "m1" and vmap.path == path
    loaded = load_map("m1")
    pd.testing.assert_frame_equal(loaded.qas, vmap.qas.reset_index(drop=True))
    assert loaded.embeddings.dtype == np.float32
    assert isinstance(loaded.embeddings, np.memmap)
    assert loaded.embeddings.tobytes() == vmap.embeddings.tobytes()
    m = loaded.manifest
    assert m["format"] == "univar-map" and m["format_version"] == 1 and m["name"] == "m1"
    assert m["encoder"] == {"name": "test-encoder", "content_hash": "abc123", "dim": 8}
    assert m["counts"] == {"n_qas": 12, "n_value_ids": 6, "n_models": 3, "n_langs": 2, "n_datasets": 1}
    assert m["layers"] == ["base"] and m["seed"] == 42
    assert m["build"] == {"source": "unit test", "n_skipped": 2}
    assert set(m["versions"]) >= {"univar_core", "numpy", "pandas", "umap-learn", "sentence-transformers", "torch"}
    assert len(m["files"]["qas.parquet"]["sha256"]) == 64
    assert m["created"].endswith("+00:00")
    # load by path gives the same map
    assert load_map(path).qas.equals(loaded.qas)


def test_resave_keeps_created_and_replaces_content(data_dir):
    save_map(make_map())
    first = load_map("m1")
    second = make_map(n=20, seed=1, layer="upload")
    second.manifest["created"] = first.manifest["created"]
    save_map(second)
    again = load_map("m1")
    assert len(again.qas) == 20 and again.manifest["layers"] == ["upload"]
    assert again.manifest["created"] == first.manifest["created"]
    assert sorted(p.name for p in data_dir.iterdir() if p.name != store.LOCKS_DIR) == ["m1"]  # no temp/old folders left


def test_crash_during_save_leaves_previous_map(data_dir, monkeypatch):
    save_map(make_map())
    before = load_map("m1")

    def exploding_write(emb, path):
        path.write_bytes(b"partial")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(store, "_write_embeddings", exploding_write)
    with pytest.raises(OSError, match="disk full"):
        save_map(make_map(n=30, seed=5))
    assert sorted(p.name for p in data_dir.iterdir() if p.name != store.LOCKS_DIR) == ["m1"]
    after = load_map("m1", verify="full")
    pd.testing.assert_frame_equal(after.qas, before.qas)
    assert np.array_equal(after.embeddings, before.embeddings)


def test_crash_between_renames_is_recovered(data_dir, monkeypatch):
    save_map(make_map())
    real_rename = os.rename
    calls = []

    def rename_then_die(src, dst):
        calls.append((src, dst))
        real_rename(src, dst)
        if len(calls) == 1:  # the old map was moved aside; the process "dies" before moving the new one in
            raise KeyboardInterrupt

    monkeypatch.setattr(store.os, "rename", rename_then_die)
    with pytest.raises(KeyboardInterrupt):
        save_map(make_map(n=30, seed=5))
    monkeypatch.setattr(store.os, "rename", real_rename)
    assert len(load_map("m1").qas) == 12
    assert not any(p.name.startswith(".tmp-") for p in data_dir.iterdir())


def test_old_folder_left_by_a_killed_process_is_restored(data_dir):
    save_map(make_map())
    os.rename(data_dir / "m1", data_dir / ".old-m1-0123abcd")  # what a SIGKILL mid-swap leaves
    assert len(load_map("m1").qas) == 12
    assert (data_dir / "m1").is_dir()


def test_damaged_file_is_reported_with_checksum(data_dir):
    save_map(make_map())
    emb_path = data_dir / "m1" / "embeddings.npy"
    raw = bytearray(emb_path.read_bytes())
    raw[-1] ^= 0xFF  # flip bits in the last float, same size
    emb_path.write_bytes(bytes(raw))
    with pytest.raises(MapError, match=r"damaged: embeddings.npy checksum mismatch: expected [0-9a-f]{64} got"):
        load_map("m1", verify="full")
    # quick verification checks only size and header for the (large) embeddings file
    assert len(load_map("m1", verify="quick").qas) == 12
    qas_path = data_dir / "m1" / "qas.parquet"
    raw = bytearray(qas_path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    qas_path.write_bytes(bytes(raw))
    with pytest.raises(MapError, match="qas.parquet checksum"):
        load_map("m1", verify="quick")


def test_truncated_and_missing_files(data_dir):
    save_map(make_map())
    emb_path = data_dir / "m1" / "embeddings.npy"
    emb_path.write_bytes(emb_path.read_bytes()[:-8])
    with pytest.raises(MapError, match="embeddings.npy size expected"):
        load_map("m1", verify=False)
    emb_path.unlink()
    with pytest.raises(MapError, match="missing file embeddings.npy"):
        load_map("m1")


def test_row_count_mismatch(data_dir):
    save_map(make_map())
    folder = data_dir / "m1"
    np.save(folder / "embeddings.npy", np.zeros((5, 8), dtype=np.float32))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["embeddings.npy"].update(bytes=(folder / "embeddings.npy").stat().st_size, shape=[5, 8])
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(MapError, match="row-count mismatch"):
        load_map("m1", verify=False)


def test_table_without_map_columns(data_dir):
    save_map(make_map())
    qas_path = data_dir / "m1" / "qas.parquet"
    pd.read_parquet(qas_path).drop(columns=["x"]).to_parquet(qas_path, index=False)
    with pytest.raises(MapError, match="qas.parquet size expected"):
        load_map("m1", verify="quick")
    # a manifest that matches the edited file (a hand-made map) still gets a clear error
    manifest_path = data_dir / "m1" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["qas.parquet"] = {"sha256": store.sha256_file(qas_path), "bytes": qas_path.stat().st_size}
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(MapError, match=r"lacks the map column\(s\) \['x'\]"):
        load_map("m1", verify="full")


def test_foreign_and_unsupported_folders(data_dir):
    (data_dir / "photos").mkdir()
    (data_dir / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(MapError, match="foreign folder"):
        load_map("photos")
    (data_dir / "other").mkdir()
    (data_dir / "other" / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(MapError, match="foreign folder"):
        load_map("other")
    save_map(make_map("future"))
    manifest_path = data_dir / "future" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(MapError, match="unsupported map format_version 99"):
        load_map("future")
    with pytest.raises(MapError, match="no such map folder"):
        load_map("absent")
    with pytest.raises(MapError, match="refusing to delete"):
        delete_map("photos")
    assert (data_dir / "photos" / "cat.jpg").exists()


@pytest.mark.parametrize("bad", ["", "../evil", "a/b", ".hidden", "a b", "x" * 101, "naïve"])
def test_bad_names_are_rejected(data_dir, bad):
    with pytest.raises(MapError, match="invalid map name"):
        save_map(make_map(name=bad))
    assert list(data_dir.iterdir()) == []


def test_list_maps_reports_damaged_without_crashing(data_dir):
    save_map(make_map("alpha"))
    save_map(make_map("beta", n=6))
    (data_dir / "beta" / "qas.parquet").unlink()
    (data_dir / ".tmp-gamma-deadbeef").mkdir()  # a save in progress elsewhere: not listed
    rows = list_maps()
    assert [r["name"] for r in rows] == ["alpha", "beta"]
    alpha, beta = rows
    assert alpha["error"] is None and alpha["n_qas"] == 12 and alpha["n_value_ids"] == 6
    assert alpha["encoder"] == "test-encoder" and alpha["layers"] == ["base"] and alpha["created"]
    assert "missing file qas.parquet" in beta["error"] and beta["n_qas"] is None


def test_delete_map(data_dir):
    save_map(make_map())
    delete_map("m1")
    assert [p for p in data_dir.iterdir() if p.name != store.LOCKS_DIR] == []
    with pytest.raises(MapError, match="no such map"):
        delete_map("m1")


def test_data_dir_from_environment_and_argument(data_dir, tmp_path):
    assert store.default_data_dir() == data_dir
    save_map(make_map())
    assert (data_dir / "m1" / "manifest.json").is_file()
    elsewhere = tmp_path / "elsewhere"
    save_map(make_map("m2"), data_dir=elsewhere)
    assert [r["name"] for r in list_maps(elsewhere)] == ["m2"]
    assert len(load_map("m2", data_dir=elsewhere).qas) == 12


def test_invalid_map_content_is_rejected_before_writing(data_dir):
    vmap = make_map()
    bad_rows = ValueMap("m1", vmap.qas, vmap.embeddings[:5], vmap.manifest)
    with pytest.raises(ValueError, match="12 QA rows but 5 embedding rows"):
        save_map(bad_rows)
    with pytest.raises(ValueError, match="float32"):
        save_map(ValueMap("m1", vmap.qas, vmap.embeddings.astype(np.float64), vmap.manifest))
    with pytest.raises(ValueError, match="map column"):
        save_map(ValueMap("m1", vmap.qas.drop(columns=["layer"]), vmap.embeddings, vmap.manifest))
    with pytest.raises(ValueError, match="encoder"):
        save_map(ValueMap("m1", vmap.qas, vmap.embeddings, {}))
    assert list(data_dir.iterdir()) == []


def test_leftovers_of_killed_processes_are_cleaned(data_dir):
    save_map(make_map())
    old_tmp = data_dir / ".tmp-m1-00000001"
    young_tmp = data_dir / ".tmp-m2-00000002"       # may be a save in progress elsewhere: kept
    finished_old = data_dir / ".old-m1-00000003"    # m1 exists again: the swap finished
    orphan_old = data_dir / ".old-gone-00000004"    # may be the only copy of map 'gone': kept
    deleted = data_dir / ".deleted-x-00000005"
    for folder in (old_tmp, young_tmp, finished_old, orphan_old, deleted):
        folder.mkdir()
        (folder / "qas.parquet").write_bytes(b"x")
    os.utime(old_tmp, (0, 0))
    removed = store.remove_stale_folders()
    assert sorted(p.name for p in removed) == sorted(p.name for p in (old_tmp, finished_old, deleted))
    assert young_tmp.exists() and orphan_old.exists()
    assert [r["name"] for r in list_maps()] == ["m1"]


def test_a_copied_map_folder_takes_its_folder_name(data_dir, tmp_path):
    import shutil

    save_map(make_map("original"))
    shutil.copytree(data_dir / "original", data_dir / "copy")
    assert [r["name"] for r in list_maps()] == ["copy", "original"]
    assert load_map("copy").name == "copy"
    odd = tmp_path / "not a valid name"
    shutil.copytree(data_dir / "original", odd)
    assert load_map(odd).name == "original"
