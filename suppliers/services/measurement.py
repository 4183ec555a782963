"""Measuring service standards over legs: the numbers every scorecard, audit and penalty uses.

Rules (also in the README glossary):

- A leg belongs to the period, in the company's time zone, that contains its promised time
  (`Leg.promised_day`). Cancelled legs never count; legs flagged force majeure are left out
  by SLAs that honour exclusions.
- Each leg is judged with the tolerance and exclusion rule of the SLA version in force on its
  promised day; legs on days no version covers are not measured. A period's value is compared
  with the target, warning level and penalty of the version in force on the period's last day
  (or, if none is, of the latest version in force during the period).
- A period with fewer legs than the minimum sample is "no_data" (value given if any legs);
  an empty period has no value at all: never 0 % or 100 %.

Everything is aggregated in SQL, no Python loop over legs: per SLA series, one statement over
the daily statistics for settled days and one over the legs of the last days, for all the
suppliers and periods asked. Series measured together (`measure_many`: a supplier's results,
a ranking, the dashboard) whose periods and versions are whole months share one read of the
monthly sums of those statistics (`month_totals.MonthTotals`) for their settled months.
Percentiles read monthly delay histograms (exact to the hundredth of an hour they are shown
in), or rank the legs for weekly SLAs and versions that change mid-month. Incidents per 1,000 legs read daily statistics of attributed shares.
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Integer, and_, bindparam, case, cast, func, literal, or_, select
from sqlalchemy.orm import aliased

from app.db import UTCDateTime, db, utcnow
from app.i18n import company_zone
from incidents.models import (
    DELAY_BUCKET_SECONDS,
    Incident,
    IncidentShareDayStat,
    Leg,
    LegDayStat,
    LegDelayMonthStat,
    LegOutcome,
)
from incidents.services.share_stats import MILLION, current_shares_select
from suppliers.metrics import METRICS
from suppliers.models import Comparator, MeasurementWindow, PenaltyKind, ServiceStandard
from suppliers.services.month_totals import MonthTotals

RATE_PLACES = Decimal("0.000001")
HOUR_PLACES = Decimal("0.01")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Period:
    key: str
    start: dt.date
    end: dt.date  # inclusive


@dataclass
class SlaResult:
    standard: ServiceStandard  # the version whose target applies to this period
    supplier_id: int
    period: Period
    value: Decimal | None
    sample_size: int
    status: str  # met, warning, breached, no_data
    penalty: Decimal

    @property
    def metric(self) -> str:
        return self.standard.metric


# Periods --------------------------------------------------------------------------------

def parse_month(text: str) -> dt.date:
    """'2026-03' → 2026-03-01. Raises ValueError otherwise."""
    year, month = text.split("-")
    if len(year) != 4 or len(month) != 2:
        raise ValueError(text)
    return dt.date(int(year), int(month), 1)


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def periods_between(window: str, first: dt.date, last: dt.date) -> list[Period]:
    """The periods of `window` that start within [first, last] (months and quarters: that
    contain `first` onwards; weeks: ISO weeks whose Monday falls in the span)."""
    periods: list[Period] = []
    if window == MeasurementWindow.MONTH:
        day = first.replace(day=1)
        while day <= last:
            periods.append(Period(f"{day:%Y-%m}", day, _month_end(day)))
            day = _month_end(day) + dt.timedelta(days=1)
    elif window == MeasurementWindow.QUARTER:
        day = first.replace(month=3 * ((first.month - 1) // 3) + 1, day=1)
        while day <= last:
            end_month = day.replace(month=day.month + 2)
            periods.append(Period(f"{day.year}-Q{(day.month - 1) // 3 + 1}", day, _month_end(end_month)))
            day = _month_end(end_month) + dt.timedelta(days=1)
    elif window == MeasurementWindow.WEEK:
        day = first + dt.timedelta(days=(7 - first.weekday()) % 7)
        while day <= last:
            year, week, _ = day.isocalendar()
            periods.append(Period(f"{year}-W{week:02d}", day, day + dt.timedelta(days=6)))
            day += dt.timedelta(days=7)
    else:
        raise ValueError(f"unknown window {window!r}")
    return periods


def month_span(from_month: str, to_month: str) -> tuple[dt.date, dt.date]:
    first = parse_month(from_month)
    last = _month_end(parse_month(to_month))
    if first > last:
        raise ValueError("start after end")
    return first, last


# Judging a period -----------------------------------------------------------------------

def _quantize(metric_unit: str, value: Decimal) -> Decimal:
    """Rates to 6 places (0.0001 %), hours, counts and scores to 2."""
    return value.quantize(RATE_PLACES if metric_unit == "rate" else HOUR_PLACES, rounding=ROUND_HALF_UP)


NO_PENALTY = Decimal("0.00")


class Judge:
    """Status and penalty of a period's value under one SLA version, its terms read once (a
    ranking judges thousands of periods by the same version).

    met: the value meets the target and the warning level; warning: it meets the target but
    not the warning level (at risk); breached: it misses the target (the penalty applies).
    """

    def __init__(self, standard: ServiceStandard):
        self.standard = standard
        self.min_sample = standard.min_sample
        self.target = Decimal(standard.target)
        self.at_least = standard.comparator == Comparator.AT_LEAST
        warning = standard.warning_threshold
        self.warning = None if warning is None else Decimal(warning)

    def _meets(self, value: Decimal, level: Decimal) -> bool:
        return value >= level if self.at_least else value <= level

    def __call__(self, value: Decimal | None, sample_size: int) -> tuple[str, Decimal]:
        if value is None or sample_size < self.min_sample:
            return "no_data", NO_PENALTY
        if self._meets(value, self.target):
            if self.warning is not None and not self._meets(value, self.warning):
                return "warning", NO_PENALTY
            return "met", NO_PENALTY
        return "breached", penalty_for(self.standard, value)


def penalty_for(standard: ServiceStandard, value: Decimal) -> Decimal:
    """The penalty of a breached period, rounded half-up to the cent.

    Per-unit penalties count percentage points beyond target for rates, hours for durations.
    """
    kind = standard.penalty_kind
    amount = Decimal(standard.penalty_amount or 0)
    if kind == PenaltyKind.FIXED:
        due = amount
    elif kind == PenaltyKind.PER_UNIT:
        gap = abs(value - Decimal(standard.target))
        if METRICS[standard.metric].unit == "rate":
            gap *= 100
        due = amount * gap
    else:
        return NO_PENALTY
    if standard.penalty_cap is not None:
        due = min(due, Decimal(standard.penalty_cap))
    return due.quantize(CENT, rounding=ROUND_HALF_UP)


def version_for_period(versions: list[ServiceStandard], period: Period) -> ServiceStandard | None:
    in_force_at_end = [v for v in versions if v.is_in_force_on(period.end)]
    if in_force_at_end:
        return max(in_force_at_end, key=lambda v: v.version)
    overlapping = [v for v in versions
                   if v.valid_from <= period.end and (v.valid_to is None or v.valid_to >= period.start)]
    return max(overlapping, key=lambda v: v.version) if overlapping else None


# SQL aggregation ------------------------------------------------------------------------
#
# Count metrics read the daily statistics (incidents.models.LegDayStat) for days whose open
# legs are all decided, and the legs themselves for the last few days; both give exactly the
# numbers a GROUP BY over the legs would. The percentile reads the legs.

def _version_case(day, versions, value_of, *, else_=None, type_=None):
    """CASE over a day column choosing a value (a literal or a column) per SLA version."""
    whens = []
    for v in versions:
        condition = day >= v.valid_from
        if v.valid_to is not None:
            condition = and_(condition, day <= v.valid_to)
        value = value_of(v)
        if not hasattr(value, "__clause_element__") and not hasattr(value, "compile"):
            value = bindparam(None, value, type_=type_)
        whens.append((condition, value))
    return case(*whens, else_=else_)


def _covered(day, versions):
    return or_(*[and_(day >= v.valid_from, day <= (v.valid_to or dt.date.max)) for v in versions])


def _period_index(day, periods: list[Period]):
    return case(*[(day <= p.end, literal(i)) for i, p in enumerate(periods)], else_=literal(-1))


def _common_filter(model, day, versions, supplier_ids, first_day, last_day, stage):
    honours = _version_case(day, versions, lambda v: 1 if v.honours_exclusions else 0, else_=0, type_=Integer)
    conditions = [
        model.supplier_id.in_(supplier_ids), day >= first_day, day <= last_day, _covered(day, versions),
        or_(model.is_excluded.is_(False), honours == 0),
    ]
    if stage:
        conditions.append(model.stage == stage)
    return conditions


def _leg_filter(versions, supplier_ids, first_day, last_day, stage):
    return [*_common_filter(Leg, Leg.promised_day, versions, supplier_ids, first_day, last_day, stage),
            or_(Leg.outcome.is_(None), Leg.outcome != LegOutcome.CANCELLED.value)]


def _count(condition):
    return func.sum(case((condition, 1), else_=0))


def _from_legs(metric: str, versions, supplier_ids, periods, first_day, last_day, now):
    """(supplier_id, period index, numerator, sample) rows computed from the legs."""
    day = Leg.promised_day
    index = _period_index(day, periods).label("period_index")
    if metric == "on_time_rate":
        tolerance = _version_case(day, versions, lambda v: v.tolerance_minutes * 60, else_=0, type_=Integer)
        cutoff = _version_case(day, versions, lambda v: now - dt.timedelta(minutes=v.tolerance_minutes),
                               type_=UTCDateTime())
        on_time = and_(Leg.actual_at.is_not(None), Leg.delay_seconds <= tolerance,
                       or_(Leg.outcome.is_(None), Leg.outcome != LegOutcome.LOST.value))
        decided = or_(Leg.actual_at.is_not(None), Leg.outcome == LegOutcome.LOST.value,
                      Leg.promised_at < cutoff)
        numerator, sample = _count(on_time), _count(decided)
    elif metric in ("lost_rate", "damage_rate"):
        wanted = LegOutcome.LOST.value if metric == "lost_rate" else LegOutcome.DAMAGED.value
        numerator, sample = _count(Leg.outcome == wanted), _count(Leg.outcome.is_not(None))
    elif metric == "first_attempt_rate":
        finished = Leg.outcome.in_([LegOutcome.COMPLETED.value, LegOutcome.FAILED_ATTEMPT.value])
        numerator, sample = _count(Leg.outcome == LegOutcome.COMPLETED.value), _count(finished)
    elif metric == "mean_delay_hours":
        has_actual = Leg.actual_at.is_not(None)
        numerator = func.sum(case((and_(has_actual, Leg.delay_seconds > 0), Leg.delay_seconds), else_=0))
        sample = _count(has_actual)
    else:
        raise ValueError(metric)
    stmt = (select(Leg.supplier_id, index, numerator, sample)
            .where(*_leg_filter(versions, supplier_ids, first_day, last_day, versions[0].stage))
            .group_by(Leg.supplier_id, index))
    return db.session.execute(stmt).all()


def _from_day_stats(metric: str, versions, supplier_ids, periods, first_day, last_day):
    """The same rows from the daily statistics, for days whose open legs are all decided."""
    stat = LegDayStat
    day = stat.day
    index = _period_index(day, periods).label("period_index")
    if metric == "on_time_rate":
        # Every leg of these days is decided: open ones are past promise + tolerance.
        numerator = func.sum(_version_case(day, versions, lambda v: getattr(stat, f"on_time_{v.tolerance_minutes}"),
                                           else_=0))
        sample = func.sum(stat.legs)
    elif metric == "lost_rate":
        numerator, sample = func.sum(stat.lost), func.sum(stat.closed)
    elif metric == "damage_rate":
        numerator, sample = func.sum(stat.damaged), func.sum(stat.closed)
    elif metric == "first_attempt_rate":
        numerator, sample = func.sum(stat.completed), func.sum(stat.completed + stat.failed_attempt)
    elif metric == "mean_delay_hours":
        numerator, sample = func.sum(stat.late_seconds), func.sum(stat.with_actual)
    else:
        raise ValueError(metric)
    stmt = (select(stat.supplier_id, index, numerator, sample)
            .where(*_common_filter(stat, day, versions, supplier_ids, first_day, last_day, versions[0].stage))
            .group_by(stat.supplier_id, index))
    return db.session.execute(stmt).all()


def _aggregate(metric: str, versions, supplier_ids, periods, now, zone, months=None):
    """{(supplier_id, period index): [numerator, sample]} for a count-based metric."""
    # Days before the one containing now − the longest tolerance have every open leg decided.
    longest = max(v.tolerance_minutes for v in versions)
    cutoff_day = (now - dt.timedelta(minutes=longest)).astimezone(zone).date()
    first_day, last_day = periods[0].start, periods[-1].end
    totals: dict[tuple[int, int], list[int]] = {}
    tolerances = [v.tolerance_minutes for v in versions] if metric == "on_time_rate" else []
    if (months is not None and _whole_months(versions, periods)
            and months.covers(supplier_ids, first_day, last_day, tolerances)):
        first_day = _add_settled_months(totals, metric, versions, supplier_ids, periods, cutoff_day, months)
    parts = []
    if first_day <= min(last_day, cutoff_day - dt.timedelta(days=1)):
        parts.append(_from_day_stats(metric, versions, supplier_ids, periods, first_day,
                                     min(last_day, cutoff_day - dt.timedelta(days=1))))
    if last_day >= cutoff_day:
        parts.append(_from_legs(metric, versions, supplier_ids, periods, max(first_day, cutoff_day), last_day, now))
    for rows in parts:
        for supplier_id, i, numerator, sample in rows:
            entry = totals.setdefault((supplier_id, i), [0, 0])
            entry[0] += int(numerator or 0)
            entry[1] += int(sample or 0)
    return totals


# The same sums from whole months read once for many series (month_totals.MonthTotals) -------

#: Counters (numerator, denominators) of `LegDayStat` per metric; on-time's numerator depends
#: on the version's tolerance, and every leg of a settled day is decided.
_MONTH_FRACTIONS = {
    "lost_rate": ("lost", ("closed",)),
    "damage_rate": ("damaged", ("closed",)),
    "first_attempt_rate": ("completed", ("completed", "failed_attempt")),
    "mean_delay_hours": ("late_seconds", ("with_actual",)),
}


def _months_in(period: Period) -> list[dt.date]:
    months, month = [], period.start.replace(day=1)
    while month <= period.end:
        months.append(month)
        month = _month_end(month) + dt.timedelta(days=1)
    return months


def _version_on(versions, day: dt.date) -> ServiceStandard | None:
    """The version that judges a day's legs: the first in version order that covers it, as
    `_version_case` picks in SQL."""
    return next((v for v in versions if v.is_in_force_on(day)), None)


def _add_settled_months(totals, metric: str, versions, supplier_ids, periods, cutoff_day: dt.date,
                        months: MonthTotals) -> dt.date:
    """Add to `totals` the months of `periods` that end before `cutoff_day`, from the month
    sums (periods and versions are whole months, so one version judges each month); the
    first day left to measure."""
    sums = months.legs()
    stage = versions[0].stage or None
    for i, period in enumerate(periods):
        for month in _months_in(period):
            if _month_end(month) >= cutoff_day:
                return month
            version = _version_on(versions, month)
            if version is None:
                continue
            if metric == "on_time_rate":
                numerator, denominators = f"on_time_{version.tolerance_minutes}", ("legs",)
            else:
                numerator, denominators = _MONTH_FRACTIONS[metric]
            top, bottoms = months.index(numerator), [months.index(name) for name in denominators]
            flags = (False,) if version.honours_exclusions else (False, True)
            for supplier_id in supplier_ids:
                for excluded in flags:
                    row = sums.get((supplier_id, stage, month, excluded))
                    if row is not None:
                        entry = totals.setdefault((supplier_id, i), [0, 0])
                        entry[0] += row[top]
                        entry[1] += sum(row[b] for b in bottoms)
    return periods[-1].end + dt.timedelta(days=1)


def _incidents_per_1000_from_months(versions, supplier_ids, periods, months: MonthTotals):
    """`_incidents_per_1000_totals` from the month sums (periods and versions whole months)."""
    legs, shares = months.legs(), months.shares()
    legs_at = months.index("legs")
    totals: dict[tuple[int, int], list] = {}
    carried: dict[tuple[int, int], int] = {}
    for i, period in enumerate(periods):
        for month in _months_in(period):
            covered = _version_on(versions, month) is not None
            for supplier_id in supplier_ids:
                for excluded in (False, True):
                    row = legs.get((supplier_id, None, month, excluded))
                    if row is not None:
                        totals.setdefault((supplier_id, i), [None, None, 0])[2] += row[legs_at]
                if covered:
                    carried[(supplier_id, i)] = carried.get((supplier_id, i), 0) + shares.get((supplier_id, month), 0)
    for key, entry in totals.items():
        entry[0] = Decimal(carried.get(key, 0)) / MILLION
    return totals


# Incident metrics ---------------------------------------------------------------------------
#
# An incident counts for a supplier with the share the incident's current attribution (its
# latest decision) gives it: an incident shared 70/30 between a seller and a carrier is 0.7 of
# an incident for the seller. Weighted means use the shares as weights; the sample is the
# number of incidents.

def _current_shares():
    """(incident id, supplier id, share) of every incident's latest attribution decision."""
    return current_shares_select().subquery()


def _incident_totals(metric: str, versions, supplier_ids, periods, months=None) -> dict[tuple[int, int], list]:
    """{(supplier_id, period index): [numerator, weight, sample]} for an incident metric."""
    if metric == "incidents_per_1000":
        if (months is not None and _whole_months(versions, periods)
                and months.covers(supplier_ids, periods[0].start, periods[-1].end)):
            return _incidents_per_1000_from_months(versions, supplier_ids, periods, months)
        return _incidents_per_1000_totals(versions, supplier_ids, periods)
    shares = _current_shares()
    day = Incident.reported_day
    index = _period_index(day, periods).label("period_index")
    weight = shares.c.share
    value_column, present = {
        "first_response_hours": (Incident.first_response_seconds, Incident.first_response_seconds.is_not(None)),
        "resolution_hours": (Incident.resolution_seconds, Incident.resolution_seconds.is_not(None)),
        "csat_avg": (Incident.csat, Incident.csat.is_not(None)),
    }[metric]
    stmt = (select(shares.c.supplier_id, index, func.sum(weight * value_column), func.sum(weight), func.count())
            .select_from(shares).join(Incident, Incident.id == shares.c.incident_id)
            .where(shares.c.supplier_id.in_(supplier_ids), day >= periods[0].start, day <= periods[-1].end,
                   _covered(day, versions), present)
            .group_by(shares.c.supplier_id, index))
    return {(s, i): [Decimal(str(n or 0)), Decimal(str(w or 0)), int(c)] for s, i, n, w, c in db.session.execute(stmt)}


def _incidents_per_1000_totals(versions, supplier_ids, periods) -> dict[tuple[int, int], list]:
    """{(supplier_id, period index): [shares carried, None, counted legs]}: the shares of the
    incidents reported in the period over the supplier's legs (every stage) promised in it,
    both read from daily statistics kept as decisions and legs are written."""
    first, last = periods[0].start, periods[-1].end
    shares_stat, legs_stat = IncidentShareDayStat, LegDayStat
    share_index = _period_index(shares_stat.day, periods).label("period_index")
    carried = (select(shares_stat.supplier_id, share_index, func.sum(shares_stat.shares_millionths))
               .where(shares_stat.supplier_id.in_(supplier_ids), shares_stat.day >= first,
                      shares_stat.day <= last, _covered(shares_stat.day, versions))
               .group_by(shares_stat.supplier_id, share_index))
    shares = {(s, i): Decimal(int(total or 0)) / MILLION for s, i, total in db.session.execute(carried)}
    leg_index = _period_index(legs_stat.day, periods).label("period_index")
    legs = (select(legs_stat.supplier_id, leg_index, func.sum(legs_stat.legs))
            .where(legs_stat.supplier_id.in_(supplier_ids), legs_stat.day >= first, legs_stat.day <= last)
            .group_by(legs_stat.supplier_id, leg_index))
    return {(s, i): [shares.get((s, i), Decimal(0)), None, int(n or 0)] for s, i, n in db.session.execute(legs)}


def _incident_values(metric: str, totals) -> dict[tuple[int, int], tuple[Decimal | None, int]]:
    measured = {}
    for key, (numerator, weight, sample) in totals.items():
        if sample == 0:
            measured[key] = (None, 0)
        elif metric == "incidents_per_1000":
            measured[key] = (numerator * 1000 / sample, sample)
        elif not weight:
            measured[key] = (None, 0)
        elif metric == "csat_avg":
            measured[key] = (numerator / weight, sample)
        else:
            measured[key] = (numerator / weight / 3600, sample)
    return measured


def _percentile_rows(versions, supplier_ids, periods, percent: int = 95):
    """(supplier_id, period index, nearest-rank percentile delay in seconds, sample).

    Read from the monthly delay histograms when the periods and the SLA versions are whole
    months (always so for monthly and quarterly SLAs whose versions start on a 1st), else
    by ranking the legs themselves."""
    if _whole_months(versions, periods):
        return _percentile_from_histograms(versions, supplier_ids, periods, percent)
    return _percentile_from_legs(versions, supplier_ids, periods, percent)


def _whole_months(versions, periods) -> bool:
    return (all(p.start.day == 1 and p.end == _month_end(p.end) for p in periods)
            and all(v.valid_from.day == 1 and (v.valid_to is None or v.valid_to == _month_end(v.valid_to))
                    for v in versions))


def _nearest_rank(sample, percent: int):
    # ⌈p × n / 100⌉ in integer arithmetic, the same on both engines.
    return (sample * percent + 99) // 100


def _percentile_from_legs(versions, supplier_ids, periods, percent: int):
    index = _period_index(Leg.promised_day, periods)
    late_seconds = case((Leg.delay_seconds > 0, Leg.delay_seconds), else_=0)
    ranked = (
        select(
            Leg.supplier_id.label("supplier_id"), index.label("period_index"), late_seconds.label("delay"),
            func.row_number().over(partition_by=(Leg.supplier_id, index), order_by=late_seconds).label("position"),
            func.count().over(partition_by=(Leg.supplier_id, index)).label("sample"),
        )
        .where(*_leg_filter(versions, supplier_ids, periods[0].start, periods[-1].end, versions[0].stage),
               Leg.actual_at.is_not(None))
        .subquery()
    )
    r = aliased(ranked)
    stmt = select(r.c.supplier_id, r.c.period_index, r.c.delay, r.c.sample).where(
        r.c.position == _nearest_rank(r.c.sample, percent))
    return db.session.execute(stmt).all()


def _percentile_from_histograms(versions, supplier_ids, periods, percent: int):
    """The same rows from `LegDelayMonthStat`: the first delay bucket whose running count
    reaches the nearest rank. Its lowest delay stands for the bucket: every delay in it shows
    as the same hours to two places (see DELAY_BUCKET_SECONDS)."""
    stat = LegDelayMonthStat
    index = _period_index(stat.month, periods).label("period_index")
    counts = (select(stat.supplier_id, index, stat.delay_bucket, func.sum(stat.legs).label("legs"))
              .where(*_common_filter(stat, stat.month, versions, supplier_ids, periods[0].start, periods[-1].end,
                                     versions[0].stage))
              .group_by(stat.supplier_id, index, stat.delay_bucket)
              .subquery())
    partition = (counts.c.supplier_id, counts.c.period_index)
    running = select(
        counts.c.supplier_id, counts.c.period_index, counts.c.delay_bucket,
        cast(func.sum(counts.c.legs).over(partition_by=partition, order_by=counts.c.delay_bucket),
             BigInteger).label("running"),
        cast(func.sum(counts.c.legs).over(partition_by=partition), BigInteger).label("sample"),
    ).subquery()
    stmt = (select(running.c.supplier_id, running.c.period_index, func.min(running.c.delay_bucket),
                   func.max(running.c.sample))
            .where(running.c.running >= _nearest_rank(running.c.sample, percent))
            .group_by(running.c.supplier_id, running.c.period_index))
    return [(s, i, bucket * DELAY_BUCKET_SECONDS, int(n)) for s, i, bucket, n in db.session.execute(stmt)]


def measure_series(versions: list[ServiceStandard], supplier_ids: list[int], periods: list[Period],
                   now: dt.datetime | None = None, zone: ZoneInfo | None = None,
                   months: MonthTotals | None = None) -> list[SlaResult]:
    """Results of one SLA (all versions of one series) for suppliers and periods; `months`,
    shared by the series measured together, gives the sums of whole months (`measure_many`)."""
    if not versions or not supplier_ids or not periods:
        return []
    now = now or utcnow()
    metric = METRICS[versions[0].metric]
    versions = sorted(versions, key=lambda v: v.version)
    if metric.source == "incidents":
        measured = _incident_values(metric.code, _incident_totals(metric.code, versions, supplier_ids, periods, months))
    elif metric.code == "p95_delay_hours":
        rows = _percentile_rows(versions, supplier_ids, periods)
        measured = {(s, i): (Decimal(delay) / 3600, n) for s, i, delay, n in rows}
    else:
        totals = _aggregate(metric.code, versions, supplier_ids, periods, now, zone or company_zone(), months)
        measured = {}
        for (supplier_id, i), (numerator, sample) in totals.items():
            if sample == 0:
                measured[(supplier_id, i)] = (None, 0)
            elif metric.code == "mean_delay_hours":
                measured[(supplier_id, i)] = (Decimal(numerator) / sample / 3600, sample)
            else:
                measured[(supplier_id, i)] = (Decimal(numerator) / Decimal(sample), sample)
    results = []
    in_force = [(i, period, version, Judge(version)) for i, period in enumerate(periods)
                if (version := version_for_period(versions, period)) is not None]
    for supplier_id in supplier_ids:
        for i, period, version, judge in in_force:
            value, sample = measured.get((supplier_id, i), (None, 0))
            if value is not None:
                value = _quantize(metric.unit, value)
            status, penalty = judge(value, sample)
            results.append(SlaResult(version, supplier_id, period, value, sample, status, penalty))
    return results


def supplier_results(supplier, first: dt.date, last: dt.date, now: dt.datetime | None = None) -> list[SlaResult]:
    """Every SLA that applies to the supplier, measured over the periods of [first, last]."""
    return suppliers_results([supplier], first, last, now)


def suppliers_results(suppliers, first: dt.date, last: dt.date,
                      now: dt.datetime | None = None) -> list[SlaResult]:
    """`supplier_results` of several suppliers, each SLA series measured once for all the
    suppliers it applies to (one statement per series, not one per series and supplier)."""
    from suppliers.services.standards import series_for_supplier

    plan: dict[int, tuple[list[ServiceStandard], list[int]]] = {}
    for supplier in suppliers:
        for versions in series_for_supplier(supplier):
            if METRICS[versions[0].metric].is_available:
                plan.setdefault(versions[0].series_id, (versions, []))[1].append(supplier.id)
    return measure_many(list(plan.values()), first, last, now)


def measure_many(series: list[tuple[list[ServiceStandard], list[int]]], first: dt.date, last: dt.date,
                 now: dt.datetime | None = None) -> list[SlaResult]:
    """Results of several SLA series, each (versions, supplier ids it applies to), over the
    periods of [first, last] of its window. Whole months are read once for all the series
    (`MonthTotals`); the rest series by series."""
    now = now or utcnow()
    zone = company_zone()
    measured = [(versions, ids, periods_between(versions[0].window, first, last)) for versions, ids in series]
    months = shared_months(measured)
    results = []
    for versions, ids, periods in measured:
        results.extend(measure_series(versions, ids, periods, now, zone, months))
    return results


def shared_months(measured) -> MonthTotals | None:
    """The month sums that series [(versions, supplier ids, periods)] measured together share:
    every supplier, the months from the first period's start to the last one's end, and the
    on-time tolerances they judge by. Read only when a series first needs them."""
    spans = [(periods[0].start, periods[-1].end) for _, _, periods in measured if periods]
    if not spans:
        return None
    tolerances = {v.tolerance_minutes for versions, _, _ in measured if versions[0].metric == "on_time_rate"
                  for v in versions}
    return MonthTotals({i for _, ids, _ in measured for i in ids},
                       min(start for start, _ in spans), max(end for _, end in spans), tolerances)
