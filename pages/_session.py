"""The map this browser session has open (session_state) and the ways a page gets to it: the first
launch's demo maps, deep links on a fresh server, the map's encoder for this page.

Cached loads live in pages/_shared.py; this module only decides *which* map and encoder.
"""
from __future__ import annotations

from typing import Callable

import streamlit as st

from pages._shared import MapKey, load_value_map
from univar_core.encoders import resolve
from univar_core.maps import build
from univar_core.maps.store import ValueMap

CURRENT_MAP_KEY = "_univar_current_map"   # session_state: (path, manifest checksum) of the chosen map
MAP_SELECTION_KEY = "map_selection"       # session_state: qa_ids selected on the Value Map (box/lasso)


def ensure_demo(data_dir: str, progress: Callable[[str, int, int], None] | None = None) -> str:
    """Build the demo value map (question-centred) once per data directory (first launch); later launches
    just find it. Returns its folder. The plain demo is not waited for: the app builds it afterwards in the
    background (pages/_jobs_view.start_plain_demo).

    Not st.cache_*: a cached call that draws progress into a block made outside it is replayed into
    every later session and fails there (CacheReplayClosureError). The library's lock makes concurrent
    first sessions build it once; the others wait and then open the stored map."""
    return str(build.ensure_demo_map(data_dir=data_dir, progress=progress, centre_questions=True).path)


def set_current_map(key: MapKey) -> None:
    st.session_state[CURRENT_MAP_KEY] = key


def run_through_app() -> None:
    """Make a page run as part of app.py (its navigation and sidebar), also on a fresh server.

    Streamlit serves a script's pages/ folder as stand-alone pages (multipage v1) until the first run
    of the main script calls st.navigation; a first request to /compare?map=... would run
    pages/compare.py alone ("No map is open", raw file names in the navigation). Switching that mode
    off and rerunning runs app.py, which opens the page the URL names."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def current_map_key() -> MapKey:
    key = st.session_state.get(CURRENT_MAP_KEY)
    if key is None:
        run_through_app()   # a deep link on a fresh server: go through app.py first
        # a page run without the app's sidebar (should not happen through st.navigation)
        st.error("No map is open: choose one in the sidebar.")
        st.stop()
    return key


def current_map() -> ValueMap:
    return load_value_map(*current_map_key())


def encoder_name(manifest: dict) -> str:
    enc = manifest.get("encoder")
    return str(enc.get("name") if isinstance(enc, dict) else enc)


def encoder_for_map(vmap: ValueMap):
    """(the map's encoder, None), or (None, why it cannot be used here): precomputed vectors, a model
    that is missing, or one whose content hash differs from the map's. The library loads each encoder once
    per process (encoders.resolve), so no st.cache is needed here."""
    from univar_core.data.schema import QAInputError
    from univar_core.encoders.base import EncoderLoadError

    try:
        return resolve.encoder_for_map(vmap), None
    except (EncoderLoadError, QAInputError, OSError, ValueError) as err:
        return None, f"{err}."
