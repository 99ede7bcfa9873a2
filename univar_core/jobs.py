"""Background jobs for the app: one training or map-building run at a time, in a thread.

A page starts a job and returns at once; every rerun reads the job's state, progress, log tail and
error. The runner refuses a second job while one is running (`JobBusyError`): two CPU-heavy runs on a
shared machine would only slow each other down, and the trainer's own out_dir lock
(`run_folder.TrainingLockedError`) still guards a run folder against other processes (the CLI).

No streamlit here. Runs live under `runs_dir()` (env UNIVAR_RUNS_DIR, else <repo>/runs), one folder per
run, named by the user; next to the trainer's files each holds `run.json` (where its QAs came from, the
split, the settings) so the Evaluate page can tell whether a head saw a map's test questions.
"""
from __future__ import annotations

import collections
import json
import os
import re
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from univar_core._atomic import write_json
from univar_core.encoders.base import DEFAULT_ENCODER
from univar_core.encoders.head import HEAD_JSON, is_head_folder
from univar_core.paths import REPO_ROOT

RUN_INFO = "run.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class JobBusyError(RuntimeError):
    """A job is already running; a second one is refused."""


class JobCancelled(Exception):
    """Raised inside a job (from its progress callback) after cancel() was asked for."""


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


# ------------------------------------------------------------------------------------------ jobs

@dataclass
class Job:
    """One background run. Read its fields from any thread; only the worker writes them."""
    id: str
    kind: str                                   # "train" | "build" | anything a caller names
    label: str
    state: str = "running"                      # running | done | failed | cancelled
    stage: str = ""
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None                    # "<Type>: message" of a failure
    traceback: str | None = None
    result: Any = None
    meta: dict = field(default_factory=dict)    # caller's data, e.g. {"out_dir": ...}
    _log: collections.deque = field(default_factory=lambda: collections.deque(maxlen=200), repr=False)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else (1.0 if self.state == "done" else 0.0)

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.time()) - self.started

    def log(self, message: str) -> None:
        self._log.append(f"{time.strftime('%H:%M:%S')} {message}")

    def log_tail(self, n: int = 20) -> list[str]:
        return list(self._log)[-n:]

    def progress(self, done: int, total: int, stage: str | None = None) -> None:
        """Progress callback for the worker (train's (done, total) form; stage optional)."""
        if self._cancel.is_set():
            raise JobCancelled(f"{self.label}: cancelled")
        self.done, self.total = int(done), int(total)
        if stage is not None:
            self.stage = stage

    def stage_progress(self, stage: str, done: int, total: int) -> None:
        """Pipeline-style progress callback (stage, done, total)."""
        self.progress(done, total, stage)

    def cancel(self) -> None:
        """Ask the worker to stop at its next progress call (training: the next step)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (tests, CLI); True when it ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running


class JobRunner:
    """Runs one job at a time in a daemon thread; keeps finished jobs for reading."""

    def __init__(self, keep: int = 20):
        self._lock = threading.Lock()
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._keep = keep

    def active(self) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs.values() if j.running), None)

    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def start(self, fn: Callable[[Job], Any], *, kind: str, label: str, meta: dict | None = None) -> Job:
        """Start fn(job) in a thread. fn reports through job.progress / job.stage_progress / job.log and
        returns the job's result; an exception becomes job.error. Raises JobBusyError while one runs."""
        with self._lock:
            busy = next((j for j in self._jobs.values() if j.running), None)
            if busy is not None:
                raise JobBusyError(f"'{busy.label}' is still running ({busy.stage or busy.kind} "
                                   f"{busy.done}/{busy.total}); wait for it to finish or cancel it")
            job = Job(id=uuid.uuid4().hex[:12], kind=kind, label=label, meta=dict(meta or {}))
            self._jobs[job.id] = job
            while len(self._jobs) > self._keep:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].running:
                    break
                self._jobs.pop(oldest)
            job._thread = threading.Thread(target=self._work, args=(job, fn), name=f"univar-job-{job.id}",
                                           daemon=True)
            job._thread.start()
        return job

    @staticmethod
    def _work(job: Job, fn: Callable[[Job], Any]) -> None:
        job.log(f"started: {job.label}")
        try:
            job.result = fn(job)
            state = "done"
        except JobCancelled:
            state = "cancelled"
            job.error = "cancelled by the user"
        except BaseException as err:  # noqa: BLE001 - everything a run raises is reported to the page
            state = "failed"
            job.error = f"{type(err).__name__}: {err}"
            job.traceback = traceback.format_exc()
        job.finished = time.time()
        job.log(f"{state} after {job.elapsed_s:.1f} s" + (f": {job.error}" if job.error else ""))
        job.state = state


_RUNNER = JobRunner()


def default_runner() -> JobRunner:
    """The process-wide runner (all app sessions share it: one heavy run at a time on the machine)."""
    return _RUNNER


# ---------------------------------------------------------------------------- training / building

def start_training(qas: pd.DataFrame, *, out_dir: str | Path, mode: str = "head", base: Any = None,
                   embeddings: np.ndarray | None = None, info: dict | None = None,
                   runner: JobRunner | None = None, **train_kwargs) -> Job:
    """Start train.train_encoder in the background. `qas`: the rows to train on (already the train side
    of a split). `info` is written to out_dir/run.json (source, split ...). Refused (JobBusyError) while
    another job runs; a live run of another process on out_dir fails the job with TrainingLockedError."""
    from univar_core.training.trainer import train_encoder

    out_dir = Path(out_dir)
    base = DEFAULT_ENCODER if base is None else base
    qas = qas.reset_index(drop=True)
    run_info = {"mode": mode, "n_qas": int(len(qas)), "n_value_ids": int(qas["value_id"].nunique()),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "settings": {k: v for k, v in train_kwargs.items() if isinstance(v, (int, float, str, bool))},
                **(info or {})}

    def work(job: Job):
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / RUN_INFO, run_info)
        job.stage = "train"
        return train_encoder(qas, mode=mode, base=base, embeddings=embeddings if mode == "head" else None,
                             out_dir=out_dir, progress=job.progress, log=job.log, **train_kwargs)

    return (runner or default_runner()).start(work, kind="train", label=f"training {out_dir.name} ({mode})",
                                              meta={"out_dir": str(out_dir), "mode": mode})


def start_build(source: Any, name: str, *, encoder: Any = None, embeddings: np.ndarray | None = None,
                encoder_name: str | None = None, data_dir: str | Path | None = None,
                runner: JobRunner | None = None) -> Job:
    """Start build.build_map in the background; job.result is (ValueMap, ValidationReport)."""
    from univar_core.maps import build, store

    store.validate_map_name(name)

    def work(job: Job):
        job.stage = "embed"
        kw: dict[str, Any] = ({"embeddings": embeddings, "encoder_name": encoder_name}
                              if embeddings is not None else {})
        return build.build_map(source, name, encoder=encoder or DEFAULT_ENCODER, data_dir=data_dir,
                                  progress=job.stage_progress, **kw)

    return (runner or default_runner()).start(work, kind="build", label=f"building map {name}",
                                              meta={"map_name": name})


# ------------------------------------------------------------------------------------------ runs

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


def head_meta(path: str | Path) -> dict:
    try:
        return json.loads((Path(path) / HEAD_JSON).read_text())
    except (OSError, ValueError):
        return {}


def list_runs(root: str | Path | None = None) -> pd.DataFrame:
    """One row per run folder: name, path, kind (head/full/None), state, base, base_content_hash, steps,
    final_loss, device, source_map, split, created. Newest first."""
    from univar_core.training.run_folder import read_status

    root = Path(root) if root is not None else runs_dir()
    rows = []
    if root.is_dir():
        for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            status = read_status(path) or {}
            info = read_run_info(path)
            if not status and not info and run_kind(path) is None:
                continue
            meta = head_meta(path)
            config = status.get("config") or meta.get("config") or {}
            metrics = status.get("metrics") or meta.get("metrics") or {}
            rows.append({
                "name": path.name, "path": str(path), "kind": run_kind(path),
                "state": status.get("state", "done" if run_kind(path) else "unknown"),
                "step": status.get("step"), "total_steps": status.get("total_steps"),
                "base": meta.get("base") or config.get("base"),
                "base_content_hash": meta.get("base_content_hash"),
                "final_loss": metrics.get("final_loss"), "device": status.get("device"),
                "source_map": info.get("source_map"), "split": info.get("split"),
                "error": status.get("error"), "created": info.get("created"),
                "mtime": path.stat().st_mtime,
            })
    cols = ["name", "path", "kind", "state", "step", "total_steps", "base", "base_content_hash", "final_loss",
            "device", "source_map", "split", "error", "created", "mtime"]
    return pd.DataFrame(rows, columns=cols).sort_values("mtime", ascending=False, ignore_index=True)


class _RecordedBase:
    """Stands for a base encoder whose embeddings are already computed (a map's stored embeddings):
    a name and content hash, no model. HeadEncoder.transform needs nothing more."""

    def __init__(self, name: str, content_hash: str | None):
        self.name = name
        self.content_hash = content_hash
        self.max_tokens = None


def recorded_base(manifest: dict) -> _RecordedBase:
    """The map's encoder as a base for head training on its stored embeddings (its hash is recorded in
    the head, so the head is later matched to maps made by the same encoder)."""
    enc = manifest.get("encoder") or {}
    return _RecordedBase(str(enc.get("name")), enc.get("content_hash"))


def head_matches_map(path: str | Path, manifest: dict) -> tuple[bool, str]:
    """Can this head be applied to the map's stored embeddings? (ok, reason when not)."""
    meta = head_meta(path)
    if not meta:
        return False, "not a trained head"
    enc = manifest.get("encoder") or {}
    want, have = meta.get("base_content_hash"), enc.get("content_hash")
    if want and have and want != have:
        return False, f"trained on {meta.get('base')} (hash {str(want)[:12]}), the map uses {enc.get('name')}"
    if (not want or want == "precomputed") and meta.get("base") != enc.get("name"):
        return False, f"trained on {meta.get('base')}, the map uses {enc.get('name')}"
    if int(meta.get("in_dim", -1)) != int(enc.get("dim", -2)):
        return False, f"input dimension {meta.get('in_dim')} differs from the map's {enc.get('dim')}"
    return True, ""


def load_head_for_map(path: str | Path, manifest: dict):
    """A HeadEncoder whose base is the map's stored embeddings (no model loaded): use .transform."""
    from univar_core.encoders.head import HeadEncoder

    ok, why = head_matches_map(path, manifest)
    if not ok:
        raise ValueError(f"{Path(path).name}: {why}")
    meta = head_meta(path)
    base = _RecordedBase(str(meta.get("base")), meta.get("base_content_hash"))
    return HeadEncoder.load(path, base=base)


__all__ = ["Job", "JobRunner", "JobBusyError", "JobCancelled", "default_runner", "runs_dir", "start_training",
           "start_build", "list_runs", "run_kind", "read_run_info", "head_meta", "head_matches_map",
           "load_head_for_map", "recorded_base", "validate_run_name", "default_run_name", "RUN_INFO"]
