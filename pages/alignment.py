"""Alignment & Culture: where a model's checkpoints move on the map relative to a target value ID (paper
appendix G), and whether the map's distances between languages follow human cultural distances (rank
correlation with a cultural map, Mantel test)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pages import _session, _shared, _ui
from univar_core.analysis import compare, culture
from univar_core.data import demo
from univar_core.data.schema import QAInputError
from univar_core.figures import lens_figures
from univar_core.maps.build import BASE_LAYER


# ---------------------------------------------------------------- trajectories
def _trajectory_section(vmap, key) -> None:
    st.header("Trajectory toward a target value ID")
    st.caption("Checkpoints of one model (e.g. steps of a DPO run): where each checkpoint's QAs sit on the map "
               "and how far their centroid is from a target value ID (cosine distance of centroids; paper appendix G).")
    is_demo = vmap.name == "demo" or (vmap.path is not None and vmap.path.name == "demo")
    sources = compare.checkpoint_sources(vmap.points, is_demo=is_demo)   # no QA text needed
    if not sources:
        st.info("No checkpoints on this map. Upload each checkpoint's QAs as a layer (Upload page), or build a map "
                "from QAs with a `checkpoint` column.")
        return
    source = st.radio("Checkpoints", sources, key="lens_traj_source", horizontal=True,
                      format_func=compare.CHECKPOINT_SOURCES.get)
    value_ids = _shared.label_codes(key, "value_id")[1]   # sorted, cached per map
    if source == "demo":
        enc, why = _session.encoder_for_map(vmap)
        if enc is None:
            st.info(why)
            return
        with st.spinner("Embedding the demo checkpoints with the map's encoder and placing them on the map…"):
            table, emb = _shared.demo_checkpoints_for_map(key)
        default_target = demo.DEMO_TRAJECTORY_TARGET
        st.caption(f"Synthetic: {_ui.md(demo.DEMO_TRAJECTORY_MODEL)} fine-tuned step by step from "
                   f"{_ui.md(demo.DEMO_TRAJECTORY_SOURCE)}'s stances toward {_ui.md(default_target)}'s.")
    else:
        picked = None
        if source == "layers":
            layers = sorted(vmap.points["layer"].astype(str).unique())
            picked = st.multiselect("Layers that are checkpoints (in any order; sorted naturally)", layers,
                                    default=[x for x in layers if x != BASE_LAYER] or layers,
                                    key="lens_traj_layers")
        column = "checkpoint" if source == "column" else "layer"
        table, emb = compare.checkpoint_table(vmap.qas, vmap.embeddings, column, picked)
        if table.empty:
            st.info("No QAs selected as checkpoints.")
            return
        default_target = value_ids[0]
    target = st.selectbox("Target value ID", value_ids,
                          index=value_ids.index(default_target) if default_target in value_ids else 0,
                          key="lens_traj_target")
    traj = compare.trajectory((table, emb), target, map_qas=vmap.qas, map_emb=np.asarray(vmap.embeddings))
    st.dataframe(traj, hide_index=True, key="lens_traj_table",
                 column_config={"distance_to_target": st.column_config.NumberColumn(format="%.4f")})
    _ui.csv_download(traj, label="Download the trajectory (CSV)", file_name="trajectory.csv", key="lens_traj_csv")
    _ui.show_figure(lens_figures.trajectory_line_figure(traj, target=target), name="trajectory_distance",
                    key="lens_traj_line")
    if {"x", "y"} <= set(traj.columns):
        cen = _shared.centroids_for_map(key).set_index("value_id")
        target_xy = tuple(cen.loc[target, ["x", "y"]].astype(float)) if target in cen.index else None
        drawn = _shared.drawn_for_map(key, (target,))
        fig = lens_figures.trajectory_map_figure(drawn.points, traj, target=target, target_xy=target_xy,
                                                 hover=drawn.hover)
        _ui.show_figure(fig, name="trajectory_map", key="lens_traj_map")
        if drawn.note:
            st.caption(drawn.note)


# ---------------------------------------------------------------- external validation
def _external_section(vmap, method: str) -> None:
    st.header("External validation: human cultural distances")
    langs = sorted(vmap.points["lang"].astype(str).unique())
    if len(langs) < 3:
        st.info(f"This map has {len(langs)} language(s) ({_ui.md(', '.join(langs))}). A rank correlation "
                "between language distances needs at least 3 languages (3 pairs), so it cannot be computed here.")
        return
    upload = st.file_uploader("Cultural map CSV: a 'country' column plus numeric coordinates", type=["csv"],
                              key="lens_culture_upload")
    try:
        if upload is None:
            st.warning("Using assets/cultural_map_example.csv: an EXAMPLE with invented coordinates, NOT REAL DATA. "
                       "Upload real World Values Survey coordinates before drawing any conclusion.")
            cmap = culture.load_cultural_map(culture.EXAMPLE_CULTURAL_MAP)
        else:
            cmap = culture.load_cultural_map(upload, name=upload.name)
    except QAInputError as err:
        st.error(_ui.md(err))
        return
    st.dataframe(cmap, hide_index=True, key="lens_culture_table")
    st.caption("Language -> country (edit: a language may stand for several countries, one row each).")
    mapping = st.data_editor(culture.default_lang_country(langs), num_rows="dynamic", hide_index=True,
                             key="lens_lang_country")
    _ui.csv_download(mapping, label="Download the language -> country table (CSV)",
                     file_name="lang_country.csv", key="lens_mapping_csv")
    model_dm = _shared.distances_for_map(_session.current_map_key(), method, "lang")
    try:
        human = culture.human_distance_matrix(cmap, mapping, langs=langs)
        with st.spinner("Spearman correlation and Mantel test (999 relabellings)…"):
            result = culture.rank_correlation(model_dm, human, n_perm=999)
    except (QAInputError, ValueError) as err:
        st.info(f"Cannot correlate yet: {_ui.md(err)}")
        return
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Spearman rho", f"{result['rho']:.3f}")
    c2.metric("p (scipy)", f"{result['p_value']:.3g}")
    c3.metric("Mantel p", f"{result['mantel_p']:.3g}")
    c4.metric("language pairs", f"{result['n_pairs']}")
    st.caption(f"{method} distances between languages (mean over their value IDs) against Euclidean distances "
               "between their countries' positions. Pairs share languages, so scipy's p is optimistic; the "
               "Mantel p relabels languages at random instead.")
    out = pd.DataFrame([{k: (", ".join(v) if isinstance(v, list) else v) for k, v in result.items()}])
    _ui.csv_download(out, label="Download the correlation (CSV)", file_name="cultural_correlation.csv",
                     key="lens_corr_csv")


vmap = _session.current_map()
key = _session.current_map_key()
st.title("Alignment & Culture")
st.caption("How a model moves on the map over training checkpoints, and whether the map's distances between "
           "languages agree with human cultural distances.")
_trajectory_section(vmap, key)
method = st.selectbox("Distance between languages", list(compare.METHODS), key="lens_culture_method")
_external_section(vmap, method)
