"""A small SQLite cache of structured LLM answers.

The key is a sha256 over everything that decides the answer: prompt sha, model, mode, generation
params, response model (name + JSON schema) and the rendered variables (for the splitter: the
caption).  A rerun with the same key costs no request.  Answers that failed validation after every
re-ask are cached too (with their error), so a deterministic failure is not paid for twice;
transport failures are never cached.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medvl.records import sha256_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
  key TEXT PRIMARY KEY,
  value TEXT,            -- JSON of the validated response model, NULL when it failed
  error TEXT,            -- why it failed (validation after re-asks), NULL when ok
  reasks INTEGER NOT NULL DEFAULT 0,
  tokens TEXT,           -- JSON {prompt_tokens, completion_tokens, total_tokens}
  model TEXT,
  latency_s REAL,
  prompt_ref TEXT,
  created_at REAL NOT NULL
)
"""


def cache_key(**parts: Any) -> str:
    """A stable key over JSON-able parts (order of keys does not matter)."""
    return sha256_text(json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str))


@dataclass
class CachedAnswer:
    value: dict | None
    error: str | None
    reasks: int
    tokens: dict[str, int]
    model: str | None
    latency_s: float | None


class AnswerCache:
    """Thread-safe SQLite store; one file can be shared by stages and reruns."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(SCHEMA)
            self._db.commit()

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value, error, reasks, tokens, model, latency_s FROM answers WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        value, error, reasks, tokens, model, latency = row
        return CachedAnswer(value=json.loads(value) if value is not None else None, error=error,
                            reasks=int(reasks), tokens=json.loads(tokens) if tokens else {},
                            model=model, latency_s=latency)

    def put(self, key: str, *, value: dict | None, error: str | None, reasks: int,
            tokens: dict[str, int] | None, model: str | None, latency_s: float | None,
            prompt_ref: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, value, error, reasks, tokens, model, latency_s, "
                "prompt_ref, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, json.dumps(value, ensure_ascii=False) if value is not None else None, error, reasks,
                 json.dumps(tokens or {}), model, latency_s, prompt_ref, time.time()),
            )
            self._db.commit()

    def delete(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM answers WHERE key = ?", (key,))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
