"""The registry of the networks an experiment runs: every arch in its own
module (mlp.py, resmlp.py, cnn.py, rnn.py, transformer.py), all built by
`build_model`.

Every net lists its weight layers, input side first and read-out last, as
`probe_layers()`, and its initialisation as `init_groups()` (nets.py's
`ProbedNet`). The arch modules import nets.py, never this registry.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from gradatlas.service.contracts.spec import ARCHS, DataSpec, ExperimentSpec, ModelSpec
from gradatlas.worker.engine.cnn import CNN
from gradatlas.worker.engine.init import initialise
from gradatlas.worker.engine.mlp import MLP
from gradatlas.worker.engine.nets import ProbedNet
from gradatlas.worker.engine.resmlp import ResMLP
from gradatlas.worker.engine.rnn import RNN
from gradatlas.worker.engine.seeding import derive_seed
from gradatlas.worker.engine.transformer import Transformer


def _mlp(m: ModelSpec, d: DataSpec, input_dim: int, classes: int) -> ProbedNet:
    return MLP(input_dim, m.width, m.depth, classes, m.activation, m.norm, m.bias)


def _resmlp(m: ModelSpec, d: DataSpec, input_dim: int, classes: int) -> ProbedNet:
    return ResMLP(input_dim, m.width, m.depth, classes, m.activation, m.norm, m.norm_position, m.bias)


def _cnn(m: ModelSpec, d: DataSpec, input_dim: int, classes: int) -> ProbedNet:
    return CNN(input_dim, m.width, m.depth, classes, m.activation, m.norm, m.bias)


def _rnn(m: ModelSpec, d: DataSpec, input_dim: int, classes: int) -> ProbedNet:
    return RNN(input_dim, m.width, m.depth, classes, m.activation, m.cell, m.bias)


def _transformer(m: ModelSpec, d: DataSpec, input_dim: int, classes: int) -> ProbedNet:
    return Transformer(input_dim, m.width, m.depth, classes, m.activation, m.norm, m.norm_position,
                       m.heads, m.bias, d.seq_len, tokens=d.name == "tokens")


BUILDERS: dict[str, Callable[[ModelSpec, DataSpec, int, int], ProbedNet]] = {
    "mlp": _mlp, "resmlp": _resmlp, "cnn": _cnn, "rnn": _rnn, "transformer": _transformer,
}
# The spec's arch list is the one source of which archs exist: every arch it accepts has a builder.
if set(BUILDERS) != set(ARCHS):
    raise ImportError(f"archs without a builder or a spec entry: {sorted(set(BUILDERS) ^ set(ARCHS))}")


def build_model(spec: ExperimentSpec) -> ProbedNet:
    """The spec's initialised network (float64, CPU), deterministic in spec.seed.

    The global CPU generator is forked, so PyTorch's own `default` init is
    seeded without disturbing the caller's random state.
    """
    m, d = spec.model, spec.data
    if m.arch not in BUILDERS:  # only a spec built without validation gets here
        raise ValueError(f"arch {m.arch!r} is not supported (supported: {sorted(BUILDERS)})")
    assert d.input_dim is not None and d.classes is not None  # filled by DataSpec
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(spec.seed, "init"))
        model = BUILDERS[m.arch](m, d, d.input_dim, d.classes)
        for layers, init, chunks in model.init_groups(m.init):
            initialise(layers, init, m.activation, chunks)
    return model
