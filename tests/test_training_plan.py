"""training/plan.py (the one training set-up of `univar train` and the app), training/runs.py (run
folders) and encoders/compat.py (which head fits which map): a split keeps only its train side, rows and
vectors together; a head trained on a map's vectors records the map's encoder; full mode drops given
vectors; options of the other mode are refused; a trained run is listed and matched to maps."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from univar_core.encoders import compat
from univar_core.encoders.base import DEFAULT_ENCODER
from univar_core.training import plan, runs
from univar_core.training.run_folder import RunLock, TrainingLockedError

MANIFEST = {"encoder": {"name": "toy", "content_hash": "abc123", "dim": 16}}


def _planted(n_vid=4, n_per=40, d=16, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_vid, d))
    y = np.repeat(np.arange(n_vid), n_per)
    emb = (centers[y] + 0.8 * rng.normal(size=(len(y), d))).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    qas = pd.DataFrame({"value_id": [f"m{v}$eng" for v in y], "question_id": [f"q{i % n_per}" for i in range(len(y))],
                        "question": [f"q{i % n_per}" for i in range(len(y))],
                        "answer": [f"a{i}" for i in range(len(y))], "row": np.arange(len(y))})
    return qas, emb


def test_split_keeps_the_train_side_rows_and_vectors_together():
    qas, emb = _planted()
    p = plan.plan_training(qas, emb, manifest=MANIFEST, source_map="toy", split_by="question_id",
                           test_fraction=0.25, seed=3, steps=10)
    assert 0 < len(p.qas) < len(qas)
    assert np.array_equal(p.embeddings, emb[p.qas["row"].to_numpy()])       # aligned after the split
    held = set(qas["question_id"]) - set(p.qas["question_id"])
    assert held, "no question held out"
    assert p.info["split"] == {"by": "question_id", "test_fraction": 0.25, "seed": 3}
    assert p.info["source_map"] == "toy" and p.options == {"steps": 10, "seed": 3}
    assert "split by question_id" in p.split_summary


def test_base_rules_by_mode_and_source():
    qas, emb = _planted()
    from_map = plan.plan_training(qas, emb, manifest=MANIFEST)
    assert isinstance(from_map.base, compat.RecordedBase)
    assert (from_map.base.name, from_map.base.content_hash) == ("toy", "abc123")
    from_file = plan.plan_training(qas, emb, base="my-encoder")          # a file's own vectors: its named base
    assert from_file.base == "my-encoder" and from_file.embeddings is not None
    full = plan.plan_training(qas, emb, mode="full", manifest=MANIFEST, batch_pairs=8)
    assert full.embeddings is None and full.base == "toy" and full.options["batch_pairs"] == 8
    assert plan.default_base({"encoder": {"name": "vecs", "content_hash": "precomputed"}}) == DEFAULT_ENCODER
    assert plan.default_base(None) == DEFAULT_ENCODER


def test_options_of_the_other_mode_are_refused():
    qas, emb = _planted()
    with pytest.raises(ValueError, match="--micro-batch-pairs only apply to --mode full"):
        plan.plan_training(qas, emb, micro_batch_pairs=4)
    with pytest.raises(ValueError, match="--pairs-per-value-id only apply to --mode head"):
        plan.plan_training(qas, emb, mode="full", pairs_per_value_id=4)
    with pytest.raises(ValueError, match="mode"):
        plan.plan_training(qas, emb, mode="tiny")
    assert plan.mode_defaults("head")["steps"] == 1500 and plan.mode_defaults("full")["batch_pairs"] == 256


def test_a_planned_head_run_is_listed_and_matched_to_maps(tmp_path):
    qas, emb = _planted()
    out = tmp_path / "runs" / "toy-head"
    p = plan.plan_training(qas, emb, manifest=MANIFEST, source_map="toy", steps=30, hidden_dim=32, out_dim=8,
                           log_every=5)
    result = p.run(out)
    assert result.steps_done == 30
    table = runs.list_runs(tmp_path / "runs")
    assert table["name"].tolist() == ["toy-head"]
    row = table.iloc[0]
    assert row["kind"] == "head" and row["state"] == "done" and row["source_map"] == "toy"
    assert row["base_content_hash"] == "abc123"
    z = compat.load_head_for_map(out, MANIFEST).transform(emb)
    assert z.shape == (len(emb), 8) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    ok, why = compat.head_matches_map(out, {"encoder": {"name": "other", "content_hash": "zzz", "dim": 16}})
    assert not ok and "toy" in why
    with pytest.raises(ValueError, match="toy-head"):
        compat.load_head_for_map(out, {"encoder": {"name": "other", "content_hash": "zzz", "dim": 16}})
    # precomputed maps all record the hash "precomputed": then the base name must match as well
    same = {"encoder": {"name": "vectors-A", "content_hash": "precomputed", "dim": 16}}
    plan.plan_training(qas, emb, manifest=same, steps=5, hidden_dim=16, out_dim=8).run(tmp_path / "runs" / "pre")
    assert compat.head_matches_map(tmp_path / "runs" / "pre", same)[0]
    other = {"encoder": {"name": "vectors-B", "content_hash": "precomputed", "dim": 16}}
    assert not compat.head_matches_map(tmp_path / "runs" / "pre", other)[0]
    # the trainer's own out_dir lock: a live holder (this process) makes a second run on the folder fail
    with RunLock(out, print), pytest.raises(TrainingLockedError, match=f"in use by training run pid {os.getpid()}"):
        p.run(out)


def test_run_names_are_validated():
    assert runs.validate_run_name("head-1.2_x") == "head-1.2_x"
    for bad in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(ValueError):
            runs.validate_run_name(bad)
    assert runs.default_run_name("head", []).startswith("head-")
