"""Answers per second of `univar collect`'s endpoint back end at a few concurrency levels, against the
local chat-completions test server (tests/chat_server.py) backed by a tiny random causal LM.

    python bench/bench_collect.py [--questions 48] [--latency-ms 0 200] [--concurrency 1 4 16]

Two servers: latency 0 is the tiny model alone, one generation at a time (the server serialises them,
as a single-GPU server without batching would), so it measures the client's own overhead per answer
(openai client, HTTP, journal, bookkeeping); latency L adds L ms of waiting per request outside the
model, standing in for a real server's generation time on hardware that serves requests side by side
(vLLM, TGI batch them), where concurrency is what buys throughput. Each run starts from an empty
journal; the numbers are answers completed per wall-clock second of `run_collection`.
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
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", type=int, default=48)
    ap.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 200.0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--max-tokens", type=int, default=16)
    args = ap.parse_args()

    import torch

    from univar_core.collect.backends import GenerationSettings
    from univar_core.collect.bank import load_bank
    from univar_core.collect.chat_endpoint import ChatEndpoint
    from univar_core.collect.local_model import LocalCausalLM
    from univar_core.collect.run import run_collection

    from chat_server import ChatServer
    from tiny_causal_lm import build_tiny_causal_lm

    torch.set_num_threads(1)
    bank = load_bank()
    settings = GenerationSettings(max_tokens=args.max_tokens)
    with tempfile.TemporaryDirectory() as tmp:
        lm = LocalCausalLM(str(build_tiny_causal_lm(Path(tmp) / "lm")), model="tiny-llama", batch_size=1)
        print(f"# {platform.node()} · {os.cpu_count()} CPUs · torch {torch.__version__} · "
              f"{args.questions} questions, max_tokens {args.max_tokens}")
        print("| server latency | concurrency | answers | seconds | answers/s | max in flight |")
        print("|---|---|---|---|---|---|")
        for latency in args.latency_ms:
            for conc in args.concurrency:
                with ChatServer(lm, delay_s=latency / 1000, max_tokens_cap=args.max_tokens) as server:
                    backend = ChatEndpoint(server.base_url, server.model, concurrency=conc)
                    out = Path(tmp) / f"qa-{latency:g}-{conc}.csv"
                    t0 = time.perf_counter()
                    result = run_collection(backend, bank, langs=["eng"], out=out, n_questions=args.questions,
                                            settings=settings)
                    dt = time.perf_counter() - t0
                    backend.close()
                    print(f"| {latency:g} ms | {conc} | {len(result.qas)} | {dt:.2f} | {len(result.qas) / dt:.1f} | "
                          f"{server.max_in_flight} |", flush=True)


if __name__ == "__main__":
    main()
