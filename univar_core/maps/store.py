"""Map folders on disk: one folder per map inside a data directory.

A map folder holds
  qas.parquet     the QA table plus x, y, cluster, cluster_label, layer
  embeddings.npy  float32 (n, d), row-aligned with qas.parquet, opened memory-mapped
  manifest.json   what produced the map (encoder, projection, counts, versions) and checksums
  question_means.parquet  only on question-centred maps: the per-question means that centre new QAs
                  (encoders.centring; plain columns, no pickle)

Writes are atomic: everything goes into a hidden temp folder inside the data directory, is fsynced,
and only then renamed into place, so a crash never leaves a half-written map where a good one was.
Nothing is ever unpickled: a map folder may come from someone else.

Verification levels for `load_map(verify=...)`:
  "full" (or True)  sha256 of qas.parquet and embeddings.npy (the CLI's `info`)
  "quick"           sha256 of qas.parquet; embeddings.npy checked by size and .npy header only
                    (the app: hashing a 150 MB matrix on every page load is wasted time)
  "none" (or False) structure only: manifest, files present, sizes, shapes, row counts
Hashes are cached per process by (path, inode, size, mtime), so re-opening an unchanged map is free.

`load_map(lazy_text=True)` (the app) keeps every column but the question/answer text in memory and
reads text on demand (maps/text.py: qas.parquet is written in row groups of ROW_GROUP_ROWS rows), so
a million-QA map's text is not held in memory; `ValueMap.qas` still gives the whole table.

A map is identified by its folder: a map opened from any folder is written back to that folder
(`save_map(vmap, folder=...)`, `placement.add_layer`), never to a namesake in the data directory.
Writers of one folder serialise on a file lock beside it (`.locks/<folder name>.lock`, :func:`map_lock`),
so two processes adding layers at once both keep theirs, and two builds of one name swap in turn.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io as _io
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from filelock import FileLock, Timeout

from univar_core._atomic import atomic_path, fsync_dir, write_json
from univar_core.maps.text import ROW_GROUP_ROWS, TEXT_COLUMNS, QATextReader, text_contains
from univar_core.paths import REPO_ROOT

FORMAT = "univar-map"
FORMAT_VERSION = 1
QAS_FILE = "qas.parquet"
EMBEDDINGS_FILE = "embeddings.npy"
MANIFEST_FILE = "manifest.json"
QUESTION_MEANS_FILE = "question_means.parquet"
MAP_COLUMNS = ("x", "y", "cluster", "cluster_label", "layer")

# Letters, digits, - _ . ; must start with a letter or digit so that names never collide with the
# hidden .tmp-/.old- folders and can never be "." or "..".
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_TMP_PREFIX = ".tmp-"
_OLD_PREFIX = ".old-"
_DELETED_PREFIX = ".deleted-"
LOCKS_DIR = ".locks"  # beside the map folders: one lock file per folder name (hidden from list_maps)
LOCK_TIMEOUT_S = 600.0  # a save takes seconds; ten minutes of waiting means a stuck writer
_VERSIONED_PACKAGES = ("numpy", "pandas", "umap-learn", "pynndescent", "sentence-transformers", "torch")
_BLOCK_ROWS = 65_536  # rows per block when streaming an (n, d) matrix (25 MB at d = 384)


class MapError(Exception):
    """A map folder that is missing, damaged or foreign; the message names the path and the problem."""


class ValueMap:
    """A map in memory: its QA table, embeddings (row-aligned), manifest, folder and question means.

    `qas` is the whole table (CORE_COLUMNS + extras + x, y, cluster, cluster_label, layer). A map
    loaded with `load_map(lazy_text=True)` (the app) holds only `points`, every column but the QA text,
    and reads question/answer text on demand from its qas.parquet (`take`, `search`; maps.text); its
    `qas` reads the text on first use and keeps it, once, for callers that need all of it.
    """

    def __init__(self, name: str, qas: pd.DataFrame | None, embeddings: np.ndarray, manifest: dict | None = None,
                 path: Path | None = None, question_means: pd.DataFrame | None = None, *,
                 points: pd.DataFrame | None = None, text: QATextReader | None = None):
        if qas is None and (points is None or text is None):
            raise ValueError("a ValueMap needs its QA table, or its points and a text reader")
        self.name = name
        self.embeddings = embeddings      # row-aligned with the QAs (may be a read-only memmap)
        self.manifest = manifest if manifest is not None else {}
        self.path = path
        self.question_means = question_means  # centring.QuestionMeans.to_frame(); None: not centred
        self._qas, self._points, self._text = qas, points, text
        self._ids: pd.Index | None = None   # qa_id -> row of a lazy map, built on first use
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ValueMap(name={self.name!r}, n_qas={self.n_qas}, path={self.path})"

    @property
    def qas(self) -> pd.DataFrame:
        if self._qas is None:
            with self._lock:   # app sessions share one map: read the text once
                if self._qas is None:
                    assert self._text is not None and self._points is not None
                    # only the text is read: the other columns are the points already in memory
                    text = self._text.read_columns([c for c in TEXT_COLUMNS if c in self._text.columns])
                    self._qas = pd.concat([self._points, text], axis=1)[self._text.columns]
        return self._qas

    @qas.setter
    def qas(self, table: pd.DataFrame) -> None:
        self._qas, self._points, self._text = table, None, None

    @property
    def points(self) -> pd.DataFrame:
        """Every column but the QA text (question, answer): what the map view, filters and labels need."""
        if self._points is not None:
            return self._points
        return self.qas.drop(columns=[c for c in TEXT_COLUMNS if c in self.qas.columns])

    @property
    def columns(self) -> list[str]:
        return list(self._text.columns if self._qas is None and self._text is not None else self.qas.columns)

    def take(self, rows: np.ndarray | Sequence[int], columns: Sequence[str] | None = None) -> pd.DataFrame:
        """`columns` (default: all) of the QAs at positions `rows`, in that order; on a lazy map the
        text of only those rows is read from disk."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        columns = list(self.columns if columns is None else columns)
        if self._qas is not None or self._text is None:
            return self.qas[columns].iloc[rows].reset_index(drop=True)
        light = [c for c in columns if c not in TEXT_COLUMNS]
        heavy = [c for c in columns if c in TEXT_COLUMNS]
        table = self.points[light].iloc[rows].reset_index(drop=True)
        if heavy:
            text = self._text.take(rows, heavy)
            for c in heavy:
                table[c] = text[c]
        return table[columns]

    def search(self, needle: str) -> np.ndarray:
        """Boolean mask of the QAs whose question or answer contains `needle` (case ignored)."""
        if self._qas is None and self._text is not None:
            return self._text.search(needle)
        cols = [c for c in TEXT_COLUMNS if c in self.qas.columns]
        return text_contains([pa.array(self.qas[c]) for c in cols], needle) if cols else np.zeros(self.n_qas, bool)

    def rows_of(self, qa_ids: Iterable[object]) -> np.ndarray:
        """Sorted positions of the QAs with these qa_ids (ids not in the map are ignored)."""
        wanted = pd.Index([str(i) for i in qa_ids]).unique()
        if self._points is None:   # an in-memory table may still change: look it up afresh
            return np.flatnonzero(self.qas["qa_id"].astype(str).isin(wanted))
        if self._ids is None:
            self._ids = pd.Index(self._points["qa_id"].astype(str))
        if not self._ids.is_unique:
            return np.flatnonzero(self._ids.isin(wanted))
        found = self._ids.get_indexer(wanted)
        return np.sort(found[found >= 0])

    @property
    def n_qas(self) -> int:
        return len(self._points if self._points is not None else self.qas)

    @property
    def layers(self) -> list[str]:
        return _layers(self._points if self._points is not None else self.qas)


# ---------------------------------------------------------------------------------------------
# names and places

def validate_map_name(name: str) -> str:
    """Return `name` if it is a valid map name, else raise MapError saying what is allowed."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise MapError(
            f"invalid map name {name!r}: use 1-100 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit (no path separators)"
        )
    return name


def default_data_dir() -> Path:
    """$UNIVAR_DATA_DIR, else <repo>/maps; created on demand."""
    env = os.environ.get("UNIVAR_DATA_DIR")
    path = Path(env).expanduser() if env else REPO_ROOT / "maps"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    if data_dir is None:
        return default_data_dir()
    path = Path(data_dir).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def map_path(name_or_path: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """A bare name means a folder in the data directory; anything with a separator is a path."""
    if isinstance(name_or_path, Path) or os.sep in str(name_or_path) or "/" in str(name_or_path):
        return Path(name_or_path).expanduser()
    return _resolve_data_dir(data_dir) / validate_map_name(str(name_or_path))


# ---------------------------------------------------------------------------------------------
# one writer at a time per map folder

@contextlib.contextmanager
def map_lock(folder: str | os.PathLike, *, timeout: float = LOCK_TIMEOUT_S):
    """Hold the write lock of a map folder (processes and threads alike; re-entrant in a thread).

    The lock file lives beside the folder (<parent>/.locks/<folder name>.lock, hidden, so `list_maps`
    ignores it) and may exist before the folder does: a first build of a name is serialised too."""
    folder = Path(folder)
    locks = folder.parent / LOCKS_DIR
    locks.mkdir(parents=True, exist_ok=True)
    lock = FileLock(locks / f"{folder.name}.lock", is_singleton=True)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise MapError(f"{folder}: another process has been writing this map for over {timeout:.0f} s "
                       f"(lock {lock.lock_file}); try again when it has finished") from None
    try:
        yield
    finally:
        lock.release()


# ---------------------------------------------------------------------------------------------
# hashing (cached by file identity so an unchanged file is hashed once per process)

_HASH_CACHE: dict[tuple, str] = {}


def _file_key(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)


def sha256_file(path: Path) -> str:
    key = _file_key(path)
    if key not in _HASH_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(4 << 20), b""):
                digest.update(block)
        _HASH_CACHE[key] = digest.hexdigest()
    return _HASH_CACHE[key]


# ---------------------------------------------------------------------------------------------
# manifest

def _layers(qas: pd.DataFrame) -> list[str]:
    if "layer" not in qas.columns:
        return []
    return [str(v) for v in pd.unique(qas["layer"].astype(str))]


def _nunique(qas: pd.DataFrame, column: str) -> int | None:
    return int(qas[column].nunique()) if column in qas.columns else None


def library_versions() -> dict[str, str | None]:
    """Versions from package metadata (no heavy imports: torch is never imported here)."""
    from univar_core import __version__

    versions: dict[str, str | None] = {"univar_core": __version__}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _json_default(obj: Any):
    # Callers' manifests may carry numpy scalars/arrays or paths; store them as plain JSON.
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"manifest value of type {type(obj).__name__} is not JSON serialisable")


def _build_manifest(vmap: ValueMap, emb_shape: tuple[int, int]) -> dict:
    """The caller's manifest (extra keys kept) with the computed fields filled in / refreshed."""
    manifest = dict(vmap.manifest or {})
    encoder = dict(manifest.get("encoder") or {})
    if not encoder.get("name"):
        raise ValueError("vmap.manifest['encoder'] must give at least the encoder 'name'")
    if encoder.get("dim") not in (None, emb_shape[1]):
        raise ValueError(
            f"manifest encoder dim {encoder['dim']} does not match the embeddings' dimension {emb_shape[1]}"
        )
    encoder.setdefault("content_hash", None)
    encoder["dim"] = int(emb_shape[1])
    projection = manifest.get("projection")
    seed = manifest.get("seed")
    if seed is None and isinstance(projection, dict):
        seed = projection.get("random_state")
    qas = vmap.qas
    manifest.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        name=vmap.name,
        created=manifest.get("created") or _utc_now(),  # a re-save (new layer) keeps the creation time
        updated=_utc_now(),
        encoder=encoder,
        projection=projection,
        seed=seed,
        counts={
            "n_qas": int(len(qas)),
            "n_value_ids": _nunique(qas, "value_id"),
            "n_models": _nunique(qas, "model"),
            "n_langs": _nunique(qas, "lang"),
            "n_datasets": _nunique(qas, "dataset"),
        },
        layers=_layers(qas),
        versions=library_versions(),
    )
    return manifest


# ---------------------------------------------------------------------------------------------
# save

def _check_savable(vmap: ValueMap) -> np.ndarray:
    validate_map_name(vmap.name)
    missing = [c for c in MAP_COLUMNS if c not in vmap.qas.columns]
    if missing:
        raise ValueError(f"map {vmap.name!r}: the QA table lacks the map column(s) {missing}")
    emb = vmap.embeddings
    if not isinstance(emb, np.ndarray) or emb.ndim != 2:
        raise ValueError(f"map {vmap.name!r}: embeddings must be a 2-D numpy array")
    if emb.dtype != np.float32:
        # Converting here could silently change precomputed vectors; the caller decides.
        raise ValueError(f"map {vmap.name!r}: embeddings must be float32, got {emb.dtype}")
    if emb.shape[0] != len(vmap.qas):
        raise ValueError(
            f"map {vmap.name!r}: {len(vmap.qas)} QA rows but {emb.shape[0]} embedding rows"
        )
    for start in range(0, len(emb), _BLOCK_ROWS):  # blocks: no n x d temporary for a memmap
        if not np.isfinite(emb[start:start + _BLOCK_ROWS]).all():
            raise ValueError(f"map {vmap.name!r}: embeddings contain NaN or infinite values")
    return emb


def _write_qas(qas: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        # row groups of ROW_GROUP_ROWS: a lazy map (maps.text) decodes one of them per on-demand read
        qas.reset_index(drop=True).to_parquet(tmp, index=False, row_group_size=ROW_GROUP_ROWS)


class EmbeddingsWriter:
    """An (n, d) float32 .npy written block by block, in row order, hashed (sha256) as it is written.

    Builds stream vectors into one of these (readers for an `embedding` column, the encoder chunk by
    chunk), so a million-row map never holds its matrix in memory; `finish()` returns the file as a
    read-only memmap. `stage_embeddings` puts the file in the data directory, where `save_map` moves
    it into the map folder instead of copying and re-hashing it.
    """

    def __init__(self, path: str | os.PathLike, n_rows: int, dim: int):
        self.path = Path(path)
        self.shape = (int(n_rows), int(dim))
        self.rows_written = 0
        self.sha256: str | None = None
        self._digest = hashlib.sha256()
        self._fh = open(self.path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": self.shape}
        buf = _io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, header)  # magic + header, as np.save writes it
        self._write(buf.getvalue())

    def _write(self, data: bytes | memoryview) -> None:
        self._fh.write(data)
        self._digest.update(data)

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[1] != self.shape[1]:
            raise ValueError(f"block of shape {block.shape} does not fit embeddings of shape {self.shape}")
        if self.rows_written + len(block) > self.shape[0]:
            raise ValueError(f"more than the {self.shape[0]:,} rows announced")
        self._write(block.data.cast("B"))
        self.rows_written += len(block)

    def finish(self) -> np.ndarray:
        """Close the file (fsynced) and return it opened read-only as a memmap."""
        if self.rows_written != self.shape[0]:
            self.abort()
            raise ValueError(f"{self.rows_written:,} of {self.shape[0]:,} embedding rows were written")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self.sha256 = self._digest.hexdigest()
        _HASH_CACHE[_file_key(self.path)] = self.sha256
        return np.load(self.path, mmap_mode="r", allow_pickle=False)

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self.path.unlink(missing_ok=True)


_STAGE_NAME = "stage"


def stage_embeddings(n_rows: int, dim: int, *, data_dir: str | os.PathLike | None = None) -> EmbeddingsWriter:
    """A writer whose file lives in a hidden temp folder of the data directory (same file system as
    the maps), so save_map renames it into the new map folder: no second copy on disk or in memory.
    A killed build leaves only a `.tmp-stage-*` folder, removed by remove_stale_folders."""
    root = _resolve_data_dir(data_dir)
    folder = root / f"{_TMP_PREFIX}{_STAGE_NAME}-{secrets.token_hex(4)}"
    folder.mkdir()
    return EmbeddingsWriter(folder / EMBEDDINGS_FILE, n_rows, dim)


def _staged_file(emb: np.ndarray, root: Path) -> Path | None:
    """The staged .npy behind `emb` when it is a whole, unchanged staged file of this data directory."""
    name = getattr(emb, "filename", None)
    if name is None or getattr(emb, "offset", None) != _npy_data_offset(Path(name)):
        return None
    path = Path(name)
    if path.parent.parent.resolve() != root.resolve() or not path.parent.name.startswith(
            f"{_TMP_PREFIX}{_STAGE_NAME}-") or not path.is_file():
        return None
    shape, dtype = _npy_header(path)
    if tuple(shape) != tuple(emb.shape) or dtype != np.float32 or _file_key(path) not in _HASH_CACHE:
        return None
    return path


def _npy_data_offset(path: Path) -> int | None:
    try:
        with open(path, "rb") as fh:
            major, _ = np.lib.format.read_magic(fh)
            (np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0)(fh)
            return fh.tell()
    except (OSError, ValueError):
        return None


def _write_embeddings(emb: np.ndarray, path: Path) -> str:
    """Stream `emb` (an array or memmap) into `path` block by block; return its sha256."""
    writer = EmbeddingsWriter(path, *emb.shape)
    try:
        for start in range(0, len(emb), _BLOCK_ROWS):
            writer.append(emb[start:start + _BLOCK_ROWS])
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    assert writer.sha256 is not None  # set by finish()
    return writer.sha256


def _write_manifest(manifest: dict, path: Path) -> None:
    write_json(path, manifest, default=_json_default)


def _write_folder(vmap: ValueMap, emb: np.ndarray, folder: Path) -> dict:
    """Write the three files into `folder` (a fresh temp folder); return the manifest written."""
    qas_path, emb_path = folder / QAS_FILE, folder / EMBEDDINGS_FILE
    manifest = _build_manifest(vmap, emb.shape)  # fails early on a bad manifest, before any I/O
    _write_qas(vmap.qas, qas_path)
    staged = _staged_file(emb, folder.parent)
    if staged is not None:  # streamed in by the build: move it, already hashed while written
        emb_sha = _HASH_CACHE[_file_key(staged)]
        os.rename(staged, emb_path)
        shutil.rmtree(staged.parent, ignore_errors=True)
    else:
        emb_sha = _write_embeddings(emb, emb_path)
    manifest["files"] = {
        QAS_FILE: {"sha256": sha256_file(qas_path), "bytes": qas_path.stat().st_size},
        EMBEDDINGS_FILE: {
            "sha256": emb_sha,
            "bytes": emb_path.stat().st_size,
            "shape": [int(s) for s in emb.shape],
            "dtype": "float32",
        },
    }
    if vmap.question_means is not None:
        means_path = folder / QUESTION_MEANS_FILE
        _write_qas(vmap.question_means, means_path)
        manifest["files"][QUESTION_MEANS_FILE] = {"sha256": sha256_file(means_path),
                                                  "bytes": means_path.stat().st_size}
    _write_manifest(manifest, folder / MANIFEST_FILE)  # last: a folder without it is not a map
    fsync_dir(folder)
    return manifest


STALE_TMP_AGE_S = 6 * 3600  # no save takes this long; an older temp folder is a killed save's leftovers
_HIDDEN_RE = re.compile(r"^\.(tmp|old|deleted)-(.+)-[0-9a-f]{8}$")


def remove_stale_folders(data_dir: str | os.PathLike | None = None, *, tmp_age_s: float = STALE_TMP_AGE_S) -> list[Path]:
    """Remove what killed processes left behind (each may hold hundreds of MB); return what went.

    .tmp-<name>-*: removed when untouched for `tmp_age_s` (a younger one may be a save in progress).
    .old-<name>-*: removed when <name> exists again (the swap finished; only its cleanup was lost).
    .deleted-<name>-*: always removed (delete_map renamed it before removing it).
    """
    root = _resolve_data_dir(data_dir)
    removed = []
    for folder in root.iterdir():
        match = _HIDDEN_RE.match(folder.name)
        if not match or not folder.is_dir():
            continue
        kind, name = match.groups()
        try:
            stale = (
                (kind == "tmp" and time.time() - folder.stat().st_mtime > tmp_age_s)
                or (kind == "old" and (root / name).is_dir())
                or kind == "deleted"
            )
        except FileNotFoundError:  # another process removed it meanwhile
            continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def save_map(vmap: ValueMap, *, data_dir: str | os.PathLike | None = None,
             folder: str | os.PathLike | None = None) -> Path:
    """Write `vmap` atomically, replacing what was there: into `folder` when given (the folder a map
    was opened from: that is its identity, whatever its name), else <data_dir>/<vmap.name>.

    On success `vmap.path` and `vmap.manifest` are updated to what was written. On any error the
    temp folder is removed and a previous map there is left exactly as it was. Concurrent saves of one
    folder take turns (:func:`map_lock`); the last one wins.
    """
    emb = _check_savable(vmap)
    _build_manifest(vmap, emb.shape)  # a bad manifest fails here, before anything is locked or written
    if folder is not None:
        target = Path(folder).expanduser()
        root = target.parent
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = _resolve_data_dir(data_dir)
        target = root / vmap.name
    with map_lock(target):
        manifest = _swap_in(vmap, emb, root, target)
    vmap.path = target
    vmap.manifest = manifest
    return target


def _swap_in(vmap: ValueMap, emb: np.ndarray, root: Path, target: Path) -> dict:
    """Write into a temp folder beside `target`, then rename it into place (caller holds the lock)."""
    remove_stale_folders(root)
    token = secrets.token_hex(4)
    tmp = root / f"{_TMP_PREFIX}{target.name}-{token}"
    old = root / f"{_OLD_PREFIX}{target.name}-{token}"
    tmp.mkdir()
    try:
        manifest = _write_folder(vmap, emb, tmp)
        if target.exists():
            os.rename(target, old)
        os.rename(tmp, target)
        fsync_dir(root)
    except BaseException:
        if old.exists() and not target.exists():
            os.rename(old, target)  # put the previous map back where it was
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    # The files were hashed while in the temp folder; a rename keeps their inode and mtime, so the
    # next load in this process need not read them again.
    for fname in manifest["files"]:
        _HASH_CACHE[_file_key(target / fname)] = manifest["files"][fname]["sha256"]
    return manifest


# ---------------------------------------------------------------------------------------------
# load / check

def _recover_interrupted(target: Path) -> None:
    """A process killed between 'rename old aside' and 'rename new in' leaves only .old-<name>-*:
    put the newest complete one back so the previous map is still there."""
    if target.exists():
        return
    with map_lock(target):   # a save in progress holds it between its two renames: wait, then look again
        if not target.exists():
            _restore_newest_old(target)


def _restore_newest_old(target: Path) -> None:
    own = re.compile(re.escape(f"{_OLD_PREFIX}{target.name}-") + r"[0-9a-f]{8}$")  # not map "a-b"'s for "a"
    candidates = sorted(
        (p for p in target.parent.iterdir() if own.match(p.name) and (p / MANIFEST_FILE).is_file()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    if candidates:
        try:
            os.rename(candidates[0], target)
        except OSError:
            pass  # another process restored it first, or the folder is not ours to move


def _read_manifest(folder: Path) -> dict:
    if not folder.exists():
        raise MapError(f"{folder}: no such map folder")
    if not folder.is_dir():
        raise MapError(f"{folder}: not a folder")
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise MapError(f"{folder}: not a UniVaR map (foreign folder: {MANIFEST_FILE} missing)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MapError(f"{folder}: damaged: {MANIFEST_FILE} is not readable JSON ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise MapError(f"{folder}: not a UniVaR map (foreign folder: {MANIFEST_FILE} format is not {FORMAT!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise MapError(
            f"{folder}: unsupported map format_version {version!r} (this version reads {FORMAT_VERSION})"
        )
    return manifest


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    with open(path, "rb") as fh:
        major, _minor = np.lib.format.read_magic(fh)
        if major == 1:
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    return shape, dtype


def _normalise_verify(verify: bool | str) -> str:
    if verify is True:
        return "full"
    if verify is False or verify is None:
        return "none"
    if verify in ("full", "quick", "none"):
        return verify
    raise ValueError(f"verify must be True, False, 'full', 'quick' or 'none', not {verify!r}")


def _listed_files(files: dict) -> tuple[str, ...]:
    """The map's files named in the manifest (the two always there, then the optional ones we know)."""
    return (QAS_FILE, EMBEDDINGS_FILE) + ((QUESTION_MEANS_FILE,) if QUESTION_MEANS_FILE in files else ())


def check_map_folder(folder: Path, verify: bool | str = "quick") -> dict:
    """Check a map folder without loading it; return its manifest or raise MapError."""
    level = _normalise_verify(verify)
    manifest = _read_manifest(folder)
    files = manifest.get("files")
    if not isinstance(files, dict) or QAS_FILE not in files or EMBEDDINGS_FILE not in files:
        raise MapError(f"{folder}: damaged: {MANIFEST_FILE} lacks the file checksums")
    for fname in _listed_files(files):
        path = folder / fname
        if not path.is_file():
            raise MapError(f"{folder}: damaged: missing file {fname}")
        expected_bytes = files[fname].get("bytes")
        size = path.stat().st_size
        if expected_bytes is not None and size != expected_bytes:
            raise MapError(f"{folder}: damaged: {fname} size expected {expected_bytes} bytes, got {size}")
    try:
        shape, dtype = _npy_header(folder / EMBEDDINGS_FILE)
    except ValueError as err:
        raise MapError(f"{folder}: damaged: {EMBEDDINGS_FILE} header unreadable ({err})") from None
    expected_shape = tuple(files[EMBEDDINGS_FILE].get("shape") or ())
    if dtype != np.float32 or len(shape) != 2 or (expected_shape and shape != expected_shape):
        raise MapError(
            f"{folder}: damaged: {EMBEDDINGS_FILE} holds {dtype} {shape}, expected float32 {expected_shape}"
        )
    n_qas = (manifest.get("counts") or {}).get("n_qas")
    if n_qas is not None and n_qas != shape[0]:
        raise MapError(f"{folder}: row-count mismatch: manifest says {n_qas} QAs, {EMBEDDINGS_FILE} has {shape[0]} rows")
    optional = tuple(f for f in _listed_files(files) if f not in (QAS_FILE, EMBEDDINGS_FILE))
    to_hash = {"full": (QAS_FILE, EMBEDDINGS_FILE) + optional, "quick": (QAS_FILE,) + optional, "none": ()}[level]
    for fname in to_hash:
        expected = files[fname].get("sha256")
        got = sha256_file(folder / fname)
        if got != expected:
            raise MapError(f"{folder}: damaged: {fname} checksum mismatch: expected {expected} got {got}")
    return manifest


def load_map(
    name_or_path: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    verify: bool | str = True,
    lazy_text: bool = False,
) -> ValueMap:
    """Open a map by name (in the data directory) or by folder path. See the module doc for `verify`.
    `lazy_text`: keep every column but the QA text in memory and read question/answer on demand
    (ValueMap.take / search; the app at a million QAs); `qas` still gives the whole table."""
    folder = map_path(name_or_path, data_dir)
    _recover_interrupted(folder)
    manifest = check_map_folder(folder, verify)
    try:
        if lazy_text:
            text = QATextReader(folder / QAS_FILE)
            points = text.read_columns([c for c in text.columns if c not in TEXT_COLUMNS])
            columns, n_rows, qas = text.columns, text.n_rows, None
        else:
            qas = pd.read_parquet(folder / QAS_FILE)
            columns, n_rows, text, points = list(qas.columns), len(qas), None, None
    except Exception as err:  # pyarrow raises several types for a corrupt file
        raise MapError(f"{folder}: damaged: {QAS_FILE} unreadable ({err})") from None
    missing = [c for c in MAP_COLUMNS if c not in columns]
    if missing:
        raise MapError(f"{folder}: damaged: {QAS_FILE} lacks the map column(s) {missing}")
    embeddings = np.load(folder / EMBEDDINGS_FILE, mmap_mode="r", allow_pickle=False)
    if n_rows != embeddings.shape[0]:
        raise MapError(
            f"{folder}: row-count mismatch: {QAS_FILE} has {n_rows} rows, {EMBEDDINGS_FILE} has {embeddings.shape[0]}"
        )
    question_means = None
    if QUESTION_MEANS_FILE in manifest["files"]:
        try:
            question_means = pd.read_parquet(folder / QUESTION_MEANS_FILE)
        except Exception as err:  # pyarrow raises several types for a corrupt file
            raise MapError(f"{folder}: damaged: {QUESTION_MEANS_FILE} unreadable ({err})") from None
    return ValueMap(_folder_map_name(folder, manifest), qas, embeddings, manifest, folder, question_means,
                    points=points, text=text)


def _folder_map_name(folder: Path, manifest: dict) -> str:
    """The folder's name is the map's identity (a copied or renamed folder is loaded, listed and
    re-saved under its own name); the manifest's name only when the folder name is not a valid one."""
    return folder.name if _NAME_RE.match(folder.name) else str(manifest.get("name") or folder.name)


def list_maps(data_dir: str | os.PathLike | None = None) -> list[dict]:
    """One dict per map folder in the data directory, sorted by name.

    Keys: name, n_qas, n_value_ids, encoder, created, layers, path, error. Damaged or foreign folders
    are listed with `error` set (the other fields None) instead of raising; hidden temp/old folders
    are skipped. Checks are structural only (no hashing), so listing stays instant.
    """
    root = _resolve_data_dir(data_dir)
    for hidden in list(root.iterdir()):   # a map left only as .old-<name>-* by a killed save: restore it
        match = _HIDDEN_RE.match(hidden.name)
        if match and match.group(1) == "old" and not (root / match.group(2)).exists():
            _recover_interrupted(root / match.group(2))
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        row: dict[str, Any] = {"name": folder.name, "n_qas": None, "n_value_ids": None, "encoder": None,
                               "created": None, "layers": None, "path": folder, "error": None}
        try:
            manifest = check_map_folder(folder, "none")
        except MapError as err:
            row["error"] = str(err)
        else:
            counts = manifest.get("counts") or {}
            row.update(
                n_qas=counts.get("n_qas"),
                n_value_ids=counts.get("n_value_ids"),
                encoder=(manifest.get("encoder") or {}).get("name"),
                created=manifest.get("created"),
                layers=manifest.get("layers"),
            )
        rows.append(row)
    return rows


def delete_map(name: str, *, data_dir: str | os.PathLike | None = None) -> None:
    """Remove the map `name`. Refuses folders that are not UniVaR maps (never deletes foreign data)."""
    root = _resolve_data_dir(data_dir)
    folder = root / validate_map_name(name)
    if not folder.is_dir():
        raise MapError(f"{folder}: no such map")
    try:
        is_map = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        is_map = False
    if not is_map:
        raise MapError(f"{folder}: not a UniVaR map (no {FORMAT} manifest); refusing to delete it")
    # Rename first so the map disappears atomically even if removing the files is slow or fails.
    doomed = root / f"{_DELETED_PREFIX}{name}-{secrets.token_hex(4)}"
    os.rename(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
