"""The demo corpus's vectors, shipped with the project, so that a first launch shows a value map without
loading a model: the default encoder's own PyTorch vectors of the 1,200 synthetic demo QAs, written by
`univar demo --write-vectors` into assets/demo_vectors.npz.

Why: on a 2-core machine a fresh clone's first launch spent ~35 s loading, exporting, quantising and
guarding the encoder and ~40 s embedding the demo before UMAP could start (docs/benchmarks.md); the demo is
the same on every machine, so its vectors are computed once, here. They are used only while they are the
default encoder's: the file records the model folder's content hash, and a model with another hash, or a QA
the file lacks, is embedded by the real encoder (loaded then). tests/test_shipped_vectors.py re-embeds a
sample and checks the file against the encoder.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from univar_core.encoders.base import DEFAULT_ENCODER, EncodeResult, Progress
from univar_core.paths import ASSETS_DIR

DEMO_VECTORS_FILE = ASSETS_DIR / "demo_vectors.npz"
BACKEND = "torch"   # the vectors are fp32 PyTorch ones: the same on every CPU, no quantisation involved


def qa_key(question: str, answer: str) -> str:
    return hashlib.sha256(f"{question}\0{answer}".encode()).hexdigest()[:24]


@functools.lru_cache(maxsize=1)   # the installed model folder does not change within a process
def default_model_hash() -> str:
    from univar_core.encoders.sentence_encoder import folder_content_hash, resolve_model_path

    return folder_content_hash(Path(resolve_model_path(DEFAULT_ENCODER)))


class ShippedVectors:
    """An Encoder (base.Encoder) that answers from the shipped vectors and loads the default encoder only
    for QAs the file lacks. Its identity (name, content hash, backend) is the default encoder's, so a map
    built with it is placed on later by that encoder like any other."""

    def __init__(self, path: Path = DEMO_VECTORS_FILE):
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            keys, vectors = data["keys"].astype(str), np.asarray(data["vectors"], dtype=np.float32)
        self.name: str = meta["name"]
        self.content_hash: str = meta["content_hash"]
        self.dim: int = int(vectors.shape[1])
        self.max_tokens: int | None = meta.get("max_tokens")
        self.backend = BACKEND
        self.backend_note = f"{BACKEND}: the demo's vectors shipped in {path.name} (`univar demo --write-vectors`)"
        self._rows = {k: i for i, k in enumerate(keys)}
        self._vectors = vectors
        self._encoder: Any = None

    def _real(self) -> Any:
        if self._encoder is None:
            from univar_core.encoders.resolve import load_encoder_cached

            self._encoder = load_encoder_cached(self.name, backend=BACKEND)
        return self._encoder

    def encode_qas(self, questions: Sequence[str], answers: Sequence[str], *,
                   progress: Progress | None = None) -> EncodeResult:
        rows = [self._rows.get(qa_key(q, a), -1) for q, a in zip(questions, answers)]
        if min(rows, default=0) < 0:
            return self._real().encode_qas(questions, answers, progress=progress)
        if progress is not None:
            progress(len(rows), len(rows))
        return EncodeResult(embeddings=self._vectors[rows].copy(), n_truncated=0, n_from_cache=len(rows))

    def encode(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        return self._real().encode(texts, progress=progress)


def shipped_demo_encoder(path: Path = DEMO_VECTORS_FILE) -> ShippedVectors | None:
    """The shipped vectors when they are the installed default encoder's (same content hash), else None."""
    if not path.exists():
        return None
    shipped = ShippedVectors(path)
    return shipped if shipped.content_hash == default_model_hash() else None


def write_demo_vectors(path: Path = DEMO_VECTORS_FILE, *, progress: Progress | None = None) -> Path:
    """Embed the demo corpus with the default encoder (PyTorch, fp32) and write the file ShippedVectors reads."""
    from univar_core._atomic import write_bytes
    from univar_core.data.demo import demo_qas
    from univar_core.encoders.resolve import load_encoder

    enc = load_encoder(DEFAULT_ENCODER, backend=BACKEND)
    table = demo_qas()
    result = enc.encode_qas(table["question"].tolist(), table["answer"].tolist(), progress=progress)
    if result.n_truncated:
        raise ValueError(f"{result.n_truncated} demo QAs exceed the encoder's token limit: shorten them")
    keys = np.array([qa_key(q, a) for q, a in zip(table["question"], table["answer"])])
    meta = {"name": DEFAULT_ENCODER, "content_hash": enc.content_hash, "backend": BACKEND,
            "max_tokens": enc.max_tokens, "n": len(table), "command": "univar demo --write-vectors"}
    buf = io.BytesIO()
    np.savez_compressed(buf, keys=keys, vectors=np.asarray(result.embeddings, dtype=np.float32),
                        meta=np.array(json.dumps(meta)))
    write_bytes(path, buf.getvalue())
    return path
