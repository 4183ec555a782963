"""Daily leg statistics: exact per-day aggregates that make measuring years of legs cheap.

`refresh_day_stats` recomputes the rows of the (supplier, stage, day) keys that a write
touched, from the legs themselves, in the same transaction as the write; so the statistics
are always exactly what a GROUP BY over the legs would give. `rebuild_day_stats` recomputes
everything (after a bulk load that bypassed `record_legs`).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import (
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
)

from app.db import db
from incidents.models import TOLERANCE_CHOICES, Leg, LegDayStat, LegOutcome

StatKey = tuple[int, str, dt.date]


def _count(condition):
    return func.sum(case((condition, 1), else_=0))


def _aggregates():
    """Column name → aggregate over legs, in LegDayStat's column order after the key."""
    has_actual = Leg.actual_at.is_not(None)
    not_lost = or_(Leg.outcome.is_(None), Leg.outcome != LegOutcome.LOST.value)
    columns = {
        "legs": func.count(),
        "closed": _count(Leg.outcome.is_not(None)),
        "lost": _count(Leg.outcome == LegOutcome.LOST.value),
        "damaged": _count(Leg.outcome == LegOutcome.DAMAGED.value),
        "completed": _count(Leg.outcome == LegOutcome.COMPLETED.value),
        "failed_attempt": _count(Leg.outcome == LegOutcome.FAILED_ATTEMPT.value),
        "with_actual": _count(has_actual),
        "late_seconds": func.coalesce(func.sum(case((and_(has_actual, Leg.delay_seconds > 0), Leg.delay_seconds),
                                                    else_=0)), 0),
    }
    for minutes in TOLERANCE_CHOICES:
        columns[f"on_time_{minutes}"] = _count(and_(has_actual, Leg.delay_seconds <= minutes * 60, not_lost))
    return columns


def _insert_from_legs(*conditions) -> None:
    aggregates = _aggregates()
    select_stmt = (
        select(Leg.supplier_id, Leg.stage, Leg.promised_day, Leg.is_excluded, *aggregates.values())
        .where(or_(Leg.outcome.is_(None), Leg.outcome != LegOutcome.CANCELLED.value), *conditions)
        .group_by(Leg.supplier_id, Leg.stage, Leg.promised_day, Leg.is_excluded)
    )
    target = ["supplier_id", "stage", "day", "is_excluded", *aggregates]
    db.session.execute(insert(LegDayStat).from_select(target, select_stmt))


#: The keys a write touched, in a temporary table of the connection: two set-based statements
#: then refresh any number of keys.
_touched_keys = Table(
    "touched_stat_keys", MetaData(),
    Column("supplier_id", Integer, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("day", Date, nullable=False),
    prefixes=["TEMPORARY"],
)


def refresh_day_stats(keys: Iterable[StatKey]) -> None:
    """Recompute the statistics of the given (supplier id, stage, day) keys from the legs."""
    keys = set(keys)
    if not keys:
        return
    connection = db.session.connection()
    _touched_keys.create(connection, checkfirst=True)
    connection.execute(delete(_touched_keys))
    connection.execute(insert(_touched_keys), [{"supplier_id": s, "stage": st, "day": d} for s, st, d in keys])
    k = _touched_keys.c
    db.session.execute(delete(LegDayStat).where(exists().where(
        k.supplier_id == LegDayStat.supplier_id, k.stage == LegDayStat.stage, k.day == LegDayStat.day)))
    _insert_from_legs(exists().where(k.supplier_id == Leg.supplier_id, k.stage == Leg.stage,
                                     k.day == Leg.promised_day))
    connection.execute(delete(_touched_keys))
    db.session.flush()


def rebuild_day_stats() -> None:
    """Recompute every statistic (after a bulk load written around `record_legs`)."""
    db.session.execute(delete(LegDayStat))
    _insert_from_legs(literal_column("1") == 1)
    db.session.flush()
