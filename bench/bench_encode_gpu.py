"""GPU encoding throughput: the pre-tokenising feed and Ray Data against the bare forward on the same batches.

    python bench/bench_encode_gpu.py [--encoder DIR] [--batch-size 512] [--limit N] [--repeats 2] [--no-ray]
    python bench/bench_encode_gpu.py --device cpu --limit 300 --batch-size 32     # checks the script only

On one CUDA device, texts/s of
(a) bare forward: the same length-sorted batches, tokenised and moved to the device beforehand; only the
    model's forward pass and the normalisation are timed (the most any pipeline can reach);
(b) plain ``SentenceTransformer.encode`` (tokenises each batch in the main thread);
(c) ours: ``SentenceEncoder.encode`` (cache off) with the pre-tokenising feed (encoders.pretokenise:
    batches tokenised ahead in worker processes, pinned memory, non-blocking copies); target >= 85% of (a);
(d) Ray Data: ``encoders.ray_encode`` with one encoder actor per GPU of a local cluster (the actors' start-up
    and model load included, and without it: from the first vectors to the last).
Texts: ValueBench QAs formatted and cut as a build does ($UNIVAR_SHARED_DATA, or the copy bench/gpu_kit.sh
packs), else synthetic. Model: --encoder, else a random MiniLM-shaped one (bench/minilm_shaped.py).
Without CUDA it says so and measures nothing (exit 0), unless --device cpu.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load_texts(encoder, limit: int | None) -> list[str]:
    import pandas as pd

    shared = Path(os.environ.get("UNIVAR_SHARED_DATA") or REPO.parent / "shared" / "data")
    path = shared / "valuebench_qa" / "qa.csv"
    if path.is_file():
        table = pd.read_csv(path, usecols=["question", "answer"], dtype=str, keep_default_na=False)
    else:
        print(f"note: {path} not found; synthetic texts")
        words = "value honest family freedom duty money people help should answer question life".split()
        table = pd.DataFrame({"question": [" ".join(words[(i + j) % 12] for j in range(20)) + "?"
                                           for i in range(12000)],
                              "answer": [" ".join(words[(i * j) % 12] for j in range(10 + i % 90))
                                         for i in range(12000)]})
    if limit:
        table = table.head(limit)
    return encoder.qa_texts(table["question"].tolist(), table["answer"].tolist())[0]


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str) -> tuple[object, float]:
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0


def bare_forward(encoder, texts: list[str]):
    """The encoder's own batches (longest first, its batch size), tokenised and on the device beforehand."""
    import torch
    from sentence_transformers.util import batch_to_device

    order = np.argsort([-len(t) for t in texts], kind="stable")
    batches = [order[s:s + encoder.batch_size] for s in range(0, len(order), encoder.batch_size)]
    device = torch.device(encoder.device)
    ready = [batch_to_device(encoder.model.preprocess([texts[i] for i in rows]), device) for rows in batches]

    def run():
        with torch.inference_mode():
            return [torch.nn.functional.normalize(encoder.model(f)["sentence_embedding"].float(), dim=1)
                    for f in ready]
    return run


def ray_rate(encoder, texts: list[str]) -> tuple[float, float, int, str]:
    """(texts/s with the actors' start-up, texts/s between the first and the last block back, actors used,
    the pool)."""
    import ray

    from univar_core.encoders.ray_encode import RayOptions, connect, on_ray

    ray.init(include_dashboard=False)
    try:
        pool = connect(RayOptions())
        remote, engine = on_ray(encoder, pool)
        marks: list[tuple[float, int]] = []  # (time, texts done) at each block's return
        t0 = time.perf_counter()
        remote.encode(texts, progress=lambda done, total: marks.append((time.perf_counter(), done)))
        wall = time.perf_counter() - t0
        (t_first, n_first), (t_last, n_last) = marks[0], marks[-1]
        steady = (n_last - n_first) / (t_last - t_first) if t_last > t_first else float("nan")
        return len(texts) / wall, steady, len(engine.workers_seen), pool.describe()
    finally:
        ray.shutdown()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default=None, help="sentence-transformers folder (default: random MiniLM-shaped)")
    ap.add_argument("--tokenizer", type=Path, default=None, help="tokenizer for the built model (gpu_kit.sh packs it)")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--tokenise-workers", type=int, default=None, help="default: the encoder's (GPU: up to 4)")
    ap.add_argument("--limit", type=int, default=None, help="first N QAs only")
    ap.add_argument("--repeats", type=int, default=2, help="alternate the sides this many times, keep the best")
    ap.add_argument("--no-ray", action="store_true", help="skip (d)")
    args = ap.parse_args(argv)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("NO GPU: this machine has no CUDA device, so nothing was measured. The figures need one CUDA GPU "
              "(see docs/benchmarks.md for the command); --device cpu only checks this script.")
        return
    from univar_core.encoders.sentence_encoder import SentenceEncoder

    with tempfile.TemporaryDirectory() as tmp:
        model = args.encoder
        if model is None:
            from minilm_shaped import build_minilm_shaped

            model = str(build_minilm_shaped(Path(tmp) / "minilm", args.tokenizer))
        workers = args.tokenise_workers if args.tokenise_workers is not None else (None if args.device == "cuda"
                                                                                  else 2)
        encoder = SentenceEncoder(model, device=args.device, batch_size=args.batch_size, cache_dir=None,
                                  backend="torch", tokenise_workers=workers)
        texts = load_texts(encoder, args.limit)
        n = len(texts)
        name = torch.cuda.get_device_name(0) if args.device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
        print(f"device: {name}; torch {torch.__version__}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}")
        print(f"encoder {encoder.name}, {encoder.precision}, batch {encoder.batch_size}, "
              f"{encoder.tokenise_workers} tokenising processes; {n:,} texts")

        bare_run = bare_forward(encoder, texts)
        sides = {
            "bare": lambda: bare_run(),
            "st": lambda: encoder.model.encode(texts, batch_size=encoder.batch_size, normalize_embeddings=True),
            "ours": lambda: encoder.encode(texts),
        }
        best = {k: 0.0 for k in sides}
        ours_out = st_out = None
        cpu0 = time.process_time()
        bare_run()  # warm-up: kernels, allocator
        for rep in range(args.repeats):
            for side in (list(sides) if rep % 2 == 0 else list(sides)[::-1]):
                out, wall = timed(sides[side], encoder.device)
                best[side] = max(best[side], n / wall)
                print(f"  repeat {rep + 1} {side}: {n / wall:,.0f} texts/s ({wall:.2f} s)")
                if side == "ours":
                    ours_out = out
                elif side == "st":
                    st_out = out
        diff = float(np.abs(np.asarray(ours_out) - np.asarray(st_out)).max())
        print(f"(a) bare forward, same batches pre-tokenised on the device: {best['bare']:,.0f} texts/s")
        print(f"(b) SentenceTransformer.encode:                          {best['st']:,.0f} texts/s "
              f"({best['st'] / best['bare']:.0%} of bare)")
        print(f"(c) SentenceEncoder.encode, pre-tokenising feed:         {best['ours']:,.0f} texts/s "
              f"({best['ours'] / best['bare']:.0%} of bare; target >= 85%); max |diff| vs (b) {diff:.1e}")
        if not args.no_ray:
            try:
                import ray  # noqa: F401
            except ImportError:
                print("(d) Ray Data: ray is not installed here; skipped")
            else:
                with_start, steady, actors, pool = ray_rate(encoder, texts)
                print(f"(d) Ray Data over {pool}; {actors} used: {with_start:,.0f} texts/s with the actors' "
                      f"start-up, {steady:,.0f} texts/s between the first and the last block back")
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(f"process CPU {time.process_time() - cpu0:.1f} s; peak RSS {usage.ru_maxrss / 1024:.0f} MiB; "
              f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
