"""Which encoder: load one by name, and the one place that decides which encoder made a map.

``load_encoder`` turns a name or folder into an encoder (a trained head folder -> ``HeadEncoder``,
anything else -> ``SentenceEncoder``); ``load_encoder_cached`` does the same with the on-disk embedding
cache on; ``encoder_for_map`` returns the encoder that made a map, checked by content hash, so that new
QAs and lens prototypes land in the same space as the map's points. Every front end (build, placement,
lenses, the app's pages, the CLI) asks here rather than deciding for itself.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Mapping

from univar_core.data.schema import QAInputError
from univar_core.encoders.base import DEFAULT_ENCODER, Encoder, EncoderLoadError
from univar_core.encoders.head import is_head_folder

# The content hash a map records when its vectors came from outside (no encoder was run here).
PRECOMPUTED_HASH = "precomputed"

EncoderSpec = Encoder | str | Path  # an encoder object, or a model name / folder to load


def load_encoder(name_or_path: str | Path = DEFAULT_ENCODER, **options: Any) -> Encoder:
    """A trained head folder (head.json + head.safetensors) -> HeadEncoder; anything else -> SentenceEncoder.

    ``options`` go to the encoder (device, batch_size, cache_dir, trust_remote_code, ...).
    """
    # Imported here, not at the top: both pull in torch / sentence-transformers, which listing runs or
    # reading a manifest must not pay for.
    if is_head_folder(name_or_path):
        from univar_core.encoders.head import HeadEncoder

        return HeadEncoder.load(Path(str(name_or_path)).expanduser(), **options)
    from univar_core.encoders.sentence_encoder import SentenceEncoder

    return SentenceEncoder(str(name_or_path), **options)


_loaded_encoders: dict[tuple, Encoder] = {}
_encoders_lock = threading.Lock()


def load_encoder_cached(name_or_path: str | Path = DEFAULT_ENCODER, **options: Any) -> Encoder:
    """``load_encoder`` with the on-disk embedding cache on (``default_cache_dir()`` unless ``cache_dir`` is
    given): a QA is never embedded twice and an interrupted build resumes.

    Loaded once per process for the same name and options (the app's pages, placement, lenses and jobs
    share one copy of the weights); a model folder that changed on disk (a retrained run) is loaded again.
    """
    from univar_core.encoders import onnx_backend
    from univar_core.encoders.sentence_encoder import default_cache_dir

    options.setdefault("cache_dir", default_cache_dir())
    # resolved here, so that a change of $UNIVAR_BACKEND is a different key, not a stale encoder
    options["backend"] = onnx_backend.check_backend(options.get("backend") or onnx_backend.default_backend())
    folder = Path(str(name_or_path)).expanduser()
    stamp = max((p.stat().st_mtime_ns for p in folder.iterdir()), default=0) if folder.is_dir() else None
    key = (str(name_or_path), stamp, tuple(sorted((k, repr(v)) for k, v in options.items())))
    with _encoders_lock:  # app sessions are threads: two first calls must not load two copies
        if key not in _loaded_encoders:
            _loaded_encoders[key] = load_encoder(name_or_path, **options)
        return _loaded_encoders[key]


def map_backend(manifest: Mapping[str, Any]) -> str:
    """The backend a map's vectors were made with (maps from before there were backends: torch)."""
    return str((manifest.get("encoder") or {}).get("backend") or "torch")


def trust_option(trust_remote_code: bool) -> dict[str, bool]:
    """Loader options for --trust-remote-code: given only when on, so the usual loads share one cached copy."""
    return {"trust_remote_code": True} if trust_remote_code else {}


def resolve_encoder(encoder: EncoderSpec | None, backend: str | None = None, *,
                    trust_remote_code: bool = False) -> Encoder:
    """A name/path is loaded (with the cache, on ``backend``: default auto); None loads the default; an
    encoder object is used as it is. ``trust_remote_code``: let a model whose folder ships Python code
    (config.json auto_map) run it."""
    if encoder is None or isinstance(encoder, (str, Path)):
        return load_encoder_cached(DEFAULT_ENCODER if encoder is None else encoder, backend=backend,
                                   **trust_option(trust_remote_code))
    return encoder


def _manifest_of(vmap_or_manifest: Any) -> tuple[str, Mapping[str, Any]]:
    manifest = getattr(vmap_or_manifest, "manifest", vmap_or_manifest)
    if not isinstance(manifest, Mapping):
        raise TypeError(f"give a ValueMap or its manifest dict, not {type(vmap_or_manifest).__name__}")
    name = getattr(vmap_or_manifest, "name", None) or manifest.get("name") or ""
    return str(name), manifest


def encoder_for_map(vmap_or_manifest: Any, encoder: EncoderSpec | None = None, *, backend: str | None = None,
                    trust_remote_code: bool = False) -> Encoder:
    """The encoder that made a map (a ``ValueMap`` or its manifest), ready to embed new text for it.

    With no ``encoder``, the one recorded in the manifest is loaded (embedding cache on), on the backend that
    made the map (vectors of two backends differ a little, and a map never mixes them). A given encoder
    (object, name or folder) must be the same model: its content hash and backend must equal the recorded
    ones. A map built from precomputed vectors records no usable hash: it cannot embed anything itself
    (``QAInputError`` saying so), though a given encoder of the right dimension is trusted.

    Raises QAInputError (not this map's encoder; precomputed map) or EncoderLoadError (the recorded
    encoder cannot be loaded here).
    """
    name_of_map, manifest = _manifest_of(vmap_or_manifest)
    map_name = name_of_map or "(unnamed)"
    recorded = manifest.get("encoder") or {}
    if not isinstance(recorded, Mapping):  # very old manifests recorded just the name
        recorded = {"name": recorded}
    name, want_hash, want_dim = recorded.get("name"), recorded.get("content_hash"), recorded.get("dim")
    want_backend = recorded.get("backend") or "torch"  # maps made before there were backends: torch
    precomputed = want_hash in (None, PRECOMPUTED_HASH)
    if backend not in (None, "auto") and backend != want_backend:
        raise QAInputError(f"map '{map_name}' was embedded with the {want_backend} backend; QAs embedded "
                           f"with {backend} would not be comparable with its points (leave the backend out)",
                           source=map_name)
    if encoder is None:
        if precomputed:
            raise QAInputError(
                f"map '{map_name}' was built from precomputed embeddings (encoder recorded as '{name}'), so "
                "it cannot embed new text itself: give precomputed embeddings for the new QAs, or the encoder "
                "that made the map's embeddings", source=map_name)
        try:
            enc = load_encoder_cached(str(name), backend=want_backend, **trust_option(trust_remote_code))
        except (OSError, ValueError) as err:
            raise EncoderLoadError(f"map '{map_name}': cannot load its encoder '{name}' ({err})") from err
    else:
        enc = resolve_encoder(encoder, want_backend, trust_remote_code=trust_remote_code)
    got_hash = str(getattr(enc, "content_hash", ""))
    if not precomputed and got_hash != want_hash:
        raise QAInputError(
            f"encoder '{getattr(enc, 'name', encoder)}' (hash {got_hash[:12]}) is not the encoder map "
            f"'{map_name}' was built with ('{name}', hash {str(want_hash)[:12]}); its points would land "
            "in the wrong places", source=map_name)
    got_backend = getattr(enc, "backend", "torch")
    if not precomputed and got_backend != want_backend:
        raise QAInputError(f"encoder '{getattr(enc, 'name', encoder)}' runs on the {got_backend} backend but map "
                           f"'{map_name}' was embedded with {want_backend}; load it with backend={want_backend!r}",
                           source=map_name)
    if want_dim is not None and int(enc.dim) != int(want_dim):
        raise QAInputError(
            f"encoder '{getattr(enc, 'name', encoder)}' makes {enc.dim}-d vectors but map '{map_name}' holds "
            f"{int(want_dim)}-d embeddings (encoder '{name}'): it is not the encoder that made them",
            source=map_name)
    return enc
