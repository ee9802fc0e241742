"""Shared counters and per-token rate limits, counted across every API process: in Redis when the
broker is Redis, else in a SQLite file beside the embedded database.

Fixed one-minute windows: simple, and the counter is one atomic increment.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

WINDOW_S = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int


class Counter(Protocol):
    """Shared counters keyed by (key, window); window 0 holds running totals
    (the recovery task's actions, read by /metrics)."""

    def increment(self, key: str, window: int, amount: int = 1) -> int: ...

    def read(self, key: str, window: int) -> int: ...


class RedisCounter:
    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def increment(self, key: str, window: int, amount: int = 1) -> int:
        name = f"gradatlas:count:{key}:{window}"
        pipe = self.client.pipeline()
        pipe.incrby(name, amount)
        if window:
            pipe.expire(name, WINDOW_S * 2)
        return int(pipe.execute()[0])

    def read(self, key: str, window: int) -> int:
        return int(self.client.get(f"gradatlas:count:{key}:{window}") or 0)


class SqliteCounter:
    """One row per (key, window); SQLite's own locking makes the increment
    atomic across processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS hits (key TEXT, window INTEGER, count INTEGER, PRIMARY KEY (key, window))")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def increment(self, key: str, window: int, amount: int = 1) -> int:
        with self._connect() as db:
            row = db.execute(
                "INSERT INTO hits VALUES (?, ?, ?) ON CONFLICT (key, window) DO UPDATE SET count = count + ? RETURNING count",
                (key, window, amount, amount),
            ).fetchone()
            if window:
                db.execute("DELETE FROM hits WHERE key = ? AND window BETWEEN 1 AND ?", (key, window - 2))
        return int(row[0])

    def read(self, key: str, window: int) -> int:
        with self._connect() as db:
            row = db.execute("SELECT count FROM hits WHERE key = ? AND window = ?", (key, window)).fetchone()
        return int(row[0]) if row else 0


def _window_now() -> tuple[int, int]:
    """The current window and the seconds until the next one begins."""
    now = time.time()
    window = int(now // WINDOW_S)
    return window, max(1, int((window + 1) * WINDOW_S - now + 0.999))


class RateLimiter:
    def __init__(self, counter: Counter, per_minute: int, submits_per_minute: int, failed_auth_per_minute: int = 30) -> None:
        self.counter, self.per_minute, self.submits_per_minute = counter, per_minute, submits_per_minute
        self.failed_auth_per_minute = failed_auth_per_minute

    def check(self, token_id: str, is_submit: bool) -> Verdict:
        window, retry_after = _window_now()
        if self.counter.increment(f"all:{token_id}", window) > self.per_minute:
            return Verdict(False, retry_after)
        if is_submit and self.counter.increment(f"submit:{token_id}", window) > self.submits_per_minute:
            return Verdict(False, retry_after)
        return Verdict(True, 0)

    def failed_auth(self, address: str) -> Verdict:
        """Counts one failed authentication from `address`; refused once the
        address is past its budget for this minute. Only failures are counted
        and refused: a valid token from the same address still works, because
        the address may be a proxy or a NAT shared with honest clients, whom
        one bad script must not lock out; and tokens are random 256-bit
        secrets, so the budget is there to make scanners and misconfigured
        scripts back off, not to stop guessing."""
        window, retry_after = _window_now()
        if self.counter.increment(f"authfail:{address}", window) > self.failed_auth_per_minute:
            return Verdict(False, retry_after)
        return Verdict(True, 0)


def make_counter(broker_url: str, home: Path) -> Counter:
    if broker_url.startswith(("redis://", "rediss://")):
        return RedisCounter(broker_url)
    home.mkdir(parents=True, exist_ok=True)
    return SqliteCounter(home / "ratelimit.db")
