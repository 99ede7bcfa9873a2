"""Translations cached by model content hash and text, so a rerun (or the next model's answers to the
same questions) translates only what is new. One SQLite file per model hash under
$UNIVAR_CACHE_DIR/translations (default <repo>/.cache/translations)."""
from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path

from univar_core.paths import CACHE_DIR


def default_mt_cache_dir() -> Path:
    env = os.environ.get("UNIVAR_CACHE_DIR")
    return (Path(env).expanduser() if env else CACHE_DIR) / "translations"


def text_key(src: str, tgt: str, text: str) -> str:
    return hashlib.sha256(f"{src}\0{tgt}\0{text}".encode()).hexdigest()


class TranslationCache:
    def __init__(self, folder: str | os.PathLike, model_hash: str):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{model_hash}.sqlite"
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("CREATE TABLE IF NOT EXISTS mt (key TEXT PRIMARY KEY, out TEXT NOT NULL)")
        self._lock = threading.Lock()

    def get_many(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                rows = self._db.execute(f"SELECT key, out FROM mt WHERE key IN ({','.join('?' * len(chunk))})",
                                        chunk).fetchall()
                found.update(rows)
        return found

    def put_many(self, items: dict[str, str]) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO mt (key, out) VALUES (?, ?)", list(items.items()))

    def close(self) -> None:
        self._db.close()
