"""The issue's walk-through: a complaint, Catena's proposal, the confirmation, and the
scorecard, the chargeback statement and the service dashboard reflecting it."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from app.db import db
from incidents.models import Incident
from incidents.services.legs import LegInput, record_legs
from suppliers.services.standards import create_standard
from tests.suppliers.test_measurement import ROME, at


def test_a_complaint_flows_to_scorecard_chargeback_and_dashboard(login_as, make_supplier):
    seller = make_supplier(code="SEL-E2E", chain_roles=["seller"])
    carrier = make_supplier(code="CAR-E2E", chain_roles=["carrier"])
    # The seller hands over on time; the carrier delivers 30 h late: the carrier is to blame.
    record_legs([
        LegInput(external_id="E-1", order_ref="E2E-ORDER", stage="seller_handover", supplier_code="SEL-E2E",
                 sequence=1, promised_at=at("2026-03-02", "12:00"), actual_at=at("2026-03-02", "11:00"),
                 outcome="completed", order_placed_at=at("2026-03-01", "10:00")),
        LegInput(external_id="E-2", order_ref="E2E-ORDER", stage="last_mile", supplier_code="CAR-E2E", sequence=2,
                 promised_at=at("2026-03-04", "18:00"), actual_at=at("2026-03-06", "00:00"), outcome="completed"),
    ], {"SEL-E2E": seller.id, "CAR-E2E": carrier.id}, ROME)
    create_standard({"name": "Reclami ogni 1.000 consegne", "metric": "incidents_per_1000", "comparator": "lte",
                     "target": "20", "min_sample": 1, "valid_from": dt.date(2026, 1, 1)}, None, chain_role="carrier")
    db.session.commit()

    operator = login_as("operator")
    response = operator.post_form("/incidents/new", {
        "order_ref": "E2E-ORDER", "channel": "phone", "category": "late_delivery", "priority": "normal",
        "description": "Consegna arrivata con un giorno e mezzo di ritardo", "reported_at": "2026-03-06T09:00"})
    assert response.status_code == 302
    incident = db.session.scalar(select(Incident))
    page = operator.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Last mile by CAR-E2E took 31.0 h more than planned" in page       # the reason, spelled out
    operator.post_form(f"/incidents/{incident.id}/interactions", {"channel": "phone", "direction": "outbound",
                                                                   "note": "Scuse e buono"})
    operator.post_form(f"/incidents/{incident.id}/costs", {"kind": "voucher", "amount": "10.00"})
    assert operator.post_form(f"/incidents/{incident.id}/attribution", {"confirm": "1"}).status_code == 302

    manager = login_as("quality_manager")
    card = manager.get("/suppliers/CAR-E2E/scorecard?until=2026-03").get_data(as_text=True)
    # One incident wholly attributed to the carrier, which handled one leg in March: 1,000 per 1,000.
    assert "Reclami ogni 1.000 consegne" in card and "1,000.0" in card
    manager.post_form("/suppliers/CAR-E2E/chargebacks/prepare", {"month": "2026-03"})
    statement = manager.get("/suppliers/CAR-E2E/chargebacks").get_data(as_text=True)
    link = re.search(r'href="(/suppliers/CAR-E2E/chargebacks/\d+)"', statement).group(1)
    assert "10,00" in manager.get(link).get_data(as_text=True) or "10.00" in manager.get(link).get_data(as_text=True)
    dashboard = manager.get("/service/dashboard?from=2026-03&to=2026-03").get_data(as_text=True)
    assert "CAR-E2E" in dashboard and "attributed=CAR-E2E" in dashboard
