"""Mean-field signal propagation at initialisation (see docs/science.md).

For a fully connected net with W ~ N(0, σ_w²/fan_in) and b ~ N(0, σ_b²), the
pre-activation variance follows the length map

    q ← σ_w² E_z[φ(√q z)²] + σ_b²,   z ~ N(0, 1),

and, once q has settled at its fixed point q*, each layer multiplies the mean
squared back-propagated signal by χ₁ = σ_w² E_z[φ'(√q* z)²] (Poole et al. 2016;
Schoenholz et al. 2017). χ₁ < 1 vanishes, χ₁ > 1 explodes, χ₁ = 1 is critical.

Only numpy and the standard library are imported: the API node answers
`/api/v1/theory` and must not need scipy or PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

# Quadrature: E_z[f(√q z)] = ∫ f(x) N(x; 0, q) dx by composite Gauss–Legendre
# on panels in x that start at 0 and are graded on both scales that matter:
# the activation's (|x| ~ 1/16 … 32, where sigmoid/tanh/GELU bend and hardtanh
# clips at 1) and the Gaussian's (√q/4 … 12√q). Plain Gauss–Hermite in z with
# 200 nodes (even, so none sits on the kink at 0) matches this for q ≲ 2, but
# its nodes near 0 are ~0.2 apart in z: once √q ≳ 3 it steps over the
# O(1/√q)-wide peak of φ' (tanh χ at q = 50 comes out 23 % low, which hides the
# sigmoid's edge of chaos entirely), and it is 0.5–1 % off on SELU's derivative
# jump at 0. Panels that meet at 0 handle every kink at 0 exactly.
_GL_T, _GL_W = np.polynomial.legendre.leggauss(16)
_ACT_EDGES = 2.0 ** np.arange(-4, 6)
_GAUSS_EDGES = np.array([0.25, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12])

# q outside [_Q_MIN, _Q_MAX] is reported as 0 or inf, and quadrature clamps q
# into this range so that the q → 0⁺ and q → ∞ limits come out right.
_Q_MIN, _Q_MAX = 1e-200, 1e200
_STEP = 16.0  # bracket growth factor when searching for a fixed point


def _nodes(q: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes x and weights w with Σ w·f(x) ≈ E_z[f(√q z)], z ~ N(0, 1)."""
    s = math.sqrt(min(max(q, _Q_MIN), _Q_MAX))
    edges = np.union1d([0.0], np.concatenate([_ACT_EDGES[_ACT_EDGES < 12 * s], s * _GAUSS_EDGES]))
    mid, half = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
    x = (mid[:, None] + half[:, None] * _GL_T).ravel()
    w = (half[:, None] * _GL_W).ravel() * np.exp(-0.5 * (x / s) ** 2) / (s * math.sqrt(2 * math.pi))
    return np.concatenate([x, -x]), np.concatenate([w, w])


_LEAK = 0.01  # torch.nn.LeakyReLU default negative_slope
_SELU_ALPHA = 1.6732632423543772848170429916717  # torch.nn.SELU constants
_SELU_SCALE = 1.0507009873554804934193349852946

Moments = Callable[[float], tuple[float, float]]  # q ↦ (E[φ(√q z)²], E[φ'(√q z)²])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no exp overflow for large |x|


def _dsigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return e / (1.0 + e) ** 2


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.array([math.erf(v) for v in (x / math.sqrt(2.0)).tolist()]))


def _norm_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _neg_exp(x: np.ndarray) -> np.ndarray:
    return np.exp(np.minimum(x, 0.0))  # e^x on the x ≤ 0 branch, never overflows


def _quadrature(phi: Callable[[np.ndarray], np.ndarray],
                dphi: Callable[[np.ndarray], np.ndarray]) -> Moments:
    """Moments by quadrature, for activations without a simple closed form."""

    def moments(q: float) -> tuple[float, float]:
        x, w = _nodes(q)
        return float(w @ phi(x) ** 2), float(w @ dphi(x) ** 2)

    return moments


def _linear(m: float) -> Moments:
    """Exact for φ linear on each side of 0 with slopes a, b, where m = (a² + b²)/2."""
    return lambda q: (m * q, m)


_MOMENTS: dict[str, Moments] = {
    "identity": _linear(1.0),
    "relu": _linear(0.5),
    "leaky_relu": _linear((1.0 + _LEAK**2) / 2.0),
    "hardtanh": _quadrature(lambda x: np.clip(x, -1.0, 1.0), lambda x: (np.abs(x) < 1.0) * 1.0),
    "sigmoid": _quadrature(_sigmoid, _dsigmoid),
    "tanh": _quadrature(np.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "elu": _quadrature(lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
                       lambda x: np.where(x > 0, 1.0, _neg_exp(x))),
    "selu": _quadrature(
        lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
        lambda x: _SELU_SCALE * np.where(x > 0, 1.0, _SELU_ALPHA * _neg_exp(x))),
    "gelu": _quadrature(lambda x: x * _norm_cdf(x),
                        lambda x: _norm_cdf(x) + x * _norm_pdf(x)),
    "silu": _quadrature(lambda x: x * _sigmoid(x),
                        lambda x: _sigmoid(x) * (1.0 + x * _sigmoid(-x))),
    "softplus": _quadrature(lambda x: np.logaddexp(0.0, x), _sigmoid),
}
ACTIVATIONS: tuple[str, ...] = tuple(sorted(_MOMENTS))


@dataclass(frozen=True)
class Theory:
    """The mean-field prediction for one (activation, σ_w², σ_b²).

    q_star: fixed point of the length map; inf when q grows without bound.
    chi1: per-layer factor on the mean squared back-propagated signal.
    gain: √χ₁, the per-layer factor on the signal norm (what is measured).
    depth_scale: −1/ln χ₁ in layers; negative when the signal explodes,
        0 when χ₁ = 0, None at exact criticality (χ₁ = 1, infinite depth).
    critical_weight_var: the σ_w² giving χ₁ = 1 at this σ_b², or None.
    """

    q_star: float
    chi1: float
    gain: float
    depth_scale: float | None
    critical_weight_var: float | None

    def to_dict(self) -> dict[str, float | None]:
        """JSON-safe dict: a non-finite value (q_star = inf) becomes None."""
        return {k: v if v is None or math.isfinite(v) else None for k, v in asdict(self).items()}


def _check(activation: str, bias_var: float) -> tuple[Moments, float]:
    if not isinstance(activation, str) or activation not in _MOMENTS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}")
    return _MOMENTS[activation], _check_var("bias_var", bias_var)


def _check_var(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}") from None
    if not math.isfinite(v) or v < 0.0:
        raise ValueError(f"{name} must be finite and >= 0; got {value!r}")
    return v


def _fixed_point(moments: Moments, weight_var: float, bias_var: float) -> float:
    """The fixed point that iterating the length map from q⁰ = 1 converges to.

    The map is non-decreasing in q, so its iterates move monotonically towards
    the nearest fixed point in the direction of L(1) − 1. Rather than iterate
    (which near criticality converges only like 1/l, and never ends when q
    diverges), we bracket that point by stepping ×16 in that direction and
    bisect on a log scale. Returns inf if there is no fixed point below 1e200
    (e.g. identity with σ_w² > 1), 0.0 if none above 1e-200 (e.g. tanh with
    σ_w² ≤ 1 and no bias), and 1.0 when every q is fixed (e.g. ReLU, σ_w² = 2).
    A map that creeps up by O(σ_b²) per layer at quadrature round-off (~1e-16 q)
    may stop at a huge finite q (≳ 1e15) instead of inf; χ₁ is at its q → ∞
    limit by then.
    """

    def excess(q: float) -> float:  # L(q) − q; bias added last so q ≫ σ_b² cannot absorb it
        return (weight_var * moments(q)[0] - q) + bias_var

    lo = hi = 1.0
    e = excess(1.0)
    if e == 0.0:
        return 1.0
    if e > 0.0:  # iterates grow: find hi with excess(hi) <= 0
        while (hi := hi * _STEP) <= _Q_MAX and excess(hi) > 0.0:
            lo = hi
        if hi > _Q_MAX:
            return math.inf
    else:  # iterates shrink: find lo with excess(lo) >= 0
        while (lo := lo / _STEP) >= _Q_MIN and excess(lo) < 0.0:
            hi = lo
        if lo < _Q_MIN:
            return 0.0
    for _ in range(200):  # excess(lo) >= 0 >= excess(hi) throughout
        mid = math.sqrt(lo * hi)
        if not lo < mid < hi:
            break
        if excess(mid) >= 0.0:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


def _chi1(moments: Moments, weight_var: float, bias_var: float) -> tuple[float, float]:
    """(q*, χ₁). At q* = inf, χ₁ is its q → ∞ limit (quadrature clamps q at 1e200)."""
    q = _fixed_point(moments, weight_var, bias_var)
    return q, weight_var * moments(q)[1]


def predict(activation: str, weight_var: float, bias_var: float = 0.0) -> Theory:
    """Mean-field q*, χ₁, gain and depth scale for a fully connected net.

    Raises ValueError for an unknown activation or a negative/non-finite variance.
    """
    moments, bias_var = _check(activation, bias_var)
    weight_var = _check_var("weight_var", weight_var)
    q, chi1 = _chi1(moments, weight_var, bias_var)
    if chi1 == 1.0:
        depth_scale = None
    else:
        depth_scale = 0.0 if chi1 == 0.0 else -1.0 / math.log(chi1)
    return Theory(q, chi1, math.sqrt(chi1), depth_scale, critical_weight_var(activation, bias_var))


@lru_cache(maxsize=256)
def _critical(activation: str, bias_var: float) -> float | None:
    moments = _MOMENTS[activation]
    lo, hi = 1e-6, 1e6  # σ_w² search range; χ₁ rises with σ_w² for every activation here
    chi_lo, chi_hi = _chi1(moments, lo, bias_var)[1], _chi1(moments, hi, bias_var)[1]
    if not chi_lo < 1.0 <= chi_hi:
        return None
    while hi / lo - 1.0 > 1e-12:
        mid = math.sqrt(lo * hi)
        chi = _chi1(moments, mid, bias_var)[1]
        if chi < 1.0:
            lo, chi_lo = mid, chi
        else:
            hi, chi_hi = mid, chi
    if chi_hi - chi_lo > 1e-3:  # χ₁ jumped over 1 (q* leapt between 0 and ∞)
        return None
    return math.sqrt(lo * hi)


def critical_weight_var(activation: str, bias_var: float = 0.0) -> float | None:
    """The σ_w² at which χ₁ = 1 for this σ_b² (the edge of chaos), or None.

    Bisection on log σ_w² over [1e-6, 1e6] to a relative 1e-12; cached, since
    it costs a few thousand quadratures. None when χ₁ stays on one side of 1,
    and also when it jumps across 1 instead of passing through it: for GELU
    and SiLU with little bias the map from q⁰ = 1 flips from q* = 0 (χ₁ < 1)
    straight to q* = ∞ (χ₁ > 1), so no initialisation is critical.
    """
    _, bias_var = _check(activation, bias_var)
    return _critical(activation, bias_var)
