"""Submit → succeeded wall time, as a user sees it: `gradatlas up` in a temp
home, experiments submitted one after another over HTTP, polled every 20 ms.
Embedded with the worker's default torch thread count, then on PostgreSQL +
Redis once per count that --threads names (GRADATLAS_TORCH_THREADS).

    flock /tmp/gradatlas-bench.lock .venv/bin/python benchmarks/turnaround.py [--runs 20] [--threads 1,2]

PostgreSQL + Redis: GRADATLAS_BENCH_DATABASE_SERVER, GRADATLAS_BENCH_REDIS_URL;
defaults are this project's loopback servers.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.report import write_section  # noqa: E402

SPECS = {
    "trivial (depth 2, steps 0)": {"model": {"arch": "mlp", "depth": 2, "width": 16, "activation": "relu"},
                                   "training": {"steps": 0}},
    "10 layers, 50 steps": {"model": {"arch": "mlp", "depth": 10, "width": 256, "activation": "tanh"},
                            "training": {"steps": 50}, "probe": {"every": 10}},
}


def start(home: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    gradatlas = Path(sys.executable).parent / "gradatlas"
    process = subprocess.Popen([str(gradatlas), "up", "--port", str(port)], env=env, cwd=home.parent,
                               stdout=open(home.parent / "up.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return process
        except requests.RequestException:  # still starting
            pass
        time.sleep(0.2)
    raise RuntimeError("gradatlas up did not become ready")


def turnaround(url: str, headers: dict[str, str], spec: dict) -> tuple[float, dict]:
    """Seconds from submit to `succeeded`, and the experiment as then polled."""
    started = time.perf_counter()
    response = requests.post(f"{url}/api/v1/experiments", json=spec, headers=headers, timeout=10)
    response.raise_for_status()
    location = url + response.headers["Location"]
    while True:
        polled = requests.get(location, headers=headers, timeout=10)
        polled.raise_for_status()
        status = polled.json()["status"]
        if status in ("succeeded", "failed", "cancelled"):
            assert status == "succeeded", status
            return time.perf_counter() - started, polled.json()
        time.sleep(0.02)


def measure(services: bool, runs: int, threads: int | None) -> tuple[dict[str, list[float]], int]:
    """Turnaround times by experiment, and the torch threads the worker ran
    them with: `threads`, or the default rule's when None."""
    workdir = Path(tempfile.mkdtemp(prefix="gradatlas-bench-"))
    home, port = workdir / "home", 18000 + secrets.randbelow(1000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADATLAS_")}
    env["GRADATLAS_HOME"] = str(home)
    # Polling every 20 ms is 3,000 requests a minute: over a user's limit.
    env["GRADATLAS_RATE_LIMIT_PER_MINUTE"] = "1000000000"
    if threads:
        env["GRADATLAS_TORCH_THREADS"] = str(threads)
    database = None
    if services:
        server = os.environ.get("GRADATLAS_BENCH_DATABASE_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
        database = f"gradatlas_bench_{secrets.token_hex(3)}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
        env["GRADATLAS_DATABASE_URL"] = server.rsplit("/", 1)[0] + "/" + database
        env["GRADATLAS_BROKER_URL"] = os.environ.get("GRADATLAS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    process = start(home, env, port)
    try:
        url, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {(home / 'token').read_text().strip()}"}
        _, warm_up = turnaround(url, headers, SPECS["trivial (depth 2, steps 0)"])  # the first job pays the pool's imports
        used = warm_up["environment"]["torch_threads"]
        assert threads in (None, used), f"asked for {threads} torch threads, the worker used {used}"
        return {name: [turnaround(url, headers, spec)[0] for _ in range(runs)] for name, spec in SPECS.items()}, used
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        if database:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


Config = tuple[str, bool, int | None]  # backend label, PostgreSQL + Redis?, GRADATLAS_TORCH_THREADS (None: unset)


def configurations(threads: list[int], rounds: int) -> list[Config]:
    """Embedded once with the default; PostgreSQL + Redis once per thread
    count per round, the order reversed every other round, so that load
    from others that rises or falls during the run weighs on each count alike."""
    configs: list[Config] = [("embedded (SQLite + SQLite broker)", False, None)]
    for round_ in range(rounds):
        configs += [("PostgreSQL + Redis", True, n) for n in (threads if round_ % 2 == 0 else threads[::-1])]
    return configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", default="1,2", help="torch thread counts for the PostgreSQL + Redis worker")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the PostgreSQL + Redis counts, --runs each")
    args = parser.parse_args()
    pooled: dict[tuple[str, str, str], list[float]] = {}  # (backend, threads shown, experiment) -> seconds
    load_before = os.getloadavg()[0]
    for label, services, threads in configurations([int(n) for n in args.threads.split(",")], args.rounds):
        times_by_spec, used = measure(services, args.runs, threads)
        shown = f"{used} (default)" if threads is None else str(used)
        for name, times in times_by_spec.items():
            pooled.setdefault((label, shown, name), []).extend(times)
    rows = [f"| {label} | {shown} | {name} | {len(times)} | {statistics.median(times):.3f} | {min(times):.3f} | {max(times):.3f} |"
            for (label, shown, name), times in pooled.items()]
    print("\n".join(rows), flush=True)
    body = ("## Turnaround: submit → succeeded\n\n"
            "Experiments submitted one after another over HTTP to `gradatlas up` (API under gunicorn, one worker), "
            f"polled every 20 ms; {args.runs} per start of `gradatlas up`, PostgreSQL + Redis in {args.rounds} rounds "
            "(order of the thread counts reversed each round). Targets: trivial ≤ 1.0 s on "
            "PostgreSQL + Redis, ≤ 2.0 s embedded. Torch threads: those of the worker's pool process, as the runs "
            "recorded them (`environment.torch_threads`); `default` is `max(1, (cores − 1) // 1)` "
            "(GRADATLAS_TORCH_THREADS unset), the others set GRADATLAS_TORCH_THREADS.\n\n"
            "| backend | torch threads | experiment | runs | median s | min s | max s |\n|---|---|---|---|---|---|---|\n"
            + "\n".join(rows)
            + f"\n\nLoad average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (others share the machine).")
    write_section("turnaround", body)


if __name__ == "__main__":
    main()
