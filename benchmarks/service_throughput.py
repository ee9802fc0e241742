"""Service throughput: requests per second that the API under
gunicorn answers with p99 ≤ 50 ms and no errors, for polls
(`GET /api/v1/experiments/{id}`) and submits (`POST /api/v1/experiments`),
on PostgreSQL + Redis, loaded by `wrk` from a separate process.

    flock /tmp/gradatlas-bench.lock .venv/bin/python -m benchmarks.service_throughput [--runs 5] [--configs 2x4,2x1]

Debian's `wrk` is closed-loop (no fixed-rate mode as in wrk2), so the load is
stepped by connection count: each connection sends its next request when the
previous one is answered. The figure reported is the highest median rate
whose median p99 stays ≤ 50 ms with zero errors. No Celery worker runs during
the measurement: submits publish real messages to Redis (DB 9 by default),
and the queue is flushed afterwards, so the figure is the API's alone and no
worker competes for the two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gradatlas.service.auth.tokens import Tokens  # noqa: E402
from gradatlas.service.cli.supervisor import api_command  # noqa: E402
from gradatlas.service.store.gateway import Store  # noqa: E402
from gradatlas.service.store.migrate import upgrade  # noqa: E402

from benchmarks.report import write_section  # noqa: E402

P99_TARGET_MS = 50.0
SPEC: dict[str, Any] = {"name": "bench", "model": {"arch": "mlp", "depth": 2, "width": 16, "activation": "relu"}, "training": {"steps": 0}}
LUA = """
local mode, token, body = "%(mode)s", "%(token)s", '%(body)s'
local ids = {%(ids)s}
local n = 0
request = function()
  n = n + 1
  if mode == "submit" then
    return wrk.format("POST", "/api/v1/experiments", {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
  end
  return wrk.format("GET", "/api/v1/experiments/" .. ids[(n %% #ids) + 1], {["Authorization"] = "Bearer " .. token})
end
done = function(s, latency, _)
  local e = s.errors
  io.write(string.format('RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "errors": %%d}\\n',
    s.requests, s.duration, latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen[bytes]


def start_server(workdir: Path, database_url: str, broker_url: str, workers: int, threads: int) -> Server:
    """Migrate a fresh database, make a token, start gunicorn as `gradatlas up` does."""
    upgrade(database_url)
    store = Store.from_url(database_url)
    pepper = secrets.token_hex(16)
    _, token = Tokens(store, pepper).create("bench")
    store.engine.dispose()
    metrics = workdir / "metrics"
    metrics.mkdir()
    port = 18000 + secrets.randbelow(1000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADATLAS_")}
    env.update(GRADATLAS_HOME=str(workdir / "home"), GRADATLAS_DATABASE_URL=database_url, GRADATLAS_BROKER_URL=broker_url,
               GRADATLAS_PEPPER=pepper, PROMETHEUS_MULTIPROC_DIR=str(metrics),
               # The benchmark token may exceed the per-minute limits a user gets.
               GRADATLAS_RATE_LIMIT_PER_MINUTE="1000000000", GRADATLAS_RATE_LIMIT_SUBMITS_PER_MINUTE="1000000000")
    log = open(workdir / "gunicorn.log", "wb")
    process = subprocess.Popen(api_command("127.0.0.1", port, workers, threads), env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return Server(url, token, process)
        except requests.RequestException:  # still starting
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not become ready; see {workdir / 'gunicorn.log'}")


def run_wrk(server: Server, mode: str, ids: list[str], connections: int, seconds: float, workdir: Path) -> Sample:
    script = workdir / f"{mode}.lua"
    script.write_text(LUA % {"mode": mode, "token": server.token, "body": json.dumps(SPEC), "ids": ", ".join(f'"{i}"' for i in ids)})
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "--timeout", "2s", "-s", str(script), server.url],
                         capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    raw = json.loads(line.removeprefix("RESULT "))
    return Sample(raw["requests"] / (raw["duration_us"] / 1e6), raw["p50_us"] / 1e3, raw["p99_us"] / 1e3, raw["errors"])


def median_sample(samples: list[Sample]) -> Sample:
    return Sample(statistics.median(s.rps for s in samples), statistics.median(s.p50_ms for s in samples),
                  statistics.median(s.p99_ms for s in samples), max(s.errors for s in samples))


def sweep(server: Server, ids: list[str], connections: list[int], runs: int, seconds: float, workdir: Path) -> dict[str, dict[int, Sample]]:
    """Runs of one (mode, connections) pair are interleaved with the others so
    that a burst of load from elsewhere on the machine spreads over all of them."""
    raw: dict[str, dict[int, list[Sample]]] = {mode: {c: [] for c in connections} for mode in ("poll", "submit")}
    for _ in range(runs):
        for mode in raw:
            for c in connections:
                raw[mode][c].append(run_wrk(server, mode, ids, c, seconds, workdir))
    return {mode: {c: median_sample(samples) for c, samples in by_c.items()} for mode, by_c in raw.items()}


def best(by_c: dict[int, Sample]) -> tuple[int, Sample] | None:
    ok = [(c, s) for c, s in by_c.items() if s.p99_ms <= P99_TARGET_MS and s.errors == 0]
    return max(ok, key=lambda item: item[1].rps) if ok else None


def describe(config: tuple[int, int]) -> str:
    workers, threads = config
    return f"{workers} × {threads} ({'gthread' if threads > 1 else 'sync'})"


def report(results: dict[tuple[int, int], dict[str, dict[int, Sample]]], args: argparse.Namespace, load: tuple[float, float]) -> str:
    rows, headline = [], []
    for config, by_mode in results.items():
        for mode, target in (("poll", 300), ("submit", 100)):
            for c, s in by_mode[mode].items():
                rows.append(f"| {describe(config)} | {mode} | {c} | {s.rps:.0f} | {s.p50_ms:.1f} | {s.p99_ms:.1f} | {s.errors} |")
            found = best(by_mode[mode])
            verdict = (f"**{found[1].rps:.0f}/s** (at {found[0]} connections, p99 {found[1].p99_ms:.1f} ms)" if found
                       else "none of the steps kept p99 ≤ 50 ms")
            met = "met" if found and found[1].rps >= target else "NOT met"
            headline.append(f"- {describe(config)}, {mode}s: {verdict}; target ≥ {target}/s: {met}")
    return ("## Service throughput: polls and submits under load\n\n"
            f"gunicorn (workers × threads as below; `gradatlas up` runs 2 × 4 gthread) on PostgreSQL + Redis, "
            f"loaded by `wrk -t1` (closed loop, stepped by connections) from a separate process on the same 2 cores; "
            f"{args.seconds:g} s per step, median of {args.runs} interleaved runs. No Celery worker runs during the "
            "measurement: submits publish real messages to Redis and the queue is flushed afterwards. Polls read one of "
            f"{args.seed} stored experiments in turn. Target: ≥ 300 polls/s and ≥ 100 submits/s with p99 ≤ 50 ms, "
            "no errors.\n\nHighest rate with p99 ≤ 50 ms and zero errors:\n\n" + "\n".join(headline) + "\n\n"
            "| gunicorn workers × threads | request | connections | req/s | p50 ms | p99 ms | errors |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows)
            + f"\n\nLoad average (1 min) {load[0]:.2f} before, {load[1]:.2f} after (others share the machine).")


def measure(config: tuple[int, int], args: argparse.Namespace, server_url: str, broker_url: str) -> dict[str, dict[int, Sample]]:
    """One gunicorn configuration on a fresh database; the queue flushed after."""
    database = f"gradatlas_bench_{secrets.token_hex(3)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    workdir = Path(tempfile.mkdtemp(prefix="gradatlas-throughput-"))
    server = None
    try:
        server = start_server(workdir, server_url.rsplit("/", 1)[0] + "/" + database, broker_url, *config)
        headers = {"Authorization": f"Bearer {server.token}"}
        ids = [requests.post(f"{server.url}/api/v1/experiments", json=SPEC, headers=headers, timeout=10).json()["id"]
               for _ in range(args.seed)]
        return sweep(server, ids, [int(c) for c in args.connections.split(",")], args.runs, args.seconds, workdir)
    finally:
        if server:
            os.killpg(server.process.pid, signal.SIGTERM)
            server.process.wait(timeout=30)
        redis.Redis.from_url(broker_url).flushdb()  # the published messages: no worker will run them
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", default="1,2,4,8,16")
    parser.add_argument("--configs", default="2x4,2x1", help="gunicorn workers x threads, each measured in turn")
    parser.add_argument("--seed", type=int, default=200, help="experiments stored before polling")
    parser.add_argument("--no-write", action="store_true", help="print, do not write BENCHMARKS.md")
    args = parser.parse_args()
    configs = [(int(w), int(t)) for w, t in (config.split("x") for config in args.configs.split(","))]
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    server_url = os.environ.get("GRADATLAS_BENCH_DATABASE_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    broker_url = os.environ.get("GRADATLAS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
    load_before = os.getloadavg()[0]
    results = {config: measure(config, args, server_url, broker_url) for config in configs}
    body = report(results, args, (load_before, os.getloadavg()[0]))
    print(body)
    if not args.no_write:
        write_section("service-throughput", body)

if __name__ == "__main__":
    main()
