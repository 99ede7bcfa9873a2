"""ingest -> validate -> embed -> project -> cluster -> store: building a map, and the demo map.

The one path every front end takes (app, CLI, Python): :func:`build_map` turns QA files into a stored
:class:`~univar_core.maps.store.ValueMap` (placing new QAs on a stored map is maps.placement).

Precomputed embeddings (an ``embedding`` column in parquet, an ``.npy`` aligned with the input rows,
or an array) are used bit for bit and no encoder is loaded; the map then records the encoder name the
user gives and the content hash ``"precomputed"``.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Sequence, Union

import numpy as np
import pandas as pd

from univar_core.data import readers, vectors
from univar_core.data.schema import QAInputError, ValidationReport, validate_qas
from univar_core.encoders.base import DEFAULT_ENCODER
from univar_core.encoders.base import Encoder
from univar_core.encoders.resolve import (
    PRECOMPUTED_HASH,
    EncoderSpec,
    encoder_for_map,
    load_encoder_cached,
    map_backend,
    resolve_encoder,
    trust_option,
)
from univar_core.maps import store
from univar_core.maps.clusters import cluster_points, label_clusters
from univar_core.maps.landmarks import DEFAULT_LANDMARKS, QUERY_EPSILON, REFINE_EPOCHS, project_with_landmarks
from univar_core.maps.projection import UmapParams
from univar_core.maps.store import MapError, ValueMap

if TYPE_CHECKING:  # ray_encode imports ray only when used; the name is for annotations
    from univar_core.encoders.ray_encode import RayOptions

StageProgress = Callable[[str, int, int], None]
# What a map is built from: a path, an upload (file-like with a name), several paths, a table, or QAs
# already read (readers.LoadedQAs).
Source = Union[str, Path, BinaryIO, Sequence[Union[str, Path]], pd.DataFrame, readers.LoadedQAs]

BASE_LAYER = "base"
DEMO_MAP_NAME = "demo"
DEMO_VALUE_MAP_NAME = "demo-values"  # the question-centred demo: the map a first launch opens
DEMO_MAP_NAMES = (DEMO_VALUE_MAP_NAME, DEMO_MAP_NAME)  # the order they are built in: what a launch opens first
# UMAP needs a handful of neighbours; below this a 2-D map says nothing.
MIN_QAS_FOR_MAP = 5
_EMBED_CHUNK_ROWS = 50_000    # QAs encoded per chunk before their vectors go to disk


# ----------------------------------------------------------------------------------------------------
# reading the source
# ----------------------------------------------------------------------------------------------------

def _is_path(x: Any) -> bool:
    return isinstance(x, (str, Path))


def load_source(source: Source, *, dataset: str | None = None,
                embeddings: np.ndarray | str | Path | None = None,
                sink: vectors.EmbeddingSink = None) -> readers.LoadedQAs:
    """Read and validate any accepted source; attach precomputed embeddings (data.vectors checks them).
    ``sink``: where a parquet file's vectors (or an .npy's accepted rows) stream (see readers.read_qas)."""
    if isinstance(source, (list, tuple)) and len(source) == 1:
        source = source[0]

    if isinstance(source, readers.LoadedQAs):
        loaded = source
        if embeddings is not None and loaded.embeddings is not None:
            raise QAInputError("embeddings were given twice (inside the loaded QAs and as an argument)",
                               source=loaded.report.source)
        if embeddings is not None:
            emb = vectors.load_npy(embeddings, loaded.report.source)
            return readers.LoadedQAs(loaded.table, loaded.report, vectors.attach(emb, loaded.report, sink=sink))
        if loaded.embeddings is not None:  # made elsewhere, aligned with the accepted rows: check them too
            emb = vectors.attach(loaded.embeddings, loaded.report, aligned_with="kept", sink=sink)
            return readers.LoadedQAs(loaded.table, loaded.report, emb)
        return loaded
    if isinstance(source, pd.DataFrame):
        table, report = validate_qas(source, dataset=dataset)
        if embeddings is None:
            return readers.LoadedQAs(table, report, None)
        emb = vectors.load_npy(embeddings, report.source)
        return readers.LoadedQAs(table, report, vectors.attach(emb, report, sink=sink))
    if _is_path(source) or hasattr(source, "read"):  # a path, or an upload (file-like with a name)
        return readers.read_qas(source, dataset=dataset, embeddings=embeddings, sink=sink)
    if isinstance(source, (list, tuple)):
        if not source:
            raise QAInputError("no input files given")
        if embeddings is not None:
            raise QAInputError("one embeddings .npy cannot be aligned with several files: build from "
                               "one file, or give parquet files with an 'embedding' column")
        return readers.read_many(list(source), dataset=dataset)
    raise TypeError(f"unsupported source type {type(source).__name__}: give a path, a list of paths, "
                    f"a pandas DataFrame or readers.LoadedQAs")


# ----------------------------------------------------------------------------------------------------
# embedding
# ----------------------------------------------------------------------------------------------------

def _stage(progress: StageProgress | None, stage: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress(stage, done, total)


def load_map_encoder(manifest: dict, name: str | None = None) -> Encoder:
    """The encoder that embedded a map (or ``name``, e.g. a head on it), on the map's backend, with the cache:
    what lens prototypes, controls and new QAs must be embedded with to be comparable with the map's points.
    (Without ``name`` the hash check of ``encoders.resolve.encoder_for_map`` applies.)"""
    if name is None:
        return encoder_for_map(manifest)
    return load_encoder_cached(name, backend=map_backend(manifest))


def encoder_record(enc: Any) -> dict[str, Any]:
    """What a manifest records about the encoder that embedded a map: identity, backend, and the guard
    that let the backend be used (mean cosine to fp32 PyTorch per backend)."""
    record = {"name": str(enc.name), "content_hash": str(enc.content_hash), "dim": int(enc.dim),
              "backend": str(getattr(enc, "backend", "torch"))}
    note = getattr(enc, "backend_note", None)
    if note:
        record["backend_note"] = str(note)
    guard = getattr(enc, "backend_guard", None)
    if guard and "backends" in guard:
        record["backend_guard"] = {"sample": guard.get("sample"), "min_mean_cosine": guard.get("min_mean_cosine"),
                                   "backends": guard["backends"]}
    return record


@dataclass
class _Embedded:
    embeddings: np.ndarray
    encoder_name: str
    content_hash: str
    n_truncated_tokens: int
    n_from_cache: int
    record: dict[str, Any] | None = None  # encoder_record of the encoder used (None: precomputed)
    timings_s: dict[str, float] | None = None  # encoder_load (+ its stages when loaded now) and embed
    ray: dict[str, Any] | None = None  # what the Ray cluster encoded (encoders.ray_encode.RayRun), if used


def embed_on_ray(enc: Encoder, table: pd.DataFrame, ray: RayOptions, progress: StageProgress | None) -> Any:
    """The table's QAs embedded on a Ray cluster into ``enc``'s cache (encoders.ray_encode), so that
    embedding them afterwards reads the cache; returns the run (RayRun)."""
    from univar_core.encoders import ray_encode

    return ray_encode.encode_to_cache(enc, table["question"].tolist(), table["answer"].tolist(),
                                      ray_encode.connect(ray), progress=_stage(progress, "embed"))


def _embed(table: pd.DataFrame, *, encoder: EncoderSpec | None, progress: StageProgress | None,
           sink: vectors.EmbeddingSink = None, backend: str | None = None,
           trust_remote_code: bool = False, ray: RayOptions | None = None) -> _Embedded:
    """Encode chunk by chunk into the sink (a staged .npy in a build): the encoder's output for one
    chunk is the only matrix in memory. With ``ray`` the whole table is first embedded on the cluster
    into the cache (one actor pool), and the chunks then read it from there."""
    ray_run = None
    if ray is not None:
        from univar_core.encoders import ray_encode

        backend = ray_encode.connect(ray).backend(backend)  # GPU actors: auto means torch
    t0 = time.perf_counter()
    enc = resolve_encoder(encoder, backend, trust_remote_code=trust_remote_code)
    timings = {"encoder_load": time.perf_counter() - t0}   # 0 when this process had it loaded already
    if getattr(enc, "loaded_at", -1.0) >= t0:   # loaded by this build: what the loading cost, stage by stage
        timings.update({f"encoder_{k}": v for k, v in getattr(enc, "load_timings_s", {}).items()})
    t0 = time.perf_counter()
    if ray is not None:
        ray_run = embed_on_ray(enc, table, ray, progress)
    total = len(table)
    if progress is not None:
        progress("embed", 0, total)
    writer = (sink or vectors.ArraySink)(total, int(enc.dim))
    n_truncated = n_from_cache = 0
    try:
        for start in range(0, total, _EMBED_CHUNK_ROWS):
            part = table.iloc[start:start + _EMBED_CHUNK_ROWS]
            chunk_progress = None if progress is None else (
                lambda done, _t, _s=start: progress("embed", _s + done, total))
            result = enc.encode_qas(part["question"].tolist(), part["answer"].tolist(), progress=chunk_progress)
            writer.append(np.asarray(result.embeddings, dtype=np.float32))
            n_truncated += int(result.n_truncated)
            n_from_cache += int(result.n_from_cache)
        emb = writer.finish()
    except BaseException:
        writer.abort()
        raise
    if progress is not None:
        progress("embed", total, total)
    if ray_run is not None:  # the cluster embedded them: from the cache is only how they reached the build
        n_from_cache -= ray_run.n_encoded
    timings["embed"] = time.perf_counter() - t0
    return _Embedded(emb, str(enc.name), str(enc.content_hash), n_truncated, n_from_cache, encoder_record(enc),
                     timings, ray=None if ray_run is None else ray_run.to_dict())


# ----------------------------------------------------------------------------------------------------
# building
# ----------------------------------------------------------------------------------------------------

def validation_counts(report: ValidationReport) -> dict[str, Any]:
    """The counts a manifest records about validation (the full skip list stays in the report)."""
    # '[a.csv: ]duplicate of row 3 (same ...)' -> 'duplicate': counts per kind of reason, not per row
    by_reason = Counter(s.reason.split(" of row")[0].split(" (")[0].rsplit(": ", 1)[-1]
                        for s in report.skipped)
    return {
        "source": report.source,
        "n_input": int(report.n_input_rows),
        "n_accepted": int(report.n_accepted),
        "n_skipped": len(report.skipped),
        "n_skipped_by_reason": dict(sorted(by_reason.items())),
        "n_truncated": int(report.n_truncated),
        "column_mapping": dict(report.column_mapping),
        "warnings": list(report.warnings),
    }


def _cluster_table(table: pd.DataFrame, xy: np.ndarray) -> pd.DataFrame:
    labels = cluster_points(xy)
    names = label_clusters(table["answer"].tolist(), labels)
    out = table.copy(deep=False)  # copy-on-write: the text columns are shared, not copied
    out["x"] = xy[:, 0].astype(np.float32)
    out["y"] = xy[:, 1].astype(np.float32)
    out["cluster"] = labels.astype(np.int64)
    out["cluster_label"] = pd.Series([names.get(int(c), "noise" if c < 0 else f"cluster {c}")
                                      for c in labels], dtype=str)
    return out


def _centre(table: pd.DataFrame, embedded: _Embedded, report: ValidationReport):
    """Question-centre the embedded table; drop (and count) the QAs that cannot be centred."""
    from univar_core.encoders import centring

    vectors, ok, means, crep = centring.centre_questions(embedded.embeddings, table["question_id"],
                                                         table["value_id"], table["question"])
    if int(ok.sum()) < MIN_QAS_FOR_MAP:
        raise QAInputError(f"question-centring needs questions answered by at least two value IDs; only "
                           f"{int(ok.sum())} QA(s) could be centred ({crep.summary()})", source=report.source)
    if not ok.all():
        report.warnings.append(crep.summary() + f": {int((~ok).sum()):,} QA(s) left out of the map")
    table = table[ok].reset_index(drop=True)
    embedded = replace(embedded, embeddings=vectors[ok])   # the record (backend ...) and ray go along
    representation = {"kind": "question-centred", "by": "question_id", "renormalised": True,
                      "means_file": store.QUESTION_MEANS_FILE, "n_questions_with_mean": len(means),
                      "n_qas_left_out": int((~ok).sum()), **crep.to_dict()}
    return table, embedded, means.to_frame(), representation


def is_centred(manifest: dict) -> bool:
    """Whether a map holds question-centred vectors (its new QAs must then be centred too)."""
    return (manifest.get("representation") or {}).get("kind") == "question-centred"


def build_map(source: Source, name: str, *, encoder: EncoderSpec = DEFAULT_ENCODER,
              embeddings: np.ndarray | str | Path | None = None, encoder_name: str | None = None,
              umap: UmapParams = UmapParams(), dataset: str | None = None,
              data_dir: str | Path | None = None, centre_questions: bool = False,
              landmarks: int = DEFAULT_LANDMARKS, backend: str | None = None, trust_remote_code: bool = False,
              ray: RayOptions | None = None,
              progress: StageProgress | None = None) -> tuple[ValueMap, ValidationReport]:
    """Read, validate, embed (or take precomputed vectors), project, cluster and store a map.

    ``trust_remote_code``: let a model that ships its own Python code run it (off unless asked;
    recorded in the manifest's encoder entry).

    ``encoder``: a name/path (loaded with encoders.resolve.load_encoder_cached) or an encoder object. With
    precomputed embeddings no encoder is loaded; ``encoder_name`` then names the model that made them.
    ``backend`` (auto, torch, onnx, onnx-int8; default $UNIVAR_BACKEND, else auto) applies to an encoder
    given by name.
    ``centre_questions``: store question-centred vectors (encoders.centring) instead of the encoder's:
    the map then shows how answers differ from each question's consensus, not topics. QAs of questions
    answered by a single value ID have nothing to centre on and are left out (counted in the report and
    the manifest); the per-question means are stored so that new QAs can be centred the same way.
    ``landmarks``: maps with more QAs are projected by UMAP on that many landmarks (stratified by
    value ID) and the rest placed by kNN (maps.landmarks); the ``landmark`` column says which.
    Vectors stream to a staged file in the data directory as they are read or encoded, and that
    file becomes the map's embeddings.npy: one copy of the n x d matrix, on disk, memory-mapped.
    ``ray`` (encoders.ray_encode.RayOptions): embed on a Ray cluster, an actor pool of encoders writing the
    embedding cache, which the build then reads (the manifest's ``embedding.ray`` says what the cluster did).
    Replaces a stored map of the same name atomically: an interrupted build leaves the old one intact.
    """
    store.validate_map_name(name)   # before any work: a bad name must not cost an embedding run
    staged: list[Any] = []

    def sink(n_rows: int, dim: int) -> Any:
        staged.append(store.stage_embeddings(n_rows, dim, data_dir=data_dir))
        return staged[-1]

    try:
        return _build_map(source, name, encoder=encoder, embeddings=embeddings, encoder_name=encoder_name,
                          umap=umap, dataset=dataset, data_dir=data_dir, centre_questions=centre_questions,
                          landmarks=landmarks, progress=progress, sink=sink, backend=backend,
                          trust_remote_code=trust_remote_code, ray=ray)
    finally:
        for writer in staged:  # moved into the map on success; anything left is a failed build's
            writer.abort()
            if writer.path.parent.is_dir():
                import shutil

                shutil.rmtree(writer.path.parent, ignore_errors=True)


def _build_map(source: Source, name: str, *, encoder: EncoderSpec, embeddings: Any, encoder_name: str | None,
               umap: UmapParams, dataset: str | None, data_dir: Any, centre_questions: bool,
               landmarks: int, progress: StageProgress | None, sink: Any,
               backend: str | None = None, trust_remote_code: bool = False,
               ray: RayOptions | None = None) -> tuple[ValueMap, ValidationReport]:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    loaded = load_source(source, dataset=dataset, embeddings=embeddings, sink=sink)
    table, report = loaded.table, loaded.report
    if len(table) < MIN_QAS_FOR_MAP:
        raise QAInputError(f"a map needs at least {MIN_QAS_FOR_MAP} QAs; {len(table)} accepted",
                           source=report.source)
    timings["read_validate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if loaded.embeddings is not None:
        emb = loaded.embeddings  # bit for bit: no copy, no normalisation
        embedded = _Embedded(emb, encoder_name or "unknown (precomputed)", PRECOMPUTED_HASH, 0, 0)
        if progress is not None:
            progress("embed", len(table), len(table))
    else:
        # encoder_name only names precomputed vectors: a map embedded here records the encoder it
        # loaded, so placing new QAs later loads that same encoder.
        embedded = _embed(table, encoder=encoder, progress=progress, sink=sink, backend=backend,
                          trust_remote_code=trust_remote_code, ray=ray)
    timings["embed"] = time.perf_counter() - t0
    timings.update(embedded.timings_s or {})   # embed: the encoding alone, once the encoder was there

    question_means = None
    representation: dict[str, Any] = {"kind": "encoder"}
    if centre_questions:
        table, embedded, question_means, representation = _centre(table, embedded, report)
    t0 = time.perf_counter()
    projected = project_with_landmarks(embedded.embeddings, umap, groups=table["value_id"].to_numpy(),
                                       n_landmarks=landmarks, progress=_stage(progress, "project"))
    timings["project"] = time.perf_counter() - t0
    timings.update({f"project_{k}": v for k, v in projected.timings_s.items()})

    t0 = time.perf_counter()
    if progress is not None:
        progress("cluster", 0, 1)
    qas = _cluster_table(table, projected.xy)
    qas["layer"] = BASE_LAYER
    if not projected.is_full:
        is_landmark = np.zeros(len(qas), dtype=bool)
        is_landmark[projected.landmarks] = True
        qas["landmark"] = is_landmark
    if progress is not None:
        progress("cluster", 1, 1)
    timings["cluster"] = time.perf_counter() - t0

    manifest = {
        "encoder": {**(embedded.record or {"name": embedded.encoder_name, "content_hash": embedded.content_hash,
                                           "dim": int(embedded.embeddings.shape[1])}),
                    # the model's own code ran to make this map: placing on it asks for the same consent
                    "trust_remote_code": bool(trust_remote_code)},
        "projection": umap.to_dict(),
        "seed": umap.random_state,
        "validation": validation_counts(report),
        "embedding": {"n_truncated": embedded.n_truncated_tokens,
                      "n_from_cache": embedded.n_from_cache,
                      "precomputed": embedded.content_hash == PRECOMPUTED_HASH,
                      **({"ray": embedded.ray} if embedded.ray else {})},
        "representation": representation,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    if not projected.is_full:
        manifest["landmarks"] = landmark_record(projected.landmarks, len(qas))
    vmap = ValueMap(name=name, qas=qas, embeddings=embedded.embeddings, manifest=manifest, path=None,
                    question_means=question_means)

    if progress is not None:
        progress("store", 0, 1)
    path = store.save_map(vmap, data_dir=data_dir)
    vmap.path = path
    if progress is not None:
        progress("store", 1, 1)
    return vmap, report


def landmark_record(landmarks: np.ndarray, n_qas: int) -> dict[str, Any]:
    """What the manifest says about a landmark projection. Which rows were landmarks: the boolean
    column ``landmark`` of qas.parquet, and here their row indices as a bitmap (1 bit per QA,
    big-endian within each byte, base64) with its sha256, so the manifest alone names them."""
    import base64
    import hashlib

    bits = np.zeros(n_qas, dtype=bool)
    bits[landmarks] = True
    packed = np.packbits(bits).tobytes()
    return {"n": int(len(landmarks)), "stratified_by": "value_id", "column": "landmark",
            "placement": f"kNN (pynndescent index over the landmarks, query epsilon {QUERY_EPSILON}), fuzzy-membership "
                         f"weighted mean, then {REFINE_EPOCHS} epochs of UMAP's transform optimisation against the "
                         "fixed landmarks",
            "bitmap_base64": base64.b64encode(packed).decode("ascii"),
            "bitmap_sha256": hashlib.sha256(packed).hexdigest()}


def landmark_rows(manifest: dict) -> np.ndarray | None:
    """Row indices of the landmarks recorded by landmark_record (None for a full UMAP map)."""
    import base64

    record = manifest.get("landmarks")
    if not record:
        return None
    n = int((manifest.get("counts") or {})["n_qas"])
    bits = np.unpackbits(np.frombuffer(base64.b64decode(record["bitmap_base64"]), dtype=np.uint8))[:n]
    return np.flatnonzero(bits).astype(np.int64)


# ----------------------------------------------------------------------------------------------------
# the demo map
# ----------------------------------------------------------------------------------------------------

_demo_lock = threading.Lock()  # app sessions are threads of one process: build the demo once


def build_demo_map(*, data_dir: str | Path | None = None, progress: StageProgress | None = None,
                   centre_questions: bool = False) -> ValueMap:
    """Build (or rebuild) a synthetic demo map with the default encoder: "demo-values" (question-centred:
    every demo value ID answers the same questions, so centring leaves what their answers say) or
    "demo" (the encoder's own vectors; nearby QAs share a question, and QAs of new questions can be placed).
    Both take the default encoder's vectors shipped for the demo (encoders.shipped) while they are the
    installed model's, so no model is loaded; else they embed the same texts (the second from the cache)."""
    from univar_core.data.demo import demo_qas
    from univar_core.encoders.shipped import shipped_demo_encoder

    name = DEMO_VALUE_MAP_NAME if centre_questions else DEMO_MAP_NAME
    vmap, _ = build_map(demo_qas(), name, encoder=shipped_demo_encoder() or DEFAULT_ENCODER, dataset=None,
                        data_dir=data_dir, progress=progress, centre_questions=centre_questions)
    return vmap


def ensure_demo_map(*, data_dir: str | Path | None = None, progress: StageProgress | None = None,
                    centre_questions: bool = False) -> ValueMap:
    """A stored demo map ("demo", or "demo-values" with centre_questions), built on first use.

    A damaged demo folder is rebuilt: the demo is deterministic, so nothing of the user's is lost.
    """
    name = DEMO_VALUE_MAP_NAME if centre_questions else DEMO_MAP_NAME
    with _demo_lock:
        try:
            return store.load_map(name, data_dir=data_dir)
        except MapError:
            return build_demo_map(data_dir=data_dir, progress=progress, centre_questions=centre_questions)


def ensure_demo_maps(*, data_dir: str | Path | None = None,
                     progress: StageProgress | None = None) -> list[ValueMap]:
    """Both demo maps, the value map first (what a first launch opens), each built when missing."""
    return [ensure_demo_map(data_dir=data_dir, progress=progress, centre_questions=True),
            ensure_demo_map(data_dir=data_dir, progress=progress)]
