"""History queries on 100,000 experiments in PostgreSQL.

    .venv/bin/python -m benchmarks.history_query [--server postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates its own database (`gradatlas_bench_history`, dropped at the end),
migrates it, bulk-inserts 100,000 experiments with a realistic spread (11
activations, depths 2–200, weight variances, learning rates, optimisers,
owners, tags, 80 % succeeded with summaries that follow the spec), plus 2,000
stored profiles, and times ten representative filtered, sorted queries
(first page and the next page through its token) through the service's own
`query_experiments`. Asserts that no statement names a profile table and
that PostgreSQL's counters show no scan of them; writes BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.search.history import query_experiments
from gradatlas.service.store.gateway import Store
from gradatlas.service.store.migrate import upgrade
from gradatlas.service.store.tables import ExperimentRow, ExperimentTagRow, ProfileArrayRow, ProfileRow
from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.engine import make_url

from benchmarks.report import write_section

DB = "gradatlas_bench_history"
N = 100_000
PEPPER = "benchmark"  # signs the page tokens of this run only
ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "silu", "softplus", "hardtanh", "identity"]
WEEK_AGO = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
QUERIES = [
    ("newest first, no filter", "", ""),
    ("deep sigmoid that did not vanish", "model.activation = 'sigmoid' AND model.depth > 20 AND summary.verdict != 'vanishing'", ""),
    ("Alice's `lecture` runs of the last week, by gradient ratio",
     f"owner = 'alice' AND tags CONTAINS 'lecture' AND created_at > '{WEEK_AGO}'", "summary.grad_ratio_init desc"),
    ("exploding, by signal ratio", "summary.verdict = 'exploding'", "summary.signal_ratio_init desc"),
    ("small-lr Adam runs, best loss first", "training.lr <= 1e-3 AND training.optimizer IN ('adam', 'adamw')", "summary.final_loss asc"),
    ("large init variance, relu/tanh", "model.init.weight_var >= 2 AND model.activation IN ('relu', 'tanh')", ""),
    ("name search on deep nets", "name ILIKE '%sigmoid%' AND model.depth >= 100", "model.depth desc"),
    ("cold JSON field + hot field", "data.samples > 1000 AND model.depth = 10 AND NOT status = 'failed'", ""),
    ("strongest vanishing first", "summary.signal_ratio_init < 1e-6", "summary.signal_ratio_init asc"),
    ("failed or inaccurate, by depth", "status = 'failed' OR (summary.final_accuracy < 0.2 AND model.width >= 512)",
     "model.depth desc, created_at desc"),
]


def _spec_rows(rng: random.Random, base: dict[str, Any], now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows, tags = [], []
    for i in range(N):
        activation, depth = rng.choice(ACTIVATIONS), rng.choice([2, 3, 5, 10, 10, 20, 20, 30, 50, 100, 200])
        width, weight_var = rng.choice([16, 32, 64, 128, 256, 512, 1024]), rng.choice([0.5, 1.0, 1.0, 2.0, 4.0])
        optimizer, lr = rng.choice(["sgd", "sgd", "momentum", "adam", "adamw"]), rng.choice([1e-4, 1e-3, 1e-2, 1e-1])
        spec = copy.deepcopy(base)
        spec["name"] = f"{activation}-d{depth}-w{width}-{i}"
        spec["model"].update(depth=depth, width=width, activation=activation)
        spec["model"]["init"].update(scheme="normal", weight_var=weight_var)
        spec["data"]["samples"] = rng.choice([256, 512, 1024, 2048, 4096])
        spec["training"].update(optimizer=optimizer, lr=lr)
        status = rng.choices(["succeeded", "failed", "cancelled", "queued"], [80, 8, 7, 5])[0]
        created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
        summary = _summary(rng, activation, depth, weight_var) if status == "succeeded" else None
        experiment_id = f"{i:08x}{rng.getrandbits(64):016x}"
        owner = rng.choice(["alice", "bob", "carol", "dave", "erin", "frank"])
        tag_list = rng.sample(["lecture", "baseline", "ablation", "paper", "debug"], rng.choice([0, 0, 1, 2]))
        rows.append({
            "id": experiment_id, "name": spec["name"], "tags": tag_list, "notes": "", "owner": owner, "source": "service",
            "queue": "cpu", "status": status, "reason": {"failed": "worker_lost", "cancelled": "cancelled"}.get(status),
            "attempt": 1, "cancel_requested": False, "progress_step": 0, "progress_total": 100, "spec": spec,
            "summary": summary, "created_at": created, "finished_at": created + timedelta(minutes=2) if status != "queued" else None,
            "arch": "mlp", "depth": depth, "width": width, "activation": activation, "init_scheme": "normal",
            "data_name": "gaussian", "optimizer": optimizer, "lr": lr, "weight_var": weight_var,
            **{k: (summary or {}).get(k) for k in ("verdict", "signal_ratio_init", "grad_ratio_init", "grad_ratio_final",
                                                   "layer_gain_init", "final_loss", "final_accuracy")},
        })
        tags += [{"experiment_id": experiment_id, "tag": tag} for tag in tag_list]
    return rows, tags


def _summary(rng: random.Random, activation: str, depth: int, weight_var: float) -> dict[str, Any]:
    gain = {"sigmoid": 0.25, "tanh": 0.8, "identity": 1.0}.get(activation, 0.7) * weight_var ** 0.5 * rng.uniform(0.9, 1.1)
    ratio = gain ** depth if gain ** depth > 1e-300 else 0.0
    verdict = "vanishing" if ratio < 1e-3 else "exploding" if ratio > 1e3 else "healthy"
    if rng.random() < 0.03:
        verdict = "diverged"
    return {"verdict": verdict, "signal_ratio_init": ratio, "grad_ratio_init": ratio * rng.uniform(0.5, 50),
            "grad_ratio_final": ratio * rng.uniform(0.5, 50), "layer_gain_init": gain, "first_nonfinite": None,
            "final_loss": rng.uniform(0.05, 2.4), "final_accuracy": rng.uniform(0.05, 1.0), "theory_gain": gain,
            "remedies": [], "note": None}


def seed(url: str) -> None:
    engine = create_engine(url)
    base = ExperimentSpec.model_validate({"model": {"arch": "mlp", "depth": 2, "width": 2, "activation": "tanh"}}).model_dump(mode="json")
    rows, tags = _spec_rows(random.Random(0), base, datetime.now(UTC))
    started = time.perf_counter()
    with engine.begin() as connection:
        for start in range(0, N, 5000):
            connection.execute(insert(ExperimentRow), rows[start : start + 5000])
        connection.execute(insert(ExperimentTagRow), tags)
        profiled = [row["id"] for row in rows if row["status"] == "succeeded"][:2000]
        connection.execute(insert(ProfileRow), [{"experiment_id": i, "layers": [], "theory": None} for i in profiled])
        connection.execute(insert(ProfileArrayRow), [{"experiment_id": i, "name": "metric.grad_norm", "dtype": "float32",
                                                      "shape": [11, 21], "data": bytes(4 * 231)} for i in profiled])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    print(f"seeded {N} experiments ({len(tags)} tags) in {time.perf_counter() - started:.1f} s", flush=True)
    engine.dispose()


def _profile_scans(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0) FROM pg_stat_user_tables "
            "WHERE relname IN ('profiles', 'profile_arrays')")).scalar_one())


def measure(url: str, repeats: int) -> list[tuple[str, str, str, float, float, int]]:
    store = Store.from_url(url)
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    before = _profile_scans(store)
    results = []
    for label, filter_text, order_by in QUERIES:
        query_experiments(store, filter_text, order_by, 50, pepper=PEPPER)  # warm the plan and the cache
        timings: list[float] = []
        token: str | None = None
        for _ in range(repeats):
            for page in (1, 2):
                started = time.perf_counter()
                result = query_experiments(store, filter_text, order_by, 50, token if page == 2 else None, pepper=PEPPER)
                timings.append((time.perf_counter() - started) * 1000)
                token = result.next_page_token
        p50 = statistics.median(timings)
        p95 = statistics.quantiles(timings, n=20)[18]
        results.append((label, filter_text, order_by, p50, p95, len(result.items)))
        print(f"{label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
    time.sleep(1)  # let PostgreSQL's statistics collector catch up
    queries = [s for s in statements if "pg_stat_user_tables" not in s]
    assert queries and not any("profile" in s for s in queries), "a history query touched a profile table"
    assert _profile_scans(store) == before, "PostgreSQL counted a scan of a profile table"
    store.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    admin = create_engine(args.server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{DB}"'))
        connection.execute(text(f'CREATE DATABASE "{DB}"'))
    url = make_url(args.server).set(database=DB).render_as_string(hide_password=False)
    try:
        upgrade(url)
        seed(url)
        results = measure(url, args.repeats)
    finally:
        if not args.keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'))
        admin.dispose()
    rows = "\n".join(f"| {label} | `{filter_text or '—'}` | `{order_by or 'created_at desc'}` | {p50:.1f} | {p95:.1f} |"
                     for label, filter_text, order_by, p50, p95, _ in results)
    write_section("history-query", f"""## History queries on 100,000 experiments

`.venv/bin/python -m benchmarks.history_query` — PostgreSQL 15 on this machine (2 cores, shared), 100,000
experiments with 2,000 stored profiles, `limit=50`; each query timed {args.repeats}× on page 1 and {args.repeats}× on
page 2 (keyset token) through `service.search.history.query_experiments` (parse, compile, execute, build the resources).
No statement names a profile table, and PostgreSQL's own counters show no scan of one (both asserted).

| query | filter | order_by | p50 ms | p95 ms |
|---|---|---|---|---|
{rows}

Target: p95 ≤ 50 ms for each.
""")


if __name__ == "__main__":
    main()
