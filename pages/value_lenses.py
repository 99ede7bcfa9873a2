"""Value Lenses: measure what the map shows by eye. Distances between value IDs (clustered heatmap,
bootstrap CI, permutation test), ValueLex / Schwartz / Moral Foundations scores, alignment trajectories
over checkpoints (paper appendix G), and rank correlation with human cultural distances."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pages import _shared
from univar_core.analysis import compare, culture, lenses
from univar_core.data import demo
from univar_core.data.schema import QAInputError
from univar_core.figures import lens_figures, map_figures
from univar_core.maps.build import BASE_LAYER

LEVELS = {"value ID": "value_id", "language": "lang", "model": "model"}
LENS_TITLES = {"valuelex": "ValueLex", "schwartz": "Schwartz basic values", "mft": "Moral Foundations"}
METHOD_HELP = ("centroid: cosine distance between the two mean embeddings. energy / MMD: distances between "
               "the whole QA distributions (they see spread, not only the mean).")
MAX_RADAR = 6


# ---------------------------------------------------------------- cached computations
def _map_encoder(vmap):
    """The map's encoder, or (None, reason) when it cannot be loaded or is not the one that made the map."""
    from univar_core.encoders.base import EncoderLoadError

    try:
        return _shared.map_encoder(vmap), None
    except (EncoderLoadError, QAInputError) as err:
        return None, f"{err}."


@st.cache_data(show_spinner=False, max_entries=16)
def _distance_matrix(key, method: str, level: str) -> pd.DataFrame:
    dm = _shared.distance_matrix_for_map(key, method)
    if level == "value_id":
        return dm
    return compare.aggregate_distance(dm, _shared.load_value_map(*key).qas, by=level)


@st.cache_data(show_spinner=False, max_entries=64)
def _pair_stats(key, a: str, b: str, method: str, paired: bool) -> dict:
    vmap = _shared.load_value_map(*key)
    emb = np.asarray(vmap.embeddings)
    point, lo, hi = compare.bootstrap_distance_value_ids(vmap.qas, emb, a, b, method=method, paired=paired,
                                                         n_boot=200)
    p = compare.permutation_test_value_ids(vmap.qas, emb, a, b, method=method, paired=paired, n_perm=499)
    return {"distance": point, "lo": lo, "hi": hi, "p": p}


def _qa_scores(key, lens_name: str) -> pd.DataFrame:
    return _shared.lens_scores_for_map(key, lens_name)[0]


@st.cache_data(show_spinner=False, max_entries=16)
def _value_id_scores(key, lens_name: str) -> pd.DataFrame:
    return lenses.score_value_ids(_shared.load_value_map(*key).qas, _qa_scores(key, lens_name))


@st.cache_data(show_spinner=False, max_entries=4)
def _demo_checkpoints(key) -> tuple[pd.DataFrame, np.ndarray]:
    """The demo's synthetic checkpoints embedded with the map's encoder and placed on the map."""
    from univar_core.maps.projection import place_points

    vmap = _shared.load_value_map(*key)
    enc, why = _map_encoder(vmap)
    if enc is None:
        raise QAInputError(why, source="demo checkpoints")
    table = demo.demo_checkpoints()
    emb = np.asarray(enc.encode_qas(table["question"].tolist(), table["answer"].tolist()).embeddings,
                     dtype=np.float32)
    xy = place_points(np.asarray(vmap.embeddings), vmap.qas[["x", "y"]].to_numpy(dtype=np.float32), emb)
    return table.assign(x=xy[:, 0], y=xy[:, 1]), emb


# ---------------------------------------------------------------- 1. distances
def _distances_section(vmap, key) -> tuple[str, pd.DataFrame]:
    st.header("1. Distances between value IDs")
    c1, c2 = st.columns(2)
    method = c1.selectbox("Distance", list(compare.METHODS), key="lens_method", help=METHOD_HELP)
    level_label = c2.selectbox("Level", list(LEVELS), key="lens_level",
                               help="language / model: the mean distance between their value IDs.")
    level = LEVELS[level_label]
    with st.spinner("Distances between all value IDs…"):
        dm = _distance_matrix(key, method, level)
    if len(dm) < 2:
        st.info(f"The map has a single {level_label}: no distances to show.")
    else:
        st.caption(f"{len(dm)} {level_label}s, ordered by average-linkage clustering (the dendrogram on top): "
                   "similar ones sit next to each other.")
        fig = lens_figures.clustered_heatmap_figure(dm, title=f"{method} distance between {level_label}s")
        _shared.show_figure(fig, name=f"{vmap.name}_{method}_{level}_distances", key="lens_heatmap")
        _shared.csv_download(dm.reset_index(), label="Download the distance matrix (CSV)",
                             file_name=f"{vmap.name}_{method}_{level}_distances.csv", key="lens_dm_csv")
    _pair_section(vmap, key, method)
    return method, dm


def _pair_section(vmap, key, method: str) -> None:
    st.subheader("Two value IDs: distance, 95% CI and permutation test")
    value_ids = sorted(vmap.qas["value_id"].astype(str).unique())
    if len(value_ids) < 2:
        st.info("This map has a single value ID: nothing to test.")
        return
    c1, c2 = st.columns(2)
    a = c1.selectbox("Value ID A", value_ids, index=0, key="lens_pair_a")
    b = c2.selectbox("Value ID B", value_ids, index=1, key="lens_pair_b")
    if a == b:
        st.warning("Pick two different value IDs.")
        return
    qid = vmap.qas.set_index("value_id")["question_id"].astype(str)
    qa, qb = set(qid.loc[[a]]), set(qid.loc[[b]])
    shared = len(qa & qb)
    paired = shared >= max(2, min(len(qa), len(qb)) // 2)
    try:
        with st.spinner("Bootstrap (200 resamples) and permutation test (499 shuffles)…"):
            stats = _pair_stats(key, a, b, method, paired)
    except ValueError as err:
        st.info(f"Cannot test this pair: {_shared.md(err)}")
        return
    m1, m2, m3 = st.columns(3)
    m1.metric(f"{method} distance", f"{stats['distance']:.4f}")
    m2.metric("95% bootstrap CI", f"[{stats['lo']:.4f}, {stats['hi']:.4f}]")
    m3.metric("permutation p", f"{stats['p']:.3f}")
    design = (f"questions resampled and shuffled within the {shared} questions both answered (paired)"
              if paired else f"QAs resampled and shuffled freely (they share only {shared} questions)")
    verdict = ("so the two are distinguishable: a difference this large rarely arises by relabelling their QAs at "
               "random" if stats["p"] < 0.05 else
               "so the data cannot tell them apart: random relabellings of their QAs give distances as large")
    st.write(f"p = {stats['p']:.3f} is the share of random relabellings of the two value IDs' QAs whose "
             f"{method} distance is at least the observed one, {verdict}. ({design}.)")
    table = pd.DataFrame([{"a": a, "b": b, "method": method, "paired": paired, "shared_questions": shared,
                           **stats}])
    _shared.csv_download(table, label="Download this test (CSV)", file_name="pair_test.csv", key="lens_pair_csv")


# ---------------------------------------------------------------- 2. lenses
def _lens_section(vmap, key) -> None:
    st.header("2. Value lenses")
    lens_name = st.radio("Lens", list(lenses.LENS_NAMES), format_func=lambda n: LENS_TITLES.get(n, n),
                         horizontal=True, key="lens_name")
    lens = lenses.get_lens(lens_name)
    with st.expander("How a score is computed", expanded=False):
        st.markdown(lenses.__doc__.split("How a score is computed (the app quotes this):", 1)[-1])
        st.caption(f"Source of the lens: {_shared.md(lens.source)}")
        st.dataframe(lens.describe(), hide_index=True, key="lens_describe")
    st.caption("Score = similarity of a QA's embedding to the lens's descriptor prototypes minus its "
               "similarity to a neutral baseline; a value ID's score is the mean over its QAs (95% bootstrap CI).")
    enc, why = _map_encoder(vmap)
    if enc is None:
        st.info(f"{why} Lens scores need the map's encoder (to embed the descriptor prototypes), so this part "
                "is skipped. Rebuild the map with a loadable encoder to use the lenses.")
        return
    with st.spinner(f"Embedding the {lens.title} prototypes and scoring every QA…"):
        qa_scores = _qa_scores(key, lens_name)
        summary = _value_id_scores(key, lens_name)
    dims, subs = lenses.dimension_columns(lens)
    level = st.radio("Radar axes", ["dimensions", "subdimensions"], horizontal=True, key="lens_axes")
    columns = dims if level == "dimensions" else subs
    if len(columns) < 3:   # a radar needs at least 3 axes
        columns = subs
    value_ids = sorted(vmap.qas["value_id"].astype(str).unique())
    chosen = st.multiselect(f"Value IDs on the radar (up to {MAX_RADAR})", value_ids,
                            default=value_ids[:2], max_selections=MAX_RADAR, key="lens_radar_ids")
    if chosen:
        fig = lens_figures.lens_radar_figure(summary, chosen, columns, title=f"{lens.title}: {level}")
        _shared.show_figure(fig, name=f"{vmap.name}_{lens_name}_radar", key="lens_radar")
    else:
        st.caption("Pick at least one value ID to draw the radar.")
    st.subheader("Scores per value ID")
    table = summary[summary["score"].isin(dims + subs)].rename(columns={"lo": "ci_low", "hi": "ci_high"})
    st.dataframe(table, hide_index=True, key="lens_scores_table",
                 column_config={c: st.column_config.NumberColumn(format="%.4f")
                                for c in ("mean", "ci_low", "ci_high")})
    _shared.csv_download(table, label="Download value-ID scores (CSV)", file_name=f"{vmap.name}_{lens_name}_scores.csv",
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
    _shared.csv_download(shown, label="Download these QAs (CSV)", file_name="driving_qas.csv", key="lens_drivers_csv")


def _lens_map(vmap, key, qa_scores: pd.DataFrame, columns: list[str], lens_name: str) -> None:
    st.subheader("The map coloured by a lens score")
    dim = st.selectbox("Colour by", columns, key="lens_map_dim")
    col = f"score: {dim}"
    points = vmap.qas.assign(**{col: qa_scores[dim].to_numpy(dtype=float)})
    hover = _shared.hover_for_map(key, _shared.hover_answer_chars(len(points)))
    fig = map_figures.value_map_figure(points, color_by=col, hover=hover,
                                   title=f"{vmap.name}: {LENS_TITLES.get(lens_name, lens_name)} score '{dim}'")
    _shared.show_figure(fig, name=f"{vmap.name}_{lens_name}_map", key="lens_map_chart")


# ---------------------------------------------------------------- 3. trajectories
def _trajectory_sources(vmap) -> list[str]:
    qas = vmap.qas
    out = []
    if vmap.name == "demo" or (vmap.path is not None and vmap.path.name == "demo"):
        out.append("use the demo checkpoints")
    if "checkpoint" in qas.columns and qas["checkpoint"].notna().any():
        out.append("the map's checkpoint column")
    if "layer" in qas.columns and qas["layer"].nunique() >= 2:
        out.append("layers of the map as checkpoints")
    return out


def _trajectory_section(vmap, key) -> None:
    st.header("3. Trajectory toward a target value ID")
    st.caption("Checkpoints of one model (e.g. steps of a DPO run): where each checkpoint's QAs sit on the map "
               "and how far their centroid is from a target value ID (cosine distance of centroids; paper appendix G).")
    sources = _trajectory_sources(vmap)
    if not sources:
        st.info("No checkpoints on this map. Upload each checkpoint's QAs as a layer (Upload page), or build a map "
                "from QAs with a `checkpoint` column.")
        return
    source = st.radio("Checkpoints", sources, key="lens_traj_source", horizontal=True)
    value_ids = sorted(vmap.qas["value_id"].astype(str).unique())
    if source == "use the demo checkpoints":
        enc, why = _map_encoder(vmap)
        if enc is None:
            st.info(why)
            return
        with st.spinner("Embedding the demo checkpoints with the map's encoder and placing them on the map…"):
            table, emb = _demo_checkpoints(key)
        default_target = demo.DEMO_TRAJECTORY_TARGET
        st.caption(f"Synthetic: {_shared.md(demo.DEMO_TRAJECTORY_MODEL)} fine-tuned step by step from "
                   f"{_shared.md(demo.DEMO_TRAJECTORY_SOURCE)}'s stances toward {_shared.md(default_target)}'s.")
    else:
        qas, emb = vmap.qas, np.asarray(vmap.embeddings)
        column = "checkpoint" if source == "the map's checkpoint column" else "layer"
        rows = np.flatnonzero(qas[column].notna().to_numpy())
        if column == "layer":
            layers = sorted(qas["layer"].astype(str).unique())
            picked = st.multiselect("Layers that are checkpoints (in any order; sorted naturally)", layers,
                                    default=[x for x in layers if x != BASE_LAYER] or layers,
                                    key="lens_traj_layers")
            rows = np.flatnonzero(qas["layer"].astype(str).isin(picked).to_numpy())
        if rows.size == 0:
            st.info("No QAs selected as checkpoints.")
            return
        table = qas.iloc[rows].assign(checkpoint=qas[column].astype(str).to_numpy()[rows]).reset_index(drop=True)
        emb = emb[rows]
        default_target = value_ids[0]
    target = st.selectbox("Target value ID", value_ids,
                          index=value_ids.index(default_target) if default_target in value_ids else 0,
                          key="lens_traj_target")
    traj = compare.trajectory((table, emb), target, map_qas=vmap.qas, map_emb=np.asarray(vmap.embeddings))
    st.dataframe(traj, hide_index=True, key="lens_traj_table",
                 column_config={"distance_to_target": st.column_config.NumberColumn(format="%.4f")})
    _shared.csv_download(traj, label="Download the trajectory (CSV)", file_name="trajectory.csv", key="lens_traj_csv")
    _shared.show_figure(lens_figures.trajectory_line_figure(traj, target=target), name="trajectory_distance",
                        key="lens_traj_line")
    if {"x", "y"} <= set(traj.columns):
        cen = _shared.centroids_for_map(key).set_index("value_id")
        target_xy = tuple(cen.loc[target, ["x", "y"]].astype(float)) if target in cen.index else None
        hover = _shared.hover_for_map(key, _shared.hover_answer_chars(len(vmap.qas)))
        fig = lens_figures.trajectory_map_figure(vmap.qas, traj, target=target, target_xy=target_xy, hover=hover)
        _shared.show_figure(fig, name="trajectory_map", key="lens_traj_map")


# ---------------------------------------------------------------- 4. external validation
def _external_section(vmap, method: str) -> None:
    st.header("4. External validation: human cultural distances")
    langs = sorted(vmap.qas["lang"].astype(str).unique())
    if len(langs) < 3:
        st.info(f"This map has {len(langs)} language(s) ({_shared.md(', '.join(langs))}). A rank correlation "
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
        st.error(_shared.md(err))
        return
    st.dataframe(cmap, hide_index=True, key="lens_culture_table")
    st.caption("Language -> country (edit: a language may stand for several countries, one row each).")
    mapping = st.data_editor(culture.default_lang_country(langs), num_rows="dynamic", hide_index=True,
                             key="lens_lang_country")
    _shared.csv_download(mapping, label="Download the language -> country table (CSV)",
                         file_name="lang_country.csv", key="lens_mapping_csv")
    key = _shared.current_map_key()
    model_dm = _distance_matrix(key, method, "lang")
    try:
        human = culture.human_distance_matrix(cmap, mapping, langs=langs)
        with st.spinner("Spearman correlation and Mantel test (999 relabellings)…"):
            result = culture.rank_correlation(model_dm, human, n_perm=999)
    except (QAInputError, ValueError) as err:
        st.info(f"Cannot correlate yet: {_shared.md(err)}")
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
    _shared.csv_download(out, label="Download the correlation (CSV)", file_name="cultural_correlation.csv",
                         key="lens_corr_csv")


vmap = _shared.current_map()
key = _shared.current_map_key()
st.title("Value Lenses")
st.caption("Turn positions on the map into numbers: distances with confidence intervals, interpretable value "
           "lenses, alignment trajectories, and a check against human cultural distances.")
method, _dm = _distances_section(vmap, key)
_lens_section(vmap, key)
_trajectory_section(vmap, key)
_external_section(vmap, method)
