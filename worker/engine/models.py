"""The networks an experiment runs: `mlp` here, the other archs in their own
modules (resmlp.py, cnn.py, rnn.py, transformer.py), all built by `build_model`.

Every net lists its weight layers, input side first and read-out last, as
`probe_layers()`, and its initialisation as `init_groups()`. In an `mlp` a
hidden layer is Linear → norm → activation, the read-out a plain Linear.
z_l, the Linear's output, is the pre-activation whose gradient ∂L/∂z_l is
the back-propagated signal of SCIENCE.md; the activation module is kept as a
module of its own so the probe can hook the tensor φ is applied to.
"""

from __future__ import annotations

import torch
from gradatlas.service.contracts.spec import ARCHS, ExperimentSpec, InitSpec
from gradatlas.worker.engine.activations import activation_info
from gradatlas.worker.engine.init import initialise
from gradatlas.worker.engine.probe import ProbedLayer
from gradatlas.worker.engine.seeding import derive_seed
from torch import Tensor, nn


def _make_norm(norm: str, width: int) -> nn.Module:
    if norm == "batchnorm":
        return nn.BatchNorm1d(width, dtype=torch.float64)
    if norm == "layernorm":
        return nn.LayerNorm(width, dtype=torch.float64)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}")


class ProbedNet(nn.Module):
    """What every arch provides to the engine: its probed weight layers and
    which of them get which initialisation."""

    def probe_layers(self) -> list[ProbedLayer]:
        raise NotImplementedError

    def init_groups(self, init: InitSpec) -> list[tuple[list[nn.Module], InitSpec, int]]:
        """(layers, their init, gate chunks): every weight layer gets the spec's init."""
        return [([p.linear for p in self.probe_layers()], init, 1)]

    def layer_table(self) -> list[dict]:
        """API.md's `layers`: index, name, kind, weight shape ([out, in], or [out, in, k, k])."""
        return [
            {"index": i, "name": p.name, "kind": p.kind, "shape": list(p.linear.weight.shape)}
            for i, p in enumerate(self.probe_layers())
        ]


class Block(nn.Module):
    """One hidden layer: z = W x + b, h = φ(norm(z))."""

    def __init__(self, d_in: int, d_out: int, activation: str, norm: str, bias: bool) -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, d_out, bias=bias, dtype=torch.float64)
        self.norm = _make_norm(norm, d_out)
        self.act = activation_info(activation).make()

    def forward(self, x: Tensor) -> Tensor:  # (B, d_in) -> (B, d_out)
        return self.act(self.norm(self.linear(x)))


class MLP(ProbedNet):
    """`depth` hidden layers of `width` units, then a linear read-out.

    Built in float64 on the CPU (so every dtype and device starts from the
    same draws); move it with `.to(device, dtype)`.
    """

    def __init__(
        self, input_dim: int, width: int, depth: int, classes: int,
        activation: str, norm: str = "none", bias: bool = True,
    ) -> None:
        super().__init__()
        self.activation = activation
        dims = [input_dim] + [width] * depth
        self.hidden = nn.ModuleList(
            Block(d_in, d_out, activation, norm, bias) for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)
        )
        self.readout = nn.Linear(width, classes, bias=bias, dtype=torch.float64)

    def forward(self, x: Tensor) -> Tensor:  # (B, input_dim) -> (B, classes)
        for block in self.hidden:
            x = block(x)
        return self.readout(x)

    def blocks(self) -> list[Block]:
        return [block for block in self.hidden if isinstance(block, Block)]

    def linears(self) -> list[nn.Linear]:
        """The weight layers, input side first, read-out last."""
        return [block.linear for block in self.blocks()] + [self.readout]

    def probe_layers(self) -> list[ProbedLayer]:
        info = activation_info(self.activation)
        hidden = [
            ProbedLayer(f"hidden.{i}", b.linear, b.act, info.derivative, info.max_derivative)
            for i, b in enumerate(self.blocks())
        ]
        return hidden + [ProbedLayer("readout", self.readout)]


def build_model(spec: ExperimentSpec) -> ProbedNet:
    """The spec's initialised network (float64, CPU), deterministic in spec.seed.

    The global CPU generator is forked, so PyTorch's own `default` init is
    seeded without disturbing the caller's random state.
    """
    m = spec.model
    if m.arch not in ARCHS:  # only a spec built without validation gets here
        raise ValueError(f"arch {m.arch!r} is not supported (supported: {sorted(ARCHS)})")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(spec.seed, "init"))
        model = _construct(spec)
        for layers, init, chunks in model.init_groups(m.init):
            initialise(layers, init, m.activation, chunks)
    return model


def _construct(spec: ExperimentSpec) -> ProbedNet:
    m, d = spec.model, spec.data
    assert d.input_dim is not None and d.classes is not None  # filled by DataSpec
    if m.arch == "mlp":
        return MLP(d.input_dim, m.width, m.depth, d.classes, m.activation, m.norm, m.bias)
    if m.arch == "resmlp":
        from gradatlas.worker.engine.resmlp import ResMLP

        return ResMLP(d.input_dim, m.width, m.depth, d.classes, m.activation, m.norm, m.norm_position, m.bias)
    if m.arch == "cnn":
        from gradatlas.worker.engine.cnn import CNN

        return CNN(d.input_dim, m.width, m.depth, d.classes, m.activation, m.norm, m.bias)
    if m.arch == "rnn":
        from gradatlas.worker.engine.rnn import RNN

        return RNN(d.input_dim, m.width, m.depth, d.classes, m.activation, m.cell, m.bias)
    from gradatlas.worker.engine.transformer import Transformer

    return Transformer(d.input_dim, m.width, m.depth, d.classes, m.activation, m.norm, m.norm_position,
                       m.heads, m.bias, d.seq_len, tokens=d.name == "tokens")
