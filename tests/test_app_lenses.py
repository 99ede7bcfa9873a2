"""The Value Lenses and Alignment & Culture pages (streamlit AppTest) on the demo map, on a small
real-data map and on a map of precomputed embeddings whose encoder cannot be loaded: they run, draw the
clustered heatmap and the radar, and the demo checkpoints' distances to their target fall step by step."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from apptest_helpers import first_frame, real_map_dir, real_subset_table, run_ok

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
PAGE = "pages/value_lenses.py"
ALIGNMENT = "pages/alignment.py"
TIMEOUT = 240   # the first run in a process may embed the demo corpus and compile UMAP



@pytest.fixture(scope="module")
def real_dir(tmp_path_factory, shared_data, demo_dir):
    """A map of a few hundred real QAs: 4 ValueBench models x 40 questions + 2 AlpacaEval models x 20."""
    table = real_subset_table(shared_data, n_valuebench=40, n_alpaca=20)
    with real_map_dir(tmp_path_factory.mktemp("real_maps"), demo_dir, table) as data_dir:
        yield data_dir


def _run(at: AppTest) -> AppTest:
    return run_ok(at, TIMEOUT)


def _open(map_folder: str | None = None, page: str = PAGE) -> AppTest:
    """Start the app (on the map in ``map_folder`` via ?map=), then switch to the page (Value Lenses)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if map_folder is not None:
        at.query_params["map"] = map_folder
    _run(at)
    return _run(at.switch_page(page))


def _chart_types(at: AppTest) -> list[set[str]]:
    """The trace types of each plotly chart on the page."""
    return [{t["type"] for t in json.loads(c.proto.spec)["data"]} for c in at.get("plotly_chart")]


def test_lenses_page_on_the_demo_map(demo_dir):
    from univar_core.data import demo

    at = _open()
    assert not at.error, [e.value for e in at.error]
    types = _chart_types(at)
    assert any({"heatmap", "scatter"} <= t for t in types), types          # heatmap + dendrogram
    assert any("scatterpolar" in t for t in types), types                  # radar
    labels = [m.label for m in at.metric]
    assert {"centroid distance", "95% bootstrap CI", "permutation p"} <= set(labels)
    scores = first_frame(at, "value_id", "score", "ci_low", "ci_high")
    assert (scores["ci_low"] <= scores["mean"] + 1e-12).all() and (scores["mean"] <= scores["ci_high"] + 1e-12).all()
    drivers = first_frame(at, "question", "answer", "contribution")
    assert len(drivers) == 10 and drivers["score"].is_monotonic_decreasing
    names = {b.label for b in at.get("download_button")}
    assert {"Download the distance matrix (CSV)", "Download value-ID scores (CSV)"} <= names
    assert sum(n.endswith("(HTML)") for n in names) >= 3

    at = _run(at.switch_page(ALIGNMENT))
    assert not at.error, [e.value for e in at.error]
    labels = [m.label for m in at.metric]
    # the EXAMPLE cultural map covers every default language's country: the section works out of the box
    assert any("EXAMPLE" in w.value and "NOT REAL DATA" in w.value for w in at.warning)
    assert "Spearman rho" in labels, [i.value for i in at.info]
    # the trajectory of the planted demo checkpoints moves toward its target at every step
    assert at.selectbox(key="lens_traj_target").value == demo.DEMO_TRAJECTORY_TARGET
    traj = first_frame(at, "checkpoint", "distance_to_target")
    assert list(traj["checkpoint"]) == [f"step{i}" for i in range(5)]
    assert (np.diff(traj["distance_to_target"].to_numpy()) < 0).all(), traj
    names = {b.label for b in at.get("download_button")}
    assert "Download the trajectory (CSV)" in names and sum(n.endswith("(HTML)") for n in names) >= 2


def test_planted_opposites_are_distinguishable_and_lens_switch(demo_dir):
    from univar_core.data import demo

    a, b = demo.DEMO_OPPOSITE_PAIRS[0]
    at = _open()
    at.selectbox(key="lens_pair_a").set_value(a)
    at.selectbox(key="lens_pair_b").set_value(b)
    at.selectbox(key="lens_method").set_value("energy")
    at.radio(key="lens_name").set_value("schwartz")
    _run(at)
    p = float(next(m.value for m in at.metric if m.label == "permutation p"))
    assert p < 0.05
    assert any("distinguishable" in md.value for md in at.markdown)
    scores = first_frame(at, "value_id", "score", "ci_low")
    assert "Self-transcendence" in set(scores["score"])
    at.selectbox(key="lens_level").set_value("language")
    _run(at)
    assert any({"heatmap"} <= t for t in _chart_types(at))


@pytest.mark.shared_data
def test_lenses_page_on_a_real_data_map(real_dir):
    at = _open("real-subset")
    assert not at.error, [e.value for e in at.error]
    assert Path(at.session_state["_univar_current_map"][0]).name == "real-subset"
    types = _chart_types(at)
    assert any("heatmap" in t for t in types) and any("scatterpolar" in t for t in types)
    # a single language: the cultural correlation says why it cannot be computed
    at = _run(at.switch_page(ALIGNMENT))
    assert any("at least 3 languages" in i.value for i in at.info)


def test_precomputed_map_without_encoder_skips_lenses(demo_dir, tmp_path, monkeypatch):
    from univar_core.maps import build, store

    demo_map = store.load_map("demo", data_dir=demo_dir)
    qas = demo_map.qas[["model", "lang", "question_id", "question", "answer"]].iloc[:200]
    data_dir = tmp_path / "maps"
    shutil.copytree(demo_dir / "demo", data_dir / "demo")
    build.build_map(qas, "pre", embeddings=np.asarray(demo_map.embeddings[:200]),
                       encoder_name="no-such-encoder-anywhere", data_dir=data_dir)
    monkeypatch.setenv("UNIVAR_DATA_DIR", str(data_dir))
    at = _open("pre")
    assert not at.error, [e.value for e in at.error]
    assert any("Lens scores need the map's encoder" in i.value for i in at.info)
    assert any("heatmap" in t for t in _chart_types(at))     # distances need no encoder
    assert not any("scatterpolar" in t for t in _chart_types(at))
