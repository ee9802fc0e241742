"""Data sets and minibatches.

Data sets are small enough to live on the device whole, so a minibatch is an
index into device tensors: no loader, no host round trip per step. Inputs are
drawn in float64 on the CPU from a seeded generator (identical for every
dtype and device) and then moved once.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from gradatlas.service.contracts.spec import DataSpec
from torch import Tensor

TEACHER_WIDTH = 64  # hidden units of the random teacher network


@dataclass
class Dataset:
    x: Tensor  # (n, input_dim) vectors, (n, seq_len, input_dim) sequences, or (n, seq_len) int64 tokens
    y: Tensor  # (n,) int64 class labels

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device: torch.device, dtype: torch.dtype) -> Dataset:
        x = self.x.to(device=device, dtype=dtype) if self.x.is_floating_point() else self.x.to(device)
        return Dataset(x, self.y.to(device))


# scikit-learn's bundled tables (shipped inside the wheel: no download)
_SKLEARN = {"digits": "load_digits", "iris": "load_iris", "wine": "load_wine", "breast_cancer": "load_breast_cancer"}


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
    if spec.name in _SKLEARN:
        return _sklearn(spec, gen)
    if spec.name == "spirals":
        return _spirals(spec, gen)
    if spec.name == "sequence":
        return _sequence(spec, gen)
    if spec.name == "tokens":
        return _tokens(spec, gen)
    raise ValueError(f"data set {spec.name!r} is not supported")


def _teacher(spec: DataSpec, gen: torch.Generator) -> Dataset:
    """Labels = argmax of a fixed random 2-layer tanh net: learnable, non-linear.

    The teacher sees x / input_std, so input_std scales the student's inputs
    without changing the task.
    """
    assert spec.input_dim is not None and spec.classes is not None
    x = torch.randn(spec.samples, spec.input_dim, generator=gen, dtype=torch.float64)  # (n, d)
    return Dataset(spec.input_std * x, _teacher_labels(x, spec.classes, gen))


def _teacher_labels(x: Tensor, classes: int, gen: torch.Generator) -> Tensor:
    d = x.shape[1]
    w1 = torch.randn(d, TEACHER_WIDTH, generator=gen, dtype=torch.float64) / d**0.5
    w2 = torch.randn(TEACHER_WIDTH, classes, generator=gen, dtype=torch.float64) / TEACHER_WIDTH**0.5
    return (torch.tanh(x @ w1) @ w2).argmax(dim=1)  # (n,)


def _sklearn(spec: DataSpec, gen: torch.Generator) -> Dataset:
    """A table bundled with scikit-learn, standardised; `samples` below the
    table's size takes a seeded random subset."""
    x, y = _sklearn_table(spec.name)
    if spec.samples < len(y):
        keep = torch.randperm(len(y), generator=gen)[: spec.samples]
        return Dataset(x[keep], y[keep])
    return Dataset(x.clone(), y.clone())  # the cached table is never handed to a run


@functools.cache
def _sklearn_table(name: str) -> tuple[Tensor, Tensor]:
    """The whole table, read once per process: load_digits parses a gzipped
    CSV, tens of milliseconds, more than a whole small run takes.

    Each feature is centred and scaled to unit variance (constant ones are
    only centred), so every data set meets the network at the scale the
    mean-field theory assumes.
    """
    import sklearn.datasets  # only these data sets need sklearn

    bunch = getattr(sklearn.datasets, _SKLEARN[name])()
    x = torch.as_tensor(bunch.data, dtype=torch.float64)  # (n, features)
    y = torch.as_tensor(bunch.target, dtype=torch.long)  # (n,)
    std = x.std(dim=0, correction=0)
    return (x - x.mean(dim=0)) / torch.where(std > 0, std, torch.ones_like(std)), y


def _spirals(spec: DataSpec, gen: torch.Generator) -> Dataset:
    """Two interleaved spirals in the plane (the classic hard toy problem),
    one turn and a half each, with a little noise; scaled to unit variance."""
    n = spec.samples
    y = torch.arange(n) % 2
    r = torch.rand(n, generator=gen, dtype=torch.float64)
    angle = 3.0 * math.pi * r + math.pi * y
    x = torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1)  # (n, 2)
    x = x + 0.02 * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    return Dataset(x / x.std(dim=0, correction=0), y)


def _sequence(spec: DataSpec, gen: torch.Generator) -> Dataset:
    """Sequences of N(0, input_std²) vectors whose label is a teacher's class
    of the *first* element: the read-out sees only the end of the sequence,
    so learning needs the gradient to travel all the way back in time."""
    assert spec.input_dim is not None and spec.classes is not None
    x = torch.randn(spec.samples, spec.seq_len, spec.input_dim, generator=gen, dtype=torch.float64)
    return Dataset(spec.input_std * x, _teacher_labels(x[:, 0], spec.classes, gen))


def _tokens(spec: DataSpec, gen: torch.Generator) -> Dataset:
    """Token sequences over a vocabulary of `input_dim` symbols; the label is
    the first token's symbol modulo `classes` (position matters)."""
    assert spec.input_dim is not None and spec.classes is not None
    x = torch.randint(0, spec.input_dim, (spec.samples, spec.seq_len), generator=gen)
    return Dataset(x, x[:, 0] % spec.classes)


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
