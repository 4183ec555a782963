"""Percentile SLAs read from the monthly delay histograms show exactly what ranking the legs
shows (issue 8: "percentile metrics exact too").

The histograms count legs per 18-second delay bucket; a percentile is reported in hours to
two places, rounded half up, and every delay of a bucket rounds to the same hundredth. So the
bucket holding the nearest rank gives the very value, status and penalty the sorted legs give.
"""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suppliers.services import measurement
from tests.suppliers.test_measurement import NOW, at, leg, record, sla

_codes = itertools.count()

#: Seconds of delay: the edges of the first buckets, of an hour, and of a day, and anything.
DELAYS = st.one_of(st.sampled_from([-3600, -1, 0, 1, 17, 18, 19, 35, 36, 53, 54, 3599, 3600, 3617, 3618, 86_399]),
                   st.integers(-7200, 400_000))
LEGS = st.lists(st.tuples(st.sampled_from(["2026-01-01", "2026-01-31", "2026-02-14", "2026-03-31"]),
                          DELAYS, st.booleans(), st.sampled_from(["completed", "lost", "damaged", "cancelled"])),
                min_size=1, max_size=30)


def _hours(seconds) -> Decimal:
    return measurement._quantize("hours", Decimal(seconds) / 3600)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(legs=LEGS, percent=st.sampled_from([50, 90, 95, 99, 100]), window=st.sampled_from(["month", "quarter"]),
       honours=st.booleans())
def test_the_histograms_give_the_percentile_the_sorted_legs_give(make_supplier, legs, percent, window, honours):
    courier = make_supplier(code=f"PCT-{next(_codes)}")
    record(courier, [leg(courier, at(day), at(day) + dt.timedelta(seconds=delay), outcome=outcome, excluded=excluded)
                     for day, delay, excluded, outcome in legs])
    standard = sla(courier, name="p95", metric="p95_delay_hours", comparator="lte", target="1", window=window,
                   honours_exclusions=honours)
    periods = measurement.periods_between(window, dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert measurement._whole_months([standard], periods)

    def shown(rows):
        return sorted((i, _hours(delay), n) for _, i, delay, n in rows)

    ranked = measurement._percentile_from_legs([standard], [courier.id], periods, percent)
    counted = measurement._percentile_from_histograms([standard], [courier.id], periods, percent)
    assert shown(counted) == shown(ranked)


def test_the_bucket_edges_round_as_the_delays_do(make_supplier):
    # 17 s is 0.0047 h, shown 0.00; 18 s is 0.005 h, shown 0.01 (half up); 53 s 0.0147 h → 0.01;
    # 54 s is 0.015 h → 0.02. One leg a month: its delay is every percentile.
    courier = make_supplier(code="PCT-EDGE")
    record(courier, [leg(courier, at(f"2026-0{month}-10"), at(f"2026-0{month}-10") + dt.timedelta(seconds=delay))
                     for month, delay in ((1, 17), (2, 18), (3, 53), (4, 54))])
    sla(courier, name="p95", metric="p95_delay_hours", comparator="lte", target="0.01", penalty_kind="per_unit",
        penalty_amount="100")
    results = measurement.supplier_results(courier, dt.date(2026, 1, 1), dt.date(2026, 4, 30), now=NOW)
    got = [(r.period.key, r.value, r.status, r.penalty) for r in results if r.metric == "p95_delay_hours"]
    assert got == [("2026-01", Decimal("0.00"), "met", Decimal("0.00")),
                   ("2026-02", Decimal("0.01"), "met", Decimal("0.00")),
                   ("2026-03", Decimal("0.01"), "met", Decimal("0.00")),
                   ("2026-04", Decimal("0.02"), "breached", Decimal("1.00"))]  # 0.01 h over × 100 €/h


def test_weekly_slas_and_versions_changing_mid_month_rank_the_legs(make_supplier):
    courier = make_supplier(code="PCT-WEEK")
    weekly = sla(courier, name="weekly", metric="p95_delay_hours", comparator="lte", target="1", window="week")
    mid_month = sla(courier, name="mid", metric="p95_delay_hours", comparator="lte", target="1",
                    valid_from=dt.date(2026, 3, 15))
    weeks = measurement.periods_between("week", dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    months = measurement.periods_between("month", dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert not measurement._whole_months([weekly], weeks)
    assert not measurement._whole_months([mid_month], months)
    record(courier, [leg(courier, at("2026-03-10"), at("2026-03-10") + dt.timedelta(hours=h)) for h in (1, 2)]
           + [leg(courier, at("2026-03-20"), at("2026-03-20") + dt.timedelta(hours=h)) for h in (5, 9)])
    results = measurement.supplier_results(courier, dt.date(2026, 3, 1), dt.date(2026, 3, 31), now=NOW)
    got = {(r.standard.name, r.period.key): (r.value, r.sample_size) for r in results if r.value is not None}
    # Week of 9 March: (1, 2) → 2nd; week of 16 March: (5, 9) → 2nd. The mid-month version
    # counts only the legs promised from the 15th: (5, 9).
    assert got == {("weekly", "2026-W11"): (Decimal("2.00"), 2), ("weekly", "2026-W12"): (Decimal("9.00"), 2),
                   ("mid", "2026-03"): (Decimal("9.00"), 2)}
