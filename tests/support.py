"""Helpers shared by the tests: fresh databases and brokers on whichever
backend the environment names, real worker processes, polling."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from gradatlas.service.contracts.settings import Settings

ROOT = Path(__file__).resolve().parents[1]

# CI names PostgreSQL and Redis through the service's own variables. They are
# taken out of the environment here so that nothing in-process picks them up
# by accident; each test gets its own fresh database instead.
SERVICES_DATABASE_URL = os.environ.pop("GRADATLAS_DATABASE_URL", "")
SERVICES_BROKER_URL = os.environ.pop("GRADATLAS_BROKER_URL", "")
for _name in [n for n in os.environ if n.startswith("GRADATLAS_")]:
    os.environ.pop(_name)

T = TypeVar("T")


def services_configured() -> bool:
    return bool(SERVICES_DATABASE_URL and SERVICES_BROKER_URL)


@contextmanager
def fresh_database(tmp_path: Path, url: str = "") -> Iterator[str]:
    """An empty database: a new SQLite file, or a new PostgreSQL database on
    the server `url` names (dropped afterwards)."""
    if not url:
        yield f"sqlite:///{tmp_path / 'gradatlas.db'}"
        return
    server = make_url(url)
    name = f"gradatlas_test_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
            ), {"name": name})
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def fresh_broker(tmp_path: Path, url: str = "") -> str:
    """A broker no other test uses: a new SQLite file, or a flushed Redis db."""
    if not url:
        return f"sqla+sqlite:///{tmp_path / 'broker.db'}"
    import redis

    redis.Redis.from_url(url).flushdb()
    return url


def migrated_settings(home: Path, database_url: str, broker_url: str) -> Settings:
    """Test settings on `database_url`, migrated to the head revision, with
    the home folder made (what the `settings` fixture gives each test)."""
    from gradatlas.service.contracts.settings import Settings
    from gradatlas.service.store.migrate import upgrade

    settings = Settings(home=home, database_url=database_url, broker_url=broker_url, pepper="test-pepper")
    settings.ensure_home()
    upgrade(database_url)
    return settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], T | None], timeout: float, interval: float = 0.1, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def service_env(home: Path, database_url: str, broker_url: str, **extra: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADATLAS_")}
    env.update({"GRADATLAS_HOME": str(home), "PYTHONUNBUFFERED": "1"})
    # Empty URLs leave the embedded defaults under the home folder.
    env.update({name: url for name, url in (("GRADATLAS_DATABASE_URL", database_url),
                                            ("GRADATLAS_BROKER_URL", broker_url)) if url})
    env.update({f"GRADATLAS_{key.upper()}": str(value) for key, value in extra.items()})
    return env


@contextmanager
def worker_process(env: dict[str, str], log_path: Path, queues: str = "cpu,maintenance",
                   beat: bool = False, pool: str = "prefork", app: str = "gradatlas.worker.celery_app",
                   concurrency: int = 1) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` process on the broker `env` names."""
    command = [sys.executable, "-m", "celery", "-A", app, "worker", "--queues", queues,
               "--concurrency", str(concurrency), "--pool", pool, "--loglevel", "INFO",
               "--hostname", f"test-{secrets.token_hex(3)}@%h", "--without-gossip", "--without-mingle"]
    if beat:
        command += ["--beat", "--schedule", str(Path(env["GRADATLAS_HOME"]) / "beat-schedule")]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    import signal

    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass


@contextmanager
def serving(command: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    """`command` (an API server listening on `port`) running until /healthz
    answers; its URL for the block, stopped afterwards."""
    import requests

    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return requests.get(url + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:  # refused while starting
            return False

    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        wait_for(answers, timeout=30, what="the API server")
        yield url
    finally:
        stop_process(server)
