"""GradientProbe: per-layer gradient statistics of a training step.

A probe watches a list of linear layers and, on the steps it is asked to
record, measures the metrics of docs/api.md's profile table. It is written to be
attached to any training loop, the engine's own or a user's (record() and
to_import(), worker/engine/export.py):

    probe = GradientProbe(model)
    with probe.watching():          # recorded steps only: hooks live here
        logits = model(x)
    loss.backward()                 # the signal hooks fire here
    probe.after_backward()          # raw gradients, before any clipping
    optimizer.step()
    probe.after_step()              # update_ratio
    row, (loss_value,) = probe.read(loss)   # the one host copy

Why it is shaped like this (docs/design.md, "Performance principles"): hooks exist
only during a recorded step's forward, so other steps run the bare model;
the hooks only keep references (a layer's input, its output's gradient), and
`after_backward` reduces them on the device: every weight, gradient and
signal norm of the step in one `_foreach_norm` call, the results written
into one preallocated float64 buffer; the host sees the buffer once per
recorded step, never a per-layer `.item()`.

A weight applied several times in one forward pass (an RNN's recurrent
matrix, once per time step) is measured over all its applications: its
signal is ‖∂L/∂z‖ over every z it produced, its per-example gradient the sum
over the steps. A model with a time axis (`on_hidden`) also gets
`time_signal_norm`, ‖∂L/∂h_t‖ for each hidden state h_t.

Numerics: a float32 gradient of 1e-30 reads 1e-30 instead of 0, one of
1e30 reads 1e30 instead of inf, and a genuine inf or nan is kept as such.
On CUDA every norm is accumulated in float64 by the fused foreach kernels.
On CPU, where any float64 reduction of float32 data is several times slower,
norms are taken in float32 and every result outside [1e-12, 1e18] (where a
float32 square may have under- or overflowed) is taken again in float64
(probe_stats.norms64); activation spreads are taken after centring, so a
near-constant layer's small std does not cancel away.

Cost (docs/design.md): per-layer tensors of the same shape are stacked into
reused buffers and each metric is one op for the whole stack
(probe_batched), so the number of ops per recorded step does not grow with
depth; benchmarks/probe_overhead.py and scaling_work.py measure it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from gradatlas.service.contracts.spec import ALL_METRICS
from gradatlas.worker.engine.export import ImportLog, record, to_import
from gradatlas.worker.engine.layers import ProbedLayer, discover_layers
from gradatlas.worker.engine.probe_batched import ActItem, Workspace, fill_rows
from gradatlas.worker.engine.probe_batched import activation_stats as batched_activation_stats
from gradatlas.worker.engine.probe_stats import F64, SATURATION, RowNorms, activation_stats, norm64, norms64, per_sample_norm, units_last
from gradatlas.worker.engine.updates import UpdateNorms
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

__all__ = ["F64", "SATURATION", "GradientProbe", "ProbedLayer", "discover_layers", "norm64"]
TIME_METRIC = "time_signal_norm"
_ACT_METRICS = ("act_mean", "act_std", "dead_fraction", "saturated_fraction")
_SIGNAL_METRICS = frozenset({"signal_norm", "per_sample_grad_norm"})


class _Capture:
    """What the hooks of one recorded step kept, per layer: references only."""

    def __init__(self, n_layers: int) -> None:
        self.x: list[list[Tensor]] = [[] for _ in range(n_layers)]  # weight-layer inputs, one per call
        self.g: list[list[Tensor | None]] = [[] for _ in range(n_layers)]  # ∂L/∂z per call (backward fills)
        self.act: list[list[tuple[Tensor, Tensor | None]]] = [[] for _ in range(n_layers)]  # (φ(u), u)
        self.hidden: dict[int, Tensor] = {}  # t -> ∂L/∂h_t


class GradientProbe:
    """Records the metrics of docs/api.md's profile for a model's weight layers."""

    def __init__(
        self,
        model: nn.Module,
        metrics: Sequence[str] = ALL_METRICS,
        layers: Sequence[ProbedLayer] | None = None,
        update_norms: UpdateNorms | None = None,
    ) -> None:
        """`update_norms`, when given, reads each weight's ‖ΔW‖ after the
        optimiser's step (worker/engine/updates.py) instead of a snapshot."""
        unknown = set(metrics) - set(ALL_METRICS)
        if unknown:
            raise ValueError(f"unknown metrics: {sorted(unknown)}")
        self.model = model
        self.layers = list(layers) if layers is not None else discover_layers(model)
        if not self.layers:
            raise ValueError("the model has no linear layers to probe")
        self.metrics = tuple(m for m in metrics if m != TIME_METRIC)
        self._time = TIME_METRIC in metrics and hasattr(model, "on_hidden")
        weight = self.layers[0].linear.weight
        self._row = {m: i for i, m in enumerate(self.metrics)}
        # (n_metrics, n_layers): the one on-device record of the current step
        self._buf = torch.zeros(len(self.metrics), len(self.layers), dtype=F64, device=weight.device)
        self._time_buf: Tensor | None = None  # (seq_len,) when the model has a time axis
        self._handles: list[RemovableHandle] = []
        self.recorded = ImportLog()  # what record() kept, for to_import()
        self._weights = [layer.linear.weight for layer in self.layers]
        self._bias_layers = [i for i, layer in enumerate(self.layers) if layer.linear.bias is not None]
        self._bias_index = torch.tensor(self._bias_layers, dtype=torch.long, device=weight.device)
        self._update_norms = update_norms
        self._before: list[Tensor] | None = None
        self._snapshot: list[Tensor] | None = None  # reused buffers: a fresh 5 MB allocation each step page-faults
        self._weight_norms: Tensor | None = None
        self._grad_norms: Tensor | None = None  # this step's, for update_norms
        self._capture = _Capture(len(self.layers))
        self._workspace = Workspace()  # stacks reused across recorded steps (probe_batched)
        self._indices: dict[tuple[int, ...], Tensor] = {}

    # --- the recorded step ---------------------------------------------------

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Hooks for the forward pass of a recorded step (removed on exit)."""
        self._buf.zero_()
        self._before = self._weight_norms = self._grad_norms = None
        self._capture = _Capture(len(self.layers))
        wants_act = bool(set(_ACT_METRICS) & set(self.metrics))
        wants_signal = bool(_SIGNAL_METRICS & set(self.metrics))
        for i, layer in enumerate(self.layers):
            if wants_signal or (wants_act and layer.activation is None):
                self._handles.append(layer.linear.register_forward_hook(self._linear_hook(i, wants_signal, wants_act)))
            if wants_act and layer.activation is not None:
                self._handles.append(layer.activation.register_forward_hook(self._activation_hook(i)))
        if self._time:
            # torch annotates Module.__setattr__ for tensors and modules only; on_hidden is a plain callback
            self.model.on_hidden = self._hidden_hook  # type: ignore[assignment]
        try:
            yield
        finally:
            for handle in self._handles:
                handle.remove()
            self._handles.clear()
            if self._time:
                self.model.on_hidden = None  # type: ignore[assignment]  # (as above)

    @torch.no_grad()
    def after_backward(self) -> None:
        """Reduce what the step captured, then the weight and gradient norms.

        Call it before gradient clipping: grad_norm is the gradient the loss
        produced, not what the clipper let through.
        """
        if self.metrics == ("grad_norm",) and not self._time:  # the cheapest profile: one batched norm
            grads = [w.grad if w.grad is not None else torch.zeros_like(w) for w in self._weights]
            self._buf[0].copy_(norms64(grads))
            return
        capture, self._capture = self._capture, _Capture(len(self.layers))
        rows = RowNorms()
        self._forward_stats(capture, rows)
        self._backward_stats(capture, rows)

    @torch.no_grad()
    def after_step(self) -> None:
        """update_ratio = ‖W_after − W_before‖_F / ‖W_before‖_F (0 when both are 0)."""
        if "update_ratio" not in self._row or self._weight_norms is None:
            return
        if self._update_norms is not None:
            moved = self._update_norms(self._weights, self._grad_norms)
        elif self._before is not None:
            torch._foreach_sub_(self._before, self._weights)  # in place: before ← before − after = −ΔW
            moved = norms64(self._before)  # (n_layers,)
        else:
            return
        ratio = moved / self._weight_norms
        self._put("update_ratio", torch.where(moved == 0, torch.zeros_like(ratio), ratio))
        self._before = self._weight_norms = self._grad_norms = None

    def read(self, *scalars: Tensor) -> tuple[dict[str, np.ndarray], list[float]]:
        """Copy the record (and any 0-d tensors, e.g. the loss) to the host at once.

        The rows hold one value per layer; `time_signal_norm`, when recorded,
        one value per time step.
        """
        parts = [self._buf.flatten()]
        if self._time_buf is not None:
            parts.append(self._time_buf)
        parts += [s.detach().reshape(1).to(F64) for s in scalars]
        host = torch.cat(parts).cpu().numpy()  # the single device → host copy of this step
        n = len(self.layers)
        rows = {m: host[i * n : (i + 1) * n].copy() for m, i in self._row.items()}
        at = len(self.metrics) * n
        if self._time_buf is not None:
            rows[TIME_METRIC] = host[at : at + len(self._time_buf)].copy()
            at += len(self._time_buf)
        return rows, [float(v) for v in host[at:]]

    # --- reductions ----------------------------------------------------------

    def _forward_stats(self, capture: _Capture, rows: RowNorms) -> None:
        """Activation statistics: single-call layers batched by shape (probe_batched),
        layers applied several times (an RNN's) one by one over all their calls."""
        if not set(_ACT_METRICS) & set(self.metrics):
            return
        items, results = [], []
        for i, layer in enumerate(self.layers):
            calls = capture.act[i]
            if len(calls) == 1:
                a, u = calls[0]
                unit_axis = 1 if isinstance(layer.linear, nn.Conv2d) else a.dim() - 1
                items.append(ActItem(i, a, u, layer.derivative, layer.max_derivative, unit_axis))
            elif calls:
                a = torch.cat([units_last(t, layer.linear) for t, _ in calls])
                u = None if calls[0][1] is None else torch.cat([units_last(t, layer.linear) for _, t in calls])
                results.append(([i], torch.stack(activation_stats(a, u, layer.derivative, layer.max_derivative))[:, None]))
        results += batched_activation_stats(items, rows, self._workspace)
        wanted = [(k, self._row[m]) for k, m in enumerate(_ACT_METRICS) if m in self._row]
        if not results or not wanted:
            return
        layers = self._index(tuple(i for indices, _ in results for i in indices))
        stats = torch.cat([s for _, s in results], dim=1)  # (4, n): one write into the buffer
        self._buf[self._index(tuple(r for _, r in wanted))[:, None], layers[None, :]] = stats[[k for k, _ in wanted]]

    def _index(self, values: tuple[int, ...]) -> Tensor:
        """A cached index tensor on the probe's device (the same few are asked for every step)."""
        if values not in self._indices:
            self._indices[values] = torch.tensor(values, dtype=torch.long, device=self._buf.device)
        return self._indices[values]

    def _backward_stats(self, capture: _Capture, rows: RowNorms) -> None:
        """All norms of the step in one batched call: weights, weight and bias
        gradients, the signal of every call of every layer, the hidden states."""
        wanted, n = set(self.metrics), len(self.layers)
        need_w = bool({"weight_norm", "update_ratio"} & wanted)
        grads = [w.grad if w.grad is not None else torch.zeros_like(w) for w in self._weights]
        biases = [self.layers[i].linear.bias for i in self._bias_layers]
        bias_grads = [b.grad if b.grad is not None else torch.zeros_like(b) for b in biases]
        single = [i for i in range(n) if len(capture.g[i]) == 1 and capture.g[i][0] is not None]
        signals = [(i, g) for i in range(n) if i not in single for g in capture.g[i] if g is not None]
        signals = signals if "signal_norm" in wanted else []
        hidden = [capture.hidden[t] for t in sorted(capture.hidden)] if self._time else []
        tensors = (self._weights if need_w else []) + (grads if "grad_norm" in wanted else [])
        tensors += (bias_grads if "bias_grad_norm" in wanted else []) + [g for _, g in signals] + hidden
        norms = norms64(tensors) if tensors else self._buf[0]
        at = 0
        if need_w:
            self._weight_norms = norms[:n]
            self._put("weight_norm", self._weight_norms)
            at = n
        if "grad_norm" in wanted:
            self._grad_norms = norms[at : at + n]
            self._put("grad_norm", self._grad_norms)
            at += n
        if "bias_grad_norm" in wanted:
            if self._bias_layers:
                self._buf[self._row["bias_grad_norm"]].index_copy_(0, self._bias_index, norms[at : at + len(bias_grads)])
            at += len(bias_grads)
        if single and _SIGNAL_METRICS & wanted:  # per-example norms of every single-call signal, batched by shape
            fill_rows([capture.g[i][0] for i in single], rows, self._workspace)
        if "signal_norm" in wanted and (single or signals):  # one call: ‖g‖ = ‖(‖g_a‖)_a‖
            singles = (torch.linalg.vector_norm(torch.stack([rows(capture.g[i][0]) for i in single]), dim=1)
                       if single else norms[:0])
            self._put_signal(torch.cat([norms[at : at + len(signals)], singles]),
                             [i for i, _ in signals] + single)
            at += len(signals)
        if self._time:
            self._time_buf = norms[at:].clone() if hidden else torch.zeros(0, dtype=F64, device=self._buf.device)
        if "per_sample_grad_norm" in wanted:
            self._per_sample(capture, rows)
        if "update_ratio" in wanted and self._update_norms is None:
            if self._snapshot is None:
                self._snapshot = [torch.empty_like(w) for w in self._weights]
            torch._foreach_copy_(self._snapshot, [w.detach() for w in self._weights])
            self._before = self._snapshot

    def _put_signal(self, norms: Tensor, owners: list[int]) -> None:
        """signal_norm: per layer, √(Σ over its calls of ‖∂L/∂z‖²)."""
        if len(set(owners)) == len(owners):  # one call per layer: no sum needed
            self._buf[self._row["signal_norm"]].index_copy_(0, self._index(tuple(owners)), norms)
            return
        sq = torch.zeros(len(self.layers), dtype=F64, device=norms.device)
        sq.index_add_(0, torch.tensor(owners, device=norms.device), norms.square())
        self._put("signal_norm", sq.sqrt())

    def _per_sample(self, capture: _Capture, rows: RowNorms) -> None:
        """Rank-one layers (one call, (B, features) tensors) all at once,
        √B·‖(‖g_a‖·‖x_a‖)_a‖; the others (convs, several calls) one by one."""
        values = torch.zeros(len(self.layers), dtype=F64, device=self._buf.device)
        rank_one = []
        for i, layer in enumerate(self.layers):
            pairs = [(g, x) for g, x in zip(capture.g[i], capture.x[i], strict=True) if g is not None]
            if len(pairs) == 1 and pairs[0][0].dim() == 2 and not isinstance(layer.linear, nn.Conv2d):
                rank_one.append((i, *pairs[0]))
            elif pairs:
                values[i] = per_sample_norm([g for g, _ in pairs], [x for _, x in pairs], layer.linear, rows)
        if rank_one:
            fill_rows([x for _, _, x in rank_one], rows, self._workspace)
            products = torch.stack([rows(g) * rows(x) for _, g, x in rank_one])  # (n, B)
            batch = rank_one[0][1].shape[0]
            index = self._index(tuple(i for i, _, _ in rank_one))
            values.index_copy_(0, index, batch**0.5 * torch.linalg.vector_norm(products, dim=1))
        self._put("per_sample_grad_norm", values)

    # --- hooks ---------------------------------------------------------------

    def _put(self, metric: str, value: Tensor) -> None:
        row = self._row.get(metric)
        if row is not None:
            self._buf[row].copy_(value)

    def _linear_hook(self, i: int, wants_signal: bool, wants_act: bool) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], z: Tensor) -> None:
            capture = self._capture
            if self.layers[i].activation is None and wants_act:
                capture.act[i].append((z.detach(), None))
            if not (wants_signal and z.requires_grad):
                return
            call = len(capture.g[i])
            capture.x[i].append(inputs[0].detach())
            capture.g[i].append(None)
            z.register_hook(lambda g: capture.g[i].__setitem__(call, g))

        return hook

    def _activation_hook(self, i: int) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], a: Tensor) -> None:
            self._capture.act[i].append((a.detach(), inputs[0].detach()))

        return hook

    def _hidden_hook(self, t: int, h: Tensor) -> None:
        """Called by a model with a time axis for each hidden state h_t it makes."""
        if h.requires_grad:
            capture = self._capture
            h.register_hook(lambda g: capture.hidden.__setitem__(t, g))

    # --- a user's own loop (worker/engine/export.py) ----------------------------

    def record(self, step: int, loss: Tensor, accuracy: Tensor | float | None = None) -> dict[str, np.ndarray]:
        """read() this step and keep it in `recorded` for to_import()."""
        return record(self, step, loss, accuracy)

    def to_import(self, name: str = "", tags: Sequence[str] = (), notes: str = "",
                  spec: dict[str, Any] | None = None) -> dict[str, Any]:
        """The body of POST /api/v1/imports for everything record() kept."""
        return to_import(self, name, list(tags), notes, spec)
