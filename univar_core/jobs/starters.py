"""The app's background runs as `univar` command lines: training (`univar train`), a new map from a
file (`univar build`), a map re-embedded with a trained encoder (`univar rebuild`), a demo map the
first launch did not wait for (`univar demo --map`).

Each starter turns the page's choices into the command's options and starts it with jobs.runner in a
job folder: a training run's folder is its run folder (runs_dir()/NAME, where `univar train --out`
writes); a build's is runs_dir()/.builds/NAME-TIME. An uploaded file is written into the job folder
first (input/FILE) and the command reads it from there.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from univar_core.jobs.runner import BUILDS_DIR, JOB_FILE, Job, cli_argv, read_job, start_job
from univar_core.training.runs import runs_dir, validate_run_name

Upload = tuple[str, bytes]   # (file name, content) of an uploaded QA file
# The plain demo is built while the browser draws the first page (Plotly in software WebGL on the same CPU
# cores): at a lower priority it takes only the CPU time the app and the browser leave.
DEMO_JOB_NICE = 10


def cli_options(**options: Any) -> list[str]:
    """{"split_by": "question_id", "resume": True, "lr": None} -> ["--split-by", "question_id", "--resume"]."""
    args: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + key.replace("_", "-"))
        else:
            args += [flag, str(value)]
    return args


def _save_upload(upload: Upload, job_dir: Path) -> Path:
    name, data = upload
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).name).strip("-.") or "upload.csv"
    path = job_dir / "input" / safe
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _root(root: str | Path | None) -> Path:
    return Path(root) if root is not None else runs_dir()


def start_training(name: str, *, map_path: str | Path | None = None, upload: Upload | None = None,
                   mode: str = "head", split: dict | None = None, root: str | Path | None = None,
                   **settings: Any) -> Job:
    """`univar train` into runs_dir()/name, on a stored map's QAs (map_path) or an uploaded file.
    split: {"by", "test_fraction", "seed"} or None; settings: base, lam, steps, lr, logit_scale,
    pairs_per_value_id, batch_pairs, micro_batch_pairs ... (the command's options)."""
    if (map_path is None) == (upload is None):
        raise ValueError("train on a map or on an uploaded file (one of them)")
    out_dir = _root(root) / validate_run_name(name)
    if upload is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        source = [str(_save_upload(upload, out_dir))]
    else:
        source = ["--map", str(map_path)]
    split_opts = ({"split_by": split["by"], "test_fraction": split["test_fraction"], "seed": split["seed"]}
                  if split else {})
    argv = cli_argv("train", *source, "--out", str(out_dir), "--mode", mode,
                    *cli_options(**split_opts, **settings))
    return start_job(argv, out_dir, kind="train", label=f"training {out_dir.name} ({mode})", root=root,
                     meta={"out_dir": str(out_dir), "mode": mode})


def _build_dir(name: str, root: str | Path | None) -> Path:
    return _root(root) / BUILDS_DIR / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 1000:03d}"


def start_build(name: str, *, data_dir: str | Path, files: list[str | Path] | None = None,
                upload: Upload | None = None, encoder: str | None = None, root: str | Path | None = None,
                centre_questions: bool = False, backend: str | None = None) -> Job:
    """`univar build` of a new map `name` in data_dir from files or an uploaded file (question-centred
    with ``centre_questions``; ``backend``: the encoder backend, auto/torch/onnx/onnx-int8, None: the
    command's default)."""
    from univar_core.maps.store import validate_map_name

    validate_map_name(name)
    job_dir = _build_dir(name, root)
    job_dir.mkdir(parents=True, exist_ok=True)
    inputs = [str(f) for f in files or []] + ([str(_save_upload(upload, job_dir))] if upload else [])
    if not inputs:
        raise ValueError("nothing to build: give files or an upload")
    argv = cli_argv("build", *inputs, *cli_options(name=name, encoder=encoder, backend=backend, data_dir=data_dir,
                                                   status_dir=job_dir, centre_questions=centre_questions or None))
    return start_job(argv, job_dir, kind="build", label=f"building map {name}", root=root,
                     meta={"map_name": name, "data_dir": str(data_dir)})


def start_demo_build(name: str, *, data_dir: str | Path, root: str | Path | None = None) -> Job:
    """`univar demo --map name`: one of the demo maps (after a first launch, the plain demo the app
    did not wait for: its vectors come from the embedding cache the value map filled)."""
    from univar_core.maps.build import DEMO_MAP_NAMES

    if name not in DEMO_MAP_NAMES:
        raise ValueError(f"{name!r} is not a demo map ({', '.join(DEMO_MAP_NAMES)})")
    job_dir = _build_dir(name, root)
    argv = cli_argv("demo", *cli_options(map=name, data_dir=data_dir, status_dir=job_dir))
    return start_job(argv, job_dir, kind="build", label=f"building the demo map {name}", root=root,
                     meta={"map_name": name, "data_dir": str(data_dir), "demo": True}, nice=DEMO_JOB_NICE)


def demo_build_job(name: str, *, data_dir: str | Path, root: str | Path | None = None) -> Job | None:
    """The newest `univar demo --map name` job of data_dir (running or ended), or None."""
    jobs = []
    for info in (_root(root) / BUILDS_DIR).glob(f"{name}-*/{JOB_FILE}"):
        try:
            job = read_job(info.parent)
        except (FileNotFoundError, KeyError, ValueError):
            continue
        if (job.meta.get("demo") and job.meta.get("map_name") == name
                and Path(job.meta.get("data_dir", "")).resolve() == Path(data_dir).resolve()):
            jobs.append(job)
    return max(jobs, key=lambda j: j.started, default=None)


def start_rebuild(map_path: str | Path, name: str, *, encoder: str | Path, data_dir: str | Path,
                  root: str | Path | None = None) -> Job:
    """`univar rebuild`: the QAs of the map at map_path re-embedded with encoder, as map `name`."""
    from univar_core.maps.store import validate_map_name

    validate_map_name(name)
    job_dir = _build_dir(name, root)
    argv = cli_argv("rebuild", str(map_path), *cli_options(name=name, encoder=encoder, data_dir=data_dir,
                                                           status_dir=job_dir))
    return start_job(argv, job_dir, kind="build", label=f"building map {name} with {Path(str(encoder)).name}",
                     root=root, meta={"map_name": name, "data_dir": str(data_dir)})


__all__ = ["Upload", "cli_options", "start_training", "start_build", "start_demo_build", "demo_build_job",
           "start_rebuild"]
