"""A first launch builds one map before the page shows: the demo value map (question-centred). The plain
demo follows as a `univar demo --map demo` job the sidebar watches (its progress, then the map in the list;
a failure is said, and a button builds it again).

The demo builder is replaced by a copy of the session's demo map (what is tested here is which maps are
built when, not the build itself: tests/test_cli.py builds both for real) and the background command by a
stand-in process, so these tests take seconds.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages import _shared
from univar_core.jobs import runner, starters
from univar_core.maps import build, store

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120


@pytest.fixture()
def first_launch(tmp_path, monkeypatch, demo_map_master):
    """An empty data dir and runs dir; build_demo_map copies the session's demo map under the asked name
    and records the call; the background command is `python -c CODE` (CODE: set by the test)."""
    data_dir, runs = tmp_path / "maps", tmp_path / "runs"
    data_dir.mkdir()
    monkeypatch.setenv("UNIVAR_DATA_DIR", str(data_dir))
    monkeypatch.setenv("UNIVAR_RUNS_DIR", str(runs))
    state = {"built": [], "argv": [], "code": "import time; time.sleep(60)"}

    def fake_build(*, data_dir=None, progress=None, centre_questions=False):
        state["built"].append(build.DEMO_VALUE_MAP_NAME if centre_questions else build.DEMO_MAP_NAME)
        vmap = store.load_map(demo_map_master)
        vmap.name, vmap.path = state["built"][-1], None
        store.save_map(vmap, data_dir=data_dir)
        return vmap

    def fake_argv(*args):
        state["argv"].append(list(args))
        return [sys.executable, "-c", state["code"]]

    monkeypatch.setattr(build, "build_demo_map", fake_build)
    monkeypatch.setattr(starters, "cli_argv", fake_argv)
    state["warmed"] = 0
    monkeypatch.setattr(_shared, "warm_projection", lambda: state.update(warmed=state["warmed"] + 1))
    state.update(data_dir=data_dir, runs=runs)
    yield state
    job = runner.active_job(runs)
    if job is not None:
        runner.cancel_job(job.path, grace_s=1)


def _niceness_reached(pid: int, wanted: int, timeout: float = 10.0) -> bool:
    """Whether the process runs at niceness >= wanted (`nice` sets it between fork and exec: wait for it)."""
    deadline = time.monotonic() + timeout
    while os.getpriority(os.PRIO_PROCESS, pid) < wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    return os.getpriority(os.PRIO_PROCESS, pid) >= wanted


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("caption", "warning", "info", "markdown", "toast")
                     for e in at.get(kind))


def _progress_texts(at: AppTest) -> list[str]:
    return [str(p.proto.text) for p in at.get("progress")]


def test_a_first_launch_builds_the_value_map_only_and_the_plain_demo_in_the_background(first_launch):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    assert first_launch["built"] == ["demo-values"]          # one map before the page showed
    assert Path(at.session_state["_univar_current_map"][0]).name == "demo-values"
    assert first_launch["argv"] == [["demo", "--map", "demo", "--data-dir", str(first_launch["data_dir"]),
                                     "--status-dir", first_launch["argv"][0][-1]]]
    job = starters.demo_build_job("demo", data_dir=first_launch["data_dir"])
    assert job is not None and job.running and job.meta["demo"]
    assert _niceness_reached(job.pid, min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10))   # a low-priority job
    assert any("Building the plain demo map" in t for t in _progress_texts(at))   # the sidebar says so
    assert first_launch["warmed"] == 1   # UMAP's compile, for the build

    at.run()   # a rerun (another page, a widget): nothing is built, started or compiled again
    assert first_launch["built"] == ["demo-values"] and len(first_launch["argv"]) == 1
    AppTest.from_file(APP, default_timeout=TIMEOUT).run()   # a later launch builds nothing: no compile
    assert first_launch["warmed"] == 1


def test_the_sidebar_lists_the_plain_demo_once_its_job_has_built_it(first_launch):
    first_launch["code"] = "pass"
    AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    job = runner.wait_job(starters.demo_build_job("demo", data_dir=first_launch["data_dir"]).path, timeout=60)
    assert job.state == "done"
    build.build_demo_map(data_dir=first_launch["data_dir"])   # what `univar demo --map demo` does
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()   # (the polling fragment reruns the app)
    assert not at.exception and not _progress_texts(at)
    assert "Build the plain demo map" not in [b.label for b in at.button]
    assert {Path(p).name for p in at.selectbox(key="map_name").options} == {"demo-values", "demo"}


def test_a_failed_background_build_is_said_and_can_be_started_again(first_launch):
    first_launch["code"] = "import sys; print('error: no space left on device'); sys.exit(2)"
    AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    job = runner.wait_job(starters.demo_build_job("demo", data_dir=first_launch["data_dir"]).path, timeout=60)
    assert job.state == "failed"
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert "no space left on device" in _texts(at)
    first_launch["code"] = "import time; time.sleep(60)"
    at.button(key="build_plain_demo").click().run()
    assert len(first_launch["argv"]) == 2
    assert starters.demo_build_job("demo", data_dir=first_launch["data_dir"]).running


def test_the_demo_starter_refuses_a_map_that_is_not_a_demo_map(tmp_path):
    with pytest.raises(ValueError, match="not a demo map"):
        starters.start_demo_build("valuebench", data_dir=tmp_path, root=tmp_path / "runs")
    assert starters.demo_build_job("demo", data_dir=tmp_path, root=tmp_path / "runs") is None
