"""ONNX Runtime backends for a sentence-transformers model on the CPU, and the guard that lets ``auto`` pick one.

Why not sentence-transformers' own ``backend="onnx"``: it needs optimum-onnx, which needs transformers<4.58,
and the OpenVINO extra needs transformers<5.6; the project pins transformers 5.23. So the model is exported
here with ``torch.onnx.export`` and run with ``onnxruntime`` directly.

What is exported is the whole sentence-transformers module chain after tokenisation (Transformer, Pooling,
Dense, Normalize ... whatever the model's modules.json lists), called exactly as ``SentenceTransformer``
calls it, so pooling and normalisation are the model's own. Tokenisation, the QA text formatting and the
question-first cut stay in :class:`~univar_core.encoders.sentence_encoder.Encoder`, shared by all backends.

Backends: ``torch`` (the reference, fp32 on the CPU), ``onnx`` (the same graph in ONNX Runtime, fp32) and
``onnx-int8`` (weights quantised to int8 per channel by ``onnxruntime.quantization.quantize_dynamic``).
Exports live in ``<onnx dir>/<model content hash>/`` (model.onnx, model.int8.onnx, guard.json), made once
per model; ``guard.json`` records how close each backend's vectors are to fp32 PyTorch on a fixed sample.
"""
from __future__ import annotations

import json
import os
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from univar_core.paths import CACHE_DIR

TORCH = "torch"
ONNX = "onnx"
ONNX_INT8 = "onnx-int8"
AUTO = "auto"
BACKENDS = (AUTO, TORCH, ONNX, ONNX_INT8)
# auto tries these in order, fastest first (measured: docs/benchmarks.md, "Encoder backends").
CPU_PREFERENCE = (ONNX_INT8, ONNX)
_FILES = {ONNX: "model.onnx", ONNX_INT8: "model.int8.onnx"}
GUARD_FILE = "guard.json"
GUARD_FORMAT = "univar-onnx-guard/1"
# A backend passes when its vectors have at least this mean cosine to fp32 PyTorch's on the guard sample.
MIN_MEAN_COSINE = 0.99
GUARD_SAMPLE_SIZE = 32  # 28 short demo QAs + 4 long ones (GUARD_LONG_TEXTS): about a second per backend
GUARD_LONG_TEXTS = 4
GUARD_BATCH = 16  # short texts per forward pass in the guard
BACKEND_ENV = "UNIVAR_BACKEND"


class BackendError(RuntimeError):
    """A backend cannot be built or run for this model (export or quantisation failed)."""


def default_backend() -> str:
    """Env UNIVAR_BACKEND (one of BACKENDS), else auto."""
    value = os.environ.get(BACKEND_ENV, AUTO).strip().lower() or AUTO
    return check_backend(value)


def check_backend(backend: str) -> str:
    backend = str(backend).strip().lower()
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return backend


def default_onnx_dir() -> Path:
    """Env UNIVAR_ONNX_DIR, else <repo>/.cache/onnx."""
    env = os.environ.get("UNIVAR_ONNX_DIR")
    return Path(env).expanduser() if env else CACHE_DIR / "onnx"


def guard_sample_texts() -> list[str]:
    """The fixed guard sample: the first QAs of the built-in demo corpus, formatted as QA texts, and a few
    long ones (the demo's answers joined) so that the sample also reaches the token limit."""
    from univar_core.data.demo import demo_qas

    n_long = GUARD_LONG_TEXTS
    qas = demo_qas().iloc[::13].head(GUARD_SAMPLE_SIZE - n_long)
    texts = [f"Q: {q} A: {a}" for q, a in zip(qas["question"], qas["answer"])]
    answers = qas["answer"].tolist()
    texts += [f"Q: {qas['question'].iloc[i]} A: " + " ".join(answers[i:i + 6]) for i in range(n_long)]
    return texts


def guard_batches(texts: list[str]) -> list[np.ndarray]:
    """Row indices of the guard's forward passes: the long texts in a batch of their own, then the short ones
    GUARD_BATCH at a time, longest first. (In one batch of 64 the long texts padded every short one to the
    token limit: the guard cost a first launch 18 CPU-seconds; so batched, about 5.)"""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    head, rest = order[:GUARD_LONG_TEXTS], order[GUARD_LONG_TEXTS:]
    batches = [head] + [rest[s:s + GUARD_BATCH] for s in range(0, len(rest), GUARD_BATCH)]
    return [b for b in batches if len(b)]


# ---- export ------------------------------------------------------------------------------------------

def _feature_names(model) -> list[str]:
    """The tensor inputs the model's first module takes (input_ids, attention_mask, token_type_ids ...)."""
    import torch

    features = model.preprocess(["a b", "a"])
    return [k for k, v in features.items() if isinstance(v, torch.Tensor)]


def export_onnx(model, path: Path) -> list[str]:
    """Export the module chain of a SentenceTransformer (after tokenisation) to one ONNX file; its inputs."""
    import torch

    names = _feature_names(model)

    class _Chain(torch.nn.Module):
        def __init__(self, st):
            super().__init__()
            self.st = st

        def forward(self, *tensors):
            return self.st(dict(zip(names, tensors)))["sentence_embedding"]

    sample = model.preprocess(["a short text to trace the graph with", "another"])
    args = tuple(sample[k].cpu() for k in names)
    dynamic = {k: {0: "batch", 1: "tokens"} for k in names} | {"sentence_embedding": {0: "batch"}}
    tmp = path.with_name(path.name + f".tmp-{uuid.uuid4().hex[:8]}")
    was_device = next(model.parameters()).device
    model.to("cpu")
    try:
        # The TorchScript exporter: 5 s for MiniLM and one self-contained file (the dynamo exporter takes
        # 30 s and writes the weights beside the graph). The guard checks the export on texts of many lengths.
        with warnings.catch_warnings():  # tracer notes on shape checks the guard verifies anyway
            warnings.simplefilter("ignore")
            torch.onnx.export(_Chain(model).eval(), args, str(tmp), input_names=names,
                              output_names=["sentence_embedding"], dynamic_axes=dynamic, opset_version=17,
                              dynamo=False)
        os.replace(tmp, path)
    finally:
        model.to(was_device)
        tmp.unlink(missing_ok=True)
    return names


def quantize_int8(fp32_path: Path, path: Path) -> None:
    """Dynamic int8 quantisation of the weights, per output channel (per-tensor scales lose too much:
    MiniLM's mean cosine to fp32 falls to 0.96; per channel it stays above 0.99)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = path.with_name(path.name + f".tmp-{uuid.uuid4().hex[:8]}.onnx")
    try:
        quantize_dynamic(str(fp32_path), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_exports(model, folder: Path, timings: dict[str, float] | None = None) -> dict[str, Path]:
    """model.onnx and model.int8.onnx in folder, made once (atomic renames: a crash leaves none half-written).
    ``timings`` gets the seconds spent on what was made now (onnx_export, int8_quantise)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {b: folder / f for b, f in _FILES.items()}
    timings = {} if timings is None else timings
    if not paths[ONNX].is_file():
        t0 = time.perf_counter()
        try:
            export_onnx(model, paths[ONNX])
        except Exception as err:  # the exporter raises many types for unsupported model code
            first_line = str(err).splitlines()[0] if str(err) else ""
            raise BackendError(f"ONNX export failed: {type(err).__name__}: {first_line}") from err
        timings["onnx_export"] = time.perf_counter() - t0
    if not paths[ONNX_INT8].is_file():
        t0 = time.perf_counter()
        try:
            quantize_int8(paths[ONNX], paths[ONNX_INT8])
        except Exception as err:
            raise BackendError(f"int8 quantisation failed: {type(err).__name__}: {err}") from err
        timings["int8_quantise"] = time.perf_counter() - t0
    return paths


# ---- running -----------------------------------------------------------------------------------------

class OnnxRunner:
    """One ONNX Runtime session: tokenised features in, sentence embeddings out (as the model returns them)."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or _torch_threads())
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, features: dict[str, Any]) -> np.ndarray:
        feed = {name: _as_int64(features[name]) for name in self.input_names}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)


def _as_int64(value) -> np.ndarray:
    if hasattr(value, "numpy"):
        value = value.cpu().numpy()
    return np.asarray(value, dtype=np.int64)


def _torch_threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


# ---- the guard ---------------------------------------------------------------------------------------

def run_guard(embed_with: Callable[[str, list[str]], np.ndarray], backends: tuple[str, ...],
              texts: list[str]) -> dict[str, Any]:
    """Embed the sample with fp32 PyTorch and each backend; record mean/min cosine, speed and pass/fail.

    ``embed_with(backend, texts)`` returns L2-normalised vectors. A backend that raises fails the guard.
    """
    t0 = time.perf_counter()
    reference = embed_with(TORCH, texts)
    result: dict[str, Any] = {
        "format": GUARD_FORMAT, "sample": f"{len(texts)} demo QA texts (encoders.onnx_backend.guard_sample_texts)",
        "min_mean_cosine": MIN_MEAN_COSINE,
        "backends": {TORCH: {"texts_per_s": round(len(texts) / (time.perf_counter() - t0), 1)}},
        "versions": _versions(),
    }
    for backend in backends:
        t0 = time.perf_counter()
        try:
            vectors = embed_with(backend, texts)
        except Exception as err:  # noqa: BLE001 - any failure means: do not use this backend
            result["backends"][backend] = {"passed": False, "error": f"{type(err).__name__}: {err}"}
            continue
        elapsed = time.perf_counter() - t0
        cosine = np.sum(vectors.astype(np.float64) * reference, axis=1)
        mean = float(cosine.mean())
        result["backends"][backend] = {"mean_cosine": round(mean, 5), "min_cosine": round(float(cosine.min()), 5),
                                       "texts_per_s": round(len(texts) / elapsed, 1),
                                       "passed": bool(mean >= MIN_MEAN_COSINE)}
    return result


def choose(guard: dict[str, Any]) -> tuple[str, str]:
    """(backend, why): the fastest backend that passed the guard, else torch with the reason."""
    checked = guard.get("backends", {})
    for backend in CPU_PREFERENCE:
        entry = checked.get(backend) or {}
        if entry.get("passed"):
            return backend, (f"{backend}: mean cosine {entry['mean_cosine']:.4f} to fp32 PyTorch on the guard "
                             f"sample (>= {MIN_MEAN_COSINE})")
    reasons = []
    for backend in CPU_PREFERENCE:
        entry = checked.get(backend) or {}
        if "error" in entry:
            reasons.append(f"{backend} failed ({entry['error']})")
        elif "mean_cosine" in entry:
            reasons.append(f"{backend} mean cosine {entry['mean_cosine']:.4f} < {MIN_MEAN_COSINE}")
    if "export_error" in guard:
        reasons.append(guard["export_error"])
    return TORCH, "torch (fallback: " + ("; ".join(reasons) or "no ONNX backend checked") + ")"


def read_guard(folder: Path) -> dict[str, Any] | None:
    try:
        guard = json.loads((folder / GUARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if guard.get("format") != GUARD_FORMAT or guard.get("versions") != _versions():
        return None  # made by other library versions: check again
    return guard


def write_guard(folder: Path, guard: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{GUARD_FILE}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.write_text(json.dumps(guard, indent=2), encoding="utf-8")
    os.replace(tmp, folder / GUARD_FILE)


def _versions() -> dict[str, str]:
    import onnxruntime
    import torch

    return {"onnxruntime": onnxruntime.__version__, "torch": torch.__version__.split("+")[0]}
