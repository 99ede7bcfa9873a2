"""Multi-view InfoNCE trainer for value encoders (UniVaR, Cahyawijaya et al.).

Two modes, one API (`train_encoder`):
- "head": a small MLP trained on frozen base-encoder embeddings. A view is the L2-normalised mean of
  k in 1..lam QA embeddings of one value ID. Fast on CPU; saved as head.json + head.safetensors and
  loaded as a `head_encoder.HeadEncoder` (usable wherever an encoder is).
- "full": fine-tunes any sentence-transformers model. A view is k in 1..lam "Q: .. A: .." texts of one
  value ID joined with a newline. bf16/fp16 autocast on CUDA; micro-batches keep the whole step's
  in-batch negatives (gradcache.py); saved as a folder `SentenceTransformer(path)` loads.

Both: two DISJOINT views per (value ID, pair), symmetric InfoNCE over cosine similarity times a logit
scale with in-batch negatives, in supervised-contrastive form (every view of the same value ID in the
batch is a positive, so several pairs per value ID per batch do not punish each other), AdamW with
linear warm-up then linear decay. Seeded and resumable; the run folder (lock, loss log, status.json,
checkpoints) is run_folder.py's.
"""
from __future__ import annotations

import dataclasses
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from univar_core._atomic import write_json
from univar_core.encoders.base import DEFAULT_ENCODER
from univar_core.encoders.head import make_head, save_head
from univar_core.training.gradcache import backward_whole_batch
from univar_core.training.plan import _MODE_DEFAULTS, mode_defaults  # noqa: F401 - mode_defaults: public here too
from univar_core.training.run_folder import (
    CHECKPOINT_DIR,
    LOG_NAME,
    STATUS_NAME,
    LossLog,
    RunLock,
    has_checkpoint,
    load_checkpoint,
    save_checkpoint,
)

T = TypeVar("T")
CPU_MICRO_PAIRS = 32   # full mode on CPU: view pairs per forward pass when none is given


@dataclass
class TrainConfig:
    """Every hyper-parameter of a run (recorded in status.json, head.json / train_config.json)."""
    mode: str = "head"
    base: str = DEFAULT_ENCODER
    lam: int = 5                          # max QAs per view (paper's lambda)
    steps: int | None = None              # optimizer steps; full mode default: `epochs` over the data
    epochs: float = 3.0                   # full mode only, when steps is None
    lr: float | None = None
    weight_decay: float = 0.01
    warmup_frac: float = 0.1              # share of steps with linear warm-up, then linear decay to 0
    logit_scale: float | None = None
    batch_value_ids: int | None = None    # value IDs per batch (None: all, capped by batch_pairs)
    pairs_per_value_id: int | None = None # head: view pairs per value ID per batch
    batch_pairs: int | None = None        # full: view pairs per optimizer step
    micro_batch_pairs: int | None = None  # full: view pairs per forward pass (None: the whole batch on a
                                          # GPU, CPU_MICRO_PAIRS on the CPU);
                                          # fewer saves GPU memory, the gradient stays exact (GradCache)
    max_seq_length: int | None = None     # full: tokens per view (None: the model's own)
    precision: str = "auto"               # full, CUDA only: "auto" (bf16 if supported else fp16), "bf16",
                                          # "fp16", "fp32"; CPU always runs fp32
    hidden_dim: int = 512                 # head MLP: in -> hidden -> out, GELU
    out_dim: int = 256
    checkpoint_every: int | None = None
    log_every: int | None = None
    seed: int = 0
    trust_remote_code: bool = False       # the base model's own Python code may run (--trust-remote-code)

    def __post_init__(self):
        if self.mode not in _MODE_DEFAULTS:
            raise ValueError(f"mode must be 'head' or 'full', got {self.mode!r}")
        for key, value in _MODE_DEFAULTS[self.mode].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.lam < 1:
            raise ValueError(f"lam must be >= 1, got {self.lam}")
        if self.precision not in ("auto", "bf16", "fp16", "fp32"):
            raise ValueError(f"precision must be auto, bf16, fp16 or fp32, got {self.precision!r}")
        if self.micro_batch_pairs is not None and self.micro_batch_pairs < 1:
            raise ValueError("micro_batch_pairs must be >= 1")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    out_dir: Path
    config: TrainConfig
    steps_done: int
    losses: list[float]                   # one per optimizer step of this run (resumed runs: from there)
    final_loss: float
    elapsed_s: float
    device: str
    resumed_from: int = 0                 # step the run continued from (0: fresh)
    qas_per_s: float = float("nan")       # QAs consumed by training per second (full mode)
    metrics: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------- view sampling

class ViewSampler:
    """Draws two disjoint views per (value ID, pair) without a Python loop per view.

    Each value ID's rows are kept as a shuffled permutation with a cursor; a pair takes 2*lam
    consecutive positions of it (distinct, so the two views are disjoint) and masks each view down to
    its random size k in 1..min(lam, n // 2). Permutations are reshuffled when a cursor wraps.
    """

    def __init__(self, labels: np.ndarray, lam: int, rng: np.random.Generator):
        self.rng = rng
        self.lam = lam
        codes = np.asarray(labels)
        self.n_classes = int(codes.max()) + 1
        order = np.argsort(codes, kind="stable")
        self.counts = np.bincount(codes, minlength=self.n_classes)
        if (self.counts < 2).any():
            raise ValueError("every value ID needs at least 2 QAs to form two disjoint views")
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        self.rows = order                      # rows grouped by class
        self.perm = np.concatenate([rng.permutation(c) for c in self.counts])
        self.cursor = np.zeros(self.n_classes, dtype=np.int64)
        self.max_k = np.minimum(lam, self.counts // 2)

    def sample(self, classes: np.ndarray, pairs_per_class: int):
        """-> (labels (B,), idx (B, 2, lam) row indices, mask (B, 2, lam) bool) with B = len(classes)*pairs."""
        lam = self.lam
        cls = np.repeat(classes, pairs_per_class)
        pair_no = np.tile(np.arange(pairs_per_class), len(classes))
        need = pairs_per_class * 2 * lam
        n = self.counts[cls]
        pos = (self.cursor[cls, None] + pair_no[:, None] * 2 * lam + np.arange(2 * lam)[None, :]) % n[:, None]
        rows = self.rows[self.starts[cls, None] + self.perm[self.starts[cls, None] + pos]]
        k = self.rng.integers(1, self.max_k[cls, None] + 1, size=(len(cls), 2))
        mask = np.arange(lam)[None, None, :] < k[:, :, None]
        # When 2*lam > n the two halves would overlap mod n: views of such small value IDs take their
        # k <= n//2 items from the first n positions only (view B from the n//2 positions after view A).
        idx = rows.reshape(len(cls), 2, lam)
        small = 2 * lam > n
        if small.any():
            half = n[small] // 2
            first = rows[small][:, :lam]
            second_pos = (np.arange(lam)[None, :] + half[:, None])
            second = np.take_along_axis(rows[small], np.minimum(second_pos, 2 * lam - 1), axis=1)
            idx[small, 0] = first
            idx[small, 1] = second
        self._advance(classes, need)
        return cls, idx, mask

    def _advance(self, classes: np.ndarray, need: int):
        self.cursor[classes] += need
        wrapped = classes[self.cursor[classes] >= self.counts[classes]]
        for c in wrapped:  # one reshuffle per exhausted value ID, not per view
            s = self.starts[c]
            self.perm[s:s + self.counts[c]] = self.rng.permutation(self.counts[c])
            self.cursor[c] = 0

    def state(self) -> dict:
        return {"perm": self.perm.tolist(), "cursor": self.cursor.tolist()}

    def load_state(self, state: dict):
        self.perm = np.asarray(state["perm"], dtype=np.int64)
        self.cursor = np.asarray(state["cursor"], dtype=np.int64)


def _pick_classes(rng: np.random.Generator, n_classes: int, batch_value_ids: int | None) -> np.ndarray:
    if batch_value_ids is None or batch_value_ids >= n_classes:
        return np.arange(n_classes)
    return np.sort(rng.choice(n_classes, size=batch_value_ids, replace=False))


def multiview_infonce(a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """Symmetric InfoNCE between L2-normalised views a[i] and b[j]; targets: all j with labels[j] == labels[i]
    (uniform). With one pair per value ID this is the plain CLIP-style loss."""
    logits = logit_scale * a @ b.T
    same = (labels[:, None] == labels[None, :]).float()
    targets = same / same.sum(1, keepdim=True)
    loss_ab = -(targets * F.log_softmax(logits, dim=1)).sum(1).mean()
    loss_ba = -(targets * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return (loss_ab + loss_ba) / 2


def _resolved(value: T | None, name: str) -> T:
    """A setting that TrainConfig (its mode's defaults) or the trainer has filled in by now."""
    if value is None:
        raise ValueError(f"training setting {name!r} is not set for this mode")
    return value


def _lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up over warmup_frac of the steps, then linear decay to 0 (step is 0-based)."""
    lr = _resolved(cfg.lr, "lr")
    warm = max(1, int(round(cfg.warmup_frac * total)))
    if step < warm:
        return lr * (step + 1) / warm
    return lr * max(0.0, (total - step) / max(1, total - warm))


# ------------------------------------------------------------------------------------ head mode

def _base_embeddings(qas: pd.DataFrame, base, embeddings, progress, log,
                     backend: str | None = None,
                     trust_remote_code: bool = False) -> tuple[np.ndarray, object | None]:
    """Frozen base embeddings of the QAs: given (row-aligned), else encoded with the base encoder through the
    shared embedding cache (so `univar eval` and `univar build` with the base or the head embed nothing again)."""
    if embeddings is not None:
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or len(emb) != len(qas):
            raise ValueError(f"embeddings must be (n_qas={len(qas)}, d), got shape {emb.shape}")
        return emb, (None if isinstance(base, str) else base)
    if isinstance(base, str):
        from univar_core.encoders.resolve import load_encoder_cached, trust_option

        base = load_encoder_cached(base, backend=backend, **trust_option(trust_remote_code))
    log(f"encoding {len(qas)} QAs with {base.name}")
    result = base.encode_qas(qas["question"].tolist(), qas["answer"].tolist(), progress=progress)
    return np.asarray(result.embeddings, dtype=np.float32), base


def _train_head(qas, labels, cfg: TrainConfig, out_dir: Path, base, embeddings, resume, progress, log,
                embed_progress=None, backend=None) -> TrainResult:
    emb, base_obj = _base_embeddings(qas, base, embeddings, embed_progress, log, backend, cfg.trust_remote_code)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny MLP: thread hand-offs cost more than they save, badly so on shared cores
    try:
        return _train_head_on(emb, base_obj, qas, labels, cfg, out_dir, base, resume, progress, log)
    finally:
        torch.set_num_threads(threads)


def _train_head_on(emb, base_obj, qas, labels, cfg, out_dir, base, resume, progress, log) -> TrainResult:
    base_name = base if isinstance(base, str) else base.name
    base_hash = getattr(base_obj, "content_hash", None)
    cfg.base = base_name
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    x = F.normalize(torch.from_numpy(emb), dim=1)
    head = make_head(x.shape[1], cfg.hidden_dim, cfg.out_dim)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sampler = ViewSampler(labels, cfg.lam, rng)
    start = load_checkpoint(out_dir, head, opt, sampler, rng)["step"] if resume and has_checkpoint(out_dir) else 0
    if start:
        log(f"resuming head training from step {start}")
    return _run_loop(
        cfg, out_dir, start, head, opt, sampler, rng, progress, log, device="cpu",
        classes_per_step=cfg.batch_value_ids,
        step_loss=lambda classes: _head_step_loss(head, x, sampler, classes, cfg),
        finish=lambda metrics: save_head(out_dir, head, {**cfg.to_dict(), "in_dim": int(x.shape[1]),
                                                          "base_content_hash": base_hash,
                                                          "base_backend": getattr(base_obj, "backend", None)},
                                             metrics))


def _head_step_loss(head, x, sampler: ViewSampler, classes, cfg: TrainConfig):
    cls, idx, mask = sampler.sample(classes, _resolved(cfg.pairs_per_value_id, "pairs_per_value_id"))
    idx_t, mask_t = torch.from_numpy(idx), torch.from_numpy(mask).float()
    views = (x[idx_t] * mask_t[..., None]).sum(2) / mask_t.sum(2, keepdim=True)   # (B, 2, d): mean of k QAs
    out = F.normalize(head(F.normalize(views, dim=-1)), dim=-1)
    loss = multiview_infonce(out[:, 0], out[:, 1], torch.from_numpy(cls), _resolved(cfg.logit_scale, "logit_scale"))
    loss.backward()
    return loss.item(), int(mask.sum())


# ------------------------------------------------------------------------------------ full mode

def _autocast_dtype(device: str, precision: str):
    if not device.startswith("cuda") or precision == "fp32":
        return None
    if precision == "bf16" or (precision == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def _train_full(qas, labels, cfg: TrainConfig, out_dir: Path, base, device, resume, progress, log) -> TrainResult:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import batch_to_device

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    base_name = base if isinstance(base, str) else getattr(base, "name", str(base))
    cfg.base = base_name
    torch.manual_seed(cfg.seed)
    from univar_core.encoders.sentence_encoder import resolve_model_path

    model = SentenceTransformer(resolve_model_path(base_name), device=device,
                                trust_remote_code=cfg.trust_remote_code)
    if cfg.max_seq_length:
        model.max_seq_length = cfg.max_seq_length
    model.train()
    texts = [f"Q: {q} A: {a}" for q, a in zip(qas["question"], qas["answer"])]
    n_classes = int(labels.max()) + 1
    batch_pairs = _resolved(cfg.batch_pairs, "batch_pairs")
    per_step_classes = min(n_classes, cfg.batch_value_ids or n_classes, batch_pairs)
    pairs_per_class = max(1, batch_pairs // per_step_classes)
    if cfg.steps is None:  # epochs over the QAs: a pair uses (lam + 1) QAs on average
        cfg.steps = max(1, math.ceil(cfg.epochs * len(qas) / (per_step_classes * pairs_per_class * (cfg.lam + 1))))
    rng = np.random.default_rng(cfg.seed)
    sampler = ViewSampler(labels, cfg.lam, rng)
    opt = torch.optim.AdamW(model.parameters(), lr=_resolved(cfg.lr, "lr"), weight_decay=cfg.weight_decay)
    start = load_checkpoint(out_dir, model, opt, sampler, rng)["step"] if resume and has_checkpoint(out_dir) else 0
    if start:
        log(f"resuming full fine-tuning from step {start}")
    amp = _autocast_dtype(device, cfg.precision)
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    # None: the whole step in one pass on a GPU. On the CPU a step of the paper's 256 pairs would need
    # tens of GB of activations and the OS would kill the run without a word, so pass 32 at a time there
    # (the gradient is the same, gradcache.py).
    micro = cfg.micro_batch_pairs or (batch_pairs if dev.type == "cuda" else min(batch_pairs, CPU_MICRO_PAIRS))
    n_pairs = per_step_classes * pairs_per_class
    log(f"full fine-tuning {base_name} on {device} ({amp or 'fp32'}), {per_step_classes} value IDs x "
        f"{pairs_per_class} pairs per step, {min(micro, n_pairs)} pairs per forward pass")

    def embed(features):
        with torch.autocast(device_type="cuda", dtype=amp, enabled=amp is not None):
            emb = model(dict(features))["sentence_embedding"]   # a copy: the model adds keys to its input
        return F.normalize(emb.float(), dim=-1)

    def step_loss(classes):
        cls, idx, mask = sampler.sample(classes, pairs_per_class)
        flat = [t for p in range(len(cls)) for t in
                ("\n".join(texts[i] for i in idx[p, v][mask[p, v]]) for v in (0, 1))]   # a0, b0, a1, b1, ...
        chunks = [batch_to_device(model.preprocess(flat[s:s + 2 * micro]), dev)
                  for s in range(0, len(flat), 2 * micro)]
        labels_t = torch.from_numpy(cls).to(dev)

        def loss_fn(emb):
            pairs = emb.view(len(cls), 2, -1)
            return multiview_infonce(pairs[:, 0], pairs[:, 1], labels_t, cfg.logit_scale)

        try:   # all micro-batches share one loss: in-batch negatives are the whole batch's (gradcache.py)
            loss = backward_whole_batch(embed, chunks, loss_fn, scale=scaler.scale if scaler else None)
        except torch.cuda.OutOfMemoryError as err:
            raise torch.cuda.OutOfMemoryError(
                f"out of GPU memory with {min(micro, len(cls))} view pairs per forward pass: set "
                f"micro_batch_pairs (CLI --micro-batch-pairs) lower, e.g. {max(1, min(micro, len(cls)) // 4)}; "
                "the gradient stays that of the whole batch") from err
        return loss, int(mask.sum())

    def finish(metrics):
        model.eval()
        tmp = out_dir / "model.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save(str(tmp))
        for item in tmp.iterdir():  # the out_dir itself becomes the SentenceTransformer folder
            dest = out_dir / item.name
            if dest.is_dir():
                shutil.rmtree(dest)
            item.replace(dest)
        tmp.rmdir()
        write_json(out_dir / "train_config.json", {"config": cfg.to_dict(), "metrics": metrics})

    return _run_loop(cfg, out_dir, start, model, opt, sampler, rng, progress, log, device=device,
                     classes_per_step=per_step_classes, step_loss=step_loss, finish=finish, scaler=scaler)


# ------------------------------------------------------------------------------------ the loop

def _run_loop(cfg: TrainConfig, out_dir: Path, start: int, model, opt, sampler, rng, progress, log, *,
              device: str, classes_per_step: int | None, step_loss, finish, scaler=None) -> TrainResult:
    total = _resolved(cfg.steps, "steps")
    log_every = _resolved(cfg.log_every, "log_every")
    checkpoint_every = _resolved(cfg.checkpoint_every, "checkpoint_every")
    loss_log = LossLog(out_dir / LOG_NAME, start)
    status = {"state": "running", "mode": cfg.mode, "step": start, "total_steps": total, "pid": os.getpid(),
              "device": device, "config": cfg.to_dict()}
    write_json(out_dir / STATUS_NAME, status)
    losses, n_qas_seen, t0 = [], 0, time.time()
    try:
        for step in range(start, total):
            lr = _lr_at(step, total, cfg)
            for group in opt.param_groups:
                group["lr"] = lr
            torch.manual_seed(cfg.seed * 1_000_003 + step)  # dropout etc.: same on a resumed run
            opt.zero_grad(set_to_none=True)
            classes = _pick_classes(rng, sampler.n_classes, classes_per_step)
            loss, n_qas = step_loss(classes)
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            losses.append(loss)   # a float, or a device tensor read only when logged: no sync per step
            n_qas_seen += n_qas
            done = step + 1
            if done % log_every == 0 or done == total:
                loss_log.add(done, float(loss), lr, time.time() - t0)
                status["step"] = done
                write_json(out_dir / STATUS_NAME, status)
            if done % checkpoint_every == 0 and done < total:
                save_checkpoint(out_dir, done, model, opt, sampler, rng)
            if progress:
                progress(done, total)
        losses = [float(v) for v in losses]
        elapsed = time.time() - t0
        metrics = {"final_loss": losses[-1] if losses else None, "steps": total, "elapsed_s": round(elapsed, 2),
                   "qas_per_s": round(n_qas_seen / elapsed, 1) if elapsed > 0 else None}
        finish(metrics)
        save_checkpoint(out_dir, total, model, opt, sampler, rng)
    except BaseException as err:
        status.update(state="failed", error=f"{type(err).__name__}: {err}")
        write_json(out_dir / STATUS_NAME, status)
        raise
    finally:
        loss_log.close()
    status.update(state="done", step=total, metrics=metrics)
    write_json(out_dir / STATUS_NAME, status)
    return TrainResult(out_dir=out_dir, config=cfg, steps_done=total, losses=losses,
                       final_loss=losses[-1] if losses else float("nan"), elapsed_s=elapsed, device=device,
                       resumed_from=start, qas_per_s=metrics["qas_per_s"] or float("nan"), metrics=metrics)


def train_encoder(qas: pd.DataFrame, *, mode: str = "head", base=DEFAULT_ENCODER, lam: int = 5,
                  batch_value_ids: int | None = None, steps: int | None = None, lr: float | None = None,
                  logit_scale: float | None = None, out_dir, seed: int = 0, embeddings: np.ndarray | None = None,
                  resume: bool = False, device: str | None = None, progress=None, log=None,
                  embed_progress=None, backend: str | None = None, **config) -> TrainResult:
    """Train a value encoder on the QAs of `qas` (columns value_id, question, answer; pass only the
    training split). Returns when done; the encoder is saved in out_dir (head: head.json +
    head.safetensors, load with HeadEncoder.load or encoders.resolve.load_encoder; full: a sentence-transformers
    folder). Other TrainConfig fields (epochs, batch_pairs, micro_batch_pairs, pairs_per_value_id,
    warmup_frac, hidden_dim, out_dim, checkpoint_every, log_every, precision, max_seq_length, ...) go in
    **config. embeddings: head mode only, row-aligned frozen base embeddings (skips encoding).
    resume: continue from out_dir's last checkpoint (same config expected). Raises TrainingLockedError
    when another live run holds out_dir. Head mode with a base given by name embeds through the shared
    embedding cache on ``backend`` (default auto), reporting to ``embed_progress(done, total)``.
    """
    from univar_core.data.schema import QAInputError

    log = log or (lambda msg: None)
    cfg = TrainConfig(mode=mode, base=base if isinstance(base, str) else getattr(base, "name", str(base)),
                      lam=lam, batch_value_ids=batch_value_ids, steps=steps, lr=lr, logit_scale=logit_scale,
                      seed=seed, **config)
    need = ["value_id"] + (["question", "answer"] if (mode == "full" or embeddings is None) else [])
    for col in need:
        if col not in qas.columns:
            raise QAInputError(f"training needs a '{col}' column", column=col)
    value_ids, labels = np.unique(qas["value_id"].astype(str).to_numpy(), return_inverse=True)
    counts = np.bincount(labels)
    if len(value_ids) < 2:
        raise QAInputError("training needs at least 2 value IDs (the other value IDs are the negatives)",
                           column="value_id")
    if (counts < 2).any():
        few = [str(v) for v, c in zip(value_ids, counts) if c < 2]
        raise QAInputError(f"value IDs with fewer than 2 QAs cannot form two views: {', '.join(few[:10])}",
                           column="value_id")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(out_dir, log):
        if not resume and has_checkpoint(out_dir):
            shutil.rmtree(out_dir / CHECKPOINT_DIR)  # a fresh run must not mix with an old one's state
        if mode == "head":
            result = _train_head(qas, labels, cfg, out_dir, base, embeddings, resume, progress, log,
                                 embed_progress, backend)
        else:
            result = _train_full(qas, labels, cfg, out_dir, base, device, resume, progress, log)
    result.metrics["value_ids"] = [str(v) for v in value_ids]
    return result
