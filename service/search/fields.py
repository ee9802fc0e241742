"""The whitelist of fields the history query language knows, and the SQL
expression each one reads.

Every spec field is reachable by its dotted path, derived from the pydantic
spec models themselves (a new spec field is queryable the day it is added);
hot fields read a denormalised, indexed column, the rest the JSON document
through SQLAlchemy's JSON path operators, which compile to `JSON_EXTRACT`
on SQLite and `#>>` on PostgreSQL. Nothing outside this table can be named.

This module and the store package are the only ones that name tables
(service/store/__init__.py says why): the whitelist maps each field to its
column; the store runs the query.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from gradatlas.service.contracts.spec import ExperimentSpec
from gradatlas.service.store.columns import HOT_SPEC, SUMMARY_COLUMNS
from gradatlas.service.store.tables import ExperimentRow, ExperimentTagRow
from pydantic import BaseModel
from sqlalchemy import ColumnElement, exists

Kind = Literal["str", "int", "float", "bool", "datetime", "tags"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    column: str | None = None  # a column of `experiments`
    json: tuple[str, tuple[str, ...]] | None = None  # (document column, path)
    nullable: bool = True

    def expression(self) -> ColumnElement[Any]:
        if self.column is not None:
            return getattr(ExperimentRow, self.column)  # type: ignore[no-any-return]
        assert self.json is not None
        document, path = self.json
        element = getattr(ExperimentRow, document)[path]
        cast = {"str": element.as_string, "int": element.as_integer, "float": element.as_float, "bool": element.as_boolean}
        return cast[self.kind]()  # type: ignore[no-any-return]


def tagged(tag: str) -> ColumnElement[bool]:
    """`tags CONTAINS tag`: an indexed EXISTS on the tags table, the same SQL on
    SQLite and PostgreSQL."""
    return exists().where(ExperimentTagRow.experiment_id == ExperimentRow.id, ExperimentTagRow.tag == tag)


TOP_LEVEL = {
    "id": Field("id", "str", "id", nullable=False), "name": Field("name", "str", "name", nullable=False),
    "owner": Field("owner", "str", "owner", nullable=False), "status": Field("status", "str", "status", nullable=False),
    "reason": Field("reason", "str", "reason"), "source": Field("source", "str", "source", nullable=False),
    "notes": Field("notes", "str", "notes", nullable=False), "tags": Field("tags", "tags"),
    "sweep_id": Field("sweep_id", "str", "sweep_id"),
    "created_at": Field("created_at", "datetime", "created_at", nullable=False),
    "started_at": Field("started_at", "datetime", "started_at"),
    "finished_at": Field("finished_at", "datetime", "finished_at"),
}
COLD_SUMMARY: dict[str, Kind] = {"theory_gain": "float", "note": "str", "first_nonfinite.step": "int",
                                 "first_nonfinite.layer": "int", "first_nonfinite.metric": "str"}
# spec fields that the resource shows at top level (name, tags, notes) are queried there
_SPEC_SKIP = {"name", "tags", "notes"}


def _kind_of(annotation: Any) -> Kind | type[BaseModel] | None:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = [_kind_of(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        return kinds[0] if len(kinds) == 1 else None
    if origin is Literal:
        values = typing.get_args(annotation)
        return "str" if all(isinstance(v, str) for v in values) else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return {str: "str", int: "int", float: "float", bool: "bool"}.get(annotation)  # type: ignore[return-value]


def _spec_fields(model: type[BaseModel], prefix: tuple[str, ...]) -> dict[str, Field]:
    out: dict[str, Field] = {}
    for key, info in model.model_fields.items():
        if not prefix and key in _SPEC_SKIP:
            continue
        path = (*prefix, key)
        kind = _kind_of(info.annotation)
        if isinstance(kind, type):
            out.update(_spec_fields(kind, path))
        elif kind is not None:
            name = ".".join(path)
            hot = HOT_SPEC.get(name)
            out[name] = Field(name, kind, column=hot) if hot else Field(name, kind, json=("spec", path))
    return out


@lru_cache(maxsize=1)
def all_fields() -> dict[str, Field]:
    fields = dict(TOP_LEVEL)
    fields.update(_spec_fields(ExperimentSpec, ()))
    for name in SUMMARY_COLUMNS:
        fields[f"summary.{name}"] = Field(f"summary.{name}", "str" if name == "verdict" else "float", column=name)
    for name, kind in COLD_SUMMARY.items():
        fields[f"summary.{name}"] = Field(f"summary.{name}", kind, json=("summary", tuple(name.split("."))))
    return fields


def field_names() -> list[str]:
    return sorted(all_fields())
