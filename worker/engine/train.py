"""run_experiment: train the spec's network and record its gradient profile.

The loop is the plain one (sample, forward, backward, clip, step); the probe
joins it only on recorded steps (step 0, every `probe.every` steps, the last
step). Nothing in it waits for the device between recorded steps: progress
goes out through `on_step`, and non-finite losses are counted on the device.

A loss that turns non-finite between two recorded steps is seen at the next
recorded one. The run then stops there and, since it is deterministic in its
seed, is run again from the start up to the exact step the loss first went
non-finite, which is recorded: the profile ends at that step, as if every
step had been watched, and the price is paid only by runs that diverge.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from gradatlas.service.contracts.spec import ExperimentSpec, TrainingSpec
from gradatlas.service.science.analysis import summarise
from gradatlas.worker.engine.data import BatchSampler, make_data
from gradatlas.worker.engine.export import ImportLog
from gradatlas.worker.engine.models import build_model
from gradatlas.worker.engine.probe import GradientProbe
from gradatlas.worker.engine.seeding import derive_seed
from gradatlas.worker.engine.updates import known_update_norms
from torch import Tensor, nn

OnStep = Callable[[int, int], None]
DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


@dataclass
class RunResult:
    """A recorded profile (docs/api.md, "The profile") with its summary.

    Row k of every metric, loss[k] and accuracy[k] describe recorded step
    steps[k]: its minibatch and the weights before that step's update
    (update_ratio is the update itself). Non-finite values are kept as such.
    """

    layers: list[dict]
    steps: list[int]
    loss: list[float]
    accuracy: list[float]
    metrics: dict[str, np.ndarray]  # each (n_recorded_steps, n_layers) float64
    summary: dict
    environment: dict


@dataclass
class _Trace(ImportLog):
    """What a run records: the same columns as a user's own loop, plus where it went bad."""

    first_bad: int | None = None  # first step whose loss was not finite
    steps_done: int = 0
    layers: list[dict] = field(default_factory=list)


def run_experiment(spec: ExperimentSpec, on_step: OnStep | None = None) -> RunResult:
    """Run `spec` and return its profile; exceptions from `on_step` propagate."""
    device = resolve_device(spec.device)
    trace = _train(spec, device, on_step, stop_at=None)
    if trace.first_bad is not None and trace.first_bad not in trace.steps:
        done = trace.steps_done  # progress must not go backwards during the re-run
        replay = (lambda _s, total: on_step(done, total)) if on_step else None
        trace = _train(spec, device, replay, stop_at=trace.first_bad)
    metric_names = list(trace.rows[0])
    metrics = {m: np.stack([row[m] for row in trace.rows]) for m in metric_names}
    summary = summarise(trace.steps, trace.loss, trace.accuracy, metrics, n_hidden=len(trace.layers) - 1)
    return RunResult(
        layers=trace.layers, steps=trace.steps, loss=trace.loss, accuracy=trace.accuracy,
        metrics=metrics, summary=summary,
        environment={"torch": torch.__version__, "device": str(device), "dtype": spec.dtype},
    )


def resolve_device(name: str) -> torch.device:
    """`auto` is the first GPU when there is one, else the CPU."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError("the spec asks for device 'cuda' but no CUDA device is available")
    return torch.device("cuda", torch.cuda.current_device())


def is_recorded(step: int, n_steps: int, every: int) -> bool:
    """Step 0, every `every` steps, and the last step."""
    return step % every == 0 or step == n_steps - 1


def make_optimizer(params: list[nn.Parameter], t: TrainingSpec) -> torch.optim.Optimizer:
    """The spec's optimiser; `momentum`/`nesterov` use 0.9 when momentum is 0."""
    lr, wd = t.lr, t.weight_decay
    if t.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=t.momentum, weight_decay=wd)
    if t.optimizer in ("momentum", "nesterov"):
        beta = t.momentum or 0.9
        return torch.optim.SGD(params, lr=lr, momentum=beta, nesterov=t.optimizer == "nesterov", weight_decay=wd)
    if t.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if t.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=t.momentum, weight_decay=wd)
    raise ValueError(f"unknown optimizer {t.optimizer!r}")


def batch_loss(kind: str, logits: Tensor, y: Tensor) -> Tensor:
    """Batch-mean loss; `mse` compares the logits with one-hot targets."""
    if kind == "cross_entropy":
        return F.cross_entropy(logits, y)
    if kind == "mse":
        # built from y without F.one_hot, which checks its input on the host
        target = torch.zeros_like(logits).scatter_(1, y[:, None], 1.0)  # (B, C)
        return F.mse_loss(logits, target)
    raise ValueError(f"unknown loss {kind!r}")


def _clip(params: list[nn.Parameter], t: TrainingSpec) -> None:
    if t.clip_value is not None:
        nn.utils.clip_grad_value_(params, t.clip_value)
    if t.clip_norm is not None:
        nn.utils.clip_grad_norm_(params, t.clip_norm)


class _Run:
    """One training run's objects, built fresh (and so identically) from the spec."""

    def __init__(self, spec: ExperimentSpec, device: torch.device) -> None:
        self.spec, self.t, self.n_steps = spec, spec.training, spec.training.steps
        dtype = DTYPES[spec.dtype]
        self.model = build_model(spec).to(device=device, dtype=dtype)
        self.data = make_data(spec.data, derive_seed(spec.seed, "data")).to(device, dtype)
        self.sampler = BatchSampler(len(self.data), spec.data.batch_size, device, derive_seed(spec.seed, "batches"))
        metrics = [m for m in spec.recorded_metrics() if self.n_steps > 0 or m != "update_ratio"]
        self.params = list(self.model.parameters())
        self.optimizer = make_optimizer(self.params, self.t) if self.n_steps > 0 else None
        self.probe = GradientProbe(self.model, metrics, update_norms=known_update_norms(
            self.optimizer, dtype, clipped=self.t.clip_norm is not None or self.t.clip_value is not None))
        # on-device count of the steps before the first non-finite loss: no host sync
        self.finite_run = torch.zeros((), dtype=torch.long, device=device)
        self.alive = torch.ones((), dtype=torch.bool, device=device)

    def step(self, recording: bool) -> tuple[Tensor, Tensor] | None:
        """Forward, backward, update; on a recorded step (loss, accuracy) 0-d tensors."""
        idx = self.sampler.next()  # (B,)
        x, y = self.data.x[idx], self.data.y[idx]  # (B, input_dim), (B,)
        with self.probe.watching() if recording else contextlib.nullcontext():
            logits = self.model(x)  # (B, classes)
        loss = batch_loss(self.t.loss, logits, y)
        self.model.zero_grad(set_to_none=True)
        loss.backward()
        self.alive &= torch.isfinite(loss)
        self.finite_run += self.alive
        if recording:
            self.probe.after_backward()  # before clipping: the raw gradient
        if self.optimizer is not None:
            _clip(self.params, self.t)
            self.optimizer.step()
        if not recording:
            return None
        self.probe.after_step()
        return loss, (logits.detach().argmax(dim=1) == y).to(torch.float64).mean()


def _train(spec: ExperimentSpec, device: torch.device, on_step: OnStep | None, stop_at: int | None) -> _Trace:
    """The training loop; stops after a recorded non-finite loss or at `stop_at`."""
    run = _Run(spec, device)
    run.model.train()
    trace = _Trace(layers=run.model.layer_table())
    for step in range(max(run.n_steps, 1)):
        recorded = run.step(is_recorded(step, run.n_steps, spec.probe.every) or step == stop_at)
        stop = step == stop_at
        if recorded is not None:
            row, (loss, accuracy, finite_run) = run.probe.read(*recorded, run.finite_run)
            trace.steps.append(step)
            trace.loss.append(loss)
            trace.accuracy.append(accuracy)
            trace.rows.append(row)
            if finite_run < step + 1:  # a loss up to here was not finite
                trace.first_bad, stop = int(finite_run), True
        trace.steps_done = step + 1 if run.n_steps > 0 else 0
        if on_step is not None:
            on_step(trace.steps_done, run.n_steps)
        if stop:
            break
    return trace
