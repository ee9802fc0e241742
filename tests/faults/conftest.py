"""Fault tests run real processes on PostgreSQL and a Redis server of their
own (so stopping it disturbs nobody else), with short heartbeat and sweeper
intervals. They need PostgreSQL: CI's second run names it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from gradatlas.service.api import create_app
from gradatlas.service.contracts.queue import CeleryEnqueue
from gradatlas.service.contracts.settings import Settings
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.migrate import upgrade

from tests.support import SERVICES_DATABASE_URL, free_port, fresh_database, service_env, stop_process, wait_for, worker_process

TIMINGS = {"heartbeat_interval_s": 0.5, "stale_after_s": 4, "sweep_interval_s": 1, "requeue_after_s": 5, "max_attempts": 3}
TERMINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module", autouse=True)
def _needs_postgres() -> None:
    if not SERVICES_DATABASE_URL:
        pytest.skip("fault tests run on PostgreSQL + Redis: set GRADATLAS_DATABASE_URL and GRADATLAS_BROKER_URL")
    assert shutil.which("redis-server"), "redis-server is needed to start the fault tests' own Redis"


@dataclass
class RedisServer:
    """A redis-server process the test may stop and start at will."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(self._answers, timeout=10, what="redis-server to start")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=5)
            self.process = None

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.ConnectionError:
            return False


@dataclass
class Stack:
    """PostgreSQL database, own Redis, the API in process, real worker processes."""

    tmp: Path
    settings: Settings
    redis: RedisServer
    store: Store
    logs: list[Path] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)

    def inject(self, fault: str) -> None:
        """Record a fault as it is injected (RELIABILITY.md counts them)."""
        self.faults.append(fault)

    def env(self, **extra: Any) -> dict[str, str]:
        return service_env(self.settings.home, self.settings.database_url, self.redis.url, **{**TIMINGS, **extra})

    def worker(self, name: str = "worker", **extra: Any) -> AbstractContextManager[subprocess.Popen[bytes]]:
        log = self.tmp / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        return worker_process(self.env(**extra), log)

    def scheduler(self) -> AbstractContextManager[subprocess.Popen[bytes]]:
        """Beat plus the sweeper's queue, as docker-compose's `scheduler` runs it."""
        log = self.tmp / f"scheduler-{len(self.logs)}.log"
        self.logs.append(log)
        return worker_process(self.env(), log, queues="maintenance", beat=True, pool="solo")

    def app(self) -> Any:
        return create_app(self.settings, store=self.store, enqueue=CeleryEnqueue(self.settings))

    def status(self, experiment_id: str) -> str:
        return self.store.get_experiment(experiment_id).status

    def wait_terminal(self, ids: list[str], timeout: float) -> None:
        wait_for(lambda: all(self.status(i) in TERMINAL for i in ids), timeout=timeout, interval=0.2,
                 what=f"{ids} to finish; logs:\n{self.tail_logs()}")

    def tail_logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}" for log in self.logs if log.exists())


@pytest.fixture
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    server = RedisServer(free_port(), tmp_path)
    server.start()
    with fresh_database(tmp_path, SERVICES_DATABASE_URL) as database_url:
        settings = Settings(home=tmp_path / "home", database_url=database_url, broker_url=server.url,
                            pepper="fault-pepper", **TIMINGS)
        settings.ensure_home()
        upgrade(database_url)
        store = Store.from_url(database_url)
        stack = Stack(tmp_path, settings, server, store)
        try:
            yield stack
            _record(request.node.name, stack)
        finally:
            store.engine.dispose()
            server.stop()


FIGURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "faults.jsonl"


def _record(test: str, stack: Stack) -> None:
    """After a passing fault test: every experiment it submitted is terminal
    (none lost) and none has two profiles. One JSON line for RELIABILITY.md."""
    from gradatlas.service.store.tables import ExperimentRow, ProfileRow
    from sqlalchemy import func, select

    with stack.store.session() as session:
        statuses = [row[0] for row in session.execute(select(ExperimentRow.status))]
        profiles = session.scalar(select(func.count()).select_from(ProfileRow))
        succeeded = statuses.count("succeeded")
    lost = sum(status not in TERMINAL for status in statuses)
    assert lost == 0 and profiles == succeeded, (statuses, profiles)
    FIGURES.parent.mkdir(exist_ok=True)
    with open(FIGURES, "a") as out:
        out.write(json.dumps({"test": test, "faults": stack.faults, "experiments": len(statuses), "lost": lost}) + "\n")


def children_of(pid: int) -> list[int]:
    """Direct children of a process, read from /proc (the prefork pool's workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def pool_child(worker: subprocess.Popen[bytes]) -> int:
    return wait_for(lambda: (children_of(worker.pid) or [None])[0], timeout=30, what="the pool's child process")


def sleep_until(predicate: Any, timeout: float) -> None:
    wait_for(predicate, timeout=timeout, interval=0.05, what="condition")
    time.sleep(0)
