"""The pre-tokenising feed: batches tokenised ahead in worker processes, so a GPU never waits on tokenisation.

``SentenceTransformer.encode`` tokenises each batch in the main thread right before its forward pass; on an
H100 that leaves it at 12-18% of the bare forward on ValueBench-length texts (docs/benchmarks.md). Here a
torch ``DataLoader`` whose worker processes each tokenise whole batches (``model.preprocess``, exactly what
``encode`` calls) runs ahead of the GPU; batches land in pinned memory and go to the device with
non-blocking copies, and each batch's vectors come back (non-blocking, into pinned memory) while the next
batch runs. The caller (``SentenceEncoder``) hands over length-sorted batches and puts rows back in order.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
from typing import Any, Callable, Iterator, Sequence

import numpy as np

# Worker processes tokenising ahead on a GPU machine (CPU cores minus the one driving the GPU, at most this).
MAX_WORKERS = 4
# Batches each worker keeps ready: enough to cover a slow (long-text) batch without holding much memory.
PREFETCH_PER_WORKER = 4


def default_workers(device: str) -> int:
    """Tokenising processes for a device: none on a CPU (its cores run the forward pass), some on a GPU."""
    if not str(device).startswith("cuda"):
        return 0
    return max(1, min(MAX_WORKERS, (os.cpu_count() or 2) - 1))


class _TokenisedBatches:
    """Batch i of the texts, tokenised (a map-style dataset for ``DataLoader`` with ``batch_size=None``).

    Workers are forked, so they share the model and the texts with the parent instead of receiving copies."""

    def __init__(self, preprocess: Callable[[list[str]], dict[str, Any]], texts: Sequence[str],
                 batches: Sequence[np.ndarray]):
        self.preprocess = preprocess
        self.texts = texts
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.preprocess([self.texts[j] for j in self.batches[i]])


def embed_batches(preprocess: Callable[[list[str]], dict[str, Any]], embed: Callable[[dict[str, Any]], Any],
                  texts: Sequence[str], batches: Sequence[np.ndarray], *, device: str,
                  workers: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (rows, float32 vectors) per batch, in the order of ``batches``.

    ``preprocess(texts) -> features`` runs in ``workers`` forked processes; ``embed(features on the device)
    -> (n, d) float tensor`` runs here, under ``torch.inference_mode``. On CUDA a batch's vectors are copied
    back while the next batch is computed (one batch in flight), so the GPU always has queued work."""
    import torch
    from torch.utils.data import DataLoader

    if not batches:
        return
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    # fork: workers inherit the tokenizer (a spawned worker would need the whole model pickled); they never
    # touch CUDA, so forking a process that uses the GPU is safe.
    context = multiprocessing.get_context("fork") if workers and "fork" in multiprocessing.get_all_start_methods() \
        else None
    if workers and context is None:
        workers = 0  # no fork on this platform: tokenise in this process
    dataset: Any = _TokenisedBatches(preprocess, texts, batches)  # a map-style dataset without subclassing torch's
    loader: Any = DataLoader(dataset, batch_size=None, shuffle=False,
                        num_workers=workers, pin_memory=cuda, multiprocessing_context=context,
                        prefetch_factor=PREFETCH_PER_WORKER if workers else None)
    with _one_thread_tokenizers_in_children():
        tokenised = iter(loader)  # forks the workers
    in_flight: tuple[np.ndarray, Any, Any] | None = None  # (rows, host tensor, copy-done event) of the last batch
    with torch.inference_mode():
        for i, features in enumerate(tokenised):
            features = {k: v.to(dev, non_blocking=True) if isinstance(v, torch.Tensor) else v
                        for k, v in features.items()}
            emb = embed(features)
            if not cuda:
                yield batches[i], emb.cpu().numpy()
                continue
            host = torch.empty(emb.shape, dtype=emb.dtype, pin_memory=True)
            host.copy_(emb, non_blocking=True)
            done = torch.cuda.Event()
            done.record()
            if in_flight is not None:
                yield _collect(in_flight)
            in_flight = (batches[i], host, done)
        if in_flight is not None:
            yield _collect(in_flight)


@contextlib.contextmanager
def _one_thread_tokenizers_in_children():
    """Forked workers tokenise one batch each on one thread: said before the fork, so the tokenizers library
    does not warn (once per worker) that its thread pool cannot follow; this process keeps its own setting."""
    key, before = "TOKENIZERS_PARALLELISM", os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def _collect(in_flight: tuple[np.ndarray, Any, Any]) -> tuple[np.ndarray, np.ndarray]:
    rows, host, done = in_flight
    done.synchronize()
    return rows, host.numpy()
