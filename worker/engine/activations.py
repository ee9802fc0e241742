"""Activations and their derivatives, written out by hand.

The probe needs φ'(u) at every (example, unit) to count dead and saturated
units. Asking autograd for it would cost a second backward pass per layer; the
closed forms below cost one element-wise kernel and match PyTorch's own
backward exactly where it matters (the kinks: ReLU's derivative at 0 is 0,
hardtanh's at ±1 is 0), so "dead" means what autograd means by it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_LEAKY_SLOPE = 0.01


def _gelu_prime(u: Tensor) -> Tensor:
    # exact (erf) GELU: Φ(u) + u·ϕ(u)
    cdf = 0.5 * (1.0 + torch.erf(u / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)
    return cdf + u * pdf


def _silu_prime(u: Tensor) -> Tensor:
    s = torch.sigmoid(u)
    return s * (1.0 + u * (1.0 - s))


def _elu_prime(u: Tensor) -> Tensor:
    return torch.where(u > 0, torch.ones_like(u), torch.exp(u))


def _selu_prime(u: Tensor) -> Tensor:
    return _SELU_SCALE * torch.where(u > 0, torch.ones_like(u), _SELU_ALPHA * torch.exp(u))


def _sigmoid_prime(u: Tensor) -> Tensor:
    s = torch.sigmoid(u)
    return s * (1.0 - s)


def _tanh_prime(u: Tensor) -> Tensor:
    t = torch.tanh(u)
    return 1.0 - t * t


def _softplus_prime(u: Tensor) -> Tensor:
    # PyTorch's softplus is the identity above its threshold (20): derivative 1
    return torch.where(u > 20.0, torch.ones_like(u), torch.sigmoid(u))


def _relu_prime(u: Tensor) -> Tensor:
    return (u > 0).to(u.dtype)


# φ' written in terms of the output a = φ(u), as autograd's own backward
# computes it for these three: the probe reads it from the activation it
# already holds, saving the recomputation of φ(u).
FROM_OUTPUT: dict[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]] = {
    _tanh_prime: lambda a: 1.0 - a * a,
    _sigmoid_prime: lambda a: a * (1.0 - a),
    _relu_prime: lambda a: (a > 0).to(a.dtype),
}


@dataclass(frozen=True)
class ActivationInfo:
    """An activation: its module factory, φ' and sup |φ'| (for "saturated")."""

    make: Callable[[], nn.Module]
    derivative: Callable[[Tensor], Tensor]
    max_derivative: float
    kaiming_gain: float  # the gain kaiming_* uses when the spec gives none


ACTIVATIONS: dict[str, ActivationInfo] = {
    "identity": ActivationInfo(nn.Identity, torch.ones_like, 1.0, 1.0),
    "sigmoid": ActivationInfo(nn.Sigmoid, _sigmoid_prime, 0.25, 1.0),
    "tanh": ActivationInfo(nn.Tanh, _tanh_prime, 1.0, 5.0 / 3.0),
    "relu": ActivationInfo(nn.ReLU, _relu_prime, 1.0, math.sqrt(2.0)),
    "leaky_relu": ActivationInfo(
        lambda: nn.LeakyReLU(_LEAKY_SLOPE),
        lambda u: torch.where(u > 0, torch.ones_like(u), torch.full_like(u, _LEAKY_SLOPE)),
        1.0,
        math.sqrt(2.0 / (1.0 + _LEAKY_SLOPE**2)),
    ),
    "elu": ActivationInfo(nn.ELU, _elu_prime, 1.0, math.sqrt(2.0)),
    "selu": ActivationInfo(nn.SELU, _selu_prime, _SELU_SCALE * _SELU_ALPHA, 0.75),
    # sup of Φ(u) + uϕ(u) is at u = √2
    "gelu": ActivationInfo(nn.GELU, _gelu_prime, 1.1289041451825, math.sqrt(2.0)),
    # sup of σ(u)(1 + u(1 − σ(u))) is at u ≈ 2.3994
    "silu": ActivationInfo(nn.SiLU, _silu_prime, 1.0998393201, math.sqrt(2.0)),
    "softplus": ActivationInfo(nn.Softplus, _softplus_prime, 1.0, math.sqrt(2.0)),
    "hardtanh": ActivationInfo(
        nn.Hardtanh, lambda u: ((u > -1.0) & (u < 1.0)).to(u.dtype), 1.0, 1.0
    ),
}


def activation_info(name: str) -> ActivationInfo:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}") from None

