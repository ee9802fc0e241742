"""The spec's optimisers and clipping for stacked parameters (P on axis 0),
with hyper-parameters per point.

torch.optim takes one learning rate per parameter group, and a stacked
parameter holds all P points, so the update rules are written out here, in
the same order of operations as torch.optim's single-tensor SGD, Adam and
AdamW (defaults: dampening 0, betas (0.9, 0.999), eps 1e-8): a batched point
follows its solo run to float tolerance.
"""

from __future__ import annotations

import torch
from gradatlas.service.contracts.spec import ExperimentSpec
from torch import Tensor

BETAS, EPS = (0.9, 0.999), 1e-8


def _per_point(values: list[float], like: Tensor) -> Tensor:
    """(P, 1, …, 1): one value per point, broadcasting over a stacked parameter."""
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(-1, *([1] * (like.dim() - 1)))


class BatchedOptimizer:
    def __init__(self, params: list[Tensor], specs: list[ExperimentSpec]) -> None:
        self.params, self.kind = params, specs[0].training.optimizer
        t = [spec.training for spec in specs]
        momentum = [s.momentum or 0.9 if self.kind in ("momentum", "nesterov") else s.momentum for s in t]
        self.lr = [_per_point([s.lr for s in t], p) for p in params]
        self.wd = [_per_point([s.weight_decay for s in t], p) for p in params]
        self.momentum = [_per_point(momentum, p) for p in params]
        self.state: list[dict[str, Tensor]] = [{} for _ in params]
        self.steps = 0

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            if self.kind in ("adam", "adamw"):
                self._adam(i, p, p.grad)
            else:
                self._sgd(i, p, p.grad)

    def _sgd(self, i: int, p: Tensor, grad: Tensor) -> None:
        grad = grad + self.wd[i] * p
        state, momentum = self.state[i], self.momentum[i]
        buf = state.get("buf")
        buf = grad.clone() if buf is None else buf.mul_(momentum).add_(grad)
        state["buf"] = buf
        grad = grad + momentum * buf if self.kind == "nesterov" else buf
        p.sub_(self.lr[i] * grad)

    def _adam(self, i: int, p: Tensor, grad: Tensor) -> None:
        lr, wd, state = self.lr[i], self.wd[i], self.state[i]
        if self.kind == "adamw":
            p.mul_(1 - lr * wd)
        else:
            grad = grad + wd * p
        exp_avg = state.setdefault("exp_avg", torch.zeros_like(p))
        exp_avg_sq = state.setdefault("exp_avg_sq", torch.zeros_like(p))
        exp_avg.lerp_(grad, 1 - BETAS[0])
        exp_avg_sq.mul_(BETAS[1]).addcmul_(grad, grad, value=1 - BETAS[1])
        bias_correction1 = 1 - BETAS[0] ** self.steps
        bias_correction2_sqrt = (1 - BETAS[1] ** self.steps) ** 0.5
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(EPS)
        p.sub_((lr / bias_correction1) * exp_avg / denom)


@torch.no_grad()
def clip_(params: list[Tensor], clip_value: float | None, clip_norm: float | None) -> None:
    """nn.utils.clip_grad_value_ then clip_grad_norm_, each point on its own."""
    grads = [p.grad for p in params if p.grad is not None]
    if clip_value is not None:
        for g in grads:
            g.clamp_(-clip_value, clip_value)
    if clip_norm is not None and grads:
        per_tensor = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads])  # (n_tensors, P)
        total = torch.linalg.vector_norm(per_tensor, dim=0)  # (P,)
        scale = (clip_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))
