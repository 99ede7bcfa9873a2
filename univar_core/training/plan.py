"""The training plan: which rows, vectors, base encoder and settings a training run uses, decided once
for `univar train` and the Train & Embed page (which starts `univar train` as a subprocess).

- a split (``split_by``) keeps only its encoder-train side, rows and vectors alike;
- head mode trains on vectors already there (a map's stored embeddings, a parquet's 'embedding'
  column, an .npy); from a map the head records the map's encoder as its base (``recorded_base``), so
  it is later matched to maps made by that encoder; without vectors the base encoder embeds the QAs;
- full mode fine-tunes the base model on the texts: given vectors are not used;
- options that only full mode knows are refused in head mode rather than silently ignored.

No torch here: the app reads the defaults without loading it.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from univar_core.encoders.base import DEFAULT_ENCODER
from univar_core.encoders.compat import recorded_base
from univar_core.encoders.resolve import PRECOMPUTED_HASH
from univar_core.training.runs import write_run_info

MODES = ("head", "full")
FULL_ONLY = ("batch_pairs", "micro_batch_pairs", "precision", "max_seq_length")
HEAD_ONLY = ("pairs_per_value_id",)

# Defaults that differ by mode: head mode follows DESIGN.md's measured recipe, full mode the paper's
# published checkpoints (batch 256 view pairs, lr 2e-4, logit scale 50).
_MODE_DEFAULTS = {
    "head": dict(steps=1500, lr=1e-3, logit_scale=20.0, pairs_per_value_id=16, batch_pairs=None,
                 checkpoint_every=500, log_every=10),
    "full": dict(steps=None, lr=2e-4, logit_scale=50.0, pairs_per_value_id=None, batch_pairs=256,
                 checkpoint_every=100, log_every=10),
}


def mode_defaults(mode: str) -> dict:
    """The hyper-parameters a mode fills in when left as None (steps None in full mode: 3 epochs)."""
    if mode not in _MODE_DEFAULTS:
        raise ValueError(f"mode must be 'head' or 'full', got {mode!r}")
    return dict(_MODE_DEFAULTS[mode])


def default_base(manifest: dict | None) -> str:
    """The base encoder a run on a map starts from: the map's own encoder, unless its vectors were
    precomputed (no model to load): then the default encoder."""
    enc = (manifest or {}).get("encoder") or {}
    if not enc.get("name") or enc.get("content_hash") == PRECOMPUTED_HASH:
        return DEFAULT_ENCODER
    return str(enc["name"])


@functools.lru_cache(maxsize=1)
def gpu_names() -> tuple[str, ...]:
    """NVIDIA GPUs the training subprocess can use (nvidia-smi), asked without importing torch."""
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(line.strip() for line in out.splitlines() if line.strip())


@dataclass
class TrainingPlan:
    """What `train_encoder` gets (rows of the train side, their vectors, the base, the options) and
    the run.json describing it."""
    mode: str
    qas: pd.DataFrame
    embeddings: np.ndarray | None
    base: Any                                     # a name/folder, or a RecordedBase (a map's stored vectors)
    options: dict = field(default_factory=dict)   # train_encoder keyword arguments
    split_summary: str | None = None
    info: dict = field(default_factory=dict)      # run.json

    def run(self, out_dir: str | Path, *, resume: bool = False, progress: Callable[[int, int], None] | None = None,
            log: Callable[[str], None] | None = None, embed_progress: Callable[[int, int], None] | None = None):
        """Write run.json, then train (training.trainer.train_encoder); returns its TrainResult.
        ``embed_progress``: QAs embedded by the base encoder (head mode without vectors)."""
        from univar_core.training.trainer import train_encoder

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_run_info(out_dir, self.info)
        return train_encoder(self.qas, mode=self.mode, base=self.base, embeddings=self.embeddings,
                             out_dir=out_dir, resume=resume, progress=progress, log=log,
                             embed_progress=embed_progress, **self.options)


def plan_training(qas: pd.DataFrame, embeddings: np.ndarray | None = None, *, mode: str = "head",
                  base: str | None = None, manifest: dict | None = None, source_map: str | None = None,
                  source_file: str | None = None, split_by: str | None = None, test_fraction: float = 0.3,
                  seed: int = 0, **options: Any) -> TrainingPlan:
    """Decide a run. ``manifest``: the map the QAs and vectors come from (None for files). ``options``:
    the trainer's settings (lam, steps, lr, logit_scale, batch_value_ids, pairs_per_value_id and the
    full-mode ones); None values take the mode's defaults. Raises ValueError for settings that do not
    fit the mode, QAInputError for a split that cannot be made."""
    from univar_core.data.splits import split_qas

    if mode not in MODES:
        raise ValueError(f"mode must be 'head' or 'full', got {mode!r}")
    unused = FULL_ONLY if mode == "head" else HEAD_ONLY
    given = [k for k in unused if options.get(k) not in (None, "auto")]
    if given:
        raise ValueError(f"{', '.join('--' + k.replace('_', '-') for k in given)} only apply to --mode "
                         f"{'full' if mode == 'head' else 'head'}")
    options = {k: v for k, v in options.items() if v is not None and k not in unused}
    if embeddings is not None and len(embeddings) != len(qas):
        raise ValueError(f"embeddings have {len(embeddings)} rows for {len(qas)} QAs")
    split_info = summary = None
    if split_by:
        split = split_qas(qas, by=split_by, test_fraction=test_fraction, seed=seed)
        rows = split.encoder_train
        qas = qas.iloc[rows].reset_index(drop=True)
        embeddings = None if embeddings is None else np.asarray(embeddings)[rows]
        split_info = {"by": split_by, "test_fraction": float(test_fraction), "seed": int(seed)}
        summary = split.summary()
    else:
        qas = qas.reset_index(drop=True)
    run_base: Any = base or default_base(manifest)
    if mode == "full":
        embeddings = None                         # full mode embeds the texts with the model it trains
    elif embeddings is not None and manifest is not None:
        run_base = recorded_base(manifest)        # a map's stored vectors: the map's encoder is the base
    info = {"mode": mode, "n_qas": int(len(qas)), "n_value_ids": int(qas["value_id"].nunique()),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "base": getattr(run_base, "name", run_base),
            "settings": {k: v for k, v in options.items() if isinstance(v, (int, float, str, bool))},
            "source_map": source_map, "source_file": source_file, "split": split_info}
    return TrainingPlan(mode=mode, qas=qas, embeddings=embeddings, base=run_base,
                        options={**options, "seed": int(seed)}, split_summary=summary, info=info)


__all__ = ["MODES", "mode_defaults", "default_base", "gpu_names", "TrainingPlan", "plan_training"]
