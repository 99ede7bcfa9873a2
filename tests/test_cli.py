"""The `univar` CLI: help, exit codes, build/place/info/list/export/demo, and a build killed mid-way.

Commands run in-process through typer's CliRunner (one UMAP compile per process), except the kill
test, which needs a real process to SIGKILL: `python -m univar_core.cli build ...`.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from univar_core import cli
from univar_core.maps import build, store

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _valuebench_rows(shared_data, n_questions: int, *, skip_questions: int = 0) -> pd.DataFrame:
    """All 6 models' answers to n_questions consecutive ValueBench questions."""
    raw = pd.read_csv(shared_data / "valuebench_qa" / "qa.csv")
    qids = raw["question_id"].drop_duplicates().iloc[skip_questions:skip_questions + n_questions]
    return raw[raw["question_id"].isin(qids)].reset_index(drop=True)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """Private map and cache folders for every command of this module."""
    root = tmp_path_factory.mktemp("cli")
    return {"UNIVAR_DATA_DIR": str(root / "maps"), "UNIVAR_CACHE_DIR": str(root / "cache")}


def invoke(args: list[str], env: dict[str, str]):
    return runner.invoke(cli.app, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def cli_files(shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_in")
    build_csv, held_csv = folder / "vb_small.csv", folder / "vb_held.csv"
    _valuebench_rows(shared_data, 20).to_csv(build_csv, index=False)
    _valuebench_rows(shared_data, 8, skip_questions=500).to_csv(held_csv, index=False)
    return build_csv, held_csv


@pytest.fixture(scope="module")
def built(cli_files, env):
    result = invoke(["build", cli_files[0], "--name", "vb", "--n-neighbors", "10"], env)
    assert result.exit_code == 0, result.output
    return store.load_map("vb", data_dir=env["UNIVAR_DATA_DIR"])


# ----------------------------------------------------------------------------------------------------
# help and errors


def test_help_teaches_every_command():
    result = runner.invoke(cli.app, ["--help"])
    assert result.exit_code == 0
    for command in ("build", "place", "info", "list", "export", "demo"):
        assert command in result.output
    for command in ("build", "place", "export"):
        sub = runner.invoke(cli.app, [command, "--help"])
        assert sub.exit_code == 0, sub.output
        assert "Examples" in sub.output and f"univar {command}" in sub.output


def test_bad_input_exits_2_naming_file_row_and_column(tmp_path, env):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"question": ["q1", "q2", "q3"], "answer": ["a", "b", "c"],
                  "model": ["m1", "m2", "m$3"], "lang": ["eng"] * 3}).to_csv(bad, index=False)
    result = invoke(["build", bad, "--name", "bad"], env)
    assert result.exit_code == 2
    assert "bad.csv, row 3, column 'model'" in result.stderr
    assert "Traceback" not in result.output
    assert not (Path(env["UNIVAR_DATA_DIR"]) / "bad").exists()

    missing = invoke(["build", tmp_path / "nope.csv", "--name", "bad"], env)
    assert missing.exit_code == 2 and "file not found" in missing.stderr
    no_map = invoke(["info", "no-such-map"], env)
    assert no_map.exit_code == 2 and "no such map folder" in no_map.stderr


def test_unexpected_failure_exits_1_without_traceback(cli_files, env, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(build, "build_map", explode)
    result = invoke(["build", cli_files[0], "--name", "x"], env)
    assert result.exit_code == 1
    assert "RuntimeError: disk on fire" in result.stderr
    assert "Traceback" not in result.output


# ----------------------------------------------------------------------------------------------------
# build, info, list, export, place


def test_build_then_info_lists_counts_per_value_id(built, env):
    assert len(built.qas) == 120 and built.qas["value_id"].nunique() == 6
    result = invoke(["info", "vb"], env)
    assert result.exit_code == 0, result.output
    assert "checksums: verified" in result.output
    for value_id, n in built.qas["value_id"].value_counts().items():
        assert re.search(rf"{re.escape(value_id)}\s+{n}\b", result.output)
    assert "n_neighbors=10" in result.output
    listing = invoke(["list"], env)
    assert listing.exit_code == 0 and "vb" in listing.output


def test_export_csv_and_parquet_with_coordinates(built, env, tmp_path):
    out_csv = tmp_path / "vb.csv"
    assert invoke(["export", "vb", "--out", out_csv], env).exit_code == 0
    table = pd.read_csv(out_csv)
    assert len(table) == len(built.qas)
    assert {"x", "y", "cluster", "value_id", "answer"} <= set(table.columns)
    assert "embedding" not in table.columns
    np.testing.assert_allclose(table["x"].to_numpy(), built.qas["x"].to_numpy(), rtol=1e-6)

    out_pq = tmp_path / "vb.parquet"
    assert invoke(["export", "vb", "--out", out_pq, "--with-embeddings"], env).exit_code == 0
    table = pd.read_parquet(out_pq)
    assert np.array_equal(np.stack(table["embedding"].to_numpy()).astype(np.float32), np.asarray(built.embeddings))

    refused = invoke(["export", "vb", "--out", tmp_path / "e.csv", "--with-embeddings"], env)
    assert refused.exit_code == 2 and not (tmp_path / "e.csv").exists()


def test_exported_parquet_rebuilds_without_reembedding(built, env, tmp_path):
    out_pq = tmp_path / "again.parquet"
    invoke(["export", "vb", "--out", out_pq, "--with-embeddings"], env)
    result = invoke(["build", out_pq, "--name", "vb-again", "--encoder-name", "all-MiniLM-L6-v2"], env)
    assert result.exit_code == 0, result.output
    again = store.load_map("vb-again", data_dir=env["UNIVAR_DATA_DIR"])
    assert np.array_equal(np.asarray(again.embeddings), np.asarray(built.embeddings))
    assert again.manifest["encoder"]["content_hash"] == "precomputed"


def test_place_prints_ranked_value_ids_and_adds_a_layer(built, cli_files, env):
    result = invoke(["place", cli_files[1], "--map", "vb", "--layer", "held"], env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if re.match(r"\s*rank\s+value_id", line))
    ranked = [line.split()[1] for line in lines[header + 1:header + 7]]
    assert sorted(ranked) == sorted(built.qas["value_id"].unique())
    match = re.search(r"fraction nearest to their own value ID: ([0-9.]+)", result.output)
    assert match, result.output
    print(f"\nCLI place: own-value-ID fraction {match.group(1)}")
    stored = store.load_map("vb", data_dir=env["UNIVAR_DATA_DIR"])
    assert stored.layers == ["base", "held"]
    np.testing.assert_array_equal(stored.qas[["x", "y"]].to_numpy()[: len(built.qas)],
                                  built.qas[["x", "y"]].to_numpy())
    # the same layer name again is refused with exit 2 and the map is unchanged
    again = invoke(["place", cli_files[1], "--map", "vb", "--layer", "held"], env)
    assert again.exit_code == 2 and "already has a layer named 'held'" in again.stderr


def test_demo_builds_the_synthetic_demo_maps_one_at_a_time(env, tmp_path):
    from univar_core.data.demo import demo_qas

    # the app's first launch builds the value map, then the plain one in the background (`--map demo`)
    result = invoke(["demo", "--map", "demo-values"], env)
    assert result.exit_code == 0, result.output
    values = store.load_map("demo-values", data_dir=env["UNIVAR_DATA_DIR"])   # what the app opens first
    assert values.manifest["representation"]["kind"] == "question-centred"
    assert not (Path(env["UNIVAR_DATA_DIR"]) / "demo").exists()

    result = invoke(["demo", "--map", "demo", "--status-dir", tmp_path / "job"], env)
    assert result.exit_code == 0, result.output
    demo = store.load_map("demo", data_dir=env["UNIVAR_DATA_DIR"])
    assert len(demo.qas) == len(demo_qas()) == len(values.qas) and "synthetic" in result.output
    assert demo.manifest["embedding"]["n_from_cache"] == len(demo.qas)   # the value map embedded them
    status = json.loads((tmp_path / "job" / "status.json").read_text())
    assert status["state"] == "done" and status["result"]["map_name"] == "demo"

    bad = invoke(["demo", "--map", "topics"], env)
    assert bad.exit_code == 2 and "the demo maps are demo-values and demo" in bad.stderr


# ----------------------------------------------------------------------------------------------------
# a build killed mid-way


def _read_until(proc: subprocess.Popen, pattern: re.Pattern, deadline: float) -> re.Match | None:
    """Read the process's stderr until `pattern` matches or the deadline passes."""
    seen = b""
    fd = proc.stderr.fileno()
    os.set_blocking(fd, False)
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            chunk = b""
        if chunk:
            seen += chunk
            for match in pattern.finditer(seen.decode("utf-8", "replace")):
                return match
        else:
            time.sleep(0.05)
    return None


def test_killed_build_keeps_the_previous_map_and_the_next_run_resumes(shared_data, tmp_path, minilm):
    data_dir, cache_dir = tmp_path / "maps", tmp_path / "cache"
    previous_rows = _valuebench_rows(shared_data, 5, skip_questions=900)
    build.build_map(previous_rows, "vbk", encoder=minilm, data_dir=data_dir)
    before = store.load_map("vbk", data_dir=data_dir)

    big = tmp_path / "big.csv"
    _valuebench_rows(shared_data, 34, skip_questions=1000).to_csv(big, index=False)  # 204 QAs
    env = {**os.environ, "UNIVAR_DATA_DIR": str(data_dir), "UNIVAR_CACHE_DIR": str(cache_dir),
           "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "univar_core.cli", "build", str(big), "--name", "vbk"]
    slow = ["--batch-size", "4", "--cache-flush-every", "16"]  # small steps: a kill lands mid-way
    proc = subprocess.Popen(cmd + slow, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # tqdm's bar: "embed:  30%|###   | 61/204 ..." - kill once a part is embedded and cached.
        progress = re.compile(r"embed:\s+(?:[3-8]\d)%")
        assert _read_until(proc, progress, time.monotonic() + 180), "the build never reached 30% of embed"
        assert list(cache_dir.rglob("*.keys.npy")), "no cache shard written before the kill"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    after_kill = store.load_map("vbk", data_dir=data_dir, verify="full")
    assert after_kill.manifest["files"] == before.manifest["files"]
    assert len(after_kill.qas) == len(previous_rows)
    assert [m["name"] for m in store.list_maps(data_dir)] == ["vbk"]

    rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    rebuilt = store.load_map("vbk", data_dir=data_dir, verify="full")
    assert len(rebuilt.qas) == 204
    n_from_cache = rebuilt.manifest["embedding"]["n_from_cache"]
    print(f"\nkilled build resumed: {n_from_cache} of 204 QAs came from the cache")
    assert 0 < n_from_cache < 204
    assert f"{n_from_cache:,} from cache" in rerun.stderr


def test_train_a_head_then_eval_it_against_the_base(cli_files, env, tmp_path):
    run = tmp_path / "head"
    result = invoke(["train", cli_files[0], "--out", run, "--steps", "60", "--split-by", "question_id"], env)
    assert result.exit_code == 0, result.output
    assert "trained 60 steps on cpu" in result.output and (run / "head.safetensors").exists()
    table_csv = tmp_path / "table.csv"
    result = invoke(["eval", cli_files[0], "-e", "all-MiniLM-L6-v2", "-e", run, "--split-by", "question_id",
                     "--k", "5", "--no-probe", "--centre-questions", "--csv", table_csv], env)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(table_csv)
    overall = table[table["dataset"] == "all"].set_index("representation")
    assert {"all-MiniLM-L6-v2", str(run), "TF-IDF", "all-MiniLM-L6-v2, question-centred",
            f"{run}, question-centred"} <= set(overall.index)
    assert overall["n_value_ids"].eq(6).all()
    assert overall["knn_bal_acc"].between(0, 1).all()
    # a map built with the trained head (README: values instead of topics)
    result = invoke(["build", cli_files[0], "--encoder", run, "--name", "vb-head", "--n-neighbors", "10",
                     "--centre-questions"], env)
    assert result.exit_code == 0, result.output
    head_map = store.load_map("vb-head", data_dir=env["UNIVAR_DATA_DIR"])
    assert head_map.manifest["encoder"]["name"] == str(run) and head_map.embeddings.shape[1] == 256
    assert head_map.manifest["representation"]["kind"] == "question-centred"   # a head's vectors, centred


def test_full_mode_options_are_refused_in_head_mode(cli_files, env, tmp_path):
    result = invoke(["train", cli_files[0], "--out", tmp_path / "x", "--micro-batch-pairs", "4",
                     "--precision", "bf16"], env)
    assert result.exit_code == 2
    assert "--micro-batch-pairs, --precision only apply to --mode full" in result.output
    assert not (tmp_path / "x" / "status.json").exists()
