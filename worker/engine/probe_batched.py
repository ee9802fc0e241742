"""The probe's reductions over many layers at once: same-shaped tensors stacked,
then one op per metric for the whole stack.

Why: on a CPU every small tensor op costs 5–10 µs of dispatch, whatever its
size, and the per-layer formulas of probe_stats take about fifteen ops a
layer; at depth 20 that dispatch costs more than the arithmetic. One
`torch.stack` copy (a few µs per 100 KB) turns each metric into one op for
every layer of a shape, so the probe's op count stops growing with depth.
The formulas are those of probe_stats.activation_stats, evaluated on a
leading layer axis; comparisons write into float buffers (a bool result and
its count cost several times more on CPU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from gradatlas.worker.engine.activations import FROM_OUTPUT, _relu_prime, _tanh_prime
from gradatlas.worker.engine.probe_stats import F64, SATURATION, RowNorms, _suspect, _tanh_saturation, failing
from torch import Tensor

_EXACT_COUNT = 2**24  # a float32 sum of 0/1 entries is exact below this many


@dataclass(frozen=True)
class ActItem:
    """One layer's captured activation of a single call: a = φ(u), u (None for
    a layer without φ), and which axis of a holds the units (1 for a conv's
    channels, the last axis otherwise)."""

    index: int
    a: Tensor
    u: Tensor | None
    derivative: Callable[[Tensor], Tensor] | None
    max_derivative: float
    unit_axis: int


_CHUNK_ELEMENTS = 2**22  # at most 16 MB of float32 per stack: the workspace stays small at any depth


class Workspace:
    """Buffers reused from one recorded step to the next, by (role, shape, dtype).

    A fresh multi-megabyte CPU tensor is a fresh mmap whose pages fault in on
    first touch: a new stack and a² each step cost ten times the arithmetic.
    """

    def __init__(self) -> None:
        self._buffers: dict[tuple, Tensor] = {}

    def get(self, role: str, like: Tensor, shape: tuple[int, ...]) -> Tensor:
        key = (role, shape, like.dtype, like.device)
        if key not in self._buffers:
            self._buffers[key] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return self._buffers[key]


def chunks(items: list, numel: int) -> list[list]:
    """`items` cut so that no stack holds more than _CHUNK_ELEMENTS elements."""
    size = max(1, _CHUNK_ELEMENTS // max(numel, 1))
    return [items[k : k + size] for k in range(0, len(items), size)]


def stacked(tensors: list[Tensor], ws: Workspace | None = None, role: str = "stack") -> Tensor:
    """(G, *shape): a view for one tensor, one copy (into a reused buffer) for several."""
    if len(tensors) == 1:
        return tensors[0][None]
    shape = (len(tensors), *tensors[0].shape)
    if ws is None:
        return torch.stack(tensors)
    return torch.stack(tensors, out=ws.get(role, tensors[0], shape))


def stacked_rows(s: Tensor) -> Tensor:
    """(G, B) float64 per-example norms of a stack; float32 on CPU with the
    same range check as probe_stats.norms64, float64 when it fails."""
    flat = s.reshape(s.shape[0], s.shape[1], -1)
    if s.dtype == F64:
        return torch.linalg.vector_norm(flat, dim=2)
    if s.dtype == torch.float32 and not s.is_cuda:
        rows = torch.linalg.vector_norm(flat, dim=2).to(F64)
        if not _suspect(torch.stack(torch.aminmax(rows))):
            return rows
    return torch.linalg.vector_norm(flat, dim=2, dtype=F64)


def fill_rows(tensors: list[Tensor], rows: RowNorms, ws: Workspace | None = None) -> None:
    """Put the per-example norms of many tensors into `rows`: one stack and one
    reduction per shape instead of one reduction per tensor."""
    groups: dict[tuple, list[Tensor]] = {}
    for t in tensors:
        if not rows.has(t):
            groups.setdefault((tuple(t.shape), t.dtype, t.device), []).append(t)
    for group in groups.values():
        unique = list({rows.key(t): t for t in group}.values())
        for part in chunks(unique, unique[0].numel()):
            for t, r in zip(part, stacked_rows(stacked(part, ws)), strict=True):
                rows.put(t, r)


def _sum(s: Tensor) -> Tensor:
    """(G,) float64 sums over everything but the layer axis."""
    flat = s.reshape(s.shape[0], -1)
    exact = s.dtype == F64 or (s.dtype == torch.float32 and flat.shape[1] < _EXACT_COUNT)
    return flat.sum(1).to(F64) if exact else flat.sum(1, dtype=F64)


_SAFE_SPREAD = 0.1  # var ≥ this · E[a²]: E[a²] − E[a]² loses at most one of float32's digits


def _spreads(s: Tensor, rows: Tensor, mean: Tensor, ws: Workspace) -> Tensor:
    """(G,) population std per layer.

    On CPU, first from the row norms already taken, var = Σ‖a_a‖²/n − mean²,
    with no further pass over the stack; the layers where that would cancel
    (var below _SAFE_SPREAD · E[a²]: a near-constant layer, a sigmoid's
    narrow spread around ½) are centred and reduced again. On a GPU, where a
    pass costs little and a host read stalls, every layer is centred.
    """
    numel = s[0].numel()
    if s.is_cuda:
        return _centred_norms(s, mean, ws) / numel**0.5
    second = rows.square().sum(1) / numel
    var = second - mean.square()
    std = var.clamp(min=0).sqrt()
    cancels = failing(var >= _SAFE_SPREAD * second)  # also catches a nan
    if cancels:
        std[cancels] = _centred_norms(s[cancels], mean[cancels]) / numel**0.5  # no workspace: its shape varies
    return std


def _centred_norms(s: Tensor, mean: Tensor, ws: Workspace | None = None) -> Tensor:
    """(G,) ‖a − mean‖ per layer. Centring first keeps a near-constant layer's
    small std exact: E[a²] − E[a]² in float32 would cancel every digit of it.
    Layers whose result is outside the float32-safe range are redone in float64."""
    shift = mean.to(s.dtype).reshape(-1, *[1] * (s.dim() - 1))
    out = ws.get("centred", s, tuple(s.shape)) if ws is not None else None
    centred = torch.sub(s, shift, out=out).reshape(s.shape[0], -1)
    if s.dtype == F64:
        return torch.linalg.vector_norm(centred, dim=1)
    if s.dtype == torch.float32 and not s.is_cuda:
        norms = torch.linalg.vector_norm(centred, dim=1).to(F64)
        for k in _suspect(norms):
            norms[k] = torch.linalg.vector_norm(centred[k], dtype=F64)
        return norms
    return torch.linalg.vector_norm(centred, dim=1, dtype=F64)


def _dead_saturated(s: Tensor, u: Tensor | None, item: ActItem, ws: Workspace) -> tuple[Tensor, Tensor]:
    """(G,) dead-unit and saturated-entry counts of a stack, exactly as
    probe_stats._dead_saturated counts them layer by layer."""
    axis = item.unit_axis + 1
    others = tuple(d for d in range(1, s.dim()) if d != axis)
    bound = SATURATION * item.max_derivative
    derivative = item.derivative
    if derivative is _relu_prime:  # φ' = [a > 0]
        alive = torch.gt(s, 0, out=ws.get("derivative", s, tuple(s.shape)))
        return (s.amax(dim=others) <= 0).sum(1), s[0].numel() - _sum(alive)
    if derivative is _tanh_prime and s.dtype in (torch.float32, F64):  # φ' = 1 − a², 0 iff a² = 1
        q = torch.mul(s, s, out=ws.get("derivative", s, tuple(s.shape)))
        dead = (q.amin(dim=others) == 1).sum(1)
        return dead, _sum(q.ge_(_tanh_saturation(s.dtype, bound)))
    if derivative in FROM_OUTPUT:
        d = FROM_OUTPUT[derivative](s)  # ≥ 0 for every rule there
    else:
        assert u is not None and derivative is not None
        d = derivative(u if u.dtype in (torch.float32, F64) else u.float()).abs()
    return (d.amax(dim=others) == 0).sum(1), _sum(d.lt_(bound))


def activation_stats(items: list[ActItem], rows: RowNorms, ws: Workspace) -> list[tuple[list[int], Tensor]]:
    """[act_mean, act_std, dead_fraction, saturated_fraction] of many layers:
    per group of same-shaped layers with the same φ, its layer indices and a
    (4, G) float64 tensor. The activations' row norms go into `rows`, where the
    next layer finds its input's."""
    groups: dict[tuple, list[ActItem]] = {}
    for it in items:
        key = (tuple(it.a.shape), it.a.dtype, it.derivative if it.u is not None else None,
               it.max_derivative, it.unit_axis)
        groups.setdefault(key, []).append(it)
    out = []
    for group in (part for whole in groups.values() for part in chunks(whole, whole[0].a.numel())):
        first = group[0]
        s = stacked([it.a for it in group], ws)
        numel = first.a.numel()
        r = stacked_rows(s)
        for it, row in zip(group, r, strict=True):
            rows.put(it.a, row)
        mean = _sum(s) / numel
        std = _spreads(s, r, mean, ws)
        if first.u is None or first.derivative is None:
            dead = saturated = torch.zeros_like(mean)
        else:
            needs_u = first.derivative not in FROM_OUTPUT
            u = stacked([it.u for it in group], ws, "u") if needs_u else None
            d, sat = _dead_saturated(s, u, first, ws)
            dead, saturated = d.to(F64) / s.shape[first.unit_axis + 1], sat.to(F64) / numel
        out.append(([it.index for it in group], torch.stack([mean, std, dead, saturated])))
    return out
