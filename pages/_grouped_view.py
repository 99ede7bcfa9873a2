"""The Value Map's grouped view: one point per value ID (the paper's fig. 5), laid out by the distances
between value IDs (centroid, energy or MMD), with the table of value IDs and their cohesion."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pages import _shared, _ui
from univar_core.analysis import compare
from univar_core.figures import map_figures

COLOR_CHOICES = {"language": "lang", "model": "model"}   # what a value ID has one of
COHESION_HELP = ("cohesion: mean cosine similarity of a value ID's QAs to their own centroid (1 = its answers "
                 "are alike; low = they spread over the map).")
LAYOUT_HELP = ("centroid: cosine distance between the value IDs' mean embeddings (the paper's grouped view); "
               "energy / mmd: distances between their whole QA distributions. Not the mean of map positions: "
               "every value ID answers the same questions, so those means all fall near the middle.")


def grouped_view(vmap, key, qas: pd.DataFrame, keep: np.ndarray) -> None:
    c1, c2 = st.columns(2)
    color_label = c1.selectbox("Colour value IDs by", list(COLOR_CHOICES), key="grouped_color")
    method = c2.selectbox("Lay out by distance", list(compare.METHODS), key="grouped_method", help=LAYOUT_HELP)
    color_col = COLOR_CHOICES[color_label]
    present = sorted(set(qas.loc[keep, "value_id"].astype(str)))
    with st.spinner("Distances between value IDs…"):
        cen, layout = _shared.grouped_layout(key, present, method)
    highlight: list[str] = []
    if cen[color_col].nunique() > map_figures.MAX_LEGEND_GROUPS or len(cen) > 60:
        highlight = st.multiselect(f"Highlight {color_label}s", sorted(cen[color_col].unique()),
                                   key="grouped_highlight")
    fig = map_figures.grouped_map_figure(cen, color_by=color_col, highlight_groups=highlight,
                                     title=f"{vmap.name}: one point per value ID ({len(cen)}), {method} distance")
    _ui.show_figure(fig, name=f"{vmap.name}_grouped_map", key="grouped_chart")
    if np.isfinite(layout.fidelity):
        st.caption(f"Positions: {layout.method} of the {method} distances between value IDs. The 2-D distances "
                   f"keep their order with Spearman ρ = {layout.fidelity:.2f} (1 = perfectly); read exact "
                   "distances on the Compare page.")
    table = cen.drop(columns=["x", "y"]).sort_values("n", ascending=False)
    st.dataframe(table, hide_index=True, key="centroid_table", column_config={
        "n": st.column_config.NumberColumn("n", help="QAs of this value ID"),
        "cohesion": st.column_config.NumberColumn("cohesion", format="%.3f", help=COHESION_HELP)})
    st.caption(COHESION_HELP)
    _ui.csv_download(cen, label="Download value-ID positions (CSV)", file_name="value_id_positions.csv",
                     key="centroids_csv")
