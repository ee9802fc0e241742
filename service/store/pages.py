"""Keyset pages of a table ordered by (created_at, id): the one query the
token and sweep lists share. A page asks for one row more than it shows, so
it knows whether another page follows without counting."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select

Key = tuple[datetime, str]  # (created_at as the database gave it, id)


def keyset_select(model: Any, limit: int, after: Key | None, newest_first: bool) -> Select[Any]:
    """`limit + 1` rows of `model` past `after`, in (created_at, id) order."""
    created, row_id = model.created_at, model.id
    query = select(model)
    if after is not None:
        past = (created < after[0]) if newest_first else (created > after[0])
        tie = (row_id < after[1]) if newest_first else (row_id > after[1])
        query = query.where(or_(past, and_(created == after[0], tie)))
    order = (created.desc(), row_id.desc()) if newest_first else (created.asc(), row_id.asc())
    return query.order_by(*order).limit(limit + 1)


def split_page(rows: list[Any], limit: int) -> tuple[list[Any], Key | None]:
    """The rows to show, and the key of the last one when more follow."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], (last.created_at, last.id)
