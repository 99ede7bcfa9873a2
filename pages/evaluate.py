"""Evaluate: value identification (paper table 1 / A4) on the current map — how well each representation
tells value IDs apart on held-out questions — and the non-value control comparison (paper fig. 4).

Representations: the map's stored embeddings, trained heads from the runs dir applied to them
(HeadEncoder.transform, only where the head's base is the map's encoder), full runs (re-embed the map's
QAs), and TF-IDF. Everything heavy is in st.cache_data keyed by the map version and the settings.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages import _shared
from univar_core.analysis import identification
from univar_core.data.readers import shared_data_dir
from univar_core.data.schema import QAInputError
from univar_core.data.splits import assert_no_leak, split_qas
from univar_core.encoders import resolve
from univar_core.encoders.compat import head_matches_map, load_head_for_map
from univar_core.encoders.head import HEAD_WEIGHTS
from univar_core.training.runs import list_runs, runs_dir

HOW_TO_READ = ("Each number is measured on held-out questions (no test question was seen by k-NN, probe or "
               "a head trained with the same split). knn_bal_acc: k-NN (cosine, k neighbours) balanced accuracy, "
               "the mean over value IDs of the share of their test QAs whose nearest train QAs vote for the right "
               "value ID; probe_acc@k: a linear probe's top-k hit rate, balanced the same way. Compare every row "
               "with the chance row (1 / number of value IDs): higher = the representation separates values better.")
CONTROL_CORPUS = "alpacaeval_control"
MAX_CONTROL_QUESTIONS = 200


# ---------------------------------------------------------------------------- representations

def _candidates(vmap) -> list[dict]:
    """Representations on offer: {label, kind: map|head|full, path, stamp (cache key part), note}."""
    enc = _shared.encoder_name(vmap.manifest)
    out = [{"label": f"{enc} (map embeddings)", "kind": "map", "path": "", "stamp": 0.0, "note": ""}]
    runs = list_runs()
    for row in runs.itertuples():
        if row.kind == "head":
            ok, why = head_matches_map(row.path, vmap.manifest)
            if not ok:
                continue
            stamp = (Path(row.path) / HEAD_WEIGHTS).stat().st_mtime
            out.append({"label": f"head {row.name}", "kind": "head", "path": row.path, "stamp": stamp,
                        "note": _leak_note(vmap, row)})
        elif row.kind == "full":
            out.append({"label": f"full {row.name} (re-embeds the map)", "kind": "full", "path": row.path,
                        "stamp": Path(row.path).stat().st_mtime, "note": _leak_note(vmap, row)})
    return out


def _leak_note(vmap, row) -> str:
    if row.source_map != vmap.name:
        return ""
    if not isinstance(row.split, dict):
        return f"{row.name} was trained on all QAs of this map, test questions included: its score is optimistic."
    return f"{row.name} was trained on the train side of split {row.split}: use the same split settings here."


def _features(vmap, rep: dict, progress=None) -> np.ndarray:
    base = np.asarray(vmap.embeddings, dtype=np.float32)
    if rep["kind"] == "map":
        return base
    if rep["kind"] == "head":
        return load_head_for_map(rep["path"], vmap.manifest).transform(np.array(base))   # a writable copy
    enc = resolve.load_encoder_cached(rep["path"])
    return np.asarray(enc.encode_qas(vmap.qas["question"].tolist(), vmap.qas["answer"].tolist(),
                                     progress=progress).embeddings, dtype=np.float32)


@st.cache_data(show_spinner=False, max_entries=16)
def _value_id_table(key, reps: tuple, by: str, test_fraction: float, seed: int, k: int, probe: bool,
                    tfidf: bool, centre: bool = False) -> tuple[pd.DataFrame, str]:
    vmap = _shared.load_value_map(*key)
    qas = vmap.qas.reset_index(drop=True)
    split = split_qas(qas, by=by, test_fraction=test_fraction, seed=seed)
    assert_no_leak(qas, split)
    feats = {rep["label"]: _features(vmap, rep) for rep in map(dict, reps)}
    table = identification.value_identification_table(qas, feats, split, k=k, probe=probe, tfidf=tfidf, seed=seed,
                                                      centre_questions=centre)
    return table, split.summary()


def bar_figure(table: pd.DataFrame, metrics: list[str], title: str) -> go.Figure:
    fig = go.Figure([go.Bar(name=m, x=table["representation"], y=table[m],
                            text=[f"{v:.2f}" for v in table[m]], textposition="outside") for m in metrics])
    fig.update_layout(barmode="group", title=title, yaxis_title="score (balanced)", yaxis_range=[0, 1.05],
                      height=380, margin=dict(l=10, r=10, t=40, b=10))
    return fig


# ---------------------------------------------------------------------------- control

@st.cache_data(show_spinner=False, max_entries=2)
def _shared_control(path: str) -> pd.DataFrame:
    """The shared AlpacaEval control corpus, its models renamed to their ValueBench counterparts."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    return identification.map_control_models(raw)


def _control_source(vmap) -> tuple[pd.DataFrame | None, str]:
    """Control QAs whose value IDs the map has (shared corpus first, else an upload), and where they came from."""
    value_ids = set(vmap.qas["value_id"].astype(str))
    root = shared_data_dir()
    shared_csv = Path(root) / CONTROL_CORPUS / "qa.csv" if root is not None else None
    options = (["Shared AlpacaEval corpus"] if shared_csv is not None and shared_csv.is_file() else []) + \
        ["Upload a control file"]
    choice = st.radio("Control QAs", options, horizontal=True, key="ev_control_source")
    if choice == "Shared AlpacaEval corpus":
        control = _shared_control(str(shared_csv))
        # name only the mappings this map uses: the full list was a wall of names ending in "share 0"
        used = {a: b for a, b in identification.CONTROL_MODEL_MAP.items() if f"{b}$eng" in value_ids}
        where = CONTROL_CORPUS + (" (" + ", ".join(f"{a} → {b}" for a, b in used.items()) + ")" if used else "")
    else:
        if shared_csv is None:
            st.caption("No shared control corpus here (set UNIVAR_SHARED_DATA to the folder holding "
                       f"{CONTROL_CORPUS}/qa.csv, or upload one).")
        uploaded = st.file_uploader("Control QAs: generic, non-value instructions answered by the map's models "
                                    "(same model and lang names)", type=_shared.UPLOAD_TYPES, key="ev_control_file")
        if uploaded is None:
            return None, ""
        try:
            control = _shared.read_upload(uploaded.getvalue(), uploaded.name).table
        except (QAInputError, ValueError) as err:
            st.error(_shared.md(err))
            return None, ""
        where = uploaded.name
    control = control[control["value_id"].astype(str).isin(value_ids)].reset_index(drop=True)
    return control, where


def _cap_questions(control: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """At most n questions (the same ones for every value ID: they stay paired)."""
    qids = np.array(sorted(control["question_id"].astype(str).unique()))
    if len(qids) > n:
        qids = np.random.default_rng(seed).choice(qids, size=n, replace=False)
    return control[control["question_id"].astype(str).isin(set(qids))].reset_index(drop=True)


def _control_section(vmap, key, reps: list[dict], settings: dict) -> None:
    st.subheader("Non-value control (paper fig. 4)")
    st.caption("The same measurement on generic instructions answered by the same models. A value encoder "
               "should identify models from value-laden answers better than from generic ones; the paper reports "
               "its trained encoder loses more accuracy on non-value QAs than the base model does.")
    control, where = _control_source(vmap)
    if control is None:
        st.info("No control data: neither the shared AlpacaEval corpus nor an uploaded control file is available.")
        return
    n_vid = control["value_id"].nunique()
    if n_vid < 2:
        st.info(_shared.md(f"No control comparison for this map: {where} answers by {n_vid} of its value IDs, "
                           "and it needs at least 2. Upload control QAs answered by this map's models (same model "
                           "and lang names)."))
        return
    st.caption(_shared.md(f"Control: {where}; {n_vid} value IDs in common with the map."))
    n_q = st.slider("control questions (same for every value ID)", 20, 805, MAX_CONTROL_QUESTIONS, 10,
                    key="ev_control_n", help="Embedding long generic answers is slow on a CPU (about 28 QAs/s).")
    control = _cap_questions(control, n_q)
    enc = vmap.manifest.get("encoder") or {}
    if enc.get("content_hash") == resolve.PRECOMPUTED_HASH:
        st.warning("This map's embeddings were precomputed, so its encoder cannot embed the control QAs: "
                   "only TF-IDF is compared.")
    if not st.button(f"Run the control comparison ({len(control):,} QAs)", key="ev_control_run"):
        result = st.session_state.get("ev_control_result")
        if result is None or result[0] != (key, where, n_q, settings, tuple(r["label"] for r in reps)):
            return
    else:
        bar = st.progress(0.0, text="embedding the control QAs")
        try:
            result = ((key, where, n_q, settings, tuple(r["label"] for r in reps)),
                      _control_comparison(vmap, control, reps, settings, bar))
        except (QAInputError, ValueError, OSError) as err:
            st.error(_shared.md(err))
            return
        bar.progress(1.0, text="done")
        st.session_state["ev_control_result"] = result
    comparison = result[1]
    st.dataframe(comparison, hide_index=True, key="ev_control_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in comparison.columns if c != "representation"})
    _shared.csv_download(comparison, label="Download control comparison (CSV)", file_name="control_comparison.csv",
                         key="ev_control_csv")
    fig = go.Figure([go.Bar(name=col, x=comparison["representation"], y=comparison[col])
                     for col in ("value QAs", "non-value QAs")])
    fig.update_layout(barmode="group", title="k-NN balanced accuracy: value vs non-value QAs",
                      yaxis_range=[0, 1.05], height=360, margin=dict(l=10, r=10, t=40, b=10))
    _shared.show_figure(fig, name="control_comparison", key="ev_control_chart")


def _control_comparison(vmap, control: pd.DataFrame, reps: list[dict], settings: dict, bar) -> pd.DataFrame:
    """knn_bal_acc on the map's QAs vs on the control QAs, for the value IDs both have."""
    common = sorted(set(control["value_id"].astype(str)))
    in_map = vmap.qas["value_id"].astype(str).isin(common).to_numpy()
    map_qas = vmap.qas[in_map].reset_index(drop=True)
    enc_info = vmap.manifest.get("encoder") or {}
    can_embed = enc_info.get("content_hash") != resolve.PRECOMPUTED_HASH
    value_feats, control_feats = {}, {}
    base_control = None
    for rep in reps:
        if rep["kind"] != "full" and not can_embed:
            continue
        if rep["kind"] in ("map", "head") and base_control is None:
            encoder = resolve.encoder_for_map(vmap)
            base_control = np.asarray(encoder.encode_qas(
                control["question"].tolist(), control["answer"].tolist(),
                progress=lambda d, t: bar.progress(0.9 * d / max(t, 1), text=f"embedding control: {d:,}/{t:,}"),
            ).embeddings, dtype=np.float32)
        value_feats[rep["label"]] = _features(vmap, rep)[in_map]
        if rep["kind"] == "map":
            control_feats[rep["label"]] = base_control
        elif rep["kind"] == "head":
            control_feats[rep["label"]] = load_head_for_map(rep["path"], vmap.manifest).transform(base_control)
        else:
            control_feats[rep["label"]] = np.asarray(resolve.load_encoder_cached(rep["path"]).encode_qas(
                control["question"].tolist(), control["answer"].tolist()).embeddings, dtype=np.float32)
    by = settings["by"] if settings["by"] in map_qas else "question_id"
    kw = dict(k=settings["k"], probe=False, tfidf=settings["tfidf"], baselines=True, by_dataset=False,
              seed=settings["seed"])
    value_split = split_qas(map_qas, by=by, test_fraction=settings["test_fraction"], seed=settings["seed"])
    control_split = split_qas(control, by="question_id", test_fraction=settings["test_fraction"],
                              seed=settings["seed"])
    v = identification.value_identification_table(map_qas, value_feats, value_split, **kw)
    c = identification.value_identification_table(control, control_feats, control_split, **kw)
    v = v[(v["dataset"] == "all") & (v["subset"] == "all")].set_index("representation")["knn_bal_acc"]
    c = c[(c["dataset"] == "all") & (c["subset"] == "all")].set_index("representation")["knn_bal_acc"]
    out = pd.DataFrame({"value QAs": v, "non-value QAs": c}).dropna().reset_index(names="representation")
    out["drop"] = out["value QAs"] - out["non-value QAs"]
    out["n_value_ids"] = len(common)
    return out


# ---------------------------------------------------------------------------- page

vmap = _shared.current_map()
key = _shared.current_map_key()
st.title("Evaluate: value identification")
st.caption(HOW_TO_READ)
qas = vmap.qas
if qas["value_id"].nunique() < 2:
    st.info("This map has a single value ID: there is nothing to identify.")
    st.stop()
candidates = _candidates(vmap)
labels = [c["label"] for c in candidates]
chosen = st.multiselect("Representations", labels, default=labels[:4], key="ev_reps",
                        help="Trained heads are listed when their base encoder is this map's encoder "
                             f"(runs dir: {runs_dir()}). Train one on the Train & Embed page.")
c1, c2, c3, c4, c5 = st.columns(5)
by_options = ["question_id"] + [c for c in ("questionnaire", "dataset", "subset") if c in qas and qas[c].nunique() > 1]
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
        st.warning(_shared.md(rep["note"]))
rep_key = tuple(tuple(sorted(r.items())) for r in reps)
with st.spinner("k-NN and probes on every representation…"):
    try:
        table, summary = _value_id_table(key, rep_key, by, float(test_fraction), seed, k, bool(probe), bool(tfidf),
                                         bool(centre))
    except (QAInputError, ValueError, OSError) as err:
        st.error(_shared.md(err))
        st.stop()
st.caption(_shared.md(summary))
metric_cols = [m for m in identification.METRICS if table[m].notna().any()]
# acc@k with k >= the number of value IDs is a 1.000 for everything: those columns are NaN and left out
table = table.drop(columns=[m for m in identification.METRICS if m not in metric_cols])
st.dataframe(table, hide_index=True, key="ev_table",
             column_config={m: st.column_config.NumberColumn(format="%.3f") for m in metric_cols})
_shared.csv_download(table, label="Download the table (CSV)", file_name="value_identification.csv", key="ev_csv")
datasets = table["dataset"].unique().tolist()
ds = st.selectbox("Dataset shown in the chart", datasets, key="ev_chart_dataset") if len(datasets) > 1 else "all"
metrics = st.multiselect("Metrics in the chart", metric_cols,
                         default=[m for m in ("knn_bal_acc", "knn_macro_f1", "probe_acc@1") if m in metric_cols],
                         key="ev_chart_metrics")
part = table[(table["dataset"] == ds) & (table["subset"] == "all")]
if metrics:
    _shared.show_figure(bar_figure(part, metrics, f"Value identification ({ds})"), name="value_identification",
                        key="ev_chart")
settings = {"by": by, "test_fraction": float(test_fraction), "seed": seed, "k": k, "tfidf": bool(tfidf)}
_control_section(vmap, key, reps, settings)
