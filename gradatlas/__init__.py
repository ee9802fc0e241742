"""GradAtlas: diagnose vanishing and exploding gradients.

The public Python API, for a notebook, a script or your own training loop:

    from gradatlas import Client
    client = Client()                       # GRADATLAS_URL / GRADATLAS_TOKEN, else the defaults
    done = client.wait(client.submit(spec).id)

    from gradatlas import GradientProbe     # needs the [probe] extra (PyTorch)

`pip install gradatlas` brings the client and the remote CLI only; the probe,
the server and the worker are extras (`[probe]`, `[server]`, `[worker]`), so
names that need them are imported on first use, not when `gradatlas` is.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from gradatlas.service.client import Client, ExperimentFailed, GradAtlasError, ProfileArrays, Sweep

__version__ = "0.1.0"

# Names whose modules need an extra: imported when first asked for.
_LAZY = {
    "GradientProbe": "gradatlas.worker.engine.probe",
    "ProbedLayer": "gradatlas.worker.engine.probe",
    "loop_layers": "gradatlas.worker.engine.export",
    "record": "gradatlas.worker.engine.export",
    "to_import": "gradatlas.worker.engine.export",
    "run_experiment": "gradatlas.worker.engine.train",
    "summarise": "gradatlas.service.science.analysis",
}

__all__ = ["Client", "ExperimentFailed", "GradAtlasError", "ProfileArrays", "Sweep", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'gradatlas' has no attribute {name!r}")
    try:
        module = import_module(_LAZY[name])
    except ModuleNotFoundError as missing:
        if missing.name == "torch":
            raise ImportError(f"gradatlas.{name} needs PyTorch: pip install 'gradatlas[probe]'") from missing
        raise
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
