"""Start, watch and cancel a background command (the app's training and map builds) as a subprocess.

The way Latent Scope runs its pipeline stages: the app never trains or builds inside its own process.
It starts `python -m univar_core.cli ...` in a job folder, in a process group of its own, with stdout and
stderr going to JOB/log.txt; the command reports progress in a status.json (jobs/status.py); every page
rerun reads JOB/job.json, that status.json and the log tail. Cancel ends the whole process group
(SIGTERM, which the CLI turns into a clean interrupt, then SIGKILL after a grace period) and marks the
status cancelled. One job at a time per runs directory (``JobBusyError``): two CPU-heavy runs on a shared
machine only slow each other down.

JOB/job.json: {kind, label, argv, pid, started, status_dir, meta} + {state, returncode, finished} once it
has ended. A job's id is its folder's path.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from univar_core._atomic import write_json
from univar_core.jobs.status import mark_cancelled, progress_of, read_status
from univar_core.paths import REPO_ROOT
from univar_core.training.runs import runs_dir

JOB_FILE = "job.json"
LOG_FILE = "log.txt"
BUILDS_DIR = ".builds"          # job folders of map builds, under the runs directory (hidden from list_runs)
COLLECT_DIR = ".collect"        # job folders of answer collections (univar_core/jobs/collection.py)
CANCEL_GRACE_S = 5.0

_children: dict[int, subprocess.Popen] = {}   # processes this process started (polled, so none stays a zombie)
_lock = threading.Lock()
_start_lock = threading.Lock()                # app sessions are threads: check-then-start as one step


class JobBusyError(RuntimeError):
    """A job is already running; a second one is refused."""


@dataclass(frozen=True)
class Job:
    """A snapshot of one job, read from its folder."""
    path: Path
    kind: str
    label: str
    state: str                       # running | done | failed | cancelled
    pid: int
    stage: str = ""
    done: int = 0
    total: int = 0
    started: float = 0.0
    finished: float | None = None
    error: str | None = None
    returncode: int | None = None
    status: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.path)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else (1.0 if self.state == "done" else 0.0)

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.time()) - self.started

    def log_tail(self, n: int = 20) -> list[str]:
        return log_tail(self.path, n)


def cli_argv(*args: str) -> list[str]:
    """`univar ARGS` run by this interpreter (works without `univar` on PATH)."""
    return [sys.executable, "-m", "univar_core.cli", *args]


def log_tail(job_dir: str | Path, n: int = 20) -> list[str]:
    """The last n lines of the job's log; a progress bar's carriage-return updates count as lines."""
    try:
        with open(Path(job_dir) / LOG_FILE, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64_000))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    lines = [part.strip() for part in text.replace("\r", "\n").split("\n")]
    return [line for line in lines if line][-n:]


def _read_info(job_dir: Path) -> dict:
    try:
        return json.loads((job_dir / JOB_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _alive(pid: int, argv: list[str] | None = None) -> tuple[bool, int | None]:
    """(running, exit code when known). A child of this process is polled (and so reaped); another
    process (started before the app restarted) counts only while its pid still runs the job's command,
    so a pid reused after a reboot does not look like a job forever."""
    with _lock:
        proc = _children.get(pid)
    if proc is not None:
        code = proc.poll()
        return code is None, code
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, None
    except PermissionError:
        return True, None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:   # no /proc (macOS): trust the pid
        return True, None
    same = argv is None or [c.decode(errors="replace") for c in cmdline if c][-len(argv):] == [str(a) for a in argv]
    return same, None


def job_folders(root: str | Path | None = None) -> list[Path]:
    """Every job folder under the runs directory (training runs and map builds)."""
    root = Path(root) if root is not None else runs_dir()
    patterns = (f"*/{JOB_FILE}", f"{BUILDS_DIR}/*/{JOB_FILE}", f"{COLLECT_DIR}/*/{JOB_FILE}")
    return sorted(p.parent for pattern in patterns for p in root.glob(pattern))


def read_job(job_dir: str | Path) -> Job:
    """The job's state now. The first read after its process ended records how it ended in job.json."""
    job_dir = Path(job_dir)
    info = _read_info(job_dir)
    if not info:
        raise FileNotFoundError(f"{job_dir} is not a job folder (no {JOB_FILE})")
    status = read_status(info.get("status_dir") or job_dir) or {}
    state, error, code = info.get("state"), None, info.get("returncode")
    if state is None:
        running, code = _alive(int(info["pid"]), info.get("argv"))
        if running:
            state = "running"
        else:
            state, error = _ended(status, code, job_dir)
            info.update(state=state, returncode=code, finished=time.time(), error=error)
            write_json(job_dir / JOB_FILE, info)
            with _lock:
                _children.pop(int(info["pid"]), None)
    error = info.get("error") or error
    if state == "cancelled":
        error = "cancelled by the user"
    stage, done, total = progress_of(status)
    return Job(path=job_dir, kind=info.get("kind", ""), label=info.get("label", job_dir.name), state=state,
               pid=int(info["pid"]), stage=stage, done=done, total=total, started=float(info.get("started", 0)),
               finished=info.get("finished"), error=error, returncode=code, status=status,
               meta=info.get("meta") or {})


def _ended(status: dict, code: int | None, job_dir: Path) -> tuple[str, str | None]:
    """How a finished process ended: its exit code first, else what its status file says."""
    if code == 0 or (code is None and status.get("state") == "done"):
        return "done", None
    if status.get("state") == "cancelled":
        return "cancelled", None
    said = [line for line in log_tail(job_dir, 200) if line.startswith("error:")]
    error = status.get("error") or (said[-1][len("error:"):].strip() if said else None)
    if error is None:
        error = f"exited with code {code}" if code is not None else "the process ended without reporting"
    return "failed", error


def active_job(root: str | Path | None = None) -> Job | None:
    """The running job of this runs directory, if any."""
    for folder in job_folders(root):
        try:
            job = read_job(folder)
        except (FileNotFoundError, KeyError, ValueError):
            continue
        if job.running:
            return job
    return None


def start_job(argv: list[str], job_dir: str | Path, *, kind: str, label: str, status_dir: str | Path | None = None,
              meta: dict | None = None, root: str | Path | None = None, env: dict[str, str] | None = None,
              nice: int = 0) -> Job:
    """Run argv in job_dir (created) as its own process group, output to job_dir/log.txt.

    status_dir: where the command writes status.json (default job_dir). env: extra environment variables
    for the child only (an API key: never on the command line, never in job.json). nice: run it at that
    lower CPU priority (`nice -n`; work nobody waits for, so the app and the browser keep the CPU). Raises
    JobBusyError while another job of the runs directory `root` runs."""
    with _start_lock:
        busy = active_job(root)
        if busy is not None:
            where = f"{busy.stage} {busy.done}/{busy.total}" if busy.total else (busy.stage or busy.kind)
            raise JobBusyError(f"'{busy.label}' is still running ({where}); wait for it to finish or cancel it")
        return _spawn(argv, Path(job_dir), kind=kind, label=label, status_dir=status_dir, meta=meta, env=env,
                      nice=nice)


def _spawn(argv: list[str], job_dir: Path, *, kind: str, label: str, status_dir: str | Path | None,
           meta: dict | None, env: dict[str, str] | None = None, nice: int = 0) -> Job:
    job_dir.mkdir(parents=True, exist_ok=True)
    status_dir = Path(status_dir) if status_dir is not None else job_dir
    for stale in (job_dir / JOB_FILE, status_dir / "status.json"):
        stale.unlink(missing_ok=True)   # a reused folder must not show the last run's end
    extra = env
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(extra or {}))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    with open(job_dir / LOG_FILE, "wb") as log:
        # `nice` execs the command: the process's cmdline stays argv (what _alive compares)
        prefix = ["nice", "-n", str(int(nice))] if nice and shutil.which("nice") else []
        proc = subprocess.Popen(prefix + [str(a) for a in argv], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT), env=env, start_new_session=True)
    with _lock:
        _children[proc.pid] = proc
    write_json(job_dir / JOB_FILE, {"kind": kind, "label": label, "argv": [str(a) for a in argv],
                                           "pid": proc.pid, "started": time.time(), "status_dir": str(status_dir),
                                           "meta": dict(meta or {})})
    return read_job(job_dir)


def wait_job(job_dir: str | Path, timeout: float | None = None, poll_s: float = 0.2) -> Job:
    """Block until the job ends or timeout passes (tests, scripts); returns its last snapshot."""
    deadline = None if timeout is None else time.monotonic() + timeout
    job = read_job(job_dir)
    while job.running and (deadline is None or time.monotonic() < deadline):
        time.sleep(poll_s)
        job = read_job(job_dir)
    return job


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)   # start_new_session: the group id is the leader's pid
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid)[0]:
            return True
        time.sleep(0.05)
    return not _alive(pid)[0]


def cancel_job(job_dir: str | Path, *, grace_s: float = CANCEL_GRACE_S) -> Job:
    """End the job's process group (SIGTERM, then SIGKILL after grace_s) and mark it cancelled.
    A job that already ended is left as it ended."""
    job_dir = Path(job_dir)
    job = read_job(job_dir)
    if not job.running:
        return job
    _signal_group(job.pid, signal.SIGTERM)
    if not _wait_gone(job.pid, grace_s):
        _signal_group(job.pid, signal.SIGKILL)
        _wait_gone(job.pid, grace_s)
    info = _read_info(job_dir)
    _, code = _alive(job.pid)
    info.update(state="cancelled", returncode=code, finished=time.time())
    write_json(job_dir / JOB_FILE, info)
    mark_cancelled(info.get("status_dir") or job_dir)
    with _lock:
        _children.pop(job.pid, None)
    return read_job(job_dir)


__all__ = ["Job", "JobBusyError", "cli_argv", "start_job", "read_job", "wait_job", "cancel_job", "active_job",
           "job_folders", "log_tail", "JOB_FILE", "LOG_FILE", "BUILDS_DIR", "COLLECT_DIR"]
