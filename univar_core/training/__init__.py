"""Training a value encoder: the multi-view InfoNCE trainer, exact gradient accumulation, the run folder.

trainer     ``train_encoder`` (head on frozen features, or full fine-tune), view sampling, the loss
gradcache   exact gradient accumulation that keeps the whole step's in-batch negatives
run_folder  a run's lock, loss log, status.json and checkpoints
"""
from univar_core._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "trainer": ["train_encoder", "TrainConfig", "TrainResult", "mode_defaults"],
    "run_folder": ["read_status", "read_loss_log", "TrainingLockedError"],
})
