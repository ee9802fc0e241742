"""The weight layers a probe watches, and how a model names them.

Apart from probe.py so that the networks and export.py can name a layer
without importing the probe (which imports export.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn


@dataclass(frozen=True)
class ProbedLayer:
    """One weight layer as the probe sees it.

    `linear` is the module holding the weight: an nn.Linear or an nn.Conv2d.
    `activation` is the module whose forward input is u (what φ is applied
    to) and output φ(u); None for a layer whose output is not passed through
    φ (a read-out, an attention projection): its "activation" is its own
    output and its derivative is 1 (never dead or saturated).
    """

    name: str
    linear: nn.Module
    activation: nn.Module | None = None
    derivative: Callable[[Tensor], Tensor] | None = None
    max_derivative: float = 1.0

    @property
    def kind(self) -> str:
        return "conv" if isinstance(self.linear, nn.Conv2d) else "linear"


def discover_layers(model: nn.Module) -> list[ProbedLayer]:
    """The model's own `probe_layers()`, else every nn.Linear in module order.

    Discovered layers know no activation: their act_mean/act_std describe the
    Linear's own output and they are never counted dead or saturated.
    """
    own = getattr(model, "probe_layers", None)
    if callable(own):
        return list(own())
    return [ProbedLayer(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
