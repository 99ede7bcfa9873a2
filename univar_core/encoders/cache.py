"""On-disk embedding cache: one folder per encoder content hash, append-only shards.

Layout: ``<cache_dir>/<content_hash>/<shard>.vecs.npy`` (float32, (n, d)) and ``<shard>.keys.npy``
(uint8, (n, KEY_BYTES): blake2b of the exact text). Each file is written atomically
(``univar_core._atomic``), vectors first: a shard exists once its keys file exists, so a run killed
at any moment leaves only whole shards (plus at worst an orphan vectors file, which is ignored).
Shard names are unique per writer, so two processes filling the same cache never clash.

A cache is trusted only as far as it checks out: each shard's name carries a blake2b checksum of its
keys and vectors (``<stem>.<checksum>.keys.npy``), and every vector must be finite (and unit-length
for a normalising encoder). A shard that fails (bit rot, a file replaced by other vectors of the same
size, NaN) is reported by path, moved to ``damaged/`` in the cache folder and its texts are embedded
again. Nothing is ever loaded with pickle.
"""
from __future__ import annotations

import hashlib
import os
import time
import uuid
import warnings
from pathlib import Path

import numpy as np

from univar_core._atomic import atomic_path

KEY_BYTES = 16
_KEYS_SUFFIX = ".keys.npy"
_VECS_SUFFIX = ".vecs.npy"
DAMAGED_DIR = "damaged"
_NORM_TOLERANCE = 1e-3


def text_key(text: str) -> bytes:
    """Cache key of one exact text (the encoder is identified by the folder, not the key)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=KEY_BYTES).digest()


class EmbeddingCache:
    """Vectors of already-embedded texts for one encoder; lookups in memory, shards on disk."""

    def __init__(self, folder: Path, dim: int, *, unit_norm: bool = False):
        self.folder = Path(folder)
        self.dim = dim
        self.unit_norm = unit_norm  # the encoder writes L2-normalised vectors: anything else is damage
        self._index: dict[bytes, tuple[int, int]] = {}  # key -> (shard number, row)
        self._shards: list[np.ndarray] = []  # memory-mapped vectors, by shard number
        self._seen: set[str] = set()  # shard names already read
        self.n_skipped_shards = 0
        self.damaged: list[str] = []  # "path: reason" of every shard set aside by this object

    def refresh(self) -> None:
        """Read shards written since the last refresh (by this or another process)."""
        if not self.folder.is_dir():
            return
        for keys_path in sorted(self.folder.glob("*" + _KEYS_SUFFIX)):
            name = keys_path.name[: -len(_KEYS_SUFFIX)]
            if name in self._seen:
                continue
            self._seen.add(name)
            shard = self._read_shard(keys_path, self.folder / (name + _VECS_SUFFIX))
            if shard is None:
                self.n_skipped_shards += 1
                continue
            keys, vecs = shard
            number = len(self._shards)
            self._shards.append(vecs)
            flat = keys.tobytes()
            for row in range(len(keys)):
                self._index[flat[row * KEY_BYTES : (row + 1) * KEY_BYTES]] = (number, row)

    def _read_shard(self, keys_path: Path, vecs_path: Path):
        try:
            keys = np.load(keys_path, allow_pickle=False)
            vecs = np.load(vecs_path, allow_pickle=False, mmap_mode="r")
        except FileNotFoundError:
            return None  # removed meanwhile by another process setting it aside: nothing to report
        except (OSError, ValueError, EOFError) as err:
            self._set_aside(keys_path, vecs_path, f"unreadable: {err}")
            return None
        problem = self._check_shard(keys_path, keys, vecs)
        if problem:
            self._set_aside(keys_path, vecs_path, problem)
            return None
        return keys, vecs

    def _check_shard(self, keys_path: Path, keys: np.ndarray, vecs: np.ndarray) -> str | None:
        if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != KEY_BYTES:
            return f"keys have shape {keys.shape} and dtype {keys.dtype}"
        if vecs.dtype != np.float32 or vecs.shape != (len(keys), self.dim):
            return (f"vectors have shape {vecs.shape} and dtype {vecs.dtype}, expected ({len(keys)}, {self.dim}) "
                    f"float32")
        expected = _shard_checksum_of(keys_path.name[: -len(_KEYS_SUFFIX)])
        if expected is not None and expected != _checksum(keys, vecs):
            return "checksum mismatch (the keys or vectors changed after they were written)"
        values = np.asarray(vecs)
        if not np.isfinite(values).all():
            return "vectors contain NaN or infinite values"
        if self.unit_norm and len(values):
            norms = np.linalg.norm(values.astype(np.float64), axis=1)
            if np.abs(norms - 1.0).max() > _NORM_TOLERANCE:
                return f"vectors are not unit-length (norms {norms.min():.3g} to {norms.max():.3g})"
        return None

    def _set_aside(self, keys_path: Path, vecs_path: Path, reason: str) -> None:
        """Move a bad shard out of the way (so it is reported once, not on every run) and say where."""
        dest = self.folder / DAMAGED_DIR
        try:
            dest.mkdir(exist_ok=True)
            for path in (vecs_path, keys_path):
                if path.exists():
                    os.replace(path, dest / path.name)
            where = f"moved to {dest}"
        except OSError as err:
            where = f"could not be moved aside ({err}); delete it"
        self.damaged.append(f"{keys_path}: {reason}")
        warnings.warn(f"embedding cache: damaged shard {keys_path} ({reason}); {where}; its texts will be "
                      f"embedded again", stacklevel=4)

    def __len__(self) -> int:
        return len(self._index)

    def lookup(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """Vectors for the keys that are cached (missing keys are simply absent)."""
        found = {}
        for key in keys:
            where = self._index.get(key)
            if where is not None:
                found[key] = self._shards[where[0]][where[1]]
        return found

    def append(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Write one new shard atomically and index it."""
        if not keys:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.{_checksum(key_array, vectors)}"
        _atomic_save(self.folder / (name + _VECS_SUFFIX), vectors)
        _atomic_save(self.folder / (name + _KEYS_SUFFIX), key_array)  # the commit marker, last
        self._seen.add(name)
        number = len(self._shards)
        self._shards.append(vectors)
        for row, key in enumerate(keys):
            self._index[key] = (number, row)


def _checksum(keys: np.ndarray, vecs: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(keys).tobytes())
    digest.update(np.ascontiguousarray(vecs).tobytes())
    return digest.hexdigest()


def _shard_checksum_of(name: str) -> str | None:
    """'<stem>.<checksum>' -> checksum; None for shards written before checksums (still value-checked)."""
    _, dot, checksum = name.rpartition(".")
    return checksum if dot else None


def _atomic_save(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
