"""End-to-end build time of a value map, stage by stage, against the bare model's encode time.

    python bench/bench_build.py                      # the full ValueBench corpus (11,928 QAs)
    python bench/bench_build.py --limit 600          # a quick smoke run

Stages come from pipeline.build_map's progress callbacks and the manifest's timings: read+validate,
embed (through encode.Encoder with a cold on-disk cache, as a user's first build), UMAP, cluster,
store. The baseline is SentenceTransformer.encode on exactly the texts the pipeline embeds (same
model object, same batch size, normalised). Overhead = (read+validate + embed + cluster + store) /
bare encode - 1; UMAP is reported on its own (it is the projection, not overhead). The bare encode
runs first, so the pipeline's embed does not profit from a warmer process.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))


class StageClock:
    """Pipeline progress callback: wall time from each stage's first report to its last."""

    def __init__(self) -> None:
        self.start: dict[str, float] = {}
        self.end: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        self.start.setdefault(stage, now)
        self.end[stage] = now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="QA file (default: shared valuebench_qa/qa.csv)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N rows")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    import pandas as pd
    import torch

    from univar_core import io, pipeline
    from univar_core.encode import Encoder

    data = args.data
    if data is None:
        shared = io.shared_data_dir()
        if shared is None:
            sys.exit("no shared data: pass --data or set UNIVAR_SHARED_DATA")
        data = shared / "valuebench_qa" / "qa.csv"

    work = Path(tempfile.mkdtemp(prefix="univar-bench-"))
    source: object = data
    if args.limit:
        source = work / "subset.csv"
        pd.read_csv(data).iloc[: args.limit].to_csv(source, index=False)

    t = time.perf_counter()
    encoder = Encoder(batch_size=args.batch_size, cache_dir=work / "cache")  # cold cache, as a first build
    load_s = time.perf_counter() - t

    # Baseline: the bare model on the very texts the pipeline will embed.
    loaded = io.read_qas(source)
    texts, _ = encoder.qa_texts(loaded.table["question"].tolist(), loaded.table["answer"].tolist())
    t = time.perf_counter()
    encoder.model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True)
    bare_s = time.perf_counter() - t
    # printed at once: on a busy machine a long run still leaves this figure if stopped later
    print(f"bare SentenceTransformer.encode: {bare_s:.1f} s ({len(texts) / bare_s:.0f} QAs/s)", flush=True)

    clock = StageClock()
    t = time.perf_counter()
    vmap, report = pipeline.build_map(source, "bench", encoder=encoder, data_dir=work / "maps", progress=clock)
    total_s = time.perf_counter() - t
    timings = vmap.manifest["timings_s"]
    store_s = clock.end["store"] - clock.start["store"]
    stages = {
        "read+validate": timings["read_validate"],
        "embed": timings["embed"],
        "UMAP": timings["project"],
        "cluster": timings["cluster"],
        "store": store_s,
    }
    non_umap = stages["read+validate"] + stages["embed"] + stages["cluster"] + stages["store"]

    n = len(vmap.qas)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"torch {torch.__version__} threads={torch.get_num_threads()}, python {platform.python_version()}")
    print(f"input: {data} ({report.n_input_rows:,} rows, {n:,} QAs accepted), batch {args.batch_size}")
    print(f"encoder load: {load_s:.1f} s")
    print("pipeline stages:")
    for name, seconds in stages.items():
        print(f"  {name:<14} {seconds:8.1f} s")
    print(f"  {'total':<14} {total_s:8.1f} s")
    print(f"pipeline without UMAP: {non_umap:.1f} s -> overhead {100 * (non_umap / bare_s - 1):+.1f}% "
          f"on top of the bare encode (target < 10%)")
    print(f"UMAP: {stages['UMAP']:.1f} s ({100 * stages['UMAP'] / bare_s:.0f}% of the bare encode), "
          f"clusters: {int((vmap.qas['cluster'].unique() >= 0).sum())}")


if __name__ == "__main__":
    main()
