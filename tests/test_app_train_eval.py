"""Train & Embed and Evaluate pages (AppTest) on the demo map: both run; a short head-mode training run
started from the page runs as a `univar train` subprocess, shows its progress, completes and is listed;
the Evaluate table has the representations, the chance and majority rows and the metric columns, and
lists the trained head."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from univar_core.analysis import identification
from univar_core.jobs import runner
from univar_core.training import runs as training_runs

from apptest_helpers import copy_demo, first_frame, run_ok

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
TIMEOUT = 180


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory, demo_map_master):
    """The demo map in a private UNIVAR_DATA_DIR and an empty UNIVAR_RUNS_DIR, built once for this module."""
    data_dir = tmp_path_factory.mktemp("maps")
    runs = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UNIVAR_DATA_DIR", str(data_dir))
        mp.setenv("UNIVAR_RUNS_DIR", str(runs))
        copy_demo(demo_map_master, data_dir)
        yield data_dir, runs


def _run(at: AppTest) -> AppTest:
    return run_ok(at, TIMEOUT)


def _open(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    _run(at)
    return _run(at.switch_page(page))


def test_train_page_runs_and_a_head_run_completes_and_is_listed(demo_env):
    data_dir, runs = demo_env
    at = _open("pages/train_embed.py")
    assert not at.error, [e.value for e in at.error]
    assert any("GPU" in c.value for c in at.caption)
    at.number_input(key="tr_steps").set_value(40)
    at.text_input(key="tr_name").input("page-head")
    at.button(key="tr_start").click()
    _run(at)
    assert not at.error, [e.value for e in at.error]
    job_ids = at.session_state["train_embed_jobs"]
    job = runner.read_job(job_ids[-1])
    assert job.kind == "train" and job.pid != os.getpid()       # a `univar train` subprocess
    assert any("training page-head" in m.value.replace("\\", "") for m in at.markdown)   # the page shows the job ...
    assert at.get("progress"), "no progress bar"                       # ... with its progress
    job = runner.wait_job(job.path, timeout=180)
    assert job.state == "done", (job.error, job.log_tail())
    assert job.done == job.total == 40
    _run(at)
    assert any(p.proto.value == 100 for p in at.get("progress"))       # the finished job's bar is full
    runs_table = first_frame(at, "name", "kind", "state", "final_loss")
    assert runs_table is not None
    row = runs_table[runs_table["name"] == "page-head"].iloc[0]
    assert row["kind"] == "head" and row["state"] == "done"
    assert (runs / "page-head" / "head.safetensors").is_file()
    info = training_runs.read_run_info(runs / "page-head")
    assert info["source_map"] == "demo" and info["split"]["by"] == "question_id"
    assert at.get("plotly_chart"), "no loss curve drawn"

    # rebuild the demo map with the trained head: a new map whose manifest names the run
    at.selectbox(key="tr_run_pick").set_value("page-head")
    at.text_input(key="tr_rebuild_name").input("demo-page-head")
    at.button(key="tr_rebuild").click()
    _run(at)
    assert not at.error, [e.value for e in at.error]
    build = runner.wait_job(at.session_state["train_embed_jobs"][-1], timeout=300)
    assert build.kind == "build" and build.state == "done", (build.error, build.log_tail())
    from univar_core.maps import store

    rebuilt = store.load_map("demo-page-head", data_dir=data_dir)
    assert rebuilt.manifest["encoder"]["name"] == str(runs / "page-head")
    assert rebuilt.embeddings.shape == (1200, 256)
    _run(at)
    assert any("demo-page-head" in s.value.replace("\\", "") and "built" in s.value for s in at.success)


def test_second_training_start_is_refused_while_one_runs(demo_env):
    _, runs = demo_env
    blocker = runner.start_job([sys.executable, "-c", "import time; time.sleep(120)"], runs / ".builds" / "blocker",
                               kind="test", label="blocking run")
    try:
        at = _open("pages/train_embed.py")
        assert any("blocking run" in i.value for i in at.info)     # another session's run is shown
        at.button(key="tr_start").click()
        _run(at)
        assert any("blocking run" in w.value and "still running" in w.value for w in at.warning)
    finally:
        runner.cancel_job(blocker.path, grace_s=2)


def test_cancel_from_the_page_ends_the_run(demo_env):
    at = _open("pages/train_embed.py")
    at.number_input(key="tr_steps").set_value(100_000)
    at.text_input(key="tr_name").input("page-cancel")
    at.button(key="tr_start").click()
    _run(at)
    job = runner.read_job(at.session_state["train_embed_jobs"][-1])
    assert job.running
    at.button(key=f"job_cancel_{job.id}").click()
    _run(at)
    job = runner.read_job(job.path)
    assert job.state == "cancelled"
    with pytest.raises(ProcessLookupError):
        os.kill(job.pid, 0)


def test_train_page_bad_upload_is_an_error_message(demo_env):
    at = _open("pages/train_embed.py")
    at.radio(key="tr_source").set_value("Upload a file")
    _run(at)
    assert not at.error and not [b for b in at.button if b.key == "tr_start"]   # no file yet: no form
    at.file_uploader(key="tr_file").set_value(("bad.csv", b"model,lang,question\nm,eng,q?\n", "text/csv"))
    _run(at)
    assert at.error and "answer" in at.error[0].value            # the validation message, not a traceback
    assert not [b for b in at.button if b.key == "tr_start"]


def test_evaluate_page_table_rows_and_columns(demo_env):
    at = _open("pages/evaluate.py")
    assert not at.error, [e.value for e in at.error]
    at.checkbox(key="ev_probe").uncheck()          # keep the test fast: k-NN columns only
    _run(at)
    table = first_frame(at, "representation", "knn_bal_acc")
    assert table is not None
    reps = set(table["representation"])
    assert {"chance", "majority", "TF-IDF"} <= reps
    assert any(r.endswith("(map embeddings)") for r in reps)
    assert any(r.endswith("(map embeddings)" + identification.CENTRED_SUFFIX) for r in reps)   # a centred row
    assert {m for m in identification.METRICS if not m.startswith("probe")} <= set(table.columns)
    assert {"dataset", "subset", "n_value_ids", "n_train", "n_test"} <= set(table.columns)
    chance = table[(table["representation"] == "chance") & (table["dataset"] == "all")].iloc[0]
    assert chance["knn_bal_acc"] == pytest.approx(1 / chance["n_value_ids"])
    assert at.get("plotly_chart")
    labels = [b.label for b in at.get("download_button")]
    assert "Download the table (CSV)" in labels and any(lbl.endswith("(HTML)") for lbl in labels)
    # a trained head on this map (from the training test, or any run) is offered as a representation
    heads = [o for o in at.multiselect(key="ev_reps").options if o.startswith("head ")]
    if heads:
        at.multiselect(key="ev_reps").set_value(at.multiselect(key="ev_reps").value + heads[:1])
        _run(at)
        assert heads[0] in set(first_frame(at, "representation", "knn_bal_acc")["representation"])
    # the demo's fictional models have no shared control corpus: the page says so plainly, in one line
    texts = [i.value for i in at.info] + [c.value for c in at.caption]
    assert any(t.startswith("No control") for t in texts)
    assert not any("→" in t or "share 0" in t for t in texts)


@pytest.fixture(scope="module")
def valuebench_dir(tmp_path_factory, shared_data, demo_env):
    """A small real map: 3 ValueBench models x 60 questions (their AlpacaEval counterparts are the control)."""
    import shutil

    import pandas as pd

    from univar_core.maps import build

    demo_dir, _ = demo_env
    vb = pd.read_csv(shared_data / "valuebench_qa" / "qa.csv")
    vb = vb[vb["model"].isin(["gpt-4-1106-preview", "llama-7b-chat", "mistral-7b-instruct"])]
    vb = vb[vb["question_id"].isin(sorted(vb["question_id"].unique())[:60])]
    data_dir = tmp_path_factory.mktemp("vb_maps")
    shutil.copytree(demo_dir / "demo", data_dir / "demo")
    build.build_map(vb[["model", "lang", "question_id", "question", "answer", "questionnaire"]],
                       "vb-small", data_dir=data_dir)
    return data_dir


@pytest.mark.shared_data
def test_evaluate_control_comparison_on_real_data(valuebench_dir, monkeypatch):
    monkeypatch.setenv("UNIVAR_DATA_DIR", str(valuebench_dir))   # this test only: the others keep the demo dir
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["map"] = "vb-small"
    _run(at)
    _run(at.switch_page("pages/evaluate.py"))
    # its two questionnaires repeat items (NFCC2000 is drawn from NFCC1993): split_qas would merge them into
    # one group, so no questionnaire split is offered and the default falls back to question_id
    assert "questionnaire" not in at.selectbox(key="ev_by").options
    assert at.selectbox(key="ev_by").value == "question_id"
    at.checkbox(key="ev_probe").uncheck()
    _run(at)
    assert not at.error, [e.value for e in at.error]
    assert at.radio(key="ev_control_source").value == "Shared AlpacaEval corpus"
    at.slider(key="ev_control_n").set_value(20)
    _run(at)
    at.button(key="ev_control_run").click()
    _run(at)
    assert not at.error, [e.value for e in at.error]
    comparison = first_frame(at, "value QAs", "non-value QAs", "drop")
    assert comparison is not None
    reps = set(comparison["representation"])
    assert {"TF-IDF", "chance"} <= reps and any(r.endswith("(map embeddings)") for r in reps)
    assert (comparison["n_value_ids"] == 3).all()
    chance = comparison[comparison["representation"] == "chance"].iloc[0]
    assert chance["value QAs"] == pytest.approx(1 / 3) and chance["non-value QAs"] == pytest.approx(1 / 3)


def test_embed_a_new_corpus_into_a_new_map(demo_env):
    from univar_core.data.demo import demo_qas
    from univar_core.maps import store

    data_dir, _ = demo_env
    qas = demo_qas()
    small = qas[qas["value_id"].isin(sorted(qas["value_id"].unique())[:3])].head(60)
    data = small[["model", "lang", "question_id", "question", "answer"]].to_csv(index=False).encode()
    at = _open("pages/train_embed.py")
    at.file_uploader(key="emb_file").set_value(("corpus.csv", data, "text/csv"))
    _run(at)
    assert not at.error, [e.value for e in at.error]
    assert at.text_input(key="emb_name").value == "corpus"
    at.button(key="emb_build").click()
    _run(at)
    job = runner.wait_job(at.session_state["train_embed_jobs"][-1], timeout=300)
    assert job.kind == "build" and job.state == "done", (job.error, job.log_tail())
    built = store.load_map("corpus", data_dir=data_dir)
    assert len(built.qas) == 60 and built.manifest["encoder"]["name"] == "all-MiniLM-L6-v2"
    _run(at)
    assert [b for b in at.button if b.key == f"job_open_{job.id}"]   # "Open the new map"
