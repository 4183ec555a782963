"""The customer-service dashboard: incident KPIs over a span of days, their trend, and the
same figures by category, by channel and by responsible supplier.

Definitions (README glossary, "service dashboard"). Unless said otherwise a figure is over the
incidents **received** in the span: reported_day (the company-zone day of reported_at) within
[first, last]. The filters (supplier, category, channel) narrow every figure.

- **volume** (received) = the number of those incidents;
- **trend** = volume per calendar month of the span, or per week (Monday to Sunday, clipped to
  the span) when the span is at most two months (62 days);
- **CSAT** = mean csat (1–5) of those with a score; none without scores;
- **first-response time** = mean first_response_seconds / 3600 of those answered (hours);
- **average response time** = mean hours from reported_at to each OUTBOUND interaction of those
  incidents (every response, not only the first);
- **resolution time** = mean resolution_seconds / 3600 of those resolved (hours);
- **backlog** = incidents reported on or before `last` and not resolved by the end of `last`
  (company zone): resolved_at empty or later. It has no lower bound on the report day;
- **resolution rate** = received incidents with a resolved_at ÷ received;
- **interactions per incident** = interactions of the received incidents ÷ received;
- **preferred channels** = received incidents by their own channel, and their interactions by
  the interaction's channel;
- **SLA attainment** = periods judged (met, warning or breached, enough sample) that met the
  target (met or warning) ÷ periods judged, over every SLA of the suppliers measured, for the
  periods that start in the span (suppliers.services.measurement). Measured for the filtered
  supplier, or else for the SLA_SUPPLIERS suppliers with the most weighted volume;
- **by supplier**: through the current attribution (latest decision): an incident counts for
  each supplier with its share (weighted counts, means weighted by share); what no supplier
  carries (internal shares, undecided incidents) counts for "not attributed", so the rows
  add up to the volume;
- **supplier filter**: incidents whose current attribution gives that supplier a share,
  counted whole in the KPIs.

Rates and means are None ("no data") when nothing was received or measured, never 0.
Every figure is aggregated in SQL (the totals, categories, channels and trend as one grouped
statement whose few rows are added up exactly in Python); the number of queries does not
depend on the data.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Float, case, func, literal, null, or_, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from app.db import db
from app.i18n import company_zone
from incidents.models import Incident, IncidentCategory, Interaction, InteractionDirection
from suppliers.models import Supplier
from incidents.services.share_stats import current_shares_select
from suppliers.services.measurement import Period, _current_shares, periods_between

#: Spans up to this many days trend by week; longer ones by month.
WEEKLY_TREND_DAYS = 62
#: SLA attainment is measured for at most this many suppliers of the breakdown.
SLA_SUPPLIERS = 10
#: Weighted volumes and means are shown to one decimal, rates to four places (0.01 %).
ONE_PLACE = Decimal("0.1")
HOUR_PLACES = Decimal("0.01")
RATE_PLACES = Decimal("0.0001")


class epoch_seconds(FunctionElement):
    """Seconds since 1970 of a UTC timestamp column, on every engine (SQL side)."""

    type = Float()
    inherit_cache = True


@compiles(epoch_seconds)
def _epoch_default(element, compiler, **kw):
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    # SQLite keeps UTC times as text; julianday counts days from noon, 24 November 4714 BC.
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


def _dec(value) -> Decimal:
    return Decimal(str(value or 0))


def _mean(total, weight, places: Decimal = HOUR_PLACES, scale: int = 1) -> Decimal | None:
    weight = _dec(weight)
    if not weight:
        return None
    return (_dec(total) / weight / scale).quantize(places, rounding=ROUND_HALF_UP)


def _ratio(part, whole, places: Decimal = RATE_PLACES) -> Decimal | None:
    whole = _dec(whole)
    if not whole:
        return None
    return (_dec(part) / whole).quantize(places, rounding=ROUND_HALF_UP)


@dataclass
class Figures:
    """The incident figures of one group (the whole selection, a category, a supplier…).
    Volumes are weighted for suppliers (Decimal), plain counts elsewhere."""

    received: Decimal
    resolved: Decimal
    csat: Decimal | None
    csat_sample: int
    first_response_hours: Decimal | None
    first_response_sample: int
    resolution_hours: Decimal | None
    #: resolved ÷ received, from the unrounded (weighted) sums.
    resolution_rate: Decimal | None


@dataclass
class BreakdownRow:
    #: Category code, channel, supplier code; None for "not attributed".
    key: str | None
    #: Category id or supplier id, for links and filters; None otherwise.
    id: int | None
    label: str | None
    figures: Figures
    #: Supplier rows only: the supplier's SLA attainment in the span (None: no data / not measured).
    sla_attainment: Decimal | None = None
    sla_periods_judged: int = 0


@dataclass
class TrendPoint:
    label: str
    start: dt.date
    end: dt.date
    value: int


@dataclass
class Dashboard:
    first: dt.date
    last: dt.date
    supplier_id: int | None
    category_id: int | None
    channel: str | None
    #: "month" or "week".
    trend_window: str
    totals: Figures
    backlog: int
    interactions: int
    outbound_responses: int
    response_hours: Decimal | None
    trend: list[TrendPoint]
    by_category: list[BreakdownRow]
    by_channel: list[BreakdownRow]
    by_supplier: list[BreakdownRow]
    #: Interactions by their channel: {channel: count}, most used first.
    interaction_channels: dict[str, int]
    sla_periods_attained: int = 0
    sla_periods_judged: int = 0
    #: Suppliers whose SLAs were measured for the attainment.
    sla_supplier_ids: list[int] = field(default_factory=list)

    @property
    def received(self) -> int:
        return int(self.totals.received)

    @property
    def has_data(self) -> bool:
        return self.received > 0

    @property
    def interactions_per_incident(self) -> Decimal | None:
        return _ratio(self.interactions, self.totals.received, HOUR_PLACES)

    @property
    def sla_attainment(self) -> Decimal | None:
        return _ratio(self.sla_periods_attained, self.sla_periods_judged)

    @property
    def trend_max(self) -> int:
        return max((p.value for p in self.trend), default=0)


# Building blocks ------------------------------------------------------------------------

def _conditions(first, last, supplier_id, category_id, channel, *, received: bool = True) -> list:
    """The filters on Incident; `received=False` leaves out the span (the backlog bounds it itself)."""
    conditions = []
    if received:
        conditions += [Incident.reported_day >= first, Incident.reported_day <= last]
    if category_id is not None:
        conditions.append(Incident.category_id == category_id)
    if channel:
        conditions.append(Incident.channel == channel)
    if supplier_id is not None:
        shares = _current_shares()
        conditions.append(Incident.id.in_(select(shares.c.incident_id).where(shares.c.supplier_id == supplier_id)))
    return conditions


def _figure_columns(weight):
    """Aggregates for Figures, each incident counted with `weight` (1 or its share)."""
    answered = Incident.first_response_seconds.is_not(None)
    scored = Incident.csat.is_not(None)
    resolved = Incident.resolution_seconds.is_not(None)
    return (
        func.sum(weight),
        func.sum(case((resolved, weight), else_=0)),
        func.sum(case((scored, weight * Incident.csat), else_=0)),
        func.sum(case((scored, weight), else_=0)),
        func.sum(case((scored, 1), else_=0)),
        func.sum(case((answered, weight * Incident.first_response_seconds), else_=0)),
        func.sum(case((answered, weight), else_=0)),
        func.sum(case((answered, 1), else_=0)),
        func.sum(case((resolved, weight * Incident.resolution_seconds), else_=0)),
        func.sum(case((resolved, weight), else_=0)),
    )


def _figures(row, *, weighted: bool) -> Figures:
    received, resolved, csat_sum, csat_w, csat_n, fr_sum, fr_w, fr_n, res_sum, res_w = row
    received, resolved = _dec(received), _dec(resolved)
    rate = _ratio(resolved, received)
    if weighted:
        received = received.quantize(ONE_PLACE, rounding=ROUND_HALF_UP)
        resolved = resolved.quantize(ONE_PLACE, rounding=ROUND_HALF_UP)
    else:
        received, resolved = Decimal(int(received)), Decimal(int(resolved))
    return Figures(
        received=received, resolved=resolved,
        csat=_mean(csat_sum, csat_w), csat_sample=int(csat_n or 0),
        first_response_hours=_mean(fr_sum, fr_w, scale=3600), first_response_sample=int(fr_n or 0),
        resolution_hours=_mean(res_sum, res_w, scale=3600), resolution_rate=rate,
    )


def _add_up(rows) -> tuple:
    """Column by column sums of rows of figure columns (NULL as 0); zeros when there are none."""
    sums = [0] * 10
    for row in rows:
        for i, value in enumerate(row):
            sums[i] += value or 0
    return tuple(sums)


def _sum_by(groups, key) -> dict:
    """{key(group): summed figure columns} over the (category id, code, channel, period, *figures) groups."""
    keyed: dict = {}
    for group in groups:
        keyed.setdefault(key(group), []).append(group[4:])
    return {k: _add_up(rows) for k, rows in keyed.items()}


def trend_periods(first: dt.date, last: dt.date) -> tuple[str, list[Period]]:
    """Months of the span, or weeks (clipped to the span) when it is at most WEEKLY_TREND_DAYS."""
    if (last - first).days + 1 <= WEEKLY_TREND_DAYS:
        periods, day = [], first
        while day <= last:
            end = min(day + dt.timedelta(days=6 - day.weekday()), last)
            year, week, _ = day.isocalendar()
            periods.append(Period(f"{year}-W{week:02d}", day, end))
            day = end + dt.timedelta(days=1)
        return "week", periods
    periods = periods_between("month", first, last)
    # The first and last months are clipped to the span.
    periods[0] = Period(periods[0].key, max(periods[0].start, first), periods[0].end)
    periods[-1] = Period(periods[-1].key, periods[-1].start, min(periods[-1].end, last))
    return "month", periods


def _end_instant(last: dt.date) -> dt.datetime:
    """The first instant after `last` in the company's zone, in UTC."""
    following = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=company_zone())
    return following.astimezone(dt.timezone.utc)


# The dashboard --------------------------------------------------------------------------

def service_dashboard(first: dt.date, last: dt.date, *, supplier_id: int | None = None,
                      category_id: int | None = None, channel: str | None = None,
                      measure_slas: bool = True, now: dt.datetime | None = None) -> Dashboard:
    """The figures of the incidents received in [first, last] (see the module docstring)."""
    if first > last:
        raise ValueError("start after end")
    where = _conditions(first, last, supplier_id, category_id, channel)
    one = literal(1)

    # 1. Totals, 4. trend, 5. by category and 6. by channel: one pass over the incidents
    # grouped by category, channel and trend period. Every figure column is a sum of whole
    # numbers (each incident weighs 1), so adding the groups up in Python is exact.
    window, periods = trend_periods(first, last)
    index = case(*[(Incident.reported_day <= p.end, literal(i)) for i, p in enumerate(periods)], else_=literal(-1))
    groups = db.session.execute(
        select(IncidentCategory.id, IncidentCategory.code, Incident.channel, index, *_figure_columns(one))
        .join(IncidentCategory, IncidentCategory.id == Incident.category_id).where(*where)
        .group_by(IncidentCategory.id, IncidentCategory.code, Incident.channel, index)).all()
    totals = _figures(_add_up(g[4:] for g in groups), weighted=False)

    # 2. Interactions: by channel and direction, with the hours to each outbound one.
    outbound = Interaction.direction == InteractionDirection.OUTBOUND.value
    delay = epoch_seconds(Interaction.at) - epoch_seconds(Incident.reported_at)
    rows = db.session.execute(
        select(Interaction.channel, func.count(), func.sum(case((outbound, 1), else_=0)),
               func.sum(case((outbound, delay), else_=0)))
        .join(Incident, Incident.id == Interaction.incident_id).where(*where)
        .group_by(Interaction.channel)).all()
    interaction_channels = {ch: int(n) for ch, n, _, _ in sorted(rows, key=lambda r: (-r[1], r[0]))}
    responses = sum(int(r[2] or 0) for r in rows)
    response_seconds = sum((_dec(r[3]) for r in rows), Decimal(0))

    # 3. Backlog at the end of the span.
    backlog = db.session.scalar(
        select(func.count()).select_from(Incident).where(
            *_conditions(first, last, supplier_id, category_id, channel, received=False),
            Incident.reported_day <= last,
            or_(Incident.resolved_at.is_(None), Incident.resolved_at >= _end_instant(last)))) or 0

    counts = _sum_by(groups, lambda g: g[3])
    trend = [TrendPoint(p.key, p.start, p.end, int(counts[i][0]) if i in counts else 0)
             for i, p in enumerate(periods)]
    by_category = [BreakdownRow(code, cid, None, _figures(values, weighted=False))
                   for (cid, code), values in _sum_by(groups, lambda g: (g[0], g[1])).items()]
    by_category.sort(key=lambda r: (-r.figures.received, r.key))
    by_channel = [BreakdownRow(ch, None, None, _figures(values, weighted=False))
                  for ch, values in _sum_by(groups, lambda g: g[2]).items()]
    by_channel.sort(key=lambda r: (-r.figures.received, r.key))

    # 7. By supplier: each supplier's current share, and the remainder nobody carries. A CTE
    # read twice, which PostgreSQL computes once for both branches.
    shares = current_shares_select().cte("current_shares")
    carried = (select(Incident.id.label("incident_id"), func.coalesce(func.sum(shares.c.share), 0).label("carried"))
               .select_from(Incident).outerjoin(shares, shares.c.incident_id == Incident.id)
               .where(*where).group_by(Incident.id).subquery())
    parties = union_all(
        select(shares.c.incident_id, shares.c.supplier_id, shares.c.share),
        select(carried.c.incident_id, null().label("supplier_id"), (1 - carried.c.carried).label("share"))
        .where(carried.c.carried < 1),
    ).subquery()
    by_supplier = [
        BreakdownRow(code, sid, name, _figures(values, weighted=True))
        for sid, code, name, *values in db.session.execute(
            select(parties.c.supplier_id, Supplier.code, Supplier.legal_name, *_figure_columns(parties.c.share))
            .select_from(parties).join(Incident, Incident.id == parties.c.incident_id)
            .outerjoin(Supplier, Supplier.id == parties.c.supplier_id).where(*where)
            .group_by(parties.c.supplier_id, Supplier.code, Supplier.legal_name))]
    by_supplier = [r for r in by_supplier if r.figures.received > 0]
    by_supplier.sort(key=lambda r: (r.id is None, -r.figures.received, r.key or ""))

    dashboard = Dashboard(
        first=first, last=last, supplier_id=supplier_id, category_id=category_id, channel=channel,
        trend_window=window, totals=totals, backlog=int(backlog),
        interactions=sum(interaction_channels.values()), outbound_responses=responses,
        response_hours=_mean(response_seconds, responses, scale=3600),
        trend=trend, by_category=by_category, by_channel=by_channel, by_supplier=by_supplier,
        interaction_channels=interaction_channels)
    if measure_slas:
        _measure_slas(dashboard, now)
    return dashboard


def _measure_slas(dashboard: Dashboard, now: dt.datetime | None) -> None:
    """SLA attainment of the filtered supplier, or of the SLA_SUPPLIERS with the most volume.
    One statement or two per SLA series for all those suppliers together, not per supplier."""
    from suppliers.services.measurement import suppliers_results
    from suppliers.services.scorecards import ATTAINED, JUDGED

    if dashboard.supplier_id is not None:
        ids = [dashboard.supplier_id]
    else:
        ids = [r.id for r in dashboard.by_supplier if r.id is not None][:SLA_SUPPLIERS]
    if not ids:
        return
    found = {s.id: s for s in db.session.scalars(select(Supplier).where(Supplier.id.in_(ids)))}
    suppliers = [found[i] for i in ids if i in found]
    judged: dict[int, list[int]] = {s.id: [0, 0] for s in suppliers}  # supplier id: [judged, attained]
    for result in suppliers_results(suppliers, dashboard.first, dashboard.last, now=now):
        if result.status in JUDGED:
            judged[result.supplier_id][0] += 1
            judged[result.supplier_id][1] += result.status in ATTAINED
    rows = {r.id: r for r in dashboard.by_supplier}
    for supplier in suppliers:
        count, attained = judged[supplier.id]
        dashboard.sla_supplier_ids.append(supplier.id)
        dashboard.sla_periods_judged += count
        dashboard.sla_periods_attained += attained
        if supplier.id in rows:
            rows[supplier.id].sla_periods_judged = count
            rows[supplier.id].sla_attainment = _ratio(attained, count)
