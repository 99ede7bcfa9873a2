"""GradCache: micro-batched backward gives the gradient of the whole batch's contrastive loss."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from univar_core.training.gradcache import backward_whole_batch
from univar_core.training.trainer import multiview_infonce


def _model(dropout: float) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.GELU(), torch.nn.Dropout(dropout),
                               torch.nn.Linear(16, 8))


def _batch(n_pairs=6, n_value_ids=3):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2 * n_pairs, 12, generator=g)            # rows a0, b0, a1, b1, ...
    labels = torch.arange(n_pairs) % n_value_ids
    return x, labels


def _loss_fn(labels):
    def loss(emb):
        pairs = emb.view(len(labels), 2, -1)
        return multiview_infonce(pairs[:, 0], pairs[:, 1], labels, 20.0)
    return loss


def _grads(model):
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    return grads


def test_micro_batches_give_the_whole_batch_gradient_with_dropout():
    """Reference: every chunk embedded with autograd in turn, one loss over all: same dropout draws."""
    model, (x, labels) = _model(dropout=0.3), _batch()
    chunks = list(x.split(4))

    def embed(chunk):
        return F.normalize(model(chunk), dim=-1)

    torch.manual_seed(7)
    reference_loss = _loss_fn(labels)(torch.cat([embed(c) for c in chunks]))
    reference_loss.backward()
    reference = _grads(model)

    torch.manual_seed(7)
    loss = backward_whole_batch(embed, chunks, _loss_fn(labels))
    assert not loss.requires_grad
    assert loss.item() == pytest.approx(reference_loss.item(), abs=1e-6)
    for got, want in zip(_grads(model), reference):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_one_chunk_is_a_plain_backward_and_naive_accumulation_differs():
    model, (x, labels) = _model(dropout=0.0), _batch()

    def embed(chunk):
        return F.normalize(model(chunk), dim=-1)

    _loss_fn(labels)(embed(x)).backward()
    whole = _grads(model)
    backward_whole_batch(embed, [x], _loss_fn(labels))
    for got, want in zip(_grads(model), whole):
        torch.testing.assert_close(got, want)
    backward_whole_batch(embed, list(x.split(4)), _loss_fn(labels))
    for got, want in zip(_grads(model), whole):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    # what plain accumulation would do: each micro-batch only sees its own negatives
    for s in range(0, len(x), 4):
        (_loss_fn(labels[s // 2:s // 2 + 2])(embed(x[s:s + 4])) * 2 / len(labels)).backward()
    naive = _grads(model)
    assert max((a - b).abs().max().item() for a, b in zip(naive, whole)) > 1e-3


def test_scale_is_applied_before_backward():
    model, (x, labels) = _model(dropout=0.0), _batch()

    def embed(chunk):
        return F.normalize(model(chunk), dim=-1)

    backward_whole_batch(embed, list(x.split(4)), _loss_fn(labels))
    plain = _grads(model)
    loss = backward_whole_batch(embed, list(x.split(4)), _loss_fn(labels), scale=lambda v: v * 8.0)
    for got, want in zip(_grads(model), plain):
        torch.testing.assert_close(got, want * 8.0, rtol=1e-5, atol=1e-6)
    assert loss.item() > 0          # the returned loss is unscaled
