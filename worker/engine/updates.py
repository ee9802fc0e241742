"""‖ΔW‖ of an optimiser step read from what the optimiser applied, when that is exact.

update_ratio needs ‖W_after − W_before‖ for every weight. In general the
probe snapshots the weights before the step (a copy, a subtraction and a
norm: three passes over every weight, which at width 1024 cost more than
every other metric together). For plain SGD and heavy-ball momentum the
step is W ← W − lr·d with d left behind in memory — the (clipped) gradient
itself, or the momentum buffer — so ‖ΔW‖ = lr·‖d‖: one norm pass and no copy,
and none at all for unclipped plain SGD, whose d is the gradient the probe
has just measured.

The two differ only by the rounding of W_after to the weights' dtype: below
2⁻²⁴·‖W‖ in float32, far below any update ratio worth reporting, which is
why the shortcut is not taken for bfloat16 (2⁻⁹·‖W‖ there: the rounding is
the story, and only the snapshot sees it). Nesterov and plain SGD with
weight decay apply a d that is not kept (it mixes in W_before or last
step's buffer), Adam-like optimisers a quotient of two buffers: those keep
the snapshot.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from gradatlas.worker.engine.probe_stats import norms64
from torch import Tensor, nn

# (weights, their raw gradient norms when the probe took them) -> ‖ΔW‖ per weight
UpdateNorms = Callable[[list[nn.Parameter], Tensor | None], Tensor]


def known_update_norms(optimizer: torch.optim.Optimizer | None, dtype: torch.dtype,
                       clipped: bool) -> UpdateNorms | None:
    """A function giving (len(weights),) float64 ‖ΔW‖ right after `optimizer.step()`,
    or None when the step's update is not exactly recoverable (see the module).
    `clipped`: the gradients are changed between the probe's look and the step."""
    if not isinstance(optimizer, torch.optim.SGD) or dtype not in (torch.float32, torch.float64):
        return None
    if len(optimizer.param_groups) != 1:
        return None
    group = optimizer.param_groups[0]
    if group["nesterov"] or group["maximize"] or group["dampening"] != 0:
        return None
    if group["momentum"] == 0 and group["weight_decay"] != 0:
        return None

    def applied(w: nn.Parameter) -> Tensor | None:
        """The d of W ← W − lr·d, None where the step did not touch w."""
        if group["momentum"] == 0:
            return w.grad
        return optimizer.state.get(w, {}).get("momentum_buffer") if w.grad is not None else None

    def update_norms(weights: list[nn.Parameter], raw_grad_norms: Tensor | None) -> Tensor:
        if raw_grad_norms is not None and group["momentum"] == 0 and not clipped:
            return group["lr"] * raw_grad_norms
        steps = [applied(w) for w in weights]
        norms = norms64([d if d is not None else torch.zeros_like(w) for d, w in zip(steps, weights, strict=True)])
        return group["lr"] * norms  # lr read now: a scheduler may have changed it

    return update_norms
