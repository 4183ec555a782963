"""SLA series measured together read whole months once (`MonthTotals`) instead of each
grouping the daily statistics itself; every value, sample, status and penalty must be the one
the series' own statements give (issue 8: "results must stay exact").
"""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import db
from suppliers.services import measurement
from suppliers.services.month_totals import MonthTotals
from suppliers.services.standards import revise_standard
from tests.suppliers.test_incident_metrics import incident
from tests.suppliers.test_measurement import NOW, at, leg, record, sla

_codes = itertools.count()

LEG_METRICS = ("on_time_rate", "lost_rate", "damage_rate", "first_attempt_rate", "mean_delay_hours")
#: Month edges, a mid-month day, and the days around "now" below.
DAYS = ["2026-01-01", "2026-01-31", "2026-02-14", "2026-02-28", "2026-03-01", "2026-03-14", "2026-03-19",
        "2026-03-20", "2026-03-31", "2026-04-01", "2026-04-30"]
LEGS = st.lists(st.tuples(
    st.integers(0, 1),                                     # which supplier
    st.sampled_from(["last_mile", "line_haul"]),
    st.sampled_from(DAYS),
    st.sampled_from(["12:00", "23:45"]),                   # late promises are the last to settle
    st.one_of(st.none(), st.integers(-7200, 200_000)),     # delay in seconds, or still open
    st.sampled_from([None, "completed", "failed_attempt", "lost", "damaged", "cancelled"]),
    st.booleans(),                                         # force majeure
), min_size=1, max_size=25)
INCIDENTS = st.lists(st.tuples(st.sampled_from(DAYS), st.sampled_from(["1", "0.5", "0.333333", "0.25"])),
                     max_size=6)
#: One version all year; a revision from a month's first day; one from mid-month (the
#: series then falls back to its own statements, which must still agree).
REVISIONS = st.sampled_from([None, dt.date(2026, 3, 1), dt.date(2026, 3, 15)])
#: Long after every leg; in March (its last days unsettled); on the 1st of April, when March
#: is settled for a 0-minute tolerance but not for the revision's 60 minutes.
NOWS = st.sampled_from([NOW, at("2026-03-20", "09:00"), at("2026-04-01", "00:30")])


def _shown(results):
    return [(r.supplier_id, r.period.key, r.standard.version, r.value, r.sample_size, r.status, r.penalty)
            for r in results]


def _series(owner, metric, start, revision, honours, window):
    comparator, target = ("lte", "5") if metric in ("mean_delay_hours", "incidents_per_1000") else ("gte", "0.8")
    first = sla(owner, name=f"{metric}-{next(_codes)}", metric=metric, stage="last_mile", comparator=comparator,
                target=target, window=window, honours_exclusions=honours, tolerance_minutes=0,
                penalty_kind="per_unit", penalty_amount="10", valid_from=start)
    versions = [first]
    if revision is not None:
        values = {k: getattr(first, k) for k in ("name", "metric", "stage", "comparator", "window", "min_sample",
                                                 "penalty_kind", "penalty_amount")}
        versions.append(revise_standard(first, {**values, "target": target, "tolerance_minutes": 60,
                                                "honours_exclusions": not honours, "valid_from": revision},
                                        None, "Nuovo contratto"))
        db.session.commit()
    return versions


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(legs=LEGS, incidents=INCIDENTS, revision=REVISIONS, now=NOWS, honours=st.booleans(),
       window=st.sampled_from(["month", "quarter"]), start=st.sampled_from([dt.date(2026, 1, 1), dt.date(2026, 2, 1)]))
def test_month_sums_give_what_each_series_statements_give(make_supplier, legs, incidents, revision, now, honours,
                                                          window, start):
    pair = [make_supplier(code=f"MT-{next(_codes)}"), make_supplier(code=f"MT-{next(_codes)}")]
    for who, supplier in enumerate(pair):
        mine = [leg(supplier, at(day, time), None if delay is None else at(day, time) + dt.timedelta(seconds=delay),
                    outcome=outcome if delay is not None or outcome != "completed" else None, stage=stage,
                    excluded=excluded)
                for owner, stage, day, time, delay, outcome, excluded in legs if owner == who]
        if mine:
            record(supplier, mine)
    for day, share in incidents:
        parties = [(pair[0], Decimal(share)), (pair[1], 1 - Decimal(share))]
        incident(at(day), shares=[(supplier, part) for supplier, part in parties if part])
    db.session.commit()

    ids = [s.id for s in pair]
    periods = measurement.periods_between(window, dt.date(2026, 1, 1), dt.date(2026, 4, 30))
    for metric in (*LEG_METRICS, "incidents_per_1000"):
        # A series from February leaves January unmeasured, yet inside the first quarter.
        versions = _series(pair[0], metric, start, revision, honours, window)
        months = MonthTotals(ids, periods[0].start, periods[-1].end, [v.tolerance_minutes for v in versions])
        alone = measurement.measure_series(versions, ids, periods, now=now)
        together = measurement.measure_series(versions, ids, periods, now=now, months=months)
        assert _shown(together) == _shown(alone), metric
        # Not vacuous: with whole-month versions the month sums were read.
        if revision != dt.date(2026, 3, 15) and (metric == "incidents_per_1000" or now == NOW):
            assert months._legs is not None, metric


def test_suppliers_results_read_whole_months_once(make_supplier, monkeypatch):
    """A supplier's results (the scorecard, audits, the dashboard) go through the month sums:
    one read of the daily statistics for all its count SLAs, hand-checked numbers."""
    courier = make_supplier(code=f"MT-{next(_codes)}", chain_roles=["last_mile"])
    p = at("2026-02-10")
    record(courier, [leg(courier, p, p),                                        # on time, completed
                     leg(courier, p, p + dt.timedelta(hours=3)),                # 3 h late
                     leg(courier, p, outcome="lost"),                           # lost
                     leg(courier, p, p, outcome="damaged"),                     # damaged, on time
                     leg(courier, at("2026-03-02"), at("2026-03-02"))])         # next month
    sla(courier, name="on time", metric="on_time_rate", target="0.5")
    sla(courier, name="lost", metric="lost_rate", comparator="lte", target="0.1")
    sla(courier, name="delay", metric="mean_delay_hours", comparator="lte", target="1")
    reads = []
    original = MonthTotals.legs

    def counted(self):
        reads.append(self._legs is None)
        return original(self)

    monkeypatch.setattr(MonthTotals, "legs", counted)
    start, end = measurement.month_span("2026-02", "2026-02")
    got = {r.metric: r for r in measurement.supplier_results(courier, start, end, now=NOW)}
    assert reads.count(True) == 1 and len(reads) == 3
    # 3 of 4 legs ended no later than promised and were not lost: the damaged one counts.
    assert (got["on_time_rate"].value, got["on_time_rate"].status) == (Decimal("0.500000"), "met")
    # 1 lost of 4 closed.
    assert (got["lost_rate"].value, got["lost_rate"].status) == (Decimal("0.250000"), "breached")
    # 3 legs have an actual time; 3 h of delay among them: 1 h mean.
    assert (got["mean_delay_hours"].value, got["mean_delay_hours"].sample_size) == (Decimal("1.00"), 3)


def test_a_month_whose_last_legs_are_not_yet_due_is_counted_from_the_legs(make_supplier):
    """Whole months are read from the sums only once every leg in them is decided: at 00:30
    on 1 April, a leg promised for 23:45 on 31 March with 60 minutes' tolerance is not late
    yet, so March still has one decided leg, not two."""
    courier = make_supplier(code=f"MT-{next(_codes)}", chain_roles=["last_mile"])
    record(courier, [leg(courier, at("2026-03-10"), at("2026-03-10")),       # on time
                     leg(courier, at("2026-03-31", "23:45"))])               # open, due 00:45 on 1 April
    sla(courier, name="on time", metric="on_time_rate", target="0.9", tolerance_minutes=60)
    start, end = measurement.month_span("2026-03", "2026-03")
    got = measurement.supplier_results(courier, start, end, now=at("2026-04-01", "00:30"))
    assert [(r.value, r.sample_size, r.status) for r in got] == [(Decimal("1.000000"), 1, "met")]
    # An hour later it is late: two decided legs, one on time.
    got = measurement.supplier_results(courier, start, end, now=at("2026-04-01", "01:30"))
    assert [(r.value, r.sample_size, r.status) for r in got] == [(Decimal("0.500000"), 2, "breached")]
