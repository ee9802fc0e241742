"""The reductions behind the probe's metrics, on captured tensors.

Kept apart from the hook bookkeeping in probe.py so each formula can be read
(and tested) on its own. Every reduction accumulates in float64: a float32
signal of 1e-30 must read 1e-30, not 0.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch
from gradatlas.worker.engine.activations import FROM_OUTPUT, _relu_prime, _tanh_prime
from torch import Tensor, nn
from torch.nn.grad import conv2d_weight

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


# A float32 norm N in [_LOW, _HIGH] is accurate to float32 precision: every
# element is at most N, so no square overflows, and the squares that
# underflow (|x| < 1e-19) add at most n·1e-38, below 1e-6 of N² for any
# tensor of up to 1e8 elements. Outside it the float64 path decides.
_LOW, _HIGH = 1e-12, 1e18


def _exact(t: Tensor) -> Tensor:
    """‖t‖ in float64 by a row-wise float64 reduction (the slow, always-right path)."""
    rows = t.reshape(t.shape[0], -1) if t.dim() > 1 else t[None]
    return torch.linalg.vector_norm(torch.linalg.vector_norm(rows, dim=1, dtype=F64))


def failing(ok: Tensor) -> list[int]:
    """Indices where the boolean check `ok` fails: one small host read, CPU only."""
    return [] if bool(ok.all()) else (~ok).nonzero().flatten().tolist()


def _suspect(values: Tensor) -> list[int]:
    """Indices of float32 results outside the range where they are exact enough
    (0, subnormal-range, huge, inf, nan)."""
    return failing((values >= _LOW) & (values <= _HIGH))


def norms64(tensors: Sequence[Tensor]) -> Tensor:
    """(len,) float64 norms of many tensors in one batched call.

    CUDA: the fused `_foreach_norm(dtype=float64)`. CPU float64: `_foreach_norm`
    as is. CPU float32: `_foreach_norm` in float32 (about ten times faster
    than any float64 reduction on CPU), then the few results outside
    [_LOW, _HIGH], where float32 squares may have under- or overflowed, are
    recomputed in float64: a 1e-30 gradient still reads 1e-30. The check is a
    host read, which costs nothing on the CPU (there is no device to wait for).
    """
    if not tensors:
        return torch.zeros(0, dtype=F64)
    tensors = list(tensors)
    if tensors[0].is_cuda:
        return torch.stack(torch._foreach_norm(tensors, 2, dtype=F64))
    dtypes = {t.dtype for t in tensors}
    if dtypes == {F64}:
        return torch.stack(torch._foreach_norm(tensors))
    if dtypes != {torch.float32}:
        return torch.stack([_exact(t) for t in tensors])
    fast = torch.stack(torch._foreach_norm(tensors)).to(F64)
    for i in _suspect(fast):
        fast[i] = _exact(tensors[i])
    return fast


class RowNorms:
    """Per-example norms ‖t_a‖ (float64, shape (B,)), each tensor's computed once.

    They are the probe's cheapest exact building block: the signal is
    ‖(‖g_a‖)_a‖, a linear layer's per-example gradient norm ‖g_a‖·‖x_a‖, the
    activations' sum of squares Σ_a ‖a_a‖²; and in a plain stack a layer's
    input is the previous layer's activation, the very same tensor, whose
    norms are then reused. On CPU float32 the rows are reduced in float32 and
    redone in float64 only when some row falls outside [_LOW, _HIGH] (see
    norms64); elsewhere a row-wise float64 reduction.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[int, tuple[int, ...], tuple[int, ...], torch.dtype], Tensor] = {}

    @staticmethod
    def key(t: Tensor) -> tuple[int, tuple[int, ...], tuple[int, ...], torch.dtype]:
        return (t.data_ptr(), tuple(t.shape), tuple(t.stride()), t.dtype)

    def has(self, t: Tensor) -> bool:
        return self.key(t) in self._cache

    def put(self, t: Tensor, rows: Tensor) -> None:
        """Rows computed elsewhere (probe_batched, for many tensors at once)."""
        self._cache[self.key(t)] = rows

    def __call__(self, t: Tensor) -> Tensor:
        key = self.key(t)
        if key not in self._cache:
            flat = t.reshape(t.shape[0], -1)
            if t.dtype == F64:
                rows = torch.linalg.vector_norm(flat, dim=1)
            elif t.dtype == torch.float32 and not t.is_cuda:
                rows = torch.linalg.vector_norm(flat, dim=1).to(F64)
                if _suspect(torch.stack(torch.aminmax(rows))):
                    rows = torch.linalg.vector_norm(flat, dim=1, dtype=F64)
            else:
                rows = torch.linalg.vector_norm(flat, dim=1, dtype=F64)
            self._cache[key] = rows
        return self._cache[key]


@functools.cache
def _tanh_saturation(dtype: torch.dtype, bound: float) -> float:
    """The smallest q (a value of `dtype`) with fl(1 − q) < bound in `dtype`.

    For q ≥ ½ the subtraction 1 − q is exact (Sterbenz), so "|φ'| = 1 − a² below
    the bound" is exactly "a² ≥ this", one comparison instead of two passes.
    """
    one, s = torch.ones((), dtype=dtype), torch.tensor(bound, dtype=dtype)
    c = one - s
    while bool(one - c >= s):
        c = torch.nextafter(c, one)
    while bool(one - torch.nextafter(c, torch.zeros_like(c)) < s):
        c = torch.nextafter(c, torch.zeros_like(c))
    return float(c)


def _dead_saturated(a: Tensor, u: Tensor | None, derivative: Callable[[Tensor], Tensor],
                    max_derivative: float, from_output: bool) -> tuple[Tensor, Tensor]:
    """(dead units, saturated entries) as counts, with as few passes over a as each φ allows.

    ReLU: φ' = [a > 0]; tanh: φ' = 1 − a², zero iff a² = 1; both read from the
    output a. A column holding a nan is not counted dead for ReLU (autograd's
    φ'(nan) is 0; such a layer is reported through its nan act_mean anyway).
    Others: φ' evaluated once, from a when autograd would do so, else from u.
    """
    bound = SATURATION * max_derivative
    if from_output and derivative is _relu_prime:
        alive = a > 0
        return (a.amax(dim=0) <= 0).sum(), a.numel() - torch.count_nonzero(alive)
    if from_output and derivative is _tanh_prime and a.dtype in (torch.float32, F64):
        q = a * a
        return (q.amin(dim=0) == 1).sum(), torch.count_nonzero(q >= _tanh_saturation(a.dtype, bound))
    if from_output:
        d = FROM_OUTPUT[derivative](a)  # ≥ 0 for every rule in FROM_OUTPUT
    else:
        assert u is not None
        work = u if u.dtype in (torch.float32, F64) else u.float()
        d = derivative(work).abs()
    return (d.amax(dim=0) == 0).sum(), torch.count_nonzero(d < bound)


def activation_stats(a: Tensor, u: Tensor | None, derivative: Callable[[Tensor], Tensor] | None,
                     max_derivative: float, a_rows: Tensor | None = None) -> list[Tensor]:
    """[act_mean, act_std, dead_fraction, saturated_fraction] of one layer.

    a, u: (N, units). mean and (population) std of φ(u) over every entry;
    dead: units whose φ'(u) is 0 for every example; saturated: entries with
    |φ'(u)| below 1 % of sup |φ'|. A read-out (u None) is never either.
    With `a_rows` (RowNorms of a) the std comes from float64 sums,
    E[a²] − E[a]², with no float64 copy of a: its relative error is about
    1e-16·E[a²]/var, far below what is reported. The mean sums a in its
    own dtype (no squares: nothing underflows).
    """
    if a_rows is None:
        a64 = a.to(F64)
        mean = a64.mean()
        std = (a64 - mean).square().mean().sqrt()  # two passes; torch.std_mean is ~5× slower on CPU
    else:
        mean = (a.sum() if a.dtype in (torch.float32, F64) else a.sum(dtype=F64)).to(F64) / a.numel()
        std = (a_rows.square().sum() / a.numel() - mean.square()).clamp(min=0).sqrt()
    if u is None or derivative is None:
        zero = torch.zeros((), dtype=F64, device=a.device)
        return [mean, std, zero, zero]
    from_output = derivative in FROM_OUTPUT and a_rows is not None
    dead, saturated = _dead_saturated(a, u, derivative, max_derivative, from_output)
    return [mean, std, dead.to(F64) / a.shape[1], saturated.to(F64) / a.numel()]


def as_sequence(t: Tensor) -> Tensor:
    """(B, T, features): the positions at which a linear layer's weight is
    applied to one example (T = 1 for a plain layer)."""
    return t.reshape(t.shape[0], -1, t.shape[-1])


def per_sample_sq(g: Tensor, x: Tensor) -> Tensor:
    """(B,) ‖Σ_t g_{a,t} x_{a,t}ᵀ‖²_F for g (B, T, out), x (B, T, in), in float64.

    T = 1 is the rank-one case ‖g_a‖²‖x_a‖² (no product formed). Otherwise
    the cheaper of two exact forms: the Gram identity
    Σ_{t,t'} (g_a g_aᵀ)_{tt'} (x_a x_aᵀ)_{tt'} when T is small next to the
    weight's size, else the per-example gradient itself by a batched matmul.
    """
    if g.shape[1] == 1:
        return (torch.linalg.vector_norm(g[:, 0], dim=1, dtype=F64) * torch.linalg.vector_norm(x[:, 0], dim=1, dtype=F64)) ** 2
    explicit = g.shape[1] * (g.shape[2] + x.shape[2]) >= g.shape[2] * x.shape[2]
    if explicit and g.dtype == torch.float32 and not g.is_cuda:
        # the per-example gradient in float32, as autograd forms the batch one (the Gram
        # form may cancel, so it stays float64); squares checked like norms64
        fast = _per_sample_sq_in(g, x).to(F64)
        if not _suspect(torch.stack(torch.aminmax(fast.sqrt()))):
            return fast
    return _per_sample_sq_in(g.to(F64), x.to(F64))


def _per_sample_sq_in(g64: Tensor, x64: Tensor) -> Tensor:
    """per_sample_sq in the inputs' own dtype."""
    steps, n_out, n_in = g64.shape[1], g64.shape[2], x64.shape[2]
    if steps * (n_out + n_in) < n_out * n_in:
        return (torch.bmm(g64, g64.transpose(1, 2)) * torch.bmm(x64, x64.transpose(1, 2))).sum(dim=(1, 2))
    return torch.bmm(g64.transpose(1, 2), x64).square().sum(dim=(1, 2))


def conv_per_example_grads(g: Tensor, x: Tensor, conv: nn.Conv2d) -> Tensor:
    """(B, out·in·k·k): each example's own ∂(B·L)/∂W of one call of `conv`.

    The batch is folded into the channels and the conv's weight gradient is
    taken with one group per example (torch.nn.grad.conv2d_weight): the
    backend's own weight-gradient kernel, about the cost of the batch's
    weight gradient, with no unfolded copy of the input (unfold alone costs
    more than the conv's whole backward on a CPU).
    """
    batch = x.shape[0]
    groups = batch * conv.groups  # example a's channels are groups a·G … a·G + G − 1
    size = (batch * conv.out_channels, conv.in_channels // conv.groups, *conv.kernel_size)
    grads = conv2d_weight(x.reshape(1, -1, *x.shape[2:]), size, g.reshape(1, -1, *g.shape[2:]),
                                        conv.stride, conv.padding, conv.dilation, groups=groups)
    return grads.reshape(batch, -1)


def _conv_per_example_sq(gs: Sequence[Tensor], xs: Sequence[Tensor], conv: nn.Conv2d) -> Tensor:
    """(B,) float64 squared per-example gradient norms of a conv over all its
    calls: float32 on CPU with the range check of norms64, else float64."""
    def norms(dtype: torch.dtype) -> Tensor:  # reduced in `dtype`: a float64 reduction of float32 copies first
        calls = [conv_per_example_grads(g.to(dtype), x.to(dtype), conv) for g, x in zip(gs, xs, strict=True)]
        return torch.linalg.vector_norm(functools.reduce(torch.add, calls), dim=1).to(F64)

    if gs[0].dtype == torch.float32 and not gs[0].is_cuda:
        fast = norms(torch.float32)
        if not _suspect(torch.stack(torch.aminmax(fast))):
            return fast.square()
    return norms(F64).square()


def per_sample_norm(gs: Sequence[Tensor], xs: Sequence[Tensor], module: nn.Module, rows: RowNorms | None = None) -> Tensor:
    """RMS over the batch of each example's own ‖∂ℓ_a/∂W‖_F.

    L is the batch mean of the per-example losses ℓ_a, so ∂ℓ_a/∂W = B·(the
    example's share of ∂L/∂W) = B·Σ_t g_{a,t} x_{a,t}ᵀ, summed over every
    position and call (time step) at which W was applied: exact, with no
    extra backward pass. Examples must not interact (no batchnorm).
    """
    if rows is not None and len(gs) == 1 and gs[0].dim() == 2 and not isinstance(module, nn.Conv2d):
        return gs[0].shape[0] ** 0.5 * torch.linalg.vector_norm(rows(gs[0]) * rows(xs[0]))
    batch = gs[0].shape[0]
    if isinstance(module, nn.Conv2d):
        squares = _conv_per_example_sq(gs, xs, module)
    else:
        squares = per_sample_sq(torch.cat([as_sequence(t) for t in gs], dim=1), torch.cat([as_sequence(t) for t in xs], dim=1))
    # B · RMS_a ‖·‖ = √B · √(Σ_a ‖·‖²)
    return batch**0.5 * squares.sum().sqrt()
