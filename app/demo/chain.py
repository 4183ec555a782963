"""Demo orders, legs and service standards: a year of deliveries through the demo chain.

Each order goes seller handover → warehouse → line haul → last mile (or pickup point), with
the partners that plausibly work together (a carrier's own last-mile subcontractors). Every
partner has its own reliability, so scorecards and rankings show met, warning and breached
periods; the last days hold open legs, some already overdue. SLAs are the usual ones of an
Italian e-commerce quality office: role defaults plus a few agreements of one supplier, with
penalties. Deterministic: the same `today` gives the same data.
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from app.i18n import company_zone
from incidents.services.legs import LegInput, check_suppliers, record_legs
from suppliers.services.standards import create_standard

SEED = 2026
ORDERS = 3_000
DAYS = 400

SELLERS = ["SEL-001", "SEL-002", "SEL-003", "SEL-004", "SEL-005", "SEL-006"]
WAREHOUSES = ["WH-001", "WH-002", "WH-003", "WH-005"]
#: Carrier → the last-mile couriers and pickup points that deliver for it.
CARRIERS = {
    "CAR-001": ["LM-001", "LM-001", "PUP-001", "PUP-002"],
    "CAR-002": ["LM-004", "LM-004", "PUP-003"],
    "CAR-003": ["LM-003", "PUP-004"],
    "CAR-005": ["LM-002", "PUP-006"],
}
CARRIER_SHARE = ["CAR-001"] * 4 + ["CAR-002"] * 3 + ["CAR-003"] * 2 + ["CAR-005"]

#: Share of legs a partner hands over late, and how late (hours, mean). The rest: on time.
RELIABILITY = {
    "SEL-001": (0.02, 6), "SEL-002": (0.04, 10), "SEL-003": (0.06, 8), "SEL-004": (0.03, 5),
    "SEL-005": (0.12, 20), "SEL-006": (0.20, 30),
    "WH-001": (0.03, 4), "WH-002": (0.05, 6), "WH-003": (0.09, 8), "WH-005": (0.04, 5),
    "CAR-001": (0.04, 5), "CAR-002": (0.06, 7), "CAR-003": (0.10, 12), "CAR-005": (0.05, 6),
    "LM-001": (0.05, 4), "LM-002": (0.09, 6), "LM-003": (0.14, 10), "LM-004": (0.06, 5),
    "PUP-001": (0.04, 8), "PUP-002": (0.07, 12), "PUP-003": (0.05, 10), "PUP-004": (0.11, 14),
    "PUP-006": (0.06, 9),
}

#: Hours from the order to each promise.
PROMISE_HOURS = {"seller_handover": 24, "warehouse": 36, "line_haul": 60, "last_mile": 84, "pickup_point": 84}


def _actual(rng: random.Random, code: str, promised: dt.datetime) -> dt.datetime:
    late_share, mean_hours = RELIABILITY[code]
    if rng.random() < late_share:
        return promised + dt.timedelta(hours=rng.expovariate(1 / mean_hours) + 0.1)
    return promised - dt.timedelta(minutes=rng.randint(0, 240))


def _order_legs(rng: random.Random, n: int, placed: dt.datetime, now: dt.datetime) -> list[LegInput]:
    carrier = rng.choice(CARRIER_SHARE)
    final = rng.choice(CARRIERS[carrier])
    chain = [("seller_handover", rng.choice(SELLERS)), ("warehouse", rng.choice(WAREHOUSES)),
             ("line_haul", carrier), ("pickup_point" if final.startswith("PUP") else "last_mile", final)]
    ref = f"WEB-{placed:%y%m}-{n:05d}"
    cancelled = rng.random() < 0.01
    legs, previous_end = [], placed
    for sequence, (stage, code) in enumerate(chain, start=1):
        promised = placed + dt.timedelta(hours=PROMISE_HOURS[stage])
        actual, outcome = _actual(rng, code, promised), "completed"
        # A leg cannot end before the parcel reached it.
        actual = max(actual, previous_end + dt.timedelta(minutes=30))
        if cancelled:
            actual, outcome = None, "cancelled"
        elif stage in ("last_mile", "pickup_point"):
            draw = rng.random()
            if draw < 0.003:
                actual, outcome = None, "lost"
            elif draw < 0.009:
                outcome = "damaged"
            elif draw < 0.06 and stage == "last_mile":
                outcome = "failed_attempt"
                actual += dt.timedelta(hours=24)
        if actual is not None and actual > now:
            actual, outcome = None, None  # not happened yet: the leg is open
        legs.append(LegInput(
            external_id=f"{ref}-{sequence}", order_ref=ref, stage=stage, supplier_code=code, promised_at=promised,
            actual_at=actual, outcome=outcome, sequence=sequence, customer_ref=f"CUST-{rng.randint(1, 1800):05d}",
            order_placed_at=placed, order_channel=rng.choice(["web", "web", "app", "marketplace"]),
            order_value=Decimal(rng.randint(900, 45_000)) / 100, row=n,
        ))
        if actual is None:
            break  # nothing downstream has happened
        previous_end = actual
    return legs


def load_chain(actor, today: dt.date) -> dict:
    """Orders and legs over the last DAYS days, and the demo SLAs."""
    rng = random.Random(SEED)
    zone = company_zone()
    now = dt.datetime.combine(today, dt.time(12, 0), tzinfo=zone)
    start = now - dt.timedelta(days=DAYS)
    legs: list[LegInput] = []
    for n in range(1, ORDERS + 1):
        placed = start + dt.timedelta(seconds=rng.randrange(0, DAYS * 86400))
        placed = placed.replace(hour=rng.choice([8, 9, 10, 11, 13, 14, 15, 16, 18, 20, 21]), minute=rng.randint(0, 59))
        legs.extend(_order_legs(rng, n, placed, now))
    supplier_ids, problems = check_suppliers(legs)
    if problems:
        raise ValueError(f"demo chain names unknown suppliers: {problems[:3]}")
    created = 0
    for chunk in range(0, len(legs), 2_000):
        created += record_legs(legs[chunk:chunk + 2_000], supplier_ids, zone)[0]
    _load_standards(actor, today)
    return {"orders": ORDERS, "legs": created}


def _load_standards(actor, today: dt.date) -> None:
    from suppliers.services import get_supplier_by_code

    year_ago = (today - dt.timedelta(days=DAYS)).replace(day=1)
    defaults = [
        ("seller", {"name": "Consegna al vettore entro il limite", "metric": "on_time_rate", "stage": "seller_handover",
                    "target": "0.95", "warning_threshold": "0.97", "min_sample": 20}),
        ("warehouse", {"name": "Uscita dal magazzino puntuale", "metric": "on_time_rate", "stage": "warehouse",
                       "target": "0.94", "warning_threshold": "0.96", "tolerance_minutes": 60, "min_sample": 20}),
        ("carrier", {"name": "Trasporto di linea puntuale", "metric": "on_time_rate", "stage": "line_haul",
                     "target": "0.92", "warning_threshold": "0.95", "tolerance_minutes": 120, "min_sample": 20,
                     "penalty_kind": "per_unit", "penalty_amount": "150", "penalty_cap": "3000"}),
        ("last_mile", {"name": "Consegna al cliente puntuale", "metric": "on_time_rate", "stage": "last_mile",
                       "target": "0.92", "warning_threshold": "0.95", "tolerance_minutes": 120, "min_sample": 15,
                       "penalty_kind": "per_unit", "penalty_amount": "100", "penalty_cap": "2000"}),
        ("last_mile", {"name": "Pacchi smarriti", "metric": "lost_rate", "stage": "last_mile", "comparator": "lte",
                       "target": "0.005", "min_sample": 15, "penalty_kind": "fixed", "penalty_amount": "500"}),
        ("last_mile", {"name": "Consegna al primo tentativo", "metric": "first_attempt_rate", "stage": "last_mile",
                       "target": "0.93", "warning_threshold": "0.95", "min_sample": 15}),
        ("last_mile", {"name": "Disservizi ogni 1.000 consegne", "metric": "incidents_per_1000",
                       "comparator": "lte", "target": "15", "warning_threshold": "10", "min_sample": 15}),
        ("carrier", {"name": "Disservizi ogni 1.000 tratte", "metric": "incidents_per_1000",
                     "comparator": "lte", "target": "8", "min_sample": 20}),
        ("pickup_point", {"name": "Pacco disponibile al punto di ritiro", "metric": "on_time_rate",
                          "stage": "pickup_point", "target": "0.90", "warning_threshold": "0.93",
                          "tolerance_minutes": 240, "min_sample": 10}),
    ]
    for role, values in defaults:
        create_standard({**values, "valid_from": year_ago}, actor, chain_role=role)
    # A carrier with stricter terms, revised half-way through the year.
    car1 = get_supplier_by_code("CAR-001")
    strict = create_standard({"name": "Trasporto di linea CAR-001 (contratto quadro)", "metric": "on_time_rate",
                              "stage": "line_haul", "target": "0.95", "warning_threshold": "0.97",
                              "tolerance_minutes": 60, "min_sample": 20, "penalty_kind": "fixed",
                              "penalty_amount": "1200", "valid_from": year_ago}, actor, supplier=car1)
    from suppliers.services.standards import revise_standard

    revise_standard(strict, {"name": strict.name, "metric": "on_time_rate", "stage": "line_haul",
                             "target": "0.94", "warning_threshold": "0.96", "tolerance_minutes": 120,
                             "min_sample": 20, "penalty_kind": "fixed", "penalty_amount": "1000",
                             "valid_from": (today - dt.timedelta(days=180)).replace(day=1)}, actor,
                    "Rinnovo del contratto quadro: tolleranza portata a 2 ore, obiettivo 94 %.")
    create_standard({"name": "Ritardo al 95° percentile", "metric": "p95_delay_hours", "stage": "last_mile",
                     "comparator": "lte", "target": "12", "min_sample": 15, "valid_from": year_ago}, actor,
                    supplier=get_supplier_by_code("LM-003"))
