"""Train & Embed: train a UniVaR value encoder on the current map's QAs or a file, list trained encoders,
rebuild a map with one, embed a new corpus into a new map.

Every run is a `univar train` / `univar build` / `univar rebuild` subprocess (univar_core.jobs): this page
starts it; pages/_jobs_view.py draws its status.json, loss log and log tail, and cancels it. No torch in
this process.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages import _jobs_view, _session, _ui
from univar_core.data import schema
from univar_core.data.schema import QAInputError
from univar_core.data.splits import split_columns
from univar_core.encoders import onnx_backend
from univar_core.encoders.base import DEFAULT_ENCODER
from univar_core.figures.run_figures import loss_figure
from univar_core.jobs import starters
from univar_core.maps import store
from univar_core.training import plan, runs
from univar_core.training.run_folder import read_loss_log

MODE_HELP = ("head: a small MLP on the map's stored (frozen) embeddings; seconds to minutes on a CPU. "
             "full: fine-tunes the whole sentence-transformers model; needs a GPU for real corpora "
             "(on a CPU only tiny models and a few steps are practical).")


def _upload(label: str, key: str):
    """(LoadedQAs, (name, bytes)) of an uploaded, validated QA file, or None (a bad file: an error message)."""
    uploaded = st.file_uploader(label, type=_ui.UPLOAD_TYPES, key=key)
    if uploaded is None:
        return None
    try:
        loaded = _ui.read_upload(uploaded.getvalue(), uploaded.name)
    except (QAInputError, ValueError) as err:
        st.error(_ui.md(err))
        return None
    st.caption(_ui.md(f"{uploaded.name}: {loaded.report.n_accepted:,} QAs accepted, "
                      f"{len(loaded.report.skipped):,} skipped, {loaded.table['value_id'].nunique()} value IDs."))
    if len(loaded.table) == 0:
        st.error("No QA was accepted from this file.")
        return None
    return loaded, (uploaded.name, uploaded.getvalue())


def _training_form(vmap) -> None:
    st.subheader("Train a value encoder")
    from_map = st.radio("QAs to train on", ["This map's QAs", "Upload a file"], horizontal=True,
                        key="tr_source") == "This map's QAs"
    source: dict = {"map_path": str(vmap.path)}
    if from_map:
        qas = vmap.qas
        st.caption(_ui.md(f"{len(qas):,} QAs, {qas['value_id'].nunique()} value IDs of map '{vmap.name}'."))
    else:
        got = _upload("QA file to train on", "tr_file")
        if got is None:
            return
        qas, source = got[0].table, {"upload": got[1]}
    mode = st.radio("Mode", list(plan.MODES), horizontal=True, key="tr_mode", help=MODE_HELP)
    if mode == "full" and not plan.gpu_names():
        st.warning("No GPU here: full fine-tuning of a real model on a real corpus would take hours on this CPU. "
                   "Use head mode, or run `univar train --mode full` on a GPU machine.")
    settings: dict = {}
    if mode == "full" or not from_map:   # head mode on the map trains on its stored vectors: their encoder
        settings["base"] = st.text_input("Base encoder (name or folder)", value=plan.default_base(vmap.manifest),
                                         key="tr_base")
    defaults = plan.mode_defaults(mode)
    c1, c2, c3, c4, c5 = st.columns(5)
    settings["lam"] = c1.slider("λ (max QAs per view)", 1, 20, 5, key="tr_lam",
                                help="Each view joins (head: averages) 1..λ QAs of one value ID; the paper's λ.")
    settings["steps"] = int(c2.number_input("steps", 1, 100_000, int(defaults["steps"] or 100), key="tr_steps"))
    settings["lr"] = float(c3.number_input("learning rate", 1e-6, 1.0, float(defaults["lr"]), format="%.1e",
                                           key="tr_lr"))
    settings["logit_scale"] = float(c4.number_input("logit scale", 1.0, 200.0, float(defaults["logit_scale"]),
                                                    key="tr_scale"))
    if mode == "head":
        settings["pairs_per_value_id"] = int(c5.number_input(
            "view pairs per value ID per step", 1, 256, int(defaults["pairs_per_value_id"]), key="tr_batch"))
    else:
        batch = int(c5.number_input("view pairs per step", 2, 4096, int(defaults["batch_pairs"]), key="tr_batch_full"))
        micro = int(st.number_input("view pairs per forward pass", 1, 4096, batch, key="tr_micro",
                                    help="Lower it if the GPU runs out of memory. The in-batch negatives stay those "
                                         "of the whole step (GradCache), at the price of one extra forward pass."))
        settings.update(batch_pairs=batch, micro_batch_pairs=micro if micro < batch else None)
    split = None
    if st.checkbox("Hold out test questions (question-disjoint split; train on the train side only)", value=True,
                   key="tr_split", help="Use the same split settings on the Evaluate page to score on unseen "
                                        "questions."):
        by_options = split_columns(qas)
        if not by_options:
            st.error("No column groups questions (question_id has a single value): cannot split.")
            return
        s1, s2, s3 = st.columns(3)
        split = {"by": s1.selectbox("split by", by_options, key="tr_split_by"),
                 "test_fraction": float(s2.slider("test share", 0.1, 0.5, 0.3, 0.05, key="tr_test_fraction")),
                 "seed": int(s3.number_input("seed", 0, 10_000, 0, key="tr_seed"))}
    taken = runs.list_runs()["name"].tolist()
    default_name = st.session_state.setdefault(f"tr_default_name_{mode}", runs.default_run_name(mode, taken))
    name = st.text_input("Run name", value=default_name, key="tr_name",
                         help=f"The encoder is saved in {runs.runs_dir()}/<run name>.")
    if st.button("Start training", type="primary", key="tr_start"):
        _jobs_view.start(starters.start_training, name.strip(), mode=mode, split=split, **source, **settings)
        st.session_state.pop(f"tr_default_name_{mode}", None)   # the next run gets a fresh default name


def _runs_section(vmap) -> None:
    st.subheader("Trained encoders")
    table = runs.list_runs()
    if table.empty:
        st.info(_ui.md(f"No run in {runs.runs_dir()} yet."))
        return
    shown = table[["name", "kind", "state", "step", "total_steps", "base", "final_loss", "device", "source_map",
                   "split", "created"]].copy()
    shown["split"] = shown["split"].map(lambda s: "" if not isinstance(s, dict) else
                                        f"{s.get('by')} {s.get('test_fraction')} seed {s.get('seed')}")
    st.dataframe(shown, hide_index=True, key="tr_runs_table")
    usable = table[table["kind"].notna()]
    if usable.empty:
        return
    pick = st.selectbox("Run", usable["name"].tolist(), key="tr_run_pick")
    row = usable[usable["name"] == pick].iloc[0]
    log = read_loss_log(row["path"])
    if len(log):
        _ui.show_figure(loss_figure(log, f"Loss of {pick}"), name=f"loss_{pick}", key="tr_run_loss")
    st.caption(_ui.md(f"Encoder folder: {row['path']} (use it anywhere an encoder name is accepted, "
                          f"e.g. `univar build FILE --encoder {row['path']}`)."))
    new_name = st.text_input("New map name", value=f"{vmap.name}-{pick}"[:100], key="tr_rebuild_name")
    if st.button("Rebuild this map with it", key="tr_rebuild"):
        _jobs_view.start(starters.start_rebuild, vmap.path, new_name, encoder=row["path"],
                         data_dir=Path(vmap.path).parent)


def _embed_section() -> None:
    st.subheader("Embed a new corpus into a new map")
    st.caption("Upload a QA file (columns " + ", ".join(schema.REQUIRED) + "); it is embedded, projected and "
               "stored as a new map (not placed on this one: for that, use the Upload page).")
    got = _upload("QA file for a new map", "emb_file")
    table = runs.list_runs()
    choices = [DEFAULT_ENCODER] + table.loc[table["kind"].notna(), "path"].tolist()
    encoder = st.selectbox("Encoder", choices, key="emb_encoder",
                           format_func=lambda p: p if p == DEFAULT_ENCODER else f"trained run {Path(p).name}")
    backend = st.selectbox("Encoder backend", onnx_backend.BACKENDS, key="emb_backend",
                           help="auto: on a CPU the fastest backend whose vectors pass the accuracy guard against "
                                "fp32 PyTorch (ONNX Runtime, int8 where it passes), torch on a GPU.")
    if got is None:
        return
    taken = [m["name"] for m in store.list_maps(store.default_data_dir())]
    name = st.text_input("Map name", value=_ui.default_layer_name(got[0].report.source, taken), key="emb_name")
    centre = st.checkbox("Question-centred (values, not topics)", key="emb_centre",
                         help="Subtract each question's mean embedding over the value IDs that answered it: the map "
                              "then shows how answers differ, not what they are about (QAs of questions only one "
                              "value ID answered are left out).")
    if st.button("Build the map", type="primary", key="emb_build"):
        _jobs_view.start(starters.start_build, name, upload=got[1], encoder=encoder, backend=backend,
                         data_dir=store.default_data_dir(), centre_questions=centre)


vmap = _session.current_map()
st.title("Train & Embed")
gpus = plan.gpu_names()
st.caption(f"GPU: {gpus[0]} (full fine-tuning uses it)" if gpus else
           "No GPU: training runs on the CPU. Head mode is fast there; full fine-tuning needs a GPU for real corpora.")
st.caption("UniVaR trains an encoder so that two views (sets of 1..λ QAs) of the same model-language pair "
           "land close together and views of other pairs far apart (multi-view InfoNCE). Each run is a "
           "`univar` command in the background: it goes on if you leave this page.")
_training_form(vmap)
_jobs_view.live_jobs()
_runs_section(vmap)
_embed_section()
