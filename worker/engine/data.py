"""Data sets and minibatches.

Data sets are small enough to live on the device whole, so a minibatch is an
index into device tensors: no loader, no host round trip per step. Inputs are
drawn in float64 on the CPU from a seeded generator (identical for every
dtype and device) and then moved once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from service.spec import DataSpec

TEACHER_WIDTH = 64  # hidden units of the random teacher network


@dataclass
class Dataset:
    x: Tensor  # (n, input_dim)
    y: Tensor  # (n,) int64 class labels

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device: torch.device, dtype: torch.dtype) -> Dataset:
        return Dataset(self.x.to(device=device, dtype=dtype), self.y.to(device))


def make_data(spec: DataSpec, seed: int) -> Dataset:
    """The spec's data set (float64, CPU), deterministic in `seed`."""
    assert spec.input_dim is not None and spec.classes is not None  # filled by DataSpec
    gen = torch.Generator().manual_seed(seed)
    if spec.name == "gaussian":  # pure noise: labels carry no information
        x = spec.input_std * torch.randn(spec.samples, spec.input_dim, generator=gen, dtype=torch.float64)
        y = torch.randint(0, spec.classes, (spec.samples,), generator=gen)
        return Dataset(x, y)
    if spec.name == "teacher":
        return _teacher(spec, gen)
    if spec.name == "digits":
        return _digits(spec, gen)
    raise ValueError(f"data set {spec.name!r} is not supported yet")


def _teacher(spec: DataSpec, gen: torch.Generator) -> Dataset:
    """Labels = argmax of a fixed random 2-layer tanh net: learnable, non-linear.

    The teacher sees x / input_std, so input_std scales the student's inputs
    without changing the task.
    """
    assert spec.input_dim is not None and spec.classes is not None
    d, c = spec.input_dim, spec.classes
    x = torch.randn(spec.samples, d, generator=gen, dtype=torch.float64)  # (n, d)
    w1 = torch.randn(d, TEACHER_WIDTH, generator=gen, dtype=torch.float64) / d**0.5
    w2 = torch.randn(TEACHER_WIDTH, c, generator=gen, dtype=torch.float64) / TEACHER_WIDTH**0.5
    y = (torch.tanh(x @ w1) @ w2).argmax(dim=1)  # (n,)
    return Dataset(spec.input_std * x, y)


def _digits(spec: DataSpec, gen: torch.Generator) -> Dataset:
    """scikit-learn's 8×8 digits (shipped with it, no download), standardised.

    Each pixel is centred and scaled to unit variance (constant pixels are
    only centred). `samples` below 1797 takes a seeded random subset.
    """
    from sklearn.datasets import load_digits  # only this data set needs sklearn

    bunch = load_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float64)  # (1797, 64)
    y = torch.as_tensor(bunch.target, dtype=torch.long)  # (1797,)
    std = x.std(dim=0, correction=0)
    x = (x - x.mean(dim=0)) / torch.where(std > 0, std, torch.ones_like(std))
    if spec.samples < len(y):
        keep = torch.randperm(len(y), generator=gen)[: spec.samples]
        x, y = x[keep], y[keep]
    return Dataset(x, y)


class BatchSampler:
    """Shuffled minibatches without replacement, one epoch after another.

    The permutation is drawn on the device from a seeded device generator, so
    drawing a batch never waits for the device. A batch is min(batch_size, n)
    examples; the remainder of an epoch that does not fill one is dropped,
    so every step sees the same batch size.
    """

    def __init__(self, n: int, batch_size: int, device: torch.device, seed: int) -> None:
        self.n = n
        self.batch = min(batch_size, n)
        self.per_epoch = n // self.batch
        self.device = device
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self._perm = torch.empty(0, dtype=torch.long, device=device)
        self._pos = self.per_epoch

    def next(self) -> Tensor:  # (batch,) int64 on the device
        if self._pos == self.per_epoch:
            self._perm = torch.randperm(self.n, generator=self.gen, device=self.device)
            self._pos = 0
        start = self._pos * self.batch
        self._pos += 1
        return self._perm[start : start + self.batch]
