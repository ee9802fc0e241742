"""Which spec and summary fields have their own indexed column in
`experiments` (tables.py): written by every writer (rows.py), read by the
history query language (search/fields.py), listed by the sweep CSV and the
comparison. One list, so a new hot field cannot be stored but not queried."""

from __future__ import annotations

from typing import Any

from gradatlas.service.contracts.spec import ExperimentSpec

# spec path -> denormalised column, kept equal to the stored spec on every write
HOT_SPEC: dict[str, str] = {
    "model.arch": "arch", "model.depth": "depth", "model.width": "width", "model.activation": "activation",
    "model.init.scheme": "init_scheme", "model.init.weight_var": "weight_var", "data.name": "data_name",
    "training.optimizer": "optimizer", "training.lr": "lr",
}
# summary keys copied into columns of the same name when a run succeeds or is imported
SUMMARY_COLUMNS: tuple[str, ...] = ("verdict", "signal_ratio_init", "grad_ratio_init", "grad_ratio_final",
                                    "layer_gain_init", "final_loss", "final_accuracy")


def hot_values(spec: ExperimentSpec) -> dict[str, Any]:
    """The spec's hot fields by column name, read along their dotted paths."""
    values: dict[str, Any] = {}
    for path, column in HOT_SPEC.items():
        node: Any = spec
        for key in path.split("."):
            node = getattr(node, key)
        values[column] = node
    return values


def summary_values(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary's hot keys by column name (None where the summary lacks one)."""
    return {column: summary.get(column) for column in SUMMARY_COLUMNS}
