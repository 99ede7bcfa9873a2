"""Benchmark: the whole path at the paper's scale (issue 15), on a synthetic corpus.

For each size (default 100k, 300k, 1M QAs; 375 value IDs = 15 models x 25 languages, 384-d
precomputed float32 vectors with planted structure, short texts; see univar_core/data/synthetic.py)
the corpus is written once to .cache/bench_scale/ (gitignored) and reused. Then, in fresh processes:

- build: `univar build corpus.parquet --encoder-name synthetic-384d` (read+validate, landmark UMAP fit,
  kNN placement, cluster, store; stage times from the manifest) with the process's peak RSS;
- load: store.load_map as the app does (verify="quick") and its peak RSS.

    python bench/bench_scale.py [--sizes 100000 300000 1000000] [--landmarks 50000]
    python bench/bench_scale.py --trust [--trust-n 50000] [--trust-landmarks 5000]
    python bench/bench_scale.py --distances 1000000
    python bench/bench_scale.py --trust-proxy 1000000 [--landmarks 50000] [--trust-n 50000]

- the Value Map page (AppTest, as the server runs it): first render cold / warm, a box selection, a
  zoom and a pan round trip, the chart message size, the process's peak RSS; then the 375 x 375
  value-ID distance matrix over all QAs: centroid, and energy on 100 QAs per value ID.

--distances N: the 375 x 375 value-ID distance matrices (centroid; energy and MMD on 100 QAs per value
ID) over an N-QA synthetic corpus held in memory, with wall and CPU seconds.

--trust measures what the landmark shortcut costs: on a 50k-point subset, trustworthiness (k=15) of
a landmark map (UMAP on --trust-landmarks stratified landmarks, the rest placed by kNN) against a full
UMAP of the same 50k points, both against the original vectors.

The machine's load (uptime) is printed with the figures: other work on the machine slows them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CACHE = REPO / ".cache" / "bench_scale"


def corpus(n: int) -> Path:
    from univar_core.data.synthetic import write_synthetic_parquet

    path = CACHE / f"synthetic_{n}.parquet"
    if not path.exists():
        t0 = time.perf_counter()
        write_synthetic_parquet(path, n)
        print(f"wrote {path} ({path.stat().st_size / 2**20:,.0f} MB) in {time.perf_counter() - t0:.0f} s",
              flush=True)
    return path


def _run(cmd: list[str], env: dict) -> tuple[float, float, str, float]:
    """(wall s, peak RSS GiB, stdout+stderr tail, CPU s) of one child process. CPU seconds are what
    a shared machine does not inflate the way it inflates wall time."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own usage (peak RSS, CPU)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return wall, usage.ru_maxrss / 2**20, out[-6000:], usage.ru_utime + usage.ru_stime


_LOAD = """
import sys, time
t0 = time.perf_counter()
from univar_core.maps import store
vmap = store.load_map(sys.argv[1], data_dir=sys.argv[2], verify="quick")
print(f"LOAD {time.perf_counter() - t0:.2f} {len(vmap.qas)}")
"""


_RENDER = """
import json, os, resource, sys, time
from pathlib import Path
from streamlit.testing.v1 import AppTest
from pages import _session, _shared
path = Path(sys.argv[1])
key = (str(path), _shared.manifest_checksum(path))

def session(**state):
    at = AppTest.from_file("pages/value_map.py", default_timeout=900)
    at.session_state[_session.CURRENT_MAP_KEY] = key
    for k, v in state.items():
        at.session_state[k] = v
    return at

CPU = {}

def timed_run(at, name=None):
    # wall seconds; the process's CPU seconds go to CPU[name] (a shared machine inflates wall time)
    t0, c0 = time.perf_counter(), time.process_time()
    at.run()
    if at.exception:
        raise SystemExit([e.value for e in at.exception])
    if name:
        CPU[name] = round(time.process_time() - c0, 2)
    return time.perf_counter() - t0

cold = timed_run(session(), 'first_render_cold_cpu_s')
at = session()
warm = timed_run(at, 'first_render_warm_cpu_s')
spec = at.get("plotly_chart")[0].proto.spec
kind = json.loads(spec)["data"][0]["type"]
# a box selection over the density image: resolved against every QA, listed (round trip)
at.session_state["map_last_selection"] = {"box": [{"x": [0.0, 1.0], "y": [0.0, 1.0]}], "points": [], "lasso": []}
at.session_state["map_selection_pending"] = True
select = timed_run(at, 'box_select_cpu_s')
n_selected = len(at.session_state["map_selection"])
# zoom / pan: a new view box re-rendered on the server, sized to hold 90 % of MAX_DRAWN_POINTS QAs (an image
# on a big map; the per-view work is then the same at any map size); then one holding 90 % of MAX_SVG_POINTS,
# drawn as points
import numpy as np
import pandas as pd
from univar_core.figures import density
xy = pd.read_parquet(path / "qas.parquet", columns=["x", "y"])
x, y = xy["x"].to_numpy(), xy["y"].to_numpy()
del xy
cx, cy = float(np.median(x)), float(np.median(y))


def half_width_holding(want: int) -> float:
    lo, hi = 0.0, float(max(np.ptp(x), np.ptp(y)))
    for _ in range(40):
        h = (lo + hi) / 2
        n_in = int(density.in_view(x, y, (cx - h, cx + h, cy - h, cy + h)).sum())
        lo, hi = (h, hi) if n_in < want else (lo, h)
    return lo


h = half_width_holding(int(0.9 * density.MAX_DRAWN_POINTS))
n_in = int(density.in_view(x, y, (cx - h, cx + h, cy - h, cy + h)).sum())
at.session_state["map_zoom"] = (cx - h, cx + h, cy - h, cy + h)
zoom = timed_run(at, 'zoom_cpu_s')
zoom_spec = at.get("plotly_chart")[0].proto.spec
at.session_state["map_zoom"] = (cx - 0.75 * h, cx + 1.25 * h, cy - h, cy + h)
pan = timed_run(at, 'pan_cpu_s')
n_pan = int(density.in_view(x, y, at.session_state["map_zoom"]).sum())
h = half_width_holding(int(0.9 * density.MAX_SVG_POINTS))
at.session_state["map_zoom"] = (cx - h, cx + h, cy - h, cy + h)
n_points = int(density.in_view(x, y, at.session_state["map_zoom"]).sum())
zoom_points = timed_run(at, 'zoom_points_cpu_s')
points_spec = at.get("plotly_chart")[0].proto.spec
# a click on one point (its customdata is its row): the table lists it with its text read from disk
import base64
shown = [t["customdata"] for t in json.loads(points_spec)["data"] if isinstance(t.get("customdata"), dict)]
row = int(np.frombuffer(base64.b64decode(shown[-1]["bdata"]), dtype=shown[-1]["dtype"])[0])
at.session_state["map_last_selection"] = {"points": [{"customdata": row}], "box": [], "lasso": []}
at.session_state["map_selection_pending"] = True
click = timed_run(at, 'click_cpu_s')
at.text_input(key="map_search").input("freedom")
search = timed_run(at, 'search_cpu_s')
page_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
from univar_core.analysis.compare import value_id_distance_matrix
from univar_core.maps import store
vmap = store.load_map(path, verify="none")
t0, c0 = time.perf_counter(), time.process_time()
value_id_distance_matrix(vmap.qas, vmap.embeddings, "centroid")
t_centroid = time.perf_counter() - t0
CPU['distance_centroid_cpu_s'] = round(time.process_time() - c0, 1)
t0, c0 = time.perf_counter(), time.process_time()
value_id_distance_matrix(vmap.qas, vmap.embeddings, "energy", max_per_group=100)
t_energy = time.perf_counter() - t0
CPU['distance_energy_100_per_vid_cpu_s'] = round(time.process_time() - c0, 1)
print("RENDER " + json.dumps({"distance_centroid_s": round(t_centroid, 1),
      "distance_energy_100_per_vid_s": round(t_energy, 1),
      "first_render_cold_s": round(cold, 2), "first_render_warm_s": round(warm, 2),
      "chart_kind": kind, "chart_message_mb": round(len(spec) / 1e6, 2), "box_select_round_trip_s": round(select, 2),
      "n_selected": n_selected, "zoom_round_trip_s": round(zoom, 2), "pan_round_trip_s": round(pan, 2),
      "zoom_qas_in_view": n_in, "pan_qas_in_view": n_pan, "click_round_trip_s": round(click, 2),
      "zoom_to_points_round_trip_s": round(zoom_points, 2), "zoom_to_points_qas_in_view": n_points,
      "points_message_mb": round(len(points_spec) / 1e6, 2),
      "search_round_trip_s": round(search, 2),
      "zoomed_chart_kind": json.loads(zoom_spec)["data"][0]["type"],
      "zoomed_message_mb": round(len(zoom_spec) / 1e6, 2), "page_peak_rss_gib": round(page_rss, 2),
      "load_avg_1min": round(os.getloadavg()[0], 1),
      "peak_rss_with_distance_matrices_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
      **CPU}))
"""


def bench_render(path: Path, env: dict) -> dict:
    """The Value Map page (AppTest runs it as the server does) on the built map: first render cold
    and warm, a box selection, a zoom and a pan, message size and the process's peak RSS."""
    _, _, out, _ = _run([sys.executable, "-c", _RENDER, str(path)], dict(env, PYTHONPATH=str(REPO)))
    row = json.loads(out.split("RENDER ")[1].splitlines()[0])
    print(json.dumps(row), flush=True)
    return row


def bench_size(n: int, landmarks: int, data_dir: Path, env: dict) -> dict:
    path = corpus(n)
    name = f"syn{n}"
    wall, rss, _, cpu = _run([sys.executable, "-m", "univar_core.cli", "build", str(path), "--name", name,
                         "--encoder-name", "synthetic-384d", "--landmarks", str(landmarks),
                         "--data-dir", str(data_dir)], env)
    manifest = json.loads((data_dir / name / "manifest.json").read_text())
    t = manifest["timings_s"]
    lwall, lrss, out, _ = _run([sys.executable, "-c", _LOAD, name, str(data_dir)], env)
    load_s = float(out.split("LOAD ")[1].split()[0])
    row = {"n": n, "build_wall_s": round(wall, 1), "build_cpu_s": round(cpu, 1), "build_peak_rss_gib": round(rss, 2),
           "load_avg_1min_after": round(os.getloadavg()[0], 1),
           "read_validate_s": t.get("read_validate"), "landmark_index_s": t.get("project_index"),
           "landmark_fit_s": t.get("project_fit"), "placement_s": t.get("project_place"),
           "cluster_s": t.get("cluster"), "store_s": round(wall - sum(
               t.get(k, 0) for k in ("read_validate", "embed", "project", "cluster")), 1),
           "load_s": load_s, "load_peak_rss_gib": round(lrss, 2),
           "embeddings_mb": round((data_dir / name / "embeddings.npy").stat().st_size / 2**20)}
    print(json.dumps(row), flush=True)
    return row


def bench_distances(n: int, per_group: int = 100) -> dict:
    """The value-ID distance matrix (375 x 375) over an n-QA synthetic corpus, its vectors generated in
    memory (no map needed): centroid over every QA; energy and MMD on per_group QAs per value ID.
    Wall and CPU seconds (all threads) of each, with the 1-minute load."""
    import numpy as np
    import pandas as pd

    from univar_core.analysis.compare import value_id_distance_matrix
    from univar_core.data.synthetic import synthetic_chunks

    frames, chunks = [], []
    for frame, vec in synthetic_chunks(n):
        frames.append(frame[["model", "lang"]])
        chunks.append(vec)
    qas = pd.concat(frames, ignore_index=True)
    qas["value_id"] = qas["model"] + "$" + qas["lang"]
    emb = np.vstack(chunks)
    del chunks
    row: dict = {"n": n, "value_ids": int(qas["value_id"].nunique()), "per_group": per_group}
    for method in ("centroid", "energy", "mmd"):
        t0, c0 = time.perf_counter(), time.process_time()
        value_id_distance_matrix(qas, emb, method, max_per_group=per_group)
        row[f"{method}_s"] = round(time.perf_counter() - t0, 2)
        row[f"{method}_cpu_s"] = round(time.process_time() - c0, 2)
        row[f"{method}_load_1min"] = round(os.getloadavg()[0], 1)
    print("DISTANCES " + json.dumps(row), flush=True)
    return row


def bench_trust(n: int, n_landmarks: int, seed: int = 0) -> dict:
    import numpy as np
    import pyarrow.parquet as pq

    from univar_core.maps.landmarks import project_with_landmarks, trustworthiness
    from univar_core.maps.projection import UmapParams, fit_projection

    table = pq.read_table(corpus(100_000), columns=["model", "lang", "embedding"]).slice(0, 2 * n)
    rng = np.random.default_rng(seed)
    subset = np.sort(rng.choice(table.num_rows, n, replace=False))
    vectors = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))[subset].astype(np.float32)
    groups = (table.column("model").to_numpy(zero_copy_only=False).astype(object)
              + "$" + table.column("lang").to_numpy(zero_copy_only=False).astype(object))[subset]
    t0 = time.perf_counter()
    landmark = project_with_landmarks(vectors, UmapParams(), groups=groups, n_landmarks=n_landmarks)
    t_landmark = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = fit_projection(vectors, UmapParams())
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    tw_landmark = trustworthiness(vectors, landmark.xy, k=15)
    tw_full = trustworthiness(vectors, full, k=15)
    row = {"n": n, "landmarks": int(len(landmark.landmarks)), "trust_landmark": round(tw_landmark, 4),
           "trust_full": round(tw_full, 4), "difference": round(tw_full - tw_landmark, 4),
           "landmark_s": round(t_landmark, 1), "full_umap_s": round(t_full, 1),
           "trust_compute_s": round(time.perf_counter() - t0, 1)}
    print(json.dumps(row), flush=True)
    return row


def bench_trust_on_map(path: Path, n: int, seed: int = 0) -> dict:
    """A random n-QA subset of a built landmark map: trustworthiness (k=15) of its coordinates in that
    map against a full UMAP fitted on the same n vectors, both against the vectors themselves."""
    import numpy as np

    from univar_core.maps import store
    from univar_core.maps.landmarks import trustworthiness
    from univar_core.maps.projection import UmapParams, fit_projection

    vmap = store.load_map(path, verify="none")
    rows = np.sort(np.random.default_rng(seed).choice(len(vmap.qas), n, replace=False))
    vectors = np.asarray(vmap.embeddings[rows])
    xy_map = vmap.qas[["x", "y"]].to_numpy()[rows]
    t0 = time.perf_counter()
    full = fit_projection(vectors, UmapParams())
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    tw_map, tw_full = trustworthiness(vectors, xy_map, k=15), trustworthiness(vectors, full, k=15)
    row = {"map": path.name, "n_map": len(vmap.qas), "landmarks": (vmap.manifest.get("landmarks") or {}).get("n"),
           "subset": n, "subset_landmarks": int(vmap.qas["landmark"].to_numpy()[rows].sum()),
           "trust_landmark_map": round(tw_map, 4), "trust_full_umap": round(tw_full, 4),
           "difference": round(tw_full - tw_map, 4), "full_umap_s": round(t_full, 1),
           "trust_compute_s": round(time.perf_counter() - t0, 1)}
    print(json.dumps(row), flush=True)
    return row


def bench_trust_proxy(n: int, n_landmarks: int, subset_n: int, seed: int = 0) -> dict:
    """--trust-map's figure without building the n-QA map. Only the rows that figure depends on are
    generated: the build's landmarks (the same stratified sample of the same synthetic corpus) and the
    random subset --trust-map scores (the same seed). The landmark projection runs on those rows with
    those landmarks, so the landmark UMAP is the build's and each scored point is placed as the build
    places it (a placed point depends on the landmarks only, not on the other placed points; the
    refinement's random negative samples differ). Scored like --trust-map, against a full UMAP of the
    subset (cached under .cache/bench_scale/)."""
    import numpy as np

    from univar_core.data.synthetic import synthetic_chunks, value_ids
    from univar_core.maps.landmarks import project_with_landmarks, stratified_sample, trustworthiness
    from univar_core.maps.projection import UmapParams, fit_projection

    params = UmapParams()
    vids = np.asarray(value_ids())
    landmarks = stratified_sample(vids[np.arange(n) % len(vids)], n_landmarks, seed=params.random_state)
    subset = np.sort(np.random.default_rng(seed).choice(n, subset_n, replace=False))  # as bench_trust_on_map
    rows = np.union1d(landmarks, subset)
    vectors = np.empty((len(rows), 384), dtype=np.float32)
    start = done = 0
    for _, chunk in synthetic_chunks(n):
        take = rows[(rows >= start) & (rows < start + len(chunk))]
        vectors[done:done + len(take)] = chunk[take - start]
        done, start = done + len(take), start + len(chunk)
    at_subset = np.searchsorted(rows, subset)
    full_path = CACHE / f"trust_proxy_full_umap_{n}_{subset_n}_{seed}.npy"
    if not full_path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(full_path, fit_projection(vectors[at_subset], params))
    t0, c0 = time.perf_counter(), time.process_time()
    projected = project_with_landmarks(vectors, params, landmarks=np.searchsorted(rows, landmarks))
    t_project, c_project = time.perf_counter() - t0, time.process_time() - c0
    n_placed = len(rows) - len(landmarks)
    tw_map = trustworthiness(vectors[at_subset], projected.xy[at_subset], k=15)
    tw_full = trustworthiness(vectors[at_subset], np.load(full_path), k=15)
    row = {"n_corpus": n, "landmarks": len(landmarks), "subset": subset_n,
           "subset_landmarks": int(np.isin(subset, landmarks).sum()),
           "trust_landmark_map": round(tw_map, 4), "trust_full_umap": round(tw_full, 4),
           "difference": round(tw_full - tw_map, 4),
           "timings_s": {k: round(v, 1) for k, v in projected.timings_s.items()},
           "project_cpu_s": round(c_project, 1), "project_wall_s": round(t_project, 1),
           "placed_here": n_placed, "load_1min": round(os.getloadavg()[0], 1)}
    print("TRUST_PROXY " + json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--landmarks", type=int, default=50_000)
    ap.add_argument("--trust", action="store_true")
    ap.add_argument("--render-only", action="store_true", help="only the page timings, on maps built before")
    ap.add_argument("--trust-n", type=int, default=50_000)
    ap.add_argument("--trust-map", type=int, default=None, metavar="N",
                    help="trustworthiness of a --trust-n subset of the built N-QA map against a full UMAP of it")
    ap.add_argument("--trust-landmarks", type=int, nargs="+", default=[5_000])
    ap.add_argument("--trust-proxy", type=int, default=None, metavar="N",
                    help="the --trust-map figure of an N-QA build (--landmarks), placing only the scored subset")
    ap.add_argument("--distances", type=int, default=None, metavar="N",
                    help="only the 375 x 375 value-ID distance matrices over an N-QA synthetic corpus")
    args = ap.parse_args()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO),
               UNIVAR_MAX_FILE_MB=os.environ.get("UNIVAR_MAX_FILE_MB", "4000"))
    env.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))
    os.environ.setdefault("NUMBA_CACHE_DIR", env["NUMBA_CACHE_DIR"])
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"load before: {os.getloadavg()}", flush=True)
    if args.distances:
        bench_distances(args.distances)
    elif args.trust_proxy:
        bench_trust_proxy(args.trust_proxy, args.landmarks, args.trust_n)
    elif args.trust_map:
        bench_trust_on_map(CACHE / "maps" / f"syn{args.trust_map}", args.trust_n)
    elif args.trust:
        for m in args.trust_landmarks:
            bench_trust(args.trust_n, m)
    else:
        data_dir = CACHE / "maps"
        for n in args.sizes:
            if not args.render_only:
                bench_size(n, args.landmarks, data_dir, env)
            bench_render(data_dir / f"syn{n}", env)
    print(f"# load after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
