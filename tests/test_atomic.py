"""_atomic: whole-or-nothing file writes that respect the user's umask."""
from __future__ import annotations

import json
import os

import pytest

from univar_core import _atomic


def test_write_json_text_and_bytes_replace_the_file_and_leave_no_temp_file(tmp_path):
    path = tmp_path / "x.json"
    _atomic.write_json(path, {"a": 1, "name": "café", "when": tmp_path})  # non-JSON values via str()
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 1, "name": "café", "when": str(tmp_path)}
    assert path.read_text(encoding="utf-8").endswith("\n")
    _atomic.write_text(path, "second")
    assert path.read_text() == "second"
    _atomic.write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temp_file(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with _atomic.atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk on fire")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    with pytest.raises(TypeError):  # an unserialisable value fails before anything is written
        _atomic.write_json(path, {"x": object()}, default=None)
    assert path.read_text() == "old"


def test_created_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        _atomic.write_text(tmp_path / "a.txt", "x")
        with _atomic.atomic_path(tmp_path / "b.bin") as tmp, open(tmp, "wb") as fh:
            fh.write(b"y")
    finally:
        os.umask(old)
    for name in ("a.txt", "b.bin"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640  # 0o666 & ~0o027, not mkstemp's 0o600
