"""Every page of the app runs (streamlit AppTest) on the demo map and on a small map of real data;
a simulated map selection lists the selected QAs; the grouped view and the comparison render."""
from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from univar_core.data.demo import DEMO_PLANTED_NEAREST

from apptest_helpers import first_frame, real_map_dir, real_subset_table, run_ok

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
PAGES = ["pages/value_map.py", "pages/compare.py", "pages/upload.py", "pages/about.py"]
TIMEOUT = 180   # the first run in a process may embed the demo corpus and compile UMAP



@pytest.fixture(scope="module")
def real_dir(tmp_path_factory, shared_data, demo_dir):
    """A map of a few hundred real QAs: 4 ValueBench models x 60 questions + 2 AlpacaEval models x 30."""
    table = real_subset_table(shared_data, n_valuebench=60, n_alpaca=30, extra=("questionnaire",))
    with real_map_dir(tmp_path_factory.mktemp("real_maps"), demo_dir, table) as data_dir:
        yield data_dir


def _run(at: AppTest) -> AppTest:
    return run_ok(at, TIMEOUT)


def _open(page: str, map_folder: str | None = None) -> AppTest:
    """Start the app, optionally on the map in folder ``map_folder`` (the URL's ?map=), then go to ``page``.

    AppTest (streamlit 1.67) drops the entry script's widgets on reruns under st.navigation, so the map
    is chosen through the URL query parameter that the sidebar also honours in a browser."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if map_folder is not None:
        at.query_params["map"] = map_folder
    _run(at)
    return _run(at.switch_page(page)) if page != PAGES[0] else at


def _current_map_name(at: AppTest) -> str:
    """The map the sidebar opened (AppTest drops the entry script's sidebar tree after switch_page,
    so switched pages are checked through the session state the sidebar sets)."""
    return Path(at.session_state["_univar_current_map"][0]).name


def _charts(at: AppTest) -> list:
    return list(at.get("plotly_chart"))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_the_demo_map(demo_dir, page):
    at = _open(page)
    assert not at.error, [e.value for e in at.error]
    assert _current_map_name(at) == "demo"
    if page != "pages/upload.py" and page != "pages/about.py":
        assert _charts(at), f"{page} drew no chart"
    if page == "pages/about.py":   # commands that work after the quickstart (which puts no `univar` on the PATH)
        lines = [ln for m in at.markdown for ln in m.value.splitlines() if ln.startswith(("univar ", "python -m"))]
        assert lines and all(ln.startswith("python -m univar_core.cli ") for ln in lines), lines


@pytest.mark.shared_data
@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_a_real_data_map(real_dir, page):
    at = _open(page, "real-subset")
    assert not at.error, [e.value for e in at.error]
    assert _current_map_name(at) == "real-subset"
    if page == "pages/value_map.py":
        assert Path(at.selectbox(key="map_name").value).name == "real-subset"


def test_value_map_selection_lists_and_downloads_selected_qas(demo_dir):
    from univar_core.maps import store

    qas = store.load_map("demo", data_dir=demo_dir).qas
    picked = qas["qa_id"].astype(str).iloc[[0, 5, 9]].tolist()
    at = _open(PAGES[0])
    assert at.get("plotly_chart")[0].proto.selection_mode   # selection enabled on the map
    at.session_state["map_selection"] = picked               # what the chart's on_select callback stores
    _run(at)
    table = first_frame(at, "qa_id", "cluster_label", "x")
    assert sorted(table["qa_id"]) == sorted(picked)
    assert {"question", "answer"} <= set(table.columns)
    labels = [b.label for b in at.get("download_button")]
    assert "Download selected QAs (CSV)" in labels and any(lbl.endswith("(HTML)") for lbl in labels)
    at.button(key="clear_selection").click()
    _run(at)
    assert first_frame(at, "qa_id", "cluster_label", "x") is None


def _array(values) -> np.ndarray:
    """A figure's coordinate array from its JSON: a list, or plotly's typed array {dtype, bdata}."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values, dtype=float)


def test_value_map_colour_search_filter_and_grouped_view(demo_dir):
    at = _open(PAGES[0])
    # says why QAs group by question, and what to do, in one caption line: no box pushing the map down
    assert any("general sentence encoder" in c.value and "centre" in c.value for c in at.caption)
    assert not at.info
    at.selectbox(key="focus_group").set_value(at.selectbox(key="focus_group").options[1])
    at.toggle(key="map_contours").set_value(True)
    _run(at)
    traces = json.loads(_charts(at)[0].proto.spec)["data"]
    assert traces[0]["name"] == "other QAs"                       # one group against the rest in grey
    assert any(t["type"] == "histogram2dcontour" for t in traces)  # density contours per group
    at.selectbox(key="focus_group").set_value("(all groups)")
    at.selectbox(key="color_by").set_value("model")
    at.text_input(key="map_search").input("family")
    _run(at)
    assert any("match" in c.value for c in at.caption)
    langs = at.multiselect(key="filter_lang").options
    at.multiselect(key="filter_lang").set_value(langs[:1])
    _run(at)
    at.radio(key="map_view").set_value("Value IDs (grouped)")
    _run(at)
    centroids = first_frame(at, "value_id", "n", "model", "lang")
    assert sorted(centroids["lang"].unique()) == langs[:1] and len(centroids) >= 3   # the filter holds
    assert any(c.value.startswith("cohesion: mean cosine") for c in at.caption)      # the column is explained
    at.multiselect(key="filter_lang").set_value([])
    _run(at)
    assert len(first_frame(at, "value_id", "n", "model", "lang")) == 15
    # laid out by the distances between value IDs: the planted nearest pair is the nearest point pair
    points = {}
    for trace in json.loads(_charts(at)[0].proto.spec)["data"]:
        points.update({label: (x, y) for label, x, y in zip(trace["text"], _array(trace["x"]), _array(trace["y"]))})
    names = sorted(points)
    xy = np.array([points[n] for n in names])
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(names)) * 1e9
    i, j = np.unravel_index(d.argmin(), d.shape)
    assert {names[i], names[j]} == set(DEMO_PLANTED_NEAREST)
    rho = float(re.search(r"Spearman ρ = ([0-9.]+)", " ".join(c.value for c in at.caption)).group(1))
    assert rho > 0.5                               # 2-D distances keep the order of the real ones


def test_compare_page_shows_rank_pairs_and_full_answers(demo_dir):
    at = _open("pages/compare.py")
    assert [m.label for m in at.metric][:2] == ["centroid distance", "Rank among all pairs"]
    pairs = first_frame(at, "question_id", "divergence")
    assert pairs["divergence"].is_monotonic_decreasing
    texts = [t.value for t in at.text]
    assert any(t.startswith("Question (") for t in texts)
    assert any(t.startswith("Answer of ") for t in texts)
    picker = next(s for s in at.selectbox if s.label == "Read one pair in full")
    picker.set_value(2)
    at.selectbox(key="cmp_method").set_value("energy")
    _run(at)
    assert at.metric[0].label == "energy distance"
    near = first_frame(at, "rank", "similarity")
    assert len(near) > 0 and list(near.columns[:2]) == ["rank", "similarity"]   # on screen, not after the texts
    lens = first_frame(at, "value")                                # both value IDs scored on the lens
    assert len(lens) >= 3 and lens.shape[1] == 3
    radar = next(json.loads(c.proto.spec) for c in _charts(at) if '"scatterpolar"' in c.proto.spec)
    assert " dimensions: " in radar["layout"]["title"]["text"]     # says which level it shows
    assert next(s for s in at.selectbox if s.label == "Read one pair in full").value == 2   # same pair kept
    # a new B: the picker follows the new list (its most divergent pair), not the old position
    b_model = at.selectbox(key="cmp_B_model")
    b_model.set_value(b_model.options[-1])
    _run(at)
    picker = next(s for s in at.selectbox if s.label == "Read one pair in full")
    assert picker.value == 0
    first_question = first_frame(at, "question_id", "divergence")["question"].iloc[0]
    assert any(t.value.startswith("Question (") and first_question in t.value for t in at.text)


def test_two_sessions_do_not_share_selections(demo_dir):
    from univar_core.maps import store

    qa_id = str(store.load_map("demo", data_dir=demo_dir).qas["qa_id"].iloc[0])
    first, second = _open(PAGES[0]), _open(PAGES[0])
    first.session_state["map_selection"] = [qa_id]
    _run(first)
    _run(second)
    assert len(first_frame(first, "qa_id", "cluster_label", "x")) == 1
    assert first_frame(second, "qa_id", "cluster_label", "x") is None
    assert "map_selection" not in second.session_state or not second.session_state["map_selection"]


def test_damaged_map_is_an_error_message_not_a_traceback(tmp_path, monkeypatch, demo_dir):
    data_dir = tmp_path / "maps"
    shutil.copytree(demo_dir / "demo", data_dir / "demo")
    shutil.copytree(demo_dir / "demo", data_dir / "broken")
    emb = data_dir / "broken" / "embeddings.npy"
    raw = bytearray(emb.read_bytes())
    raw[-8:] = b"\x00" * 8                      # flip the last bytes: the checksum no longer matches
    emb.write_bytes(bytes(raw))
    monkeypatch.setenv("UNIVAR_DATA_DIR", str(data_dir))
    at = _open(PAGES[0], "broken")
    if any("broken" in label for label in at.selectbox(key="map_name").options):
        # listed (listing is structural only): opening it verifies the checksums
        assert at.error and "broken" in at.error[0].value and "checksum" in at.error[0].value
        assert not at.get("plotly_chart")        # the page did not draw from a damaged map
    else:
        assert any("broken" in w.value for w in at.warning)
