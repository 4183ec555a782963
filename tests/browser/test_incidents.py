"""Recording a customer's complaint and deciding who caused it, in a real browser."""
from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select

from app.db import db
from incidents.models import AttributionDecision, Incident
from incidents.services.legs import LegInput, record_legs
from tests.factories import Factories
from tests.suppliers.test_measurement import ROME, at


def test_an_operator_records_a_complaint_and_splits_the_blame(journey, seeded):
    with seeded():
        factories = Factories()
        operator = factories.user("operator")
        seller = factories.supplier(code="SEL-BRW-2", chain_roles=["seller"])
        carrier = factories.supplier(code="CAR-BRW-2", chain_roles=["carrier"])
        # The seller hands over an hour early; the carrier delivers 30 hours late.
        record_legs([
            LegInput(external_id="BRW-2-1", order_ref="BRW-ORDER-2", stage="seller_handover",
                     supplier_code="SEL-BRW-2", sequence=1, promised_at=at("2026-03-02", "12:00"),
                     actual_at=at("2026-03-02", "11:00"), outcome="completed",
                     order_placed_at=at("2026-03-01", "10:00")),
            LegInput(external_id="BRW-2-2", order_ref="BRW-ORDER-2", stage="last_mile", supplier_code="CAR-BRW-2",
                     sequence=2, promised_at=at("2026-03-04", "18:00"), actual_at=at("2026-03-06", "00:00"),
                     outcome="completed"),
        ], {seller.code: seller.id, carrier.code: carrier.id}, ROME)
        db.session.commit()
    page = journey.page
    journey.sign_in(operator.email)

    page.get_by_role("link", name="Incidents").click()
    journey.step("incident backlog")
    page.get_by_role("link", name="New incident").click()
    order = page.get_by_label("Order")
    order.press_sequentially("BRW-ORD")
    page.locator("#order-suggestions option[value='BRW-ORDER-2']").wait_for(state="attached")
    order.fill("BRW-ORDER-2")
    page.get_by_label("Channel").select_option("phone")
    page.get_by_label("Category").select_option("late_delivery")
    page.get_by_label("Description").fill("Il pacco è arrivato con un giorno e mezzo di ritardo.")
    page.get_by_label("Reported at").fill("2026-03-06T09:00")
    journey.step("new incident form filled")
    page.get_by_role("button", name="Record the incident").click()
    page.wait_for_url(re.compile(r".*/incidents/\d+$"))
    incident_id = int(page.url.rsplit("/", 1)[1])
    # Catena's proposal, with its reason spelled out.
    assert page.get_by_text("Last mile by CAR-BRW-2 took 31.0 h more than planned").count() == 1
    journey.step("incident with proposal")

    # The operator decides otherwise: the seller shares a fifth of the blame.
    panel = page.get_by_role("region", name="Who caused it")
    panel.get_by_label(re.compile(r"^Share % of .*CAR-BRW-2")).fill("80")
    panel.get_by_label(re.compile(r"^Share % of .*SEL-BRW-2")).fill("20")
    panel.get_by_label(re.compile(r"^Root cause of .*SEL-BRW-2")).select_option(index=1)
    panel.get_by_label("Note (why this decision)").fill("The seller packed the parcel badly as well.")
    journey.step("decision filled")
    panel.get_by_role("button", name="Record the decision").click()
    journey.expect_message("Attribution recorded (revision 1).")
    history = page.locator(".attribution-history li").first
    assert "differs from the proposal" in history.inner_text()
    assert "80 %" in history.inner_text() and "20 %" in history.inner_text()
    journey.step("decision recorded")

    # What the browser showed is what was stored: one decision, 80 / 20, by the operator.
    with seeded():
        decisions = db.session.scalars(select(AttributionDecision).where(
            AttributionDecision.incident_id == incident_id)).all()
        assert [(d.revision, d.follows_proposal, d.decided_by_id) for d in decisions] == [(1, False, operator.id)]
        codes = {s.supplier_id: s.share for s in decisions[0].shares}
        assert codes == {carrier.id: Decimal("0.8"), seller.id: Decimal("0.2")}
        assert db.session.get(Incident, incident_id).order_id is not None
