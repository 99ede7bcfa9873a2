"""One collection run end to end: bank + languages -> plan -> answers (resumable) -> QA file + settings.

This is what `univar collect` and the Add a model page (through the CLI in a subprocess) call.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from univar_core._atomic import write_json
from univar_core.collect import collector
from univar_core.collect.backends import AnswerBackend, GenerationSettings
from univar_core.collect.bank import BUILTIN_BANK
from univar_core.collect.collector import CollectProgress
from univar_core.collect.journal import AnswerJournal

BUILTIN_DATASET = "univar-questions"


@dataclass
class CollectResult:
    out: Path
    qas: pd.DataFrame
    progress: CollectProgress
    settings_file: Path

    def summary(self) -> str:
        p = self.progress
        by_status = self.qas["answer_status"].value_counts() if len(self.qas) else pd.Series(dtype=int)
        return (f"{len(self.qas):,} answers ({p.asked:,} asked now, {p.from_journal:,} from an earlier run) "
                f"from {self.qas['value_id'].nunique() if len(self.qas) else 0} value IDs; "
                f"empty {int(by_status.get('empty', 0)):,}, refused {int(by_status.get('refused', 0)):,} "
                f"(kept, column answer_status); {p.n_retries:,} retries; "
                f"{p.answers_per_s:.2f} answers/s, {p.prompt_tokens + p.completion_tokens:,} tokens "
                f"({p.completion_tokens:,} generated)")


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def english_answers(table: pd.DataFrame, translator) -> pd.DataFrame:
    """Answers in other languages machine-translated into English, as the UniVaR paper embeds them; the
    question becomes the bank's English original when there is one (translating the translated question
    back would only add noise). The asked question and the answer as given stay in question_original /
    answer_original, their language in mt_lang."""
    from univar_core.collect.translation import translate_qas

    out, _ = translate_qas(table, translator, to="eng", columns=("answer",))
    out["question_original"] = out["question"]
    english = (out["mt_lang"] != "") & (out.get("question_eng", "") != "")
    out.loc[english, "question"] = out.loc[english, "question_eng"]
    return out


def run_collection(backend: AnswerBackend, bank: pd.DataFrame, *, langs: list[str], out: str | os.PathLike,
                   n_questions: int | None = None, samples: int = 1,
                   settings: GenerationSettings | None = None, dataset: str | None = None,
                   bank_path: str | os.PathLike | None = None, translator=None, translate_answers: bool = True,
                   restart: bool = False,
                   progress: Callable[[CollectProgress], None] | None = None,
                   stop: threading.Event | None = None) -> CollectResult:
    """Collect the answers still missing for (bank[:n_questions] x langs x samples) and write ``out``.

    The journal ``<out>.answers.jsonl`` keeps every finished answer; ``restart`` discards it first.
    ``translator``: a translation.Translator for questions the bank lacks in a language and, with
    ``translate_answers``, for the answers in other languages than English (see :func:`english_answers`)."""
    out = Path(out)
    settings = settings or GenerationSettings()
    if out.suffix.lower() not in collector.OUTPUT_TYPES:
        raise collector.QAInputError(f"the output must end in {', '.join(collector.OUTPUT_TYPES)}",
                                     source=str(out))
    tasks = collector.plan_tasks(bank, langs, n_questions=n_questions, samples=samples,
                                 translate=translator.translate if translator is not None else None)
    described = backend.describe()
    compat = {"backend": described.get("backend"), "model": backend.model,
              "endpoint": described.get("endpoint"), "model_hash": described.get("content_hash"),
              **vars(settings), "translator": getattr(translator, "identity", None)}
    jpath = collector.journal_path(out)
    if restart:
        jpath.unlink(missing_ok=True)
    with AnswerJournal(jpath, compat) as journal:
        stats = collector.collect_answers(backend, tasks, journal, settings, progress=progress, stop=stop)
        dataset = dataset or (BUILTIN_DATASET if bank_path is None else Path(bank_path).stem)
        table = collector.qa_table(tasks, journal, model=backend.model, dataset=dataset)
    if translator is not None and translate_answers:
        table = english_answers(table, translator)
    collector.write_table_atomic(table, out)
    bank_file = Path(bank_path) if bank_path is not None else BUILTIN_BANK
    record = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "output": str(out), "journal": str(jpath),
        "source": described, "generation": vars(settings), "samples_per_question": samples,
        "languages": langs, "n_questions": int(tasks["question_id"].nunique()),
        "question_sources": tasks.groupby("lang")["question_source"].agg(lambda s: sorted(set(s))).to_dict(),
        "bank": {"path": "built-in" if bank_path is None else str(bank_path), "sha256": _file_sha256(bank_file)},
        "translator": getattr(translator, "identity", None),
        "counts": {"answers": int(len(table)), "asked_this_run": stats.asked, "from_earlier_runs": stats.from_journal,
                   "empty": stats.n_empty, "refused": stats.n_refused, "retries": stats.n_retries,
                   "prompt_tokens_this_run": stats.prompt_tokens,
                   "completion_tokens_this_run": stats.completion_tokens,
                   "answers_per_s_this_run": round(stats.answers_per_s, 3)},
    }
    spath = collector.settings_path(out)
    write_json(spath, record)
    return CollectResult(out=out, qas=table, progress=stats, settings_file=spath)
