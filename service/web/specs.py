"""Small spec utilities for the pages: RFC 7396 merge patches (how remedies
are written), flattening to dotted paths (how people and the filter language
name fields) and the differences between specs (what compare highlights)."""

from __future__ import annotations

from typing import Any


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"model": {"depth": 20}} → {"model.depth": 20}."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            flat.update(flatten(item, path + "."))
        else:
            flat[path] = item
    return flat


def spec_differences(specs: list[dict[str, Any]]) -> set[str]:
    """Dotted paths whose values are not the same in every spec (names and
    notes excluded: they always differ and say nothing about the gradient)."""
    flats = [flatten(spec) for spec in specs]
    paths = set().union(*flats) if flats else set()
    return {p for p in paths if p not in ("name", "notes", "tags") and len({repr(f.get(p)) for f in flats}) > 1}


def set_path(target: dict[str, Any], path: str, value: Any) -> None:
    """set_path(spec, "model.init.weight_var", 2.0), creating objects on the way."""
    *parents, last = path.split(".")
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value

