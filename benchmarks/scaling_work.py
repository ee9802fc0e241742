"""How a recorded step's cost grows with the work: depth
5 → 160, width 64 → 2048 and the number of steps, each against the plain
training step at the same size.

    .venv/bin/python -m benchmarks.scaling_work [--repeats 5 --quick]

Depth and width: ms per step of the plain step and of the probe recording
every metric at every step (MLP, tanh, batch 128, float32, CPU), interleaved
within each repeat, medians of per-repeat ratios. Steps: the wall time of a
whole `run_experiment` with every step recorded against one recording only
its first and last step. The claim to check: the overhead ratio does not
grow with depth (every per-layer reduction is batched across layers). Writes
a table to BENCHMARKS.md and a log-log plot to docs/scaling-work.png.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.worker.engine import run_experiment

from benchmarks.probe_overhead import Step, interleaved, make_run, stepper, time_steps
from benchmarks.report import write_section

SECTION = "scaling-work"
PLOT = Path(__file__).resolve().parents[1] / "docs" / "scaling-work.png"
DEPTHS, WIDTHS, STEPS = (5, 10, 20, 40, 80, 160), (64, 128, 256, 512, 1024, 2048), (10, 100, 1000)


def mlp(depth: int, width: int) -> dict:
    return {"model": {"arch": "mlp", "depth": depth, "width": width, "activation": "tanh"}, "data": {"input_dim": width}}


def pair(depth: int, width: int, repeats: int) -> tuple[float, float, float]:
    """(plain ms, probed ms, median per-repeat ratio) for one size."""
    plain: Step = stepper(make_run(mlp(depth, width), None), recording=False)
    probed: Step = stepper(make_run(mlp(depth, width), None), recording=True)
    first = time_steps(plain, 2) + time_steps(probed, 2) / 2  # warm-up, and a step count worth ~0.3 s
    n = max(3, min(15, int(0.3 / first)))
    times = interleaved({"plain": plain, "probed": probed}, n, repeats)
    p, q = times["plain"], times["probed"]
    ratio = statistics.median(b / a for a, b in zip(p, q, strict=True))
    return statistics.median(p) * 1e3, statistics.median(q) * 1e3, ratio


def whole_run(steps: int, every: int) -> float:
    spec = ExperimentSpec.model_validate({
        **mlp(10, 256), "data": {"input_dim": 256, "samples": 1024, "batch_size": 128},
        "training": {"steps": steps, "optimizer": "sgd", "lr": 1e-3}, "probe": {"every": every}, "device": "cpu",
    })
    start = time.perf_counter()
    run_experiment(spec)
    return time.perf_counter() - start


def steps_rows(repeats: int, steps_list: tuple[int, ...]) -> list[tuple[int, float, float, float]]:
    rows = []
    for steps in steps_list:
        sparse, dense = [], []
        for _ in range(repeats):
            sparse.append(whole_run(steps, every=steps))
            dense.append(whole_run(steps, every=1))
        ratio = statistics.median(d / s for s, d in zip(sparse, dense, strict=True))
        rows.append((steps, statistics.median(sparse), statistics.median(dense), ratio))
        print(rows[-1], flush=True)
    return rows


def plot(depth_rows: list, width_rows: list, step_rows: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, rows, label in ((axes[0], depth_rows, "depth (width 256)"), (axes[1], width_rows, "width (depth 10)")):
        xs = [r[0] for r in rows]
        ax.loglog(xs, [r[1] for r in rows], "o-", label="plain step")
        ax.loglog(xs, [r[2] for r in rows], "s-", label="probe, every metric")
        ax.set_xlabel(label)
        ax.set_ylabel("ms per step")
        ax.legend()
        twin = ax.twinx()
        twin.semilogx(xs, [r[3] for r in rows], "k--", alpha=0.5)
        twin.set_ylabel("ratio (dashed)")
        twin.set_ylim(0.9, max(2.0, max(r[3] for r in rows) * 1.1))
    xs = [r[0] for r in step_rows]
    axes[2].loglog(xs, [r[1] for r in step_rows], "o-", label="first + last recorded")
    axes[2].loglog(xs, [r[2] for r in step_rows], "s-", label="every step recorded")
    axes[2].set_xlabel("training steps (d10 w256)")
    axes[2].set_ylabel("s per run_experiment")
    axes[2].legend()
    fig.tight_layout()
    PLOT.parent.mkdir(exist_ok=True)
    fig.savefig(PLOT, dpi=110)


def table(title: str, head: str, rows: list, fmt: str) -> list[str]:
    return [f"**{title}**", "", head, "|---|---|---|---|", *[fmt.format(*r) for r in rows], ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smaller sweeps, for a smoke run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (see probe_overhead)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    depths, widths, steps = (DEPTHS[:2], WIDTHS[:2], STEPS[:1]) if args.quick else (DEPTHS, WIDTHS, STEPS)
    before = os.getloadavg()[0]
    depth_rows = [(d, *pair(d, 256, args.repeats)) for d in depths]
    print(depth_rows, flush=True)
    width_rows = [(w, *pair(10, w, args.repeats)) for w in widths]
    print(width_rows, flush=True)
    step_rows = steps_rows(args.repeats, steps)
    body = "\n".join([
        "## Scaling with work (CPU)",
        "",
        f"MLP, tanh, batch 128, float32, SGD; medians of {args.repeats} interleaved repeats, ratios per repeat; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average {before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after. Plot: `docs/scaling-work.png`.",
        "",
        *table("Depth (width 256)", "| depth | plain ms/step | probed ms/step | ratio |", depth_rows,
               "| {} | {:.2f} | {:.2f} | {:.3f}× |"),
        *table("Width (depth 10)", "| width | plain ms/step | probed ms/step | ratio |", width_rows,
               "| {} | {:.2f} | {:.2f} | {:.3f}× |"),
        *table("Steps (depth 10, width 256; whole run_experiment)",
               "| steps | first+last recorded, s | every step recorded, s | ratio |", step_rows,
               "| {} | {:.2f} | {:.2f} | {:.3f}× |"),
    ])
    print(body)
    if not args.no_write:
        plot(depth_rows, width_rows, step_rows)
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
