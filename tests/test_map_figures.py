"""Figure builders: escaping, customdata round trip, legends with many groups, downloads."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from univar_core.figures import map_figures


def _points(n_groups: int = 3, per_group: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for g in range(n_groups):
        for i in range(per_group):
            rows.append({"qa_id": f"d:{g}-{i}", "value_id": f"m{g}$eng", "lang": "eng", "model": f"m{g}",
                         "question": f"Question {i}?", "answer": f"Answer {i} from m{g}",
                         "x": rng.normal(g * 5, 0.5), "y": rng.normal(0, 0.5)})
    return pd.DataFrame(rows)


def test_escape_hover_neutralises_markup():
    assert map_figures.escape_hover("<script>alert(1)</script> & co") == \
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"
    assert map_figures.escape_hover(None) == ""


def test_shorten_collapses_whitespace_and_cuts():
    assert map_figures.shorten("a \n b", 10) == "a b"
    cut = map_figures.shorten("word " * 100, 20)
    assert len(cut) <= 20 and cut.endswith("…")


def test_hover_texts_escape_user_text_and_truncate_answer():
    pts = pd.DataFrame({"value_id": ["x<b>$eng"], "question": ["Is <i>this</i> ok?"],
                        "answer": ["<script>alert(1)</script> " + "long " * 200]})
    [label] = map_figures.hover_texts(pts)
    assert "<script>" not in label and "<i>" not in label and "x<b>" not in label
    assert "&lt;script&gt;" in label and "&lt;i&gt;" in label
    assert label.startswith("<b>x&lt;b&gt;$eng</b>")     # our own markup survives, theirs does not
    assert len(label) < 700                              # the answer was cut, not shown in full


def test_selected_qa_ids_handles_scalar_list_and_missing_customdata():
    selection = {"points": [{"customdata": ["a"]}, {"customdata": "b"}, {"x": 1.0}, {"customdata": ["a"]}]}
    assert map_figures.selected_qa_ids(selection) == ["a", "b"]
    assert map_figures.selected_qa_ids(None) == []
    assert map_figures.selected_qa_ids({"points": []}) == []


def test_value_map_figure_carries_qa_ids_in_every_trace():
    pts = _points()
    fig = map_figures.value_map_figure(pts, color_by="model")
    assert sorted({t.name for t in fig.data}) == ["m0", "m1", "m2"]
    assert [t.name for t in fig.data if t.showlegend] != [] and sum(t.showlegend for t in fig.data) == 3
    ids = [i for t in fig.data for i in t.customdata]
    assert sorted(ids) == sorted(pts["qa_id"])              # every point once
    assert all(t.type == "scattergl" for t in fig.data)


def test_value_map_emphasis_greys_the_rest():
    pts = _points()
    mask = (pts["model"] == "m1").to_numpy()
    fig = map_figures.value_map_figure(pts, color_by="model", emphasis=mask)
    assert fig.data[0].name == "other QAs" and len(fig.data[0].x) == (~mask).sum()
    assert {t.name for t in fig.data[1:]} == {"m1"}


def test_value_map_with_many_groups_hides_legend_or_highlights():
    pts = _points(n_groups=40, per_group=2)
    fig = map_figures.value_map_figure(pts, color_by="value_id")
    assert len(fig.data) == 1 and fig.data[0].showlegend is False
    assert len(set(fig.data[0].marker.color)) == 40         # points keep distinct colours (group codes)
    assert len({c for _, c in fig.data[0].marker.colorscale}) > 20
    fig = map_figures.value_map_figure(pts, color_by="value_id", highlight_groups=["m3$eng", "m7$eng"])
    assert fig.data[0].name == "other QAs" and {t.name for t in fig.data[1:]} == {"m3$eng", "m7$eng"}


def test_value_map_continuous_colour_and_bad_column():
    pts = _points().assign(score=np.linspace(-1, 1, 12))
    fig = map_figures.value_map_figure(pts, color_by="score")
    assert fig.data[0].marker.showscale is True
    with pytest.raises(KeyError, match="nope"):
        map_figures.value_map_figure(pts, color_by="nope")


def test_overlay_and_grouped_map():
    pts = _points()
    fig = map_figures.add_overlay(map_figures.value_map_figure(pts, color_by="lang"), pts.head(2), name="upload")
    assert fig.data[-1].name == "upload" and list(fig.data[-1].customdata) == list(pts["qa_id"].head(2))
    cen = pts.groupby("value_id").agg(n=("x", "size"), x=("x", "mean"), y=("y", "mean")).reset_index()
    cen = cen.join(map_figures.split_value_id(cen["value_id"])).assign(cohesion=0.5)
    fig = map_figures.grouped_map_figure(cen, color_by="model")
    assert [t.type for t in fig.data] == ["scatter"] * cen["model"].nunique()
    assert sorted(v for t in fig.data for v in t.text) == sorted(cen["value_id"])   # every value ID labelled
    assert all(t.customdata is None for t in fig.data)   # centroids are not QA rows
    assert "cohesion 0.500" in fig.data[0].hovertext[0] and fig.layout.xaxis.title.text == "MDS 1"
    with pytest.raises(KeyError, match="nope"):
        map_figures.grouped_map_figure(cen, color_by="nope")


def test_split_value_id():
    df = map_figures.split_value_id(["gpt-4$eng", "a$b$fra"])
    assert df.to_dict("list") == {"model": ["gpt-4", "a$b"], "lang": ["eng", "fra"]}


def test_small_charts_and_html_download_is_self_contained():
    fig = map_figures.pair_distance_figure([0.1, 0.2, 0.3], 0.2, label="a vs b")
    assert fig.data[0].type == "histogram"
    near = pd.DataFrame({"value_id": ["a$eng", "b$eng"], "similarity": [0.2, 0.9]})
    bars = map_figures.nearest_value_ids_figure(near)
    assert list(bars.data[0].y) == ["a$eng", "b$eng"]      # best at the top of a horizontal bar chart
    heat = map_figures.distance_heatmap_figure(["a", "b"], np.array([[0, 1], [1, 0]]))
    assert heat.data[0].type == "heatmap"
    radar = map_figures.radar_figure(pd.DataFrame({"care": [0.1, 0.3], "fairness": [0.2, 0.0]}, index=["a", "b"]))
    assert len(radar.data) == 2 and radar.data[0].r[0] == radar.data[0].r[-1]
    page = map_figures.figure_html(heat)
    assert b"<html>" in page[:200] and b"<script src=\"https://" not in page and len(page) > 1_000_000


def test_missing_group_values_are_drawn_as_none_group():
    pts = _points().assign(questionnaire=["PVQ40"] * 6 + [None] * 6)
    fig = map_figures.value_map_figure(pts, color_by="questionnaire")
    assert sorted({t.name for t in fig.data}) == ["(none)", "PVQ40"]
    assert sum(len(t.x) for t in fig.data) == len(pts)


def test_wrap_keeps_words_and_cuts_long_tokens():
    assert map_figures._wrap("aa bb cc", 5) == ["aa bb", "cc"]
    assert map_figures._wrap("x" * 12, 5) == ["xxxxx", "xxxxx", "xx"]
    assert map_figures._wrap("", 5) == []


def _same_spot(n_groups: int = 6, per_group: int = 300) -> pd.DataFrame:
    """Six models answering the same questions: every group on the same spots (the ValueBench map)."""
    rng = np.random.default_rng(1)
    spots = rng.normal(size=(per_group, 2))
    rows = [{"qa_id": f"d:{g}-{i}", "value_id": f"m{g}$eng", "model": f"m{g}", "question": "Q?", "answer": "A",
             "x": spots[i, 0], "y": spots[i, 1]} for g in range(n_groups) for i in range(per_group)]
    return pd.DataFrame(rows)


def test_no_group_is_drawn_entirely_under_another():
    fig = map_figures.value_map_figure(_same_spot(), color_by="model")
    positions = map_figures.group_draw_positions(fig)
    assert len(positions) == 6
    for a, pa in positions.items():
        for b, pb in positions.items():
            if a != b:   # some of a's points come after some of b's: a is not all below b
                assert max(pa) > min(pb), f"{a} is drawn entirely under {b}"
    again = map_figures.value_map_figure(_same_spot(), color_by="model")
    assert [t.name for t in again.data] == [t.name for t in fig.data]     # seeded: the same figure twice
    legend = sorted((t.legendrank, t.name) for t in fig.data if t.showlegend)
    assert [name for _, name in legend] == [f"m{g}" for g in range(6)]  # legend in name order


def test_many_groups_in_one_trace_are_drawn_in_random_order():
    pts = _points(n_groups=40, per_group=3)
    fig = map_figures.value_map_figure(pts, color_by="value_id")
    codes = np.asarray(fig.data[0].marker.color)
    assert sorted(fig.data[0].customdata) == sorted(pts["qa_id"])
    assert (np.diff(codes) != 0).sum() > 60        # not in blocks of one group after another


def test_opacity_adapts_to_the_number_of_points():
    assert map_figures.auto_opacity(500) == 0.85
    assert map_figures.auto_opacity(12_000) < 0.5 and map_figures.auto_opacity(1_000_000) == 0.2
    fig = map_figures.value_map_figure(_same_spot(per_group=2000), color_by="model")
    assert fig.data[0].marker.opacity == pytest.approx(map_figures.auto_opacity(12_000))


def test_one_group_against_the_rest_in_grey_and_density_contours():
    pts = _same_spot()
    fig = map_figures.value_map_figure(pts, color_by="model", highlight_groups=["m2"], contours=True)
    assert fig.data[0].name == "other QAs" and fig.data[0].marker.color == map_figures.OTHER_COLOR
    assert {t.name for t in fig.data[1:] if t.type == "scattergl"} == {"m2"}
    fig = map_figures.value_map_figure(pts, color_by="model", contours=True)
    contours = [t for t in fig.data if t.type == "histogram2dcontour"]
    assert sorted(t.name for t in contours) == [f"m{g}" for g in range(6)]
    assert all(t.legendgroup == t.name for t in contours)    # toggled with their group in the legend


def test_grouped_map_labels_of_nearby_points_go_different_ways():
    cen = pd.DataFrame({"value_id": ["a$eng", "b$eng", "c$eng", "d$eng", "far$eng"],
                        "x": [0.0, 0.01, 0.0, 0.01, 5.0], "y": [0.0, 0.0, 0.01, 0.01, 5.0], "n": [10] * 5,
                        "lang": ["eng"] * 5})
    fig = map_figures.grouped_map_figure(cen, color_by="value_id")
    positions = {t.text[0]: t.textposition[0] for t in fig.data}
    crowd = [positions[v] for v in ("a$eng", "b$eng", "c$eng", "d$eng")]
    assert len(set(crowd)) == 4, positions        # four labels on one spot: four directions


def test_pair_distance_histogram_has_an_x_title_room_for_it_and_whole_counts():
    fig = map_figures.pair_distance_figure([0.1, 0.2, 0.25, 0.3], 0.2, label="a vs b", method="energy")
    assert fig.layout.xaxis.title.text == "energy distance between two value IDs"
    assert fig.layout.margin.b >= 40                        # a 10 px margin cut the axis title off
    assert fig.layout.yaxis.dtick >= 1 and fig.layout.yaxis.tickformat == "d"   # no 0.5 pairs
