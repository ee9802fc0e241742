"""Small spec utilities for the pages: setting and reading a field by its
dotted path (how people and the filter language name fields). Flattening
and the differences between specs live in `service.reports.differences`,
the one rule the API, the CLI and the pages share."""

from __future__ import annotations

from typing import Any


def set_path(target: dict[str, Any], path: str, value: Any) -> None:
    """set_path(spec, "model.init.weight_var", 2.0), creating objects on the way."""
    *parents, last = path.split(".")
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value

