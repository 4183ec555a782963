"""Daily leg statistics: exact per-day aggregates that make measuring years of legs cheap.

Every write of legs keeps them in step in its own transaction, with deltas: it subtracts
the old legs' aggregates before an update or a deletion and adds the written legs'
aggregates after, so a write costs in proportion to its own size, whatever is already
stored for those days. `record_legs` does it by leg ids (`subtract_legs`, `add_legs`), a file
import and `delete_legs` with one set-based statement each (`subtract_legs_where`, and
`add_staged_legs`, which reads the import's staged rows). A key whose legs all left holds
only zeros and is deleted, as a rebuild would have no row for it. On PostgreSQL the writers
of legs take turns (`lock_leg_writers`), so that two deltas never read the same old values.
The statistics are therefore always exactly what a GROUP BY over the legs would give
(tests/incidents/test_stats_property.py checks it after random sequences of writes).
`refresh_day_stats` recomputes given keys from the legs, `rebuild_day_stats` everything
(after a bulk load that bypassed the services).
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
    tuple_,
)

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db import db
from incidents.models import TOLERANCE_CHOICES, Leg, LegDayStat, LegOutcome, StagedLeg

StatKey = tuple[int, str, dt.date]


#: PostgreSQL advisory lock key that serialises the transactions writing legs ("LEGS").
_LEG_WRITERS_LOCK = 0x4C454753


def lock_leg_writers() -> None:
    """Make the current transaction the only one writing legs until it ends, on PostgreSQL.

    The deltas subtract what the legs hold when they are read: two transactions updating the
    same legs at once would each subtract the old values and the statistics would drift.
    SQLite writers already run one at a time (BEGIN IMMEDIATE).
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(_LEG_WRITERS_LOCK)))


def _count(condition):
    return func.sum(case((condition, 1), else_=0))


def _aggregates(source=Leg):
    """Column name → aggregate over legs, in LegDayStat's column order after the key.

    `source` is Leg or StagedLeg (staged rows carry the same columns as the legs they become).
    """
    has_actual = source.actual_at.is_not(None)
    not_lost = or_(source.outcome.is_(None), source.outcome != LegOutcome.LOST.value)
    columns = {
        "legs": func.count(),
        "closed": _count(source.outcome.is_not(None)),
        "lost": _count(source.outcome == LegOutcome.LOST.value),
        "damaged": _count(source.outcome == LegOutcome.DAMAGED.value),
        "completed": _count(source.outcome == LegOutcome.COMPLETED.value),
        "failed_attempt": _count(source.outcome == LegOutcome.FAILED_ATTEMPT.value),
        "with_actual": _count(has_actual),
        "late_seconds": func.coalesce(func.sum(case((and_(has_actual, source.delay_seconds > 0),
                                                     source.delay_seconds), else_=0)), 0),
    }
    for minutes in TOLERANCE_CHOICES:
        columns[f"on_time_{minutes}"] = _count(and_(has_actual, source.delay_seconds <= minutes * 60, not_lost))
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


# Deltas -----------------------------------------------------------------------------------

_KEY = ("supplier_id", "stage", "day", "is_excluded")


def _legs_aggregated(condition) -> list[dict]:
    aggregates = _aggregates()
    stmt = (
        select(Leg.supplier_id, Leg.stage, Leg.promised_day, Leg.is_excluded, *aggregates.values())
        .where(or_(Leg.outcome.is_(None), Leg.outcome != LegOutcome.CANCELLED.value), condition)
        .group_by(Leg.supplier_id, Leg.stage, Leg.promised_day, Leg.is_excluded)
    )
    names = [*_KEY, *aggregates]
    return [dict(zip(names, row)) for row in db.session.execute(stmt)]


def _add(rows: list[dict], sign: int) -> None:
    if not rows:
        return
    counters = [name for name in rows[0] if name not in _KEY]
    for row in rows:
        for name in counters:
            row[name] = sign * int(row[name] or 0)
    dialect = db.session.get_bind().dialect.name
    upsert = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(LegDayStat)
    # Add to the stored counts; a key seen for the first time is inserted as it is.
    statement = upsert.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={name: getattr(LegDayStat, name) + getattr(upsert.excluded, name) for name in counters},
    )
    db.session.execute(statement, rows)


def subtract_legs(leg_ids: list[int]) -> None:
    """Take the given legs, as stored now, out of the statistics (before they change)."""
    for start in range(0, len(leg_ids), 500):
        _add(_legs_aggregated(Leg.id.in_(leg_ids[start:start + 500])), -1)


def add_legs(external_ids: list[str], supplier_ids: set[int]) -> None:
    """Count the given legs, as stored now, into the statistics (after they were written)."""
    for start in range(0, len(external_ids), 500):
        _add(_legs_aggregated(Leg.external_id.in_(external_ids[start:start + 500])), +1)
    # Keys whose legs all moved away or were cancelled hold only zeros: a rebuild has no row.
    ids = sorted(supplier_ids)
    for start in range(0, len(ids), 500):
        db.session.execute(delete(LegDayStat).where(LegDayStat.supplier_id.in_(ids[start:start + 500]),
                                                    LegDayStat.legs == 0))
    db.session.flush()


def _upsert_aggregates(condition, sign: int, source=Leg) -> None:
    """Add (`sign` +1) or subtract (-1) the aggregates of the `source` rows (Leg or
    StagedLeg) matching `condition`, in one INSERT … SELECT … ON CONFLICT DO UPDATE."""
    aggregates = _aggregates(source)
    select_stmt = (
        select(source.supplier_id, source.stage, source.promised_day, source.is_excluded,
               *(aggregate * sign for aggregate in aggregates.values()))
        .where(or_(source.outcome.is_(None), source.outcome != LegOutcome.CANCELLED.value), condition)
        .group_by(source.supplier_id, source.stage, source.promised_day, source.is_excluded)
    )
    dialect = db.session.get_bind().dialect.name
    upsert = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(LegDayStat)
    upsert = upsert.from_select([*_KEY, *aggregates], select_stmt)
    db.session.execute(upsert.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={name: getattr(LegDayStat, name) + getattr(upsert.excluded, name) for name in aggregates},
    ))


def subtract_legs_where(condition) -> None:
    """Take the legs matching `condition`, as stored now, out of the statistics (before they
    change or go), and delete the keys left empty."""
    _upsert_aggregates(condition, -1)
    old_keys = select(Leg.supplier_id, Leg.stage, Leg.promised_day).where(condition)
    db.session.execute(delete(LegDayStat).where(
        LegDayStat.legs == 0, tuple_(LegDayStat.supplier_id, LegDayStat.stage, LegDayStat.day).in_(old_keys)))


def add_legs_where(condition) -> None:
    """Count the legs matching `condition`, as stored now, into the statistics (after they
    were written)."""
    _upsert_aggregates(condition, +1)


def add_staged_legs(batch_id: int) -> None:
    """Count the staged rows of an import into the statistics: the legs they were just
    written as, read from the staging table (a range of its primary key) rather than found
    again among all the legs."""
    _upsert_aggregates(StagedLeg.import_batch_id == batch_id, +1, source=StagedLeg)
