"""Write a file so that readers see either the old content or the new, never half of it.

Everything goes to a temporary file next to the target (same folder, so the rename cannot cross file
systems), is fsynced, then renamed over the target with ``os.replace``, and the folder is fsynced so
the rename survives a crash. The temporary name is unique per call (concurrent writers never share
one), and the file is created by ``open`` rather than ``mkstemp`` so it gets the user's umask, not 0600.
A failed write removes its temporary file and leaves the target as it was.

Folder-level swaps (a whole map folder, a checkpoint folder) are a different decision and stay with
their owners (maps/store.py, training/run_folder.py); their files are written with these helpers.
"""
from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a closed file's data to disk (a read-only descriptor is enough on POSIX)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make renames and creations inside a folder durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows: folders cannot be opened; renames there are durable enough
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; write it in the block. On success it is fsynced and
    renamed onto ``path``; on any exception it is removed and ``path`` is untouched."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, target)
        fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> None:
    write_bytes(path, text.encode(encoding))


def write_json(path: str | os.PathLike, obj: Any, *, default: Callable[[Any], Any] | None = str) -> None:
    """Indented UTF-8 JSON with a final newline; values JSON cannot hold go through ``default``."""
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=default) + "\n")
