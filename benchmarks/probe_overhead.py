"""The probe's cost against the plain training step it watches, and against
the two monitors a user would otherwise write.

    .venv/bin/python -m benchmarks.probe_overhead [--steps 10 --repeats 5 --quick]

For each model (MLPs of depth 10/30 × width 256/1024, a CNN, an LSTM; batch
128, float32, CPU) it times, in the engine's own loop (worker.engine.train._Run):
plain steps; the probe recording every metric at every step; the probe
recording grad_norm only; a per-layer `.norm().item()` loop; and a W&B-style
64-bin `torch.histc` of every gradient copied to the host. Modes alternate
step by step within each repeat so load drift hits them alike; every figure
is a median over repeats, and each ratio is the median of the per-repeat
ratios (both sides measured in the same repeat). It writes its section of
BENCHMARKS.md through benchmarks/report.py, with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.worker.engine.train import _Run

from benchmarks.report import write_section

SECTION = "probe-overhead"
Step = Callable[[], None]
MODELS: dict[str, dict[str, Any]] = {
    **{f"mlp d{d} w{w}": {"model": {"arch": "mlp", "depth": d, "width": w, "activation": "tanh"},
                          "data": {"input_dim": w}} for d in (10, 30) for w in (256, 1024)},
    "cnn d8 c32 (digits 8×8)": {"model": {"arch": "cnn", "depth": 8, "width": 32, "activation": "relu"},
                                "data": {"name": "digits"}},
    "lstm d2 h256 T16": {"model": {"arch": "rnn", "cell": "lstm", "depth": 2, "width": 256, "activation": "tanh"},
                         "data": {"name": "sequence", "seq_len": 16, "input_dim": 32}},
}
MODES = ("plain", "GradAtlas: all metrics", "GradAtlas: grad_norm only", "loop .norm().item()", "W&B-style histc(64)")


def make_run(patch: dict[str, Any], metrics: list[str] | None, batch: int = 128) -> _Run:
    """An engine run of `patch` (model, data) at `batch`, SGD, never-ending."""
    spec = ExperimentSpec.model_validate({
        "model": {"init": {"scheme": "normal", "weight_var": 1.0}, **patch["model"]},
        "data": {"samples": batch * 8, **patch["data"], "batch_size": batch},
        "training": {"steps": 10**6, "optimizer": "sgd", "lr": 1e-3}, "probe": {"metrics": metrics},
        "device": "cpu",
    })
    return _Run(spec, torch.device("cpu"))


def stepper(run: _Run, recording: bool) -> Step:
    """One engine step; a recorded one includes the probe's host copy."""
    def step() -> None:
        recorded = run.step(recording)
        if recorded is not None:
            run.probe.read(*recorded, run.finite_run)

    return step


def baseline(run: _Run, monitor: Callable[[list[torch.Tensor]], object]) -> Step:
    """A plain step followed by a user's own monitor over the weight gradients."""
    weights = [layer.linear.weight for layer in run.probe.layers]

    def step() -> None:
        run.step(False)
        monitor([w.grad for w in weights if w.grad is not None])

    return step


def per_layer_items(grads: list[torch.Tensor]) -> list[float]:
    return [g.norm().item() for g in grads]


def histograms(grads: list[torch.Tensor]) -> list[object]:
    return [torch.histc(g.float(), bins=64).cpu().numpy() for g in grads]


def modes_for(patch: dict[str, Any]) -> dict[str, Step]:
    return {
        "plain": stepper(make_run(patch, None), recording=False),
        "GradAtlas: all metrics": stepper(make_run(patch, None), recording=True),
        "GradAtlas: grad_norm only": stepper(make_run(patch, ["grad_norm"]), recording=True),
        "loop .norm().item()": baseline(make_run(patch, None), per_layer_items),
        "W&B-style histc(64)": baseline(make_run(patch, None), histograms),
    }


def time_steps(step: Step, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n


def interleaved(modes: dict[str, Step], steps: int, repeats: int) -> dict[str, list[float]]:
    """Per mode, the median step time of each repeat. Modes alternate step by step,
    so a burst of load from elsewhere on the machine lands on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(repeats):
        spent: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(steps):
            for name, step in modes.items():
                start = time.perf_counter()
                step()
                spent[name].append(time.perf_counter() - start)
        for name in modes:  # the median step: a step stalled by another process does not count
            times[name].append(statistics.median(spent[name]))
    return times


def measure(patch: dict[str, Any], steps: int, repeats: int) -> dict[str, list[float]]:
    modes = modes_for(patch)
    for step in modes.values():  # warm-up: allocator, kernels, workspaces
        time_steps(step, 3)
    return interleaved(modes, steps, repeats)


def row(name: str, times: dict[str, list[float]]) -> str:
    plain = times["plain"]
    cells = [f"{statistics.median(plain) * 1e3:.1f}"]
    for mode in MODES[1:]:
        ratio = statistics.median(t / p for t, p in zip(times[mode], plain, strict=True))
        cells.append(f"{ratio:.3f}×")
    return f"| {name} | " + " | ".join(cells) + " |"


def report(rows: list[str], args: argparse.Namespace, loads: tuple[float, float]) -> str:
    return "\n".join([
        "## Probe overhead (CPU)",
        "",
        f"Batch 128, float32, SGD, every step recorded; {args.steps} steps per mode per repeat (median step), "
        f"median of {args.repeats} repeats, modes alternating step by step; torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"load average {loads[0]:.1f} before, {loads[1]:.1f} after (2 cores shared with other work). "
        "Columns after the first: step time ÷ plain step time, the median of per-repeat ratios. "
        "Targets: grad_norm only ≤ 1.03×, all metrics ≤ 1.15×, both below the two baselines.",
        "",
        "| model | plain ms/step | " + " | ".join(MODES[1:]) + " |",
        "|---|---" + "|---" * (len(MODES) - 1) + "|",
        *rows,
    ])


def profile(name: str, steps: int = 15, top: int = 12) -> str:
    """torch.profiler's view of where a recorded step's time goes, next to a plain step's: the
    rows whose time the plain step does not have are what the probe still costs."""
    from torch.profiler import profile as torch_profile

    steppers = {"plain": stepper(make_run(MODELS[name], None), False), "recorded": stepper(make_run(MODELS[name], None), True)}
    samples: dict[str, dict[str, list[float]]] = {}
    for _ in range(steps):  # one step of each, alternating, each under its own profiler; medians per op
        for mode, step in steppers.items():
            time_steps(step, 1)
            with torch_profile() as prof:
                step()
            for event in prof.key_averages():
                samples.setdefault(event.key, {}).setdefault(mode, []).append(event.self_cpu_time_total / 1e3)
    per_op = {op: {m: statistics.median(v) for m, v in modes.items()} for op, modes in samples.items()}
    total = {m: sum(v.get(m, 0.0) for v in per_op.values()) for m in ("plain", "recorded")}
    wall = {m: statistics.median(t) * 1e3 for m, t in interleaved(steppers, steps, 1).items()}
    extra = sorted(per_op.items(), key=lambda kv: kv[1].get("plain", 0.0) - kv[1].get("recorded", 0.0))[:top]
    return "\n".join([
        f"### Where the remaining overhead goes ({name}, all metrics, torch.profiler, median of {steps} alternating steps)",
        "",
        f"Wall time per step without the profiler: plain {wall['plain']:.2f} ms, recorded {wall['recorded']:.2f} ms "
        f"(+{wall['recorded'] - wall['plain']:.2f} ms). Self CPU time of the ops under the profiler: plain "
        f"{total['plain']:.2f} ms, recorded {total['recorded']:.2f} ms (+{total['recorded'] - total['plain']:.2f} ms); "
        "the rest of the difference is Python: the hooks and the probe's own bookkeeping between ops. "
        "The ops whose time grows most:",
        "",
        "| op | plain ms/step | recorded ms/step |",
        "|---|---|---|",
        *[f"| `{op}` | {t.get('plain', 0.0):.3f} | {t.get('recorded', 0.0):.3f} |" for op, t in extra],
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", help="substring of the model names to run")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared 2-core machine, 2 threads stall whenever another process runs)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--profile", metavar="MODEL", help="only the profiler table of one model (its own section)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.profile:
        body = profile(args.profile)
        print(body)
        if not args.no_write:
            write_section(SECTION + "-profile", body)
        return
    before = os.getloadavg()[0]
    rows = []
    for name, patch in MODELS.items():
        if args.only and args.only not in name:
            continue
        rows.append(row(name, measure(patch, args.steps, args.repeats)))
        print(rows[-1], flush=True)
    body = report(rows, args, (before, os.getloadavg()[0]))
    print(body)
    if not args.no_write:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
