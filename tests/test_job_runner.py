"""jobs/: the app's background work runs as `univar` subprocesses. A job is a separate process (its pid
is not the test's) that completes a tiny build; cancel ends a running training process (it is gone) and
the status says cancelled; a second start is refused while one runs; a failure is reported with the
command's own error message."""
from __future__ import annotations

import io
import os
import sys
import time

import numpy as np
import pandas as pd
import pytest

from univar_core.jobs import runner, starters
from univar_core.jobs.status import StatusFile, progress_of, read_status
from univar_core.maps import store
from univar_core.training.run_folder import RunLock


def _planted_parquet(n_vid: int = 3, n_per: int = 8, d: int = 8, seed: int = 0) -> bytes:
    """QAs of n_vid value IDs with an 'embedding' column (no encoder is loaded for them)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_vid), n_per)
    emb = (rng.normal(size=(n_vid, d))[y] + 0.5 * rng.normal(size=(len(y), d))).astype(np.float32)
    table = pd.DataFrame({"model": [f"m{v}" for v in y], "lang": "eng",
                          "question": [f"question {i % n_per}?" for i in range(len(y))],
                          "answer": [f"answer {i}" for i in range(len(y))],
                          "embedding": list(emb)})
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    return buf.getvalue()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_build_job_runs_in_its_own_process_and_completes(tmp_path):
    runs, maps = tmp_path / "runs", tmp_path / "maps"
    job = starters.start_build("tiny", data_dir=maps, upload=("tiny.parquet", _planted_parquet()), root=runs)
    assert job.pid != os.getpid() and job.kind == "build"
    job = runner.wait_job(job.path, timeout=240)
    assert job.state == "done", (job.error, job.log_tail())
    assert job.returncode == 0 and _gone(job.pid)
    status = read_status(job.path)
    assert status["pid"] == job.pid != os.getpid()           # the status was written by the child
    assert status["result"]["map_name"] == "tiny" and job.fraction == 1.0
    built = store.load_map(status["result"]["map_path"])
    assert len(built.qas) == 24 and built.embeddings.shape == (24, 8)
    assert runner.active_job(runs) is None


def test_cancel_ends_a_running_training_process_and_marks_it_cancelled(tmp_path):
    runs = tmp_path / "runs"
    job = starters.start_training("long", upload=("qa.parquet", _planted_parquet()), steps=1_000_000, root=runs)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:   # wait until the trainer's loop runs (it writes status.json)
        job = runner.read_job(job.path)
        if not job.running or (job.stage == "train" and job.done > 0):
            break
        time.sleep(0.2)
    assert job.running and job.done > 0, (job.state, job.error, job.log_tail())
    assert job.pid != os.getpid()
    cancelled = runner.cancel_job(job.path)
    assert _gone(job.pid), "the training process still runs"
    assert cancelled.state == "cancelled" and cancelled.error == "cancelled by the user"
    status = read_status(job.path)
    assert status["state"] == "cancelled" and status["step"] > 0
    with RunLock(job.path, print):                             # SIGTERM ended it: its lock is free again
        pass
    assert runner.read_job(job.path).state == "cancelled"      # and it stays so


def test_a_second_start_is_refused_while_one_runs(tmp_path):
    runs = tmp_path / "runs"
    first = runner.start_job([sys.executable, "-c", "import time; time.sleep(60)"], runs / "blocker",
                             kind="test", label="blocking run", root=runs)
    try:
        with pytest.raises(runner.JobBusyError, match="blocking run.*still running"):
            runner.start_job([sys.executable, "-c", "pass"], runs / "second", kind="test", label="second", root=runs)
        assert runner.active_job(runs).path == first.path
    finally:
        runner.cancel_job(first.path, grace_s=2)
    assert _gone(first.pid) and runner.active_job(runs) is None
    after = runner.start_job([sys.executable, "-c", "print('hello')"], runs / "after", kind="test", label="after",
                             root=runs)
    after = runner.wait_job(after.path, timeout=60)
    assert after.state == "done" and after.log_tail() == ["hello"]


def test_a_failure_is_reported_with_the_commands_error(tmp_path):
    code = ("import sys; print('reading'); "
            "print(\"error: qa.csv: column 'answer' is missing\", file=sys.stderr); sys.exit(2)")
    job = runner.start_job([sys.executable, "-c", code], tmp_path / "runs" / "bad", kind="test", label="bad",
                           root=tmp_path / "runs")
    job = runner.wait_job(job.path, timeout=60)
    assert job.state == "failed" and job.returncode == 2
    assert job.error == "qa.csv: column 'answer' is missing"


def test_cli_train_error_reaches_the_job(tmp_path):
    """A bad input of the real command: the job fails with the CLI's message (no traceback)."""
    bad = ("bad.csv", b"model,lang,question\nm,eng,q?\n")
    job = starters.start_training("bad", upload=bad, root=tmp_path / "runs")
    job = runner.wait_job(job.path, timeout=120)
    assert job.state == "failed" and job.returncode == 2
    assert "answer" in job.error and "Traceback" not in "\n".join(job.log_tail(50))


def test_status_file_progress_and_reading(tmp_path):
    status = StatusFile(tmp_path, min_interval_s=60)
    status("embed", 0, 10)
    status("embed", 5, 10)             # throttled: not written yet
    assert progress_of(read_status(tmp_path)) == ("embed", 0, 10)
    status("project", 0, 1)            # a new stage is always written
    assert progress_of(read_status(tmp_path)) == ("project", 0, 1)
    status.finish(map_name="x")
    assert read_status(tmp_path)["state"] == "done" and read_status(tmp_path)["result"] == {"map_name": "x"}
    assert progress_of({"state": "running", "step": 3, "total_steps": 9}) == ("train", 3, 9)   # the trainer's form


def test_cli_options():
    assert starters.cli_options(split_by="question_id", lr=None, resume=True, steps=5, probe=False) == [
        "--split-by", "question_id", "--resume", "--steps", "5", "--no-probe"]


def test_the_train_page_never_imports_torch():
    """Everything the Train & Embed page (and the app around it) imports loads without torch: training
    runs in the `univar train` subprocess, not in the Streamlit process."""
    import ast
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    modules = set()
    # every import of the page (its functions run on it), the module-level ones of what it shares with
    # the other pages (_shared's functions import what the other pages need when they call them)
    sources = (("pages/train_embed.py", True), ("pages/_jobs_view.py", True), ("pages/_shared.py", False),
               ("app.py", False))
    for source, everywhere in sources:
        tree = ast.parse((repo / source).read_text())
        for node in (ast.walk(tree) if everywhere else tree.body):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                modules |= {a.name for a in node.names}
    code = ("import importlib, sys\n"
            f"for m in {sorted(modules)!r}:\n"
            "    try:\n        importlib.import_module(m)\n    except ImportError:\n        pass\n"
            "print(sorted(m for m in ('torch', 'sentence_transformers', 'umap') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_reused_pid_is_not_a_running_job(tmp_path):
    """A job folder from before a restart whose pid now runs something else (here: this test) has ended."""
    import json

    job_dir = tmp_path / "runs" / "old"
    job_dir.mkdir(parents=True)
    (job_dir / runner.JOB_FILE).write_text(json.dumps({
        "kind": "train", "label": "old run", "argv": runner.cli_argv("train", "--out", str(job_dir)),
        "pid": os.getpid(), "started": time.time() - 60, "status_dir": str(job_dir)}))
    job = runner.read_job(job_dir)
    assert job.state == "failed" and "without reporting" in job.error
    assert runner.active_job(tmp_path / "runs") is None
