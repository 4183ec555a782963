"""Attribution: the rules on crafted chains (numbers worked out by hand), decisions and the panel."""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.db import db
from app.errors import ValidationFailed
from incidents.models import AttributionDecision, Incident, IncidentCategory, Order
from incidents.services import attribution
from incidents.services.legs import LegInput, record_legs

UTC = dt.timezone.utc
_refs = itertools.count(1)


def t(day: int, hour: int = 8) -> dt.datetime:
    """A time in March 2026, UTC."""
    return dt.datetime(2026, 3, day, hour, 0, tzinfo=UTC)


def make_chain(rows, placed_at=t(2, 8)) -> Order:
    """rows: (stage, supplier, promised_at, actual_at, outcome) in chain order."""
    ref = f"ORD-A{next(_refs)}"
    legs = [LegInput(external_id=f"{ref}-{n}", order_ref=ref, stage=stage, supplier_code=supplier.code,
                     promised_at=promised, actual_at=actual,
                     outcome=outcome or ("completed" if actual else None), sequence=n,
                     order_placed_at=placed_at)
            for n, (stage, supplier, promised, actual, outcome) in enumerate(rows, start=1)]
    record_legs(legs, {r[1].code: r[1].id for r in rows}, UTC)
    db.session.commit()
    return db.session.scalar(select(Order).where(Order.ref == ref))


def make_incident(order: Order | None, category: str = "late_delivery") -> Incident:
    cat = db.session.scalar(select(IncidentCategory).where(IncidentCategory.code == category))
    incident = Incident(order_id=order.id if order else None, category_id=cat.id, status="new", channel="web",
                        reported_at=t(7), respond_by=t(8), description="Il pacco è arrivato tardi")
    db.session.add(incident)
    db.session.commit()
    return incident


@pytest.fixture
def suppliers(make_supplier):
    return {
        "seller": make_supplier(code="SEL-001", chain_roles=["seller"]),
        "warehouse": make_supplier(code="WH-001", chain_roles=["warehouse"]),
        "carrier": make_supplier(code="CAR-001", chain_roles=["carrier"]),
        "hub": make_supplier(code="HUB-001", chain_roles=["carrier"]),
        "courier": make_supplier(code="LM-001", chain_roles=["last_mile"]),
        "point": make_supplier(code="PP-001", chain_roles=["pickup_point"]),
    }


def two_late_legs(s) -> Order:
    # Order placed 03-02 08:00.
    # Seller: planned 03-02 08:00 → 03-03 08:00 = 24 h; actual 03-02 08:00 → 03-04 08:00 = 48 h: excess 24 h.
    # Line haul: planned 03-03 08:00 → 03-04 08:00 = 24 h; received 03-04 08:00, done 03-05 20:00 = 36 h:
    #   excess 12 h (its own delay is 36 h, 24 of which it inherited).
    # Last mile: planned 03-04 08:00 → 03-05 08:00 = 24 h; received 03-05 20:00, done 03-06 08:00 = 12 h:
    #   excess −12 h, not responsible although it ended 24 h after its promise.
    # Shares: 24/36 = 0.666667, 12/36 = 0.333333 (sum exactly 1).
    return make_chain([
        ("seller_handover", s["seller"], t(3), t(4), None),
        ("line_haul", s["carrier"], t(4), t(5, 20), None),
        ("last_mile", s["courier"], t(5), t(6), None),
    ])


def summary(proposals):
    return [(p.supplier.code, p.leg.stage, p.share, p.root_cause) for p in proposals]


def test_two_late_legs_share_in_proportion_to_their_excess_delay(suppliers):
    incident = make_incident(two_late_legs(suppliers))
    proposals = attribution.propose(incident)
    assert summary(proposals) == [
        ("SEL-001", "seller_handover", Decimal("0.666667"), "late_handover"),
        ("CAR-001", "line_haul", Decimal("0.333333"), "transit_delay"),
    ]
    assert sum(p.share for p in proposals) == Decimal(1)
    assert str(proposals[0].reason) == ("Seller handover by SEL-001 took 24.0 h more than planned "
                                        "(planned 24.0 h, actual 48.0 h)")
    assert str(proposals[1].reason) == ("Line haul by CAR-001 took 12.0 h more than planned "
                                        "(planned 24.0 h, actual 36.0 h)")


def test_a_tolerance_leaves_out_legs_whose_excess_is_within_it(suppliers):
    # Same chain, tolerance 12 h: the seller's 24 h is beyond it, the carrier's 12 h is not.
    incident = make_incident(two_late_legs(suppliers))
    assert summary(attribution.propose(incident, tolerance_hours=Decimal(12))) == [
        ("SEL-001", "seller_handover", Decimal(1), "late_handover")]


def test_a_late_first_leg_made_up_by_the_next_is_the_only_one_blamed(suppliers):
    s = suppliers
    # Seller: promised 03-03 08:00, actual 03-04 08:00: excess 24 h.
    # Line haul: planned 03-03 08:00 → 03-04 20:00 = 36 h; received 03-04 08:00, done 03-05 08:00 = 24 h:
    #   excess −12 h. It ended 12 h after its own promise, yet it made up time: not blamed.
    # Last mile: planned 03-04 20:00 → 03-06 08:00 = 36 h; received 03-05 08:00, done 03-06 08:00 = 24 h: −12 h.
    order = make_chain([
        ("seller_handover", s["seller"], t(3), t(4), None),
        ("line_haul", s["carrier"], t(4, 20), t(5), None),
        ("last_mile", s["courier"], t(6), t(6), None),
    ])
    assert summary(attribution.propose(make_incident(order))) == [
        ("SEL-001", "seller_handover", Decimal(1), "late_handover")]


def test_without_an_order_time_the_first_legs_excess_is_its_own_delay_and_cancelled_legs_are_ignored(suppliers):
    s = suppliers
    # No order time. Seller: 24 h after its promise → excess 24 h (reason says the start is unknown).
    # A cancelled warehouse leg between them is ignored, so the line haul follows the seller:
    # planned 03-03 08:00 → 03-05 08:00 = 48 h; received 03-04 08:00, done 03-06 08:00 = 48 h: excess 0.
    order = make_chain([
        ("seller_handover", s["seller"], t(3), t(4), None),
        ("warehouse", s["warehouse"], t(3, 20), None, "cancelled"),
        ("line_haul", s["carrier"], t(5), t(6), None),
    ], placed_at=None)
    proposals = attribution.propose(make_incident(order))
    assert summary(proposals) == [("SEL-001", "seller_handover", Decimal(1), "late_handover")]
    assert "24.0 h after its promise" in str(proposals[0].reason)


def test_a_parcel_lost_mid_chain_is_blamed_on_the_leg_that_last_held_it(suppliers):
    s = suppliers
    # Seller and line haul completed; the hub received it (line haul completed) and never completed;
    # the last mile never started.
    order = make_chain([
        ("seller_handover", s["seller"], t(3), t(3), None),
        ("line_haul", s["carrier"], t(4), t(4), None),
        ("hub", s["hub"], t(5), None, None),
        ("last_mile", s["courier"], t(6), None, None),
    ])
    proposals = attribution.propose(make_incident(order, "lost_parcel"))
    assert summary(proposals) == [("HUB-001", "hub", Decimal(1), "lost_in_transit")]
    assert "never completed" in str(proposals[0].reason)


def test_no_chain_data_means_no_proposal(suppliers):
    assert attribution.propose(make_incident(None)) == []
    # A category whose rule is "none" proposes nobody even with a chain.
    assert attribution.propose(make_incident(two_late_legs(suppliers), "wrong_item")) == []


def test_damaged_goods_go_to_the_leg_that_recorded_it_else_the_last_carrier(suppliers):
    s = suppliers
    recorded = make_chain([
        ("seller_handover", s["seller"], t(3), t(3), None),
        ("hub", s["hub"], t(4), t(4), "damaged"),
        ("last_mile", s["courier"], t(5), t(5), None),
    ])
    assert summary(attribution.propose(make_incident(recorded, "damaged_goods"))) == [
        ("HUB-001", "hub", Decimal(1), "damaged_in_handling")]
    # Nobody recorded it: the last carrier leg (last mile), not the pickup point after it.
    unrecorded = make_chain([
        ("seller_handover", s["seller"], t(3), t(3), None),
        ("last_mile", s["courier"], t(5), t(5), None),
        ("pickup_point", s["point"], t(6), t(6), None),
    ])
    assert summary(attribution.propose(make_incident(unrecorded, "damaged_goods"))) == [
        ("LM-001", "last_mile", Decimal(1), "damaged_in_handling")]


def test_a_labelling_error_goes_to_the_leg_that_produced_the_label(suppliers):
    s = suppliers
    order = make_chain([
        ("seller_handover", s["seller"], t(3), t(3), None),
        ("warehouse", s["warehouse"], t(4), t(4), None),
        ("line_haul", s["carrier"], t(5), t(5), None),
    ])
    assert summary(attribution.propose(make_incident(order, "labelling_error"))) == [
        ("WH-001", "warehouse", Decimal(1), "wrong_label")]


def test_a_rule_code_cannot_be_registered_twice():
    with pytest.raises(ValueError):
        attribution.register_rule("late_delivery", "x", "y")(lambda legs, order: [])


# Decisions -------------------------------------------------------------------------------

def test_shares_not_summing_to_100_percent_are_refused_on_the_total(suppliers, make_user):
    order = two_late_legs(suppliers)
    incident = make_incident(order)
    legs = order.legs
    with pytest.raises(ValidationFailed) as refused:
        attribution.decide(incident, [
            {"leg_id": legs[0].id, "share": Decimal("60") / 100, "root_cause": "late_handover"},
            {"leg_id": legs[1].id, "share": Decimal("39.99") / 100, "root_cause": "transit_delay"},
        ], make_user("operator"))
    assert "99.99 %" in str(refused.value.fields["share_total"])
    assert db.session.scalars(select(AttributionDecision)).all() == []


def test_a_revision_keeps_the_earlier_decision(suppliers, make_user):
    order = two_late_legs(suppliers)
    incident = make_incident(order)
    operator = make_user("operator")
    first = attribution.decide(incident, attribution.proposal_parties(attribution.propose(incident)), operator)
    db.session.commit()
    second = attribution.decide(incident, [
        {"internal": True, "share": Decimal("0.25"), "root_cause": "system_error", "evidence": "Ticket SYS-12"},
        {"leg_id": order.legs[1].id, "share": Decimal("0.75"), "root_cause": "transit_delay"},
    ], operator, note="The carrier's scan shows our booking system was down")
    db.session.commit()

    decisions = db.session.scalars(select(AttributionDecision).order_by(AttributionDecision.revision)).all()
    assert [(d.revision, d.follows_proposal, d.decided_by_id) for d in decisions] == [
        (1, True, operator.id), (2, False, operator.id)]
    assert [(s.supplier.code, s.share) for s in decisions[0].shares] == [
        ("SEL-001", Decimal("0.666667")), ("CAR-001", Decimal("0.333333"))]
    assert decisions[1].proposal[0]["supplier"] == "SEL-001" and decisions[1].proposal[0]["share"] == 0.666667
    assert incident.current_decision.id == second.id != first.id
    assert [(s["supplier"], s["stage"], s["share"], s["root_cause"]) for s in attribution.current_shares(incident)] == [
        ("internal", None, 0.25, "system_error"), ("CAR-001", "line_haul", 0.75, "transit_delay")]


def test_a_leg_of_another_order_a_duplicate_party_or_an_unknown_supplier_is_refused(suppliers, make_user):
    incident = make_incident(two_late_legs(suppliers))
    other = two_late_legs(suppliers)
    with pytest.raises(ValidationFailed) as refused:
        attribution.decide(incident, [
            {"leg_id": other.legs[0].id, "share": Decimal("0.5"), "root_cause": "late_handover"},
            {"internal": True, "share": Decimal("0.25"), "root_cause": "other"},
            {"internal": True, "share": Decimal("0.125"), "root_cause": "other"},
            {"supplier_id": 999_999, "share": Decimal("0.125"), "root_cause": "nonsense"},
        ], make_user("operator"))
    fields = refused.value.fields
    assert set(fields) == {"parties-0-party", "parties-2-party", "parties-3-party", "parties-3-root_cause"}


# Pages -----------------------------------------------------------------------------------

def test_an_operator_records_a_decision_from_the_panel(suppliers, login_as):
    order = two_late_legs(suppliers)
    incident = make_incident(order)
    operator = login_as("operator")
    page = operator.get(f"/incidents/{incident.id}/attribution").get_data(as_text=True)
    assert "Line haul by CAR-001 took 12.0 h more than planned" in page and "Confirm the proposal" in page
    response = operator.post_form(f"/incidents/{incident.id}/attribution", {
        "rows-0-party": f"leg:{order.legs[1].id}", "rows-0-share": "70", "rows-0-root_cause": "transit_delay",
        "rows-0-evidence": "Scan at 20:00", "rows-1-party": "internal", "rows-1-share": "30,00",
        "rows-1-root_cause": "system_error", "note": "override",
    })
    assert response.status_code == 302
    assert [(s["supplier"], s["share"]) for s in attribution.current_shares(incident)] == [
        ("CAR-001", 0.7), ("internal", 0.3)]


def test_confirming_the_proposal_records_it_unchanged(suppliers, login_as):
    incident = make_incident(two_late_legs(suppliers))
    response = login_as("operator").post_form(f"/incidents/{incident.id}/attribution", {"confirm": "1"})
    assert response.status_code == 302
    decision = db.session.scalar(select(AttributionDecision))
    assert decision.follows_proposal and [s.share for s in decision.shares] == [Decimal("0.666667"),
                                                                                  Decimal("0.333333")]


def test_shares_not_summing_to_100_show_the_error_beside_the_shares(suppliers, login_as):
    order = two_late_legs(suppliers)
    incident = make_incident(order)
    response = login_as("operator").post_form(f"/incidents/{incident.id}/attribution", {
        "rows-0-party": f"leg:{order.legs[0].id}", "rows-0-share": "60", "rows-0-root_cause": "late_handover",
        "rows-1-party": f"leg:{order.legs[1].id}", "rows-1-share": "39.99", "rows-1-root_cause": "transit_delay",
    })
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="share-total-error"' in page and "99.99 %" in page
    assert 'value="39.99"' in page  # what the operator typed is kept
    assert db.session.scalar(select(AttributionDecision)) is None


def test_a_viewer_sees_the_panel_but_cannot_decide(suppliers, login_as):
    incident = make_incident(two_late_legs(suppliers))
    viewer = login_as("viewer")
    page = viewer.get(f"/incidents/{incident.id}/attribution").get_data(as_text=True)
    assert "Seller handover by SEL-001" in page and "Record the decision" not in page
    assert viewer.post_form(f"/incidents/{incident.id}/attribution", {"confirm": "1"}).status_code == 403


def test_the_panel_is_a_jinja_global_saying_when_there_is_no_proposal(app, suppliers, make_user):
    from flask import render_template_string
    from flask_login import login_user

    incident = make_incident(None)
    with app.test_request_context():
        login_user(make_user("operator"))
        html = render_template_string("{{ attribution_panel(incident) }}", incident=incident)
    assert "decide yourself" in html and "Record the decision" in html and "<html" not in html


def test_the_rules_page_lists_each_category_and_the_quality_office_changes_one(login_as):
    page = login_as("viewer").get("/incidents/attribution-rules").get_data(as_text=True)
    assert "Late delivery: excess delay of each leg" in page and "made up lost time" in page
    assert "<select" not in page
    category = db.session.scalar(select(IncidentCategory).where(IncidentCategory.code == "wrong_item"))
    assert login_as("operator").post_form(f"/incidents/attribution-rules/{category.id}",
                                          {"rule": "labelling_error"}).status_code == 403
    response = login_as("quality_manager").post_form(f"/incidents/attribution-rules/{category.id}",
                                                     {"rule": "labelling_error"})
    assert response.status_code == 302
    db.session.refresh(category)
    assert category.attribution_rule == "labelling_error"


def test_late_delivery_ignores_an_excess_within_the_agreed_tolerance(make_supplier):
    """A line haul 40 minutes over its plan is within its 1-hour on-time tolerance: only the
    last mile, 5 hours over, is proposed."""
    import datetime as dt
    from decimal import Decimal

    from sqlalchemy import select

    from app.db import db
    from incidents.models import Incident, IncidentCategory, Order
    from incidents.services.attribution import propose
    from incidents.services.legs import LegInput, record_legs
    from suppliers.services.standards import create_standard
    from tests.suppliers.test_measurement import ROME

    carrier = make_supplier(code="TOL-CAR", chain_roles=["carrier"])
    courier = make_supplier(code="TOL-LM", chain_roles=["last_mile"])
    utc = dt.timezone.utc
    placed = dt.datetime(2026, 3, 2, 8, tzinfo=utc)
    record_legs([
        LegInput(external_id="T-1", order_ref="T-ORD", stage="line_haul", supplier_code="TOL-CAR", sequence=1,
                 promised_at=placed + dt.timedelta(hours=24), actual_at=placed + dt.timedelta(hours=24, minutes=40),
                 outcome="completed", order_placed_at=placed),
        LegInput(external_id="T-2", order_ref="T-ORD", stage="last_mile", supplier_code="TOL-LM", sequence=2,
                 promised_at=placed + dt.timedelta(hours=48),
                 actual_at=placed + dt.timedelta(hours=53, minutes=40), outcome="completed"),
    ], {"TOL-CAR": carrier.id, "TOL-LM": courier.id}, ROME)
    create_standard({"name": "On time", "metric": "on_time_rate", "stage": "line_haul", "target": "0.9",
                     "tolerance_minutes": 60, "valid_from": dt.date(2026, 1, 1)}, None, supplier=carrier)
    category = db.session.scalar(select(IncidentCategory).where(IncidentCategory.code == "late_delivery"))
    incident = Incident(order=db.session.scalar(select(Order).where(Order.ref == "T-ORD")), category=category,
                        channel="web", priority="normal", description="x", status="new",
                        reported_at=placed + dt.timedelta(days=3), respond_by=placed + dt.timedelta(days=4))
    db.session.add(incident)
    db.session.flush()
    proposal = propose(incident)
    assert [(p.leg.external_id, p.share) for p in proposal] == [("T-2", Decimal("1"))]
    # Without the agreed tolerance (0 h asked), the carrier's 40 minutes count too: 40 / (40 + 300).
    shares = {p.leg.external_id: p.share for p in propose(incident, tolerance_hours=Decimal(0))}
    assert shares == {"T-1": Decimal("0.117647"), "T-2": Decimal("0.882353")}


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_evidence_files_are_kept_with_the_decision_and_reachable_only_through_its_incident(suppliers, login_as):
    import io

    order = two_late_legs(suppliers)
    incident = make_incident(order)
    other = make_incident(two_late_legs(suppliers))
    operator = login_as("operator")
    rows = {"rows-0-party": f"leg:{order.legs[1].id}", "rows-0-share": "100", "rows-0-root_cause": "transit_delay"}
    response = operator.post_form(f"/incidents/{incident.id}/attribution", {
        **rows, "evidence_files": [(io.BytesIO(PDF), "scan-log.pdf"), (io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"0" * 20),
                                                                       "../../foto danno.png")],
    }, content_type="multipart/form-data")
    assert response.status_code == 302
    decision = db.session.scalar(select(AttributionDecision).where(AttributionDecision.incident_id == incident.id))
    assert [f.file_name for f in decision.evidence_files] == ["scan-log.pdf", "foto danno.png"]
    first = decision.evidence_files[0]
    download = operator.get(f"/incidents/{incident.id}/evidence/{first.id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert operator.get(f"/incidents/{other.id}/evidence/{first.id}").status_code == 404
    assert "scan-log.pdf" in operator.get(f"/incidents/{incident.id}/attribution").get_data(as_text=True)


def test_a_file_that_is_not_what_it_claims_is_refused_and_nothing_is_recorded(suppliers, login_as):
    import io

    order = two_late_legs(suppliers)
    incident = make_incident(order)
    response = login_as("operator").post_form(f"/incidents/{incident.id}/attribution", {
        "rows-0-party": f"leg:{order.legs[1].id}", "rows-0-share": "100", "rows-0-root_cause": "transit_delay",
        "evidence_files": [(io.BytesIO(b"MZ\x90\x00 an exe"), "evidence.pdf")],
    }, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "not a valid PDF, PNG, JPG file" in response.get_data(as_text=True)
    assert db.session.scalar(select(AttributionDecision).where(AttributionDecision.incident_id == incident.id)) is None


def test_legs_an_attribution_names_cannot_be_deleted_and_nothing_else_goes(suppliers, make_user):
    from sqlalchemy import func

    from incidents.models import Leg, LegDayStat
    from incidents.services.legs import LegsInUse, delete_legs

    order = two_late_legs(suppliers)
    other = make_chain([("last_mile", suppliers["courier"], t(10), t(10), None)])
    blamed, spared = order.legs[0], order.legs[2]
    attribution.decide(make_incident(order), [
        {"leg_id": blamed.id, "share": Decimal(1), "root_cause": "late_handover"}], make_user("operator"))
    db.session.commit()
    legs_before = db.session.scalar(select(func.count()).select_from(Leg))
    counted_before = db.session.scalar(select(func.sum(LegDayStat.legs)))
    # One named leg in the list refuses the whole deletion, naming it.
    with pytest.raises(LegsInUse) as refused:
        delete_legs([spared.external_id, other.legs[0].external_id, blamed.external_id])
    db.session.rollback()
    assert blamed.external_id in str(refused.value.message) and refused.value.code == "legs_in_use"
    assert db.session.scalar(select(func.count()).select_from(Leg)) == legs_before == 4
    assert db.session.scalar(select(func.sum(LegDayStat.legs))) == counted_before == 4
    # Without it, the others go, and the daily statistics with them.
    assert delete_legs([spared.external_id, other.legs[0].external_id]) == 2
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Leg)) == 2
    assert db.session.scalar(select(func.sum(LegDayStat.legs))) == 2
