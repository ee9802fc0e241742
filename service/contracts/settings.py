"""Settings, read from `GRADATLAS_*` environment variables.

The defaults are the embedded shape of docs/design.md: a SQLite database and kombu's
SQLAlchemy transport on a SQLite file under `GRADATLAS_HOME`, so the service
starts with no server at all.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRADATLAS_", extra="ignore")

    home: Path = Path(".gradatlas")
    database_url: str = ""
    broker_url: str = ""
    pepper: str = Field("", description="server-side secret mixed into token hashes; kept in $HOME/pepper when unset")
    secret_key: str = Field("", description="signs the web pages' session cookie; derived from the pepper when unset")
    # The pages' cookie is sent over HTTPS only. `gradatlas up` bound to a
    # loopback address turns it off for its children (plain HTTP that never
    # leaves the machine); set it false to serve the pages over plain HTTP on a network.
    session_cookie_secure: bool = True
    session_lifetime_s: float = Field(12 * 3600.0, gt=0, description="a web sign-in ends this long after it began")

    # Job lifecycle (docs/design.md): hard time limit < visibility timeout;
    # stale-heartbeat threshold >> heartbeat interval.
    heartbeat_interval_s: float = 2.0
    stale_after_s: float = 30.0
    requeue_after_s: float = 60.0
    sweep_interval_s: float = 10.0
    max_attempts: int = 3
    time_limit_s: float = 3600.0
    visibility_timeout_s: float = 0.0  # 0: derived, the time limit plus a margin
    gpu_queue: bool = False  # a GPU worker consumes the `gpu` queue: "auto" goes there
    broker_polling_interval_s: float = 0.1
    # Threads torch uses in each worker pool process (worker/threads.py). Unset:
    # the cores less one, shared among the pool's processes, unless
    # OMP_NUM_THREADS is set, which torch then follows.
    torch_threads: int | None = Field(None, ge=1)

    # Quotas (docs/api.md: 422 naming the limit).
    max_params: int = 50_000_000
    max_steps: int = 100_000
    max_work: float = 1e14  # parameters × batch × steps, a proxy for FLOPs

    # Verdict thresholds on signal_ratio_init, reported in every summary.
    vanishing_threshold: float = 1e-3
    exploding_threshold: float = 1e3

    # What a request may send (docs/api.md): a larger body is 413, a deeper one 400.
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = Field(64, ge=1, le=500)
    # A longer URL is 414, a larger header or more headers 431 (JSON, naming the limit);
    # gunicorn's own limits sit above these (service/cli/supervisor.py, docker-compose.yml).
    max_url_bytes: int = Field(8192, ge=256, le=65536)
    max_header_bytes: int = Field(8192, ge=256, le=16384)
    max_headers: int = Field(100, ge=10, le=500)

    # Per token, across all API processes; a script can still submit dozens in a burst.
    rate_limit_per_minute: int = 600
    rate_limit_submits_per_minute: int = 120
    # Per client address (request.remote_addr: behind a proxy, the proxy's):
    # requests with a missing or wrong token past this are 429 until the minute ends.
    failed_auth_per_minute: int = Field(30, ge=1)
    # An API process accepts a token it has checked for this long without
    # reading the database again: a revoked token is refused within it.
    token_cache_s: float = 5.0

    @model_validator(mode="after")
    def _fill_derived(self) -> Settings:
        self.home = self.home.expanduser().absolute()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'gradatlas.db'}"
        if not self.broker_url:
            self.broker_url = f"sqla+sqlite:///{self.home / 'broker.db'}"
        if not self.visibility_timeout_s:
            self.visibility_timeout_s = self.time_limit_s + 600.0
        return self

    @property
    def token_file(self) -> Path:
        return self.home / "token"

    def ensure_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)

    def resolved_pepper(self) -> str:
        """The configured pepper, else one generated once and kept in the home folder."""
        if self.pepper:
            return self.pepper
        self.ensure_home()
        path = self.home / "pepper"
        if not path.exists():
            write_private(path, secrets.token_hex(32))
        return path.read_text().strip()

    def resolved_secret_key(self) -> str:
        """The configured key, else one derived from the pepper: every API
        process of one installation then signs cookies alike, with no second
        file to create (and race on) at start."""
        if self.secret_key:
            return self.secret_key
        return hmac.new(self.resolved_pepper().encode(), b"gradatlas web session", hashlib.sha256).hexdigest()


def write_private(path: Path, text: str) -> None:
    """Create a file readable by its owner alone (mode 0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
