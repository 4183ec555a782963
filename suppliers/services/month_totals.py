"""Monthly sums of the daily statistics, read once for every SLA series measured together.

A ranking, a dashboard or a year of audits measures dozens of SLA series over the same
suppliers and months: one role's default on-time, lost, damage, first-attempt and delay SLAs
all read the same rows of `leg_day_stats`, each with its own GROUP BY. When the periods and
the SLA versions are whole months (monthly and quarterly SLAs whose versions start on a 1st,
as nearly all are), every day of a month is judged by the same version, so a month's sums
are all a series needs: `MonthTotals` reads them once per (supplier, stage, month, exclusion
flag), for every series at once, and `measurement` adds them up per series in Python.

The sums are of the same integers the per-series statements add, so results are identical
(tests/suppliers/test_month_totals.py compares the two on random legs). Only settled months
are read from here for leg metrics, as `measurement._aggregate` reads only settled days from
the daily statistics; the days after are measured as before.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from operator import add

from sqlalchemy import func, select

from app.db import db
from incidents.models import TOLERANCE_CHOICES, IncidentShareDayStat, LegDayStat
from incidents.services.stats import month_of

#: The counters of `LegDayStat` every count metric may need, then the on-time one per tolerance.
BASE_COUNTERS = ("legs", "closed", "lost", "damaged", "completed", "failed_attempt", "with_actual", "late_seconds")
#: Supplier ids per statement (an IN list; both engines take far more, this keeps plans simple).
_CHUNK = 1_000


def _as_date(month) -> dt.date:
    # SQLite gives date(day, 'start of month') back as text.
    return month if isinstance(month, dt.date) else dt.date.fromisoformat(str(month)[:10])


class MonthTotals:
    """Per-month sums of the daily leg and share statistics of `supplier_ids` over the months
    from `first` to `last`, read on first use. Only the on-time counters of `tolerances` are
    summed (each column summed costs about as much as reading the rows)."""

    def __init__(self, supplier_ids, first: dt.date, last: dt.date, tolerances=TOLERANCE_CHOICES):
        self.supplier_ids = sorted(set(supplier_ids))
        self.first = first.replace(day=1)
        self.last = last
        self.counters = (*BASE_COUNTERS, *(f"on_time_{minutes}" for minutes in sorted(set(tolerances))))
        self._index = {name: i for i, name in enumerate(self.counters)}
        self._legs: dict | None = None
        self._shares: dict | None = None

    def covers(self, supplier_ids, first: dt.date, last: dt.date, tolerances=()) -> bool:
        return (self.first <= first and last <= self.last and set(supplier_ids).issubset(self.supplier_ids)
                and all(f"on_time_{minutes}" in self._index for minutes in tolerances))

    def index(self, counter: str) -> int:
        """Where `counter` is in the sums `legs` gives."""
        return self._index[counter]

    def legs(self) -> dict[tuple[int, str | None, dt.date, bool], tuple[int, ...]]:
        """{(supplier id, stage, month, excluded): sums in `counters` order}; stage None
        holds the sums over every stage."""
        if self._legs is None:
            stat = LegDayStat
            month = month_of(stat.day)
            legs = {}
            for ids in self._chunks():
                stmt = (select(stat.supplier_id, stat.stage, month, stat.is_excluded,
                               *(func.sum(getattr(stat, name)) for name in self.counters))
                        .where(stat.supplier_id.in_(ids), stat.day >= self.first, stat.day <= self.last)
                        .group_by(stat.supplier_id, stat.stage, month, stat.is_excluded))
                for supplier_id, stage, day, excluded, *values in db.session.execute(stmt):
                    # PostgreSQL sums a BIGINT column as NUMERIC.
                    legs[(supplier_id, stage, _as_date(day), bool(excluded))] = tuple(map(int, values))
            every_stage: dict = defaultdict(lambda: [0] * len(self.counters))
            for (supplier_id, _, day, excluded), values in legs.items():
                into = every_stage[(supplier_id, None, day, excluded)]
                into[:] = map(add, into, values)
            legs.update((key, tuple(values)) for key, values in every_stage.items())
            self._legs = legs
        return self._legs

    def shares(self) -> dict[tuple[int, dt.date], int]:
        """{(supplier id, month): millionths of incidents attributed to it, by report day}."""
        if self._shares is None:
            stat = IncidentShareDayStat
            month = month_of(stat.day)
            self._shares = {}
            for ids in self._chunks():
                stmt = (select(stat.supplier_id, month, func.sum(stat.shares_millionths))
                        .where(stat.supplier_id.in_(ids), stat.day >= self.first, stat.day <= self.last)
                        .group_by(stat.supplier_id, month))
                for supplier_id, day, total in db.session.execute(stmt):
                    self._shares[(supplier_id, _as_date(day))] = int(total or 0)
        return self._shares

    def _chunks(self):
        for start in range(0, len(self.supplier_ids), _CHUNK):
            yield self.supplier_ids[start:start + _CHUNK]

