"""A deterministic delivery chain for the benchmarks, written by the engine's bulk path.

    python -m bench.generate --size quick|medium|full --database-url URL [--seed N]

What it writes, for one year (2025) of a large e-commerce company's deliveries:

- **suppliers** in realistic chain roles (many sellers, fewer warehouses and carriers, last-mile
  couriers and pickup points), each in its country's time zone, each with a hidden quality
  factor that makes some partners much later than others; a few operators and auditors;
- **SLAs**: the role defaults (on-time per stage, lost, damage, first-attempt, mean and p95
  delay, incidents per 1,000 legs) and some suppliers' own, stricter on-time SLAs;
- **orders with their legs**: chains drawn from five typical shapes (seller → warehouse → line
  haul → hub → last mile, warehouse → line haul → pickup point, …) and a few returns; promises
  at the supplier's local cut-off hour; delays mostly early or on time, a long tail of late legs
  that carries over to the next leg, failed delivery attempts, losses (the rest of that chain
  is cancelled), damages, cancelled orders, strike days flagged as force majeure, and the legs
  still open at the year's end;
- **incidents** mostly about the orders that went wrong (their category follows what went
  wrong), with statuses, response and resolution times by age, CSAT, and for most of them an
  **attribution** decision whose shares point at the leg that caused it (split 70/30 with the
  leg before it for some late deliveries, our own fault for a few; a second revision for some);
- **audits** of a few suppliers with their SLA snapshot, participants, findings and corrective
  actions, and one supplier with a long history (the PDF benchmarks' evidence pack).

Rows are made with NumPy, vectorised, in chunks of `CHUNK_ORDERS` orders whose random stream
depends only on (seed, chunk number): the same seed gives the same rows on either engine. The
big tables go in through the engine's bulk path: one executemany transaction on SQLite (the
SQL formats times, so only integers cross from Python), COPY of CSV made by Arrow on
PostgreSQL. Secondary indexes (and on PostgreSQL unique and foreign-key constraints) of the
bulk tables are dropped first and made again after, which is several times faster than
maintaining them row by row. The daily leg statistics and monthly delay histograms that
`record_legs` would keep are summed with NumPy as the legs are made (`LegStatistics`) and
written with them: equal, row for row, to what `incidents.services.stats.rebuild_day_stats`
recomputes (tests/bench/test_generate.py), in seconds instead of a minute and a half.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.core import Size  # noqa: E402
from incidents.models import DELAY_BUCKET_SECONDS, TOLERANCE_CHOICES  # noqa: E402

SIZES = {
    # For the generator's own test: seconds.
    "tiny": Size("tiny", suppliers=24, orders=1_400, legs=5_000, incidents=600),
    # `make bench-quick`: a few minutes for the whole run.
    "quick": Size("quick", suppliers=80, orders=55_000, legs=200_000, incidents=20_000),
    "medium": Size("medium", suppliers=300, orders=550_000, legs=2_000_000, incidents=200_000),
    # The scale: 500 partners, 10 million legs, 1 million incidents over one year.
    "full": Size("full", suppliers=500, orders=2_740_000, legs=10_000_000, incidents=1_000_000),
}

#: The year the data covers, and the moment it was "extracted" (open legs, incident ages).
YEAR = 2025
DAYS = 365
EPOCH = int(dt.datetime(YEAR, 1, 1, tzinfo=dt.timezone.utc).timestamp())
NOW = EPOCH + (DAYS + 1) * 86400
NOW_TEXT = "2026-01-02 00:00:00.000000"
COMPANY_ZONE = "Europe/Rome"
#: Orders per chunk: the unit of the random stream and of each bulk write.
CHUNK_ORDERS = 100_000

STAGES = ["seller_handover", "warehouse", "line_haul", "hub", "last_mile", "pickup_point", "return"]
S_SELLER, S_WAREHOUSE, S_LINE_HAUL, S_HUB, S_LAST_MILE, S_PICKUP, S_RETURN = range(7)
#: The chain role whose suppliers work each stage.
STAGE_ROLE = ["seller", "warehouse", "carrier", "carrier", "last_mile", "pickup_point", "carrier"]
#: Planned hours of each stage and the local hour by which it is promised.
PLANNED_HOURS = np.array([20, 10, 30, 8, 22, 46, 70])
CUTOFF_HOUR = np.array([18, 22, 20, 6, 19, 20, 18])
#: The shapes of chains and how often each occurs.
CHAINS = [
    ([S_SELLER, S_WAREHOUSE, S_LINE_HAUL, S_HUB, S_LAST_MILE], 0.30),
    ([S_WAREHOUSE, S_LINE_HAUL, S_LAST_MILE], 0.35),
    ([S_SELLER, S_LINE_HAUL, S_LAST_MILE], 0.15),
    ([S_WAREHOUSE, S_LINE_HAUL, S_HUB, S_PICKUP], 0.12),
    ([S_SELLER, S_LAST_MILE], 0.08),
]
RETURN_SHARE = 0.02
MEAN_CHAIN = sum(len(c) * p for c, p in CHAINS) + RETURN_SHARE

OUTCOMES = ["completed", "lost", "damaged", "failed_attempt", "returned", "cancelled"]
O_COMPLETED, O_LOST, O_DAMAGED, O_FAILED, O_RETURNED, O_CANCELLED = range(6)
O_OPEN = -1

#: Chain roles of the supplier base (share of suppliers).
ROLE_MIX = [("seller", 0.42), ("warehouse", 0.08), ("carrier", 0.14), ("last_mile", 0.14),
            ("pickup_point", 0.12), ("packaging", 0.04), ("contact_centre", 0.03), ("other", 0.03)]
COUNTRIES = [("IT", "Europe/Rome", 0.55), ("DE", "Europe/Berlin", 0.1), ("FR", "Europe/Paris", 0.08),
             ("ES", "Europe/Madrid", 0.08), ("NL", "Europe/Amsterdam", 0.05), ("PL", "Europe/Warsaw", 0.06),
             ("GB", "Europe/London", 0.04), ("PT", "Europe/Lisbon", 0.02), ("GR", "Europe/Athens", 0.02)]
NAME_WORDS = ["Trasporti", "Logistica", "Magazzini", "Corrieri", "Spedizioni", "Servizi", "Punto", "Ritiro",
              "Express", "Nord", "Sud", "Adriatica", "Tirrenica", "Padana", "Alpina", "Veloci", "Rapidi", "Europa"]

CATEGORY_OF_PROBLEM = {4: "lost_parcel", 3: "damaged_goods", 2: "failed_attempt", 1: "late_delivery"}
OTHER_CATEGORIES = ["late_delivery", "wrong_item", "labelling_error", "staff_behaviour", "billing", "other"]
CATEGORY_HOURS = {"late_delivery": 24, "lost_parcel": 8, "damaged_goods": 24, "wrong_item": 24,
                  "labelling_error": 24, "failed_attempt": 24, "staff_behaviour": 48, "billing": 48, "other": 48}
DESCRIPTIONS = {
    "late_delivery": "The parcel arrived days after the date promised at checkout; the customer asks why.",
    "lost_parcel": "Tracking has not moved for a week; the customer never received the parcel.",
    "damaged_goods": "The box arrived crushed and the item inside is broken; photos attached by the customer.",
    "failed_attempt": "The courier says nobody was home, but the customer was in all day.",
    "wrong_item": "The customer received a different item from the one ordered.",
    "labelling_error": "The label carried the wrong address; the parcel went to another town.",
    "staff_behaviour": "The customer complains about how the pickup point's staff treated them.",
    "billing": "The customer was charged twice for the same order.",
    "other": "The customer asks about the order; see the interaction log.",
}
ROOT_CAUSE_OF_STAGE = ["late_handover", "late_handover", "transit_delay", "sorting_delay", "delivery_delay",
                       "delivery_delay", "transit_delay"]
CHANNELS = (["phone", "email", "web", "chat", "social", "store"], [0.25, 0.2, 0.3, 0.15, 0.05, 0.05])
PRIORITIES = (["low", "normal", "high", "urgent"], [0.1, 0.7, 0.15, 0.05], [2, 1, 0.5, 0.25])

#: Tables written by the bulk path, whose secondary indexes are dropped around it.
BULK_TABLES = ("orders", "legs", "incidents", "attribution_decisions", "attribution_shares")


@dataclass
class World:
    """The small tables, as the chunk maker needs them."""

    supplier_role: np.ndarray  # by supplier index: role name
    supplier_zone: np.ndarray  # zone index
    supplier_quality: np.ndarray
    by_role: dict[str, tuple[np.ndarray, np.ndarray]]  # role → (supplier ids, cumulative weights)
    category_ids: dict[str, int]
    operator_ids: list[int]
    zone_offsets: np.ndarray  # [zone, hour since OFFSET_T0] → seconds east of UTC
    zones: list[str]
    strike_days: np.ndarray
    striking: np.ndarray  # supplier ids on strike


OFFSET_T0 = EPOCH - 40 * 86400
OFFSET_HOURS = (DAYS + 120) * 24


def _offset_table(zones: list[str]) -> np.ndarray:
    table = np.zeros((len(zones), OFFSET_HOURS), dtype=np.int64)
    for z, name in enumerate(zones):
        zone = ZoneInfo(name)
        for h in range(OFFSET_HOURS):
            moment = dt.datetime.fromtimestamp(OFFSET_T0 + h * 3600, tz=dt.timezone.utc)
            table[z, h] = int(zone.utcoffset(moment).total_seconds())
    return table


def _offset(world: World, zone_index, t):
    hours = np.clip((t - OFFSET_T0) // 3600, 0, OFFSET_HOURS - 1)
    return world.zone_offsets[zone_index, hours]


# The small tables -----------------------------------------------------------------------------

def _write_world(size: Size, seed: int) -> World:
    """Users, suppliers, chain roles and SLAs through SQLAlchemy (a few thousand rows)."""
    from sqlalchemy import insert, select

    from app.auth.models import User
    from app.db import db
    from incidents.models import IncidentCategory
    from suppliers.models import ServiceStandard, Supplier, SupplierChainRole

    rng = np.random.default_rng([seed, 1])
    now = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    users = [("admin", "Bench Admin"), ("quality_manager", "Quality Manager")]
    users += [("auditor", f"Auditor {i}") for i in range(1, 4)]
    users += [("operator", f"Operator {i}") for i in range(1, 13)]
    db.session.execute(insert(User.__table__), [
        {"id": i, "email": f"user{i}@bench.example", "name": name, "role": role, "password_hash": "!bench",
         "is_active": True, "session_version": 1, "created_at": now} for i, (role, name) in enumerate(users, start=1)])
    operator_ids = [i for i, (role, _) in enumerate(users, start=1) if role == "operator"]

    n = size.suppliers
    roles = np.array([r for r, _ in ROLE_MIX])
    # Every stage's role has at least two suppliers whatever the size.
    role_of = rng.choice(len(roles), size=n, p=[p for _, p in ROLE_MIX])
    for k, role in enumerate(["seller", "warehouse", "carrier", "last_mile", "pickup_point"]):
        role_of[2 * k:2 * k + 2] = list(roles).index(role)
    zones = [z for _, z, _ in COUNTRIES]
    country_of = rng.choice(len(COUNTRIES), size=n, p=[p for _, _, p in COUNTRIES])
    quality = np.exp(rng.normal(0, 0.55, size=n))
    popularity = rng.pareto(1.2, size=n) + 1
    rows, chain_roles = [], []
    for i in range(n):
        sid = i + 1
        role = str(roles[role_of[i]])
        name = f"{NAME_WORDS[i % len(NAME_WORDS)]} {NAME_WORDS[(i * 7 + 3) % len(NAME_WORDS)]} {sid} S.r.l."
        code = f"S-{sid:04d}"
        rows.append({"id": sid, "code": code, "legal_name": name, "country": COUNTRIES[country_of[i]][0],
                     "risk_class": ["low", "medium", "medium", "high", "critical"][int(rng.integers(0, 5))],
                     "status": "approved" if rng.random() < 0.85 else "conditionally_approved",
                     "qualified_until": dt.date(2027, 6, 30), "search_text": f"{code.lower()} {name.lower()}",
                     "created_at": now, "updated_at": now, "version": 1})
        chain_roles.append({"supplier_id": sid, "role": role})
        if role == "carrier" and rng.random() < 0.3:
            chain_roles.append({"supplier_id": sid, "role": "last_mile"})
    db.session.execute(insert(Supplier.__table__), rows)
    db.session.execute(insert(SupplierChainRole.__table__), chain_roles)

    # SLAs: the role defaults, and a stricter on-time SLA of their own for one supplier in ten.
    standards = []
    stages_of_role = {"seller": ["seller_handover"], "warehouse": ["warehouse"], "carrier": ["line_haul", "hub"],
                      "last_mile": ["last_mile"], "pickup_point": ["pickup_point"]}
    base = {"window": "month", "min_sample": 20, "honours_exclusions": True, "penalty_kind": "none",
            "weight": 1, "valid_from": dt.date(2024, 1, 1), "version": 1, "created_at": now}
    for role, stages in stages_of_role.items():
        for stage in stages:
            standards.append({**base, "chain_role": role, "name": f"{role} {stage} on time", "metric": "on_time_rate",
                              "stage": stage, "comparator": ">=", "target": 0.92, "warning_threshold": 0.95,
                              "tolerance_minutes": 60})
        stage = stages[-1]
        standards += [
            {**base, "chain_role": role, "name": f"{role} lost", "metric": "lost_rate", "stage": stage,
             "comparator": "<=", "target": 0.005, "tolerance_minutes": 0},
            {**base, "chain_role": role, "name": f"{role} damage", "metric": "damage_rate", "stage": stage,
             "comparator": "<=", "target": 0.01, "tolerance_minutes": 0},
            {**base, "chain_role": role, "name": f"{role} mean delay", "metric": "mean_delay_hours", "stage": stage,
             "comparator": "<=", "target": 2, "tolerance_minutes": 0},
            {**base, "chain_role": role, "name": f"{role} p95 delay", "metric": "p95_delay_hours", "stage": stage,
             "comparator": "<=", "target": 24, "tolerance_minutes": 0},
            {**base, "chain_role": role, "name": f"{role} incidents", "metric": "incidents_per_1000", "stage": None,
             "comparator": "<=", "target": 5, "tolerance_minutes": 0},
        ]
    standards.append({**base, "chain_role": "last_mile", "name": "last mile first attempt",
                      "metric": "first_attempt_rate", "stage": "last_mile", "comparator": ">=", "target": 0.95,
                      "tolerance_minutes": 0})
    stage_of = {"seller": "seller_handover", "warehouse": "warehouse", "carrier": "line_haul",
                "last_mile": "last_mile", "pickup_point": "pickup_point"}
    for i in range(n):
        role = str(roles[role_of[i]])
        if role in stage_of and i % 10 == 3:
            standards.append({**base, "supplier_id": i + 1, "name": "own on time", "metric": "on_time_rate",
                              "stage": stage_of[role], "comparator": ">=", "target": 0.95, "warning_threshold": 0.97,
                              "tolerance_minutes": 30, "penalty_kind": "per_unit", "penalty_amount": 150,
                              "penalty_cap": 5000})
    for number, row in enumerate(standards, start=1):
        row.update(id=number, series_id=number)
        row.setdefault("warning_threshold", None)
        row.setdefault("supplier_id", None)
        row.setdefault("chain_role", None)
        row.setdefault("penalty_amount", None)
        row.setdefault("penalty_cap", None)
    db.session.execute(insert(ServiceStandard.__table__), standards)
    db.session.flush()
    _restart_sequences(["users", "suppliers", "service_standards"])

    by_role = {}
    for role in set(STAGE_ROLE):
        ids = np.array([i + 1 for i in range(n) if roles[role_of[i]] == role])
        weights = popularity[ids - 1]
        by_role[role] = (ids, np.cumsum(weights) / weights.sum())
    carriers = by_role["carrier"][0]
    categories = dict(db.session.execute(select(IncidentCategory.code, IncidentCategory.id)).all())
    return World(
        supplier_role=roles[role_of], supplier_zone=country_of, supplier_quality=quality, by_role=by_role,
        category_ids=categories, operator_ids=operator_ids, zone_offsets=_offset_table(zones), zones=zones,
        strike_days=np.sort(rng.choice(DAYS, size=4, replace=False)),
        striking=carriers[rng.random(len(carriers)) < 0.3])


def _restart_sequences(tables: list[str]) -> None:
    """PostgreSQL: move each table's id sequence past the ids written explicitly."""
    from sqlalchemy import text

    from app.db import db

    if db.session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        db.session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"))


# One chunk of orders, legs, incidents and attributions ------------------------------------------

@dataclass
class Chunk:
    orders: dict[str, np.ndarray]
    legs: dict[str, np.ndarray]
    incidents: dict[str, np.ndarray]
    decisions: dict[str, np.ndarray]
    shares: dict[str, np.ndarray]


def _make_chunk(world: World, seed: int, number: int, first_order: int, first_leg: int, n_orders: int,
                legs_wanted: int, size: Size, incidents_done: int, first_decision: int, first_share: int) -> Chunk:
    rng = np.random.default_rng([seed, 100 + number])
    chain_shapes = np.full((len(CHAINS), 6), -1)
    for c, (stages, _) in enumerate(CHAINS):
        chain_shapes[c, :len(stages)] = stages
        chain_shapes[c, len(stages)] = S_RETURN
    chain_length = np.array([len(s) for s, _ in CHAINS])
    shape = rng.choice(len(CHAINS), size=n_orders, p=[p for _, p in CHAINS])
    lengths = chain_length[shape] + (rng.random(n_orders) < RETURN_SHARE)
    # The last chunk stops at exactly the legs asked for (the last chain may be cut short).
    ends = np.cumsum(lengths)
    if ends[-1] > legs_wanted:
        keep = int(np.searchsorted(ends, legs_wanted, side="left")) + 1
        n_orders, shape, lengths = keep, shape[:keep], lengths[:keep].copy()
        lengths[-1] -= int(lengths.sum() - legs_wanted)
    total = int(lengths.sum())
    first_incident = incidents_done + 1
    incidents_wanted = round(size.incidents * (first_leg - 1 + total) / size.legs) - incidents_done
    starts = np.cumsum(lengths) - lengths
    order_of = np.repeat(np.arange(n_orders), lengths)
    position = np.arange(total) - starts[order_of]
    stage = chain_shapes[shape[order_of], position]

    # Suppliers: by the stage's chain role, weighted by popularity.
    supplier = np.zeros(total, dtype=np.int64)
    u = rng.random(total)
    for role, (ids, cumulative) in world.by_role.items():
        mask = np.isin(stage, [s for s, r in enumerate(STAGE_ROLE) if r == role])
        supplier[mask] = ids[np.minimum(np.searchsorted(cumulative, u[mask]), len(ids) - 1)]
    quality = world.supplier_quality[supplier - 1]
    zone = world.supplier_zone[supplier - 1]

    # Orders: placed through the year, more by day than by night, a little more on Mondays.
    day = rng.integers(0, DAYS, size=n_orders)
    hour = np.clip(rng.normal(14, 4.5, size=n_orders), 0, 23.99)
    placed = EPOCH + day * 86400 + (hour * 3600).astype(np.int64) - 3600

    # Promises: cumulative planned hours, snapped up to the supplier's local cut-off hour.
    planned = PLANNED_HOURS[stage] * 3600
    cumulative = np.cumsum(planned) - np.repeat(np.cumsum(planned)[starts] - planned[starts], lengths)
    raw = placed[order_of] + cumulative
    offset = _offset(world, zone, raw)
    local_day = np.ceil((raw + offset - CUTOFF_HOUR[stage] * 3600) / 86400).astype(np.int64)
    promised = local_day * 86400 + CUTOFF_HOUR[stage] * 3600 - offset

    # Delays: mostly early or on time; a long tail of late legs, worse for poor suppliers; half
    # of a leg's own lateness carries over to the next leg.
    own = rng.normal(-2400, 2400, size=total)
    late = rng.random(total) < np.clip(0.06 * quality, 0, 0.6)
    own = np.where(late, 60 + rng.exponential(5 * 3600, size=total) * np.sqrt(quality), own)
    carried = np.zeros(total)
    carried[1:] = np.maximum(own[:-1], 0) * 0.5
    carried[position == 0] = 0
    delay = own + carried

    outcome = np.full(total, O_COMPLETED)
    r = rng.random(total)
    carrier_stage = np.isin(stage, [S_LINE_HAUL, S_HUB, S_LAST_MILE])
    delivering = np.isin(stage, [S_LAST_MILE, S_PICKUP])
    lost = r < np.where(carrier_stage, 0.003, 0.0005) * quality
    damaged = ~lost & (rng.random(total) < 0.004 * quality)
    failed = ~lost & ~damaged & (stage == S_LAST_MILE) & (rng.random(total) < 0.05 * quality)
    returned = ~lost & ~damaged & ~failed & delivering & (rng.random(total) < 0.01)
    outcome[damaged] = O_DAMAGED
    outcome[failed] = O_FAILED
    outcome[returned] = O_RETURNED
    delay = np.where(failed, delay + 86400 + rng.normal(0, 3600, size=total), delay)
    outcome[lost] = O_LOST
    # After a loss the chain stops: the later legs are cancelled; so are cancelled orders' legs.
    lost_before = np.cumsum(lost) - np.repeat(np.cumsum(lost)[starts] - lost[starts], lengths) - lost
    cancelled_order = rng.random(n_orders) < 0.008
    cancelled = (lost_before > 0) | cancelled_order[order_of]
    outcome[cancelled] = O_CANCELLED
    delay = np.rint(delay).astype(np.int64)
    actual = promised + delay
    # Still open when the data was extracted.
    is_open = ~cancelled & ~lost & (actual > NOW)
    outcome[is_open] = O_OPEN
    has_actual = ~cancelled & ~lost & ~is_open
    company_offset = _offset(world, 0, promised)
    promised_day = (promised + company_offset) // 86400
    strike = np.isin(promised_day - EPOCH // 86400, world.strike_days) & np.isin(supplier, world.striking)

    leg_ids = first_leg + np.arange(total)
    legs = {"id": leg_ids, "order_id": first_order + order_of, "sequence": position + 1, "stage": stage,
            "supplier_id": supplier, "promised_at": promised, "promised_day": promised_day,
            "actual_at": np.where(has_actual, actual, -1), "outcome": outcome,
            "delay_seconds": np.where(has_actual, delay, 0), "has_actual": has_actual, "is_excluded": strike}

    orders = {"id": first_order + np.arange(n_orders), "customer": rng.integers(1, 4 * (first_order + n_orders),
                                                                             size=n_orders),
              "placed_at": placed, "channel": rng.choice(3, size=n_orders, p=[0.55, 0.3, 0.15]),
              "value_cents": np.rint(np.exp(rng.normal(3.6, 0.8, size=n_orders)) * 100).astype(np.int64) + 199}

    # Incidents: mostly about orders that went wrong; the category follows the worst problem.
    score = np.where(outcome == O_LOST, 4, np.where(outcome == O_DAMAGED, 3, np.where(
        outcome == O_FAILED, 2, np.where(has_actual & (delay > 7200), 1, 0))))
    key = score * 16 + (15 - position)
    worst = np.maximum.reduceat(key, starts)
    order_score = worst // 16
    culprit = starts + (15 - worst % 16)
    weights = np.where(order_score > 0, 14.0, 1.0)
    picked = np.sort(rng.choice(n_orders, size=incidents_wanted, p=weights / weights.sum()))
    n_inc = len(picked)
    problem = order_score[picked]
    leg = culprit[picked]
    other = np.array(OTHER_CATEGORIES)[rng.integers(0, len(OTHER_CATEGORIES), size=n_inc)]
    category = np.where(problem == 4, "lost_parcel", np.where(problem == 3, "damaged_goods", np.where(
        problem == 2, "failed_attempt", np.where(problem == 1, "late_delivery", other))))
    base = np.where(problem > 0, promised[leg], placed[picked] + 3 * 86400)
    reported = base + rng.integers(2 * 3600, 4 * 86400, size=n_inc) + np.where(problem == 4, 3 * 86400, 0)
    # Incidents stay inside the year (the data set is "one year of incidents").
    year_end = EPOCH + DAYS * 86400
    reported = np.where(reported >= year_end, year_end - rng.integers(600, 3 * 86400, size=n_inc), reported)
    age = NOW - reported
    s = rng.random(n_inc)
    status = np.where(age < 2 * 86400, np.where(s < 0.6, 0, 1), np.where(
        age < 10 * 86400, np.where(s < 0.3, 1, np.where(s < 0.8, 2, 3)), np.where(s < 0.15, 2, 3)))
    priority = rng.choice(4, size=n_inc, p=PRIORITIES[1])
    hours = np.array([CATEGORY_HOURS[c] for c in category]) * np.array(PRIORITIES[2])[priority]
    respond_by = reported + (hours * 3600).astype(np.int64)
    first_response = np.minimum(reported + np.rint(np.exp(rng.normal(np.log(4 * 3600), 0.9, size=n_inc))).astype(
        np.int64), NOW - 60)
    first_response = np.where(status == 0, -1, np.maximum(first_response, reported + 60))
    resolved = np.minimum(first_response + np.rint(np.exp(rng.normal(np.log(20 * 3600), 0.8, size=n_inc))).astype(
        np.int64), NOW - 30)
    resolved = np.where(status >= 2, np.maximum(resolved, first_response + 30), -1)
    closed = np.where(status == 3, np.minimum(resolved + 2 * 86400, NOW - 10), -1)
    closed = np.where(status == 3, np.maximum(closed, resolved), -1)
    csat = np.where((status == 3) & (rng.random(n_inc) < 0.7), rng.choice(5, size=n_inc, p=[.12, .1, .18, .3, .3]) + 1,
                    0)
    operators = np.array(world.operator_ids)
    assignee = np.where(status == 0, 0, operators[rng.integers(0, len(operators), size=n_inc)])
    unknown_order = rng.random(n_inc) < 0.02
    incident_ids = first_incident + np.arange(n_inc)
    incidents = {"id": incident_ids, "order_id": np.where(unknown_order, 0, first_order + picked),
                 "category": category, "channel": rng.choice(6, size=n_inc, p=CHANNELS[1]), "priority": priority,
                 "status": status, "reported_at": reported, "reported_day": (reported + _offset(world, 0, reported))
                 // 86400, "respond_by": respond_by, "first_response_at": first_response, "resolved_at": resolved,
                 "closed_at": closed, "csat": csat, "assignee_id": assignee}

    # Attribution: most incidents that were answered have a decision pointing at the culprit leg.
    decided = (status > 0) & ~unknown_order & (rng.random(n_inc) < 0.85)
    d_inc = np.flatnonzero(decided)
    second = rng.random(len(d_inc)) < 0.06
    d_index = np.concatenate([d_inc, d_inc[second]])
    d_revision = np.concatenate([np.ones(len(d_inc), dtype=np.int64), np.full(int(second.sum()), 2)])
    order_sort = np.lexsort((d_revision, d_index))
    d_index, d_revision = d_index[order_sort], d_revision[order_sort]
    n_dec = len(d_index)
    decision_ids = first_decision + np.arange(n_dec)
    decided_at = np.maximum(first_response[d_index], reported[d_index] + 3600) + (d_revision - 1) * 5 * 86400
    decisions = {"id": decision_ids, "incident_id": incident_ids[d_index], "revision": d_revision,
                 "decided_at": np.minimum(decided_at, NOW - 1), "decided_by_id": assignee[d_index],
                 "follows": d_revision == 1}
    # Shares: the culprit leg (1.0); 70/30 with the leg before it for a third of late
    # deliveries; our own fault for 4 %.
    d_leg = leg[d_index]
    d_problem = problem[d_index]
    internal = rng.random(n_dec) < 0.04
    split = ~internal & (d_problem == 1) & (position[d_leg] > 0) & (rng.random(n_dec) < 0.33)
    main_share = np.where(split, 700000, 1000000)
    root = np.where(d_problem == 4, "lost_in_transit", np.where(d_problem == 3, "damaged_in_handling", np.where(
        d_problem == 0, "other", np.array(ROOT_CAUSE_OF_STAGE)[stage[d_leg]])))
    root = np.where(internal, "system_error", root)
    s_decision = np.concatenate([decision_ids, decision_ids[split]])
    s_leg = np.concatenate([np.where(internal, -1, leg_ids[d_leg]), leg_ids[d_leg[split] - 1]])
    s_supplier = np.concatenate([np.where(internal, -1, supplier[d_leg]), supplier[d_leg[split] - 1]])
    s_share = np.concatenate([main_share, np.full(int(split.sum()), 300000)])
    s_root = np.concatenate([root, np.array(ROOT_CAUSE_OF_STAGE)[stage[d_leg[split] - 1]]])
    s_order = np.argsort(s_decision, kind="stable")
    shares = {"id": first_share + np.arange(len(s_decision)), "decision_id": s_decision[s_order],
              "leg_id": s_leg[s_order], "supplier_id": s_supplier[s_order], "share_millionths": s_share[s_order],
              "root_cause": s_root[s_order]}
    return Chunk(orders, legs, incidents, decisions, shares)


def chunks(world: World, size: Size, seed: int):
    """Every chunk of the data set, in order (deterministic for the seed): `CHUNK_ORDERS`
    orders each, the last one cut at exactly `size.legs` legs; incidents in proportion to the
    legs, so that the last chunk brings them to exactly `size.incidents`."""
    orders_done = legs_done = incidents_done = decisions_done = shares_done = 0
    number = 0
    while legs_done < size.legs:
        chunk = _make_chunk(world, seed, number, orders_done + 1, legs_done + 1, CHUNK_ORDERS,
                            size.legs - legs_done, size, incidents_done, decisions_done + 1, shares_done + 1)
        orders_done += len(chunk.orders["id"])
        legs_done += len(chunk.legs["id"])
        incidents_done += len(chunk.incidents["id"])
        decisions_done += len(chunk.decisions["id"])
        shares_done += len(chunk.shares["id"])
        number += 1
        yield chunk


def prefetched(items):
    """`items` made one ahead in a thread: NumPy, Arrow and the sqlite3/psycopg calls release
    the GIL, so making the next chunk overlaps with the database writing this one."""
    from concurrent.futures import ThreadPoolExecutor

    iterator = iter(items)
    sentinel = object()
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(next, iterator, sentinel)
        while True:
            item = future.result()
            if item is sentinel:
                return
            future = pool.submit(next, iterator, sentinel)
            yield item


# Statistics ------------------------------------------------------------------------------------
#
# The daily leg statistics and monthly delay histograms of the generated legs, summed chunk by
# chunk with NumPy as the legs are made and written with them: a recomputation over 10 million
# legs (incidents.services.stats.rebuild_day_stats) took 70-100 s of every generation.
# tests/bench/test_generate.py checks that what is written equals that recomputation.

DAY_STAT_COLUMNS = ("legs", "closed", "lost", "damaged", "completed", "failed_attempt", "with_actual",
                    "late_seconds", *(f"on_time_{m}" for m in TOLERANCE_CHOICES))
#: Key ranges: promised days within 400 days after the year's first minus 30, months within 40.
_DAY_BASE, _DAY_SPAN = EPOCH // 86400 - 30, 512
_MONTH_BASE, _MONTH_SPAN = (YEAR - 1970) * 12 - 1, 40
_BUCKETS = 1 << 32


def _sum_by_key(keys: np.ndarray, columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct keys, per key the sum of each column) as int64."""
    distinct, where = np.unique(keys, return_inverse=True)
    sums = np.empty((len(distinct), len(columns)), dtype=np.int64)
    for c, column in enumerate(columns):
        # Float sums are exact here: no key's sum comes near 2**53.
        sums[:, c] = np.rint(np.bincount(where, weights=column, minlength=len(distinct)))
    return distinct, sums


class LegStatistics:
    """Accumulates `LegDayStat` and `LegDelayMonthStat` rows over the generated legs."""

    def __init__(self):
        self._days: list[tuple[np.ndarray, np.ndarray]] = []
        self._delays: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, g: dict) -> None:
        keep = g["outcome"] != O_CANCELLED   # cancelled legs are in no count
        supplier, stage, day = g["supplier_id"][keep], g["stage"][keep], g["promised_day"][keep]
        excluded, outcome = g["is_excluded"][keep].astype(np.int64), g["outcome"][keep]
        has_actual, delay = g["has_actual"][keep], g["delay_seconds"][keep]
        if len(day) and (day.min() < _DAY_BASE or day.max() >= _DAY_BASE + _DAY_SPAN):
            raise ValueError("a promised day outside the statistics' key range")
        day_key = ((supplier * 8 + stage) * _DAY_SPAN + (day - _DAY_BASE)) * 2 + excluded
        not_lost = outcome != O_LOST
        columns = [np.ones(len(day)), outcome != O_OPEN, outcome == O_LOST, outcome == O_DAMAGED,
                   outcome == O_COMPLETED, outcome == O_FAILED, has_actual, np.where(has_actual & (delay > 0), delay, 0),
                   *(has_actual & (delay <= m * 60) & not_lost for m in TOLERANCE_CHOICES)]
        self._days.append(_sum_by_key(day_key, [np.asarray(c, dtype=np.float64) for c in columns]))
        month = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) - _MONTH_BASE
        bucket = np.where(delay > 0, delay // DELAY_BUCKET_SECONDS, 0)
        delay_key = ((((supplier * 8 + stage) * _MONTH_SPAN + month) * 2 + excluded) * _BUCKETS + bucket)[has_actual]
        self._delays.append(_sum_by_key(delay_key, [np.ones(len(delay_key))]))

    @staticmethod
    def _merged(parts):
        keys = np.concatenate([k for k, _ in parts])
        values = np.concatenate([v for _, v in parts])
        return _sum_by_key(keys, [values[:, c].astype(np.float64) for c in range(values.shape[1])])

    def day_rows(self):
        """(supplier id, stage, day (epoch days), excluded, *DAY_STAT_COLUMNS) per key."""
        keys, sums = self._merged(self._days)
        excluded, rest = keys % 2, keys // 2
        day, rest = rest % _DAY_SPAN + _DAY_BASE, rest // _DAY_SPAN
        return rest // 8, rest % 8, day, excluded, sums

    def delay_rows(self):
        """(supplier id, stage, month (months since 1970), excluded, bucket, legs) per key."""
        keys, sums = self._merged(self._delays)
        bucket, rest = keys % _BUCKETS, keys // _BUCKETS
        excluded, rest = rest % 2, rest // 2
        month, rest = rest % _MONTH_SPAN + _MONTH_BASE, rest // _MONTH_SPAN
        return rest // 8, rest % 8, month, excluded, bucket, sums[:, 0]


def _write_statistics_sqlite(connection, stats: LegStatistics) -> None:
    stage_names = np.array(STAGES, dtype=object)
    supplier, stage, day, excluded, sums = stats.day_rows()
    days = np.datetime_as_string(day.astype("datetime64[D]"), unit="D").astype(object)
    connection.executemany(
        f"INSERT INTO leg_day_stats (supplier_id, stage, day, is_excluded, {', '.join(DAY_STAT_COLUMNS)}) "
        f"VALUES ({', '.join('?' * (4 + len(DAY_STAT_COLUMNS)))})",
        zip(supplier.tolist(), stage_names[stage].tolist(), days.tolist(), excluded.tolist(), *sums.T.tolist()))
    supplier, stage, month, excluded, bucket, legs = stats.delay_rows()
    months = np.datetime_as_string(month.astype("datetime64[M]").astype("datetime64[D]"), unit="D").astype(object)
    connection.executemany(
        "INSERT INTO leg_delay_month_stats (supplier_id, stage, month, is_excluded, delay_bucket, legs) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        zip(supplier.tolist(), stage_names[stage].tolist(), months.tolist(), excluded.tolist(), bucket.tolist(),
            legs.tolist()))


def _write_statistics_postgresql(connection, stats: LegStatistics) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def copy(table: str, data) -> None:
        buffer = io.BytesIO()
        pacsv.write_csv(data, buffer, write_options=pacsv.WriteOptions(include_header=False))
        with connection.cursor().copy(f"COPY {table} ({', '.join(data.column_names)}) FROM STDIN WITH (FORMAT csv)") \
                as writer:
            writer.write(buffer.getbuffer())

    stage_names = np.array(STAGES, dtype=object)
    supplier, stage, day, excluded, sums = stats.day_rows()
    copy("leg_day_stats", pa.table({
        "supplier_id": supplier, "stage": pa.array(stage_names[stage], type=pa.string()),
        "day": pa.array(day.astype(np.int32), type=pa.date32()), "is_excluded": excluded.astype(bool),
        **{name: sums[:, c] for c, name in enumerate(DAY_STAT_COLUMNS)}}))
    supplier, stage, month, excluded, bucket, legs = stats.delay_rows()
    first_days = month.astype("datetime64[M]").astype("datetime64[D]").astype(np.int32)
    copy("leg_delay_month_stats", pa.table({
        "supplier_id": supplier, "stage": pa.array(stage_names[stage], type=pa.string()),
        "month": pa.array(first_days, type=pa.date32()), "is_excluded": excluded.astype(bool),
        "delay_bucket": bucket, "legs": legs}))


# Writing: SQLite --------------------------------------------------------------------------------

_TS = "strftime('%Y-%m-%d %H:%M:%S.000000', {}, 'unixepoch')"


def _ts_or_null(n: int) -> str:
    return f"CASE WHEN ?{n} < 0 THEN NULL ELSE {_TS.format(f'?{n}')} END"


SQLITE_INSERTS = {
    "orders": ("INSERT INTO orders (id, ref, customer_ref, placed_at, channel, value, created_at, updated_at) "
               f"VALUES (?1, printf('O%09d', ?1), printf('C%08d', ?2), {_TS.format('?3')}, ?4, ?5 / 100.0, ?6, ?6)"),
    "legs": ("INSERT INTO legs (id, external_id, order_id, sequence, stage, supplier_id, promised_at, promised_day, "
             "actual_at, outcome, delay_seconds, is_excluded, exclusion_reason, created_at, updated_at) "
             f"VALUES (?1, printf('L%010d', ?1), ?2, ?3, ?4, ?5, {_TS.format('?6')}, date(?7 * 86400, 'unixepoch'), "
             f"{_ts_or_null(8)}, ?9, ?10, ?11, CASE WHEN ?11 THEN 'Strike' END, ?12, ?12)"),
    "incidents": ("INSERT INTO incidents (id, external_id, order_id, order_ref_given, needs_follow_up, channel, "
                  "category_id, priority, description, status, reported_at, reported_day, respond_by, "
                  "first_response_at, resolved_at, first_response_seconds, resolution_seconds, closed_at, "
                  "assignee_id, csat, created_at, updated_at, version) "
                  f"VALUES (?1, printf('HD-%08d', ?1), ?2, ?3, ?3 IS NOT NULL, ?4, ?5, ?6, ?7, ?8, {_TS.format('?9')}, "
                  f"date(?10 * 86400, 'unixepoch'), {_TS.format('?11')}, {_ts_or_null(12)}, {_ts_or_null(13)}, "
                  "CASE WHEN ?12 < 0 THEN NULL ELSE ?12 - ?9 END, CASE WHEN ?13 < 0 THEN NULL ELSE ?13 - ?9 END, "
                  f"{_ts_or_null(14)}, ?15, ?16, {_TS.format('?9')}, ?17, 1)"),
    "attribution_decisions": ("INSERT INTO attribution_decisions (id, incident_id, revision, follows_proposal, "
                              f"decided_at, decided_by_id) VALUES (?1, ?2, ?3, ?4, {_TS.format('?5')}, ?6)"),
    "attribution_shares": ("INSERT INTO attribution_shares (id, decision_id, leg_id, supplier_id, is_internal, share, "
                           "root_cause) VALUES (?1, ?2, ?3, ?4, ?3 IS NULL, ?5 / 1000000.0, ?6)"),
}


def _none_where(values: np.ndarray, missing: np.ndarray) -> list:
    out = values.astype(object)
    out[missing] = None
    return out.tolist()


def _rows(world: World, chunk: Chunk) -> dict[str, list]:
    """The chunk as parameter tuples (plain ints and a few strings) for SQLITE_INSERTS."""
    stage_names = np.array(STAGES, dtype=object)
    outcome_names = np.array(OUTCOMES + [None], dtype=object)
    o, g, i, d, s = chunk.orders, chunk.legs, chunk.incidents, chunk.decisions, chunk.shares
    channels = np.array(["web", "app", "marketplace"], dtype=object)
    orders = list(zip(o["id"].tolist(), o["customer"].tolist(), o["placed_at"].tolist(),
                      channels[o["channel"]].tolist(), o["value_cents"].tolist(), [NOW_TEXT] * len(o["id"])))
    legs = list(zip(g["id"].tolist(), g["order_id"].tolist(), g["sequence"].tolist(),
                    stage_names[g["stage"]].tolist(), g["supplier_id"].tolist(), g["promised_at"].tolist(),
                    g["promised_day"].tolist(), g["actual_at"].tolist(), outcome_names[g["outcome"]].tolist(),
                    _none_where(g["delay_seconds"], ~g["has_actual"]), g["is_excluded"].astype(int).tolist(),
                    [NOW_TEXT] * len(g["id"])))
    n = len(i["id"])
    unknown = i["order_id"] == 0
    refs = np.array([f"UNKNOWN-{x}" for x in i["id"][unknown]], dtype=object)
    given = np.full(n, None, dtype=object)
    given[unknown] = refs
    category_ids = np.array([world.category_ids[c] for c in i["category"]])
    descriptions = np.array([DESCRIPTIONS[c] for c in i["category"]], dtype=object)
    incidents = list(zip(
        i["id"].tolist(), _none_where(i["order_id"], unknown), given.tolist(),
        np.array(CHANNELS[0], dtype=object)[i["channel"]].tolist(), category_ids.tolist(),
        np.array(PRIORITIES[0], dtype=object)[i["priority"]].tolist(), descriptions.tolist(),
        np.array(["new", "in_progress", "resolved", "closed"], dtype=object)[i["status"]].tolist(),
        i["reported_at"].tolist(), i["reported_day"].tolist(), i["respond_by"].tolist(),
        i["first_response_at"].tolist(), i["resolved_at"].tolist(), i["closed_at"].tolist(),
        _none_where(i["assignee_id"], i["assignee_id"] == 0), _none_where(i["csat"], i["csat"] == 0),
        [NOW_TEXT] * n))
    decisions = list(zip(d["id"].tolist(), d["incident_id"].tolist(), d["revision"].tolist(),
                         d["follows"].astype(int).tolist(), d["decided_at"].tolist(), d["decided_by_id"].tolist()))
    shares = list(zip(s["id"].tolist(), s["decision_id"].tolist(), _none_where(s["leg_id"], s["leg_id"] < 0),
                      _none_where(s["supplier_id"], s["supplier_id"] < 0), s["share_millionths"].tolist(),
                      s["root_cause"].tolist()))
    return {"orders": orders, "legs": legs, "incidents": incidents, "attribution_decisions": decisions,
            "attribution_shares": shares}


def _sqlite_bulk(path: str, world: World, size: Size, seed: int, timings: dict,
                 stats: LegStatistics) -> dict[str, int]:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=OFF")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA foreign_keys=OFF")
    # The rows are valid by construction (tests/bench checks them against the import's rules);
    # SQLite evaluates each CHECK ... IN (...) list per row, which would double the load time.
    connection.execute("PRAGMA ignore_check_constraints=ON")
    connection.execute("PRAGMA cache_size=-1000000")
    connection.execute("PRAGMA temp_store=MEMORY")
    # Worker threads for the sorts of CREATE INDEX.
    connection.execute("PRAGMA threads=2")
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
        f"({', '.join('?' * len(BULK_TABLES))})", BULK_TABLES).fetchall()
    counts = dict.fromkeys(BULK_TABLES, 0)
    connection.execute("BEGIN")
    for name, _ in indexes:
        connection.execute(f"DROP INDEX {name}")
    started = time.perf_counter()

    def made(chunk):
        stats.add(chunk.legs)
        return _rows(world, chunk)

    for rows_of in prefetched(made(chunk) for chunk in chunks(world, size, seed)):
        for table, rows in rows_of.items():
            connection.executemany(SQLITE_INSERTS[table], rows)
            counts[table] += len(rows)
    timings["bulk_write_s"] = time.perf_counter() - started
    started = time.perf_counter()
    for _, sql in indexes:
        connection.execute(sql)
    timings["indexes_s"] = time.perf_counter() - started
    started = time.perf_counter()
    _write_statistics_sqlite(connection, stats)
    connection.execute("COMMIT")
    timings["day_stats_s"] = time.perf_counter() - started
    connection.execute("PRAGMA journal_mode=WAL")
    connection.close()
    return counts


# Writing: PostgreSQL ----------------------------------------------------------------------------

def _arrow_tables(world: World, chunk: Chunk) -> dict:
    import pyarrow as pa
    import pyarrow.compute as pc

    def ts(values, missing=None):
        return pa.array(values, type=pa.timestamp("s"), mask=missing)

    def code(prefix, ids, width):
        return pc.binary_join_element_wise(prefix, pc.utf8_lpad(pc.cast(pa.array(ids), pa.string()), width, "0"), "")

    def take(names, index, missing=None):
        return pa.array(np.array(names, dtype=object)[index], type=pa.string(), mask=missing)

    epoch_day = pa.date32()
    now = pa.scalar(NOW, type=pa.int64()).cast(pa.timestamp("s"))
    o, g, i, d, s = chunk.orders, chunk.legs, chunk.incidents, chunk.decisions, chunk.shares
    n_o, n_g, n_i = len(o["id"]), len(g["id"]), len(i["id"])
    orders = pa.table({
        "id": o["id"], "ref": code("O", o["id"], 9), "customer_ref": code("C", o["customer"], 8),
        "placed_at": ts(o["placed_at"]), "channel": take(["web", "app", "marketplace"], o["channel"]),
        "value": pa.array(o["value_cents"] / 100.0), "created_at": pa.repeat(now, n_o),
        "updated_at": pa.repeat(now, n_o)})
    no_actual = ~g["has_actual"]
    legs = pa.table({
        "id": g["id"], "external_id": code("L", g["id"], 10), "order_id": g["order_id"], "sequence": g["sequence"],
        "stage": take(STAGES, g["stage"]), "supplier_id": g["supplier_id"], "promised_at": ts(g["promised_at"]),
        "promised_day": pa.array(g["promised_day"].astype(np.int32), type=epoch_day),
        "actual_at": ts(g["actual_at"], no_actual), "outcome": take(OUTCOMES + [None], g["outcome"],
                                                                   g["outcome"] == O_OPEN),
        "delay_seconds": pa.array(g["delay_seconds"], mask=no_actual), "is_excluded": g["is_excluded"],
        "exclusion_reason": pa.array(np.where(g["is_excluded"], "Strike", ""), mask=~g["is_excluded"]),
        "created_at": pa.repeat(now, n_g), "updated_at": pa.repeat(now, n_g)})
    unknown = i["order_id"] == 0
    rf, rs = i["first_response_at"], i["resolved_at"]
    incidents = pa.table({
        "id": i["id"], "external_id": code("HD-", i["id"], 8), "order_id": pa.array(i["order_id"], mask=unknown),
        "order_ref_given": pa.array(np.char.add("UNKNOWN-", i["id"].astype(str)), mask=~unknown),
        "needs_follow_up": unknown, "channel": take(CHANNELS[0], i["channel"]),
        "category_id": np.array([world.category_ids[c] for c in i["category"]]),
        "priority": take(PRIORITIES[0], i["priority"]),
        "description": pa.array([DESCRIPTIONS[c] for c in i["category"]], type=pa.string()),
        "status": take(["new", "in_progress", "resolved", "closed"], i["status"]),
        "reported_at": ts(i["reported_at"]),
        "reported_day": pa.array(i["reported_day"].astype(np.int32), type=epoch_day),
        "respond_by": ts(i["respond_by"]), "first_response_at": ts(rf, rf < 0), "resolved_at": ts(rs, rs < 0),
        "first_response_seconds": pa.array(rf - i["reported_at"], mask=rf < 0),
        "resolution_seconds": pa.array(rs - i["reported_at"], mask=rs < 0),
        "closed_at": ts(i["closed_at"], i["closed_at"] < 0),
        "assignee_id": pa.array(i["assignee_id"], mask=i["assignee_id"] == 0),
        "csat": pa.array(i["csat"], mask=i["csat"] == 0), "created_at": ts(i["reported_at"]),
        "updated_at": pa.repeat(now, n_i), "version": np.ones(n_i, dtype=np.int64)})
    decisions = pa.table({
        "id": d["id"], "incident_id": d["incident_id"], "revision": d["revision"], "follows_proposal": d["follows"],
        "decided_at": ts(d["decided_at"]), "decided_by_id": d["decided_by_id"]})
    internal = s["supplier_id"] < 0
    shares = pa.table({
        "id": s["id"], "decision_id": s["decision_id"], "leg_id": pa.array(s["leg_id"], mask=internal),
        "supplier_id": pa.array(s["supplier_id"], mask=internal), "is_internal": internal,
        "share": pa.array(s["share_millionths"] / 1e6), "root_cause": pa.array(s["root_cause"], type=pa.string())})
    return {"orders": orders, "legs": legs, "incidents": incidents, "attribution_decisions": decisions,
            "attribution_shares": shares}


def _postgresql_bulk(url: str, world: World, size: Size, seed: int, timings: dict,
                     stats: LegStatistics) -> dict[str, int]:
    import psycopg
    import pyarrow.csv as pacsv

    from app.config import normalise_database_url

    dsn = normalise_database_url(url).replace("postgresql+psycopg://", "postgresql://")
    counts = dict.fromkeys(BULK_TABLES, 0)
    with psycopg.connect(dsn) as connection:
        connection.execute("SET synchronous_commit = off")
        # Arrow writes naive UTC times (formatting zoned ones is 20× slower); the session reads them as UTC.
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute("SET maintenance_work_mem = '1GB'")
        tables = list(BULK_TABLES)
        constraints = connection.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
            "WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('f', 'u') ORDER BY contype DESC",
            (tables,)).fetchall()
        indexes = connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY(%s) "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)", (tables,)).fetchall()
        for table, name, _, _ in constraints:
            connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        options = pacsv.WriteOptions(include_header=False, batch_size=65536)
        def as_csv(chunk):
            stats.add(chunk.legs)
            made = {}
            for table, data in _arrow_tables(world, chunk).items():
                buffer = io.BytesIO()
                pacsv.write_csv(data, buffer, write_options=options)
                made[table] = (data.column_names, data.num_rows, buffer)
            return made

        for made in prefetched(as_csv(chunk) for chunk in chunks(world, size, seed)):
            for table, (columns, rows, buffer) in made.items():
                with connection.cursor().copy(
                        f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)") as copy:
                    copy.write(buffer.getbuffer())
                counts[table] += rows
        connection.commit()
        timings["bulk_write_s"] = time.perf_counter() - started
        started = time.perf_counter()
        for _, definition in indexes:
            connection.execute(definition)
        for table, name, definition, kind in constraints:
            # Foreign keys come back NOT VALID-free: validated in one pass each (a join), much
            # cheaper than a check per COPYed row.
            connection.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for table in tables:
            connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")
        connection.commit()
        timings["indexes_s"] = time.perf_counter() - started
        started = time.perf_counter()
        _write_statistics_postgresql(connection, stats)
        connection.commit()
        timings["day_stats_s"] = time.perf_counter() - started
    return counts


# Audits -----------------------------------------------------------------------------------------

#: The supplier with a long history: the evidence pack benchmark prints its pack.
EVIDENCE_SUPPLIER_ID = 5


def _write_audits(seed: int, size: Size) -> dict[str, int]:
    """A few audits with their SLA snapshot, participants, findings and corrective actions;
    the first is long enough for a ~20-page report. The evidence supplier gets a long status
    history and monthly audits (its pack runs to about 200 pages; a quarter of that below the
    medium size, so that the quick run stays quick)."""
    from sqlalchemy import insert, select

    from app.db import db
    from audits.models import (
        Audit,
        AuditParticipant,
        AuditSlaResult,
        CorrectiveAction,
        Finding,
    )
    from suppliers.models import StatusChange, Supplier
    from suppliers.services.measurement import periods_between, supplier_results

    rng = np.random.default_rng([seed, 3])
    large = size.legs >= SIZES["medium"].legs
    now = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    suppliers = list(db.session.scalars(select(Supplier).order_by(Supplier.id).limit(8)))
    audit_rows, participants, results, findings, actions = [], [], [], [], []
    periods = periods_between("month", dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31))
    audit_id = finding_id = 0
    grades = ["major_nc", "minor_nc", "observation", "improvement", "good_practice"]
    long_text = ("During the visit the auditors sampled the consignments of the period and compared the scans "
                 "with the carrier's manifests; the handover times recorded at the dock did not match the times "
                 "declared in the monthly report for several loads, and the supervisor could not show the "
                 "corrective instructions issued after the previous audit. ")
    plan = []
    for n, supplier in enumerate(suppliers):
        if n == 0:
            plan.append((supplier, dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31), 35))
        elif supplier.id == EVIDENCE_SUPPLIER_ID:
            plan += [(supplier, p.start, p.end, 35 if large else 8) for p in periods]
        else:
            plan.append((supplier, dt.date(YEAR, 1, 1), dt.date(YEAR, 6, 30), 6))
    measured = {}
    for supplier, first, last, n_findings in plan:
        audit_id += 1
        if supplier.id not in measured:
            # Measured once over the year (as an audit's snapshot would be), sliced per audit.
            measured[supplier.id] = supplier_results(supplier, dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31), now=now)
        audit_rows.append({
            "id": audit_id, "supplier_id": supplier.id, "audit_type": "on_site", "period_start": first,
            "period_end": last, "planned_date": last + dt.timedelta(days=10), "status": "report_issued",
            "lead_auditor_id": 3, "scope": "Handover, transit and delivery processes; SLA compliance.",
            "location": "Main depot", "started_on": last + dt.timedelta(days=10), "ended_on": last + dt.timedelta(days=11),
            "conclusions": long_text, "fulfilment": "Partially fulfilled.", "snapshot_revision": 1,
            "created_at": now, "report_issued_at": now, "report_issued_by_id": 2, "version": 1})
        for p, (role, name) in enumerate([("auditor", "Auditor 1"), ("auditor", "Auditor 2"),
                                          ("auditee", "Depot manager"), ("auditee", "Quality lead"),
                                          ("observer", "Trainee")]):
            participants.append({"audit_id": audit_id, "name": name, "organisation": "Bench", "role": role})
        for r in (r for r in measured[supplier.id] if first <= r.period.start and r.period.end <= last):
            results.append({
                "audit_id": audit_id, "revision": 1, "computed_at": now, "standard_id": r.standard.id,
                "series_id": r.standard.series_id, "name": r.standard.name, "metric": r.standard.metric,
                "stage": r.standard.stage, "period_key": r.period.key, "period_start": r.period.start,
                "period_end": r.period.end, "value": r.value, "sample_size": r.sample_size,
                "comparator": r.standard.comparator, "target": r.standard.target,
                "warning_threshold": r.standard.warning_threshold, "status": r.status, "penalty": r.penalty})
        for number in range(1, n_findings + 1):
            finding_id += 1
            grade = grades[int(rng.integers(0, len(grades)))]
            findings.append({
                "id": finding_id, "audit_id": audit_id, "number": number, "grade": grade,
                "criterion": f"SLA and procedure clause {number}", "statement": long_text * 2,
                "evidence": "Manifests, scan logs and photos of the dock (sampled).", "proposed": False,
                "auditee_response": "acknowledged" if number % 5 else "diverging",
                "auditee_comment": "The supplier disagrees with the sample chosen." if number % 5 == 0 else None,
                "created_at": now, "created_by_id": 3})
            if grade in ("major_nc", "minor_nc"):
                token = hashlib.sha256(f"{seed}-{finding_id}".encode()).hexdigest()
                actions.append({
                    "finding_id": finding_id, "supplier_id": supplier.id, "status": "requested",
                    "due_date": last + dt.timedelta(days=40), "request_text": "Find the root cause and correct it.",
                    "recipient_name": "Quality lead", "language": "en", "token_nonce": token[:32],
                    "token_hash": token, "token_prefix": token[:8], "expires_at": now + dt.timedelta(days=60),
                    "effectiveness_method": "manual", "effectiveness_periods": 3, "created_at": now, "version": 1})
    history = []
    statuses = ["approved", "conditionally_approved", "suspended", "approved"]
    for k in range(1200 if large else 300):
        history.append({"supplier_id": EVIDENCE_SUPPLIER_ID, "from_status": statuses[k % 4],
                        "to_status": statuses[(k + 1) % 4],
                        "reason": "Re-evaluated after the monthly review of SLA results and incidents.",
                        "changed_at": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=3 * k),
                        "changed_by_id": 2})
    db.session.execute(insert(Audit.__table__), audit_rows)
    db.session.execute(insert(AuditParticipant.__table__), participants)
    if results:
        db.session.execute(insert(AuditSlaResult.__table__), results)
    db.session.execute(insert(Finding.__table__), findings)
    if actions:
        db.session.execute(insert(CorrectiveAction.__table__), actions)
    db.session.execute(insert(StatusChange.__table__), history)
    _restart_sequences(["audits", "audit_participants", "audit_sla_results", "audit_findings",
                        "corrective_actions", "supplier_status_changes"])
    return {"audits": len(audit_rows), "audit_findings": len(findings), "audit_sla_results": len(results),
            "corrective_actions": len(actions), "supplier_status_changes": len(history)}


# The whole run --------------------------------------------------------------------------------

def reset_database(database_url: str) -> None:
    """An empty database: the SQLite file removed, or the PostgreSQL schema dropped and made again."""
    from sqlalchemy import create_engine, text

    from app.config import normalise_database_url

    url = normalise_database_url(database_url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        return
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def make_app(database_url: str, instance_dir: Path | None = None):
    from app import create_app
    from app.config import TestConfig

    instance_dir = instance_dir or Path(tempfile.mkdtemp(prefix="catena-bench-instance-"))
    return create_app(TestConfig(database_url=database_url, instance_dir=instance_dir))


def generate(database_url: str, size: Size | str, seed: int = 2026, *, instance_dir: Path | None = None,
             log=print) -> dict:
    """Empty the database, migrate it and fill it at `size`; the counts and timings written."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app.config import normalise_database_url
    from app.db import db
    from incidents.services.share_stats import rebuild_share_stats

    size = SIZES[size] if isinstance(size, str) else size
    timings: dict[str, float] = {}
    started = time.perf_counter()
    reset_database(database_url)
    app = make_app(database_url, instance_dir)
    with app.app_context():
        mark = time.perf_counter()
        upgrade()
        timings["migrate_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        world = _write_world(size, seed)
        db.session.commit()
        timings["world_s"] = time.perf_counter() - mark
        dialect = db.engine.dialect.name
        db.session.remove()
        db.engine.dispose()
    log(f"[generate] {dialect}: {size.legs:,} legs, {size.incidents:,} incidents, {size.suppliers} suppliers")
    url = normalise_database_url(database_url)
    stats = LegStatistics()
    if dialect == "sqlite":
        counts = _sqlite_bulk(url.split("///", 1)[1], world, size, seed, timings, stats)
    else:
        counts = _postgresql_bulk(database_url, world, size, seed, timings, stats)
    log(f"[generate] bulk write {timings['bulk_write_s']:.1f} s, indexes {timings['indexes_s']:.1f} s")
    with app.app_context():
        mark = time.perf_counter()
        rebuild_share_stats()
        db.session.commit()
        timings["share_stats_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        counts.update(_write_audits(seed, size))
        db.session.commit()
        timings["audits_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        if dialect == "postgresql":
            db.session.execute(text("COMMIT"))
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        else:
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        timings["analyze_s"] = time.perf_counter() - mark
        db.session.remove()
        db.engine.dispose()
    timings["total_s"] = time.perf_counter() - started
    log(f"[generate] day stats {timings['day_stats_s']:.1f} s, total {timings['total_s']:.1f} s")
    return {"engine": dialect, "size": size.name, "seed": seed, "counts": counts, "timings": timings,
            "legs_per_s": counts["legs"] / timings["bulk_write_s"] if timings.get("bulk_write_s") else None}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    summary = generate(args.database_url, args.size, args.seed)
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
