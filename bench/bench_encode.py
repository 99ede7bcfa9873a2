"""Embedding throughput: bare SentenceTransformer.encode vs Encoder.encode_qas on the same QAs.

    python bench/bench_encode.py [--data qa.csv] [--limit N] [--batch-size 64] [--repeats 1]

(a) bare: ``model.encode(texts, batch_size, normalize_embeddings=True)`` on the already formatted
    (and cut) ``Q: ... A: ...`` texts, i.e. the least work any pipeline has to do;
(b) ours: ``Encoder.encode_qas(questions, answers)`` with the cache disabled, which also formats
    and cuts the texts (one tokenisation pass) and hashes nothing;
(c) with --cache: ours again with a fresh cache folder (cold: writes shards) and then warm (all hits).
Wall and process CPU seconds are both printed: on a machine shared with other jobs the CPU seconds
of this process are the steadier measure of the work done. Repeats alternate (a)/(b) and keep the
best of each, so a burst of load from elsewhere does not land on one side only.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def default_data() -> Path:
    env = os.environ.get("UNIVAR_SHARED_DATA")
    base = Path(env) if env else REPO.parent / "shared" / "data"
    return base / "valuebench_qa" / "qa.csv"


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="QA csv with question, answer columns "
                        "(default: <shared data>/valuebench_qa/qa.csv)")
    parser.add_argument("--limit", type=int, default=None, help="first N QAs only")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--encoder", default="all-MiniLM-L6-v2")
    parser.add_argument("--repeats", type=int, default=1, help="alternate bare/ours this many times, keep the best")
    parser.add_argument("--cache", action="store_true", help="also time a cold and a warm cached run")
    args = parser.parse_args()

    import torch

    from univar_core.encoders.sentence_encoder import SentenceEncoder as Encoder

    path = args.data or default_data()
    if not path.is_file():
        sys.exit(f"no data at {path}: pass --data PATH (a csv with question and answer columns)")
    table = pd.read_csv(path, usecols=["question", "answer"], dtype=str, keep_default_na=False)
    if args.limit:
        table = table.head(args.limit)
    questions, answers = table["question"].tolist(), table["answer"].tolist()
    n = len(table)

    encoder, load_wall, _ = timed(lambda: Encoder(args.encoder, batch_size=args.batch_size, cache_dir=None))
    (texts, n_cut), fmt_wall, fmt_cpu = timed(lambda: encoder.qa_texts(questions, answers))
    print(f"data: {path} ({n} QAs, {n_cut} cut to {encoder.max_tokens} tokens)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"device {encoder.device}, precision {encoder.precision}; encoder {encoder.name} "
          f"(load {load_wall:.1f} s); batch size {args.batch_size}")
    print(f"qa_texts (format + cut): {fmt_wall:.2f} s wall, {fmt_cpu:.2f} s CPU")

    best = {"bare": (np.inf, np.inf), "ours": (np.inf, np.inf)}
    reference = None
    for rep in range(args.repeats):
        order = ("bare", "ours") if rep % 2 == 0 else ("ours", "bare")
        for which in order:
            if which == "bare":
                out, wall, cpu = timed(lambda: encoder.model.encode(
                    texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True))
            else:
                out, wall, cpu = timed(lambda: encoder.encode_qas(questions, answers).embeddings)
            reference = out if reference is None else reference
            max_diff = float(np.abs(out - reference).max())
            print(f"  run {rep + 1} {which}: {wall:.1f} s wall ({n / wall:.1f} texts/s), {cpu:.1f} s CPU, "
                  f"max |diff| vs first run {max_diff:.1e}")
            best[which] = (min(best[which][0], wall), min(best[which][1], cpu))

    (bare_wall, bare_cpu), (ours_wall, ours_cpu) = best["bare"], best["ours"]
    print(f"(a) bare SentenceTransformer.encode: {n / bare_wall:.1f} texts/s "
          f"({bare_wall:.1f} s wall, {bare_cpu:.1f} s CPU)")
    print(f"(b) Encoder.encode_qas, no cache:    {n / ours_wall:.1f} texts/s "
          f"({ours_wall:.1f} s wall, {ours_cpu:.1f} s CPU)")
    print(f"overhead: {100 * (ours_wall / bare_wall - 1):+.1f} % wall, {100 * (ours_cpu / bare_cpu - 1):+.1f} % CPU")

    if args.cache:
        with tempfile.TemporaryDirectory() as tmp:
            cached = Encoder(args.encoder, batch_size=args.batch_size, cache_dir=tmp)
            cold, cold_wall, _ = timed(lambda: cached.encode_qas(questions, answers))
            warm, warm_wall, _ = timed(lambda: cached.encode_qas(questions, answers))
            assert warm.n_from_cache == n and np.array_equal(cold.embeddings, warm.embeddings)
            print(f"(c) cold cache (writes shards): {n / cold_wall:.1f} texts/s ({cold_wall:.1f} s); "
                  f"warm cache (all {warm.n_from_cache} hits): {warm_wall:.2f} s ({n / warm_wall:.0f} texts/s)")


if __name__ == "__main__":
    main()
