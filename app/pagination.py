"""Keyset pagination: pages by "after this row" instead of OFFSET, so page 2,000 costs the
same as page 1, and no request ever counts the whole table.

A cursor is an opaque URL-safe string holding the sort value and id of the row at the page
edge. Pages are ordered by (sort column, id), which must be an index on large tables.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, select, tuple_, union_all

from app.db import db

T = TypeVar("T")


class BadCursor(ValueError):
    pass


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    prev_cursor: str | None


def _encode(values: list[Any], backwards: bool) -> str:
    plain = [v.isoformat() if isinstance(v, (dt.datetime, dt.date)) else v for v in values]
    raw = json.dumps({"k": plain, "b": backwards}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, column) -> tuple[list[Any], bool]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        values, backwards = data["k"], bool(data.get("b", False))
        if not isinstance(values, list) or len(values) != 2 or not isinstance(values[1], int):
            raise BadCursor(cursor)
        python_type = _python_type(column)
        if values[0] is not None and python_type in (dt.datetime,):
            values[0] = dt.datetime.fromisoformat(values[0])
        elif values[0] is not None and python_type in (dt.date,):
            values[0] = dt.date.fromisoformat(values[0])
        return values, backwards
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError, NotImplementedError) as exc:
        raise BadCursor(cursor) from exc


def _python_type(column):
    """The Python type of a column's values; for a TypeDecorator (UTCDateTime), its impl's."""
    column_type = getattr(column, "type", None)
    for candidate in (column_type, getattr(column_type, "impl", None)):
        try:
            return candidate.python_type
        except (AttributeError, NotImplementedError):
            continue
    return None


def keyset_page(stmt: Select, sort_column, id_column, *, descending: bool, cursor: str | None,
                limit: int, key=None, partitions=None) -> Page:
    """Return one page of `stmt` ordered by (sort_column, id_column).

    `key(row)` gives (sort value, id) of a result row; by default the row's attributes with
    the columns' names. The sort column must not be NULL.

    `partitions`: conditions that split `stmt` into disjoint parts, each read in order from an
    index that starts with an equality column, e.g. one per status for an index on (status,
    sort column, id). The database can walk such an index for one status but not for an IN
    list of them: it would sort every matching row on every page. With partitions each part
    gives at most a page of ids from its index, and only those are sorted.
    """
    if key is None:
        def key(row):
            return [getattr(row, sort_column.key), getattr(row, id_column.key)]

    backwards = False
    if cursor:
        values, backwards = _decode(cursor, sort_column)
        edge = tuple_(sort_column, id_column)
        after = tuple_(*values)
        # Going forward on an ascending order means "greater than the edge", and so on.
        greater = descending == backwards
        stmt = stmt.where(edge > after if greater else edge < after)
    reverse_order = descending != backwards
    ordering = (sort_column.desc(), id_column.desc()) if reverse_order else (sort_column.asc(), id_column.asc())
    if partitions:
        ids = [select(part.c.id).select_from(part) for part in (
            stmt.with_only_columns(id_column.label("id")).where(condition).order_by(*ordering).limit(limit + 1)
            .subquery() for condition in partitions)]
        stmt = stmt.where(id_column.in_(union_all(*ids) if len(ids) > 1 else ids[0]))
    rows = list(db.session.scalars(stmt.order_by(*ordering).limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    next_cursor = prev_cursor = None
    if rows:
        if has_more or backwards:
            next_cursor = _encode(key(rows[-1]), False)
        if cursor and (has_more or not backwards):
            prev_cursor = _encode(key(rows[0]), True)
    return Page(rows, next_cursor, prev_cursor)
