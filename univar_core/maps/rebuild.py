"""Rebuild a stored map's QAs with another encoder (e.g. a trained run): same QAs, new vectors, new
projection, a new map (question-centred again when the map was). A head trained on the map's own stored
vectors is applied to them directly when the map's vectors were precomputed (no base model exists to
load); otherwise the encoder embeds the QAs.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from univar_core.encoders.compat import head_matches_map, is_head_folder, load_head_for_map
from univar_core.maps import store
from univar_core.maps.build import PRECOMPUTED_HASH, StageProgress, build_map, is_centred
from univar_core.maps.projection import UmapParams

if TYPE_CHECKING:
    from univar_core.encoders.ray_encode import RayOptions


def rebuild_map(map_ref: str | Path, name: str, *, encoder: str, data_dir: str | Path | None = None,
                umap: UmapParams | None = None, progress: StageProgress | None = None,
                backend: str | None = None, trust_remote_code: bool = False,
                ray: RayOptions | None = None) -> tuple[Any, Any]:
    """build_map on the QAs of map ``map_ref`` (a name or folder; every layer, without the map's own
    columns) with ``encoder``; returns (ValueMap, ValidationReport) like build_map. ``ray``: embed them on a
    Ray cluster (build_map's ``ray``; unused when a head is applied to stored vectors)."""
    umap = umap or UmapParams()
    vmap = store.load_map(map_ref, data_dir=data_dir)
    source = vmap.qas.drop(columns=[c for c in store.MAP_COLUMNS if c in vmap.qas.columns])
    precomputed = (vmap.manifest.get("encoder") or {}).get("content_hash") == PRECOMPUTED_HASH
    # a head applies to the base vectors a map was built from, never to question-centred ones
    if precomputed and not is_centred(vmap.manifest) and is_head_folder(encoder) \
            and head_matches_map(encoder, vmap.manifest)[0]:
        emb = load_head_for_map(encoder, vmap.manifest).transform(np.array(vmap.embeddings, dtype=np.float32))
        return build_map(source, name, embeddings=emb, encoder_name=str(encoder), umap=umap,
                         data_dir=data_dir, progress=progress)
    # a question-centred map stays one: its QAs are centred again under the new encoder
    return build_map(source, name, encoder=encoder, umap=umap, data_dir=data_dir, progress=progress,
                     centre_questions=is_centred(vmap.manifest), backend=backend,
                     trust_remote_code=trust_remote_code, ray=ray)
