"""Encoding a corpus on a Ray cluster: Ray Data ``map_batches`` over a pool of encoder actors, into the cache.

One job: the texts an encoder's embedding cache lacks are embedded by a pool of actors (one per GPU of the
cluster, else one per CPU) and written to that cache as they arrive; the map build (maps.build), placement
and every other command then read them from the cache like vectors embedded here. Nothing else changes:
the encoder on this machine still formats the QA text and cuts long questions (so the cache keys are the
ones a single-process run uses), and each actor loads the same encoder through encoders.resolve (same name,
backend and options) and refuses to run if its content hash differs from this machine's.

Rows travel with their index (``row``, ``text``) and come back, in whatever order the actors finish, as
(``row``, ``embedding``); ``SentenceEncoder`` puts each vector back in its row.

``ray`` is imported only when asked for (``--ray``): the app and the CLI start without it.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from univar_core.encoders.base import EncoderLoadError, Progress

RAY_MISSING = "Ray encoding needs the ray package: pip install -r requirements.txt (it pins ray[data])"
# Rows handed to an actor per call: several forward batches, so a GPU actor's pre-tokenising feed stays busy,
# and enough calls that every actor gets work and progress moves.
MAX_BATCHES_PER_TASK = 8
TASKS_PER_WORKER = 4
# Environment the actors need as this process has it (offline model loading, the model caches).
_FORWARDED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", "UNIVAR_ONNX_DIR", "TOKENIZERS_PARALLELISM")


@dataclass(frozen=True)
class RayOptions:
    """How to reach the cluster and how many encoder actors to run (the CLI's --ray-address, --workers).

    ``address``: a running cluster ("ray://host:10001", "host:6379", "auto"); None: the cluster this process
    already joined, else $RAY_ADDRESS, else a local one started here. ``workers``: encoder actors; default one
    per GPU of the cluster, else one per CPU."""

    address: str | None = None
    workers: int | None = None


@dataclass(frozen=True)
class RayPlan:
    """The actor pool for one cluster: how many actors and what each reserves."""

    workers: int
    gpus_per_worker: float
    cpus_per_worker: float
    cluster: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        where = f"{self.gpus_per_worker:g} GPU" if self.gpus_per_worker else f"{self.cpus_per_worker:g} CPU"
        return (f"{self.workers} Ray worker(s), {where} each (cluster: {self.cluster.get('CPU', 0):g} CPUs, "
                f"{self.cluster.get('GPU', 0):g} GPUs)")

    def backend(self, backend: str | None) -> str | None:
        """The encoder backend to load for this pool: on GPU actors auto means torch (the ONNX backends
        run on CPUs), so it is fixed here, where the encoder identity (content hash + backend) is decided."""
        return "torch" if self.gpus_per_worker and backend in (None, "auto") else backend


def _ray() -> Any:
    # Ray's progress-bar manager would replace builtins.print with a Python function: numba, compiling
    # pynndescent / UMAP later in this process, then fails on any `print` ("Untyped global name 'print'")
    os.environ.setdefault("RAY_TQDM_PATCH_PRINT", "0")
    try:
        import ray
    except ImportError as err:
        raise EncoderLoadError(f"{RAY_MISSING} ({err})") from err
    return ray


def _runtime_env() -> dict[str, Any]:
    """What actors on other machines need: univar_core itself (shipped when the cluster lacks it) and the
    environment that makes model loading offline."""
    import univar_core

    env = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ}
    return {"py_modules": [str(Path(univar_core.__file__).parent)], "env_vars": env}


def connect(options: RayOptions = RayOptions()) -> RayPlan:
    """Join (or start) the cluster and size the actor pool. A process already connected stays on its cluster."""
    ray = _ray()
    if not ray.is_initialized():
        address = options.address or os.environ.get("RAY_ADDRESS") or None
        # log_to_driver off: the actors' model-loading chatter stays in Ray's log files (their errors still
        # come back here as exceptions)
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
                 runtime_env=_runtime_env() if address else {"env_vars": _runtime_env()["env_vars"]})
    from ray.data import DataContext

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-dataset INFO lines between our bars
    DataContext.get_current().enable_progress_bars = False  # progress is the caller's (one bar per stage)
    resources = {k: float(v) for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
    return plan(resources, options.workers)


def plan(resources: dict[str, float], workers: int | None = None) -> RayPlan:
    """One actor per GPU when the cluster has GPUs, else one per CPU; ``workers`` asks for a number."""
    gpus, cpus = resources.get("GPU", 0.0), resources.get("CPU", 0.0)
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if gpus >= 1:
        n = int(gpus) if workers is None else workers
        if n > gpus:
            raise EncoderLoadError(f"--workers {n}: the Ray cluster has {gpus:g} GPU(s), one per worker")
        return RayPlan(n, 1.0, 1.0, resources)
    n = max(1, int(cpus)) if workers is None else workers
    if n > max(cpus, 1):
        raise EncoderLoadError(f"--workers {n}: the Ray cluster has {cpus:g} CPU(s), one per worker")
    return RayPlan(n, 0.0, 1.0, resources)


def encoder_spec(encoder: Any) -> dict[str, Any]:
    """How an actor loads the same encoder: name, backend, the options given, the content hash to check."""
    options: dict[str, Any] = {"backend": encoder.backend, "cache_dir": None}
    if getattr(encoder, "trust_remote_code", False):
        options["trust_remote_code"] = True
    if getattr(encoder, "precision_option", "auto") != "auto":
        options["precision"] = encoder.precision_option
    if getattr(encoder, "batch_size_option", None):
        options["batch_size"] = encoder.batch_size_option
    if getattr(encoder, "tokenise_workers_option", None) is not None:
        options["tokenise_workers"] = encoder.tokenise_workers_option
    return {"name": encoder.name, "content_hash": encoder.content_hash, "options": options}


class _EncoderActor:
    """One encoder, loaded once per actor; a batch of (row, text) -> (row, embedding)."""

    def __init__(self, spec: dict[str, Any]):
        from univar_core.encoders.resolve import load_encoder

        self.encoder = load_encoder(spec["name"], **spec["options"])
        if self.encoder.content_hash != spec["content_hash"]:
            raise EncoderLoadError(
                f"Ray worker on {os.uname().nodename}: encoder {spec['name']!r} has content hash "
                f"{self.encoder.content_hash} there but {spec['content_hash']} where the build runs; put the "
                "same model files at the same path on every node")
        self.pid = os.getpid()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.encoder.encode([str(t) for t in batch["text"]])
        return {"row": batch["row"], "embedding": np.asarray(vectors, dtype=np.float32),
                "worker": np.full(len(vectors), self.pid, dtype=np.int64)}


class RayEngine:
    """Batches computed by the actor pool: an engine for ``SentenceEncoder.with_engine``."""

    def __init__(self, spec: dict[str, Any], pool: RayPlan, batch_size: int):
        self.spec = spec
        self.pool = pool
        self.batch_size = batch_size
        self.workers_seen: set[int] = set()  # actor processes that returned vectors (for reports and tests)

    def task_rows(self, n: int) -> int:
        per_task = math.ceil(n / (self.pool.workers * TASKS_PER_WORKER))
        return max(self.batch_size, min(per_task, self.batch_size * MAX_BATCHES_PER_TASK))

    def __call__(self, texts: Sequence[str], batches: Sequence[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        import pyarrow as pa

        ray = _ray()
        if not batches:
            return
        order = np.concatenate(list(batches)).astype(np.int64)  # length-sorted by the encoder
        step = self.task_rows(len(order))
        blocks = [pa.table({"row": order[s:s + step], "text": pa.array([texts[i] for i in order[s:s + step]],
                                                                       type=pa.large_string())})
                  for s in range(0, len(order), step)]
        resources = {"num_cpus": self.pool.cpus_per_worker}
        if self.pool.gpus_per_worker:
            resources["num_gpus"] = self.pool.gpus_per_worker
        ds = ray.data.from_arrow(blocks).map_batches(
            _EncoderActor, fn_constructor_kwargs={"spec": self.spec}, batch_size=step, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.pool.workers), **resources)
        for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
            self.workers_seen.update(int(w) for w in np.unique(out["worker"]))
            yield np.asarray(out["row"], dtype=np.int64), np.asarray(out["embedding"], dtype=np.float32)


@dataclass
class RayRun:
    """What one corpus's encoding on the cluster did."""

    n_texts: int
    n_encoded: int  # rows embedded by the actors (the rest were in the cache already; a repeated text counts twice)
    n_truncated: int
    plan: RayPlan
    n_workers_used: int

    def to_dict(self) -> dict[str, Any]:
        return {"n_texts": self.n_texts, "n_encoded": self.n_encoded, "workers": self.plan.workers,
                "workers_used": self.n_workers_used, "gpus_per_worker": self.plan.gpus_per_worker,
                "cluster": self.plan.cluster}

    def summary(self) -> str:
        return (f"Ray: {self.n_encoded:,} of {self.n_texts:,} QAs embedded by {self.n_workers_used} of "
                f"{self.plan.describe()}; the rest were in the cache")


def _sentence_encoder(encoder: Any) -> Any:
    """The SentenceEncoder that computes an encoder's vectors (a trained head's base: the head is applied
    to the cached base vectors here, cheaply)."""
    from univar_core.encoders.head import HeadEncoder
    from univar_core.encoders.sentence_encoder import SentenceEncoder

    base = encoder.base if isinstance(encoder, HeadEncoder) else encoder
    if not isinstance(base, SentenceEncoder):
        raise EncoderLoadError(f"encoder {getattr(encoder, 'name', encoder)!r} is not a sentence-transformers "
                               "model (or a head on one): it cannot be run on a Ray cluster")
    return base


def on_ray(encoder: Any, pool: RayPlan) -> tuple[Any, RayEngine]:
    """(the SentenceEncoder behind ``encoder`` computing its batches on the cluster, its engine). Its
    ``encode`` returns vectors in input order, and writes them to its cache."""
    base = _sentence_encoder(encoder)
    engine = RayEngine(encoder_spec(base), pool, base.batch_size)
    return base.with_engine(engine), engine


def encode_to_cache(encoder: Any, questions: Sequence[str], answers: Sequence[str], pool: RayPlan, *,
                    progress: Progress | None = None) -> RayRun:
    """Embed a corpus's QAs on the cluster into the encoder's cache (one actor pool for the whole corpus);
    afterwards ``encoder.encode_qas`` of the same QAs is served from the cache, in row order."""
    remote, engine = on_ray(encoder, pool)
    if remote.cache_dir is None:
        raise EncoderLoadError(f"encoder {remote.name!r} has no embedding cache: Ray encoding writes its vectors "
                               "there (load it with encoders.resolve.load_encoder_cached)")
    texts, n_truncated = remote.qa_texts(questions, answers)
    n_encoded = remote.fill_cache(texts, progress=progress)
    return RayRun(len(texts), n_encoded, n_truncated, pool, len(engine.workers_seen))
