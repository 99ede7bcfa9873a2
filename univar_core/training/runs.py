"""The run folders under the runs directory: where they are, their names, what each one holds.

A run folder (one per `univar train --out`) holds the trainer's files (run_folder.py), the encoder it
saved (a head: head.json + head.safetensors; a full run: a sentence-transformers folder) and `run.json`:
where its QAs came from (source map or file), the split it trained on and its settings, so the Evaluate
page can tell whether a head saw a map's test questions. No torch here: the app lists runs cheaply.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pandas as pd

from univar_core._atomic import write_json
from univar_core.encoders.compat import head_meta, is_head_folder
from univar_core.paths import REPO_ROOT
from univar_core.training.run_folder import read_status

RUN_INFO = "run.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
RUN_COLUMNS = ["name", "path", "kind", "state", "step", "total_steps", "base", "base_content_hash", "final_loss",
               "device", "source_map", "split", "error", "created", "mtime"]


def runs_dir() -> Path:
    """Where trained encoders are stored: env UNIVAR_RUNS_DIR, else <repo>/runs (gitignored)."""
    env = os.environ.get("UNIVAR_RUNS_DIR")
    return Path(env) if env else REPO_ROOT / "runs"


def validate_run_name(name: str) -> str:
    name = str(name).strip()
    if not _NAME_RE.match(name) or name in {".", ".."}:
        raise ValueError(f"run name {name!r}: use 1-80 letters, digits, '-', '_' or '.', starting with a "
                         "letter or digit")
    return name


def default_run_name(mode: str, taken: list[str] | None = None) -> str:
    stem = f"{mode}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, n = stem, 2
    while taken and name in taken:
        name, n = f"{stem}-{n}", n + 1
    return name


def write_run_info(path: str | Path, info: dict) -> None:
    write_json(Path(path) / RUN_INFO, info)


def read_run_info(path: str | Path) -> dict:
    try:
        return json.loads((Path(path) / RUN_INFO).read_text())
    except (OSError, ValueError):
        return {}


def run_kind(path: str | Path) -> str | None:
    """"head" (head.json + head.safetensors), "full" (a sentence-transformers folder) or None (no encoder yet)."""
    path = Path(path)
    if is_head_folder(path):
        return "head"
    if (path / "modules.json").is_file() or (path / "config_sentence_transformers.json").is_file():
        return "full"
    return None


def list_runs(root: str | Path | None = None) -> pd.DataFrame:
    """One row per run folder (RUN_COLUMNS): kind (head/full/None), state, base and its content hash,
    steps, final loss, device, source map, split. Newest first; hidden folders (job folders) skipped."""
    root = Path(root) if root is not None else runs_dir()
    rows = []
    if root.is_dir():
        for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            status = read_status(path) or {}
            info = read_run_info(path)
            kind = run_kind(path)
            if not status and not info and kind is None:
                continue
            meta = head_meta(path)
            config = status.get("config") or meta.get("config") or {}
            metrics = status.get("metrics") or meta.get("metrics") or {}
            rows.append({
                "name": path.name, "path": str(path), "kind": kind,
                "state": status.get("state", "done" if kind else "unknown"),
                "step": status.get("step"), "total_steps": status.get("total_steps"),
                "base": meta.get("base") or config.get("base"),
                "base_content_hash": meta.get("base_content_hash"),
                "final_loss": metrics.get("final_loss"), "device": status.get("device"),
                "source_map": info.get("source_map"), "split": info.get("split"),
                "error": status.get("error"), "created": info.get("created"),
                "mtime": path.stat().st_mtime,
            })
    return pd.DataFrame(rows, columns=RUN_COLUMNS).sort_values("mtime", ascending=False, ignore_index=True)


__all__ = ["RUN_INFO", "runs_dir", "validate_run_name", "default_run_name", "write_run_info", "read_run_info",
           "run_kind", "list_runs"]
