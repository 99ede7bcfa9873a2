"""A training run's folder: its lock, loss log, status file and checkpoints.

out_dir/train.lock      {pid, host, started}; a second run on the same folder is refused
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

if TYPE_CHECKING:  # torch is imported by the checkpoint functions only: the app reads status and logs
    import torch  # of runs (jobs, run listing) without loading it

LOG_NAME = "train_log.csv"
STATUS_NAME = "status.json"
LOCK_NAME = "train.lock"
CHECKPOINT_DIR = "checkpoint"


class TrainingLockedError(RuntimeError):
    """Another training run holds the lock on this out_dir."""


class RunLock:
    """out_dir/train.lock holding {pid, host, started}; a lock whose pid is gone is stale and taken over."""

    def __init__(self, out_dir: Path, log: Callable[[str], None]):
        self.path = out_dir / LOCK_NAME
        self.log = log

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and holder.get("host") not in (None, socket.gethostname()):
                    raise TrainingLockedError(  # its pid cannot be checked from here: never take it over
                        f"{self.path.parent} is in use by training run pid {holder.get('pid')} on host "
                        f"{holder['host']}; if that run is gone, delete {self.path}")
                if holder is not None and _pid_alive(holder.get("pid")):
                    raise TrainingLockedError(
                        f"{self.path.parent} is in use by training run pid {holder['pid']} started "
                        f"{holder.get('started', '?')}; wait for it to finish or choose another out_dir")
                self.log(f"removing stale lock {self.path} (pid {holder and holder.get('pid')} is not running)")
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, f)
            return self
        raise TrainingLockedError(f"could not take the lock {self.path}")

    def _holder(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


def _pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


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


def write_json_atomic(path: Path, obj: dict):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    tmp.replace(path)


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
