"""Scale out: experiments finished per minute with 1, 2 and
4 Celery worker processes consuming one PostgreSQL + Redis, each worker
pinned with `taskset` to its share of the machine's cores, each with one
torch thread (a lone worker also with a thread per core, for comparison).

    flock /tmp/gradatlas-bench.lock .venv/bin/python -m benchmarks.scale_out [--runs 3]

Jobs are submitted in process through `service.experiments.submit` (what the
API calls: insert, commit, publish), as one batch, and the clock runs from the
first submit until the database shows every job terminal. The PostgreSQL transactions each experiment costs are counted
too (pg_stat_database of a database used by nothing else): docs/scaling.md
extrapolates from them to a cluster.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gradatlas.service.contracts.queue import CeleryEnqueue  # noqa: E402
from gradatlas.service.contracts.settings import Settings  # noqa: E402
from gradatlas.service.jobs.submit import submit  # noqa: E402
from gradatlas.service.store.gateway import Store  # noqa: E402
from gradatlas.service.store.migrate import upgrade  # noqa: E402
from gradatlas.service.store.tables import ExperimentRow  # noqa: E402

from benchmarks.report import write_section  # noqa: E402

WORKLOADS: dict[str, dict[str, Any]] = {
    "trivial (depth 2, steps 0)": {"model": {"arch": "mlp", "depth": 2, "width": 16, "activation": "relu"},
                                   "training": {"steps": 0}},
    "small (depth 10, width 256, 50 steps)": {"model": {"arch": "mlp", "depth": 10, "width": 256, "activation": "tanh"},
                                              "training": {"steps": 50}, "probe": {"every": 10}},
}
TERMINAL = ("succeeded", "failed", "cancelled")


def pinning(workers: int, cores: int) -> list[str]:
    """CPU lists for `taskset -c`: one core each while there are cores enough,
    else workers share cores round-robin; a lone worker gets all of them."""
    if workers == 1:
        return [f"0-{cores - 1}"]
    return [str(i % cores) for i in range(workers)]


def start_workers(count: int, threads: int, cores: int, env: dict[str, str], workdir: Path) -> list[subprocess.Popen[bytes]]:
    processes = []
    for i, cpus in enumerate(pinning(count, cores)):
        command = ["taskset", "-c", cpus, sys.executable, "-m", "celery", "-A", "gradatlas.worker.celery_app", "worker", "--queues", "cpu",
                   "--concurrency", "1", "--loglevel", "WARNING", "--hostname", f"scale{i}@%h",
                   "--without-gossip", "--without-mingle", "--without-heartbeat"]
        log = open(workdir / f"worker{count}-{i}.log", "wb")
        processes.append(subprocess.Popen(command, env={**env, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)},
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    return processes


def stop_workers(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def database_cost(store: Store) -> tuple[int, float]:
    """Commits so far in this database, and CPU seconds its server processes
    (the backends of this database's connections, read from /proc) have used:
    the share of PostgreSQL's work that the experiments cost."""
    with store.session() as session:
        committed = int(session.execute(text("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")).scalar() or 0)
        pids = session.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).all()
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone, or another host's server
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime + stime
    return committed, ticks / os.sysconf("SC_CLK_TCK")


def run_batch(store: Store, settings: Settings, enqueue: CeleryEnqueue, spec: dict[str, Any], count: int) -> float:
    """Submit `count` jobs at once; seconds until all of them are terminal."""
    started = time.perf_counter()
    ids = [submit(spec, "bench", store, enqueue, settings).id for _ in range(count)]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        with store.session() as session:
            done = session.scalar(select(func.count()).where(ExperimentRow.id.in_(ids), ExperimentRow.status.in_(TERMINAL)))
        if done == count:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError("the batch did not finish in 10 minutes")


Config = tuple[int, int]  # (worker processes, torch threads each)
Cost = tuple[float, float]  # per experiment: PostgreSQL commits, its backends' CPU seconds


def measure(args: argparse.Namespace, database_url: str, broker_url: str, workdir: Path) -> tuple[dict[str, dict[Config, float]], Cost]:
    """Experiments per minute (median of runs) by workload and configuration,
    and PostgreSQL commits per experiment."""
    upgrade(database_url)
    settings = Settings(home=workdir / "home", database_url=database_url, broker_url=broker_url, pepper="bench", secret_key="")
    store, enqueue = Store.from_url(database_url), CeleryEnqueue(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADATLAS_")}
    env.update(GRADATLAS_HOME=str(settings.home), GRADATLAS_DATABASE_URL=database_url, GRADATLAS_BROKER_URL=broker_url,
               GRADATLAS_PEPPER="bench")
    cores = os.cpu_count() or 1
    results: dict[str, dict[Config, float]] = {name: {} for name in WORKLOADS}
    costs: list[tuple[float, float]] = []  # per experiment: commits, PostgreSQL CPU seconds
    for count, threads in args.configs:
        processes = start_workers(count, threads, cores, env, workdir)
        try:
            run_batch(store, settings, enqueue, WORKLOADS["trivial (depth 2, steps 0)"], 4 * count)  # warm-up: every worker ready
            for name, spec in WORKLOADS.items():
                batch = args.batch if name.startswith("trivial") else max(4 * count, args.batch // 3)
                rates = []
                for _ in range(args.runs):
                    before = database_cost(store)
                    rates.append(60 * batch / run_batch(store, settings, enqueue, spec, batch))
                    time.sleep(1.2)  # PostgreSQL flushes its statistics at most once a second
                    after = database_cost(store)
                    costs.append(((after[0] - before[0]) / batch, (after[1] - before[1]) / batch))
                results[name][(count, threads)] = statistics.median(rates)
                print(f"{name}: {count} workers × {threads} threads: {results[name][(count, threads)]:.0f}/min", flush=True)
        finally:
            stop_workers(processes)
    store.engine.dispose()
    return results, (statistics.median(c for c, _ in costs), statistics.median(cpu for _, cpu in costs))


def report(results: dict[str, dict[Config, float]], per_experiment: Cost, args: argparse.Namespace, load: tuple[float, float]) -> str:
    cores = os.cpu_count() or 1
    rows = []
    for name, by_count in results.items():
        base = by_count.get((1, 1), next(iter(by_count.values())))
        previous = None
        for (count, threads), rate in by_count.items():
            step = f"{rate / previous:.2f}×" if previous and threads == 1 else "—"
            rows.append(f"| {name} | {count} × {threads} | {', '.join(pinning(count, cores))} | {rate:.0f} | {rate / base:.2f}× | {step} |")
            if threads == 1:
                previous = rate
    return ("## Scale out: workers against one PostgreSQL + Redis\n\n"
            f"Experiments finished per minute by 1, 2 and 4 Celery worker processes (`--concurrency 1` each, pinned with "
            f"`taskset`, `OMP_NUM_THREADS` as the table says) on this {cores}-core machine, PostgreSQL, Redis and the submitting "
            f"process sharing the same cores. One batch submitted at once through `service.experiments.submit`; the clock "
            f"stops when every job is terminal. Median of {args.runs} batches ({args.batch} trivial jobs, "
            f"{args.batch // 3} small ones, at least 4 per worker).\n\n"
            "| workload | workers × torch threads | cores (taskset) | experiments/min | × 1 worker × 1 thread "
            "| × previous 1-thread row |\n|---|---|---|---|---|---|\n"
            + "\n".join(rows)
            + f"\n\nPostgreSQL's cost per experiment (submit, publish mark, claim, heartbeats, result; median over all batches): "
            f"{per_experiment[0]:.1f} commits and {1000 * per_experiment[1]:.1f} ms of CPU in its backends. "
            f"Load average (1 min) {load[0]:.2f} before, {load[1]:.2f} after (others share the "
            "machine). What this means for a cluster: docs/scaling.md.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=60, help="trivial jobs per batch (small ones: a third)")
    parser.add_argument("--configs", default="1x2,1x1,2x1,4x1", help="worker processes x torch threads each")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    args.configs = [tuple(int(n) for n in config.split("x")) for config in args.configs.split(",")]
    if not shutil.which("taskset"):
        sys.exit("taskset (util-linux) is needed")
    server_url = os.environ.get("GRADATLAS_BENCH_DATABASE_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    broker_url = os.environ.get("GRADATLAS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
    database = f"gradatlas_bench_{secrets.token_hex(3)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    workdir = Path(tempfile.mkdtemp(prefix="gradatlas-scale-"))
    redis.Redis.from_url(broker_url).flushdb()
    try:
        load_before = os.getloadavg()[0]
        results, per_experiment = measure(args, server_url.rsplit("/", 1)[0] + "/" + database, broker_url, workdir)
        body = report(results, per_experiment, args, (load_before, os.getloadavg()[0]))
        print(body)
        if not args.no_write:
            write_section("scale-out", body)
    finally:
        redis.Redis.from_url(broker_url).flushdb()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
