"""UniVaR Explorer: the Streamlit entry point (`streamlit run app.py`).

Builds the demo map on first launch, lets the user pick a stored map in the sidebar, and hands over to
the page chosen in the navigation. Pages live in pages/ and stay thin: they call univar_core and draw.
"""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")          # never contact a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import streamlit as st  # noqa: E402

from pages import _jobs_view, _session, _shared, _ui  # noqa: E402
from univar_core.maps import store  # noqa: E402
from univar_core.maps.build import DEMO_MAP_NAME, DEMO_VALUE_MAP_NAME  # noqa: E402
from univar_core.maps.store import MapError  # noqa: E402

st.set_page_config(page_title="UniVaR Explorer", page_icon="🧭", layout="wide")

PAGES = [
    st.Page("pages/value_map.py", title="Value Map", icon=":material/map:", default=True),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/upload.py", title="Upload", icon=":material/upload_file:"),
    st.Page("pages/add_model.py", title="Add a model", icon=":material/smart_toy:"),
    st.Page("pages/value_lenses.py", title="Value Lenses", icon=":material/visibility:"),
    st.Page("pages/alignment.py", title="Alignment & Culture", icon=":material/timeline:"),
    st.Page("pages/train_embed.py", title="Train & Embed", icon=":material/model_training:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/leaderboard:"),
    st.Page("pages/about.py", title="About", icon=":material/info:"),
]

DEMO_NAMES = (DEMO_VALUE_MAP_NAME, DEMO_MAP_NAME)   # the value map first: what a first launch opens


def _ensure_demo_map(data_dir: str) -> bool:
    """First launch (no demo map yet): build the demo value map with a visible progress bar; UMAP's
    compile runs meanwhile in a background thread (_shared.warm_projection; later launches, which build
    nothing in this process, do not pay it). Only the value map, the one the
    page opens: the plain demo follows in the background (_plain_demo). True when this run built it."""
    if any(m["name"] in DEMO_NAMES and not m["error"] for m in store.list_maps(data_dir)):
        return False
    _shared.warm_projection()   # UMAP's numba compile in the background, while the demo is embedded
    with st.status("First launch: building the synthetic demo value map (embedding + UMAP, under a minute)…",
                   expanded=True) as status:
        bar = st.progress(0.0, text="starting")
        try:
            _session.ensure_demo(data_dir, progress=_ui.stage_progress(bar))
        except (MapError, ValueError, OSError) as err:
            status.update(label="The demo map could not be built", state="error")
            _ui.map_error(err)
        status.update(label="Demo value map ready", state="complete", expanded=False)
    return True


def _choose_map(data_dir: str):
    """Sidebar: pick a map; record it for the pages (path + manifest checksum = the cache key). Returns
    (a sidebar slot under the map list, the names of the usable maps).

    Options are folder paths (two folders may carry the same map name, e.g. a copied map)."""
    maps = store.list_maps(data_dir)
    good = {str(m["path"]): m for m in maps if not m["error"]}
    broken = [m for m in maps if m["error"]]
    with st.sidebar:
        st.markdown("### Map")
        if not good:
            st.error(f"No usable map in {_ui.md(data_dir)}. Build one with `univar build FILE --name NAME`.")
            st.stop()
        paths = sorted(good, key=lambda p: (good[p]["name"], p))
        path = st.selectbox("Value map", paths, index=_default_index(paths), key="map_name",
                            format_func=lambda p: _map_label(good[p]),
                            help="Maps stored in the data directory (env UNIVAR_DATA_DIR).")
        st.query_params["map"] = Path(path).name   # the URL names the open map: links can be shared
        info = good[path]
        st.caption(f"{info['n_qas']:,} QAs · {info['n_value_ids']} value IDs · "
                   f"encoder {_ui.md(info['encoder'])}")
        if Path(path).name in DEMO_NAMES:
            st.caption("The demo corpus is synthetic: fictional models with planted stances.")
        demo_slot = st.empty()   # the plain demo's background build, drawn after the page (_plain_demo)
        for m in broken:
            st.warning(f"Skipped damaged map folder '{_ui.md(Path(m['path']).name)}': {_ui.md(m['error'])}")
    try:
        key = (path, _shared.manifest_checksum(path))
        _shared.load_value_map(*key)   # verifies checksums once per map version
    except (MapError, OSError) as err:
        _ui.map_error(err)
    _session.set_current_map(key)
    return demo_slot, {info["name"] for info in good.values()}


def _plain_demo(data_dir: str, slot, names: set[str], *, first_launch: bool) -> None:
    """The plain demo map after a first launch: started once the value map's page has been sent, as a
    `univar demo` job; its progress (or, while it is missing, a button to build it) under the map list."""
    if first_launch:
        _jobs_view.start_plain_demo(data_dir)
    with slot.container():
        _jobs_view.demo_build_status(data_dir, missing=DEMO_MAP_NAME not in names,
                                     have_values=DEMO_VALUE_MAP_NAME in names)


def _default_index(paths: list[str]) -> int:
    """The map named in the URL (?map=folder), else the demo value map, else the demo, else the first."""
    for wanted in (st.query_params.get("map"), *DEMO_NAMES):
        for i, p in enumerate(paths):
            if Path(p).name == wanted:
                return i
    return 0


def _map_label(info: dict) -> str:
    folder = Path(info["path"]).name
    return info["name"] if info["name"] == folder else f"{info['name']} ({folder})"


data_dir = str(store.default_data_dir())
page = st.navigation(PAGES)
first_launch = _ensure_demo_map(data_dir)
demo_slot, map_names = _choose_map(data_dir)
page.run()
_plain_demo(data_dir, demo_slot, map_names, first_launch=first_launch)   # after the page: it shows first
