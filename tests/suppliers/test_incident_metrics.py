"""Incident metrics of SLAs, counted through attribution shares, values worked out by hand."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from app.db import db
from incidents.models import AttributionDecision, AttributionShare, Incident, IncidentCategory
from incidents.services.legs import LegInput, record_legs
from incidents.services.share_stats import record_decision_shares
from suppliers.services import measurement
from suppliers.services.standards import create_standard
from tests.suppliers.test_measurement import NOW, ROME, at

UTC = dt.timezone.utc


def incident(reported, *, shares, first_response_hours=None, resolution_hours=None, csat=None, revisions=1):
    category = db.session.scalar(select(IncidentCategory).where(IncidentCategory.code == "late_delivery"))
    item = Incident(channel="web", category=category, priority="normal", description="x", status="new",
                    reported_at=reported, respond_by=reported + dt.timedelta(hours=24), csat=csat,
                    first_response_at=reported + dt.timedelta(hours=first_response_hours)
                    if first_response_hours is not None else None,
                    resolved_at=reported + dt.timedelta(hours=resolution_hours)
                    if resolution_hours is not None else None)
    db.session.add(item)
    db.session.flush()
    for revision in range(1, revisions + 1):
        decision = AttributionDecision(incident=item, revision=revision)
        db.session.add(decision)  # before its shares: reading a supplier's id may autoflush
        # Earlier revisions blame someone else entirely: only the latest must count.
        parties = shares if revision == revisions else [(None, Decimal(1))]
        for supplier, share in parties:
            decision.shares.append(AttributionShare(supplier_id=supplier.id if supplier else None,
                                                    is_internal=supplier is None, share=share))
        db.session.add(decision)
        db.session.flush()
        # As `record_decision` does: the daily share statistics follow every decision.
        record_decision_shares(item, revision, revision - 1 or None)
    return item


def sla(supplier, **values):
    create_standard({"name": values.pop("name", "x"), "target": "1", "min_sample": 1,
                     "valid_from": dt.date(2026, 1, 1), **values}, None, supplier=supplier)


def results(supplier, month="2026-03"):
    start, end = measurement.month_span(month, month)
    return {r.metric: r for r in measurement.supplier_results(supplier, start, end, now=NOW)}


def test_incident_metrics_weight_incidents_by_the_suppliers_share(make_supplier):
    carrier = make_supplier(code="CAR-1", chain_roles=["carrier"])
    seller = make_supplier(code="SEL-1", chain_roles=["seller"])
    p = at("2026-03-10")
    # 8 legs of the carrier in March: incidents per 1,000 legs = share sum / 8 × 1000.
    record_legs([LegInput(external_id=f"L{n}", order_ref=f"O{n}", stage="line_haul", supplier_code="CAR-1",
                          promised_at=p, actual_at=p, outcome="completed") for n in range(8)],
                {"CAR-1": carrier.id}, ROME)
    incident(at("2026-03-11"), shares=[(carrier, Decimal("0.75")), (seller, Decimal("0.25"))],
             first_response_hours=2, resolution_hours=30, csat=2)
    incident(at("2026-03-12"), shares=[(carrier, Decimal(1))], first_response_hours=6, resolution_hours=10, csat=4,
             revisions=2)
    incident(at("2026-04-02"), shares=[(carrier, Decimal(1))], first_response_hours=100)   # April: not counted
    db.session.commit()
    sla(carrier, name="a", metric="incidents_per_1000", comparator="lte", target="200")
    sla(carrier, name="b", metric="first_response_hours", comparator="lte", target="4")
    sla(carrier, name="c", metric="resolution_hours", comparator="lte", target="24")
    sla(carrier, name="d", metric="csat_avg", comparator="gte", target="3.5")
    got = results(carrier)
    # (0.75 + 1) / 8 legs × 1000 = 218.75 → breached (≤ 200).
    assert (got["incidents_per_1000"].value, got["incidents_per_1000"].status) == (Decimal("218.75"), "breached")
    # Weighted: (0.75 × 2 + 1 × 6) / 1.75 = 7.5 / 1.75 = 4.2857… h → 4.29
    assert got["first_response_hours"].value == Decimal("4.29")
    # (0.75 × 30 + 1 × 10) / 1.75 = 32.5 / 1.75 = 18.571… h → 18.57
    assert (got["resolution_hours"].value, got["resolution_hours"].status) == (Decimal("18.57"), "met")
    # (0.75 × 2 + 1 × 4) / 1.75 = 5.5 / 1.75 = 3.142857… → 3.14
    assert (got["csat_avg"].value, got["csat_avg"].status) == (Decimal("3.14"), "breached")
    assert got["csat_avg"].sample_size == 2
    # The seller carries a quarter of the first incident only.
    sla(seller, name="e", metric="csat_avg", comparator="gte", target="3")
    assert results(seller)["csat_avg"].value == Decimal("2.00")


def test_a_period_without_incidents_or_legs_is_no_data(make_supplier):
    carrier = make_supplier(code="CAR-2")
    sla(carrier, name="b", metric="first_response_hours", comparator="lte", target="4")
    sla(carrier, name="a", metric="incidents_per_1000", comparator="lte", target="200")
    got = results(carrier)
    assert (got["first_response_hours"].value, got["first_response_hours"].status) == (None, "no_data")
    assert (got["incidents_per_1000"].value, got["incidents_per_1000"].status) == (None, "no_data")


def test_reported_day_follows_the_company_zone(make_supplier):
    item = incident(dt.datetime(2026, 3, 31, 22, 30, tzinfo=UTC), shares=[(make_supplier(code="X-1"), Decimal(1))])
    assert item.reported_day == dt.date(2026, 4, 1)   # 00:30 on 1 April in Rome
