"""The app's background work, run as `univar` subprocesses and watched through their run folders.

runner    start a command in a job folder (own process group, log.txt), read its state from job.json +
          status.json, cancel it (the whole process group); one job at a time per runs directory
status    status.json of a run: the progress callback `univar build/rebuild --status-dir` writes with
starters  the app's runs as command lines: `univar train`, `univar build`, `univar rebuild`
collection  `univar collect` / `univar translate` jobs of the Add a model page, in their own folders

No torch and no streamlit here: the app's process only starts and reads.
"""
from univar_core._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "runner": ["Job", "JobBusyError", "start_job", "read_job", "wait_job", "cancel_job", "active_job", "log_tail"],
    "status": ["StatusFile", "progress_of"],
    "starters": ["start_training", "start_build", "start_rebuild"],
    "collection": ["start_collect", "start_translate"],
})
