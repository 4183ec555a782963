"""The service dashboard: KPIs, trend and breakdowns worked out by hand on a small fixture."""
from __future__ import annotations

import re

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.db import db
from incidents.models import AttributionDecision, AttributionShare, Incident, IncidentCategory, Interaction
from incidents.services.dashboard import service_dashboard
from incidents.services.share_stats import record_decision_shares
from tests.app.test_queries import count_queries
from tests.suppliers.test_measurement import at

MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
H = dt.timedelta(hours=1)


def category(code: str) -> IncidentCategory:
    return db.session.scalar(select(IncidentCategory).where(IncidentCategory.code == code))


def incident(day, *, channel="web", code="late_delivery", csat=None, first_response=None, resolved=None,
             status=None, interactions=(), shares=()):
    """One incident reported at noon (Rome) on `day`; hours after the report for the times;
    interactions as (hours, channel, direction); shares as (supplier or None=internal, share)."""
    reported = at(day)
    item = Incident(channel=channel, category=category(code), priority="normal", description="x",
                    status=status or ("resolved" if resolved is not None else "new"),
                    reported_at=reported, respond_by=reported + 24 * H, csat=csat,
                    first_response_at=reported + first_response * H if first_response is not None else None,
                    resolved_at=reported + resolved * H if resolved is not None else None)
    for hours, ch, direction in interactions:
        item.interactions.append(Interaction(at=reported + hours * H, channel=ch, direction=direction))
    db.session.add(item)
    db.session.flush()
    if shares:
        decision = AttributionDecision(incident=item, revision=1)
        db.session.add(decision)
        for supplier, share in shares:
            decision.shares.append(AttributionShare(supplier_id=supplier.id if supplier else None,
                                                    is_internal=supplier is None, share=Decimal(share)))
        db.session.add(decision)
        db.session.flush()
        record_decision_shares(item, 1, None)  # as `record_decision` does
    return item


@pytest.fixture
def world(make_supplier):
    carrier = make_supplier(code="CAR-1", chain_roles=["carrier"])
    seller = make_supplier(code="SEL-1", chain_roles=["seller"])
    # March: A, B, C, D, G (5 received).
    incident("2026-03-02", channel="web", csat=4, first_response=2, resolved=10,                      # A
             interactions=[(2, "email", "outbound"), (6, "email", "outbound")], shares=[(carrier, "1")])
    incident("2026-03-09", channel="phone", csat=2, first_response=4, resolved=30,                    # B
             interactions=[(4, "phone", "outbound"), (5, "phone", "inbound")],
             shares=[(carrier, "0.5"), (seller, "0.5")])
    incident("2026-03-16", channel="web", code="damaged_goods", first_response=1, status="in_progress",  # C
             interactions=[(1, "web", "outbound")], shares=[(seller, "0.75"), (None, "0.25")])
    incident("2026-03-23", channel="email", code="damaged_goods")                                     # D
    # G: resolved on 3 April (96 h later), after the span: still in March's backlog.
    incident("2026-03-30", channel="chat", csat=5, first_response=1, resolved=96)                     # G
    # Outside March: E in April, F in February (still open: in the backlog).
    incident("2026-04-02", channel="web", csat=1, first_response=50, resolved=60, shares=[(carrier, "1")])  # E
    incident("2026-02-20", channel="phone")                                                           # F
    db.session.commit()
    return carrier, seller


def test_march_kpis_match_the_hand_computed_values(world):
    d = service_dashboard(*MARCH, measure_slas=False)
    assert d.received == 5                                   # A B C D G
    assert d.totals.csat == Decimal("3.67")                  # (4 + 2 + 5) / 3 = 3.666…
    assert d.totals.csat_sample == 3
    assert d.totals.first_response_hours == Decimal("2.00")  # (2 + 4 + 1 + 1) / 4 answered
    assert d.response_hours == Decimal("3.25")               # outbound at 2, 6 (A), 4 (B), 1 (C) h: 13 / 4
    assert d.outbound_responses == 4
    assert d.totals.resolution_hours == Decimal("45.33")     # (10 + 30 + 96) / 3 = 45.333…
    assert d.totals.resolution_rate == Decimal("0.6000")     # A, B, G resolved of 5
    assert d.interactions == 5                               # 2 (A) + 2 (B) + 1 (C)
    assert d.interactions_per_incident == Decimal("1.00")    # 5 / 5
    # Open at the end of March: C, D, F (February) and G (resolved only on 3 April).
    assert d.backlog == 4
    # Preferred channels: the incidents' own, and their interactions'.
    assert {r.key: r.figures.received for r in d.by_channel} == {"web": 2, "phone": 1, "email": 1, "chat": 1}
    assert d.interaction_channels == {"email": 2, "phone": 2, "web": 1}
    assert {r.key: r.figures.received for r in d.by_category} == {"late_delivery": 3, "damaged_goods": 2}


def test_march_trends_by_week_and_a_quarter_by_month(world):
    d = service_dashboard(*MARCH, measure_slas=False)
    assert d.trend_window == "week"
    # 1 March 2026 is a Sunday: W09 has one day; A, B, C, D, G fall in the next five weeks.
    assert [(p.label, p.value) for p in d.trend] == [
        ("2026-W09", 0), ("2026-W10", 1), ("2026-W11", 1), ("2026-W12", 1), ("2026-W13", 1), ("2026-W14", 1)]
    assert d.trend[-1].end == dt.date(2026, 3, 31)
    q = service_dashboard(dt.date(2026, 2, 1), dt.date(2026, 4, 30), measure_slas=False)
    assert q.trend_window == "month"
    assert [(p.label, p.value) for p in q.trend] == [("2026-02", 1), ("2026-03", 5), ("2026-04", 1)]


def test_suppliers_count_with_their_share_and_the_rest_is_not_attributed(world):
    carrier, seller = world
    rows = {r.key: r for r in service_dashboard(*MARCH, measure_slas=False).by_supplier}
    assert set(rows) == {"CAR-1", "SEL-1", None}
    car, sel, rest = rows["CAR-1"].figures, rows["SEL-1"].figures, rows[None].figures
    assert car.received == Decimal("1.5")                    # A 1 + B 0.5
    assert car.csat == Decimal("3.33")                       # (1×4 + 0.5×2) / 1.5
    assert car.first_response_hours == Decimal("2.67")       # (1×2 + 0.5×4) / 1.5
    assert car.resolution_hours == Decimal("16.67")          # (1×10 + 0.5×30) / 1.5
    assert car.resolution_rate == Decimal("1.0000")
    assert sel.received == Decimal("1.3")                    # B 0.5 + C 0.75 = 1.25, shown to one decimal
    assert sel.first_response_hours == Decimal("2.20")       # (0.5×4 + 0.75×1) / 1.25
    assert sel.csat == Decimal("2.00")                       # only B scored
    assert sel.resolution_rate == Decimal("0.4000")          # resolved 0.5 / 1.25 (unrounded)
    assert rest.received == Decimal("2.3")                   # C's internal 0.25 + D 1 + G 1 = 2.25
    assert rest.csat == Decimal("5.00")                      # G
    assert rest.resolution_rate == Decimal("0.4444")         # G 1 / 2.25
    # The rows add up to the volume (before rounding: 1.5 + 1.25 + 2.25 = 5).
    assert [r.key for r in service_dashboard(*MARCH, measure_slas=False).by_supplier][-1] is None


def test_filters_narrow_every_number(world):
    carrier, seller = world
    s = service_dashboard(*MARCH, supplier_id=seller.id, measure_slas=False)
    assert s.received == 2                                   # B, C
    assert s.totals.csat == Decimal("2.00")
    assert s.totals.first_response_hours == Decimal("2.50")  # (4 + 1) / 2
    assert s.backlog == 1                                    # C (F and G carry no seller share)
    assert s.interactions == 3
    c = service_dashboard(*MARCH, category_id=category("damaged_goods").id, measure_slas=False)
    assert (c.received, c.backlog, c.totals.csat) == (2, 2, None)   # C, D
    assert c.totals.resolution_rate == Decimal("0")           # received but none resolved: a real 0
    p = service_dashboard(*MARCH, channel="phone", measure_slas=False)
    assert (p.received, p.backlog) == (1, 1)                 # B; the backlog is F (B was resolved)
    assert [r.key for r in p.by_channel] == ["phone"]


def test_an_empty_period_has_no_data_rather_than_zeros(world):
    d = service_dashboard(dt.date(2026, 1, 1), dt.date(2026, 1, 31), measure_slas=False)
    assert d.received == 0 and not d.has_data
    assert d.totals.resolution_rate is None
    assert d.interactions_per_incident is None
    assert d.totals.csat is None and d.totals.first_response_hours is None and d.response_hours is None
    assert d.totals.resolution_hours is None
    assert d.sla_attainment is None
    assert d.by_supplier == [] and d.by_category == []
    assert d.backlog == 0


def test_sla_attainment_counts_the_periods_that_met_their_target(world):
    from tests.suppliers.test_incident_metrics import sla

    carrier, seller = world
    # Carrier's first response in March: (1×2 + 0.5×4) / 1.5 = 2.67 h ≤ 4 → met;
    # CSAT (1×4 + 0.5×2) / 1.5 = 3.33 < 3.5 → breached: 1 of 2 periods attained.
    sla(carrier, name="b", metric="first_response_hours", comparator="lte", target="4")
    sla(carrier, name="d", metric="csat_avg", comparator="gte", target="3.5")
    d = service_dashboard(*MARCH, supplier_id=carrier.id, now=dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc))
    assert (d.sla_periods_attained, d.sla_periods_judged) == (1, 2)
    assert d.sla_attainment == Decimal("0.5000")


def test_sla_attainment_of_several_suppliers_is_each_ones_own(world):
    """Measured together (one statement per SLA series), each supplier's row has the attainment
    a dashboard filtered on that supplier alone gives."""
    from tests.suppliers.test_incident_metrics import sla

    carrier, seller = world
    now = dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc)
    # Carrier: first response 2.67 h ≤ 4 → met; CSAT 3.33 < 3.5 → breached (1 of 2).
    sla(carrier, name="b", metric="first_response_hours", comparator="lte", target="4")
    sla(carrier, name="d", metric="csat_avg", comparator="gte", target="3.5")
    # Seller: first response (0.5×4 + 0.75×1) / 1.25 = 2.2 h ≤ 4 → met (1 of 1).
    sla(seller, name="b", metric="first_response_hours", comparator="lte", target="4")
    d = service_dashboard(*MARCH, now=now)
    rows = {r.key: r for r in d.by_supplier}
    assert (rows["CAR-1"].sla_periods_judged, rows["CAR-1"].sla_attainment) == (2, Decimal("0.5000"))
    assert (rows["SEL-1"].sla_periods_judged, rows["SEL-1"].sla_attainment) == (1, Decimal("1.0000"))
    assert (d.sla_periods_attained, d.sla_periods_judged) == (2, 3)
    assert sorted(d.sla_supplier_ids) == sorted([carrier.id, seller.id])
    for supplier, row in ((carrier, rows["CAR-1"]), (seller, rows["SEL-1"])):
        alone = service_dashboard(*MARCH, supplier_id=supplier.id, now=now)
        assert (alone.sla_periods_judged, alone.sla_attainment) == (row.sla_periods_judged, row.sla_attainment)


def test_measuring_slas_costs_queries_per_supplier_not_per_supplier_and_sla(app, world, make_supplier):
    """Each supplier measured costs one query (its SLAs); the SLAs they share are measured once."""
    from suppliers.services.standards import create_standard

    carrier, seller = world
    now = dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc)
    for metric, comparator in (("first_response_hours", "lte"), ("csat_avg", "gte"), ("resolution_hours", "lte")):
        create_standard({"name": metric, "metric": metric, "comparator": comparator, "target": "3",
                         "window": "month", "min_sample": 1, "valid_from": dt.date(2026, 1, 1)},
                        None, chain_role="carrier")
    db.session.commit()
    with count_queries(app) as one:
        service_dashboard(*MARCH, now=now)
    others = [make_supplier(code=f"CAR-{n}", chain_roles=["carrier"]) for n in range(2, 6)]
    for other in others:
        incident("2026-03-11", shares=[(other, "1")])
    db.session.commit()
    with count_queries(app) as five:
        d = service_dashboard(*MARCH, now=now)
    assert set(d.sla_supplier_ids) >= {carrier.id, *(o.id for o in others)}
    # Four more suppliers: four more look-ups of their SLAs, and no more measuring statements.
    assert len(five) - len(one) == 4


def test_the_dashboard_issues_a_bounded_number_of_queries(app, world):
    with count_queries(app) as few:
        service_dashboard(*MARCH, measure_slas=False)
    for n in range(20):
        incident("2026-03-10", channel="chat", csat=3, first_response=1, resolved=2,
                 interactions=[(1, "chat", "outbound")], shares=[(world[0], "1")])
    db.session.commit()
    with count_queries(app) as many:
        d = service_dashboard(*MARCH, measure_slas=False)
    assert d.received == 25
    assert len(many) == len(few) <= 8


# The page -------------------------------------------------------------------------------

def test_the_page_shows_the_numbers_to_a_viewer(world, login_as):
    client = login_as("viewer")
    response = client.get("/service/dashboard?from=2026-03&to=2026-03")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert ">5</a>" in page                                  # received
    assert "3.67" in page or "3,67" in page                  # CSAT
    assert "45.3" in page or "45,3" in page                  # resolution time, hours
    assert "60.0" in page or "60,0" in page                  # resolution rate, %
    assert "CAR-1" in page and "SEL-1" in page
    # Numbers lead to the incidents behind them.
    span = "/incidents/?from=2026-03-01&amp;to=2026-03-31&amp;status=all"
    assert f'{span}&amp;category=damaged_goods"' in page
    assert f'{span}&amp;attributed=CAR-1"' in page
    assert 'style="' not in page.split("<body", 1)[1]


def test_the_page_filters_and_handles_an_empty_span(world, login_as):
    carrier, seller = world
    client = login_as("viewer")
    assert client.get(f"/service/dashboard?from=2026-03&to=2026-03&supplier={seller.code}"
                      "&category=damaged_goods&channel=web").status_code == 200
    empty = client.get("/service/dashboard?from=2025-01&to=2025-01")
    assert empty.status_code == 200
    assert "No data" in empty.get_data(as_text=True)
    # Nonsense in the arguments falls back to the defaults rather than failing.
    assert client.get("/service/dashboard?from=bad&to=2026-13&channel=pigeon").status_code == 200


def test_signed_out_visitors_are_sent_to_sign_in(world, client):
    response = client.get("/service/dashboard")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
