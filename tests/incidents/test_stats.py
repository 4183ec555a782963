"""The daily statistics always equal what the legs themselves say."""
from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select

from app.db import db
from incidents.models import TOLERANCE_CHOICES, LegDayStat
from incidents.services.legs import LegInput, record_legs
from incidents.services.stats import rebuild_day_stats
from suppliers.services import measurement
from suppliers.services.standards import create_standard
from tests.suppliers.test_measurement import NOW, ROME

UTC = dt.timezone.utc


def _random_legs(rng, suppliers, n, prefix="R"):
    legs = []
    for i in range(n):
        supplier = rng.choice(suppliers)
        promised = dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=rng.randrange(0, 120 * 24 * 60))
        kind = rng.random()
        actual, outcome = None, None
        if kind < 0.7:
            actual = promised + dt.timedelta(minutes=rng.choice([-90, -1, 0, 1, 14, 15, 16, 59, 60, 61, 300, 3000]))
            outcome = rng.choice(["completed"] * 6 + ["failed_attempt", "damaged", "returned"])
        elif kind < 0.8:
            outcome = "lost"
        elif kind < 0.9:
            outcome = "cancelled"
            actual = promised if rng.random() < 0.5 else None
        legs.append(LegInput(external_id=f"{prefix}{i}", order_ref=f"O{prefix}{i}",
                             stage=rng.choice(["last_mile", "seller_handover"]), supplier_code=supplier.code,
                             promised_at=promised, actual_at=actual, outcome=outcome,
                             is_excluded=rng.random() < 0.1, row=i))
    return legs


def _stats():
    rows = db.session.scalars(select(LegDayStat)).all()
    return sorted((r.supplier_id, r.stage, r.day, r.is_excluded,
                   tuple(getattr(r, c.key) for c in LegDayStat.__table__.columns if c.key not in
                         ("supplier_id", "stage", "day", "is_excluded"))) for r in rows)


def test_incremental_statistics_equal_a_full_rebuild_after_updates(make_supplier):
    rng = random.Random(7)
    suppliers = [make_supplier(code=f"S-{n}") for n in range(3)]
    ids = {s.code: s.id for s in suppliers}
    legs = _random_legs(rng, suppliers, 400)
    record_legs(legs, ids, ROME)
    # Corrections: some legs move to another supplier, day or outcome.
    for leg in rng.sample(legs, 80):
        leg.supplier_code = rng.choice(suppliers).code
        leg.promised_at += dt.timedelta(days=rng.choice([-3, 1, 40]))
        leg.outcome, leg.actual_at = "completed", leg.promised_at + dt.timedelta(minutes=30)
    record_legs(legs, ids, ROME)
    db.session.commit()
    incremental = _stats()
    rebuild_day_stats()
    assert _stats() == incremental and incremental


def test_measuring_from_statistics_equals_measuring_from_legs(make_supplier):
    rng = random.Random(11)
    suppliers = [make_supplier(code=f"T-{n}") for n in range(3)]
    record_legs(_random_legs(rng, suppliers, 600, "T"), {s.code: s.id for s in suppliers}, ROME)
    db.session.commit()
    periods = measurement.periods_between("month", dt.date(2026, 1, 1), dt.date(2026, 4, 30))
    ids = [s.id for s in suppliers]
    for metric in ("on_time_rate", "lost_rate", "damage_rate", "first_attempt_rate", "mean_delay_hours"):
        for tolerance in (0, 15, 60):
            for honours in (True, False):
                standard = create_standard({"name": "x", "metric": metric, "stage": "last_mile",
                                            "target": "0.5", "min_sample": 1, "tolerance_minutes": tolerance,
                                            "honours_exclusions": honours, "valid_from": dt.date(2026, 1, 1)},
                                           None, supplier=suppliers[0])
                from_stats = measurement._from_day_stats(metric, [standard], ids, periods, periods[0].start,
                                                         periods[-1].end)
                from_legs = measurement._from_legs(metric, [standard], ids, periods, periods[0].start,
                                                   periods[-1].end, NOW)
                normalise = lambda rows: sorted((s, i, int(n or 0), int(d or 0)) for s, i, n, d in rows)  # noqa: E731
                assert normalise(from_stats) == normalise(from_legs), (metric, tolerance, honours)


def test_every_tolerance_choice_has_a_statistics_column():
    columns = {c.key for c in LegDayStat.__table__.columns}
    assert {f"on_time_{m}" for m in TOLERANCE_CHOICES} <= columns


def test_migration_fill_matches_the_service(make_supplier):
    import importlib.util
    from pathlib import Path

    from sqlalchemy import delete, text

    rng = random.Random(3)
    suppliers = [make_supplier(code=f"M-{n}") for n in range(2)]
    record_legs(_random_legs(rng, suppliers, 200, "M"), {s.code: s.id for s in suppliers}, ROME)
    db.session.commit()
    expected = _stats()
    path = next(Path(__file__).resolve().parents[2].glob("migrations/versions/*leg_daily_statistics*.py"))
    spec = importlib.util.spec_from_file_location("fill_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    db.session.execute(delete(LegDayStat))
    db.session.execute(text(module.FILL_FROM_LEGS))
    assert _stats() == expected
