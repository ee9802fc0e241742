"""The reductions behind the probe's metrics, on captured tensors.

Kept apart from the hook bookkeeping in probe.py so each formula can be read
(and tested) on its own. Every reduction accumulates in float64: a float32
signal of 1e-30 must read 1e-30, not 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from worker.engine.activations import FROM_OUTPUT

F64 = torch.float64
SATURATION = 0.01  # "saturated": |φ'| below 1 % of sup |φ'|


def norm64(t: Tensor) -> Tensor:
    """‖t‖₂ accumulated in float64 (a 0-d float64 tensor on t's device)."""
    return torch.linalg.vector_norm(t, dtype=F64)


def units_last(t: Tensor, module: nn.Module) -> Tensor:
    """(N, units): a conv's channels, or a linear layer's last dimension, as
    the unit axis; every other axis (batch, positions, time) counts as examples."""
    if isinstance(module, nn.Conv2d):
        return t.movedim(1, -1).reshape(-1, t.shape[1])
    return t.reshape(-1, t.shape[-1])


def norms64(tensors: Sequence[Tensor]) -> Tensor:
    """(len,) float64 norms of many tensors: row-wise float64 reductions, then
    the norm of the rows. On CPU this is several times faster than
    `_foreach_norm(..., dtype=float64)`, which materialises a float64 copy of
    every tensor; on CUDA the fused foreach kernel is the fast one."""
    if not tensors:
        return torch.zeros(0, dtype=F64)
    if tensors[0].is_cuda:
        return torch.stack(torch._foreach_norm(list(tensors), 2, dtype=F64))
    return torch.stack([torch.linalg.vector_norm(torch.linalg.vector_norm(t.reshape(t.shape[0], -1) if t.dim() > 1 else t[None],
                                                                           dim=1, dtype=F64)) for t in tensors])


class RowNorms:
    """Per-example norms ‖t_a‖ (float64, shape (B,)), each tensor's computed once.

    They are the probe's cheapest exact building block: the signal is
    ‖(‖g_a‖)_a‖, a linear layer's per-example gradient norm ‖g_a‖·‖x_a‖, the
    activations' sum of squares Σ_a ‖a_a‖²; and in a plain stack a layer's
    input is the previous layer's activation, the very same tensor, whose
    norms are then reused. A row-wise float64 reduction costs one pass
    (torch's full reduction with dtype=float64 is many times slower on CPU).
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[int, tuple[int, ...], tuple[int, ...], torch.dtype], Tensor] = {}

    def __call__(self, t: Tensor) -> Tensor:
        key = (t.data_ptr(), tuple(t.shape), tuple(t.stride()), t.dtype)
        if key not in self._cache:
            self._cache[key] = torch.linalg.vector_norm(t.reshape(t.shape[0], -1), dim=1, dtype=F64)
        return self._cache[key]


def activation_stats(a: Tensor, u: Tensor | None, derivative: Callable[[Tensor], Tensor] | None,
                     max_derivative: float, a_rows: Tensor | None = None) -> list[Tensor]:
    """[act_mean, act_std, dead_fraction, saturated_fraction] of one layer.

    a, u: (N, units). mean and (population) std of φ(u) over every entry;
    dead: units whose φ'(u) is 0 for every example; saturated: entries with
    |φ'(u)| below 1 % of sup |φ'|. A read-out (u None) is never either.
    With `a_rows` (RowNorms of a) the std comes from float64 sums,
    E[a²] − E[a]², with no float64 copy of a: its relative error is about
    1e-16·E[a²]/var, far below what is reported.
    """
    if a_rows is None:
        a64 = a.to(F64)
        mean = a64.mean()
        std = (a64 - mean).square().mean().sqrt()  # two passes; torch.std_mean is ~5× slower on CPU
    else:
        mean = a.sum(dtype=F64) / a.numel()
        std = (a_rows.square().sum() / a.numel() - mean.square()).clamp(min=0).sqrt()
    if u is None or derivative is None:
        zero = torch.zeros((), dtype=F64, device=a.device)
        return [mean, std, zero, zero]
    from_output = FROM_OUTPUT.get(derivative)
    source, rule = (a, from_output) if from_output is not None and a_rows is not None else (u, derivative)
    work = source if source.dtype in (torch.float32, F64) else source.float()
    d = rule(work).abs()  # (N, units)
    dead = (d.amax(dim=0) == 0).sum(dtype=F64) / d.shape[1]  # max over examples is 0: 0 for all
    saturated = (d < SATURATION * max_derivative).sum(dtype=F64) / d.numel()
    return [mean, std, dead, saturated]


def as_sequence(t: Tensor, module: nn.Module) -> Tensor:
    """(B, T, features): the positions at which a weight is applied to one
    example, T = 1 for a plain linear layer, H·W patches for a conv (whose
    input is unfolded into its 3×3 patches)."""
    if isinstance(module, nn.Conv2d):
        raise TypeError("use conv_patches for a conv's input")
    return t.reshape(t.shape[0], -1, t.shape[-1])


def conv_patches(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """(B, H·W, in·k·k): the conv's input as the patches its weight multiplies."""
    cols = F.unfold(x, conv.kernel_size, dilation=conv.dilation, padding=conv.padding, stride=conv.stride)  # type: ignore[arg-type]
    return cols.transpose(1, 2)


def per_sample_sq(g: Tensor, x: Tensor) -> Tensor:
    """(B,) ‖Σ_t g_{a,t} x_{a,t}ᵀ‖²_F for g (B, T, out), x (B, T, in), in float64.

    T = 1 is the rank-one case ‖g_a‖²‖x_a‖² (no product formed). Otherwise
    the cheaper of two exact forms: the Gram identity
    Σ_{t,t'} (g_a g_aᵀ)_{tt'} (x_a x_aᵀ)_{tt'} when T is small next to the
    weight's size, else the per-example gradient itself by a batched matmul.
    """
    if g.shape[1] == 1:
        return (torch.linalg.vector_norm(g[:, 0], dim=1, dtype=F64) * torch.linalg.vector_norm(x[:, 0], dim=1, dtype=F64)) ** 2
    g64, x64 = g.to(F64), x.to(F64)
    steps, n_out, n_in = g.shape[1], g.shape[2], x.shape[2]
    if steps * (n_out + n_in) < n_out * n_in:
        return (torch.bmm(g64, g64.transpose(1, 2)) * torch.bmm(x64, x64.transpose(1, 2))).sum(dim=(1, 2))
    return torch.bmm(g64.transpose(1, 2), x64).square().sum(dim=(1, 2))


def per_sample_norm(gs: Sequence[Tensor], xs: Sequence[Tensor], module: nn.Module, rows: RowNorms | None = None) -> Tensor:
    """RMS over the batch of each example's own ‖∂ℓ_a/∂W‖_F.

    L is the batch mean of the per-example losses ℓ_a, so ∂ℓ_a/∂W = B·(the
    example's share of ∂L/∂W) = B·Σ_t g_{a,t} x_{a,t}ᵀ, summed over every
    position and call (time step) at which W was applied: exact, with no
    extra backward pass. Examples must not interact (no batchnorm).
    """
    if rows is not None and len(gs) == 1 and gs[0].dim() == 2 and not isinstance(module, nn.Conv2d):
        return gs[0].shape[0] ** 0.5 * torch.linalg.vector_norm(rows(gs[0]) * rows(xs[0]))
    if isinstance(module, nn.Conv2d):
        g = torch.cat([t.flatten(2).transpose(1, 2) for t in gs], dim=1)  # (B, T, out)
        x = torch.cat([conv_patches(t, module) for t in xs], dim=1)  # (B, T, in·9)
    else:
        g = torch.cat([as_sequence(t, module) for t in gs], dim=1)
        x = torch.cat([as_sequence(t, module) for t in xs], dim=1)
    batch = g.shape[0]
    # B · RMS_a ‖·‖ = √B · √(Σ_a ‖·‖²)
    return batch**0.5 * per_sample_sq(g, x).sum().sqrt()
