"""`gradatlas up`: migrate, make the first admin token, then run the API
(gunicorn) and one Celery worker (with beat) as children, restarting a child
that dies and stopping all of them cleanly on Ctrl-C or SIGTERM.

The worker runs one pool process, and chooses its torch thread count itself
(worker/threads.py): GRADATLAS_TORCH_THREADS, passed on with the rest of the
environment, else every core but one, which the API and the database need.

Stopping never half-writes a result: a result is one transaction, so a worker
stopped mid-run leaves its experiment `running` with a lease that recovery
returns to the queue once the heartbeat is stale.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gradatlas.service.auth.tokens import Tokens
from gradatlas.service.contracts.queue import MAINTENANCE_QUEUE
from gradatlas.service.contracts.settings import Settings, write_private
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.migrate import upgrade

log = logging.getLogger("gradatlas.up")

STOP_GRACE_S = 10.0
RESTART_BACKOFF_S = 1.0
MAX_UNIX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
# gunicorn's own request limits, above the service's (GRADATLAS_MAX_URL_BYTES,
# _MAX_HEADER_BYTES, _MAX_HEADERS at their maxima), so that the service, not
# gunicorn's HTML page, answers 414 and 431. The request line's maximum is
# 8190, under a 8 KiB URL: 0 (no limit) is the only value above it. 0 for the
# field size would mean gunicorn's default 8190, not "no limit" (gunicorn 27's
# parser sets it so, whatever its docs say), hence a number.
GUNICORN_LIMITS = ["--limit-request-line", "0", "--limit-request-field_size", "32768", "--limit-request-fields", "1000"]


def prepare(settings: Settings) -> str | None:
    """Migrate and create the admin token on first start. Returns the new
    token, or None when one already exists."""
    settings.ensure_home()
    upgrade(settings.database_url)
    store = Store.from_url(settings.database_url)
    tokens = Tokens(store, settings.resolved_pepper())
    if tokens.has_admin() and settings.token_file.exists():
        return None
    _, plaintext = tokens.create("admin", is_admin=True)
    write_private(settings.token_file, plaintext + "\n")
    return plaintext


def api_command(host: str, port: int, workers: int, threads: int, control_socket: Path | None = None) -> list[str]:
    """The API's gunicorn command line, shared with benchmarks/service_throughput.py
    so that the benchmark measures what `gradatlas up` runs. More than one
    thread makes gunicorn use its gthread worker: a request spends most of its
    time waiting on PostgreSQL and Redis, and gthread keeps connections alive;
    on 2 cores, 2 workers × 4 threads doubled the submits per second at p99 ≤ 50 ms
    of 2 or 4 sync workers (BENCHMARKS.md). gunicorn's own default control
    socket is one per user (~/.gunicorn/gunicorn.ctl), which every service on
    the host would share: each gets its own, or none."""
    control = ["--control-socket", str(control_socket)] if control_socket else ["--no-control-socket"]
    return [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(workers),
            "--threads", str(threads), "--access-logfile", "-", "--graceful-timeout", "5", *control, *GUNICORN_LIMITS,
            "gradatlas.service.api.wsgi:app"]


def control_socket_path(settings: Settings) -> Path | None:
    """gunicorn's control socket for this home (`gunicornc -s PATH`), or None
    where the path is too long for a Unix socket (about 108 bytes)."""
    path = settings.home / "gunicorn.ctl"
    return path if len(os.fsencode(path)) <= MAX_UNIX_SOCKET_PATH else None


def child_commands(settings: Settings, host: str, port: int, workers: int, threads: int = 4) -> dict[str, list[str]]:
    queues = ["cpu", MAINTENANCE_QUEUE] + (["gpu"] if settings.gpu_queue else [])
    return {
        "api": api_command(host, port, workers, threads, control_socket_path(settings)),
        "worker": [sys.executable, "-m", "celery", "-A", "gradatlas.worker.celery_app", "worker", "--beat",
                   "--schedule", str(settings.home / "beat-schedule"), "--queues", ",".join(queues),
                   "--concurrency", "1", "--loglevel", "INFO", "--hostname", f"gradatlas@{os.uname().nodename}"],
    }


@dataclass
class Supervisor:
    commands: dict[str, list[str]]
    env: dict[str, str]
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    stopping: bool = False

    def start(self, name: str) -> None:
        # Each child leads its own process group so that stopping it also
        # stops its own children (gunicorn's and Celery's pool processes).
        self.children[name] = subprocess.Popen(self.commands[name], env=self.env, start_new_session=True)
        log.info("started %s (pid %d)", name, self.children[name].pid)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for name in self.commands:
            self.start(name)
        while not self.stopping:
            for name, child in list(self.children.items()):
                if child.poll() is not None and not self.stopping:
                    log.warning("%s exited with %s; restarting", name, child.returncode)
                    time.sleep(RESTART_BACKOFF_S)
                    self.start(name)
            time.sleep(0.5)
        self.stop_all()
        return 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self.stopping = True

    def stop_all(self) -> None:
        """SIGTERM to each child alone: gunicorn and Celery then stop their own
        workers and pool processes gracefully (a pool process signalled
        directly dies mid-shutdown, and Celery logs that as an ERROR). A child
        still running after the grace period is killed with its whole process
        group."""
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for name, child in self.children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s: killing it", name, STOP_GRACE_S)
                _signal_group(child, signal.SIGKILL)
                child.wait()
        log.info("stopped")


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except ProcessLookupError:
        pass


def _fresh_metrics_dir(settings: Settings) -> Path:
    """prometheus_client's multi-process files, shared by the gunicorn workers;
    emptied at start, as its documentation requires."""
    folder = settings.home / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_secure_env(host: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Bound to loopback, the API is reached over plain HTTP from this machine
    alone, so its pages' cookie need not be HTTPS-only; bound to a network
    address it stays Secure (the settings' default). A value the user set wins."""
    if "GRADATLAS_SESSION_COOKIE_SECURE" in environ or not is_loopback(host):
        return {}
    return {"GRADATLAS_SESSION_COOKIE_SECURE": "false"}


def up(settings: Settings, host: str, port: int, workers: int = 2, threads: int = 4) -> int:
    token = prepare(settings)
    if token:
        print(f"Admin token written to {settings.token_file} (mode 0600).", flush=True)
    print(f"GradAtlas on http://{host}:{port}  (database {settings.database_url.split('@')[-1]}, "
          f"broker {settings.broker_url.split('@')[-1]})", flush=True)
    env = {**os.environ, "GRADATLAS_HOME": str(settings.home), "PROMETHEUS_MULTIPROC_DIR": str(_fresh_metrics_dir(settings)),
           "GRADATLAS_DATABASE_URL": settings.database_url, "GRADATLAS_BROKER_URL": settings.broker_url,
           **cookie_secure_env(host, os.environ)}
    return Supervisor(child_commands(settings, host, port, workers, threads), env).run()
