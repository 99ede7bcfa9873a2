"""A training run's folder: lock, loss log, status and checkpoints, on their own."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from univar_core._atomic import write_json
from univar_core.training.run_folder import (
    LOCK_NAME,
    LossLog,
    RunLock,
    TrainingLockedError,
    has_checkpoint,
    load_checkpoint,
    read_loss_log,
    read_status,
    save_checkpoint,
)


class _Sampler:
    def __init__(self, cursor):
        self.cursor = cursor

    def state(self):
        return {"cursor": self.cursor}

    def load_state(self, state):
        self.cursor = state["cursor"]


def test_lock_is_exclusive_and_released(tmp_path):
    messages = []
    with RunLock(tmp_path, messages.append):
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid()
        with pytest.raises(TrainingLockedError, match=f"pid {os.getpid()}"):
            RunLock(tmp_path, messages.append).__enter__()
    assert (tmp_path / LOCK_NAME).read_text() == "" and messages == []  # released: no holder recorded
    with RunLock(tmp_path, messages.append):  # and free for the next run
        pass


def test_loss_log_on_resume_keeps_rows_up_to_the_checkpoint(tmp_path):
    log = LossLog(tmp_path / "train_log.csv", resume_step=0)
    for step in range(1, 6):
        log.add(step, 1.0 / step, 1e-3, float(step))
    log.close()
    resumed = LossLog(tmp_path / "train_log.csv", resume_step=3)
    resumed.add(4, 0.2, 1e-3, 9.0)
    resumed.close()
    table = read_loss_log(tmp_path)
    assert table["step"].tolist() == [1, 2, 3, 4] and table["loss"].iloc[-1] == pytest.approx(0.2)
    assert read_loss_log(tmp_path / "nothing").columns.tolist() == ["step", "loss", "lr", "elapsed"]


def test_status_is_written_atomically_and_a_broken_one_reads_as_none(tmp_path):
    assert read_status(tmp_path) is None
    write_json(tmp_path / "status.json", {"state": "running", "step": 3})
    assert read_status(tmp_path) == {"state": "running", "step": 3}
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / "status.json").write_text("{not json")
    assert read_status(tmp_path) is None


def test_checkpoint_round_trip_restores_model_optimizer_sampler_and_rng(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(torch.randn(8, 4)).pow(2).mean().backward()
    opt.step()
    rng = np.random.default_rng(3)
    rng.integers(10, size=5)
    assert not has_checkpoint(tmp_path)
    save_checkpoint(tmp_path, 7, model, opt, _Sampler(cursor=[1, 2]), rng)
    assert has_checkpoint(tmp_path)
    expected_next = rng.integers(1000, size=4)

    fresh = torch.nn.Linear(4, 3)
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=1e-2)
    sampler, fresh_rng = _Sampler(cursor=None), np.random.default_rng(99)
    meta = load_checkpoint(tmp_path, fresh, fresh_opt, sampler, fresh_rng)
    assert meta["step"] == 7 and sampler.cursor == [1, 2]
    np.testing.assert_array_equal(fresh_rng.integers(1000, size=4), expected_next)
    for a, b in zip(fresh.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert fresh_opt.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    torch.testing.assert_close(fresh_opt.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
