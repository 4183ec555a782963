"""Demo customer incidents on the demo orders, their attribution, and chargeback statements.

Complaints follow what happened in the demo chain: lost parcels, damaged goods and very late
deliveries give complaints (late ones not always: most customers do not call), plus a few
about wrong items, staff at pickup points and billing, which no rule attributes. Older
incidents are closed with a CSAT score, recent ones are new or in progress (some overdue).
Most proposals are confirmed; some wait for a decision. Chargeback policies for carriers and
couriers, and last month's statements in every state. Deterministic for a given `today`.
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.db import db
from incidents.models import Leg, LegOutcome, Order
from incidents.services.attribution import decide, proposal_parties, propose
from incidents.services.chargebacks import prepare_statement, record_response, send_statement, set_policy
from incidents.services.incidents import add_cost_line, add_interaction, change_status, record_incident_from_api
from suppliers.services import get_supplier_by_code

SEED = 2027

DESCRIPTIONS = {
    "lost_parcel": ["Il pacco risulta consegnato ma non è mai arrivato.", "Tracking fermo da una settimana."],
    "damaged_goods": ["La scatola è arrivata schiacciata e il prodotto è rotto.", "Confezione bagnata, merce rovinata."],
    "late_delivery": ["Consegna arrivata con tre giorni di ritardo.", "Il corriere non è passato nel giorno promesso."],
    "wrong_item": ["Ho ricevuto un articolo diverso da quello ordinato."],
    "staff_behaviour": ["Al punto di ritiro sono stati scortesi e mi hanno fatto aspettare."],
    "billing": ["Mi è stata addebitata due volte la spedizione."],
}


def _complaint_category(rng: random.Random, order: Order) -> str | None:
    final = order.legs[-1] if order.legs else None
    if final is None or final.outcome == LegOutcome.CANCELLED:
        return None
    if final.outcome == LegOutcome.LOST:
        return "lost_parcel"
    if final.outcome == LegOutcome.DAMAGED:
        return "damaged_goods"
    if final.delay_seconds is not None and final.delay_seconds > 12 * 3600 and rng.random() < 0.5:
        return "late_delivery"
    draw = rng.random()
    if draw < 0.006:
        return "wrong_item"
    if draw < 0.009 and final.stage == "pickup_point":
        return "staff_behaviour"
    if draw < 0.011:
        return "billing"
    return None


def load_service(actor, now: dt.datetime) -> dict:
    rng = random.Random(SEED)
    orders = db.session.scalars(
        select(Order).options(selectinload(Order.legs).selectinload(Leg.supplier)).order_by(Order.id)).all()
    counts = {"incidents": 0, "attributed": 0}
    for order in orders:
        category = _complaint_category(rng, order)
        if category is None:
            continue
        final = order.legs[-1]
        reported = max(final.actual_at or final.promised_at, order.placed_at) + dt.timedelta(hours=rng.randint(2, 30))
        if reported > now:
            continue
        incident, _ = record_incident_from_api({
            "external_id": f"demo-ticket-{order.ref}", "order_ref": order.ref, "category": category,
            "channel": rng.choice(["phone", "phone", "email", "web", "chat", "social"]),
            "priority": "high" if category == "lost_parcel" else rng.choice(["low", "normal", "normal", "high"]),
            "description": rng.choice(DESCRIPTIONS[category]), "reported_at": reported,
        }, actor)
        counts["incidents"] += 1
        age = now - reported
        if age > dt.timedelta(hours=6):
            answered = reported + dt.timedelta(hours=rng.choice([1, 3, 8, 20, 30]))
            if answered < now:
                add_interaction(incident, {"channel": incident.channel, "direction": "outbound", "at": answered,
                                           "note": "Presa in carico, verifica con il vettore."}, actor)
        if category in ("lost_parcel", "damaged_goods", "late_delivery") and age > dt.timedelta(days=3):
            kind, amount = {"lost_parcel": ("refund", order.value or Decimal("49.90")),
                            "damaged_goods": ("reshipment", Decimal("12.90")),
                            "late_delivery": ("voucher", Decimal("5.00"))}[category]
            add_cost_line(incident, {"kind": kind, "amount": str(amount), "note": ""}, actor)
        if age > dt.timedelta(days=10) and incident.first_response_at is not None:
            resolved = incident.first_response_at + dt.timedelta(hours=rng.randint(4, 96))
            if resolved < now:
                if incident.status == "new":
                    change_status(incident, "in_progress", actor, at=incident.first_response_at)
                change_status(incident, "resolved", actor, at=resolved)
                change_status(incident, "closed", actor, csat=rng.choice([1, 2, 3, 3, 4, 4, 5]), at=resolved)
        proposal = propose(incident)
        if proposal and rng.random() < 0.85:
            decide(incident, proposal_parties(proposal), actor, note="Proposta confermata dall'operatore.")
            counts["attributed"] += 1
    _load_chargebacks(actor, now)
    return counts


def _load_chargebacks(actor, now: dt.datetime) -> None:
    set_policy("carrier", {"per_incident_amount": "15.00", "charges_costs": True, "cap_per_statement": "2500.00"},
               actor)
    set_policy("last_mile", {"per_incident_amount": "10.00", "charges_costs": True, "cap_per_statement": None},
               actor)
    set_policy("pickup_point", {"per_incident_amount": "5.00", "charges_costs": False, "cap_per_statement": "300.00"},
               actor)
    today = now.date()
    last_month_end = today.replace(day=1) - dt.timedelta(days=1)
    last_month_start = last_month_end.replace(day=1)
    for code, state in (("CAR-001", "sent"), ("LM-003", "draft"), ("LM-001", "accepted"), ("LM-004", "disputed")):
        statement = prepare_statement(get_supplier_by_code(code), last_month_start, last_month_end, actor)
        if state in ("sent", "accepted", "disputed"):
            send_statement(statement, actor)
        if state == "accepted":
            record_response(statement, True, "Importi verificati e accettati.", actor)
        if state == "disputed":
            record_response(statement, False, "Due pacchi risultano consegnati con firma del destinatario.", actor)
