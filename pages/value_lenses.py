"""Value Lenses: measure what the map shows by eye. Distances between value IDs (clustered heatmap,
bootstrap CI, permutation test) and ValueLex / Schwartz / Moral Foundations scores. Trajectories and the
check against human cultural distances are on the Alignment & Culture page (pages/alignment.py)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import _session, _shared, _ui
from univar_core.analysis import compare, lenses
from univar_core.figures import lens_figures, map_figures
from univar_core.maps import build

LEVELS = {"value ID": "value_id", "language": "lang", "model": "model"}
LENS_TITLES = {"valuelex": "ValueLex", "schwartz": "Schwartz basic values", "mft": "Moral Foundations"}
METHOD_HELP = ("centroid: cosine distance between the two mean embeddings. energy / MMD: distances between "
               "the whole QA distributions (they see spread, not only the mean).")
MAX_RADAR = 6


# ---------------------------------------------------------------- 1. distances
def _distances_section(vmap, key) -> None:
    st.header("1. Distances between value IDs")
    c1, c2 = st.columns(2)
    method = c1.selectbox("Distance", list(compare.METHODS), key="lens_method", help=METHOD_HELP)
    level_label = c2.selectbox("Level", list(LEVELS), key="lens_level",
                               help="language / model: the mean distance between their value IDs.")
    level = LEVELS[level_label]
    with st.spinner("Distances between all value IDs…"):
        dm = _shared.distances_for_map(key, method, level)
    if len(dm) < 2:
        st.info(f"The map has a single {level_label}: no distances to show.")
    else:
        st.caption(f"{len(dm)} {level_label}s, ordered by average-linkage clustering (the dendrogram on top): "
                   "similar ones sit next to each other.")
        find = st.text_input(f"Find {level_label}s", key="lens_find", placeholder="e.g. gpt-4 or $ind",
                             help="Outlines the matching rows and columns and names them on the axes.")
        found = [v for v in map(str, dm.index) if find.strip() and find.strip().lower() in v.lower()]
        fig = lens_figures.clustered_heatmap_figure(dm, title=f"{method} distance between {level_label}s",
                                                    highlight=found)
        _ui.show_figure(fig, name=f"{vmap.name}_{method}_{level}_distances", key="lens_heatmap")
        _ui.csv_download(dm.reset_index(), label="Download the distance matrix (CSV)",
                         file_name=f"{vmap.name}_{method}_{level}_distances.csv", key="lens_dm_csv")
    _pair_section(vmap, key, method)


def _pair_section(vmap, key, method: str) -> None:
    st.subheader("Two value IDs: distance, 95% CI and permutation test")
    value_ids = _shared.label_codes(key, "value_id")[1]   # sorted, cached per map
    if len(value_ids) < 2:
        st.info("This map has a single value ID: nothing to test.")
        return
    c1, c2 = st.columns(2)
    a = c1.selectbox("Value ID A", value_ids, index=0, key="lens_pair_a")
    b = c2.selectbox("Value ID B", value_ids, index=1, key="lens_pair_b")
    if a == b:
        st.warning("Pick two different value IDs.")
        return
    try:
        with st.spinner("Bootstrap (200 resamples) and permutation test (499 shuffles)…"):
            stats = _shared.pair_test_for_map(key, a, b, method)
    except ValueError as err:
        st.info(f"Cannot test this pair: {_ui.md(err)}")
        return
    m1, m2, m3 = st.columns(3)
    m1.metric(f"{method} distance", f"{stats['distance']:.4f}")
    m2.metric("95% bootstrap CI", f"[{stats['lo']:.4f}, {stats['hi']:.4f}]")
    m3.metric("permutation p", f"{stats['p']:.3f}")
    shared = stats["shared_questions"]
    design = (f"questions resampled and shuffled within the {shared} questions both answered (paired)"
              if stats["paired"] else f"QAs resampled and shuffled freely (they share only {shared} questions)")
    verdict = ("so the two are distinguishable: a difference this large rarely arises by relabelling their QAs at "
               "random" if stats["p"] < 0.05 else
               "so the data cannot tell them apart: random relabellings of their QAs give distances as large")
    st.write(f"p = {stats['p']:.3f} is the share of random relabellings of the two value IDs' QAs whose "
             f"{method} distance is at least the observed one, {verdict}. ({design}.)")
    _ui.csv_download(pd.DataFrame([stats]), label="Download this test (CSV)", file_name="pair_test.csv",
                     key="lens_pair_csv")


# ---------------------------------------------------------------- 2. lenses
def _lens_section(vmap, key) -> None:
    st.header("2. Value lenses")
    lens_name = st.radio("Lens", list(lenses.LENS_NAMES), format_func=lambda n: LENS_TITLES.get(n, n),
                         horizontal=True, key="lens_name")
    lens = lenses.get_lens(lens_name)
    with st.expander("How a score is computed", expanded=False):
        st.markdown(lenses.__doc__.split("How a score is computed (the app quotes this):", 1)[-1])
        st.caption(f"Source of the lens: {_ui.md(lens.source)}")
        st.dataframe(lens.describe(), hide_index=True, key="lens_describe")
    st.caption("Score = similarity of a QA's embedding to the lens's descriptor prototypes minus its "
               "similarity to a neutral baseline; a value ID's score is the mean over its QAs (95% bootstrap CI).")
    enc, why = _session.encoder_for_map(vmap)
    if enc is None:
        st.info(f"{why} Lens scores need the map's encoder (to embed the descriptor prototypes), so this part "
                "is skipped. Rebuild the map with a loadable encoder to use the lenses.")
        return
    with st.spinner(f"Embedding the {lens.title} prototypes and scoring every QA…"):
        qa_scores, dims, subs = _shared.lens_scores_for_map(key, lens_name)
        summary = _shared.lens_summary_for_map(key, lens_name)
    level = st.radio("Radar axes", ["dimensions", "subdimensions"], horizontal=True, key="lens_axes")
    columns = dims if level == "dimensions" else subs
    if len(columns) < 3:   # a radar needs at least 3 axes
        columns = subs
    value_ids = _shared.label_codes(key, "value_id")[1]   # sorted, cached per map
    chosen = st.multiselect(f"Value IDs on the radar (up to {MAX_RADAR})", value_ids,
                            default=value_ids[:2], max_selections=MAX_RADAR, key="lens_radar_ids")
    if chosen:
        fig = lens_figures.lens_radar_figure(summary, chosen, columns, title=f"{lens.title}: {level}")
        _ui.show_figure(fig, name=f"{vmap.name}_{lens_name}_radar", key="lens_radar")
    else:
        st.caption("Pick at least one value ID to draw the radar.")
    st.subheader("Scores per value ID")
    table = summary[summary["score"].isin(dims + subs)].rename(columns={"lo": "ci_low", "hi": "ci_high"})
    st.dataframe(table, hide_index=True, key="lens_scores_table",
                 column_config={c: st.column_config.NumberColumn(format="%.4f")
                                for c in ("mean", "ci_low", "ci_high")})
    _ui.csv_download(table, label="Download value-ID scores (CSV)", file_name=f"{vmap.name}_{lens_name}_scores.csv",
                     key="lens_scores_csv")
    _driving_qas(vmap, qa_scores, value_ids, dims + subs)
    _lens_map(vmap, key, qa_scores, dims + subs, lens_name)


def _driving_qas(vmap, qa_scores: pd.DataFrame, value_ids: list[str], columns: list[str]) -> None:
    st.subheader("The QAs that drive a score")
    c1, c2, c3 = st.columns(3)
    vid = c1.selectbox("Value ID", value_ids, key="lens_drive_vid")
    dim = c2.selectbox("Score", columns, key="lens_drive_dim")
    lowest = c3.radio("Direction", ["raise it most", "lower it most"], key="lens_drive_dir") == "lower it most"
    drivers = lenses.top_driving_qas(vmap.qas, qa_scores, vid, dim, n=10, lowest=lowest)
    shown = drivers.drop(columns=["row"])
    st.dataframe(shown, hide_index=True, key="lens_drivers_table")
    _ui.csv_download(shown, label="Download these QAs (CSV)", file_name="driving_qas.csv", key="lens_drivers_csv")


def _lens_map(vmap, key, qa_scores: pd.DataFrame, columns: list[str], lens_name: str) -> None:
    st.subheader("The map coloured by a lens score")
    dim = st.selectbox("Colour by", columns, key="lens_map_dim")
    col = f"score: {dim}"
    drawn = _shared.drawn_for_map(key)
    points = drawn.points.assign(**{col: qa_scores[dim].to_numpy(dtype=float)[drawn.rows]})
    fig = map_figures.value_map_figure(points, color_by=col, hover=drawn.hover,
                                       title=f"{vmap.name}: {LENS_TITLES.get(lens_name, lens_name)} score '{dim}'")
    _ui.show_figure(fig, name=f"{vmap.name}_{lens_name}_map", key="lens_map_chart")
    if drawn.note:
        st.caption(drawn.note)


vmap = _session.current_map()
key = _session.current_map_key()
st.title("Value Lenses")
st.caption("Turn positions on the map into numbers: distances with confidence intervals, interpretable value "
           "lenses, alignment trajectories, and a check against human cultural distances.")
if build.is_centred(vmap.manifest):
    st.caption("This map is question-centred: distances and lens scores are computed on how each answer departs "
               "from the other answers to its question (a lens score then reads as leaning more or less toward a "
               "value than the consensus).")
_distances_section(vmap, key)
_lens_section(vmap, key)
st.caption("Alignment trajectories over checkpoints and the check against human cultural distances are on the "
           "Alignment & Culture page.")
