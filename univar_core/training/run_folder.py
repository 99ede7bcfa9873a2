"""A training run's folder: its lock, loss log, status file and checkpoints.

out_dir/train.lock      an OS file lock (filelock) recording {pid, host, started}; a second run is refused
out_dir/train_log.csv   step, loss, lr, elapsed; flushed per row so a page can tail it
out_dir/status.json     state running|done|failed, step, total_steps, pid, device, config, metrics | error
out_dir/checkpoint/     model + optimizer tensors (safetensors, no pickle) and counters (json)
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

if TYPE_CHECKING:  # torch is imported by the checkpoint functions only: the app reads status and logs
    import torch  # of runs (jobs, run listing) without loading it

LOG_NAME = "train_log.csv"
STATUS_NAME = "status.json"
LOCK_NAME = "train.lock"
CHECKPOINT_DIR = "checkpoint"


class TrainingLockedError(RuntimeError):
    """Another training run holds the lock on this out_dir."""


class RunLock:
    """Exclusive hold of out_dir/train.lock, so two runs never write one folder.

    The lock is an OS file lock (the ``filelock`` package): the OS drops it when the holder exits or is
    killed, so a crashed run never blocks the folder. While held, the file records the holder's {pid,
    host, started} for the message a second run gets; it is emptied on release.
    """

    def __init__(self, out_dir: Path, log: Callable[[str], None]):
        self.path = Path(out_dir) / LOCK_NAME
        self.log = log
        self._lock = FileLock(self.path, on_acquired=self._record_holder)

    def __enter__(self) -> RunLock:
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            holder = self._holder() or {}
            raise TrainingLockedError(
                f"{self.path.parent} is in use by training run pid {holder.get('pid', '?')} on host "
                f"{holder.get('host', '?')} started {holder.get('started', '?')}; wait for it to finish or "
                "choose another out_dir") from None
        return self

    def _record_holder(self, fd: int) -> None:
        left = os.pread(fd, 4096, 0)
        if left:  # a run that was killed left its record; the OS had already released its lock
            self.log(f"taking over the stale lock {self.path} ({left.decode(errors='replace').strip()})")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode(), 0)

    def _holder(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def __exit__(self, *exc) -> None:
        # The file stays (deleting a lock file races with a run opening it); emptied, it names no holder.
        with open(self.path, "r+b") as fh:
            fh.truncate(0)
        self._lock.release()


class LossLog:
    """Appends step, loss, lr, elapsed rows to train_log.csv (flushed each row so a page can tail it)."""

    def __init__(self, path: Path, resume_step: int):
        if resume_step and path.exists():  # drop rows logged after the checkpoint we resume from
            rows = [r for r in csv.DictReader(path.open()) if int(r["step"]) <= resume_step]
            self._write_rows(path, rows)
        elif not resume_step or not path.exists():
            self._write_rows(path, [])
        self.file = path.open("a", newline="")
        self.writer = csv.writer(self.file)

    @staticmethod
    def _write_rows(path: Path, rows: list[dict]):
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "loss", "lr", "elapsed"])
            for r in rows:
                w.writerow([r["step"], r["loss"], r["lr"], r["elapsed"]])

    def add(self, step: int, loss: float, lr: float, elapsed: float):
        self.writer.writerow([step, f"{loss:.6f}", f"{lr:.3e}", f"{elapsed:.2f}"])
        self.file.flush()

    def close(self):
        self.file.close()


def read_loss_log(out_dir) -> pd.DataFrame:
    """The loss log of a run (possibly still running): columns step, loss, lr, elapsed."""
    path = Path(out_dir) / LOG_NAME
    if not path.exists():
        return pd.DataFrame(columns=["step", "loss", "lr", "elapsed"])
    return pd.read_csv(path)


def read_status(out_dir) -> dict | None:
    """status.json of a run: state (running/done/failed), step, total_steps, pid, config, error."""
    try:
        return json.loads((Path(out_dir) / STATUS_NAME).read_text())
    except (OSError, ValueError):
        return None


def save_checkpoint(out_dir: Path, step: int, model: torch.nn.Module, opt: torch.optim.Optimizer,
                     sampler, rng: np.random.Generator, extra: dict | None = None):
    """model + AdamW state as safetensors, counters, the sampler's and RNG state as json; swapped in
    atomically. sampler: anything with state() / load_state(state) (train.ViewSampler)."""
    import torch
    from safetensors.torch import save_file

    final = out_dir / CHECKPOINT_DIR
    tmp = out_dir / (CHECKPOINT_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    for pid, st in opt_state["state"].items():
        for name, value in st.items():
            tensors[f"opt.{pid}.{name}"] = torch.as_tensor(value).detach().contiguous().cpu()
    save_file(tensors, str(tmp / "state.safetensors"))
    meta = {"step": step, "param_groups": opt_state["param_groups"], "sampler": sampler.state(),
            "rng": rng.bit_generator.state, **(extra or {})}
    (tmp / "state.json").write_text(json.dumps(meta))
    old = out_dir / (CHECKPOINT_DIR + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(out_dir: Path, model: torch.nn.Module, opt: torch.optim.Optimizer,
                     sampler, rng: np.random.Generator) -> dict:
    from safetensors.torch import load_file

    ckpt = out_dir / CHECKPOINT_DIR
    meta = json.loads((ckpt / "state.json").read_text())
    tensors = load_file(str(ckpt / "state.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    sampler.load_state(meta["sampler"])
    rng.bit_generator.state = meta["rng"]
    return meta


def has_checkpoint(out_dir) -> bool:
    return (Path(out_dir) / CHECKPOINT_DIR / "state.json").exists()
