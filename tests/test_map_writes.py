"""Writes go back to the folder a map was opened from, concurrent writers take turns and each adds to
the map as stored, names are checked before any work, and `list` restores a map a killed save left
as .old-<name>. Maps here hold random unit vectors (precomputed), so no encoder or UMAP is needed."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from univar_core import cli
from univar_core.data.schema import validate_qas
from univar_core.maps import build, placement, store
from univar_core.maps.store import MapError, ValueMap

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
DIM = 8


def _unit(n: int, seed: int) -> np.ndarray:
    emb = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def _qas(n: int, model: str, seed: int = 0) -> pd.DataFrame:
    raw = pd.DataFrame({"question": [f"Question {seed}-{i}?" for i in range(n)],
                        "answer": [f"Answer {seed}-{i}." for i in range(n)],
                        "model": [model] * n, "lang": ["eng"] * n})
    return validate_qas(raw, source=f"{model}.csv")[0]


def _save(folder_or_dir: Path, name: str, seed: int, *, folder: bool = False) -> ValueMap:
    qas = _qas(12, f"m{seed}", seed)
    qas = qas.assign(x=np.arange(12, dtype=np.float32), y=np.zeros(12, np.float32), cluster=0,
                     cluster_label="c", layer="base")
    vmap = ValueMap(name=name, qas=qas, embeddings=_unit(12, seed),
                    manifest={"encoder": {"name": "pre", "content_hash": "precomputed"}})
    if folder:
        store.save_map(vmap, folder=folder_or_dir)
    else:
        store.save_map(vmap, data_dir=folder_or_dir)
    return vmap


def _new_layer_file(tmp_path: Path, name: str, seed: int) -> Path:
    """A parquet of new QAs with an 'embedding' column (placed without loading an encoder)."""
    qas = _qas(4, "new", seed)[["question", "answer", "model", "lang"]]
    qas["embedding"] = list(_unit(4, seed + 100))
    path = tmp_path / f"{name}.parquet"
    qas.to_parquet(path)
    return path


# ---------------------------------------------------------------- 1. a map is its folder
def test_place_with_a_map_folder_writes_back_to_that_folder(data_dir, tmp_path):
    other = tmp_path / "elsewhere" / "base"
    _save(other, "base", seed=1, folder=True)
    _save(data_dir, "base", seed=2)                     # a namesake in the data directory
    namesake = (data_dir / "base" / store.MANIFEST_FILE).read_bytes()
    new = _new_layer_file(tmp_path, "ext", 3)
    result = runner.invoke(cli.app, ["place", str(new), "--map", str(other), "--layer", "ext"])
    assert result.exit_code == 0, result.output
    assert f"-> {other}" in result.output
    assert "ext" in store.load_map(other).layers
    assert (data_dir / "base" / store.MANIFEST_FILE).read_bytes() == namesake   # untouched


def test_keeping_a_layer_on_a_map_whose_folder_name_differs_from_its_name(data_dir, tmp_path):
    """The Upload page's "keep" (placement.add_layer on the open map) for ?map=my map é, manifest 'base'."""
    odd = data_dir / "my map é"
    _save(odd, "base", seed=1, folder=True)
    vmap = store.load_map(odd)
    assert vmap.path == odd
    placed = placement.place_on_map(vmap, _new_layer_file(tmp_path, "up", 4), layer="up")
    updated = placement.add_layer(vmap, placed)
    assert updated.path == odd and "up" in store.load_map(odd).layers
    assert not (data_dir / "base").exists()


# ---------------------------------------------------------------- 2. concurrent writers
def test_two_writers_of_one_map_both_keep_their_layer(data_dir, tmp_path):
    """Both placed on the same version of the map; the second must add to what the first stored."""
    _save(data_dir, "pl", seed=1)
    seen_by_a, seen_by_b = store.load_map("pl"), store.load_map("pl")
    a = placement.place_on_map(seen_by_a, _new_layer_file(tmp_path, "a", 5), layer="a")
    b = placement.place_on_map(seen_by_b, _new_layer_file(tmp_path, "b", 6), layer="b")
    placement.add_layer(seen_by_a, a)
    placement.add_layer(seen_by_b, b)
    final = store.load_map("pl")
    assert set(final.layers) == {"base", "a", "b"} and len(final.qas) == 12 + 4 + 4


def test_a_layer_placed_before_a_rebuild_is_refused(data_dir, tmp_path):
    _save(data_dir, "pl", seed=1)
    stale = store.load_map("pl")
    placed = placement.place_on_map(stale, _new_layer_file(tmp_path, "a", 5), layer="a")
    time.sleep(1.1)                                     # 'created' has one-second resolution
    _save(data_dir, "pl", seed=9)                       # rebuilt: other points
    with pytest.raises(MapError, match="rebuilt after these QAs were placed"):
        placement.add_layer(stale, placed)


_PLACE_SCRIPT = """
import sys, time
from univar_core.maps import placement, store
folder, layer, src, start = sys.argv[1:5]
vmap = store.load_map(folder)
placed = placement.place_on_map(vmap, src, layer=layer)
time.sleep(max(0.0, float(start) - time.time()))   # both processes write at the same moment
placement.add_layer(vmap, placed)
print("added", layer)
"""


def test_concurrent_place_processes_both_keep_their_layer(data_dir, tmp_path):
    _save(data_dir, "pl", seed=1)
    start = time.time() + 8
    procs = [subprocess.Popen([sys.executable, "-c", _PLACE_SCRIPT, str(data_dir / "pl"), layer,
                               str(_new_layer_file(tmp_path, layer, seed)), str(start)],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for layer, seed in (("a", 5), ("b", 6))]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert set(store.load_map(data_dir / "pl").layers) == {"base", "a", "b"}


def test_concurrent_saves_of_one_name_take_turns(data_dir, monkeypatch):
    """Two builds of one name finishing together: both succeed, the map is one of them, whole."""
    real = store._write_folder

    def slow(*args, **kwargs):
        out = real(*args, **kwargs)
        time.sleep(0.3)                                 # widen the window between writing and swapping
        return out

    monkeypatch.setattr(store, "_write_folder", slow)
    errors: list[BaseException] = []

    def save(seed):
        try:
            _save(data_dir, "same", seed=seed)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=save, args=(seed,)) for seed in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    final = store.load_map("same", data_dir=data_dir)
    assert final.qas["model"].iloc[0] in {"m1", "m2", "m3"}
    assert [p.name for p in data_dir.iterdir() if p.name != store.LOCKS_DIR] == ["same"]


# ---------------------------------------------------------------- smaller ones
def test_a_bad_map_name_is_refused_before_any_work(data_dir, tmp_path, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("the input was read before the name was checked")

    monkeypatch.setattr(build, "load_source", no_work)
    with pytest.raises(MapError, match="invalid map name"):
        build.build_map(tmp_path / "x.csv", "../evil")
    csv = tmp_path / "qa.csv"
    csv.write_text("question,answer,model,lang\nq,a,m,eng\n", encoding="utf-8")
    result = runner.invoke(cli.app, ["build", str(csv), "--name", "../evil", "--batch-size", "8"])
    assert result.exit_code == 2 and "invalid map name '../evil'" in result.output
    assert not list(data_dir.iterdir())


def test_list_restores_a_map_left_only_as_old(data_dir):
    _save(data_dir, "kept", seed=1)
    (data_dir / "kept").rename(data_dir / ".old-kept-0123abcd")
    assert [m["name"] for m in store.list_maps(data_dir)] == ["kept"]
    assert store.load_map("kept", data_dir=data_dir).n_qas == 12
