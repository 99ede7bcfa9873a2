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

from pages import _session, _shared, _ui  # noqa: E402
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


def _ensure_demo_map(data_dir: str) -> None:
    """First launch (no demo map yet): build the demo maps with a visible progress bar (under a minute
    on 2 cores; UMAP's compile runs meanwhile in the background, see _shared.warm_projection)."""
    if any(m["name"] in DEMO_NAMES and not m["error"] for m in store.list_maps(data_dir)):
        return
    with st.status("First launch: building the synthetic demo value map (embedding + UMAP, under a minute)…",
                   expanded=True) as status:
        bar = st.progress(0.0, text="starting")
        try:
            _session.ensure_demo(data_dir, progress=_ui.stage_progress(bar))
        except (MapError, ValueError, OSError) as err:
            status.update(label="The demo map could not be built", state="error")
            _ui.map_error(err)
        status.update(label="Demo maps ready", state="complete", expanded=False)


def _choose_map(data_dir: str) -> None:
    """Sidebar: pick a map; record it for the pages (path + manifest checksum = the cache key).

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
        for m in broken:
            st.warning(f"Skipped damaged map folder '{_ui.md(Path(m['path']).name)}': {_ui.md(m['error'])}")
    try:
        key = (path, _shared.manifest_checksum(path))
        _shared.load_value_map(*key)   # verifies checksums once per map version
    except (MapError, OSError) as err:
        _ui.map_error(err)
    _session.set_current_map(key)


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
_shared.warm_projection()   # UMAP's numba compile in the background, before anything needs it
page = st.navigation(PAGES)
_ensure_demo_map(data_dir)
_choose_map(data_dir)
page.run()
