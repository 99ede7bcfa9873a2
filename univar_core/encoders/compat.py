"""Which trained head fits which map: a head applies to a map's stored embeddings only when it was
trained on vectors of the same encoder (content hash, or name for precomputed vectors) and dimension.

Used by the Evaluate page (heads as representations), `univar rebuild` and the training plan (a head
trained on a map's stored embeddings records the map's encoder as its base).
"""
from __future__ import annotations

import json
from pathlib import Path

from univar_core.encoders.head import HEAD_JSON, HEAD_WEIGHTS, is_head_folder  # head.py loads torch lazily


def head_meta(path: str | Path) -> dict:
    """A head folder's head.json (base name and hash, in_dim, config, metrics); {} when there is none."""
    try:
        return json.loads((Path(path) / HEAD_JSON).read_text())
    except (OSError, ValueError):
        return {}


class RecordedBase:
    """Stands for a base encoder whose embeddings are already computed (a map's stored embeddings):
    a name and content hash, no model. HeadEncoder.transform needs nothing more."""

    def __init__(self, name: str, content_hash: str | None):
        self.name = name
        self.content_hash = content_hash
        self.max_tokens = None


def recorded_base(manifest: dict) -> RecordedBase:
    """The map's encoder as a base for head training on its stored embeddings (its hash is recorded in
    the head, so the head is later matched to maps made by the same encoder)."""
    enc = manifest.get("encoder") or {}
    return RecordedBase(str(enc.get("name")), enc.get("content_hash"))


def head_matches_map(path: str | Path, manifest: dict) -> tuple[bool, str]:
    """Can this head be applied to the map's stored embeddings? (ok, reason when not)."""
    meta = head_meta(path)
    if not meta:
        return False, "not a trained head"
    enc = manifest.get("encoder") or {}
    want, have = meta.get("base_content_hash"), enc.get("content_hash")
    if want and have and want != have:
        return False, f"trained on {meta.get('base')} (hash {str(want)[:12]}), the map uses {enc.get('name')}"
    if (not want or want == "precomputed") and meta.get("base") != enc.get("name"):
        return False, f"trained on {meta.get('base')}, the map uses {enc.get('name')}"
    if int(meta.get("in_dim", -1)) != int(enc.get("dim", -2)):
        return False, f"input dimension {meta.get('in_dim')} differs from the map's {enc.get('dim')}"
    return True, ""


def load_head_for_map(path: str | Path, manifest: dict):
    """A HeadEncoder whose base is the map's stored embeddings (no model loaded): use .transform."""
    from univar_core.encoders.head import HeadEncoder

    ok, why = head_matches_map(path, manifest)
    if not ok:
        raise ValueError(f"{Path(path).name}: {why}")
    meta = head_meta(path)
    return HeadEncoder.load(path, base=RecordedBase(str(meta.get("base")), meta.get("base_content_hash")))


__all__ = ["HEAD_JSON", "HEAD_WEIGHTS", "is_head_folder", "head_meta", "RecordedBase", "recorded_base",
           "head_matches_map", "load_head_for_map"]
