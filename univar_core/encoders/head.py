"""A trained value head on a frozen base encoder: saving, loading, and using it as an encoder.

Saved as head.safetensors (weights) + head.json (format, base encoder name and content hash, in_dim, the
training config and metrics). HeadEncoder has the Encoder interface (encode, encode_qas, qa_texts, name,
content_hash, dim), so a map can be built, placed on and evaluated with it like with any encoder.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from univar_core._atomic import atomic_path, write_json
from univar_core.encoders.base import Encoder, EncodeResult, Progress

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions that need it: run listings (jobs) and the app's pages ask
# is_head_folder / read head.json without loading torch.
HEAD_JSON = "head.json"
HEAD_WEIGHTS = "head.safetensors"
HEAD_FORMAT = "univar-head/1"


def is_head_folder(path: str | Path) -> bool:
    """True when the folder holds a saved head (head.json + head.safetensors)."""
    folder = Path(str(path)).expanduser()
    return (folder / HEAD_JSON).is_file() and (folder / HEAD_WEIGHTS).is_file()


def make_head(in_dim: int, hidden_dim: int, out_dim: int) -> torch.nn.Module:
    """in -> hidden -> out with GELU: the projection head mode trains."""
    import torch

    return torch.nn.Sequential(torch.nn.Linear(in_dim, hidden_dim), torch.nn.GELU(),
                               torch.nn.Linear(hidden_dim, out_dim))


def save_head(out_dir: Path, head: torch.nn.Module, config: dict, metrics: dict) -> Path:
    """head.safetensors (weights) + head.json (base encoder name and hash, config, metrics)."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in head.state_dict().items()}
    with atomic_path(out_dir / HEAD_WEIGHTS) as tmp:
        save_file(tensors, str(tmp))
    write_json(out_dir / HEAD_JSON, {
        "format": HEAD_FORMAT, "base": config["base"], "base_content_hash": config.get("base_content_hash"),
        "in_dim": config["in_dim"], "config": config, "metrics": metrics})
    return out_dir


class HeadEncoder:
    """A base Encoder followed by a trained head; an encoder to the rest of the library."""

    # base: the Encoder the head was trained on; or, when only transform() of stored base embeddings is
    # needed, anything with its name and content_hash (jobs' recorded base), or None.
    def __init__(self, base: Any, head: torch.nn.Module, config: dict, *, path: Path | None = None,
                 metrics: dict | None = None):
        self.base = base
        self.head = head.eval()
        self.config = config
        self.metrics = metrics or {}
        self.path = path
        # base may be None: then only transform() (cached base embeddings) is available
        self.name = str(path) if path is not None else f"{config.get('base')}+head"
        self.dim = int(config["out_dim"])
        self.max_tokens = getattr(base, "max_tokens", None)
        self.device = "cpu"
        digest = hashlib.sha256((getattr(base, "content_hash", None) or "").encode())
        for key, value in sorted(head.state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().cpu().numpy().tobytes())
        self.content_hash = digest.hexdigest()[:16]

    def transform(self, base_embeddings: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """Apply the head to cached base-encoder embeddings: float32, L2-normalised, (n, out_dim)."""
        import torch
        import torch.nn.functional as F

        x = np.asarray(base_embeddings, dtype=np.float32)
        out = np.empty((len(x), self.dim), dtype=np.float32)
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                t = F.normalize(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size])), dim=1)
                out[i:i + batch_size] = F.normalize(self.head(t), dim=1).numpy()
        return out

    @property
    def backend(self) -> str:
        """The base encoder's backend (the head itself is a small torch MLP on its vectors)."""
        return getattr(self.base, "backend", "torch")

    @property
    def backend_note(self) -> str:
        return getattr(self.base, "backend_note", self.backend)

    @property
    def backend_guard(self):
        return getattr(self.base, "backend_guard", None)

    def _need_base(self) -> Encoder:
        if self.base is None:
            raise RuntimeError(f"{self.name}: no base encoder loaded; only transform() of cached base embeddings works")
        return self.base

    def qa_texts(self, questions, answers):
        return self._need_base().qa_texts(questions, answers)

    def encode(self, texts, *, progress: Progress | None = None) -> np.ndarray:
        return self.transform(self._need_base().encode(texts, progress=progress))

    def encode_qas(self, questions, answers, *, progress: Progress | None = None) -> EncodeResult:
        result = self._need_base().encode_qas(questions, answers, progress=progress)
        return dataclasses.replace(result, embeddings=self.transform(result.embeddings))

    def save(self, out_dir) -> Path:
        return save_head(Path(out_dir), self.head, self.config, self.metrics)

    @classmethod
    def load(cls, path, *, base: Any = None, **encoder_kwargs: Any) -> HeadEncoder:
        """Load a saved head; its base encoder is loaded by the recorded name (or `base` given, an
        encoder object) and must have the recorded content hash."""
        from safetensors.torch import load_file

        path = Path(path)
        try:
            meta = json.loads((path / HEAD_JSON).read_text())
            tensors = load_file(str(path / HEAD_WEIGHTS))
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a readable trained head ({err})") from err
        if meta.get("format") != HEAD_FORMAT:
            raise ValueError(f"{path / HEAD_JSON}: unknown format {meta.get('format')!r}")
        config = meta["config"]
        if base is None:
            from univar_core.encoders.sentence_encoder import SentenceEncoder

            if encoder_kwargs.get("backend") in (None, "auto") and config.get("base_backend"):
                # the head learnt on this backend's vectors: apply it on the same ones (and their cache)
                encoder_kwargs = {**encoder_kwargs, "backend": config["base_backend"]}
            base = SentenceEncoder(meta["base"], **encoder_kwargs)
        want = meta.get("base_content_hash")
        if want and getattr(base, "content_hash", None) != want:
            raise ValueError(f"{path}: the head was trained on {meta['base']} with content hash {want}, "
                             f"but the base encoder loaded has {getattr(base, 'content_hash', None)}")
        head = make_head(int(meta["in_dim"]), int(config["hidden_dim"]), int(config["out_dim"]))
        head.load_state_dict(tensors)
        return cls(base, head, config, path=path, metrics=meta.get("metrics"))
