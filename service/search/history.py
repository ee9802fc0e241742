"""History queries: a parsed filter and order_by become SQLAlchemy
expressions over the whitelist of `search/fields.py`, the Store runs them,
and the result is keyset-paged on the sort values themselves.

Why keyset (and not OFFSET): a page token carries the last row's sort values
and id, so the next page starts exactly after it however many rows were
inserted meanwhile, and costs the same on page 1 and page 1000. The order is
total (the id breaks ties) and NULLs sort last in both directions on both
databases, so SQLite and PostgreSQL return the same rows in the same order.
Strings compare byte-wise (COLLATE "C" on PostgreSQL, SQLite's default), for
the same reason. Values are always bound parameters: a filter cannot become SQL.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from gradatlas.service.contracts.resources import ExperimentPage
from gradatlas.service.search import page_tokens
from gradatlas.service.search.fields import Field, all_fields, tagged
from gradatlas.service.search.page_tokens import bad_page_token
from gradatlas.service.search.query import BoolOp, Cond, Node, Not, OrderKey, QuerySyntaxError, parse_filter, parse_order_by
from gradatlas.service.store.gateway import Store
from sqlalchemy import ColumnElement, and_, false, not_, or_

DEFAULT_ORDER = "created_at desc"
COMPARE = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
NOT_NULL_COLUMNS = frozenset({"arch", "depth", "width", "activation", "init_scheme"})


@dataclass(frozen=True)
class SortKey:
    field: Field
    descending: bool
    expression: ColumnElement[Any]
    nullable: bool


def _field(name: str, position: int) -> Field:
    field = all_fields().get(name)
    if field is None:
        raise QuerySyntaxError(position, "a known field (id, name, owner, status, tags, created_at, model.depth, "
                                         "summary.verdict, …; see the API documentation)", repr(name))
    return field


def _text(expression: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    return expression.collate("C") if dialect == "postgresql" else expression


def _coerce(field: Field, value: Any, position: int) -> Any:
    """The literal as the field's type, or a 422 saying what was expected."""
    kind = field.kind
    if kind in ("int", "float") and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if kind in ("str", "tags") and isinstance(value, str):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "datetime" and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    wanted = {"int": "a number", "float": "a number", "str": "a quoted string", "tags": "a quoted string",
              "bool": "TRUE or FALSE", "datetime": "a quoted ISO 8601 date or time"}[kind]
    raise QuerySyntaxError(position, f"{wanted} for {field.name}", repr(value))


def compile_filter(node: Node, dialect: str) -> ColumnElement[bool]:
    if isinstance(node, BoolOp):
        parts = [compile_filter(operand, dialect) for operand in node.operands]
        return and_(*parts) if node.op == "and" else or_(*parts)
    if isinstance(node, Not):
        return not_(compile_filter(node.operand, dialect))
    return _condition(node, dialect)


def _condition(cond: Cond, dialect: str) -> ColumnElement[bool]:
    field = _field(cond.field, cond.position)
    if field.kind == "tags" or cond.op == "contains":
        if field.kind != "tags" or cond.op != "contains":
            raise QuerySyntaxError(cond.position, "CONTAINS with tags (tags CONTAINS 'x')", f"{cond.field} {cond.op}")
        tag = _coerce(field, cond.value, cond.value_position)
        return tagged(tag)
    expression = field.expression()
    op = cond.op
    if op in ("is_null", "not_null"):
        return expression.is_(None) if op == "is_null" else expression.is_not(None)
    if op in ("in", "not_in"):
        values = [_coerce(field, value, cond.value_position) for value in cond.value]
        return expression.in_(values) if op == "in" else expression.not_in(values)
    if op in ("like", "not_like", "ilike", "not_ilike"):
        if field.kind != "str":
            raise QuerySyntaxError(cond.position, "a text field before LIKE/ILIKE", f"{field.name} ({field.kind})")
        pattern = _coerce(field, cond.value, cond.value_position)
        matched = expression.ilike(pattern, escape="\\") if "ilike" in op else expression.like(pattern, escape="\\")
        return not_(matched) if op.startswith("not_") else matched
    value = _coerce(field, cond.value, cond.value_position)
    if field.kind == "bool" and op not in ("=", "!="):
        raise QuerySyntaxError(cond.value_position, f"= or != for {field.name}", op)
    if field.kind == "str" and op not in ("=", "!="):
        expression = _text(expression, dialect)
    return COMPARE[op](expression, value)  # type: ignore[no-any-return]


def sort_keys(order_by: str, dialect: str) -> list[SortKey]:
    keys: list[OrderKey] = parse_order_by(order_by or DEFAULT_ORDER)
    seen: set[str] = set()
    out: list[SortKey] = []
    for key in keys:
        field = _field(key.field, key.position)
        if field.kind == "tags" or key.field in seen:
            raise QuerySyntaxError(key.position, "a sortable field named once", repr(key.field))
        seen.add(key.field)
        expression = field.expression()
        if field.kind == "str":
            expression = _text(expression, dialect)
        nullable = field.nullable and field.column not in NOT_NULL_COLUMNS
        out.append(SortKey(field, key.descending, expression, nullable))
    if "id" not in seen:  # the tie-breaker that makes the order total
        id_field = all_fields()["id"]
        out.append(SortKey(id_field, out[-1].descending, _text(id_field.expression(), dialect), False))
    return out


def _ordering(key: SortKey) -> Any:
    ordered = key.expression.desc() if key.descending else key.expression.asc()
    return ordered.nulls_last() if key.nullable else ordered


def _after(keys: list[SortKey], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order of `keys` (NULLs last)."""
    branches: list[ColumnElement[bool]] = []
    equal_so_far: list[ColumnElement[bool]] = []
    for key, value in zip(keys, values, strict=True):
        expression = key.expression
        after: ColumnElement[bool]
        if value is None:
            after, equal = false(), expression.is_(None)
        else:
            beyond = expression < value if key.descending else expression > value
            after = or_(beyond, expression.is_(None)) if key.nullable else beyond
            equal = expression == value
        branches.append(and_(*equal_so_far, after) if equal_so_far else after)
        equal_so_far.append(equal)
    return or_(*branches)


def _signature(keys: list[SortKey]) -> str:
    return ",".join(f"{key.field.name} {'desc' if key.descending else 'asc'}" for key in keys)


def encode_token(keys: list[SortKey], values: list[Any], pepper: str) -> str:
    encoded = [{"t": value.isoformat()} if isinstance(value, datetime) else value for value in values]
    return page_tokens.encode({"o": _signature(keys), "v": encoded}, pepper)


def decode_token(token: str, keys: list[SortKey], pepper: str) -> list[Any]:
    body = page_tokens.decode(token, pepper)
    try:
        values = [datetime.fromisoformat(v["t"]) if isinstance(v, dict) else v for v in body["v"]]
        signature = body["o"]
    except Exception as exc:  # signed by us, so only a token of an older format lands here
        raise bad_page_token(page_tokens.NOT_OURS) from exc
    if signature != _signature(keys) or len(values) != len(keys):
        raise bad_page_token("page_token was issued for another order_by; start again without it")
    return [value.astimezone(UTC) if isinstance(value, datetime) else value for value in values]


def query_experiments(store: Store, filter_text: str = "", order_by: str = "", limit: int = 50,
                      page_token: str | None = None, *, pepper: str) -> ExperimentPage:
    """One page of history. Raises QuerySyntaxError (bad filter or order_by)
    or InvalidInput (a page token not signed with `pepper`, or issued for
    another order); reads only the experiments table (and tags)."""
    dialect = store.engine.dialect.name
    condition = _in_source("filter", lambda: filter_condition(filter_text, dialect))
    keys = _in_source("order_by", lambda: sort_keys(order_by, dialect))
    where = [] if condition is None else [condition]
    if page_token:
        where.append(_after(keys, decode_token(page_token, keys, pepper)))
    found = store.select_experiments(where, [_ordering(key) for key in keys], [key.expression for key in keys], limit + 1)
    next_token = encode_token(keys, found[limit - 1][1], pepper) if len(found) > limit else None
    return ExperimentPage(items=[experiment for experiment, _ in found[:limit]], next_page_token=next_token)


T = TypeVar("T")


def _in_source(source: str, build: Callable[[], T]) -> T:
    try:
        return build()
    except QuerySyntaxError as exc:
        raise exc.in_source(source) from None


def filter_condition(filter_text: str, dialect: str) -> ColumnElement[bool] | None:
    node = parse_filter(filter_text or "")
    return None if node is None else compile_filter(node, dialect)


__all__ = ["query_experiments", "filter_condition", "compile_filter", "sort_keys", "QuerySyntaxError"]

