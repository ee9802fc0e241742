"""`st run --checks all` (the Schemathesis CLI, as an outside reviewer runs it)
against a live `gradatlas up`: every check Schemathesis has, valid and
schema-violating data, its stateful phase, on whichever backend the e2e
service follows (embedded SQLite, or PostgreSQL and Redis where CI names them).
Bounded (--max-examples) and reproducible (--seed); zero failures."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Service, started_service
from tests.schemathesis_config import config_toml

MAX_EXAMPLES = 8
SEED = 20261208


@pytest.fixture(scope="module")
def unthrottled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The e2e service with its per-token rate limits raised: Schemathesis sends
    thousands of requests a minute, and a run answered 429 tests nothing behind
    the limiter (tests/unit/test_ratelimit.py tests the limiter)."""
    with started_service(tmp_path_factory.mktemp("up-schemathesis"), rate_limit_per_minute=10**6,
                         rate_limit_submits_per_minute=10**6, failed_auth_per_minute=10**6) as running:
        yield running


def test_st_run_with_every_check_finds_nothing(unthrottled: Service, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(config_toml())
    # From a file with --url: loaded from its URL, Schemathesis would leave that operation out.
    document = tmp_path / "openapi.json"
    document.write_text(requests.get(f"{unthrottled.url}/api/openapi.json", timeout=10).text)
    command = [str(Path(sys.executable).parent / "st"), "--config-file", str(config), "--no-color", "run", str(document),
               "--url", unthrottled.url, "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
               "--workers", "1", "--generation-database", "none", "-H", f"Authorization: Bearer {unthrottled.token}",
               # a sweep of up to 1000 points is stored and published in one request: over the default 10 s on a busy CI machine
               "--request-timeout", "60"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    summary = result.stdout[-12000:] + result.stderr[-2000:]
    assert result.returncode == 0, summary
    assert "Tested: 25" in result.stdout, summary  # every operation of the document
    assert "Rate limited" not in result.stdout and "Unsupported regex" not in result.stdout, summary  # nothing left untested
