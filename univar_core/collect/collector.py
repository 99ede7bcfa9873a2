"""Ask a model every (question, language, sample) of a plan that is not answered yet; write the QA file.

plan_tasks -> collect_answers (bounded concurrency, the journal records each answer as it arrives)
-> write_qa_file (atomic; the settings go next to it in ``<out>.collect.json``). A rerun of the same
command reads the journal and asks only what is missing; the output file is rewritten from the journal.

Languages: a question is asked in the bank's own version for that language when it has one; else
machine-translated from English when a translator is given (``question_source`` "mt"); else in
English with the instruction to answer in that language ("instruction"). The file records which.
"""
from __future__ import annotations

import os
import threading
import time
import zlib
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from univar_core._atomic import atomic_path
from univar_core.collect.answer_status import answer_status
from univar_core.collect.backends import AnswerBackend, GenerationSettings, Prompt
from univar_core.collect.bank import LENS_TAG_COLUMNS, select_questions
from univar_core.collect.journal import AnswerJournal, task_key
from univar_core.data.languages import iso639_3
from univar_core.data.schema import QAInputError, make_value_id
from univar_core.data.writers import csv_bytes

SETTINGS_SUFFIX = ".collect.json"
JOURNAL_SUFFIX = ".answers.jsonl"
OUTPUT_TYPES = (".csv", ".jsonl", ".parquet")


def journal_path(out: str | os.PathLike) -> Path:
    return Path(str(out) + JOURNAL_SUFFIX)


def settings_path(out: str | os.PathLike) -> Path:
    return Path(str(out) + SETTINGS_SUFFIX)


def language_name(code: str) -> str:
    import pycountry

    found = pycountry.languages.get(alpha_3=code)
    return getattr(found, "name", code) if found is not None else code


def parse_langs(text: str) -> list[str]:
    """'eng,zho' / 'en, zh' -> ['eng', 'zho'] (ISO 639-3); unknown codes are refused."""
    langs = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        code = iso639_3(part)
        if code is None:
            raise QAInputError(f"unknown language {part!r}: give ISO 639 codes such as eng, zho, ind",
                               source="--langs")
        if code not in langs:
            langs.append(code)
    if not langs:
        raise QAInputError("give at least one language, e.g. eng,zho", source="--langs")
    return langs


# ------------------------------------------------------------------------------------------ plan

def plan_tasks(bank: pd.DataFrame, langs: list[str], *, n_questions: int | None, samples: int = 1,
               translate: Callable[[list[str], str, str], list[str]] | None = None) -> pd.DataFrame:
    """One row per (question_id, lang, sample) to ask: key, question (as asked), question_source,
    instruction (the language instruction for the system prompt, or "") and the bank's tag columns."""
    if samples < 1:
        raise QAInputError(f"samples per question must be at least 1, got {samples}", source="--samples")
    chosen = select_questions(bank, n_questions)
    first = chosen.drop_duplicates("question_id")
    english = chosen[chosen["lang"] == "eng"].drop_duplicates("question_id").set_index("question_id")["question"]
    tags = [c for c in LENS_TAG_COLUMNS if c in chosen.columns]
    rows = []
    for lang in langs:
        own = chosen[chosen["lang"] == lang].set_index("question_id")["question"]
        missing = [q for q in first["question_id"] if q not in own.index]
        source_text = {q: english.get(q, first.set_index("question_id").at[q, "question"]) for q in missing}
        asked, source, instruction = dict(own), {q: "bank" for q in own.index}, {}
        if missing and translate is not None:
            done = translate([source_text[q] for q in missing], "eng", lang)
            asked.update(zip(missing, done, strict=True))
            source.update({q: "mt" for q in missing})
        elif missing:
            asked.update(source_text)
            source.update({q: "instruction" for q in missing})
            instruction = {q: f"Answer in {language_name(lang)}." for q in missing}
        for _, q in first.iterrows():
            qid = q["question_id"]
            for s in range(samples):
                rows.append({"key": task_key(qid, lang, s), "question_id": qid, "lang": lang, "sample": s,
                             "question": asked[qid], "question_source": source[qid],
                             "instruction": instruction.get(qid, ""),
                             "question_eng": english.get(qid, ""),
                             **{t: "; ".join(q[t]) if isinstance(q[t], (list, tuple)) else q[t] for t in tags}})
    return pd.DataFrame(rows)


def task_seed(settings: GenerationSettings, key: str) -> int:
    """Per-task seed: a resumed run asks each question exactly as the first run would have."""
    return (int(settings.seed) + zlib.crc32(key.encode())) % (2 ** 31)


# ------------------------------------------------------------------------------------------ run

@dataclass
class CollectProgress:
    total: int
    done: int = 0                # answered (this run + earlier runs)
    from_journal: int = 0        # answered by an earlier run
    asked: int = 0               # answered in this run
    prompt_tokens: int = 0
    completion_tokens: int = 0
    n_empty: int = 0
    n_refused: int = 0
    n_retries: int = 0
    started: float = field(default_factory=time.time)

    @property
    def elapsed_s(self) -> float:
        return time.time() - self.started

    @property
    def answers_per_s(self) -> float:
        return self.asked / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "elapsed_s": round(self.elapsed_s, 3), "answers_per_s": round(self.answers_per_s, 3)}


def _record(task: dict, completion, now: float) -> dict:
    return {"key": task["key"], "question_id": task["question_id"], "lang": task["lang"], "sample": task["sample"],
            "question": task["question"], "answer": completion.text, "answer_status": answer_status(completion.text),
            "finish_reason": completion.finish_reason, "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens, "time": round(now, 3)}


def collect_answers(backend: AnswerBackend, tasks: pd.DataFrame, journal: AnswerJournal,
                    settings: GenerationSettings, *, progress: Callable[[CollectProgress], None] | None = None,
                    stop: threading.Event | None = None) -> CollectProgress:
    """Ask every task not in the journal, ``backend.concurrency`` batches at a time; each answer is
    journalled the moment it arrives. The first non-transient error (or the last retry's) stops new
    requests, lets those in flight finish into the journal, and is raised."""
    todo = [t for t in tasks.to_dict("records") if t["key"] not in journal]
    stats = CollectProgress(total=len(tasks), from_journal=len(tasks) - len(todo))
    stats.done = stats.from_journal
    for rec in (journal.records[k] for k in tasks["key"] if k in journal):
        stats.n_empty += rec.get("answer_status") == "empty"
        stats.n_refused += rec.get("answer_status") == "refused"
    if hasattr(backend, "on_retry"):
        def count_retry(*_):
            stats.n_retries += 1
        backend.on_retry = count_retry
    if progress:
        progress(stats)
    size = max(1, int(backend.batch_size))
    batches = [todo[i:i + size] for i in range(0, len(todo), size)]

    def ask(batch: list[dict]):
        prompts = [Prompt(question=t["question"], system=" ".join(x for x in (settings.system_prompt,
                                                                               t["instruction"]) if x),
                          seed=task_seed(settings, t["key"])) for t in batch]
        return batch, backend.complete(prompts, settings)

    failure: BaseException | None = None
    pool = ThreadPoolExecutor(max_workers=max(1, int(backend.concurrency)), thread_name_prefix="univar-collect")
    pending: set[Future] = set()
    queue = iter(batches)
    try:
        while True:
            while failure is None and not (stop and stop.is_set()) and len(pending) < 2 * backend.concurrency:
                batch = next(queue, None)
                if batch is None:
                    break
                pending.add(pool.submit(ask, batch))
            if not pending:
                break
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                try:
                    batch, completions = fut.result()
                except Exception as err:  # noqa: BLE001 - the first failure is raised once in-flight work lands
                    failure = failure or err
                    continue
                now = time.time()
                for task, completion in zip(batch, completions, strict=True):
                    rec = _record(task, completion, now)
                    journal.append(rec)
                    stats.asked += 1
                    stats.done += 1
                    stats.prompt_tokens += int(completion.prompt_tokens or 0)
                    stats.completion_tokens += int(completion.completion_tokens or 0)
                    stats.n_empty += rec["answer_status"] == "empty"
                    stats.n_refused += rec["answer_status"] == "refused"
                if progress:
                    progress(stats)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    if failure is not None:
        raise failure
    return stats


# ------------------------------------------------------------------------------------------ output

def qa_table(tasks: pd.DataFrame, journal: AnswerJournal, *, model: str, dataset: str) -> pd.DataFrame:
    """The QA table of every answered task, in plan order (the columns `univar build/place` read)."""
    answered = tasks[tasks["key"].isin(journal.records.keys())]
    recs = pd.DataFrame([journal.records[k] for k in answered["key"]])
    if recs.empty:
        return pd.DataFrame(columns=["qa_id", "dataset", "model", "lang", "value_id", "question_id", "question",
                                     "answer"])
    table = pd.DataFrame({
        "qa_id": answered["question_id"].str.cat([answered["lang"], answered["sample"].astype(str)],
                                                 sep=":").to_numpy(),
        "dataset": dataset, "model": model, "lang": answered["lang"].to_numpy(),
        "value_id": [make_value_id(model, lang) for lang in answered["lang"]],
        "question_id": answered["question_id"].to_numpy(), "question": recs["question"].to_numpy(),
        "answer": recs["answer"].fillna("").to_numpy(), "sample": answered["sample"].to_numpy(),
        "answer_status": recs["answer_status"].to_numpy(), "finish_reason": recs["finish_reason"].to_numpy(),
        "prompt_tokens": recs["prompt_tokens"].to_numpy(), "completion_tokens": recs["completion_tokens"].to_numpy(),
        "question_source": answered["question_source"].to_numpy(),
    })
    for extra in ("question_eng", *LENS_TAG_COLUMNS):
        if extra in answered.columns:
            table[extra] = answered[extra].to_numpy()
    return table


def write_table_atomic(table: pd.DataFrame, out: Path) -> None:
    """CSV, JSONL or parquet by extension, through a temporary file: never a half-written output."""
    suffix = out.suffix.lower()
    if suffix not in OUTPUT_TYPES:
        raise QAInputError(f"the output must end in {', '.join(OUTPUT_TYPES)}", source=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        if suffix == ".csv":
            Path(tmp).write_bytes(csv_bytes(table))        # spreadsheet-safe, reads back exactly
        elif suffix == ".jsonl":
            table.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            table.to_parquet(tmp, index=False)

