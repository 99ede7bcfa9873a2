"""Add a model: ask a model the value questions (an OpenAI-compatible endpoint or a local transformers
model), optionally translate its answers into English, place them on the current map, see the nearest
value IDs, keep them as a layer.

Collection and translation run as `univar collect` / `univar translate` jobs (jobs.runner, started by
jobs/collection.py) that this page watches: they survive the browser tab, resume from their journal
when started again with the same form, and stop on Cancel. The API key stays in this session's memory
and reaches the child only through its environment.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from pages import _placement_view, _session, _shared, _ui
from univar_core.collect.collector import parse_langs
from univar_core.data.schema import QAInputError
from univar_core.jobs import collection
from univar_core.jobs.runner import JobBusyError, cancel_job, log_tail, read_job
from univar_core.maps.placement import add_layer, place_on_map
from univar_core.maps.store import MapError

STATE = "add_model"
FLASH = "add_model_flash"
ENDPOINT, LOCAL = "OpenAI-compatible endpoint", "Local transformers model"


def _form() -> dict | None:
    """The form; on submit, the validated request (or an error shown and None)."""
    with st.form("add_model_form"):
        source = st.radio("Ask", [ENDPOINT, LOCAL], horizontal=True, key="am_source")
        left, right = st.columns(2)
        endpoint = left.text_input("Endpoint base URL", placeholder="http://localhost:8000/v1", key="am_endpoint")
        model = right.text_input("Model name (as the endpoint serves it)", key="am_model")
        api_key = left.text_input("API key (optional)", type="password", key="am_key",
                                  help="Kept in this session's memory and handed to the collection process in its "
                                       "environment; never written to disk or shown. Empty: $OPENAI_API_KEY.")
        local = right.text_input("Local model (name or folder)", key="am_local")
        langs = left.text_input("Languages (ISO 639, comma-separated)", value="eng", key="am_langs")
        n = right.number_input("Questions (of the 350-question bank)", 1, 350, 50, key="am_n")
        mt = st.text_input("Translate the answers into English with (optional: an NLLB, M2M100 or opus-mt model)",
                           key="am_mt")
        if not st.form_submit_button("Start collecting", type="primary", key="am_submit"):
            return None
    try:
        lang_list = parse_langs(langs)
    except QAInputError as err:
        st.error(_ui.md(err))
        return None
    if source == ENDPOINT and not (endpoint.strip() and model.strip()):
        st.error("Give the endpoint's base URL and the model name it serves.")
        return None
    if source == LOCAL and not local.strip():
        st.error("Give a local model name or folder.")
        return None
    name = model.strip() or Path(local.strip().rstrip("/")).name
    return {"endpoint": endpoint.strip() if source == ENDPOINT else None, "model": name,
            "local_model": local.strip() if source == LOCAL else None, "langs": lang_list, "n": int(n),
            "mt": mt.strip() or None, "api_key": api_key or None}


def _start(req: dict) -> None:
    try:
        job = collection.start_collect(model=req["model"], langs=req["langs"], n_questions=req["n"],
                                       endpoint=req["endpoint"], local_model=req["local_model"],
                                       api_key=req["api_key"])
    except JobBusyError as err:
        st.error(_ui.md(err))
        return
    st.session_state[STATE] = {"req": {k: v for k, v in req.items() if k != "api_key"}, "job": str(job.path),
                               "out": job.meta["out"], "phase": "collect", "placement": None, "map_key": None}


@st.fragment(run_every=1.0)
def _watch(state: dict) -> None:
    """Progress of the running subprocess, refreshed every second; a full rerun when it ends."""
    job = read_job(state["job"])
    if not job.running:
        st.rerun()
    what = "collecting answers" if state["phase"] == "collect" else "translating into English"
    st.progress(job.fraction, text=f"{what}: {job.done:,} / {job.total:,}")
    s = job.status
    if state["phase"] == "collect" and job.total:
        st.caption(f"{s.get('answers_per_s', 0):.2f} answers/s · "
                   f"{s.get('prompt_tokens', 0) + s.get('completion_tokens', 0):,} tokens · "
                   f"{s.get('n_retries', 0)} retries · {s.get('n_empty', 0)} empty, {s.get('n_refused', 0)} refused")
    if st.button("Cancel", key="am_cancel"):
        cancel_job(state["job"])
        st.rerun()


def _advance(state: dict) -> None:
    """A finished subprocess: start the translation, or hand its file to placement; errors as messages."""
    job = read_job(state["job"])
    if job.state in ("failed", "cancelled"):
        state["message"] = (_ui.md(collection.user_message(job.error)) if job.state == "failed" else
                            "Cancelled. The answers collected so far are kept: start again with the same "
                            "settings to continue where it stopped.")
        state["phase"] = "stopped"
        return
    if state["phase"] == "collect" and state["req"]["mt"]:
        try:
            job = collection.start_translate(state["out"], mt_model=state["req"]["mt"])
        except JobBusyError as err:
            st.error(_ui.md(err))
            return
        state.update(job=str(job.path), out=job.meta["out"], phase="translate")
        st.rerun()
    state["phase"] = "place"


def _answers(path: str) -> None:
    qas = pd.read_csv(path, keep_default_na=False)
    counts = qas["answer_status"].value_counts() if "answer_status" in qas else pd.Series(dtype=int)
    st.success(f"{len(qas):,} answers from {qas['value_id'].nunique()} value IDs "
               f"({int(counts.get('empty', 0))} empty, {int(counts.get('refused', 0))} refused: kept and counted).")
    shown = _ui.display_qas(qas, extra=[c for c in ("answer_status", "mt_lang") if c in qas])
    st.dataframe(shown, hide_index=True, key="am_answers")
    _ui.csv_download(qas, label="Download the answers (CSV)", file_name=Path(path).name, key="am_answers_csv")


def _place(vmap, key, state: dict) -> None:
    layers = [str(x) for x in vmap.points["layer"].unique()] if "layer" in vmap.points else []
    layer = st.text_input("Layer name", value=_ui.default_layer_name(state["req"]["model"], layers),
                          key="am_layer")
    if st.button("Place on the map", type="primary", key="am_place"):
        bar = st.progress(0.0, text="embedding with the map's encoder")
        try:
            placement = place_on_map(vmap, state["out"], layer=layer, progress=_ui.stage_progress(bar))
        except (QAInputError, MapError) as err:
            _ui.map_error(err)
        state.update(placement=placement, map_key=key)
    if state["placement"] is None or state["map_key"] != key:
        return
    _placement_view.show_placement(vmap, key, state["placement"], prefix="add_model")
    if st.button("Keep as a new layer of this map", type="primary", key="am_keep"):
        try:
            updated = add_layer(vmap, state["placement"], data_dir=Path(vmap.path).parent)
        except (QAInputError, MapError, ValueError) as err:
            _ui.map_error(err)
        st.session_state[FLASH] = f"Layer '{state['placement'].layer}' saved: map '{updated.name}' now has " \
                                  f"{len(updated.qas):,} QAs."
        st.session_state.pop(STATE, None)
        _session.set_current_map((str(updated.path), _shared.manifest_checksum(updated.path)))
        st.rerun()


vmap = _session.current_map()
key = _session.current_map_key()
st.title("Add a model")
st.caption("Ask a model the project's value questions, then see where its answers land on this map "
           f"(embedded with its encoder, {_ui.md(_session.encoder_name(vmap.manifest))}). "
           "The same from the shell: `univar collect`, `univar translate`, `univar place`.")
if FLASH in st.session_state:
    st.success(_ui.md(st.session_state.pop(FLASH)))
state = st.session_state.get(STATE)
running = state is not None and state["phase"] in ("collect", "translate") and read_job(state["job"]).running
if not running:
    request = _form()
    if request is not None:
        _start(request)
        state = st.session_state.get(STATE)
        running = state is not None
if state is not None and running:
    _watch(state)
elif state is not None and state["phase"] in ("collect", "translate"):
    _advance(state)
if state is not None and state["phase"] == "stopped":
    st.error(state["message"])
if state is not None and state["phase"] == "place":
    _answers(state["out"])
    _place(vmap, key, state)
if state is not None and state["phase"] != "place":
    with st.expander("Log of the last run"):
        st.text("\n".join(log_tail(state["job"], 15)))
