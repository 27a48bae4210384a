"""An on-disk answer cache for LLM rewriters: one SQLite row per (endpoint, model, prompt, parameters).

Every answer is committed the moment it arrives (SQLite WAL, one transaction
per answer), so a run killed half-way keeps what it already paid for and the
rerun asks the endpoint only for the rest. The file is created on the first
answer, never by a run that got none. Safe to share between threads.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from calibclip.errors import CorruptData

_SCHEMA = "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, endpoint TEXT, model TEXT, answer TEXT, at REAL)"


def cache_key(endpoint: str, model: str, prompt: str, params: dict[str, Any]) -> str:
    """SHA-256 of the request's identity: endpoint, model, prompt and generation parameters."""
    blob = json.dumps([endpoint, model, prompt, params], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache:
    """Thread-safe ``get`` / ``put`` of answer texts in one SQLite file.

    Example:
        >>> cache = AnswerCache("~/.cache/calibclip/llm_answers.sqlite")
        >>> key = cache_key("http://localhost:8000/v1", "qwen3", "Query: ...", {"temperature": 0})
        >>> cache.get(key) is None
        True
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.hits = self.misses = 0

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if self._db is None and (create or self.path.is_file()):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(_SCHEMA)
                db.commit()
            except sqlite3.DatabaseError as exc:
                raise CorruptData(f"LLM answer cache {self.path} is unreadable ({exc})",
                                  "delete the file or pass another --cache path") from exc
            self._db = db
        return self._db

    def get(self, key: str) -> str | None:
        """The cached answer for ``key``, or None."""
        with self._lock:
            db = self._connect(create=False)
            row = db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone() if db else None
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
            return row[0]

    def put(self, key: str, endpoint: str, model: str, answer: str) -> None:
        """Store one answer and commit it at once."""
        with self._lock:
            db = self._connect(create=True)
            db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)",
                       (key, endpoint, model, answer, time.time()))
            db.commit()

    def __len__(self) -> int:
        with self._lock:
            db = self._connect(create=False)
            return db.execute("SELECT COUNT(*) FROM answers").fetchone()[0] if db else 0

    def close(self) -> None:
        """Close the connection (a later call reopens it)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
