"""SLA measurement over crafted legs, every expected value worked out by hand."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.db import db
from incidents.services.legs import LegInput, record_legs
from suppliers.services import measurement
from suppliers.services.standards import create_standard, revise_standard

ROME = ZoneInfo("Europe/Rome")
UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
_n = iter(range(1, 10_000))


def at(day: str, time: str = "12:00", zone=ROME) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=zone).astimezone(UTC)


def leg(supplier, promised, actual=None, *, outcome=None, stage="last_mile", excluded=False):
    n = next(_n)
    return LegInput(external_id=f"L{n}", order_ref=f"O{n}", stage=stage, supplier_code=supplier.code,
                    promised_at=promised, actual_at=actual,
                    outcome=outcome or ("completed" if actual else None), is_excluded=excluded, row=n)


def record(supplier, legs):
    record_legs(legs, {supplier.code: supplier.id}, ROME)
    db.session.commit()


def sla(supplier=None, role=None, **values):
    base = {"name": "On time", "metric": "on_time_rate", "stage": "last_mile", "comparator": "gte",
            "target": "0.9", "window": "month", "min_sample": 1, "valid_from": dt.date(2026, 1, 1)}
    base.update(values)
    standard = create_standard(base, None, supplier=supplier, chain_role=role)
    db.session.commit()
    return standard


def results(supplier, first="2026-03", last="2026-03"):
    start, end = measurement.month_span(first, last)
    return {(r.metric, r.period.key): r for r in measurement.supplier_results(supplier, start, end, now=NOW)}


def test_on_time_rate_counts_tolerance_open_lost_and_cancelled_legs(make_supplier):
    courier = make_supplier(code="LM-1", chain_roles=["last_mile"])
    promise = at("2026-03-10")
    record(courier, [
        leg(courier, promise, promise),                                   # on time
        leg(courier, promise, promise + dt.timedelta(hours=2)),           # exactly at tolerance: on time
        leg(courier, promise, promise + dt.timedelta(hours=2, seconds=1)),  # one second late
        leg(courier, promise, outcome="lost"),                            # lost: not on time
        leg(courier, promise),                                            # open past promise: late
        leg(courier, promise, promise, outcome="cancelled"),              # cancelled: not counted
        leg(courier, at("2026-03-11"), at("2026-03-09"), excluded=True),  # force majeure: not counted
    ])
    sla(courier, tolerance_minutes=120, target="0.5", warning_threshold="0.6")
    result = results(courier)[("on_time_rate", "2026-03")]
    assert (result.sample_size, result.value) == (5, Decimal("0.4"))   # 2 of 5
    assert result.status == "breached"


def test_empty_period_is_no_data_never_zero(make_supplier):
    courier = make_supplier(code="LM-2")
    sla(courier)
    result = results(courier)[("on_time_rate", "2026-03")]
    assert (result.value, result.sample_size, result.status) == (None, 0, "no_data")


def test_open_leg_is_not_late_before_its_promise(make_supplier):
    courier = make_supplier(code="LM-3")
    record(courier, [leg(courier, NOW + dt.timedelta(hours=1)), leg(courier, NOW - dt.timedelta(hours=1), NOW)])
    sla(courier)
    result = results(courier, "2026-11", "2026-11")[("on_time_rate", "2026-11")]
    assert (result.sample_size, result.value) == (1, Decimal("0"))


def test_a_leg_belongs_to_the_local_day_of_its_promise(make_supplier):
    courier = make_supplier(code="LM-4")
    # 31 March 23:30 in Rome is 21:30 UTC: a March leg. 1 April 00:30 Rome is 31 March 22:30 UTC: April.
    record(courier, [leg(courier, at("2026-03-31", "23:30"), at("2026-03-31", "23:00")),
                     leg(courier, at("2026-04-01", "00:30"), at("2026-04-01", "01:30"))])
    sla(courier)
    got = results(courier, "2026-03", "2026-04")
    assert got[("on_time_rate", "2026-03")].value == Decimal("1")
    assert got[("on_time_rate", "2026-04")].value == Decimal("0")


def test_delays_across_the_spring_dst_change_are_elapsed_hours(make_supplier):
    courier = make_supplier(code="LM-5")
    # Promise 29 March 01:30 CET; delivered 03:30 CEST the same night: one elapsed hour, not two.
    record(courier, [leg(courier, at("2026-03-29", "01:30"), at("2026-03-29", "03:30"))])
    sla(courier, metric="mean_delay_hours", comparator="lte", target="2")
    result = results(courier)[("mean_delay_hours", "2026-03")]
    assert result.value == Decimal("1.00")


def test_mean_and_p95_delay(make_supplier):
    courier = make_supplier(code="LM-6")
    promise = at("2026-03-05")
    delays = [-3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 40]  # hours; 20 legs
    record(courier, [leg(courier, promise, promise + dt.timedelta(hours=h)) for h in delays])
    sla(courier, metric="mean_delay_hours", comparator="lte", target="10")
    sla(courier, name="p95", metric="p95_delay_hours", comparator="lte", target="20")
    got = results(courier)
    # Early legs count as 0: (0+0+1+…+17+40)/20 = (153+40)/20 = 9.65 h.
    assert got[("mean_delay_hours", "2026-03")].value == Decimal("9.65")
    # Nearest rank ⌈0.95 × 20⌉ = 19th of the sorted delays = 17 h.
    assert got[("p95_delay_hours", "2026-03")].value == Decimal("17.00")
    assert got[("p95_delay_hours", "2026-03")].status == "met"


def test_suppliers_measured_together_get_each_their_own_results(make_supplier):
    """suppliers_results measures a shared SLA once for all its suppliers; every supplier still
    gets exactly what supplier_results gives it alone, percentile included."""
    fast = make_supplier(code="LM-61", chain_roles=["last_mile"])
    slow = make_supplier(code="LM-62", chain_roles=["last_mile"])
    promise = at("2026-03-05")
    record(fast, [leg(fast, promise, promise + dt.timedelta(hours=h)) for h in (0, 1, 2)])
    record(slow, [leg(slow, promise, promise + dt.timedelta(hours=h)) for h in (1, 10, 30, 50)])
    sla(role="last_mile", name="p95", metric="p95_delay_hours", comparator="lte", target="20")
    sla(role="last_mile", name="late", metric="mean_delay_hours", comparator="lte", target="20")
    sla(slow, name="own", metric="lost_rate", comparator="lte", target="0.1")
    together = measurement.suppliers_results([fast, slow], dt.date(2026, 3, 1), dt.date(2026, 3, 31), now=NOW)
    got = {(r.supplier_id, r.metric): (r.value, r.sample_size, r.status) for r in together}
    # Nearest rank ⌈0.95 × 3⌉ = 3rd of (0, 1, 2) = 2 h; ⌈0.95 × 4⌉ = 4th of (1, 10, 30, 50) = 50 h.
    assert got[(fast.id, "p95_delay_hours")] == (Decimal("2.00"), 3, "met")
    assert got[(slow.id, "p95_delay_hours")] == (Decimal("50.00"), 4, "breached")
    assert got[(fast.id, "mean_delay_hours")] == (Decimal("1.00"), 3, "met")      # (0 + 1 + 2) / 3
    assert got[(slow.id, "mean_delay_hours")] == (Decimal("22.75"), 4, "breached")  # 91 / 4
    assert got[(slow.id, "lost_rate")] == (Decimal("0"), 4, "met")
    assert (fast.id, "lost_rate") not in got                                       # slow's own SLA only
    for supplier in (fast, slow):
        alone = measurement.supplier_results(supplier, dt.date(2026, 3, 1), dt.date(2026, 3, 31), now=NOW)
        assert sorted((r.metric, r.value, r.sample_size, r.status) for r in alone) == sorted(
            (r.metric, r.value, r.sample_size, r.status) for r in together if r.supplier_id == supplier.id)


def test_lost_damage_and_first_attempt_rates(make_supplier):
    courier = make_supplier(code="LM-7")
    p = at("2026-03-05")
    record(courier, [leg(courier, p, p), leg(courier, p, p), leg(courier, p, p, outcome="failed_attempt"),
                     leg(courier, p, outcome="lost"), leg(courier, p, p, outcome="damaged"), leg(courier, p)])
    sla(courier, name="lost", metric="lost_rate", comparator="lte", target="0.1")
    sla(courier, name="damage", metric="damage_rate", comparator="lte", target="0.1")
    sla(courier, name="first", metric="first_attempt_rate", comparator="gte", target="0.5")
    got = results(courier)
    assert got[("lost_rate", "2026-03")].value == Decimal("0.2")          # 1 of 5 closed
    assert got[("damage_rate", "2026-03")].value == Decimal("0.2")
    assert got[("first_attempt_rate", "2026-03")].value == Decimal("0.666667")  # 2 of 3


def test_minimum_sample_gives_not_enough_data(make_supplier):
    courier = make_supplier(code="LM-8")
    p = at("2026-03-05")
    record(courier, [leg(courier, p, p), leg(courier, p, p)])
    sla(courier, min_sample=3)
    result = results(courier)[("on_time_rate", "2026-03")]
    assert (result.value, result.sample_size, result.status) == (Decimal("1"), 2, "no_data")


def test_supplier_sla_overrides_its_role_default(make_supplier):
    courier = make_supplier(code="LM-9", chain_roles=["last_mile"])
    p = at("2026-03-05")
    record(courier, [leg(courier, p, p + dt.timedelta(minutes=30))])
    sla(role="last_mile", target="0.95")                 # default: no tolerance → late
    sla(courier, tolerance_minutes=60, target="0.95")    # own: 1 h tolerance → on time
    got = measurement.supplier_results(courier, dt.date(2026, 3, 1), dt.date(2026, 3, 31), now=NOW)
    assert len(got) == 1 and got[0].standard.supplier_id == courier.id and got[0].value == Decimal("1")


def test_version_in_force_at_each_legs_promise_applies(make_supplier):
    courier = make_supplier(code="LM-10")
    record(courier, [leg(courier, at("2026-03-10"), at("2026-03-10", "12:30")),    # v1: no tolerance → late
                     leg(courier, at("2026-03-20"), at("2026-03-20", "12:30"))])   # v2: 1 h tolerance → on time
    first = sla(courier, target="0.9", warning_threshold="0.95")
    revise_standard(first, {**{k: getattr(first, k) for k in ("name", "metric", "stage", "comparator", "window",
                                                              "min_sample", "honours_exclusions")},
                            "target": "0.4", "tolerance_minutes": 60, "valid_from": dt.date(2026, 3, 15)},
                    None, "Nuovo contratto")
    db.session.commit()
    result = results(courier)[("on_time_rate", "2026-03")]
    assert result.value == Decimal("0.5")
    assert result.standard.version == 2 and result.status == "met"   # v2 target 0.4 applies at month end


@pytest.mark.parametrize("kind,amount,cap,expected", [
    ("fixed", "500", None, Decimal("500.00")),
    ("per_unit", "100", None, Decimal("1500.00")),    # 90 % − 75 % = 15 points × 100
    ("per_unit", "100", "1000", Decimal("1000.00")),  # capped
])
def test_penalties(make_supplier, kind, amount, cap, expected):
    courier = make_supplier(code=f"LM-P{kind}{cap}")
    p = at("2026-03-05")
    record(courier, [leg(courier, p, p)] * 0 + [leg(courier, p, p) for _ in range(3)] + [leg(courier, p)])
    sla(courier, target="0.9", penalty_kind=kind, penalty_amount=amount, penalty_cap=cap)
    result = results(courier)[("on_time_rate", "2026-03")]
    assert result.value == Decimal("0.75") and result.penalty == expected
