"""The app's one cache layer: maps and the data derived from them (st.cache_resource / st.cache_data).
Which map a session has open is pages/_session.py; drawing helpers are pages/_ui.py. Maps are cached
keyed by folder path + a checksum of manifest.json (a re-saved map gets a new key) and shared by all
browser sessions, so pages treat them as read-only; what a user does lives in st.session_state."""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from univar_core.analysis import compare
from univar_core.encoders import resolve
from univar_core.figures import density, drawn_points, map_figures
from univar_core.maps import build, store
from univar_core.maps.store import MapError, ValueMap

MapKey = tuple[str, str]


# ---------------------------------------------------------------- the map
def manifest_checksum(folder: Path) -> str:
    """sha256 of manifest.json: it changes whenever the map is re-saved (it holds the file checksums)."""
    return hashlib.sha256((Path(folder) / store.MANIFEST_FILE).read_bytes()).hexdigest()


@st.cache_resource(show_spinner=False, max_entries=8)
def load_value_map(path: str, checksum: str) -> ValueMap:
    """One load (with checksum verification) per map version per process; ``checksum`` is the key.
    QA text stays on disk until a page needs it (ValueMap.take / search; `qas` reads it once)."""
    return store.load_map(path, verify=True, lazy_text=True)


@st.cache_resource(show_spinner=False)
def warm_projection() -> threading.Thread:
    """UMAP's numba compile, started once per process in a background thread when a first launch is about to
    build the demo (the only UMAP this process runs: other builds are `univar` jobs), so that it overlaps the
    embedding: the build waits only for what is left. Only the demo's code path (under 4,096 points)."""
    from univar_core.maps.projection import WARM_SMALL, warm_up

    thread = threading.Thread(target=warm_up, args=(WARM_SMALL,), name="umap-warm-up", daemon=True)
    thread.start()
    return thread


# ---------------------------------------------------------------- cached derived data
@st.cache_resource(show_spinner=False, max_entries=16)   # read only: shared, not copied on every rerun
def drawn_for_map(key: MapKey, keep_value_ids: tuple[str, ...] = ()) -> drawn_points.DrawnPoints:
    """The QAs a whole-map scatter draws (all of a map that fits one figure) with their hover labels."""
    return drawn_points.drawn_points(load_value_map(*key), keep_value_ids)


@st.cache_resource(show_spinner=False, max_entries=64)   # 8 MB of codes at 1M: shared, read only, not copied
def label_codes(key: MapKey, column: str) -> tuple[np.ndarray, list[str]]:
    """(group code per QA, sorted group names) of a map column; missing values are "(none)"."""
    codes, names = density.group_codes(load_value_map(*key).points[column])
    codes.flags.writeable = False
    return codes, names


@st.cache_data(show_spinner=False, max_entries=16)
def text_matches(key: MapKey, query: str) -> np.ndarray:
    """Which QAs of a map contain `query` in their question or answer (case ignored)."""
    return load_value_map(*key).search(query)


@st.cache_data(show_spinner=False, max_entries=8)
def qa_rows(key: MapKey, rows: np.ndarray, columns: tuple[str, ...]) -> pd.DataFrame:
    """`columns` of a map's QAs at `rows` (a selection's listed rows: their text is read from disk)."""
    return load_value_map(*key).take(rows, columns)


@st.cache_data(show_spinner=False, max_entries=16)
def centroids_for_map(key: MapKey, by: str = "value_id") -> pd.DataFrame:
    from univar_core.maps.projection import value_id_centroids

    vmap = load_value_map(*key)
    cen = value_id_centroids(vmap.points, vmap.embeddings, by=by)
    if by == "value_id":
        cen = cen.join(map_figures.split_value_id(cen["value_id"]))
    return cen


@st.cache_data(show_spinner=False, max_entries=16)
def distance_matrix_for_map(key: MapKey, method: str = "centroid") -> pd.DataFrame:
    vmap = load_value_map(*key)
    return compare.value_id_distance_matrix(vmap.points, np.asarray(vmap.embeddings), method)


def grouped_layout(key: MapKey, value_ids: list[str], method: str = "centroid"):
    """One point per value ID laid out by the distances between them (project.layout_from_distances),
    joined with n, cohesion, model and lang. Returns (table, layout)."""
    from univar_core.maps.projection import layout_from_distances

    dm = distance_matrix_for_map(key, method)
    wanted = set(value_ids)
    keep = [v for v in dm.index if v in wanted]
    layout = layout_from_distances(dm.loc[keep, keep])
    table = centroids_for_map(key).drop(columns=["x", "y"]).set_index("value_id").loc[keep]
    return table.join(layout.coords).rename_axis("value_id").reset_index(), layout


@st.cache_data(show_spinner=False, max_entries=8)
def lens_scores_for_map(key: MapKey, lens_name: str) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Per-QA lens scores of a map (row-aligned with its QAs), its dimension and subdimension columns.

    Raises MapError when the map's encoder cannot embed the lens descriptors (precomputed embeddings).
    """
    from univar_core.analysis import lenses
    from univar_core.data.schema import QAInputError
    from univar_core.encoders.base import EncoderLoadError

    vmap = load_value_map(*key)
    try:
        return lenses.map_lens_scores(vmap, lens_name, encoder=resolve.encoder_for_map(vmap))
    except (QAInputError, EncoderLoadError) as err:
        raise MapError(f"lens prototypes need the encoder that made the map: {err}") from err


def distances_for_map(key: MapKey, method: str, level: str = "value_id") -> pd.DataFrame:
    """Distances between value IDs, or the mean distance between their languages / models."""
    dm = distance_matrix_for_map(key, method)
    return dm if level == "value_id" else compare.aggregate_distance(dm, load_value_map(*key).points, by=level)


@st.cache_data(show_spinner=False, max_entries=32)
def same_question_for_map(key: MapKey, a: str, b: str) -> pd.DataFrame:
    vmap = load_value_map(*key)
    return compare.same_question_pairs(vmap.qas, np.asarray(vmap.embeddings), a, b)


@st.cache_data(show_spinner=False, max_entries=32)
def nearest_cross_for_map(key: MapKey, a: str, b: str, k: int) -> pd.DataFrame:
    vmap = load_value_map(*key)
    return compare.nearest_cross(vmap.qas, np.asarray(vmap.embeddings), a, b, k=k)


@st.cache_data(show_spinner=False, max_entries=64)
def pair_test_for_map(key: MapKey, a: str, b: str, method: str) -> dict:
    vmap = load_value_map(*key)
    return compare.pair_test(vmap.points, np.asarray(vmap.embeddings), a, b, method=method, n_boot=200, n_perm=499)


@st.cache_data(show_spinner=False, max_entries=16)
def lens_summary_for_map(key: MapKey, lens_name: str) -> pd.DataFrame:
    """Per value ID lens scores with bootstrap CIs (lenses.score_value_ids of lens_scores_for_map)."""
    from univar_core.analysis.lenses import score_value_ids

    return score_value_ids(load_value_map(*key).points, lens_scores_for_map(key, lens_name)[0])


@st.cache_data(show_spinner=False, max_entries=4)
def demo_checkpoints_for_map(key: MapKey) -> tuple[pd.DataFrame, np.ndarray]:
    """The demo's synthetic checkpoints embedded with the map's encoder and placed on the map."""
    from univar_core.data.demo import demo_checkpoints
    from univar_core.data.schema import QAInputError
    from univar_core.encoders.base import EncoderLoadError
    from univar_core.maps.projection import place_points

    vmap = load_value_map(*key)
    try:
        enc = resolve.encoder_for_map(vmap)
    except (EncoderLoadError, QAInputError, OSError, ValueError) as err:
        raise MapError(f"{err}.") from err
    table = demo_checkpoints()
    emb = np.asarray(enc.encode_qas(table["question"].tolist(), table["answer"].tolist()).embeddings,
                     dtype=np.float32)
    xy = place_points(np.asarray(vmap.embeddings), vmap.points[["x", "y"]].to_numpy(dtype=np.float32), emb)
    return table.assign(x=xy[:, 0], y=xy[:, 1]), emb


@st.cache_data(show_spinner=False, max_entries=16)
def value_id_table_for_map(key: MapKey, reps: tuple, by: str, test_fraction: float, seed: int, k: int,
                           probe: bool, tfidf: bool, centre: bool = False) -> tuple[pd.DataFrame, str]:
    """The Evaluate page's value identification table (analysis/identification) and its split summary."""
    from univar_core.analysis import control, identification
    from univar_core.data.splits import assert_no_leak, split_qas

    vmap = load_value_map(*key)
    qas = vmap.qas.reset_index(drop=True)
    split = split_qas(qas, by=by, test_fraction=test_fraction, seed=seed)
    assert_no_leak(qas, split)
    feats = {rep["label"]: control.features(rep, qas, vmap.embeddings, vmap.manifest,
                                            load_encoder=build.load_encoder_cached) for rep in map(dict, reps)}
    table = identification.value_identification_table(qas, feats, split, k=k, probe=probe, tfidf=tfidf, seed=seed,
                                                      centre_questions=centre)
    return table, split.summary()


@st.cache_data(show_spinner=False, max_entries=2)
def control_corpus(path: str) -> pd.DataFrame:
    from univar_core.analysis.control import read_control

    return read_control(path)


