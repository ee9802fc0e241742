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


def activation_stats(a: Tensor, u: Tensor | None, derivative: Callable[[Tensor], Tensor] | None,
                     max_derivative: float) -> list[Tensor]:
    """[act_mean, act_std, dead_fraction, saturated_fraction] of one layer.

    a, u: (N, units). mean and (population) std of φ(u) over every entry;
    dead: units whose φ'(u) is 0 for every example; saturated: entries with
    |φ'(u)| below 1 % of sup |φ'|. A read-out (u None) is never either.
    """
    a64 = a.to(F64)
    mean = a64.mean()
    std = (a64 - mean).square().mean().sqrt()  # two passes; torch.std_mean is ~5× slower on CPU
    if u is None or derivative is None:
        zero = torch.zeros((), dtype=F64, device=a.device)
        return [mean, std, zero, zero]
    work = u if u.dtype in (torch.float32, F64) else u.float()
    d = derivative(work).abs()  # (N, units)
    dead = (d == 0).all(dim=0).to(F64).mean()
    saturated = (d < SATURATION * max_derivative).to(F64).mean()
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


def per_sample_norm(gs: Sequence[Tensor], xs: Sequence[Tensor], module: nn.Module) -> Tensor:
    """RMS over the batch of each example's own ‖∂ℓ_a/∂W‖_F.

    L is the batch mean of the per-example losses ℓ_a, so ∂ℓ_a/∂W = B·(the
    example's share of ∂L/∂W) = B·Σ_t g_{a,t} x_{a,t}ᵀ, summed over every
    position and call (time step) at which W was applied: exact, with no
    extra backward pass. Examples must not interact (no batchnorm).
    """
    if isinstance(module, nn.Conv2d):
        g = torch.cat([t.flatten(2).transpose(1, 2) for t in gs], dim=1)  # (B, T, out)
        x = torch.cat([conv_patches(t, module) for t in xs], dim=1)  # (B, T, in·9)
    else:
        g = torch.cat([as_sequence(t, module) for t in gs], dim=1)
        x = torch.cat([as_sequence(t, module) for t in xs], dim=1)
    batch = g.shape[0]
    # B · RMS_a ‖·‖ = √B · √(Σ_a ‖·‖²)
    return batch**0.5 * per_sample_sq(g, x).sum().sqrt()
