"""jobs.py: a background job runs and reports progress, a second start is refused while one runs, an
error is captured with its message, cancel stops a run; a real head-training job writes a listed run."""
from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from univar_core import jobs


def test_job_runs_reports_progress_and_result():
    runner = jobs.JobRunner()
    seen = []

    def work(job):
        for i in range(1, 6):
            job.progress(i, 5, "count")
            seen.append((job.done, job.total, job.stage))
        job.log("counted")
        return "ok"

    job = runner.start(work, kind="test", label="count to 5")
    assert job.wait(10)
    assert job.state == "done" and job.result == "ok" and job.error is None
    assert seen[-1] == (5, 5, "count") and job.fraction == 1.0
    assert any("counted" in line for line in job.log_tail())
    assert runner.get(job.id) is job and runner.active() is None


def test_second_start_is_refused_while_one_runs():
    runner = jobs.JobRunner()
    release = threading.Event()
    first = runner.start(lambda job: release.wait(10), kind="test", label="blocker")
    try:
        with pytest.raises(jobs.JobBusyError, match="blocker"):
            runner.start(lambda job: None, kind="test", label="second")
        assert runner.active() is first
    finally:
        release.set()
    assert first.wait(10) and first.state == "done"
    second = runner.start(lambda job: 42, kind="test", label="after")   # free again
    assert second.wait(10) and second.result == 42


def test_error_is_captured_with_its_message():
    runner = jobs.JobRunner()

    def boom(job):
        job.progress(1, 3)
        raise ValueError("column 'answer' is empty")

    job = runner.start(boom, kind="test", label="failing")
    assert job.wait(10)
    assert job.state == "failed"
    assert job.error == "ValueError: column 'answer' is empty"
    assert "Traceback" in job.traceback
    assert any("failed" in line for line in job.log_tail())


def test_cancel_stops_at_the_next_progress_call():
    runner = jobs.JobRunner()
    started = threading.Event()

    def loop(job):
        for i in range(10_000):
            job.progress(i, 10_000)
            started.set()
            threading.Event().wait(0.001)

    job = runner.start(loop, kind="test", label="long")
    assert started.wait(10)
    job.cancel()
    assert job.wait(10) and job.state == "cancelled" and job.done < 9_999


def _planted(n_vid=4, n_per=40, d=16, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_vid, d))
    y = np.repeat(np.arange(n_vid), n_per)
    emb = (centers[y] + 0.8 * rng.normal(size=(len(y), d))).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    qas = pd.DataFrame({"value_id": [f"m{v}$eng" for v in y], "question": [f"q{i % n_per}" for i in range(len(y))],
                        "answer": [f"a{i}" for i in range(len(y))]})
    return qas, emb


def test_head_training_job_writes_a_listed_run_and_locks_its_folder(tmp_path):
    qas, emb = _planted()
    runner = jobs.JobRunner()
    base = jobs.recorded_base({"encoder": {"name": "toy", "content_hash": "abc123", "dim": 16}})
    out = tmp_path / "runs" / "toy-head"
    job = jobs.start_training(qas, out_dir=out, mode="head", base=base, embeddings=emb, steps=30,
                              info={"source_map": "toy"}, runner=runner, hidden_dim=32, out_dim=8, log_every=5)
    assert job.wait(120), "training did not finish"
    assert job.state == "done", job.error
    assert job.done == job.total == 30
    runs = jobs.list_runs(tmp_path / "runs")
    assert runs["name"].tolist() == ["toy-head"]
    row = runs.iloc[0]
    assert row["kind"] == "head" and row["state"] == "done" and row["source_map"] == "toy"
    assert row["base_content_hash"] == "abc123"
    manifest = {"encoder": {"name": "toy", "content_hash": "abc123", "dim": 16}}
    head = jobs.load_head_for_map(out, manifest)
    z = head.transform(emb)
    assert z.shape == (len(emb), 8) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    ok, why = jobs.head_matches_map(out, {"encoder": {"name": "other", "content_hash": "zzz", "dim": 16}})
    assert not ok and "toy" in why
    # precomputed maps all record the hash "precomputed": then the base name must match as well
    pre = jobs.recorded_base({"encoder": {"name": "vectors-A", "content_hash": "precomputed", "dim": 16}})
    pre_run = jobs.start_training(qas, out_dir=tmp_path / "runs" / "pre", mode="head", base=pre, embeddings=emb,
                                  steps=5, runner=runner, hidden_dim=16, out_dim=8)
    assert pre_run.wait(60) and pre_run.state == "done", pre_run.error
    same = {"encoder": {"name": "vectors-A", "content_hash": "precomputed", "dim": 16}}
    other = {"encoder": {"name": "vectors-B", "content_hash": "precomputed", "dim": 16}}
    assert jobs.head_matches_map(tmp_path / "runs" / "pre", same)[0]
    assert not jobs.head_matches_map(tmp_path / "runs" / "pre", other)[0]

    # the trainer's own out_dir lock: a live holder (this process) makes a second run on the folder fail
    from univar_core.training.run_folder import RunLock

    with RunLock(out, print):
        again = jobs.start_training(qas, out_dir=out, mode="head", base=base, embeddings=emb, steps=5, runner=runner)
        assert again.wait(60) and again.state == "failed"
    assert again.error.startswith("TrainingLockedError") and "in use" in again.error


def test_run_names_are_validated():
    assert jobs.validate_run_name("head-1.2_x") == "head-1.2_x"
    for bad in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(ValueError):
            jobs.validate_run_name(bad)
