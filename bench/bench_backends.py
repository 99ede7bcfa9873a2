"""Encoder backends on all of ValueBench: speed, closeness to fp32 PyTorch, and value identification.

For each backend (torch fp32, ONNX Runtime fp32, ONNX Runtime int8) the 11,928 ValueBench QAs are embedded
with `Encoder.encode_qas` (same text format and question-first cut; no embedding cache), then scored:
mean / min cosine to the torch vectors, and k-NN (k=50, cosine) balanced accuracy on the questionnaire-
disjoint split that docs/results.md uses (split_qas by questionnaire, test 0.3, seed 0). The `auto` guard
needs int8 within 1 point of fp32 here; this script checks it and prints the rows for docs/results.md.

    python bench/bench_backends.py            # about 6 minutes on 2 idle cores
    python bench/bench_backends.py --limit 2000   # a quick look on the first 2,000 QAs
    python bench/bench_backends.py --backends onnx-int8 --reference vb_torch.npy
        # torch vectors already made (row-aligned with qa.csv, e.g. bench/run_value_id.py's cache): not re-embedded
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N QAs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx", "onnx-int8"])
    parser.add_argument("--reference", type=Path, default=None,
                        help="fp32 torch vectors of the same QAs (.npy, row-aligned with qa.csv) instead of embedding")
    args = parser.parse_args()

    from univar_core.analysis.identification import evaluate_features
    from univar_core.data.readers import read_qas, shared_data_dir
    from univar_core.data.splits import split_qas
    from univar_core.encoders.sentence_encoder import Encoder

    data = shared_data_dir()
    if data is None:
        sys.exit("real data not found: set UNIVAR_SHARED_DATA or place it at ../shared/data")
    qas = read_qas(data / "valuebench_qa" / "qa.csv").table
    if args.limit:
        qas = qas.head(args.limit).reset_index(drop=True)
    split = split_qas(qas, by="questionnaire", test_fraction=0.3, seed=0)
    y = qas["value_id"].astype(str).to_numpy()
    print(f"{len(qas):,} QAs, {qas['value_id'].nunique()} value IDs; {split.summary()}; "
          f"load {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)", flush=True)

    rows, reference = [], None
    if args.reference is not None:
        reference = np.load(args.reference, allow_pickle=False)
        if reference.shape[0] != len(qas):
            sys.exit(f"{args.reference}: {reference.shape[0]} rows for {len(qas)} QAs")
        knn = evaluate_features(reference[split.train], y[split.train], reference[split.test], y[split.test], k=50,
                                probe=False)["knn_bal_acc"]
        rows.append(("torch (reference vectors)", float("nan"), float("nan"), 1.0, 1.0, knn))
        print(f"torch reference {args.reference.name}: k-NN balanced accuracy {knn:.4f}", flush=True)
    for backend in args.backends:
        enc = Encoder(backend=backend, batch_size=args.batch_size, cache_dir=None)
        t0 = time.perf_counter()
        emb = enc.encode_qas(qas["question"].tolist(), qas["answer"].tolist()).embeddings
        wall = time.perf_counter() - t0
        reference = emb if reference is None else reference
        cos = np.sum(emb.astype(np.float64) * reference, axis=1)
        knn = evaluate_features(emb[split.train], y[split.train], emb[split.test], y[split.test], k=50,
                                probe=False)["knn_bal_acc"]
        rows.append((backend, wall, len(qas) / wall, float(cos.mean()), float(cos.min()), knn))
        print(f"{backend}: {wall:.0f} s ({len(qas) / wall:.0f} QAs/s), mean cosine to torch {cos.mean():.4f} "
              f"(min {cos.min():.4f}), k-NN balanced accuracy {knn:.4f}; load {os.getloadavg()[0]:.1f}", flush=True)

    print("\n| backend | embed wall (s) | QAs/s | speed vs torch | mean cosine to torch | min cosine | "
          "k-NN bal. acc. | vs torch (points) |\n|---|---|---|---|---|---|---|---|")
    base_wall, base_knn = rows[0][1], rows[0][5]
    for backend, wall, rate, mean, low, knn in rows:
        speed = "" if wall != wall or base_wall != base_wall else f"{base_wall / wall:.2f}x"  # nan: not timed
        timing = "| |" if wall != wall else f"| {wall:.0f} | {rate:.0f} |"
        print(f"| {backend} {timing} {speed} | {mean:.4f} | {low:.4f} | {knn:.3f} | {100 * (knn - base_knn):+.1f} |")


if __name__ == "__main__":
    main()
