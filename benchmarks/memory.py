"""Memory: worker RSS over many consecutive experiments,
the peak memory of a large profile, and the bytes the database spends per
profile value.

    .venv/bin/python -m benchmarks.memory [--experiments 200]

1. A real `celery worker` (prefork, concurrency 1, as deployed) on the
   embedded SQLite database and broker in a temporary home runs the
   experiments one after another; after each one finishes, the RSS of the
   pool process that ran it (and of the whole worker) is read from /proc.
   Flat means: after warm-up (the first 10 %) the RSS stays within 5 % of
   its post-warm-up median.
2. In a fresh process: run_experiment of a depth-100 MLP recording every
   metric for 1,000 steps, then storing it through Store.complete; the peak
   RSS (ru_maxrss) over the baseline after imports.
3. SQLite file size before and after storing profiles of known size (VACUUMed
   so free pages do not count): bytes per stored value, every metric row,
   step, loss and accuracy included, over the values of the metric table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import write_section

SECTION = "memory"
ROOT = Path(__file__).resolve().parents[1]
SMALL = {"model": {"arch": "mlp", "depth": 8, "width": 64, "activation": "tanh"},
         "data": {"input_dim": 16, "samples": 256, "batch_size": 32}, "training": {"steps": 20}, "probe": {"every": 5}}
LARGE = {"model": {"arch": "mlp", "depth": 100, "width": 64, "activation": "tanh"},
         "data": {"input_dim": 64, "samples": 1024, "batch_size": 32}, "training": {"steps": 1000}, "probe": {"every": 1},
         "device": "cpu"}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def worker_rss(n: int) -> dict:
    """RSS of a real worker's pool process after each of `n` experiments."""
    from gradatlas.service.contracts.queue import CeleryEnqueue
    from gradatlas.service.contracts.settings import Settings
    from gradatlas.service.contracts.spec import ExperimentSpec
    from gradatlas.service.jobs.submit import publish
    from gradatlas.service.store.gateway import Store
    from gradatlas.service.store.migrate import upgrade

    from tests.support import service_env, wait_for, worker_process

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        db, broker = f"sqlite:///{tmp}/gradatlas.db", f"sqla+sqlite:///{tmp}/broker.db"
        settings = Settings(home=home, database_url=db, broker_url=broker, pepper="bench")
        settings.ensure_home()
        upgrade(db)
        store, enqueue = Store.from_url(db), CeleryEnqueue(settings)
        env = service_env(home, db, broker)
        pool, total, started = [], [], time.monotonic()
        with worker_process(env, Path(tmp) / "worker.log") as worker:
            for k in range(n):
                spec = ExperimentSpec.model_validate({**SMALL, "seed": k})
                experiment = store.create_experiment(spec, "bench", "cpu")
                assert publish(experiment.id, "cpu", store, enqueue)
                done = wait_for(lambda e=experiment.id: (x := store.get_experiment(e)).status in ("succeeded", "failed") and x,
                                timeout=120, interval=0.02, what="an experiment to finish")
                assert done.status == "succeeded", (done.reason, done.error)
                kids = children(worker.pid)
                pool.append(sum(rss_mb(c) for c in kids))
                total.append(rss_mb(worker.pid) + pool[-1])
        store.engine.dispose()
    warm = max(1, n // 10)
    median = statistics.median(pool[warm:])
    spread = max(abs(v - median) for v in pool[warm:]) / median
    return {"n": n, "seconds": time.monotonic() - started, "pool_mb": pool, "total_mb": total,
            "median_mb": median, "max_deviation": spread, "first_mb": pool[0], "last_mb": pool[-1]}


def peak_child() -> None:
    """Run in a fresh process (--peak-child): prints JSON with the peak RSS figures."""
    import numpy as np
    from gradatlas.service.contracts.spec import ExperimentSpec
    from gradatlas.service.store.gateway import Store
    from gradatlas.service.store.migrate import upgrade
    from gradatlas.worker.engine import run_experiment

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    spec = ExperimentSpec.model_validate(LARGE)
    start = time.perf_counter()
    result = run_experiment(spec)
    run_s = time.perf_counter() - start
    after_run = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "p.db"
        upgrade(f"sqlite:///{db}")
        store = Store.from_url(f"sqlite:///{db}")
        vacuum(store)
        size0 = db.stat().st_size
        experiment = store.create_experiment(spec, "bench", "cpu")
        claim = store.claim(experiment.id, {})
        assert claim is not None
        profile = {"layers": result.layers, "steps": result.steps, "loss": result.loss, "accuracy": result.accuracy,
                   "metrics": result.metrics, "theory": None, "total_steps": spec.training.steps}
        assert store.complete(claim, profile, result.summary, result.environment)
        vacuum(store)
        size1 = db.stat().st_size
        store.engine.dispose()
    values = sum(int(np.asarray(v).size) for v in result.metrics.values())
    print(json.dumps({"base_mb": base, "after_run_mb": after_run, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "run_s": run_s, "values": values, "bytes": size1 - size0, "steps": len(result.steps),
                      "layers": len(result.layers), "metrics": len(result.metrics)}))


def vacuum(store: object) -> None:
    from sqlalchemy import text

    with store.engine.connect() as connection:  # type: ignore[attr-defined]
        connection.execute(text("VACUUM"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiments", type=int, default=200)
    parser.add_argument("--peak-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.peak_child:
        peak_child()
        return
    load = os.getloadavg()[0]
    peak = json.loads(subprocess.run([sys.executable, "-m", "benchmarks.memory", "--peak-child"], cwd=ROOT,
                                     check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    print(peak, flush=True)
    rss = worker_rss(args.experiments)
    print({k: v for k, v in rss.items() if not k.endswith("_mb") or k in ("median_mb", "first_mb", "last_mb")}, flush=True)
    warm = max(1, rss["n"] // 10)
    quart = [statistics.median(rss["pool_mb"][warm:][i::4]) for i in range(4)]
    per_value = peak["bytes"] / peak["values"]
    body = "\n".join([
        "## Memory",
        "",
        f"Load average {load:.1f} at the start (2 cores shared with other work).",
        "",
        f"**Worker RSS over {rss['n']} consecutive experiments** (real `celery worker`, prefork pool of 1, "
        f"embedded SQLite database and broker; MLP depth 8 width 64, 20 steps; {rss['seconds']:.0f} s in all). "
        f"Pool process RSS: {rss['first_mb']:.1f} MB after the first, {rss['last_mb']:.1f} MB after the last, "
        f"median {rss['median_mb']:.1f} MB after warm-up (first {warm}); largest deviation from that median "
        f"{rss['max_deviation'] * 100:.1f} % (target ≤ 5 %: {'met' if rss['max_deviation'] <= 0.05 else 'NOT met'}). "
        f"Worker + pool: {rss['total_mb'][warm]:.0f} → {rss['total_mb'][-1]:.0f} MB.",
        "",
        f"**Peak memory of a large profile**: MLP depth 100, width 64, batch 32, every metric at each of "
        f"{peak['steps']} steps ({peak['values']:,} values), run in {peak['run_s']:.0f} s then stored: peak RSS "
        f"{peak['peak_mb']:.0f} MB, of which {peak['base_mb']:.0f} MB is the process after imports "
        f"(after the run, before storing: {peak['after_run_mb']:.0f} MB).",
        "",
        f"**Bytes per profile value** (SQLite, file size after VACUUM before and after storing that profile, "
        f"so rows, pages and indexes count): {peak['bytes']:,} B / {peak['values']:,} values = "
        f"**{per_value:.2f} B per value** (target ≤ 4.5: {'met' if per_value <= 4.5 else 'NOT met'}).",
        "",
        "Pool RSS medians by quarter after warm-up (MB): " + ", ".join(f"{q:.1f}" for q in quart),
    ])
    print(body)
    if not args.no_write:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
