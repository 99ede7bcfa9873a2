"""Placing new QAs on a stored map without moving any existing point, and keeping them as a layer.

:func:`place_on_map` embeds new QAs with the map's own encoder (or takes precomputed vectors),
positions them by k-NN placement and ranks the map's value IDs for them; :func:`add_layer` stores
them as a new layer of the same map.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from univar_core.data.schema import QAInputError, ValidationReport
from univar_core.encoders.resolve import EncoderSpec, encoder_for_map
from univar_core.maps import store
from univar_core.maps.build import (
    BASE_LAYER,
    Source,
    StageProgress,
    _stage,
    embed_on_ray,
    is_centred,
    load_source,
    validation_counts,
)
from univar_core.maps.projection import (
    PLACEMENT_K,
    centroid_matrix,
    nearest_map_points,
    place_from_neighbours,
)
from univar_core.maps.store import MapError, ValueMap

if TYPE_CHECKING:
    from univar_core.encoders.ray_encode import RayOptions
from univar_core.neighbours import unit_rows


@dataclass
class Placement:
    """New QAs positioned on an existing map (not yet stored; see :func:`add_layer`)."""

    qas: pd.DataFrame          # validated table + x, y, cluster, cluster_label, layer, nearest_value_id
    embeddings: np.ndarray     # row-aligned with qas
    nearest: pd.DataFrame      # value_id, similarity, share_nearest, rank: the placed QAs as a whole
    report: ValidationReport
    layer: str
    n_from_cache: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)
    centring: dict | None = None  # on a question-centred map: centring.CentringReport.to_dict()
    warnings: list[str] = field(default_factory=list)   # why the ranking may not mean much (fit_warnings)



# ----------------------------------------------------------------------------------------------------
# placing new QAs on a map
# ----------------------------------------------------------------------------------------------------

N_BOOT = 200        # resamples of the placed QAs behind p_first
FAR_BELOW = 0.5     # new QAs' similarity under this share of the map's own QAs' is "does not fit"
UNCERTAIN = 0.5     # a first place won in fewer resamples than this is called uncertain


def first_place_shares(centroids: np.ndarray, unit: np.ndarray, *, n_boot: int = N_BOOT,
                       seed: int = 0) -> np.ndarray:
    """Per value ID: the share of bootstrap resamples of the new QAs (drawn with replacement) whose mean
    embedding is nearest to its centroid. 1.0: first whatever QAs were sampled; near-ties split it."""
    rng = np.random.default_rng(seed)
    n = len(unit)
    wins = np.zeros(len(centroids), dtype=np.int64)
    for _ in range(n_boot):
        mean = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float32) @ unit
        wins[int(np.argmax(centroids @ mean))] += 1
    return wins / n_boot


def rank_value_ids(map_qas: pd.DataFrame, map_emb: np.ndarray,
                   new_emb: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Value identification of a set of QAs against a map's value IDs.

    Returns (table, per-QA nearest value ID). The table ranks every value ID by the cosine similarity
    of the new QAs' mean embedding to its centroid, with ``share_nearest``: the fraction of new QAs
    whose own nearest centroid it is, and ``p_first``: how often it ranks first over ``n_boot``
    bootstrap resamples of the new QAs (the ranking's uncertainty).
    """
    ids, centroids = centroid_matrix(map_qas, map_emb)
    unit = unit_rows(new_emb)
    mean = unit_rows(unit.mean(axis=0))
    similarity = centroids @ mean
    per_qa = np.asarray(ids, dtype=object)[(unit @ centroids.T).argmax(axis=1)]
    counts = Counter(per_qa.tolist())
    table = pd.DataFrame({
        "value_id": pd.Series(ids, dtype=str),
        "similarity": similarity.astype(np.float64),
        "p_first": first_place_shares(centroids, unit, n_boot=n_boot, seed=seed),
        "share_nearest": [counts.get(v, 0) / len(unit) for v in ids],
    }).sort_values(["similarity", "value_id"], ascending=[False, True], kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    return table.reset_index(drop=True), per_qa


def fit_warnings(vmap: ValueMap, table: pd.DataFrame, new_emb: np.ndarray, nearest: pd.DataFrame) -> list[str]:
    """What makes a ranking of new QAs weak, in words: no question shared with the map (distances then
    mix topic with values), a similarity far below the map's own QAs' to their value IDs, a near-tie."""
    from univar_core.data.schema import derive_question_id
    from univar_core.maps.projection import value_id_centroids

    out = []
    map_ids = set(vmap.qas["question_id"].astype(str))
    map_texts = {derive_question_id(q) for q in pd.unique(vmap.qas["question"])}
    new_texts = table["question"].map({q: derive_question_id(q) for q in pd.unique(table["question"])})
    shared = table["question_id"].astype(str).isin(map_ids) | new_texts.isin(map_texts)
    if not shared.any():
        out.append(f"None of the {len(table):,} new QAs answers a question of this map: their distances to the "
                   "value IDs mix topic with values (a general encoder places answers by topic first). Compare "
                   "models on the same questions for a value reading.")
    top = nearest.iloc[0]
    ids, centroids = centroid_matrix(vmap.qas, vmap.embeddings)
    new_fit = float(np.median(unit_rows(new_emb) @ centroids[ids.index(top["value_id"])]))
    cohesion = value_id_centroids(vmap.qas, vmap.embeddings)["cohesion"]
    map_fit = float(np.median(cohesion))
    if new_fit < FAR_BELOW * map_fit:
        out.append(f"Your QAs fit this map poorly: their median cosine to the nearest value ID ({top['value_id']}) "
                   f"is {new_fit:.3f}, against {map_fit:.3f} for the map's own QAs to their value IDs. The "
                   "ranking says which value ID is least far, not that your QAs resemble it.")
    if float(top["p_first"]) < UNCERTAIN:
        out.append(f"The ranking is uncertain: {top['value_id']} ranks first in only {float(top['p_first']):.0%} "
                   f"of {N_BOOT} resamples of your QAs (see p_first).")
    return out


def own_value_id_fraction(placement: Placement) -> float | None:
    """Share of placed QAs whose nearest centroid is their own value ID (None: none of their value
    IDs is on the map, so the question has no answer)."""
    qas = placement.qas
    known = set(placement.nearest["value_id"])
    mask = qas["value_id"].isin(known).to_numpy()
    if not mask.any():
        return None
    return float((qas["nearest_value_id"].to_numpy()[mask] == qas["value_id"].to_numpy()[mask]).mean())


def place_on_map(vmap: ValueMap, source: Source, *, layer: str, encoder: EncoderSpec | None = None,
                 embeddings: np.ndarray | str | Path | None = None, backend: str | None = None,
                 trust_remote_code: bool = False, ray: RayOptions | None = None,
                 progress: StageProgress | None = None) -> Placement:
    """Embed new QAs with the map's own encoder and position them on it; the map is not changed.
    ``trust_remote_code``: the map's encoder may run code shipped with the model (off unless asked).
    ``ray``: embed them on a Ray cluster first (into the encoder's cache; maps.build.embed_on_ray).

    Coordinates come from the map neighbours of each QA (projection.place_from_neighbours, as
    projection.place_points; existing points never move); each new QA takes the
    cluster of its nearest map point. ``nearest`` ranks the map's value IDs for the new QAs as a whole.
    """
    layer = _check_layer_name(layer)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    loaded = load_source(source, embeddings=embeddings)
    table, report = loaded.table, loaded.report
    timings["read_validate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    n_from_cache = 0
    if loaded.embeddings is not None:
        new_emb = loaded.embeddings
    else:
        enc = encoder_for_map(vmap, encoder, backend=backend, trust_remote_code=trust_remote_code)
        total = len(table)
        if progress is not None:
            progress("embed", 0, total)
        ray_run = embed_on_ray(enc, table, ray, progress) if ray is not None else None
        result = enc.encode_qas(table["question"].tolist(), table["answer"].tolist(),
                                progress=_stage(progress, "embed"))
        new_emb = np.asarray(result.embeddings, dtype=np.float32)
        # as in build._embed: what the cluster embedded just now reached us through the cache, not from it
        n_from_cache = int(result.n_from_cache) - (ray_run.n_encoded if ray_run is not None else 0)
    map_dim = int(vmap.embeddings.shape[1])
    if new_emb.shape[1] != map_dim:
        raise QAInputError(f"embeddings have dimension {new_emb.shape[1]} but map '{vmap.name}' has "
                           f"{map_dim} (encoder '{(vmap.manifest.get('encoder') or {}).get('name')}')",
                           source=report.source)
    centring_counts = None
    if is_centred(vmap.manifest):
        table, new_emb, centring_counts = _centre_on_map(vmap, table, new_emb, report)
    timings["embed"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if progress is not None:
        progress("project", 0, len(table))
    map_xy = vmap.qas[["x", "y"]].to_numpy(dtype=np.float32)
    # One neighbour search: the neighbours position each QA, and the nearest one gives its cluster.
    idx, sims = nearest_map_points(vmap.embeddings, new_emb, k=PLACEMENT_K)
    xy = place_from_neighbours(map_xy, idx, 1.0 - sims)
    nearest_row = idx[:, 0]
    nearest, per_qa = rank_value_ids(vmap.qas, vmap.embeddings, new_emb)
    if progress is not None:
        progress("project", len(table), len(table))
    timings["place"] = time.perf_counter() - t0

    qas = table.copy()
    ids = qas["qa_id"].astype(str)
    # the layer prefix keeps ids unique across layers; ids made from the file name may carry it already
    qas["qa_id"] = ids.where(ids.str.startswith(layer + ":"), layer + ":" + ids)
    qas["x"] = xy[:, 0]
    qas["y"] = xy[:, 1]
    qas["cluster"] = vmap.qas["cluster"].to_numpy()[nearest_row].astype(np.int64)
    qas["cluster_label"] = vmap.qas["cluster_label"].to_numpy()[nearest_row].astype(str)
    qas["layer"] = layer
    qas["nearest_value_id"] = pd.Series(per_qa, dtype=str)
    return Placement(qas=qas, embeddings=new_emb, nearest=nearest, report=report, layer=layer,
                     n_from_cache=n_from_cache, timings_s=timings, centring=centring_counts,
                     warnings=fit_warnings(vmap, table, new_emb, nearest))


def _centre_on_map(vmap: ValueMap, table: pd.DataFrame, new_emb: np.ndarray, report: ValidationReport):
    """New QAs on a question-centred map are centred with the map's mean for their question. Those whose
    question the map has no mean for cannot be: an uncentred vector among centred ones would land by
    topic, so they are left out, counted, and the whole upload is refused when none can be centred."""
    from univar_core.encoders import centring

    if vmap.question_means is None:
        raise MapError(f"map '{vmap.name}' is question-centred but its {store.QUESTION_MEANS_FILE} is missing")
    means = centring.QuestionMeans.from_frame(vmap.question_means)
    vectors, ok, crep = centring.centre_new(new_emb, table["question_id"], means, table["question"])
    if not ok.any():
        raise QAInputError(
            f"map '{vmap.name}' is question-centred and none of the {len(ok):,} new QAs answers a question "
            f"it has a mean for ({crep.summary()}); place them on a map built without centring, or build a "
            f"centred map from a corpus that includes their questions", source=report.source)
    if not ok.all():
        report.warnings.append(f"{crep.summary()}: {int((~ok).sum()):,} QA(s) not placed")
    return table[ok].reset_index(drop=True), vectors[ok], crep.to_dict()


def _check_layer_name(layer: str) -> str:
    layer = str(layer).strip()
    if not layer:
        raise QAInputError("the layer needs a name (e.g. the dataset or file it comes from)")
    if ":" in layer:
        raise QAInputError(f"layer name {layer!r} must not contain ':' (it prefixes the layer's qa_ids)")
    return layer


def check_new_layer(vmap: ValueMap, layer: str) -> str:
    """The layer name, if it is valid and not yet on the map (call before embedding to fail fast)."""
    layer = _check_layer_name(layer)
    layers = set(vmap.qas["layer"].astype(str)) if "layer" in vmap.qas.columns else {BASE_LAYER}
    if layer in layers:
        raise QAInputError(f"map '{vmap.name}' already has a layer named '{layer}' "
                           f"(layers: {', '.join(sorted(layers))}); choose another name")
    return layer


def _identity(vmap: ValueMap) -> tuple:
    """What a re-save (a new layer) keeps and a rebuild changes: creation time and encoder hash."""
    return vmap.manifest.get("created"), (vmap.manifest.get("encoder") or {}).get("content_hash")


def add_layer(vmap: ValueMap, placement: Placement, *, data_dir: str | Path | None = None) -> ValueMap:
    """Append placed QAs to the map as a new layer and store it atomically, in the folder the map was
    opened from (``vmap.path``; ``data_dir``/name only for a map that was never stored).

    Holds the map's write lock while it re-reads the stored map and adds to *that*: a layer another
    process added meanwhile is kept. Existing rows (and their x, y) are kept exactly; the layer name
    must be new. A map rebuilt since the placement (other points, maybe another encoder) is refused.
    """
    folder = Path(vmap.path) if vmap.path is not None else store.map_path(vmap.name, data_dir)
    with store.map_lock(folder):
        current = store.load_map(folder, verify="quick") if folder.exists() else vmap
        if _identity(current) != _identity(vmap):
            raise MapError(f"{folder}: the map was rebuilt after these QAs were placed on it; place them "
                           f"again on the map as it is now")
        check_new_layer(current, placement.layer)
        clash = set(placement.qas["qa_id"]).intersection(current.qas["qa_id"])
        if clash:
            raise QAInputError(f"{len(clash)} qa_id(s) of layer '{placement.layer}' already exist in map "
                               f"'{current.name}', e.g. {sorted(clash)[0]!r}")
        if placement.embeddings.shape[1] != current.embeddings.shape[1]:
            raise QAInputError(f"layer '{placement.layer}' embeddings have dimension "
                               f"{placement.embeddings.shape[1]}, map '{current.name}' has "
                               f"{current.embeddings.shape[1]}")

        new_rows = placement.qas.drop(columns=["nearest_value_id"], errors="ignore")
        qas = pd.concat([current.qas, new_rows], ignore_index=True, sort=False)
        emb = np.concatenate([np.asarray(current.embeddings), placement.embeddings.astype(np.float32)], axis=0)
        manifest = dict(current.manifest)
        # store.save_map refreshes counts, layers, checksums and 'updated'; what the layer's input was is ours
        manifest["layer_validation"] = {**(manifest.get("layer_validation") or {}),
                                        placement.layer: validation_counts(placement.report)}
        updated = ValueMap(name=current.name, qas=qas, embeddings=emb, manifest=manifest, path=None,
                           question_means=current.question_means)
        store.save_map(updated, folder=folder)
    return updated
