"""The append-only file of finished answers that makes a collection resumable after a crash or kill -9.

One JSON object per line: a header (format and the settings that shape the answers) and then one
line per finished answer, written with a single write + flush as soon as it arrives. A process killed
mid-write leaves at most one partial last line: it is cut off on the next open (that answer is asked
again), so a rerun asks only what is missing and nothing is recorded twice.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FORMAT = "univar-collect-journal/1"


class JournalMismatchError(ValueError):
    """The journal was written with other settings; mixing answers would make one value ID of two."""


def task_key(question_id: str, lang: str, sample: int) -> str:
    return f"{question_id}\t{lang}\t{int(sample)}"


class AnswerJournal:
    """Open (or create) a journal; ``records`` holds the finished answers by task key."""

    def __init__(self, path: str | os.PathLike, compat: dict[str, Any]):
        self.path = Path(path)
        self.compat = json.loads(json.dumps(compat, default=str))   # as it reads back from disk
        self.records: dict[str, dict] = {}
        self.n_cut = 0           # partial last lines removed (a kill mid-write)
        self._fh = None
        if self.path.exists() and self.path.stat().st_size > 0:
            self._load()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({"format": FORMAT, "compat": self.compat}) + "\n")
        self._fh = open(self.path, "a", encoding="utf-8")

    def _load(self) -> None:
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):             # a partial last line: the answer being written when killed
            with open(self.path, "r+b") as fh:
                fh.truncate(end)
            self.n_cut = 1
            data = data[:end]
        lines = data.decode("utf-8").splitlines()
        try:
            header = json.loads(lines[0]) if lines else {}
        except ValueError:
            header = {}
        if header.get("format") != FORMAT:
            raise JournalMismatchError(f"{self.path}: not a univar answer journal; move it away or give another "
                                       "--out")
        if header.get("compat") != self.compat:
            old, new = header.get("compat") or {}, self.compat
            diff = ", ".join(f"{k}: {old.get(k)!r} then, {new.get(k)!r} now"
                             for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))
            raise JournalMismatchError(f"{self.path} holds answers collected with other settings ({diff}); "
                                       "give another --out, or --restart to discard them")
        for line in lines[1:]:
            record = json.loads(line)
            self.records.setdefault(record["key"], record)   # first wins: a duplicate line is never used

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def append(self, record: dict) -> None:
        if record["key"] in self.records:
            return
        if self._fh is None:
            raise RuntimeError(f"{self.path}: the journal is closed")
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        self.records[record["key"]] = record

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "AnswerJournal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
