"""Evaluate: value identification (paper table 1 / A4) on the current map — how well each representation
tells value IDs apart on held-out questions — and the non-value control comparison (paper fig. 4).

Representations (analysis/control.py): the map's stored embeddings, trained heads applied to them (only
where the head's base is the map's encoder), full runs (re-embed the map's QAs), and TF-IDF. The value-ID
table is cached by map version and settings; the control runs on a button.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import _session, _shared, _ui
from univar_core.analysis import control, identification
from univar_core.data.readers import shared_data_dir
from univar_core.data.schema import QAInputError
from univar_core.data.splits import split_columns
from univar_core.figures import run_figures
from univar_core.maps import build
from univar_core.training.runs import list_runs, runs_dir

HOW_TO_READ = ("Each number is measured on held-out questions (no test question was seen by k-NN, probe or "
               "a head trained with the same split). knn_bal_acc: k-NN (cosine, k neighbours) balanced accuracy, "
               "the mean over value IDs of the share of their test QAs whose nearest train QAs vote for the right "
               "value ID; probe_acc@k: a linear probe's top-k hit rate, balanced the same way. Compare every row "
               "with the chance row (1 / number of value IDs): higher = the representation separates values better.")
MAX_CONTROL_QUESTIONS = 200


def _control_source(vmap) -> tuple[pd.DataFrame | None, str]:
    """Control QAs whose value IDs the map has (shared corpus first, else an upload), and where they came from."""
    value_ids = set(vmap.points["value_id"].astype(str))
    shared_csv = control.shared_control_path(shared_data_dir())
    options = (["Shared AlpacaEval corpus"] if shared_csv is not None else []) + ["Upload a control file"]
    choice = st.radio("Control QAs", options, horizontal=True, key="ev_control_source")
    if choice == "Shared AlpacaEval corpus":
        table = _shared.control_corpus(str(shared_csv))
        # name only the mappings this map uses: the full list was a wall of names ending in "share 0"
        used = {a: b for a, b in identification.CONTROL_MODEL_MAP.items() if f"{b}$eng" in value_ids}
        where = control.CONTROL_CORPUS + (" (" + ", ".join(f"{a} → {b}" for a, b in used.items()) + ")"
                                          if used else "")
    else:
        if shared_csv is None:
            st.caption("No shared control corpus here (set UNIVAR_SHARED_DATA to the folder holding "
                       f"{control.CONTROL_CORPUS}/qa.csv, or upload one).")
        uploaded = st.file_uploader("Control QAs: generic, non-value instructions answered by the map's models "
                                    "(same model and lang names)", type=_ui.UPLOAD_TYPES, key="ev_control_file")
        if uploaded is None:
            return None, ""
        try:
            table = _ui.read_upload(uploaded.getvalue(), uploaded.name).table
        except (QAInputError, ValueError) as err:
            st.error(_ui.md(err))
            return None, ""
        where = uploaded.name
    return control.control_for_map(table, vmap.qas), where


def _control_section(vmap, key, reps: list[dict], settings: dict) -> None:
    st.subheader("Non-value control (paper fig. 4)")
    st.caption("The same measurement on generic instructions answered by the same models. A value encoder "
               "should identify models from value-laden answers better than from generic ones; the paper reports "
               "its trained encoder loses more accuracy on non-value QAs than the base model does.")
    controls, where = _control_source(vmap)
    if controls is None:
        st.info("No control data: neither the shared AlpacaEval corpus nor an uploaded control file is available.")
        return
    n_vid = controls["value_id"].nunique()
    if n_vid < 2:
        st.info(_ui.md(f"No control comparison for this map: {where} answers by {n_vid} of its value IDs, "
                       "and it needs at least 2. Upload control QAs answered by this map's models (same model "
                       "and lang names)."))
        return
    st.caption(_ui.md(f"Control: {where}; {n_vid} value IDs in common with the map."))
    n_q = st.slider("control questions (same for every value ID)", 20, 805, MAX_CONTROL_QUESTIONS, 10,
                    key="ev_control_n", help="Embedding long generic answers is slow on a CPU (about 28 QAs/s).")
    controls = control.cap_questions(controls, n_q)
    if not control.can_embed(vmap.manifest):
        st.warning("This map's embeddings were precomputed, so its encoder cannot embed the control QAs: "
                   "only TF-IDF is compared.")
    run_key = (key, where, n_q, tuple(sorted(settings.items())), tuple(r["label"] for r in reps))
    if st.button(f"Run the control comparison ({len(controls):,} QAs)", key="ev_control_run"):
        bar = st.progress(0.0, text="embedding the control QAs")
        try:
            comparison = control.control_comparison(
                vmap.qas, vmap.embeddings, vmap.manifest, controls, reps, load_encoder=build.load_encoder_cached,
                progress=lambda d, t: bar.progress(0.9 * d / max(t, 1), text=f"embedding control: {d:,}/{t:,}"),
                **settings)
        except (QAInputError, ValueError, OSError) as err:
            st.error(_ui.md(err))
            return
        bar.progress(1.0, text="done")
        st.session_state["ev_control_result"] = (run_key, comparison)
    result = st.session_state.get("ev_control_result")
    if result is None or result[0] != run_key:
        return
    comparison = result[1]
    st.dataframe(comparison, hide_index=True, key="ev_control_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in comparison.columns if c != "representation"})
    _ui.csv_download(comparison, label="Download control comparison (CSV)", file_name="control_comparison.csv",
                     key="ev_control_csv")
    _ui.show_figure(run_figures.control_figure(comparison), name="control_comparison", key="ev_control_chart")


# ---------------------------------------------------------------------------- page

vmap = _session.current_map()
key = _session.current_map_key()
st.title("Evaluate: value identification")
st.caption(HOW_TO_READ)
qas = vmap.qas
if qas["value_id"].nunique() < 2:
    st.info("This map has a single value ID: there is nothing to identify.")
    st.stop()
candidates = control.representations(vmap.name, vmap.manifest, list_runs())
labels = [c["label"] for c in candidates]
chosen = st.multiselect("Representations", labels, default=labels[:4], key="ev_reps",
                        help="Trained heads are listed when their base encoder is this map's encoder "
                             f"(runs dir: {runs_dir()}). Train one on the Train & Embed page.")
c1, c2, c3, c4, c5 = st.columns(5)
by_options = split_columns(qas) or ["question_id"]
by = c1.selectbox("split by", by_options, key="ev_by", help="Test questions never appear in train. Default: by "
                  "questionnaire where there is one (the README's protocol: no test item shares an inventory).",
                  index=by_options.index("questionnaire") if "questionnaire" in by_options else 0)
test_fraction = c2.slider("test share", 0.1, 0.5, 0.3, 0.05, key="ev_test_fraction")
seed = int(c3.number_input("seed", 0, 10_000, 0, key="ev_seed"))
k = int(c4.number_input("k (neighbours)", 1, 500, 50, key="ev_k"))
probe = c5.checkbox("linear probe", value=True, key="ev_probe", help="acc@1/5/10 of a linear layer (slower).")
c6, c7 = st.columns(2)
tfidf = c6.checkbox("TF-IDF baseline", value=True, key="ev_tfidf")
centre = c7.checkbox("question-centred rows", value=True, key="ev_centre",
                     help="Each representation again after subtracting every question's mean embedding; held-out "
                          "QAs are centred on the other held-out answers to their question (no label used).")
reps = [c for c in candidates if c["label"] in chosen]
for rep in reps:
    if rep["note"]:
        st.warning(_ui.md(rep["note"]))
rep_key = tuple(tuple(sorted(r.items())) for r in reps)
with st.spinner("k-NN and probes on every representation…"):
    try:
        table, summary = _shared.value_id_table_for_map(key, rep_key, by, float(test_fraction), seed, k,
                                                        bool(probe), bool(tfidf), bool(centre))
    except (QAInputError, ValueError, OSError) as err:
        st.error(_ui.md(err))
        st.stop()
st.caption(_ui.md(summary))
metric_cols = [m for m in identification.METRICS if table[m].notna().any()]
# acc@k with k >= the number of value IDs is a 1.000 for everything: those columns are NaN and left out
table = table.drop(columns=[m for m in identification.METRICS if m not in metric_cols])
st.dataframe(table, hide_index=True, key="ev_table",
             column_config={m: st.column_config.NumberColumn(format="%.3f") for m in metric_cols})
_ui.csv_download(table, label="Download the table (CSV)", file_name="value_identification.csv", key="ev_csv")
datasets = table["dataset"].unique().tolist()
ds = st.selectbox("Dataset shown in the chart", datasets, key="ev_chart_dataset") if len(datasets) > 1 else "all"
metrics = st.multiselect("Metrics in the chart", metric_cols,
                         default=[m for m in ("knn_bal_acc", "knn_macro_f1", "probe_acc@1") if m in metric_cols],
                         key="ev_chart_metrics")
part = table[(table["dataset"] == ds) & (table["subset"] == "all")]
if metrics:
    _ui.show_figure(run_figures.identification_bar_figure(part, metrics, f"Value identification ({ds})"),
                    name="value_identification", key="ev_chart")
settings = {"by": by, "test_fraction": float(test_fraction), "seed": seed, "k": k, "tfidf": bool(tfidf)}
_control_section(vmap, key, reps, settings)
