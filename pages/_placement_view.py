"""The view of QAs placed on the current map, shared by the Upload and Add a model pages: the map with
the new layer as stars and the 3 nearest value IDs coloured, the ranked nearest value IDs (table, bar
chart, CSV) and the placed QAs (table, CSV)."""
from __future__ import annotations

import streamlit as st

from pages import _shared, _ui
from univar_core.figures import map_figures
from univar_core.maps.placement import own_value_id_fraction


def show_placement(vmap, key, placement, *, prefix: str) -> None:
    """``prefix`` names the widgets and downloads (``upload``, ``add_model``): one set per page."""
    st.subheader(f"Your {len(placement.qas):,} QAs on the map")
    nearest = placement.nearest
    top = nearest["value_id"].head(3).tolist()
    drawn = _shared.drawn_for_map(key, tuple(top))
    base = drawn.points
    fig = map_figures.value_map_figure(base, color_by="value_id", emphasis=base["value_id"].isin(top).to_numpy(),
                                       hover=drawn.hover, title=f"Layer '{placement.layer}' placed on {vmap.name} "
                                                                "(stars); the 3 nearest value IDs coloured")
    map_figures.add_overlay(fig, placement.qas, name=f"{placement.layer} (new)")
    _ui.show_figure(fig, name=f"{prefix}_on_map", key=f"{prefix}_map_chart")
    if drawn.note:
        st.caption(drawn.note)

    st.subheader("Nearest value IDs")
    for warning in placement.warnings:   # no shared question, a poor fit, a near-tie: said, not hidden
        st.warning(_ui.md(warning))
    st.caption("Value identification of your QAs as a whole: cosine similarity of their mean embedding to each "
               "value ID's centroid; p_first = share of 200 resamples of your QAs in which it ranks first (the "
               "ranking's uncertainty); share_nearest = fraction of your QAs whose own nearest centroid it is.")
    own = own_value_id_fraction(placement)
    if own is not None:
        st.metric("Your QAs nearest to their own value ID", f"{own:.0%}")
    left, right = st.columns([1, 1])
    left.dataframe(nearest, hide_index=True, key=f"{prefix}_nearest",
                   column_config={"similarity": st.column_config.NumberColumn(format="%.4f"),
                                  "p_first": st.column_config.NumberColumn(format="%.2f"),
                                  "share_nearest": st.column_config.NumberColumn(format="%.2f")})
    with right:
        _ui.show_figure(map_figures.nearest_value_ids_figure(nearest), name="nearest_value_ids",
                        key=f"{prefix}_nearest_chart")
    _ui.csv_download(nearest, label="Download ranking (CSV)", file_name="nearest_value_ids.csv",
                     key=f"{prefix}_nearest_csv")
    placed = _ui.display_qas(placement.qas, extra=["nearest_value_id", "x", "y"])
    st.dataframe(placed, hide_index=True, key=f"{prefix}_placed")
    _ui.csv_download(placed, label="Download placed QAs (CSV)", file_name="placed_qas.csv",
                     key=f"{prefix}_placed_csv")
