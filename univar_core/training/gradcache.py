"""Exact gradient accumulation for losses with in-batch negatives (GradCache, Gao et al., 2021).

Plain gradient accumulation changes a contrastive loss: each micro-batch only sees its own negatives,
so 8 micro-batches of 32 view pairs train like batch 32, not batch 256. GradCache keeps the loss of the
whole batch while holding the activations of one micro-batch at a time:

1. embed every micro-batch without autograd, remembering the random state (dropout) before each;
2. compute the loss on all embeddings together and backpropagate it to the embeddings only;
3. embed each micro-batch again, with autograd and the same random state, and backpropagate its slice
   of the embedding gradient into the model.

The parameters get the gradient of one pass over the whole batch; the price is one extra forward pass
without autograd. With a single micro-batch it is exactly one ordinary forward and backward.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Sequence

import torch


class _RandomState:
    """CPU and CUDA generator states, so a second forward pass draws the same dropout masks."""

    def __init__(self):
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None

    @contextmanager
    def restored(self):
        devices = list(range(len(self.cuda))) if self.cuda is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state_all(self.cuda)
            yield


def backward_whole_batch(embed: Callable[[object], torch.Tensor], chunks: Sequence[object],
                         loss_fn: Callable[[torch.Tensor], torch.Tensor], *,
                         scale: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Backpropagate loss_fn over the embeddings of all chunks, one chunk's activations at a time.

    embed(chunk) returns the chunk's embeddings (rows, dim) with autograd; loss_fn takes the rows of all
    chunks concatenated in order and returns a scalar. scale (e.g. a GradScaler's `scale`) is applied to
    the loss before backward. Returns the loss, detached and not synchronised (no `.item()`).
    """
    if len(chunks) == 1:
        loss = loss_fn(embed(chunks[0]))
        (scale(loss) if scale else loss).backward()
        return loss.detach()
    states, cached = [], []
    with torch.no_grad():
        for chunk in chunks:
            states.append(_RandomState())
            cached.append(embed(chunk))
    rows = torch.cat(cached).requires_grad_()
    loss = loss_fn(rows)
    (scale(loss) if scale else loss).backward()
    assert rows.grad is not None  # backward() above filled it: rows is a leaf that requires grad
    grads = rows.grad.split([len(c) for c in cached])
    for state, chunk, grad in zip(states, chunks, grads):
        with state.restored():
            again = embed(chunk)
        again.backward(grad)
    return loss.detach()
