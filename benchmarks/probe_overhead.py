"""The probe's cost: a training step that records every metric (and one that
records only the weight-gradient norms) against the plain step, in the
engine's own loop (worker.engine.train._Run.step).

    .venv/bin/python -m benchmarks.probe_overhead [--depth 20 --width 256 --batch 128 --steps 30 --repeats 7]

Modes are interleaved within each repeat (plain, all, grad-only, plain, …)
so that drift in machine load hits them alike; each figure is the median
over repeats of the mean step time, and the ratios are taken within the same
run. It writes its section of BENCHMARKS.md (the command included).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch

from service.spec import ExperimentSpec
from worker.engine.train import _Run

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nEvery figure here is written by a script in `benchmarks/`, with the command that produced it.\n"
SECTION = "probe-overhead"


def make_run(args: argparse.Namespace, metrics: list[str] | None) -> _Run:
    spec = ExperimentSpec.model_validate({
        "model": {"arch": "mlp", "depth": args.depth, "width": args.width, "activation": "tanh",
                  "init": {"scheme": "normal", "weight_var": 1.0}},
        "data": {"input_dim": args.width, "samples": args.batch * 8, "batch_size": args.batch},
        "training": {"steps": 10**6, "optimizer": "sgd", "lr": 1e-3}, "probe": {"metrics": metrics},
        "device": "cpu",
    })
    return _Run(spec, torch.device("cpu"))


def stepper(run: _Run, recording: bool) -> Callable[[], None]:
    def step() -> None:
        recorded = run.step(recording)
        if recorded is not None:
            run.probe.read(*recorded, run.finite_run)  # the host copy is part of recording

    return step


def time_steps(step: Callable[[], None], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n


def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    modes = {
        "plain": stepper(make_run(args, None), recording=False),
        "all metrics": stepper(make_run(args, None), recording=True),
        "grad_norm only": stepper(make_run(args, ["grad_norm"]), recording=True),
    }
    for step in modes.values():  # warm-up: allocator, kernels, first-call costs
        time_steps(step, 3)
    times: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.repeats):
        for name, step in modes.items():
            times[name].append(time_steps(step, args.steps))
    return times


def breakdown(args: argparse.Namespace, n: int = 30) -> dict[str, float]:
    """Median ms of each phase of a recorded step (all metrics): where the overhead goes."""
    from worker.engine.probe_stats import RowNorms
    from worker.engine.train import batch_loss

    run = make_run(args, None)
    probe, idx = run.probe, run.sampler.next()
    x, y = run.data.x[idx], run.data.y[idx]
    phases: dict[str, list[float]] = {k: [] for k in ("forward+backward", "activation stats", "norms, signal, per-sample",
                                                       "update_ratio", "host copy")}
    for _ in range(n):
        t0 = time.perf_counter()
        with probe.watching():
            loss = batch_loss("cross_entropy", run.model(x), y)
        run.model.zero_grad()
        loss.backward()
        t1 = time.perf_counter()
        with torch.no_grad():
            capture, probe._capture = probe._capture, type(probe._capture)(len(probe.layers))
            rows = RowNorms()
            probe._forward_stats(capture, rows)
            t2 = time.perf_counter()
            probe._backward_stats(capture, rows)
            t3 = time.perf_counter()
            run.optimizer.step()  # type: ignore[union-attr]
            t4 = time.perf_counter()
            probe.after_step()
            t5 = time.perf_counter()
            probe.read(loss)
            t6 = time.perf_counter()
        for k, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t5 - t4, t6 - t5), strict=True):
            phases[k].append(v)
    return {k: statistics.median(v[5:]) * 1e3 for k, v in phases.items()}


def report(args: argparse.Namespace, times: dict[str, list[float]], phases: dict[str, float]) -> str:
    plain = statistics.median(times["plain"])
    rows = [f"| {name} | {statistics.median(ts) * 1e3:.2f} | {min(ts) * 1e3:.2f} – {max(ts) * 1e3:.2f} | "
            f"{statistics.median(ts) / plain:.3f}× |" for name, ts in times.items()]
    return "\n".join([
        "## Probe overhead (CPU)",
        "",
        f"MLP depth {args.depth}, width {args.width}, batch {args.batch}, float32, tanh, SGD; "
        f"{args.steps} steps per measurement, median of {args.repeats} interleaved repeats; "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads. Targets: all metrics ≤ 1.15×, "
        "grad_norm only ≤ 1.03×.",
        "",
        "| mode | ms / step (median) | range | × plain |",
        "|---|---|---|---|",
        *rows,
        "",
        "Where a recorded step's time goes (median ms; forward+backward includes the hooks):",
        "",
        "| phase | ms |",
        "|---|---|",
        *[f"| {k} | {v:.2f} |" for k, v in phases.items()],
    ])


def machine() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores ({model}), load average {load:.1f} at the end, Python {platform.python_version()}"


def write_section(body: str) -> None:
    """Replace this script's section of BENCHMARKS.md (between its markers), or append it."""
    command = " ".join(["python", "-m", "benchmarks.probe_overhead", *sys.argv[1:]])
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (f"<!-- {SECTION}:start -->\n{body.rstrip()}\n\n"
               f"Command: `{command}` · machine: {machine()} · {stamp}\n<!-- {SECTION}:end -->")
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else HEADER
    pattern = re.compile(rf"<!-- {SECTION}:start -->.*?<!-- {SECTION}:end -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    BENCHMARKS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    body = report(args, measure(args), breakdown(args))
    print(body)
    if not args.no_write:
        write_section(body)


if __name__ == "__main__":
    main()
