"""End-to-end build time of a value map, stage by stage, against the bare model's encode time.

    python bench/bench_build.py                      # the full ValueBench corpus (11,928 QAs)
    python bench/bench_build.py --limit 600          # a quick smoke run

Stages come from build.build_map's progress callbacks and the manifest's timings: read+validate,
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
    """Pipeline progress callback: (wall, CPU) seconds at each stage's first report; a stage lasts
    until the next stage starts (the last one until `stop`)."""

    def __init__(self) -> None:
        self.marks: dict[str, tuple[float, float]] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.marks.setdefault(stage, (time.perf_counter(), time.process_time()))

    def stop(self) -> None:
        self.marks["end"] = (time.perf_counter(), time.process_time())

    def durations(self, start: tuple[float, float]) -> dict[str, tuple[float, float]]:
        """Stage -> (wall s, CPU s); time before the first stage (read + validate) goes to 'read+validate'."""
        names = list(self.marks)
        points = [start] + [self.marks[n] for n in names]
        labels = ["read+validate"] + names[:-1]
        return {label: (b[0] - a[0], b[1] - a[1]) for label, a, b in zip(labels, points, points[1:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="QA file (default: shared valuebench_qa/qa.csv)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N rows")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    import pandas as pd
    import torch

    from univar_core.data import readers
    from univar_core.encoders.sentence_encoder import SentenceEncoder as Encoder
    from univar_core.maps import build

    data = args.data
    if data is None:
        shared = readers.shared_data_dir()
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
    loaded = readers.read_qas(source)
    texts, _ = encoder.qa_texts(loaded.table["question"].tolist(), loaded.table["answer"].tolist())
    t, c = time.perf_counter(), time.process_time()
    encoder.model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True)
    bare = (time.perf_counter() - t, time.process_time() - c)
    # printed at once: on a busy machine a long run still leaves this figure if stopped later
    print(f"bare SentenceTransformer.encode: {bare[0]:.1f} s wall, {bare[1]:.1f} s CPU "
          f"({len(texts) / bare[0]:.1f} QAs/s)", flush=True)

    clock = StageClock()
    start = (time.perf_counter(), time.process_time())
    vmap, report = build.build_map(source, "bench", encoder=encoder, data_dir=work / "maps", progress=clock)
    clock.stop()
    stages = clock.durations(start)
    stages["UMAP"] = stages.pop("project")
    total = tuple(sum(v[i] for v in stages.values()) for i in (0, 1))
    non_umap = tuple(total[i] - stages["UMAP"][i] for i in (0, 1))

    n = len(vmap.qas)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"torch {torch.__version__} threads={torch.get_num_threads()}, python {platform.python_version()}")
    print(f"input: {data} ({report.n_input_rows:,} rows, {n:,} QAs accepted), batch {args.batch_size}")
    print(f"encoder load: {load_s:.1f} s")
    print(f"{'stage':<16}{'wall s':>9}{'CPU s':>9}")
    print(f"{'bare encode':<16}{bare[0]:9.1f}{bare[1]:9.1f}")
    for name in ("read+validate", "embed", "UMAP", "cluster", "store"):
        print(f"{name:<16}{stages[name][0]:9.1f}{stages[name][1]:9.1f}")
    print(f"{'pipeline total':<16}{total[0]:9.1f}{total[1]:9.1f}")
    print(f"pipeline without UMAP: {non_umap[0]:.1f} s wall, {non_umap[1]:.1f} s CPU -> overhead on top of "
          f"the bare encode {100 * (non_umap[0] / bare[0] - 1):+.1f}% wall, "
          f"{100 * (non_umap[1] / bare[1] - 1):+.1f}% CPU (target < 10%)")
    print(f"UMAP: {stages['UMAP'][0]:.1f} s wall ({100 * stages['UMAP'][0] / bare[0]:.0f}% of the bare encode; "
          f"includes numba's first-call compile), clusters: {int((vmap.qas['cluster'].unique() >= 0).sum())}")


if __name__ == "__main__":
    main()
