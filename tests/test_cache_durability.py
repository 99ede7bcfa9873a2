"""A real `univar build` process killed mid-embedding keeps its work in the embedding cache: kill -9
loses at most the last few seconds (the cache is written every 2 s, not only every 2,048 QAs), and
SIGTERM is handled like Ctrl-C (exit 130, the `finally` that saves the rest runs)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
N_QAS = 1200   # large enough that a quiet machine is still embedding when the signal comes


@pytest.fixture(scope="module")
def qa_csv(tmp_path_factory) -> Path:
    from univar_core.data.demo import demo_qas

    path = tmp_path_factory.mktemp("durability") / "qa.csv"
    demo_qas().iloc[:N_QAS][["question", "answer", "model", "lang"]].to_csv(path, index=False)
    return path


def _cached_rows(cache_dir: Path) -> int:
    return sum(len(np.load(p)) for p in cache_dir.rglob("*.keys.npy") if "damaged" not in p.parts)


def _start_and_wait(qa_csv: Path, tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """Start a build with small batches; return once it has embedded for a few seconds past 25%."""
    cache_dir = tmp_path / "cache"
    env = {**os.environ, "UNIVAR_DATA_DIR": str(tmp_path / "maps"), "UNIVAR_CACHE_DIR": str(cache_dir),
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "univar_core.cli", "build", str(qa_csv), "--name", "k",
                             "--batch-size", "2"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    seen, started, deadline = "", None, time.monotonic() + 300
    os.set_blocking(proc.stderr.fileno(), False)
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            seen += os.read(proc.stderr.fileno(), 65536).decode("utf-8", "replace")
        except BlockingIOError:
            time.sleep(0.05)
        done = [int(m) for m in re.findall(r"embed:\s+(\d+)%", seen)]
        if done and max(done) >= 25:
            started = started or time.monotonic()
            if time.monotonic() - started >= 4:
                return proc, cache_dir
    proc.kill()
    pytest.fail(f"the build never got a quarter through embedding: {seen[-1500:]}")


def test_kill_9_mid_build_keeps_all_but_the_last_seconds_in_the_cache(qa_csv, tmp_path):
    proc, cache_dir = _start_and_wait(qa_csv, tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _cached_rows(cache_dir) >= N_QAS // 5    # old code: nothing below its 2,048-QA flush


def test_sigterm_mid_build_is_handled_like_ctrl_c(qa_csv, tmp_path):
    proc, cache_dir = _start_and_wait(qa_csv, tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-1500:]
    assert "interrupted" in err.decode("utf-8", "replace")
    assert _cached_rows(cache_dir) >= N_QAS // 4
    assert not (tmp_path / "maps" / "k").exists()


def test_a_sigterm_swallowed_inside_a_callback_stops_the_run_at_the_next_progress_report(monkeypatch):
    from univar_core import cli

    progress = cli.TqdmProgress()
    progress("embed", 1, 2)                       # no signal: reports go on
    monkeypatch.setattr(cli, "_terminated", True)  # what _interrupt leaves behind when its exception is lost
    with pytest.raises(KeyboardInterrupt):
        progress("project", 0, 1)
    progress.close()
