"""status.json of a CLI run started with a status folder (`univar build/rebuild --status-dir DIR`): the
progress a watcher (the app) reads while the command runs, and how it ended.

{"state": running|done|failed|cancelled, "stage", "done", "total", "pid", "updated", "error", "result"}.
`univar train` writes the same file in its run folder (training/run_folder.py: state, step, total_steps);
``progress_of`` reads either form. Written atomically (a reader never sees half a file), at most every
``min_interval_s`` while running.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from univar_core._atomic import write_json
from univar_core.training.run_folder import STATUS_NAME, read_status

TERMINAL_STATES = ("done", "failed", "cancelled")


class StatusFile:
    """A stage progress callback ``(stage, done, total)`` that keeps DIR/status.json up to date."""

    def __init__(self, folder: str | Path, *, min_interval_s: float = 0.5):
        self.path = Path(folder) / STATUS_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.min_interval_s = min_interval_s
        self.status: dict[str, Any] = {"state": "running", "stage": "starting", "done": 0, "total": 0,
                                       "pid": os.getpid(), "started": time.time()}
        self._last = 0.0
        self._write()

    def _write(self) -> None:
        self.status["updated"] = time.time()
        write_json(self.path, self.status)
        self._last = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        changed = stage != self.status["stage"] or done >= total
        self.status.update(stage=stage, done=int(done), total=int(total))
        if changed or time.monotonic() - self._last >= self.min_interval_s:
            self._write()

    def finish(self, **result: Any) -> None:
        self.status.update(state="done", result=result)
        self._write()

    def fail(self, err: BaseException) -> None:
        self.status.update(state="failed", error=f"{type(err).__name__}: {err}")
        self._write()


def progress_of(status: dict | None) -> tuple[str, int, int]:
    """(stage, done, total) of a status.json, build form or the trainer's (step / total_steps)."""
    status = status or {}
    if "step" in status and "done" not in status:
        return "train", int(status.get("step") or 0), int(status.get("total_steps") or 0)
    return str(status.get("stage") or ""), int(status.get("done") or 0), int(status.get("total") or 0)


def mark_cancelled(folder: str | Path) -> None:
    """After its process has ended: the run's status says cancelled (its progress fields kept)."""
    status = read_status(folder) or {}
    status.update(state="cancelled", error="cancelled by the user", updated=time.time())
    write_json(Path(folder) / STATUS_NAME, status)


__all__ = ["StatusFile", "progress_of", "mark_cancelled", "read_status", "TERMINAL_STATES", "STATUS_NAME"]
