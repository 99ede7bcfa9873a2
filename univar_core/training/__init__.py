"""Training a value encoder: the multi-view InfoNCE trainer, exact gradient accumulation, the run folder.

trainer     ``train_encoder`` (head on frozen features, or full fine-tune), view sampling, the loss
gradcache   exact gradient accumulation that keeps the whole step's in-batch negatives
run_folder  a run's lock, loss log, status.json and checkpoints
plan        the training plan shared by `univar train` and the app: split side, vectors, base, settings
runs        the runs directory: run names, run.json, listing the trained encoders
"""
from univar_core._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "trainer": ["train_encoder", "TrainConfig", "TrainResult"],
    "plan": ["TrainingPlan", "plan_training", "mode_defaults", "default_base"],
    "runs": ["runs_dir", "list_runs", "run_kind", "read_run_info", "validate_run_name", "default_run_name"],
    "run_folder": ["read_status", "read_loss_log", "TrainingLockedError"],
})
