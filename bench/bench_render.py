"""Benchmark: server-side render time of the Value Map page on a large stored map.

Writes a synthetic map of N QAs (default 100,000; 127 value IDs = the paper's count; random unit
vectors, blob-shaped 2-D coordinates) with store.save_map, then runs pages/value_map.py in
Streamlit's AppTest, which executes the page script exactly as the server does (map load, hover
texts, figure build and its serialisation into the page):

- cold: the first session in a fresh process (loads the map and builds the cached hover texts);
- warm: a new browser session on the already running server (process caches are warm), i.e. what
  a second user, or the same user after a reload, waits for before the chart is sent.

The browser's own WebGL drawing time is not included.

    python bench/bench_render.py [--n 100000] [--repeats 3] [--view grouped]

--view grouped times the grouped view instead (one point per value ID: the centroid distance matrix
over all QAs and its MDS layout), set in session state before the first run as a user's choice is.
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


def synthetic_map(n: int, data_dir: Path, seed: int = 0) -> Path:
    from univar_core.data import schema
    from univar_core.maps import store

    rng = np.random.default_rng(seed)
    models = [f"model-{i:02d}" for i in range(25)]
    langs = ["eng", "ind", "zho", "jpn", "kor", "fra"]
    value_ids = [f"{m}${lang}" for m in models for lang in langs][:127]
    vid = rng.integers(0, len(value_ids), n)
    model = [value_ids[v].split("$")[0] for v in vid]
    lang = [value_ids[v].split("$")[1] for v in vid]
    qid = rng.integers(0, n // 20, n)
    centres = rng.normal(0, 10, (len(value_ids), 2))
    xy = (centres[vid] + rng.normal(0, 1.5, (n, 2))).astype(np.float32)
    emb = rng.normal(size=(n, 384)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    answer = "I think one should weigh duty to others against one's own wishes, and " \
             "choose what keeps faith with both where that is possible. " * 2
    qas = pd.DataFrame({
        "qa_id": [f"bench:{i}" for i in range(n)], "dataset": "bench (synthetic)",
        "model": model, "lang": lang, "value_id": [value_ids[v] for v in vid],
        "question_id": [f"q{q}" for q in qid],
        "question": [f"Should I put my family's wishes before my own? (variant {q})" for q in qid],
        "answer": answer, "x": xy[:, 0], "y": xy[:, 1],
        "cluster": vid % 30, "cluster_label": [f"cluster {c}" for c in vid % 30], "layer": "base",
    })
    for col in schema.CORE_COLUMNS:
        qas[col] = qas[col].astype(str)
    vmap = store.ValueMap(name="bench-render", qas=qas, embeddings=emb,
                          manifest={"encoder": {"name": "random (benchmark)", "content_hash": "none",
                                                "dim": 384}}, path=None)
    return store.save_map(vmap, data_dir=data_dir)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--view", choices=["qas", "grouped"], default="qas")
    args = ap.parse_args()

    from streamlit.testing.v1 import AppTest

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["UNIVAR_DATA_DIR"] = tmp
        t0 = time.perf_counter()
        path = synthetic_map(args.n, Path(tmp))
        print(f"wrote a {args.n:,}-QA map in {time.perf_counter() - t0:.1f} s")

        sys.path.insert(0, str(REPO))
        from pages import _shared

        key = (str(path), _shared.manifest_checksum(path))

        def render() -> float:
            at = AppTest.from_file(str(REPO / "pages" / "value_map.py"), default_timeout=600)
            at.session_state[_shared.CURRENT_MAP_KEY] = key
            if args.view == "grouped":
                at.session_state["map_view"] = "Value IDs (grouped)"
            start = time.perf_counter()
            at.run()
            elapsed = time.perf_counter() - start
            if at.exception:
                raise SystemExit(f"page failed: {[e.value for e in at.exception]}")
            if not at.get("plotly_chart"):
                raise SystemExit("page drew no chart")
            return elapsed

        cold = render()
        warm = [render() for _ in range(args.repeats)]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    what = "grouped view (centroid distance, MDS)" if args.view == "grouped" else "coloured by language"
    print(f"Value Map page, {args.n:,} QAs, 127 value IDs, {what}")
    print(f"  cold (first session in a fresh process): {cold:.2f} s")
    print(f"  warm (new session, server caches warm):  best {min(warm):.2f} s, "
          f"median {float(np.median(warm)):.2f} s over {len(warm)}")


if __name__ == "__main__":
    main()
