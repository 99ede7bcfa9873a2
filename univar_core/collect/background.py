"""`univar collect` (and `univar translate`) as a subprocess the app watches: start, progress, cancel.

The child writes its progress to a status JSON file (atomically, a few times a second) and its
messages to a log file; the app reads both on every rerun. A subprocess rather than a thread, because
a collection can run for hours: it survives the browser tab, can be killed without taking the app
down, and resumes from its journal when started again. The API key reaches the child only through
its environment (never its command line, which other users of the machine can read).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from univar_core._atomic import write_json
from univar_core.paths import REPO_ROOT

KEY_ENV = "UNIVAR_COLLECT_API_KEY"
STATUS_FILE = "status.json"
LOG_FILE = "log.txt"


def write_status(path: str | os.PathLike, status: dict) -> None:
    write_json(path, {**status, "updated": time.time()})


def read_status(path: str | os.PathLike) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


@dataclass
class BackgroundCommand:
    """One `univar` subprocess writing into ``folder`` (status.json, log.txt and its outputs)."""
    folder: Path
    proc: subprocess.Popen
    out: Path
    started: float = field(default_factory=time.time)

    @property
    def status_file(self) -> Path:
        return self.folder / STATUS_FILE

    @property
    def log_file(self) -> Path:
        return self.folder / LOG_FILE

    def status(self) -> dict:
        """The child's last status, with ``state`` settled once it has exited (running, done, failed,
        cancelled) and ``error`` holding its last error line when it failed without saying why."""
        status = read_status(self.status_file)
        code = self.proc.poll()
        if code is None:
            return {**status, "state": "running"}
        if code == 0:
            return {**status, "state": "done"}
        if status.get("state") not in ("failed", "cancelled"):
            state = "cancelled" if code in (130, -signal.SIGTERM, -signal.SIGKILL) else "failed"
            status = {**status, "state": state, "error": status.get("error") or self.last_error_line()}
        return status

    def last_error_line(self) -> str:
        lines = [ln for ln in self.log_tail(50) if ln.startswith("error:")]
        return lines[-1][len("error:"):].strip() if lines else "the collection stopped (see the log)"

    def log_tail(self, n: int = 20) -> list[str]:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return []
        # tqdm redraws its bar with carriage returns: keep the last state of each line
        return [ln.split("\r")[-1] for ln in text.splitlines() if ln.strip()][-n:]

    def cancel(self, grace_s: float = 5.0) -> None:
        """SIGTERM (the child stops like Ctrl-C, keeping every finished answer), SIGKILL after ``grace_s``:
        the journal survives a kill too."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_univar(args: list[str], *, folder: str | os.PathLike, out: str | os.PathLike,
                 api_key: str | None = None, env: dict[str, str] | None = None) -> BackgroundCommand:
    """Run ``python -m univar_core.cli ARGS --status-file FOLDER/status.json`` in the background."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    child_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    child_env.pop(KEY_ENV, None)
    if api_key:
        child_env[KEY_ENV] = api_key
        args = [*args, "--api-key-env", KEY_ENV]
    status_file = folder / STATUS_FILE
    status_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "univar_core.cli", *map(str, args), "--status-file", str(status_file)]
    with open(folder / LOG_FILE, "ab") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    return BackgroundCommand(folder=folder, proc=proc, out=Path(out))


def collect_args(*, endpoint: str | None, model: str, local_model: str | None, langs: list[str], n_questions: int,
                 out: str | os.PathLike, mt_model: str | None = None, concurrency: int = 8,
                 max_tokens: int = 128) -> list[str]:
    """The `univar collect` arguments of the Add a model page's form."""
    args = ["collect", "--model", model, "--langs", ",".join(langs), "--questions", str(n_questions),
            "--out", str(out), "--concurrency", str(concurrency), "--max-tokens", str(max_tokens)]
    args += ["--endpoint", endpoint] if endpoint else ["--local-model", str(local_model)]
    if mt_model:
        args += ["--mt-model", mt_model]
    return args
