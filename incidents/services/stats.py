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
`rebuild_day_stats` recomputes everything (after a bulk load that bypassed the services).

The same writes keep the monthly delay histograms (`LegDelayMonthStat`) that percentile SLAs
read: legs per supplier, stage, month and 18-second delay bucket, by the same deltas.
"""
from __future__ import annotations

from sqlalchemy import (
    Date,
    Integer,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
)
from app.db import adding_upsert, db
from incidents.models import (
    DELAY_BUCKET_SECONDS,
    TOLERANCE_CHOICES,
    Leg,
    LegDayStat,
    LegDelayMonthStat,
    LegOutcome,
    StagedLeg,
)

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


def rebuild_day_stats() -> None:
    """Recompute every statistic, daily counts and monthly delays (after a bulk load written
    around `record_legs`)."""
    db.session.execute(delete(LegDayStat))
    _insert_from_legs(literal_column("1") == 1)
    db.session.execute(delete(LegDelayMonthStat))
    # A plain INSERT into the emptied table: several times faster than upserting each bucket.
    db.session.execute(insert(LegDelayMonthStat).from_select(
        [*_DELAY_KEY, "legs"], _delays_select(literal_column("1") == 1, +1)))
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
    # Add to the stored counts; a key seen for the first time is inserted as it is.
    db.session.execute(adding_upsert(LegDayStat, list(_KEY), counters), rows)


def subtract_legs(leg_ids: list[int]) -> None:
    """Take the given legs, as stored now, out of the statistics (before they change)."""
    for start in range(0, len(leg_ids), 500):
        chunk = Leg.id.in_(leg_ids[start:start + 500])
        _add(_legs_aggregated(chunk), -1)
        _subtract_delays(chunk)


def add_legs(external_ids: list[str], supplier_ids: set[int]) -> None:
    """Count the given legs, as stored now, into the statistics (after they were written)."""
    for start in range(0, len(external_ids), 500):
        chunk = Leg.external_id.in_(external_ids[start:start + 500])
        _add(_legs_aggregated(chunk), +1)
        _upsert_delays(chunk, +1)
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
    db.session.execute(adding_upsert(LegDayStat, list(_KEY), list(aggregates), from_select=select_stmt))


def subtract_legs_where(condition) -> None:
    """Take the legs matching `condition`, as stored now, out of the statistics (before they
    change or go), and delete the keys left empty."""
    _upsert_aggregates(condition, -1)
    old_keys = select(Leg.supplier_id, Leg.stage, Leg.promised_day).where(condition)
    db.session.execute(delete(LegDayStat).where(
        LegDayStat.legs == 0, tuple_(LegDayStat.supplier_id, LegDayStat.stage, LegDayStat.day).in_(old_keys)))
    _subtract_delays(condition)


def add_legs_where(condition) -> None:
    """Count the legs matching `condition`, as stored now, into the statistics (after they
    were written)."""
    _upsert_aggregates(condition, +1)
    _upsert_delays(condition, +1)


def add_staged_legs(batch_id: int) -> None:
    """Count the staged rows of an import into the statistics: the legs they were just
    written as, read from the staging table (a range of its primary key) rather than found
    again among all the legs."""
    _upsert_aggregates(StagedLeg.import_batch_id == batch_id, +1, source=StagedLeg)
    _upsert_delays(StagedLeg.import_batch_id == batch_id, +1, source=StagedLeg)


# Monthly delay histograms --------------------------------------------------------------------
#
# Constants are written into the SQL rather than bound: PostgreSQL only accepts a grouped
# expression in the select list if it is the GROUP BY's own, parameters included.

def month_of(day):
    """The first day of the month of a date column, in SQL."""
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc(literal_column("'month'"), day), Date)
    return func.date(day, literal_column("'start of month'"))


def delay_bucket(source=Leg):
    """max(delay, 0) // DELAY_BUCKET_SECONDS of a leg, in SQL."""
    width = literal_column(str(DELAY_BUCKET_SECONDS), Integer)
    return case((source.delay_seconds > literal_column("0"), source.delay_seconds // width),
                else_=literal_column("0"))


_DELAY_KEY = ("supplier_id", "stage", "month", "is_excluded", "delay_bucket")


def _delays_select(condition, sign: int, source=Leg):
    """(key…, legs × `sign`) of the `source` rows matching `condition`, per histogram bucket."""
    month, bucket = month_of(source.promised_day), delay_bucket(source)
    return (
        select(source.supplier_id, source.stage, month, source.is_excluded, bucket,
               func.count() * literal_column(str(sign)))
        .where(or_(source.outcome.is_(None), source.outcome != LegOutcome.CANCELLED.value),
               source.actual_at.is_not(None), condition)
        .group_by(source.supplier_id, source.stage, month, source.is_excluded, bucket)
    )


def _upsert_delays(condition, sign: int, source=Leg) -> None:
    """Add (`sign` +1) or subtract (-1) the `source` rows matching `condition` to the monthly
    delay histograms, in one INSERT … SELECT … ON CONFLICT DO UPDATE."""
    db.session.execute(adding_upsert(LegDelayMonthStat, list(_DELAY_KEY), ["legs"],
                                     from_select=_delays_select(condition, sign, source)))


def _subtract_delays(condition) -> None:
    """Take the legs matching `condition` out of the delay histograms and delete the buckets
    left empty (a rebuild has no row for them)."""
    _upsert_delays(condition, -1)
    stat = LegDelayMonthStat
    old_months = select(Leg.supplier_id, Leg.stage, month_of(Leg.promised_day)).where(condition)
    db.session.execute(delete(stat).where(stat.legs == 0,
                                          tuple_(stat.supplier_id, stat.stage, stat.month).in_(old_months)))
