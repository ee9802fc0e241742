"""GradientProbe: per-layer gradient statistics of a training step.

A probe watches a list of linear layers and, on the steps it is asked to
record, measures the metrics of API.md's profile table. It is written to be
attached to any training loop (the engine's own, later a user's):

    probe = GradientProbe(model)
    with probe.watching():          # recorded steps only: hooks live here
        logits = model(x)
    loss.backward()                 # the signal hooks fire here
    probe.after_backward()          # raw gradients, before any clipping
    optimizer.step()
    probe.after_step()              # update_ratio
    row, (loss_value,) = probe.read(loss)   # the one host copy

Why it is shaped like this (DESIGN.md, "Performance principles"): hooks exist
only during a recorded step's forward, so other steps run the bare model;
every reduction runs on the device and writes into one preallocated float64
buffer; all weight and gradient norms come from a single `_foreach_norm`
call; the host sees the buffer once per recorded step, never a per-layer
`.item()`.

Numerics: every norm is accumulated in float64 (the input is cast before it
is squared), so a float32 gradient of 1e-30 reads 1e-30 instead of 0, one of
1e30 reads 1e30 instead of inf, and a genuine inf or nan is kept as such.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from service.spec import ALL_METRICS

F64 = torch.float64
SATURATION = 0.01  # "saturated": |φ'| below 1 % of sup |φ'|
_ACT_METRICS = frozenset({"act_mean", "act_std", "dead_fraction", "saturated_fraction"})
_SIGNAL_METRICS = frozenset({"signal_norm", "per_sample_grad_norm"})


@dataclass(frozen=True)
class ProbedLayer:
    """One weight layer as the probe sees it.

    `activation` is the module whose forward input is u (what φ is applied
    to) and output φ(u); None for a read-out, whose "activation" is its own
    output (the logits) and whose derivative is 1 (never dead or saturated).
    """

    name: str
    linear: nn.Linear
    activation: nn.Module | None = None
    derivative: Callable[[Tensor], Tensor] | None = None
    max_derivative: float = 1.0


def discover_layers(model: nn.Module) -> list[ProbedLayer]:
    """The model's own `probe_layers()`, else every nn.Linear in module order.

    Discovered layers know no activation: their act_mean/act_std describe the
    Linear's own output and they are never counted dead or saturated.
    """
    own = getattr(model, "probe_layers", None)
    if callable(own):
        return list(own())
    return [ProbedLayer(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def norm64(t: Tensor) -> Tensor:
    """‖t‖₂ accumulated in float64 (a 0-d float64 tensor on t's device)."""
    return torch.linalg.vector_norm(t, dtype=F64)


class GradientProbe:
    """Records the metrics of API.md's profile for a model's weight layers."""

    def __init__(
        self,
        model: nn.Module,
        metrics: Sequence[str] = ALL_METRICS,
        layers: Sequence[ProbedLayer] | None = None,
    ) -> None:
        unknown = set(metrics) - set(ALL_METRICS)
        if unknown:
            raise ValueError(f"unknown metrics: {sorted(unknown)}")
        self.layers = list(layers) if layers is not None else discover_layers(model)
        if not self.layers:
            raise ValueError("the model has no linear layers to probe")
        self.metrics = tuple(metrics)
        weight = self.layers[0].linear.weight
        self._row = {m: i for i, m in enumerate(self.metrics)}
        # (n_metrics, n_layers): the one on-device record of the current step
        self._buf = torch.zeros(len(self.metrics), len(self.layers), dtype=F64, device=weight.device)
        self._handles: list[RemovableHandle] = []
        self._weights = [layer.linear.weight for layer in self.layers]
        self._bias_layers = [i for i, layer in enumerate(self.layers) if layer.linear.bias is not None]
        self._bias_index = torch.tensor(self._bias_layers, dtype=torch.long, device=weight.device)
        self._before: list[Tensor] | None = None
        self._weight_norms: Tensor | None = None

    # --- the recorded step ---------------------------------------------------

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Hooks for the forward pass of a recorded step (removed on exit)."""
        self._buf.zero_()
        self._before = self._weight_norms = None
        wants_act = bool(_ACT_METRICS & set(self.metrics))
        wants_signal = bool(_SIGNAL_METRICS & set(self.metrics))
        for i, layer in enumerate(self.layers):
            if wants_signal or (wants_act and layer.activation is None):
                self._handles.append(layer.linear.register_forward_hook(self._linear_hook(i)))
            if wants_act and layer.activation is not None:
                self._handles.append(layer.activation.register_forward_hook(self._activation_hook(i)))
        try:
            yield
        finally:
            for handle in self._handles:
                handle.remove()
            self._handles.clear()

    @torch.no_grad()
    def after_backward(self) -> None:
        """Weight and gradient norms (one batched call); snapshot W for update_ratio.

        Call it before gradient clipping: grad_norm is the gradient the loss
        produced, not what the clipper let through.
        """
        wanted = set(self.metrics)
        n = len(self.layers)
        need_w = bool({"weight_norm", "update_ratio"} & wanted)
        grads = [w.grad if w.grad is not None else torch.zeros_like(w) for w in self._weights]
        biases = [self.layers[i].linear.bias for i in self._bias_layers]
        bias_grads = [b.grad if b.grad is not None else torch.zeros_like(b) for b in biases]  # type: ignore[union-attr]
        tensors = (self._weights if need_w else []) + (grads if "grad_norm" in wanted else [])
        tensors += bias_grads if "bias_grad_norm" in wanted else []
        if not tensors:
            return
        norms = torch.stack(torch._foreach_norm(tensors, 2, dtype=F64))  # (n_tensors,)
        at = 0
        if need_w:
            self._weight_norms = norms[:n]
            self._put("weight_norm", self._weight_norms)
            at = n
        if "grad_norm" in wanted:
            self._put("grad_norm", norms[at : at + n])
            at += n
        if "bias_grad_norm" in wanted and self._bias_layers:
            self._buf[self._row["bias_grad_norm"]].index_copy_(0, self._bias_index, norms[at:])
        if "update_ratio" in wanted:
            self._before = [w.detach().clone() for w in self._weights]

    @torch.no_grad()
    def after_step(self) -> None:
        """update_ratio = ‖W_after − W_before‖_F / ‖W_before‖_F (0 when both are 0)."""
        if self._before is None or self._weight_norms is None:
            return
        deltas = torch._foreach_sub(self._weights, self._before)
        moved = torch.stack(torch._foreach_norm(deltas, 2, dtype=F64))  # (n_layers,)
        ratio = moved / self._weight_norms
        self._put("update_ratio", torch.where(moved == 0, torch.zeros_like(ratio), ratio))
        self._before = None

    def read(self, *scalars: Tensor) -> tuple[dict[str, np.ndarray], list[float]]:
        """Copy the record (and any 0-d tensors, e.g. the loss) to the host at once."""
        extra = [s.detach().reshape(()).to(F64) for s in scalars]
        flat = torch.cat([self._buf.flatten(), torch.stack(extra)]) if extra else self._buf.flatten()
        host = flat.cpu().numpy()  # the single device → host copy of this step
        n = len(self.layers)
        rows = {m: host[i * n : (i + 1) * n].copy() for m, i in self._row.items()}
        return rows, [float(v) for v in host[len(self.metrics) * n :]]

    # --- hooks ---------------------------------------------------------------

    def _put(self, metric: str, value: Tensor, layer: int | None = None) -> None:
        row = self._row.get(metric)
        if row is None:
            return
        if layer is None:
            self._buf[row].copy_(value)
        else:
            self._buf[row, layer] = value

    def _linear_hook(self, i: int) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], z: Tensor) -> None:
            x = inputs[0].detach()  # (B, in)
            if self.layers[i].activation is None:
                self._activation_stats(i, z.detach())
            if z.requires_grad and _SIGNAL_METRICS & set(self.metrics):
                z.register_hook(lambda g: self._signal(i, x, g))

        return hook

    def _activation_hook(self, i: int) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], a: Tensor) -> None:
            self._activation_stats(i, a.detach(), inputs[0].detach())

        return hook

    @torch.no_grad()
    def _activation_stats(self, i: int, a: Tensor, u: Tensor | None = None) -> None:
        """act_mean and (population) act_std of φ(u) over every (example, unit) entry;
        dead: units with φ'(u) = 0 for every example; saturated: (example, unit)
        entries with |φ'(u)| below 1 % of sup |φ'|."""
        a = a.to(F64)
        mean = a.mean()
        std = (a - mean).square().mean().sqrt()  # two passes; torch.std_mean is ~5× slower on CPU
        self._put("act_mean", mean, i)
        self._put("act_std", std, i)
        layer = self.layers[i]
        if u is None or layer.derivative is None:
            return  # read-out: identity, never dead or saturated (already 0)
        work = u if u.dtype in (torch.float32, F64) else u.float()
        d = layer.derivative(work).abs().flatten(1)  # (B, units)
        self._put("dead_fraction", (d == 0).all(dim=0).to(F64).mean(), i)
        self._put("saturated_fraction", (d < SATURATION * layer.max_derivative).to(F64).mean(), i)

    @torch.no_grad()
    def _signal(self, i: int, x: Tensor, g: Tensor) -> None:
        """g = ∂L/∂z (B, out); x the layer input (B, in).

        per_sample_grad_norm: for a linear layer ∂L/∂W = Σ_a g_a x_aᵀ, and with
        L the batch mean of the per-example losses ℓ_a, ∂ℓ_a/∂W = B·g_a x_aᵀ,
        whose norm is B·‖g_a‖·‖x_a‖: exact, and no extra backward pass.
        """
        self._put("signal_norm", norm64(g), i)
        if "per_sample_grad_norm" in self._row:
            batch = g.shape[0]
            g_rows = torch.linalg.vector_norm(g.flatten(1), dim=1, dtype=F64)  # (B,)
            x_rows = torch.linalg.vector_norm(x.flatten(1), dim=1, dtype=F64)  # (B,)
            # B · RMS_a(‖g_a‖‖x_a‖) = √B · ‖(‖g_a‖‖x_a‖)_a‖
            self._put("per_sample_grad_norm", batch**0.5 * norm64(g_rows * x_rows), i)

    # --- a user's own loop (worker/engine/export.py) ----------------------------

    def record(self, step: int, loss: Tensor, accuracy: Tensor | float | None = None) -> dict[str, np.ndarray]:
        """read() this step and keep it for to_import()."""
        from worker.engine.export import record

        return record(self, step, loss, accuracy)

    def to_import(self, name: str = "", tags: Sequence[str] = (), notes: str = "",
                  spec: dict | None = None) -> dict:
        """The body of POST /api/v1/imports for everything record() kept."""
        from worker.engine.export import to_import

        return to_import(self, name, list(tags), notes, spec)
