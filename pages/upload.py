"""Upload: validate a QA file, embed it with the map's encoder, place it on the map (no refit), see which
value IDs it is closest to, then keep it as a new layer or discard it.

Everything lives in st.session_state["upload"] (one browser session's own), nothing is written until
"Keep as layer".
"""
from __future__ import annotations

import hashlib

import streamlit as st

from pages import _placement_view, _session, _shared, _ui
from univar_core.data import schema
from univar_core.data.schema import QAInputError
from univar_core.encoders.base import EncoderLoadError
from univar_core.maps.placement import add_layer, place_on_map
from univar_core.maps.store import MapError
from univar_core.paths import ASSETS_DIR

STATE = "upload"
FLASH = "upload_flash"
ROUND = "upload_round"      # bumped after "keep": a new uploader key empties the widget
TEMPLATE = ASSETS_DIR / "qa_template.csv"


def _template() -> None:
    st.markdown(f"Required columns: {', '.join(f'`{c}`' for c in schema.REQUIRED)}; optional: `question_id`, "
                "`dataset` and any other column (kept and filterable). Common aliases such as "
                "`prompt`/`response`, `llm`, `language` are recognised. Formats: "
                + ", ".join(_ui.UPLOAD_TYPES) + ".")
    if TEMPLATE.is_file():
        st.download_button("Download the CSV template", data=TEMPLATE.read_bytes(), file_name="qa_template.csv",
                           mime="text/csv", key="template_csv", on_click="ignore")


def _validated(uploaded) -> dict | None:
    """Validate a new file once; the result (or its error) is kept in session state until the file changes."""
    data = uploaded.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    state = st.session_state.get(STATE)
    if state and state["digest"] == digest and state["name"] == uploaded.name:
        return state
    state = {"digest": digest, "name": uploaded.name, "loaded": None, "error": None, "placement": None,
             "map_key": None}
    try:
        state["loaded"] = _ui.read_upload(data, uploaded.name)
    except (QAInputError, ValueError) as err:   # QAInputError is a ValueError; both are the user's file
        state["error"] = str(err)
    st.session_state[STATE] = state
    return state


def _report(loaded) -> None:
    report = loaded.report
    st.subheader("Validation report")
    st.text(report.summary())
    skipped = report.skipped_frame()
    if len(skipped):
        st.caption(f"{len(skipped):,} skipped rows (row numbers count data rows, header excluded):")
        st.dataframe(skipped, hide_index=True, key="upload_skipped")
    st.caption(f"Accepted QAs ({len(loaded.table):,}; first 200 shown):")
    st.dataframe(_ui.display_qas(loaded.table.head(200), extra=["model", "lang"]), hide_index=True,
                 key="upload_preview")


def _place(vmap, key, state) -> None:
    layers = [str(x) for x in vmap.points["layer"].unique()] if "layer" in vmap.points else []
    layer = st.text_input("Layer name", value=_ui.default_layer_name(state["name"], layers),
                          key="upload_layer", help="Letters, digits, '-' and '_'; shown as 'layer' on the map.")
    if st.button("Embed and place on the map", type="primary", key="upload_place"):
        bar = st.progress(0.0, text="embedding with the map's encoder")
        try:
            placement = place_on_map(vmap, state["loaded"], layer=layer,
                                              progress=_ui.stage_progress(bar))
        except (QAInputError, MapError, EncoderLoadError) as err:
            _ui.map_error(err)
        bar.progress(1.0, text="placed")
        state.update(placement=placement, map_key=key)


def _keep_or_discard(vmap, state) -> None:
    keep, discard = st.columns(2)
    if keep.button("Keep as a new layer of this map", type="primary", key="upload_keep"):
        try:
            updated = add_layer(vmap, state["placement"])   # back into the folder it was opened from
        except (QAInputError, MapError, ValueError) as err:
            _ui.map_error(err)
        st.session_state[FLASH] = (f"Layer '{state['placement'].layer}' saved: map '{updated.name}' now has "
                                   f"{len(updated.qas):,} QAs.")
        st.session_state.pop(STATE, None)
        st.session_state[ROUND] = st.session_state.get(ROUND, 0) + 1   # a fresh, empty uploader
        # open the new version now (the sidebar would also find it: its manifest checksum changed)
        _session.set_current_map((str(updated.path), _shared.manifest_checksum(updated.path)))
        st.rerun()
    if discard.button("Discard", key="upload_discard"):
        state.update(placement=None, map_key=None)
        st.rerun()


vmap = _session.current_map()
key = _session.current_map_key()
st.title("Upload your QAs")
st.caption(f"New QAs are embedded with this map's encoder ({_ui.md(_session.encoder_name(vmap.manifest))}) "
           "and placed on it without moving any existing point. Nothing is saved until you keep them.")
if FLASH in st.session_state:
    st.success(_ui.md(st.session_state.pop(FLASH)))
_template()
uploaded = st.file_uploader("QA file", type=_ui.UPLOAD_TYPES, key=f"upload_file_{st.session_state.get(ROUND, 0)}")
if uploaded is None:
    st.session_state.pop(STATE, None)   # the file was removed: forget it and its placement
    st.stop()
state = _validated(uploaded)
if state["error"]:
    st.error(_ui.md(state["error"]))
    st.stop()
_report(state["loaded"])
if len(state["loaded"].table) == 0:
    st.error("No QA was accepted from this file: see the skipped rows above.")
    st.stop()
_place(vmap, key, state)
if state["placement"] is not None and state["map_key"] == key:
    _placement_view.show_placement(vmap, key, state["placement"], prefix="upload")
    _keep_or_discard(vmap, state)
elif state["placement"] is not None:
    st.info("The map changed since these QAs were placed: place them again.")
    state.update(placement=None, map_key=None)
