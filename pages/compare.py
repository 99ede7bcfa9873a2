"""Compare: two value IDs (model + language each): distance and its rank, same-question answers side by
side (most divergent first), nearest QAs across, both highlighted on the map (paper fig. 6, table A7)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pages import _session, _shared, _ui
from univar_core.analysis import compare
from univar_core.figures import map_figures
from univar_core.maps.store import MapError

METHOD_HELP = ("centroid: cosine distance between the two mean embeddings (the paper's grouped view). "
               "energy / mmd: distances between the whole QA distributions (see spread, not only the mean).")


def _pick(label: str, parts: pd.DataFrame, default_vid: str, col) -> str:
    """Model then language (only the languages that model has): returns model$lang."""
    models = sorted(parts["model"].unique())
    d_model, d_lang = default_vid.rsplit("$", 1)
    model = col.selectbox(f"{label}: model", models, index=models.index(d_model), key=f"cmp_{label}_model")
    langs = sorted(parts.loc[parts["model"] == model, "lang"].unique())
    lang = col.selectbox(f"{label}: language", langs, index=langs.index(d_lang) if d_lang in langs else 0,
                         key=f"cmp_{label}_lang")
    return f"{model}${lang}"


def _distance_section(key, a: str, b: str) -> None:
    method = st.selectbox("Distance", list(compare.METHODS), key="cmp_method", help=METHOD_HELP)
    with st.spinner("Distances between all value IDs…"):
        dm = _shared.distance_matrix_for_map(key, method)
    rank = compare.pair_distance_rank(dm, a, b)
    c1, c2, c3 = st.columns(3)
    c1.metric(f"{method} distance", f"{rank['distance']:.4f}")
    c2.metric("Rank among all pairs", f"{rank['rank']} of {rank['n_pairs']}", help="1 = the closest pair")
    c3.metric("Pairs closer than this one", f"{rank['percentile']:.0f}%")
    upper = dm.to_numpy()[np.triu_indices(len(dm), k=1)]
    fig = map_figures.pair_distance_figure(upper, rank["distance"], label=f"{a} vs {b}", method=method)
    _ui.show_figure(fig, name="pair_distance_rank", key="cmp_rank_chart")


def _map_section(vmap, key, a: str, b: str) -> None:
    drawn = _shared.drawn_for_map(key, (a, b))
    both = drawn.points["value_id"].isin([a, b]).to_numpy()
    n_both = int(vmap.points["value_id"].isin([a, b]).sum())
    fig = map_figures.value_map_figure(drawn.points, color_by="value_id", emphasis=both, hover=drawn.hover,
                                       title=f"{a} and {b} on the map ({n_both:,} QAs)")
    _ui.show_figure(fig, name="compare_map", key="cmp_map_chart")
    if drawn.note:
        st.caption(drawn.note)


def _same_question_section(key, a: str, b: str) -> None:
    st.subheader("Same question, two answers (most divergent first)")
    pairs = _shared.same_question_for_map(key, a, b)
    if pairs.empty:
        st.info(f"{_ui.md(a)} and {_ui.md(b)} answered no question in common (matched by question_id).")
        return
    st.caption(f"{len(pairs):,} questions answered by both. Divergence = cosine distance between the two "
               "QA embeddings (0 = same meaning).")
    table = pairs[["question_id", "question", "answer_a", "answer_b", "divergence"]].rename(
        columns={"answer_a": f"answer of {a}", "answer_b": f"answer of {b}"})
    st.dataframe(table, hide_index=True, key="cmp_pairs_table",
                 column_config={"divergence": st.column_config.NumberColumn(format="%.3f")})
    _ui.csv_download(table, label="Download answer pairs (CSV)", file_name="same_question_pairs.csv",
                     key="cmp_pairs_csv")
    labels = [f"{d:.3f} · {map_figures.shorten(q, 90)}" for d, q in zip(pairs["divergence"], pairs["question"])]
    # one picker per pair of value IDs: a new A or B starts at its most divergent question instead of
    # keeping the old position (and, in the browser, the old label) over another list
    pick = st.selectbox("Read one pair in full", range(len(pairs)), format_func=lambda i: labels[i],
                        key=f"cmp_pair_pick:{a}:{b}")
    row = pairs.iloc[int(pick)]
    st.text(f"Question ({row['question_id']}):\n{row['question']}")
    left, right = st.columns(2)
    left.text(f"Answer of {a}:\n\n{row['answer_a']}")
    right.text(f"Answer of {b}:\n\n{row['answer_b']}")


def _nearest_section(key, a: str, b: str) -> None:
    st.subheader("Nearest QAs across")
    direction = st.radio("For each QA of", [a, b], horizontal=True, key="cmp_near_dir", format_func=_ui.md)
    other = b if direction == a else a
    k = st.slider("neighbours per QA", 1, 5, 1, key="cmp_near_k")
    near = _shared.nearest_cross_for_map(key, direction, other, k)
    st.caption(f"For each QA of {_ui.md(direction)}, its {k} most similar QA(s) of {_ui.md(other)} "
               "(cosine).")
    # rank and similarity first: after two long text columns they were off-screen
    cols = [c for c in ("rank", "similarity", "question_a", "answer_a", "question_b", "answer_b") if c in near]
    table = near[cols].rename(columns={"question_a": f"question ({direction})", "answer_a": f"answer ({direction})",
                                       "question_b": f"question ({other})", "answer_b": f"answer ({other})"})
    st.dataframe(table, hide_index=True, key="cmp_near_table",
                 column_config={"similarity": st.column_config.NumberColumn(format="%.3f")})
    _ui.csv_download(table, label="Download nearest QAs (CSV)", file_name="nearest_qas.csv",
                     key="cmp_near_csv")


def _lens_section(vmap, key, a: str, b: str) -> None:
    from univar_core.analysis import lenses

    st.subheader("Value lens")
    lens_name = st.selectbox("Lens", list(lenses.LENS_NAMES), key="cmp_lens",
                             format_func=lambda n: lenses.get_lens(n).title)
    st.caption("Score of a QA on a value = cosine similarity of its embedding to the value's descriptor "
               "prototypes minus its similarity to a neutral baseline; a value ID's score is the mean over "
               "its QAs. Compare value IDs with each other: the absolute size depends on the encoder.")
    try:
        with st.spinner("Scoring QAs on the lens…"):
            scores, dims, subs = _shared.lens_scores_for_map(key, lens_name)
    except MapError as err:
        st.info(_ui.md(err))
        return
    # the same axes and default as the Value Lenses page's radar
    level = st.radio("Radar axes", ["dimensions", "subdimensions"], horizontal=True, key="cmp_lens_axes")
    columns = dims if level == "dimensions" or len(subs) < 3 else subs
    ids = vmap.points["value_id"].astype(str).to_numpy()
    table = pd.DataFrame({v: scores.loc[ids == v, columns].mean() for v in (a, b)}).T
    fig = map_figures.radar_figure(table, title=f"{lenses.get_lens(lens_name).title} {level}: {a} vs {b}")
    _ui.show_figure(fig, name=f"lens_{lens_name}_radar", key="cmp_lens_chart")
    out = table.T.reset_index().rename(columns={"index": "value"})
    st.dataframe(out, hide_index=True, key="cmp_lens_table")
    _ui.csv_download(out, label="Download lens scores (CSV)", file_name=f"lens_{lens_name}_scores.csv",
                     key="cmp_lens_csv")


vmap = _session.current_map()
key = _session.current_map_key()
st.title("Compare two value IDs")
st.caption("A value ID is one model answering in one language (model$lang).")
value_ids = _shared.label_codes(key, "value_id")[1]   # sorted, cached per map
if len(value_ids) < 2:
    st.info("This map has a single value ID: nothing to compare. Add QAs of another model or language.")
    st.stop()
parts = map_figures.split_value_id(value_ids)
left, right = st.columns(2)
a = _pick("A", parts, value_ids[0], left)
b = _pick("B", parts, value_ids[1], right)
if a == b:
    st.warning("Pick two different value IDs.")
    st.stop()
_distance_section(key, a, b)
_map_section(vmap, key, a, b)
_same_question_section(key, a, b)
_nearest_section(key, a, b)
_lens_section(vmap, key, a, b)
