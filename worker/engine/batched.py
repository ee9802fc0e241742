"""run_batched: P same-shaped MLP experiments as one vectorised model.

Each point keeps its own weights, data, minibatch order, learning rate and
optimiser state, stacked on a leading axis of size P: a layer is one
`baddbmm` over (P, B, in) × (P, in, out) instead of P small matmuls, and the
summed loss gives every point exactly its own gradient (points share no
parameter). The probe's metrics are the same formulas as GradientProbe's,
reduced over every axis but P. Weights and data are made by the very code a
single run uses (build_model, make_data, the samplers' seeded generators),
so a point's profile equals its solo run's to float tolerance. A point whose
loss turns non-finite is run again on its own by the ordinary engine, whose
replay pins the first bad step exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.jobs.batching import batch_key
from gradatlas.service.science.analysis import summarise
from gradatlas.worker.engine.activations import activation_info
from gradatlas.worker.engine.batched_optim import BatchedOptimizer, clip_
from gradatlas.worker.engine.data import BatchSampler, make_data
from gradatlas.worker.engine.models import build_model
from gradatlas.worker.engine.probe import SATURATION
from gradatlas.worker.engine.seeding import derive_seed
from gradatlas.worker.engine.train import DTYPES, OnStep, RunResult, is_recorded, resolve_device, run_experiment
from torch import Tensor

F64 = torch.float64
# What an MLP's probe records per layer (a time axis' metrics do not apply).
LAYER_METRICS = frozenset({"grad_norm", "bias_grad_norm", "signal_norm", "weight_norm", "update_ratio", "act_mean",
                           "act_std", "per_sample_grad_norm", "dead_fraction", "saturated_fraction"})


def can_batch(specs: list[ExperimentSpec]) -> bool:
    keys = {batch_key(spec) for spec in specs}
    return len(keys) == 1 and None not in keys


class _Stack:
    """The P points' parameters, data and samplers, stacked on axis 0."""

    def __init__(self, specs: list[ExperimentSpec], device: torch.device) -> None:
        first = specs[0]
        dtype = DTYPES[first.dtype]
        models = [build_model(spec).to(device=device, dtype=dtype) for spec in specs]
        self.layer_table = models[0].layer_table()
        self.bias = first.model.bias
        linears = [model.linears() for model in models]
        # W_lᵀ: (P, in, out) contiguous, so a layer is one plain baddbmm (a
        # transposed operand costs ~40 % more on CPU); b_l: (P, out). Norms and
        # updates are the same in either layout.
        self.weights = [torch.stack([lin[i].weight.detach().t() for lin in linears]).contiguous().requires_grad_()
                        for i in range(len(linears[0]))]
        self.biases = ([torch.stack([lin[i].bias.detach() for lin in linears]).requires_grad_()
                        for i in range(len(linears[0]))] if self.bias else [])
        data = [make_data(spec.data, derive_seed(spec.seed, "data")).to(device, dtype) for spec in specs]
        self.x = torch.stack([d.x for d in data])  # (P, n, d)
        self.y = torch.stack([d.y for d in data])  # (P, n)
        self.samplers = [BatchSampler(len(data[0]), spec.data.batch_size, device, derive_seed(spec.seed, "batches"))
                         for spec in specs]
        self.rows = torch.arange(len(specs), device=device)[:, None]  # (P, 1)
        self._perm: Tensor | None = None

    def batch(self) -> tuple[Tensor, Tensor]:
        """(P, B, d) inputs and (P, B) labels: each point's own next minibatch,
        drawn from its own generator exactly as its BatchSampler would."""
        first = self.samplers[0]
        if first._pos == first.per_epoch:
            self._perm = torch.stack([torch.randperm(s.n, generator=s.gen, device=s.device) for s in self.samplers])
            for s in self.samplers:
                s._pos = 0
        start = first._pos * first.batch
        for s in self.samplers:
            s._pos += 1
        assert self._perm is not None
        idx = self._perm[:, start : start + first.batch]  # (P, B)
        return self.x[self.rows, idx], self.y[self.rows, idx]

    def params(self) -> list[Tensor]:
        return self.weights + self.biases


def _loss(kind: str, logits: Tensor, y: Tensor) -> Tensor:  # (P, B, C), (P, B) -> (P,)
    p, b, c = logits.shape
    if kind == "cross_entropy":
        return F.cross_entropy(logits.reshape(p * b, c), y.reshape(p * b), reduction="none").view(p, b).mean(dim=1)
    target = torch.zeros_like(logits).scatter_(2, y[:, :, None], 1.0)
    return (logits - target).square().mean(dim=(1, 2))


def _norms(t: Tensor) -> Tensor:  # per point ‖t_p‖ in float64: (P, ...) -> (P,)
    return torch.linalg.vector_norm(t.flatten(1), dim=1, dtype=F64)


class _Recorder:
    """The probe's buffer for P points: (P, n_metrics, n_layers) float64."""

    def __init__(self, metrics: list[str], n_points: int, n_layers: int, device: torch.device) -> None:
        self.metrics, self.row = metrics, {m: i for i, m in enumerate(metrics)}
        self.buf = torch.zeros(n_points, len(metrics), n_layers, dtype=F64, device=device)

    def put(self, metric: str, layer: int | slice, value: Tensor) -> None:
        if metric in self.row:
            self.buf[:, self.row[metric], layer] = value

    def activations(self, layer: int, a: Tensor, u: Tensor | None, derivative: Callable[[Tensor], Tensor] | None,
                    max_derivative: float) -> None:
        a = a.detach().to(F64)
        mean = a.mean(dim=(1, 2))
        self.put("act_mean", layer, mean)
        self.put("act_std", layer, (a - mean[:, None, None]).square().mean(dim=(1, 2)).sqrt())
        if u is None or derivative is None:
            return
        d = derivative(u.detach()).abs()  # (P, B, units)
        self.put("dead_fraction", layer, (d == 0).all(dim=1).to(F64).mean(dim=1))
        self.put("saturated_fraction", layer, (d < SATURATION * max_derivative).to(F64).mean(dim=(1, 2)))

    def signal(self, layer: int, x: Tensor, g: Tensor) -> None:
        self.put("signal_norm", layer, _norms(g))
        if "per_sample_grad_norm" in self.row:
            g_rows = torch.linalg.vector_norm(g, dim=2, dtype=F64)  # (P, B)
            x_rows = torch.linalg.vector_norm(x, dim=2, dtype=F64)
            self.put("per_sample_grad_norm", layer, g.shape[1] ** 0.5 * torch.linalg.vector_norm(g_rows * x_rows, dim=1))


def run_batched(specs: list[ExperimentSpec], on_step: OnStep | None = None) -> list[RunResult]:
    """Each spec's RunResult, as run_experiment would give it alone."""
    if not can_batch(specs):
        raise ValueError("these specs cannot run as one batch (service.batching.batch_key differs)")
    first = specs[0]
    device = resolve_device(first.device)
    stack = _Stack(specs, device)
    n_steps, t = first.training.steps, first.training
    metrics = [m for m in first.recorded_metrics() if m in LAYER_METRICS and (n_steps > 0 or m != "update_ratio")]
    info = activation_info(first.model.activation)
    act = info.make()
    n_layers, depth = len(stack.weights), first.model.depth
    optimizer = BatchedOptimizer(stack.params(), specs) if n_steps > 0 else None
    alive = torch.ones(len(specs), dtype=torch.bool, device=device)
    finite_run = torch.zeros(len(specs), dtype=torch.long, device=device)
    steps: list[int] = []
    rows: list[np.ndarray] = []
    losses: list[np.ndarray] = []
    accuracies: list[np.ndarray] = []
    for step in range(max(n_steps, 1)):
        recording = is_recorded(step, n_steps, first.probe.every)
        rec = _Recorder(metrics, len(specs), n_layers, device) if recording else None
        x, y = stack.batch()
        h = x
        for i, w in enumerate(stack.weights):
            z = torch.baddbmm(stack.biases[i][:, None, :], h, w) if stack.bias else torch.bmm(h, w)  # (P, B, out)
            if rec is not None and z.requires_grad and {"signal_norm", "per_sample_grad_norm"} & set(metrics):
                z.register_hook(_signal_hook(rec, i, h.detach()))
            if i == n_layers - 1:
                if rec is not None:
                    rec.activations(i, z, None, None, 1.0)
                h = z
                break
            h = act(z)
            if rec is not None:
                rec.activations(i, h, z, info.derivative, info.max_derivative)
        logits = h  # (P, B, C)
        loss = _loss(t.loss, logits, y)  # (P,)
        for p in stack.params():
            p.grad = None
        loss.sum().backward()
        alive &= torch.isfinite(loss)
        finite_run += alive
        before = None
        if rec is not None:
            before = _after_backward(rec, stack, metrics)
        if optimizer is not None:
            clip_(stack.params(), t.clip_value, t.clip_norm)
            optimizer.step()
        if rec is None:
            if on_step is not None:
                on_step(step + 1, n_steps)
            continue
        if before is not None:
            with torch.no_grad():
                moved = torch.stack([_norms(w - b) for w, b in zip(stack.weights, before, strict=True)], dim=1)
                norms = torch.stack([_norms(b) for b in before], dim=1)
                rec.put("update_ratio", slice(None), torch.where(moved == 0, torch.zeros_like(moved), moved / norms))
        accuracy = (logits.detach().argmax(dim=2) == y).to(F64).mean(dim=1)
        steps.append(step)
        rows.append(rec.buf.cpu().numpy())
        losses.append(loss.detach().to(F64).cpu().numpy())
        accuracies.append(accuracy.cpu().numpy())
        if on_step is not None:
            on_step(step + 1 if n_steps > 0 else 0, n_steps)
    finite = finite_run.cpu().numpy()
    environment = {"torch": torch.__version__, "device": str(device), "dtype": first.dtype, "batched": len(specs)}
    results = []
    for point, spec in enumerate(specs):
        if finite[point] < max(n_steps, 1):  # diverged: the solo engine pins the first bad step
            results.append(run_experiment(spec))
            continue
        metric_rows = {m: np.stack([r[point, k] for r in rows]) for k, m in enumerate(metrics)}
        loss_p, acc_p = [float(v[point]) for v in losses], [float(v[point]) for v in accuracies]
        summary = summarise(steps, loss_p, acc_p, metric_rows, n_hidden=depth)
        results.append(RunResult(layers=stack.layer_table, steps=list(steps), loss=loss_p, accuracy=acc_p,
                                 metrics=metric_rows, summary=summary, environment=environment))
    return results


def _signal_hook(rec: _Recorder, layer: int, x: Tensor) -> Callable[[Tensor], None]:
    """∂L/∂z of a layer, seen once during backward (like the probe's hook)."""
    def hook(g: Tensor) -> None:
        with torch.no_grad():
            rec.signal(layer, x, g)

    return hook


@torch.no_grad()
def _after_backward(rec: _Recorder, stack: _Stack, metrics: list[str]) -> list[Tensor] | None:
    """Weight, gradient and bias-gradient norms before clipping; W snapshot."""
    for i, w in enumerate(stack.weights):
        rec.put("weight_norm", i, _norms(w))
        rec.put("grad_norm", i, _norms(w.grad) if w.grad is not None else torch.zeros(w.shape[0], dtype=F64))
        bias_grad = stack.biases[i].grad if stack.bias else None
        if bias_grad is not None:
            rec.put("bias_grad_norm", i, _norms(bias_grad))
    return [w.detach().clone() for w in stack.weights] if "update_ratio" in metrics else None


__all__ = ["run_batched", "can_batch"]
