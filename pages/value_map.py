"""Value Map: every QA on the UMAP map, or one point per value ID (the paper's fig. 1 and fig. 5)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from pages import _grouped_view, _session, _shared, _ui
from univar_core.encoders.base import DEFAULT_ENCODER
from univar_core.figures import density, map_figures

COLOR_CHOICES = {"language": "lang", "model": "model", "dataset": "dataset", "cluster": "cluster_label",
                 "value ID": "value_id", "layer": "layer"}
FILTER_COLUMNS = ["lang", "model", "dataset", "layer", "cluster_label", "value_id"]
MAX_FILTER_OPTIONS = 300      # a column with more distinct values than this is not offered as a filter
CHART_KEY = "value_map_chart"
ZOOM_KEY, LAST_SELECTION_KEY, PENDING_KEY = "map_zoom", "map_last_selection", "map_selection_pending"
MAX_TABLE_ROWS = 5_000        # rows listed on the page; the CSV download holds the whole selection
TOPIC_HINT = ("With the general sentence encoder {enc}, nearby QAs mostly share a question or topic, not values "
              "(the UniVaR paper's point). For values, build the map question-centred (the build option "
              "centre questions, on Train & Embed or in the CLI) or with a trained value encoder; the grouped "
              "view compares value IDs as wholes.")


def _remember_selection() -> None:
    """on_select: selected qa_ids to session state; on a big map _qa_view resolves the selection on every QA."""
    event = st.session_state.get(CHART_KEY)
    selection = event.get("selection") if event else None
    st.session_state[LAST_SELECTION_KEY] = selection
    st.session_state[_session.MAP_SELECTION_KEY] = map_figures.selected_qa_ids(selection)
    st.session_state[PENDING_KEY] = bool(selection)


def _zoom_controls(whole: density.View) -> None:
    """Zoom to the drawn box, zoom out, pan half a view, or back to the whole map."""
    box, zoom = density.selection_view(st.session_state.get(LAST_SELECTION_KEY)), st.session_state.get(ZOOM_KEY)
    moves = {"Zoom to box": box, **density.nearby_views(zoom or whole, whole), "Whole map": None}
    keys = {"Zoom to box": "zoom_box", "Whole map": "zoom_reset", "Zoom out": "zoom_out"}
    for col, (label, view) in zip(st.columns([3, 3, 1, 1, 1, 1, 3, 4]), moves.items()):
        col.button(label, key=keys.get(label, f"pan_{label}"), disabled=box is None if label == "Zoom to box"
                   else zoom is None, on_click=lambda v=view: st.session_state.update({ZOOM_KEY: v}))   # one run


def _filter_columns(points: pd.DataFrame) -> list[str]:
    # extra text columns of the source (e.g. questionnaire, subset) with a handful of values
    skip = set(FILTER_COLUMNS) | {"qa_id", "question_id"}
    extras = [c for c in points.columns if c not in skip and pd.api.types.is_string_dtype(points[c])
              and 1 < points[c].nunique() <= 50]
    return [c for c in FILTER_COLUMNS if c in points.columns] + extras


def _apply_filters(key, points: pd.DataFrame) -> np.ndarray:
    keep = np.ones(len(points), dtype=bool)
    with st.expander("Filters", expanded=False):
        for col in _filter_columns(points):
            codes, options = _shared.label_codes(key, col)   # factorised once per map (1M labels: seconds)
            if len(options) < 2 or len(options) > MAX_FILTER_OPTIONS:
                continue
            chosen = st.multiselect(col, options, key=f"filter_{col}", placeholder="all")
            if chosen:
                keep &= np.isin(codes, [options.index(c) for c in chosen])
    return keep


class Colouring(NamedTuple):
    label: str                              # the column's name on screen
    column: str
    groups: tuple[np.ndarray, list[str]]    # code per QA of the whole map, group names
    highlight: list[str]
    contours: bool
    query: str                              # text search
    present: np.ndarray                     # codes of the groups with QAs that pass the filters


def _colour_controls(key, points: pd.DataFrame, keep: np.ndarray) -> Colouring:
    """Colour column, its cached (codes, names) over the map (no pass over 1M labels), highlight, contours, query."""
    available = {label: col for label, col in COLOR_CHOICES.items() if col in points.columns}
    c1, c2 = st.columns([1, 2])
    # one language (ValueBench) coloured by language is one colour: start with the first column that splits
    default = next((i for i, col in enumerate(available.values()) if len(_shared.label_codes(key, col)[1]) > 1), 0)
    color_label = c1.selectbox("Colour by", list(available), key="color_by", index=default)
    color_col = available[color_label]
    query = c2.text_input("Search QA text", key="map_search", placeholder="e.g. family, freedom, tradition")
    codes, names = _shared.label_codes(key, color_col)
    present_codes = np.flatnonzero(np.bincount(codes[keep], minlength=len(names)))
    present = [names[i] for i in present_codes]
    highlight, contours = [], False
    if len(present) <= map_figures.MAX_LEGEND_GROUPS and not pd.api.types.is_float_dtype(points[color_col]):
        c3, c4 = st.columns([1, 2])
        focus = c3.selectbox("One group against the rest", ["(all groups)"] + sorted(present), key="focus_group",
                             help="Colour one group and draw every other point grey underneath it.")
        highlight = [] if focus == "(all groups)" else [focus]
        contours = c4.toggle("Density contours per group", key="map_contours",
                             disabled=len(present) > map_figures.MAX_CONTOUR_GROUPS,
                             help="Where points of several groups overlap, each group's contour lines show "
                                  f"where it lies (up to {map_figures.MAX_CONTOUR_GROUPS} groups).")
    elif len(present) > map_figures.MAX_LEGEND_GROUPS:
        st.caption(f"{len(present)} {color_label} groups: too many for a legend. Colour by language or model "
                   "to group them, or pick groups to highlight (the rest turn grey).")
        highlight = st.multiselect("Highlight", sorted(present), key="highlight_groups")
    return Colouring(color_label, color_col, (codes, names), highlight, contours, query, present_codes)


def _qa_view(vmap, key, points: pd.DataFrame, keep: np.ndarray) -> None:
    controls = _colour_controls(key, points, keep)
    legend: list[str] = []
    if vmap.n_qas > density.MAX_DRAWN_POINTS:   # a big map's legend: drawn once here, not on every zoom / pan
        names = controls.groups[1]
        legend = density.legend_groups(names, controls.highlight, controls.present)
        if legend:
            st.plotly_chart(density.legend_figure(names, legend), key="map_legend", config={"displayModeBar": False})
    _map_chart(vmap, key, points, keep, controls, legend)
    _selected_table(vmap, key)


@st.fragment
def _map_chart(vmap, key, points: pd.DataFrame, keep: np.ndarray, controls: Colouring, legend: list[str]) -> None:
    """The chart and its zoom / pan buttons, a fragment: a zoom or pan reruns this alone, not the selection
    table or the sidebar, which the browser would redraw too; a new selection reruns the page for its table."""
    color_label, color_col, (codes, names), highlight, contours, query, _ = controls
    x, y = points["x"].to_numpy(), points["y"].to_numpy()
    zoom = st.session_state.get(ZOOM_KEY)
    rows = np.flatnonzero(keep & density.in_view(x, y, zoom))  # a big map is drawn as points once few
    big = vmap.n_qas > density.MAX_DRAWN_POINTS
    if st.session_state.pop(PENDING_KEY, False):   # box, lasso or click; on a big map resolved on every QA
        if big:
            picked = density.selected_rows(x, y, rows, st.session_state.get(LAST_SELECTION_KEY))
            st.session_state[_session.MAP_SELECTION_KEY] = points["qa_id"].iloc[picked].astype(str).tolist()
        st.rerun()                                  # the whole page: the table lists the selection
    emphasis = None
    if query.strip():
        emphasis = _shared.text_matches(key, query.strip())[rows]
        st.caption(f"{int(emphasis.sum()):,} of {len(rows):,} shown QAs match “{_ui.md(query.strip())}”.")
    title = f"{vmap.name}: {len(rows):,} QAs coloured by {color_label}"
    groups = (codes[rows], names)
    if len(rows) > (density.MAX_SVG_POINTS if big else density.MAX_DRAWN_POINTS):   # no WebGL on big maps
        fig = density.density_figure(points[["x", "y"]].iloc[rows], color_by=color_col, view=zoom, groups=groups,
                                     highlight_groups=highlight, emphasis=emphasis, title=f"{title} (density)",
                                     legend=False)
        st.caption(f"{len(rows):,} QAs in view: drawn as an image (hover: counts). Draw a box to list its QAs, or "
                   f"zoom to it: at {density.MAX_SVG_POINTS:,} QAs or fewer they are points (hover: the QA; "
                   "click: listed below).")
    elif big:   # a zoomed view of a big map: SVG points, the hover's QA text read from disk for these rows
        hover = map_figures.hover_texts(_shared.qa_rows(key, rows, ("value_id", "question", "answer")))
        fig = density.points_figure(points[["x", "y"]].iloc[rows], groups=groups, rows=rows, hover=hover,
                                    highlight_groups=highlight, emphasis=emphasis, contours=contours, title=title,
                                    legend=False)
    else:
        hover = np.asarray(_shared.drawn_for_map(key).hover, dtype=object)[rows]   # a small map: every QA
        fig = map_figures.value_map_figure(points.iloc[rows], color_by=color_col, emphasis=emphasis, title=title,
                                           highlight_groups=highlight, hover=list(hover), contours=contours)
    if zoom is not None:   # points too: the axes show the zoomed view, so that a pan moves them
        density.show_view(fig, zoom)
    _ui.show_figure(fig, name=f"{vmap.name}_value_map", key=CHART_KEY, on_select=_remember_selection,
                    selection_mode=("points", "box", "lasso"),   # the file carries the legend drawn apart
                    download=lambda: density.with_legend(fig, names, legend))
    _zoom_controls(density.full_view(x, y))


def _selected_table(vmap, key) -> None:
    rows = vmap.rows_of(st.session_state.get(_session.MAP_SELECTION_KEY) or [])
    st.subheader(f"Selected QAs ({len(rows):,})")
    if not len(rows):
        st.caption("Draw a box or lasso on the map (or click a point) to list QAs here.")
        return
    columns = tuple(c for c in _ui.QA_TEXT_COLUMNS + ["x", "y", "cluster_label"] if c in vmap.columns)
    if len(rows) > MAX_TABLE_ROWS:
        st.caption(f"Listing the first {MAX_TABLE_ROWS:,}; the CSV holds all {len(rows):,}.")
    st.dataframe(_shared.qa_rows(key, rows[:MAX_TABLE_ROWS], columns), hide_index=True, key="selected_qas")
    _ui.csv_download(lambda: vmap.take(rows, columns), label="Download selected QAs (CSV)",   # read on click
                     file_name="selected_qas.csv", key="selected_csv")
    st.button("Clear selection", key="clear_selection",   # on_click: one run, not two
              on_click=lambda: st.session_state.update({_session.MAP_SELECTION_KEY: []}))


vmap = _session.current_map()
key = _session.current_map_key()
st.title("Value Map")
# one short caption: the map must start above the fold
st.caption("One point per question/answer pair, placed by its embedding (UMAP); colours show who answered. "
           "Hover for the QA, click or draw a box or lasso to list QAs.")
points = vmap.points   # every column but the QA text, which is read on demand
keep = _apply_filters(key, points)
if not keep.any():
    st.warning("No QA passes the filters: clear some of them.")
    st.stop()
view = st.radio("View", ["QAs", "Value IDs (grouped)"], horizontal=True, key="map_view")
if view == "QAs":
    centred = (vmap.manifest.get("representation") or {}).get("kind") == "question-centred"
    if centred:
        st.caption("Question-centred: each point is how an answer departs from the other answers to its "
                   "question, so nearby points share a stance, not a topic.")
    elif str((vmap.manifest.get("encoder") or {}).get("name")) == DEFAULT_ENCODER:
        # one caption line, not a box: the map must stay above the fold
        st.caption(":material/lightbulb: " + _ui.md(TOPIC_HINT.format(enc=DEFAULT_ENCODER)))
    _qa_view(vmap, key, points, keep)
else:
    _grouped_view.grouped_view(vmap, key, points, keep)
