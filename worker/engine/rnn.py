"""arch `rnn`: `depth` stacked recurrent layers (cell `rnn`, `lstm` or `gru`)
unrolled over the sequence; the read-out sees only the last hidden state.

Each layer's weights are two probed linear layers: `input` (W_ih, applied
to the whole sequence at once) and `recurrent` (W_hh, applied once per time
step, without bias), so the hidden-to-hidden matrix gets its own
initialisation (`init.recurrent`) and its own row in the profile. Gates are
stacked in one matrix (LSTM i, f, g, o; GRU r, z, n) and initialised gate by
gate.

    rnn:  h_t = φ(W_ih x_t + W_hh h_{t−1} + b)
    lstm: c_t = σ(f)·c_{t−1} + σ(i)·φ(g),  h_t = σ(o)·φ(c_t)
    gru:  n = φ(n_x + σ(r)·n_h),  h_t = (1 − σ(z))·n + σ(z)·h_{t−1}

φ is the spec's activation (tanh is the classic choice). Because the loss
sees only h_T, the gradient reaching h_t of the top layer has travelled
purely through time: the model reports each h_t to `on_hidden`, from which
the probe records `time_signal_norm[t]` = ‖∂L/∂h_t‖ (Pascanu et al. 2013).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from gradatlas.service.contracts.spec import InitSpec
from gradatlas.worker.engine.activations import activation_info
from gradatlas.worker.engine.layers import ProbedLayer
from gradatlas.worker.engine.nets import ProbedNet
from torch import Tensor, nn

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
OnHidden = Callable[[int, Tensor], None]


def sequence_input(x: Tensor, vocab: int, dtype: torch.dtype) -> Tensor:
    """(B, T, features): float sequences as they are; int tokens as one-hot
    vectors scaled by √vocab, so their length matches a standardised input
    of the same dimension (‖x‖² = vocab) and the mean-field scale holds."""
    if x.is_floating_point():
        return x
    return F.one_hot(x, vocab).to(dtype) * vocab**0.5


class RecurrentLayer(nn.Module):
    def __init__(self, d_in: int, width: int, cell: str, activation: str, bias: bool) -> None:
        super().__init__()
        self.cell, self.width = cell, width
        self.input = nn.Linear(d_in, GATES[cell] * width, bias=bias, dtype=torch.float64)
        self.recurrent = nn.Linear(width, GATES[cell] * width, bias=False, dtype=torch.float64)
        self.act = activation_info(activation).make()  # the probed φ (of z, g or n)
        self.out_act = activation_info(activation).make()  # LSTM's φ(c_t), not probed

    def forward(self, x: Tensor, on_hidden: OnHidden | None) -> Tensor:  # (B, T, d_in) -> (B, T, width)
        zx = self.input(x)  # (B, T, gates·width): one matmul for the whole sequence
        h = c = zx.new_zeros(x.shape[0], self.width)
        out = []
        for t in range(x.shape[1]):
            zh = self.recurrent(h) if t > 0 else None  # h_{−1} = 0 contributes nothing
            h, c = self._cell(zx[:, t], zh, h, c)
            if on_hidden is not None:
                on_hidden(t, h)
            out.append(h)
        return torch.stack(out, dim=1)

    def _cell(self, zx: Tensor, zh: Tensor | None, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        if self.cell == "rnn":
            return self.act(zx if zh is None else zx + zh), c
        if self.cell == "lstm":
            i, f, g, o = (zx if zh is None else zx + zh).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * self.act(g)
            return torch.sigmoid(o) * self.out_act(c), c
        r_x, u_x, n_x = zx.chunk(3, dim=1)
        r_h, u_h, n_h = zh.chunk(3, dim=1) if zh is not None else (0.0, 0.0, 0.0)
        r, u = torch.sigmoid(r_x + r_h), torch.sigmoid(u_x + u_h)
        n = self.act(n_x + r * n_h)
        return (1 - u) * n + u * h, c


class RNN(ProbedNet):
    def __init__(self, input_dim: int, width: int, depth: int, classes: int, activation: str, cell: str, bias: bool) -> None:
        super().__init__()
        self.activation, self.cell, self.vocab = activation, cell, input_dim
        dims = [input_dim] + [width] * depth
        self.rnns = nn.ModuleList(RecurrentLayer(a, width, cell, activation, bias) for a in dims[:-1])
        self.readout = nn.Linear(width, classes, bias=bias, dtype=torch.float64)
        self.on_hidden: OnHidden | None = None  # set by the probe on recorded steps

    def forward(self, x: Tensor) -> Tensor:  # (B, T, input_dim) floats or (B, T) tokens -> (B, classes)
        h = sequence_input(x, self.vocab, self.readout.weight.dtype)
        for k, layer in enumerate(self.rnns):
            h = layer(h, self.on_hidden if k == len(self.rnns) - 1 else None)
        return self.readout(h[:, -1])

    def _layers(self) -> list[RecurrentLayer]:
        return [layer for layer in self.rnns if isinstance(layer, RecurrentLayer)]

    def probe_layers(self) -> list[ProbedLayer]:
        info = activation_info(self.activation)
        layers = []
        for k, layer in enumerate(self._layers()):
            probed: dict[str, Any] = {"activation": layer.act, "derivative": info.derivative, "max_derivative": info.max_derivative}
            layers.append(ProbedLayer(f"rnn.{k}.input", layer.input, **probed))
            layers.append(ProbedLayer(f"rnn.{k}.recurrent", layer.recurrent, **probed))
        return layers + [ProbedLayer("readout", self.readout)]

    def init_groups(self, init: InitSpec) -> list[tuple[list[nn.Module], InitSpec, int]]:
        """Input weights and read-out from `init`; hidden-to-hidden from `init.recurrent`."""
        gates = GATES[self.cell]
        recurrent = init
        if init.recurrent is not None:
            r = init.recurrent
            recurrent = InitSpec(scheme=r.scheme, gain=r.gain, weight_var=r.weight_var)
        layers = self._layers()
        return [([layer.input for layer in layers], init, gates),
                ([layer.recurrent for layer in layers], recurrent, gates),
                ([self.readout], init, 1)]
