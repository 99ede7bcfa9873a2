"""`univar collect` and `univar translate` as background jobs of the app (jobs.runner): start, progress,
cancel, with the collection's own folder layout.

A collection's job folder is <runs>/.collect/<model>-<hash of the form>: the same form submitted again
lands in the same folder, and `univar collect` resumes from the journal there (answers.csv.answers.jsonl).
The API key reaches the child only through its environment (never its command line, which other users
of the machine can read, nor job.json).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from univar_core.jobs.runner import COLLECT_DIR, Job, cli_argv, start_job
from univar_core.jobs.starters import cli_options
from univar_core.training.runs import runs_dir

KEY_ENV = "UNIVAR_COLLECT_API_KEY"
ANSWERS = "answers.csv"
ANSWERS_ENG = "answers_eng.csv"
# error types whose message is already written for a person (the type name adds nothing for them)
_PLAIN = ("EndpointConfigError", "EndpointUnavailableError", "QAInputError", "JournalMismatchError")


def run_folder(model: str, *settings: object, root: str | Path | None = None) -> Path:
    """Where the app's collection for (model, settings) lives."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(model)).strip("-.")[:60] or "model"
    digest = hashlib.sha256(json.dumps([str(model), *map(str, settings)]).encode()).hexdigest()[:8]
    return (Path(root) if root is not None else runs_dir()) / COLLECT_DIR / f"{safe}-{digest}"


def start_collect(*, model: str, langs: list[str], n_questions: int, endpoint: str | None = None,
                  local_model: str | None = None, api_key: str | None = None, max_tokens: int = 128,
                  concurrency: int = 8, root: str | Path | None = None) -> Job:
    """`univar collect` into its run folder (see :func:`run_folder`); job.meta["out"] is the QA file."""
    folder = run_folder(model, endpoint or local_model, langs, n_questions, root=root)
    out = folder / ANSWERS
    source = {"endpoint": endpoint} if endpoint else {"local_model": local_model}
    argv = cli_argv("collect", *cli_options(**source, model=model, langs=",".join(langs), questions=n_questions,
                                            out=out, concurrency=concurrency, max_tokens=max_tokens,
                                            api_key_env=KEY_ENV if api_key else None, status_dir=folder))
    return start_job(argv, folder, kind="collect", label=f"collecting answers of {model}", root=root,
                     env={KEY_ENV: api_key} if api_key else None, meta={"out": str(out), "model": model})


def start_translate(collected: str | os.PathLike, *, mt_model: str, root: str | Path | None = None) -> Job:
    """`univar translate` of a collection's answers into English, next to them (answers_eng.csv). Only the
    answers: the page asks languages the bank lacks in English (with the instruction to answer in them)."""
    src = Path(collected)
    out = src.with_name(ANSWERS_ENG)
    argv = cli_argv("translate", str(src), *cli_options(model=mt_model, out=out, columns="answer",
                                                        status_dir=src.parent))
    return start_job(argv, src.parent, kind="translate", label=f"translating {src.parent.name}", root=root,
                     meta={"out": str(out)})


def user_message(error: str | None) -> str:
    """A job's error as the page shows it: the message, without the exception type when it says nothing."""
    text = str(error or "stopped")
    kind, _, rest = text.partition(": ")
    return rest if kind in _PLAIN and rest else text
