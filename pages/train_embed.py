"""Train & Embed: train a UniVaR value encoder (multi-view InfoNCE) on the current map's QAs or a file,
in the background, with live progress and loss curve; list trained encoders; rebuild a map with one;
embed a new corpus into a new map.

Runs go through univar_core.jobs (one heavy run at a time in this app process); the job ids this browser
session started live in st.session_state, the run folders under jobs.runs_dir().
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from pages import _shared
from univar_core import jobs
from univar_core.data import schema
from univar_core.data.schema import QAInputError
from univar_core.data.splits import split_qas
from univar_core.encoders import resolve
from univar_core.encoders.base import DEFAULT_ENCODER
from univar_core.maps import store
from univar_core.maps.store import MapError
from univar_core.training import run_folder, trainer

JOBS_KEY = "train_embed_jobs"      # session_state: ids of the jobs this session started (newest last)
SEEN_KEY = "train_embed_seen"      # session_state: ids of finished jobs whose end already refreshed the page
MODE_HELP = ("head: a small MLP on the map's stored (frozen) embeddings; seconds to minutes on a CPU. "
             "full: fine-tunes the whole sentence-transformers model; needs a GPU for real corpora "
             "(on a CPU only tiny models and a few steps are practical).")


def _runner() -> jobs.JobRunner:
    return jobs.default_runner()


def _my_jobs() -> list[jobs.Job]:
    return [j for j in (_runner().get(i) for i in st.session_state.get(JOBS_KEY, [])) if j is not None]


def _remember(job: jobs.Job) -> None:
    st.session_state.setdefault(JOBS_KEY, []).append(job.id)


def _upload(label: str, key: str):
    """An uploaded, validated QA file (LoadedQAs) or None; a bad file is an error message, not a traceback."""
    uploaded = st.file_uploader(label, type=_shared.UPLOAD_TYPES, key=key)
    if uploaded is None:
        return None
    try:
        loaded = _shared.read_upload(uploaded.getvalue(), uploaded.name)
    except (QAInputError, ValueError) as err:
        st.error(_shared.md(err))
        return None
    st.caption(_shared.md(f"{uploaded.name}: {loaded.report.n_accepted:,} QAs accepted, "
                          f"{len(loaded.report.skipped):,} skipped, {loaded.table['value_id'].nunique()} value IDs."))
    if len(loaded.table) == 0:
        st.error("No QA was accepted from this file.")
        return None
    return loaded


def loss_figure(log: pd.DataFrame, title: str) -> go.Figure:
    fig = go.Figure(go.Scatter(x=log["step"], y=log["loss"], mode="lines", name="loss"))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="InfoNCE loss", height=300,
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


# ------------------------------------------------------------------------------------ training form

def _split_columns(qas: pd.DataFrame) -> list[str]:
    """Columns that group questions: question_id first, then text columns with 2..n/2 groups."""
    cols = ["question_id"] + [c for c in ("questionnaire", "dataset", "subset") if c in qas.columns]
    return [c for c in cols if c in qas.columns and qas[c].nunique() >= 2]


def _training_form(vmap) -> None:
    st.subheader("Train a value encoder")
    source = st.radio("QAs to train on", ["This map's QAs", "Upload a file"], horizontal=True, key="tr_source")
    map_encoder = vmap.manifest.get("encoder") or {}
    precomputed = map_encoder.get("content_hash") == resolve.PRECOMPUTED_HASH
    if source == "This map's QAs":
        qas, emb, loaded = vmap.qas, vmap.embeddings, None
        st.caption(_shared.md(f"{len(qas):,} QAs, {qas['value_id'].nunique()} value IDs of map '{vmap.name}'."))
    else:
        loaded = _upload("QA file to train on", "tr_file")
        if loaded is None:
            return
        qas, emb = loaded.table, loaded.embeddings
    mode = st.radio("Mode", ["head", "full"], horizontal=True, key="tr_mode", help=MODE_HELP)
    if mode == "full" and not torch.cuda.is_available():
        st.warning("No GPU here: full fine-tuning of a real model on a real corpus would take hours on this CPU. "
                   "Use head mode, or run `univar train --mode full` on a GPU machine.")
    default_base = DEFAULT_ENCODER if precomputed else str(map_encoder.get("name") or DEFAULT_ENCODER)
    base = default_base
    if mode == "full" or source != "This map's QAs":
        base = st.text_input("Base encoder (name or folder)", value=default_base, key="tr_base")
    defaults = trainer.mode_defaults(mode)
    c1, c2, c3, c4, c5 = st.columns(5)
    lam = c1.slider("λ (max QAs per view)", 1, 20, 5, key="tr_lam",
                    help="Each view joins (head: averages) 1..λ QAs of one value ID; the paper's λ.")
    steps = c2.number_input("steps", 1, 100_000, int(defaults["steps"] or 100), key="tr_steps")
    lr = c3.number_input("learning rate", 1e-6, 1.0, float(defaults["lr"]), format="%.1e", key="tr_lr")
    scale = c4.number_input("logit scale", 1.0, 200.0, float(defaults["logit_scale"]), key="tr_scale")
    if mode == "head":
        batch = c5.number_input("view pairs per value ID per step", 1, 256, int(defaults["pairs_per_value_id"]),
                                key="tr_batch")
        extra = {"pairs_per_value_id": int(batch)}
    else:
        batch = c5.number_input("view pairs per step", 2, 4096, int(defaults["batch_pairs"]), key="tr_batch_full")
        micro = st.number_input("view pairs per forward pass", 1, 4096, int(batch), key="tr_micro",
                                help="Lower it if the GPU runs out of memory. The in-batch negatives stay those "
                                     "of the whole step (GradCache), at the price of one extra forward pass.")
        extra = {"batch_pairs": int(batch), "micro_batch_pairs": int(micro) if micro < batch else None}
    use_split = st.checkbox("Hold out test questions (question-disjoint split; train on the train side only)",
                            value=True, key="tr_split",
                            help="Use the same split settings on the Evaluate page to score on unseen questions.")
    split_info = None
    if use_split:
        s1, s2, s3 = st.columns(3)
        by_options = _split_columns(qas)
        if not by_options:
            st.error("No column groups questions (question_id has a single value): cannot split.")
            return
        by = s1.selectbox("split by", by_options, key="tr_split_by")
        test_fraction = s2.slider("test share", 0.1, 0.5, 0.3, 0.05, key="tr_test_fraction")
        seed = int(s3.number_input("seed", 0, 10_000, 0, key="tr_seed"))
        split_info = {"by": by, "test_fraction": float(test_fraction), "seed": seed}
    taken = jobs.list_runs()["name"].tolist()
    default_name = st.session_state.setdefault(f"tr_default_name_{mode}", jobs.default_run_name(mode, taken))
    name = st.text_input("Run name", value=default_name, key="tr_name",
                         help=f"The encoder is saved in {jobs.runs_dir()}/<run name>.")
    if not st.button("Start training", type="primary", key="tr_start"):
        return
    try:
        name = jobs.validate_run_name(name)
        train_rows = None
        if split_info:
            split = split_qas(qas, **split_info)
            train_rows = split.encoder_train
            st.caption(_shared.md(split.summary()))
        rows = qas if train_rows is None else qas.iloc[train_rows]
        if mode == "head":
            if emb is not None:          # the map's (or the file's) stored embeddings: no encoding
                run_base = jobs.recorded_base(vmap.manifest) if loaded is None else base
                run_emb = emb if train_rows is None else emb[train_rows]
            else:                        # an uploaded file: encode it with the base (cached) in the job
                run_base, run_emb = resolve.load_encoder_cached(base), None
        else:
            run_base, run_emb = base, None
        info = {"source_map": vmap.name if loaded is None else None,
                "source_file": loaded.report.source if loaded is not None else None, "split": split_info}
        job = jobs.start_training(rows, out_dir=jobs.runs_dir() / name, mode=mode, base=run_base,
                                  embeddings=run_emb, info=info, lam=int(lam), steps=int(steps), lr=float(lr),
                                  logit_scale=float(scale), **extra)
    except jobs.JobBusyError as err:
        st.warning(_shared.md(err))
        return
    except (QAInputError, ValueError, OSError) as err:
        st.error(_shared.md(err))
        return
    _remember(job)
    st.session_state.pop(f"tr_default_name_{mode}", None)   # the next run gets a fresh default name
    st.success(_shared.md(f"Started {job.label}."))


# ------------------------------------------------------------------------------------ live progress

def _job_panel(job: jobs.Job) -> None:
    icon = {"running": "⏳", "done": "✅", "failed": "❌", "cancelled": "⏹️"}.get(job.state, "")
    st.markdown(f"{icon} **{_shared.md(job.label)}**: {job.state}, {job.elapsed_s:.0f} s")
    text = f"{job.stage or job.kind}: {job.done:,} / {job.total:,}" if job.total else (job.stage or "starting")
    st.progress(job.fraction, text=text)
    if job.kind == "train":
        log = run_folder.read_loss_log(job.meta["out_dir"])
        if len(log):
            st.plotly_chart(loss_figure(log, "Loss"), key=f"job_loss_{job.id}", config={"displaylogo": False})
    if job.error:
        st.error(_shared.md(job.error))
    with st.expander("Log", expanded=job.state == "failed"):
        st.text("\n".join(job.log_tail(20)) or "(empty)")
    if job.running and st.button("Cancel", key=f"job_cancel_{job.id}"):
        job.cancel()
    if job.kind == "build" and job.state == "done":
        vmap, report = job.result
        st.success(_shared.md(f"Map '{vmap.name}' built: {len(vmap.qas):,} QAs."))
        st.button("Open the new map", key=f"job_open_{job.id}", on_click=_open_map, args=(str(vmap.path),))


def _open_map(path: str) -> None:
    st.session_state["map_name"] = path   # the sidebar's selectbox (a callback runs before the script)


def _live_jobs() -> None:
    """While a job runs the panel redraws itself every 2 s (a fragment); otherwise it is drawn once."""
    if _runner().active() is not None:
        _jobs_polling()
    else:
        _jobs_panel()


@st.fragment(run_every=2)
def _jobs_polling() -> None:
    _jobs_panel()


def _jobs_panel() -> None:
    """The jobs of this session, newest first; a full rerun once one of them ends."""
    mine = _my_jobs()
    other = _runner().active()
    if other is not None and other.id not in {j.id for j in mine}:
        st.info(_shared.md(f"Another session is running '{other.label}' ({other.done}/{other.total}); "
                           "a new run starts when it ends."))
    for job in reversed(mine[-3:]):
        _job_panel(job)
    seen = st.session_state.setdefault(SEEN_KEY, [])
    ended = [j.id for j in mine if not j.running and j.id not in seen]
    if ended:
        seen.extend(ended)
        st.rerun()   # refresh the runs list and the sidebar's maps


# ------------------------------------------------------------------------------------ trained runs

def _runs_section(vmap) -> None:
    st.subheader("Trained encoders")
    runs = jobs.list_runs()
    if runs.empty:
        st.info(_shared.md(f"No run in {jobs.runs_dir()} yet."))
        return
    shown = runs[["name", "kind", "state", "step", "total_steps", "base", "final_loss", "device", "source_map",
                  "split", "created"]].copy()
    shown["split"] = shown["split"].map(lambda s: "" if not isinstance(s, dict) else
                                        f"{s.get('by')} {s.get('test_fraction')} seed {s.get('seed')}")
    st.dataframe(shown, hide_index=True, key="tr_runs_table")
    usable = runs[runs["kind"].notna()]
    if usable.empty:
        return
    pick = st.selectbox("Run", usable["name"].tolist(), key="tr_run_pick")
    row = usable[usable["name"] == pick].iloc[0]
    log = run_folder.read_loss_log(row["path"])
    if len(log):
        st.plotly_chart(loss_figure(log, f"Loss of {pick}"), key="tr_run_loss", config={"displaylogo": False})
    st.caption(_shared.md(f"Encoder folder: {row['path']} (use it anywhere an encoder name is accepted, "
                          f"e.g. `univar build FILE --encoder {row['path']}`)."))
    new_name = st.text_input("New map name", value=f"{vmap.name}-{pick}"[:100], key="tr_rebuild_name")
    if st.button("Rebuild this map with it", key="tr_rebuild"):
        _start_rebuild(vmap, row, new_name)


def _start_rebuild(vmap, row, new_name: str) -> None:
    source = vmap.qas.drop(columns=[c for c in ("x", "y", "cluster", "cluster_label", "layer") if c in vmap.qas])
    kw: dict = {"encoder": row["path"]}
    try:
        ok, _ = (jobs.head_matches_map(row["path"], vmap.manifest) if row["kind"] == "head" else (False, ""))
        if ok and (vmap.manifest.get("encoder") or {}).get("content_hash") == resolve.PRECOMPUTED_HASH:
            # the map's base vectors were given, not computed here: apply the head to them directly
            kw = {"embeddings": jobs.load_head_for_map(row["path"], vmap.manifest).transform(vmap.embeddings),
                  "encoder_name": row["path"]}
        job = jobs.start_build(source, new_name, data_dir=Path(vmap.path).parent, **kw)
    except jobs.JobBusyError as err:
        st.warning(_shared.md(err))
        return
    except (MapError, QAInputError, ValueError, OSError) as err:
        st.error(_shared.md(err))
        return
    _remember(job)
    st.success(_shared.md(f"Started {job.label}."))


# ------------------------------------------------------------------------------------ new corpus

def _embed_section(vmap) -> None:
    st.subheader("Embed a new corpus into a new map")
    st.caption("Upload a QA file (columns " + ", ".join(schema.REQUIRED) + "); it is embedded, projected and "
               "stored as a new map (not placed on this one: for that, use the Upload page).")
    loaded = _upload("QA file for a new map", "emb_file")
    runs = jobs.list_runs()
    choices = [DEFAULT_ENCODER] + runs.loc[runs["kind"].notna(), "path"].tolist()
    encoder = st.selectbox("Encoder", choices, key="emb_encoder",
                           format_func=lambda p: p if p == DEFAULT_ENCODER else f"trained run {Path(p).name}")
    if loaded is None:
        return
    taken = [m["name"] for m in store.list_maps(store.default_data_dir())]
    name = st.text_input("Map name", value=_shared.default_layer_name(loaded.report.source, taken),
                         key="emb_name")
    if st.button("Build the map", type="primary", key="emb_build"):
        try:
            job = jobs.start_build(loaded, name, encoder=encoder, data_dir=store.default_data_dir())
        except jobs.JobBusyError as err:
            st.warning(_shared.md(err))
            return
        except (MapError, QAInputError, ValueError) as err:
            st.error(_shared.md(err))
            return
        _remember(job)
        st.success(_shared.md(f"Started {job.label}."))


vmap = _shared.current_map()
st.title("Train & Embed")
gpu = torch.cuda.is_available()
st.caption(("GPU: " + torch.cuda.get_device_name(0) + " (full fine-tuning uses it)") if gpu else
           "No GPU: training runs on the CPU. Head mode is fast there; full fine-tuning needs a GPU for real corpora.")
st.caption("UniVaR trains an encoder so that two views (sets of 1..λ QAs) of the same model-language pair "
           "land close together and views of other pairs far apart (multi-view InfoNCE).")
_training_form(vmap)
_live_jobs()
_runs_section(vmap)
_embed_section(vmap)
