"""The big-map Value Map: density image, selection resolved against every point, zoom to points;
and the page on a 60k-point map (over MAX_DRAWN_POINTS) in AppTest."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from univar_core.figures import density

from apptest_helpers import first_frame, run_ok

REPO = Path(__file__).resolve().parents[1]


def _points(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n).astype(np.float32), "y": rng.normal(size=n).astype(np.float32),
                         "lang": rng.choice(["eng", "ind", "zho"], n),
                         "value_id": pd.Series(rng.choice([f"m{i}$eng" for i in range(40)], n)).where(
                             rng.random(n) > 0.01, None)})


def test_density_figure_is_one_small_image_whatever_n_and_no_webgl():
    pts = _points(200_000)
    fig = density.density_figure(pts, color_by="lang", title="t")
    kinds = [t.type for t in fig.data]
    # no WebGL trace: in a browser without a GPU its set-up alone took a second per draw
    assert kinds[:3] == ["image", "heatmap", "scatter"] and "scattergl" not in kinds
    assert len(fig.to_json()) < 2_000_000 and fig.data[0].source.startswith("data:image/png;base64,")
    assert {t.name for t in fig.data[3:]} == {"eng", "ind", "zho"}  # legend swatches
    hover = fig.data[1]
    assert sum(int(t.split(" QAs")[0].replace(",", "")) for row in hover.text for t in row if t) == len(pts)
    assert np.nansum(np.asarray(hover.z, dtype=float)) == len(pts)
    assert fig.layout.dragmode == "select" and len(fig.data[2].x) == 2   # the anchor that makes it selectable
    many = density.density_figure(pts, color_by="value_id", highlight_groups=["m1$eng"])
    assert len(many.data) == 3 + 1 and many.data[3].name == "m1$eng"   # 41 groups: highlight only


def test_a_big_maps_legend_is_a_strip_of_its_own_and_the_chart_can_leave_it_out():
    names = ["eng", "<b>ind</b>", "zho"]
    strip = density.legend_figure(names, ["eng", "<b>ind</b>"])
    assert [t.name for t in strip.data] == ["eng", "&lt;b&gt;ind&lt;/b&gt;"]       # names escaped
    assert strip.data[0].marker.color == density.group_colors(names)["eng"]          # the chart's colours
    assert strip.layout.legend.itemclick is False and strip.layout.height < 100
    assert density.legend_groups(names, ["zho"], np.array([0, 1])) == ["zho"]      # highlighted only
    assert density.legend_groups([f"g{i}" for i in range(40)], [], np.arange(40)) == []   # too many to read
    pts = _points(1_000)
    bare = density.density_figure(pts, color_by="lang", legend=False)
    assert [t.type for t in bare.data] == ["image", "heatmap", "scatter"]
    download = density.with_legend(bare, ["eng", "ind", "zho"], ["ind"])            # the chart's HTML file
    assert [t.name for t in download.data[3:]] == ["ind"] and len(bare.data) == 3   # a copy: the chart unchanged


def _opaque_pixels(fig) -> int:
    import io
    import zlib

    png = base64.b64decode(fig.data[0].source.split(",", 1)[1])
    w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    raw = io.BytesIO(zlib.decompress(png[png.index(b"IDAT") + 4:png.index(b"IEND") - 8]))
    rows = [raw.read(1 + 4 * w)[1:] for _ in range(h)]
    return int((np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(h, w, 4)[..., 3] > 0).sum())


def test_a_sparse_view_spreads_its_points_to_dots_and_a_dense_one_does_not():
    one = pd.DataFrame({"x": [0.5], "y": [0.5], "lang": ["eng"]})
    assert _opaque_pixels(density.density_figure(one, color_by="lang", view=(0, 1, 0, 1))) == 25   # 5 x 5 px
    few = _points(50_000)
    dense = _points(200_000)
    view = (-6.0, 6.0, -6.0, 6.0)
    n_few = _opaque_pixels(density.density_figure(few, color_by="lang", view=view))
    n_dense = _opaque_pixels(density.density_figure(dense, color_by="lang", view=view))
    assert n_few > n_dense          # 3 x 3 px dots from 50k points cover more than 1 px points from 200k


def _typed(values) -> np.ndarray:
    """A figure JSON array: plotly's typed array {dtype, bdata} (or a plain list)."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values)


def test_points_figure_is_lean_typed_and_keeps_colours_highlight_and_search():
    n = density.MAX_SVG_POINTS
    pts = _points(n)
    pts["value_id"] = pts["value_id"].fillna("<m>$eng")
    groups = density.group_codes(pd.concat([pts["lang"], pd.Series(["aaa"])]))   # the whole map has one more
    groups = (groups[0][:n], groups[1])
    rows = np.arange(n) + 1_000_000                                           # their rows in the map
    fig = density.points_figure(pts, groups=groups, rows=rows, title="t")
    spec = json.loads(fig.to_json())
    drawn = [t for t in spec["data"] if t.get("customdata") is not None]
    assert [t["type"] for t in drawn] == ["scatter"]
    assert all(isinstance(drawn[0][k], dict) for k in ("x", "y", "customdata"))           # typed arrays
    assert isinstance(drawn[0]["marker"]["color"], dict)                                  # codes, typed
    assert sorted(_typed(drawn[0]["customdata"])) == rows.tolist()
    assert drawn[0]["marker"]["colorscale"][1][1] == density.group_colors(groups[1])["eng"]  # the map's colours
    assert "&lt;m&gt;$eng" in drawn[0]["text"] and "<m>" not in "".join(drawn[0]["text"])   # escaped labels
    assert {t["name"] for t in spec["data"] if t.get("showlegend")} == {"eng", "ind", "zho"}
    assert len(fig.to_json()) < 2_500_000
    by_row = dict(zip(_typed(drawn[0]["customdata"]), drawn[0]["text"]))
    assert by_row[1_000_005] == density.escape_hover(pts["value_id"][5])                  # labels follow rows
    xs = dict(zip(_typed(drawn[0]["customdata"]), _typed(drawn[0]["x"])))
    assert xs[1_000_005] == np.float32(pts["x"][5])
    labelled = density.points_figure(pts.head(3), groups=(groups[0][:3], groups[1]), hover=["a", "b", "c"])
    assert dict(zip(labelled.data[0].customdata, labelled.data[0].text)) == {0: "a", 1: "b", 2: "c"}
    emphasis = np.arange(n) % 2 == 0
    grey = density.points_figure(pts, groups=groups, highlight_groups=["eng"], emphasis=emphasis, contours=True)
    other, coloured = grey.data[0], grey.data[1]
    assert other.name == "other QAs"
    assert sorted(coloured.customdata) == np.flatnonzero((pts["lang"] == "eng") & emphasis).tolist()
    assert [t.name for t in grey.data if t.showlegend] == ["eng"]
    assert [t.type for t in grey.data].count("histogram2dcontour") == 1


def test_selected_rows_are_the_view_rows_in_a_box_and_the_clicked_points():
    x = np.array([0.0, 0.5, 1.0, 2.0, 0.2, 0.3])
    y = np.array([0.0, 0.5, 1.0, 2.0, 0.8, 0.3])
    in_view = np.array([0, 1, 2, 3, 4])                          # row 5 is filtered out
    box = {"box": [{"x": [-0.1, 0.6], "y": [-0.1, 0.6]}], "points": [{"customdata": 3}, {"customdata": [2]},
                                                                      {"x": 1}, {"customdata": 99}]}
    assert density.selected_rows(x, y, in_view, box).tolist() == [0, 1, 2, 3]
    assert density.selected_rows(x, y, in_view, None).tolist() == []


def test_nearby_views_pan_by_half_a_view_and_zoom_out_to_the_whole_map():
    whole = (-10.0, 10.0, -10.0, 10.0)
    steps = density.nearby_views((0.0, 2.0, 0.0, 4.0), whole)
    assert steps["←"] == (-1.0, 1.0, 0.0, 4.0) and steps["→"] == (1.0, 3.0, 0.0, 4.0)
    assert steps["↑"] == (0.0, 2.0, 2.0, 6.0) and steps["↓"] == (0.0, 2.0, -2.0, 2.0)
    assert steps["Zoom out"] == (-1.0, 3.0, -2.0, 6.0)
    assert density.nearby_views((-8.0, 8.0, -9.0, 9.0), whole)["Zoom out"] is None   # would hold it all


def test_selection_is_resolved_against_every_point():
    x = np.array([0.0, 0.5, 1.0, 2.0, 0.2])
    y = np.array([0.0, 0.5, 1.0, 2.0, 0.8])
    box = {"box": [{"x": [1.1, -0.1], "y": [-0.1, 1.1]}]}
    assert density.rows_in_selection(x, y, box).tolist() == [True, True, True, False, True]
    lasso = {"lasso": [{"x": [-0.1, 0.6, 0.6], "y": [-0.1, -0.1, 0.6]}]}   # lower-right triangle
    assert density.rows_in_selection(x, y, lasso).tolist() == [True, True, False, False, False]
    assert not density.rows_in_selection(x, y, None).any()
    assert density.selection_view(box) == (-0.1, 1.1, -0.1, 1.1)
    assert density.in_view(x, y, (-0.1, 1.1, -0.1, 1.1)).sum() == 4


@pytest.fixture(scope="module")
def big_map_dir(tmp_path_factory, demo_map_master):
    """A 60k-QA map written directly (synthetic coordinates; no UMAP), next to the demo map."""
    import shutil

    from univar_core.maps import store

    data_dir = tmp_path_factory.mktemp("big_maps")
    shutil.copytree(demo_map_master, data_dir / "demo")
    n = 60_000
    rng = np.random.default_rng(0)
    pts = _points(n)
    qas = pd.DataFrame({
        "qa_id": [f"b:{i}" for i in range(n)], "dataset": "big", "model": "m", "lang": pts["lang"],
        "value_id": "m$" + pts["lang"], "question_id": [f"q{i % 500}" for i in range(n)],
        "question": [f"Question {i % 500}?" for i in range(n)], "answer": [f"answer {i}" for i in range(n)],
        "x": pts["x"], "y": pts["y"], "cluster": 0, "cluster_label": "c", "layer": "base"})
    emb = rng.normal(size=(n, 8)).astype(np.float32)
    store.save_map(store.ValueMap(name="big", qas=qas, embeddings=emb,
                                  manifest={"encoder": {"name": "synthetic"}}), data_dir=data_dir)
    return data_dir


def _spec(at: AppTest) -> dict:
    """The map chart's figure (the legend strip above it has no title)."""
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(spec for spec in specs if spec["layout"].get("title"))


def _legend(at: AppTest) -> list[str]:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return [t["name"] for spec in specs if not spec["layout"].get("title") for t in spec["data"]]


def test_value_map_page_draws_density_then_points_and_lists_a_box(big_map_dir, monkeypatch):
    monkeypatch.setenv("UNIVAR_DATA_DIR", str(big_map_dir))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.query_params["map"] = "big"
    run_ok(at, 180)
    spec = _spec(at)
    assert spec["data"][0]["type"] == "image"
    assert len(json.dumps(spec)) < 3_000_000
    assert _legend(at) == ["eng", "ind", "zho"] and not any(t.get("showlegend") for t in spec["data"])
    # a box over the density image (what the chart's on_select callback stores)
    box = {"box": [{"x": [0.0, 0.5], "y": [0.0, 0.5]}], "points": [], "lasso": []}
    at.session_state["map_last_selection"] = box
    at.session_state["map_selection_pending"] = True
    run_ok(at, 180)
    from univar_core.maps import store

    qas = store.load_map("big", data_dir=big_map_dir).qas
    inside = ((qas.x >= 0) & (qas.x <= 0.5) & (qas.y >= 0) & (qas.y <= 0.5)).sum()
    table = first_frame(at, "qa_id", "cluster_label", "x")
    assert table is not None and len(table) == min(inside, 5_000)
    # zoom to the box: more than MAX_SVG_POINTS QAs -> the image of the box; fewer -> the points themselves
    assert inside > density.MAX_SVG_POINTS
    at.button(key="zoom_box").click()
    run_ok(at, 180)
    spec = _spec(at)
    assert spec["data"][0]["type"] == "image" and spec["layout"]["xaxis"]["range"] == [0.0, 0.5]
    at.button(key="pan_→").click()                       # pan half a view right, then zoom out about it
    run_ok(at, 180)
    assert _spec(at)["layout"]["xaxis"]["range"] == [0.25, 0.75]
    at.button(key="zoom_out").click()
    run_ok(at, 180)
    assert (_spec(at)["layout"]["xaxis"]["range"], _spec(at)["layout"]["yaxis"]["range"]) == ([0, 1], [-0.25, 0.75])
    at.session_state["map_last_selection"] = {"box": [{"x": [0.0, 0.3], "y": [0.0, 0.3]}], "points": [], "lasso": []}
    run_ok(at, 180)                       # the button now zooms to this box
    at.button(key="zoom_box").click()
    run_ok(at, 180)
    inside = ((qas.x >= 0) & (qas.x <= 0.3) & (qas.y >= 0) & (qas.y <= 0.3)).sum()
    spec = _spec(at)
    drawn = [t for t in spec["data"] if t.get("customdata") is not None]
    assert all(t["type"] == "scatter" for t in drawn) and sum(len(_typed(t["customdata"])) for t in drawn) == inside
    assert spec["layout"]["xaxis"]["range"] == [0.0, 0.3]            # the axes show the zoomed view
    # hover: each point's QA (its text read from disk for the drawn rows only)
    row = int(_typed(drawn[-1]["customdata"])[0])
    assert drawn[-1]["text"][0].startswith(f"<b>{qas.loc[row, 'value_id']}</b><br>Q: {qas.loc[row, 'question']}")
    # a click on a point (its customdata: its row) lists it with its text, read from disk for that row only
    at.session_state["map_last_selection"] = {"points": [{"customdata": row}], "box": [], "lasso": []}
    at.session_state["map_selection_pending"] = True
    at.text_input(key="map_search").input("ANSWER 1")
    run_ok(at, 180)
    table = first_frame(at, "qa_id", "cluster_label", "x")
    assert table[["qa_id", "question", "answer"]].values.tolist() == [qas.loc[row, ["qa_id", "question", "answer"]]
                                                                      .tolist()]
    assert any("match" in c.value for c in at.caption)
    at.button(key="zoom_reset").click()
    run_ok(at, 180)
    assert _spec(at)["data"][0]["type"] == "image"


def test_compare_page_on_a_big_map_draws_both_value_ids_and_a_sample_of_the_rest(big_map_dir, monkeypatch):
    """Compare once drew every QA of the map with a hover label each: at a million QAs, more than a WebGL
    scatter or a Streamlit message can carry. Now both value IDs' QAs and a sample of the rest, said so."""
    from univar_core.maps import store

    monkeypatch.setenv("UNIVAR_DATA_DIR", str(big_map_dir))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.query_params["map"] = "big"
    run_ok(at, 180)
    run_ok(at.switch_page("pages/compare.py"), 180)
    chart = next(c for c in at.get("plotly_chart") if "on the map (" in c.proto.spec)
    spec = json.loads(chart.proto.spec)
    drawn_x = np.concatenate([_typed(t["x"]) for t in spec["data"] if t.get("x") is not None])
    assert len(drawn_x) == density.MAX_DRAWN_POINTS
    title = spec["layout"]["title"]["text"]
    pair = [v for v in store.load_map("big", data_dir=big_map_dir).points["value_id"].dropna().unique()
            if f"{v} and " in title or f" and {v} on" in title]
    n_pair = int(store.load_map("big", data_dir=big_map_dir).points["value_id"].isin(pair).sum())
    assert len(pair) == 2 and f"({n_pair:,} QAs)" in title
    coloured = sum(len(_typed(t["x"])) for t in spec["data"] if t.get("name") in pair)
    assert coloured == n_pair                     # every QA of the two value IDs is drawn
    assert any("more than one scatter can draw" in c.value for c in at.caption)
