"""A trained head: saved, reloaded onto its base encoder (checked by content hash), used as an encoder."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from univar_core.encoders.head import HEAD_JSON, HeadEncoder, make_head, save_head


@dataclass
class _Result:
    embeddings: np.ndarray


class _FakeBase:
    """Stands in for an Encoder: fixed 6-d embeddings per text."""
    name, content_hash, max_tokens = "fake-base", "abc123", 128

    def encode_qas(self, questions, answers, *, progress=None):
        rng = np.random.default_rng(len(questions))
        return _Result(rng.normal(size=(len(questions), 6)).astype(np.float32))


def _saved_head(tmp_path):
    torch.manual_seed(0)
    head = make_head(6, 8, 4)
    config = {"base": "fake-base", "base_content_hash": "abc123", "in_dim": 6, "hidden_dim": 8, "out_dim": 4}
    save_head(tmp_path, head, config, {"final_loss": 0.5})
    return head


def test_a_saved_head_reloads_and_encodes_like_the_module(tmp_path):
    head = _saved_head(tmp_path)
    loaded = HeadEncoder.load(tmp_path, base=_FakeBase())
    assert loaded.dim == 4 and loaded.metrics == {"final_loss": 0.5} and loaded.name == str(tmp_path)
    out = loaded.encode_qas(["q1", "q2", "q3"], ["a1", "a2", "a3"]).embeddings
    base = _FakeBase().encode_qas(["q1", "q2", "q3"], ["a1", "a2", "a3"]).embeddings
    with torch.no_grad():
        x = torch.nn.functional.normalize(torch.from_numpy(base), dim=1)
        want = torch.nn.functional.normalize(head(x), dim=1).numpy()
    np.testing.assert_allclose(out, want, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    assert HeadEncoder.load(tmp_path, base=_FakeBase()).content_hash == loaded.content_hash


def test_a_head_refuses_another_base_and_unknown_files(tmp_path):
    _saved_head(tmp_path)
    other = _FakeBase()
    other.content_hash = "different"
    with pytest.raises(ValueError, match="content hash abc123"):
        HeadEncoder.load(tmp_path, base=other)
    meta = json.loads((tmp_path / HEAD_JSON).read_text())
    (tmp_path / HEAD_JSON).write_text(json.dumps({**meta, "format": "something-else"}))
    with pytest.raises(ValueError, match="unknown format"):
        HeadEncoder.load(tmp_path, base=_FakeBase())
    with pytest.raises(ValueError, match="not a readable trained head"):
        HeadEncoder.load(tmp_path / "missing", base=_FakeBase())


def test_without_a_base_only_cached_embeddings_can_be_transformed(tmp_path):
    head = _saved_head(tmp_path)
    bare = HeadEncoder(None, head, {"base": "fake-base", "out_dim": 4})
    assert bare.transform(np.ones((2, 6), dtype=np.float32)).shape == (2, 4)
    with pytest.raises(RuntimeError, match="no base encoder loaded"):
        bare.encode_qas(["q"], ["a"])
