"""Train & Embed and Evaluate pages (AppTest) on the demo map: both run; a short head-mode training run
started from the page completes and is listed; the Evaluate table has the representations, the chance
and majority rows and the metric columns, and lists the trained head."""
from __future__ import annotations

from pathlib import Path

import pytest
from apptest_helpers import copy_demo, first_frame, run_ok
from streamlit.testing.v1 import AppTest

from univar_core import jobs
from univar_core.analysis import identification

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
    job = jobs.default_runner().get(job_ids[-1])
    assert job is not None and job.kind == "train"
    assert job.wait(120), "the training job did not finish"
    assert job.state == "done", job.error
    assert job.done == job.total == 40
    _run(at)
    runs_table = first_frame(at, "name", "kind", "state", "final_loss")
    assert runs_table is not None
    row = runs_table[runs_table["name"] == "page-head"].iloc[0]
    assert row["kind"] == "head" and row["state"] == "done"
    assert (runs / "page-head" / "head.safetensors").is_file()
    info = jobs.read_run_info(runs / "page-head")
    assert info["source_map"] == "demo" and info["split"]["by"] == "question_id"
    assert at.get("plotly_chart"), "no loss curve drawn"

    # rebuild the demo map with the trained head: a new map whose manifest names the run
    at.selectbox(key="tr_run_pick").set_value("page-head")
    at.text_input(key="tr_rebuild_name").input("demo-page-head")
    at.button(key="tr_rebuild").click()
    _run(at)
    assert not at.error, [e.value for e in at.error]
    build = jobs.default_runner().get(at.session_state["train_embed_jobs"][-1])
    assert build.kind == "build" and build.wait(300), "the rebuild did not finish"
    assert build.state == "done", build.error
    from univar_core.maps import store

    rebuilt = store.load_map("demo-page-head", data_dir=data_dir)
    assert rebuilt.manifest["encoder"]["name"] == str(runs / "page-head")
    assert rebuilt.embeddings.shape == (1200, 256)
    _run(at)
    assert any("demo-page-head" in s.value.replace("\\", "") and "built" in s.value for s in at.success)


def test_second_training_start_is_refused_while_one_runs(demo_env):
    import threading

    release = threading.Event()
    blocker = jobs.default_runner().start(lambda job: release.wait(60), kind="test", label="blocking run")
    try:
        at = _open("pages/train_embed.py")
        at.button(key="tr_start").click()
        _run(at)
        assert any("blocking run" in w.value and "still running" in w.value for w in at.warning)
    finally:
        release.set()
        blocker.wait(10)


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
    assert set(identification.METRICS) <= set(table.columns)
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
    # the demo's fictional models have no shared control corpus: the page says so plainly
    texts = [i.value for i in at.info] + [c.value for c in at.caption]
    assert any("control" in t.lower() for t in texts)


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
    at.checkbox(key="ev_probe").uncheck()
    _run(at)
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
    job = jobs.default_runner().get(at.session_state["train_embed_jobs"][-1])
    assert job.kind == "build" and job.wait(300), "the build did not finish"
    assert job.state == "done", job.error
    built = store.load_map("corpus", data_dir=data_dir)
    assert len(built.qas) == 60 and built.manifest["encoder"]["name"] == "all-MiniLM-L6-v2"
    _run(at)
    assert [b for b in at.button if b.key == f"job_open_{job.id}"]   # "Open the new map"
