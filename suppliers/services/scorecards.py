"""Scorecards and rankings: SLA results gathered for reading, never written.

- A supplier's **scorecard** shows each SLA that applies to it (its own and the defaults of its
  chain roles it does not override) over its last periods, ending with the period that
  contains the given day (which is still running). Weekly and monthly SLAs show the last
  `periods` weeks or months; quarterly SLAs the last ⌈periods / 3⌉ quarters, at least 4, so
  that `periods=12` covers a year whatever the window. Each SLA is shown in the window of its
  latest version.
- A chain role's **ranking** orders the role's suppliers by their weighted SLA attainment
  score (README glossary, "attainment score"):

      score = Σ(wᵢ · aᵢ) / Σ wᵢ

  over the supplier's SLAs that have at least one period with enough data in the span, where
  aᵢ = periods in which the target was met (status met or warning) ÷ periods with enough data
  (met, warning or breached), and wᵢ is the weight of the SLA's latest version measured in the
  span. The SLAs counted are the supplier's own and this role's defaults that its own do not
  override (same metric and stage). Suppliers with no such SLA rank last, as "no data".

Results come from `measurement.measure_series`: one SQL aggregation per role-default series
for all the role's suppliers at once, plus one per supplier-owned series; the settled whole
months of all of them are read once (`measurement.shared_months`).
"""
from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.db import db
from suppliers.metrics import METRICS, Metric
from suppliers.models import MeasurementWindow, ServiceStandard, Supplier, SupplierChainRole
from suppliers.services.measurement import Period, SlaResult, measure_series, periods_between, shared_months
from suppliers.services.standards import series_for_role, series_for_supplier

#: The word and colour of each period status, the same on every page (green / yellow / red /
#: grey); "not_agreed" marks a period no version of the SLA covers.
RESULT_STATUS_LABELS = {
    "met": _l("Met"),
    "warning": _l("Warning"),
    "breached": _l("Breached"),
    "no_data": _l("Not enough data"),
    "not_agreed": _l("No SLA in force"),
}
RESULT_STATUS_COLOURS = {
    "met": "success",
    "warning": "warning",
    "breached": "danger",
    "no_data": "secondary",
    "not_agreed": "light",
}
#: Statuses in which the target was met.
ATTAINED = frozenset({"met", "warning"})
#: Statuses of a period with enough data to judge.
JUDGED = frozenset({"met", "warning", "breached"})

#: The most suppliers a ranking measures; beyond it the page says the list is cut.
RANKING_LIMIT = 20_000
SCORE_PLACES = Decimal("0.000001")
ZERO = Decimal("0.00")


# Spans ----------------------------------------------------------------------------------

def _shift_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month `months` after (negative: before) the month of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def last_periods(window: str, last_day: dt.date, count: int) -> list[Period]:
    """The `count` periods of `window` ending with the one that contains `last_day`."""
    if window == MeasurementWindow.WEEK:
        monday = last_day - dt.timedelta(days=last_day.weekday())
        first = monday - dt.timedelta(weeks=count - 1)
    elif window == MeasurementWindow.QUARTER:
        quarter_start = dt.date(last_day.year, 3 * ((last_day.month - 1) // 3) + 1, 1)
        first = _shift_months(quarter_start, -3 * (count - 1))
    else:
        first = _shift_months(last_day, -(count - 1))
    return periods_between(window, first, last_day)


def periods_shown(window: str, periods: int) -> int:
    """How many periods of `window` a scorecard of `periods` shows (see the module docstring)."""
    if window == MeasurementWindow.QUARTER:
        return max(4, math.ceil(periods / 3))
    return periods


def month_span_ending(last_day: dt.date, months: int) -> tuple[dt.date, dt.date]:
    """(first day of the month `months - 1` before `last_day`'s, `last_day`): the last
    `months` calendar months, the current one included."""
    return _shift_months(last_day, -(months - 1)), last_day


# Scorecard ------------------------------------------------------------------------------

@dataclass
class ScorecardCell:
    """One period of one SLA on a scorecard."""

    period: Period
    #: None when no version of the SLA covered the period.
    result: SlaResult | None
    #: The period contains the scorecard's last day: it is still running.
    is_running: bool = False

    @property
    def label(self) -> str:
        return self.period.key

    @property
    def status(self) -> str:
        return self.result.status if self.result else "not_agreed"

    @property
    def value(self) -> Decimal | None:
        return self.result.value if self.result else None

    @property
    def sample_size(self) -> int:
        return self.result.sample_size if self.result else 0

    @property
    def target(self) -> Decimal | None:
        return Decimal(self.result.standard.target) if self.result else None

    @property
    def warning(self) -> Decimal | None:
        if self.result is None or self.result.standard.warning_threshold is None:
            return None
        return Decimal(self.result.standard.warning_threshold)

    @property
    def penalty(self) -> Decimal:
        return self.result.penalty if self.result else ZERO

    @property
    def version(self) -> int | None:
        return self.result.standard.version if self.result else None


@dataclass
class ScorecardSla:
    """One SLA (all its versions) over the scorecard's periods."""

    versions: list[ServiceStandard]
    metric: Metric
    cells: list[ScorecardCell]

    @property
    def latest(self) -> ServiceStandard:
        return self.versions[-1]

    @property
    def is_role_default(self) -> bool:
        return self.latest.chain_role is not None

    @property
    def window(self) -> str:
        return self.latest.window

    @property
    def penalty_total(self) -> Decimal:
        return sum((c.penalty for c in self.cells), ZERO)

    def count(self, status: str) -> int:
        return sum(1 for c in self.cells if c.status == status)


@dataclass
class Scorecard:
    supplier: Supplier
    last_day: dt.date
    #: Periods asked for (weeks or months; quarters per `periods_shown`).
    periods: int
    slas: list[ScorecardSla]
    #: SLAs over metrics that cannot be measured yet (incident metrics), listed by name only.
    unmeasured: list[ServiceStandard] = field(default_factory=list)

    @property
    def penalty_total(self) -> Decimal:
        return sum((s.penalty_total for s in self.slas), ZERO)


def _overlaps(versions: list[ServiceStandard], first: dt.date, last: dt.date) -> bool:
    return any(v.valid_from <= last and (v.valid_to is None or v.valid_to >= first) for v in versions)


def scorecard(supplier: Supplier, last_period_day: dt.date, periods: int = 12,
              now: dt.datetime | None = None, running_day: dt.date | None = None) -> Scorecard:
    """Each SLA applying to `supplier` over its last periods up to `last_period_day`.

    The period containing `running_day` (default: `last_period_day`) is marked as running.

    SLAs with no version in force during any of those periods are left out.
    """
    measured, unmeasured = [], []
    for versions in series_for_supplier(supplier):
        latest = versions[-1]
        metric = METRICS[latest.metric]
        if not metric.is_available:
            unmeasured.append(latest)
            continue
        shown = last_periods(latest.window, last_period_day, periods_shown(latest.window, periods))
        if _overlaps(versions, shown[0].start, shown[-1].end):
            measured.append((versions, [supplier.id], shown))
    months = shared_months(measured)
    slas = []
    running = running_day or last_period_day
    for versions, _, shown in measured:
        by_key = {r.period.key: r for r in measure_series(versions, [supplier.id], shown, now, months=months)}
        cells = [ScorecardCell(p, by_key.get(p.key), p.start <= running <= p.end) for p in shown]
        slas.append(ScorecardSla(versions, METRICS[versions[-1].metric], cells))
    return Scorecard(supplier, last_period_day, periods, slas, unmeasured)


# Ranking --------------------------------------------------------------------------------

@dataclass
class SlaAttainment:
    """How often one SLA's target was met in the ranking's span."""

    #: The latest version measured in the span: its name and weight are shown and used.
    standard: ServiceStandard
    is_role_default: bool
    periods_attained: int
    periods_judged: int
    periods_without_data: int

    @property
    def weight(self) -> Decimal:
        return Decimal(self.standard.weight)

    @property
    def attainment(self) -> Decimal | None:
        """aᵢ as a fraction 0–1; None when no period had enough data."""
        if not self.periods_judged:
            return None
        return Decimal(self.periods_attained) / Decimal(self.periods_judged)


@dataclass
class RankedSupplier:
    supplier: Supplier
    slas: list[SlaAttainment]
    #: 1 for the best; equal scores share a rank; None for "no data".
    rank: int | None = None

    @property
    def scored(self) -> list[SlaAttainment]:
        return [s for s in self.slas if s.attainment is not None]

    @property
    def weight_total(self) -> Decimal:
        return sum((s.weight for s in self.scored), Decimal(0))

    @property
    def score(self) -> Decimal | None:
        """Σ(wᵢ · aᵢ) / Σ wᵢ as a fraction 0–1 (six places); None without data."""
        scored = self.scored
        total = self.weight_total
        if not scored or not total:
            return None
        weighted = sum((s.weight * s.attainment for s in scored), Decimal(0))
        return (weighted / total).quantize(SCORE_PLACES, rounding=ROUND_HALF_UP)


@dataclass
class Ranking:
    chain_role: str
    first: dt.date
    last: dt.date
    #: Best first; suppliers without data last, by code.
    suppliers: list[RankedSupplier]
    #: More suppliers have the role than were measured (the first `limit` by code were).
    is_truncated: bool = False
    limit: int = RANKING_LIMIT

    @property
    def without_data(self) -> list[RankedSupplier]:
        return [s for s in self.suppliers if s.score is None]


def _attainment(results: list[SlaResult], is_role_default: bool) -> SlaAttainment | None:
    if not results:
        return None
    latest = max(results, key=lambda r: (r.period.end, r.standard.version)).standard
    judged = [r for r in results if r.status in JUDGED]
    return SlaAttainment(
        standard=latest, is_role_default=is_role_default,
        periods_attained=sum(1 for r in judged if r.status in ATTAINED),
        periods_judged=len(judged),
        periods_without_data=len(results) - len(judged),
    )


def _measurable(versions: list[ServiceStandard]) -> bool:
    metric = METRICS.get(versions[0].metric)
    return metric is not None and metric.is_available


def _group_series(rows: list[ServiceStandard]) -> list[list[ServiceStandard]]:
    series: dict[int, list[ServiceStandard]] = defaultdict(list)
    for row in rows:
        series[row.series_id].append(row)
    return list(series.values())


def ranking(chain_role: str, first: dt.date, last: dt.date, *, limit: int = RANKING_LIMIT,
            now: dt.datetime | None = None) -> Ranking:
    """The role's non-archived suppliers ranked by weighted SLA attainment over [first, last]."""
    suppliers = db.session.scalars(
        select(Supplier)
        .join(SupplierChainRole, SupplierChainRole.supplier_id == Supplier.id)
        .where(SupplierChainRole.role == chain_role, Supplier.archived_at.is_(None))
        .order_by(Supplier.code)
        .limit(limit + 1)
    ).all()
    is_truncated = len(suppliers) > limit
    suppliers = suppliers[:limit]
    ids = [s.id for s in suppliers]

    own_series = _group_series(db.session.scalars(
        select(ServiceStandard).where(ServiceStandard.supplier_id.in_(ids))
        .order_by(ServiceStandard.series_id, ServiceStandard.version)
    ).all()) if ids else []
    own_measures: dict[int, set] = defaultdict(set)
    for versions in own_series:
        own_measures[versions[0].supplier_id].add((versions[0].metric, versions[0].stage))

    measured = []  # (versions, supplier ids, periods, is the role default)
    for versions in series_for_role(chain_role):
        if not _measurable(versions):
            continue
        measure = (versions[0].metric, versions[0].stage)
        # A supplier's own SLA on the same metric and stage overrides the role default.
        applies_to = [i for i in ids if measure not in own_measures[i]]
        measured.append((versions, applies_to, periods_between(versions[-1].window, first, last), True))
    for versions in own_series:
        if _measurable(versions):
            measured.append((versions, [versions[0].supplier_id], periods_between(versions[-1].window, first, last),
                             False))
    months = shared_months([(versions, supplier_ids, periods) for versions, supplier_ids, periods, _ in measured])

    slas: dict[int, list[SlaAttainment]] = defaultdict(list)
    for versions, supplier_ids, periods, is_role_default in measured:
        by_supplier: dict[int, list[SlaResult]] = defaultdict(list)
        for start in range(0, len(supplier_ids), 5_000):
            for result in measure_series(versions, supplier_ids[start:start + 5_000], periods, now, months=months):
                by_supplier[result.supplier_id].append(result)
        for supplier_id, results in by_supplier.items():
            attained = _attainment(results, is_role_default)
            if attained is not None:
                slas[supplier_id].append(attained)

    ranked = [RankedSupplier(s, slas[s.id]) for s in suppliers]
    with_data = sorted((r for r in ranked if r.score is not None), key=lambda r: (-r.score, r.supplier.code))
    without = [r for r in ranked if r.score is None]
    previous = None
    for position, entry in enumerate(with_data, start=1):
        entry.rank = previous.rank if previous is not None and previous.score == entry.score else position
        previous = entry
    return Ranking(chain_role, first, last, with_data + without, is_truncated, limit)


# Loading --------------------------------------------------------------------------------

def get_series(series_id: int) -> list[ServiceStandard]:
    """The versions of one SLA, oldest first; empty if there is no such SLA."""
    return list(db.session.scalars(
        select(ServiceStandard).where(ServiceStandard.series_id == series_id).order_by(ServiceStandard.version)
    ))
