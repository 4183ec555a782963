"""The benchmark generator: its rows are valid Catena data, and a seed always gives the same rows.

The bulk path writes around the ORM and (on SQLite) with CHECK constraints off, so these tests
are what shows the data set could have been imported: the legs, written as a CSV in Catena's
leg format, pass the import's row checks (`incidents.services.legs.parse_leg_row`, which
`incidents.services.imports` runs on every row) and its supplier check, and every constraint
the load skipped holds. Always on a SQLite file of its own: the generator empties the database.
"""
from __future__ import annotations

import csv
import os
import hashlib
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from bench.generate import SIZES, generate, make_app

pytestmark = pytest.mark.no_db

TINY = SIZES["tiny"]
LEG_CSV = (
    "SELECT l.external_id, o.ref, l.stage, s.code, l.promised_at, l.actual_at, l.outcome, l.sequence, "
    "o.customer_ref, o.placed_at, o.channel, o.value, l.is_excluded, l.exclusion_reason "
    "FROM legs l JOIN orders o ON o.id = l.order_id JOIN suppliers s ON s.id = l.supplier_id ORDER BY l.id")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    path = tmp_path_factory.mktemp("generated") / "bench.sqlite"
    url = f"sqlite:///{path}"
    summary = generate(url, TINY, seed=7, instance_dir=path.parent / "instance", log=lambda _: None)
    return url, summary


def _iso(value: str | None) -> str:
    # Stored as naive UTC text on SQLite; a file would carry the offset.
    return "" if value is None else value.replace(" ", "T") + "+00:00"


def test_generated_legs_written_as_csv_pass_the_import_checks(generated, tmp_path):
    from incidents.services.legs import LEG_FIELDS, check_suppliers, parse_leg_row

    url, summary = generated
    assert summary["counts"]["legs"] == TINY.legs
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(LEG_CSV)).all()
    engine.dispose()
    path = tmp_path / "legs.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(LEG_FIELDS)
        for r in rows:
            writer.writerow([r[0], r[1], r[2], r[3], _iso(r[4]), _iso(r[5]), r[6] or "", r[7], r[8], _iso(r[9]),
                             r[10], r[11], "yes" if r[12] else "no", r[13] or ""])

    zone = ZoneInfo("Europe/Rome")
    legs, problems = [], []
    with path.open(newline="", encoding="utf-8") as handle:
        for number, raw in enumerate(csv.DictReader(handle), start=2):
            leg, found = parse_leg_row(raw, number, zone)
            problems += [p for p in found if p.is_error]
            if leg is not None:
                legs.append(leg)
    assert problems == []
    assert len(legs) == TINY.legs
    with make_app(url).app_context():
        _, unknown = check_suppliers(legs)
    assert unknown == []


def test_generated_rows_keep_the_constraints_the_bulk_load_skipped(generated):
    url, _ = generated
    engine = create_engine(url)
    with engine.connect() as conn:
        def scalar(sql):
            return conn.execute(text(sql)).scalar()

        assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        assert scalar("SELECT COUNT(*) FROM legs WHERE stage NOT IN ('seller_handover', 'warehouse', 'line_haul', "
                      "'hub', 'last_mile', 'pickup_point', 'return')") == 0
        assert scalar("SELECT COUNT(*) FROM legs WHERE outcome IS NOT NULL AND outcome NOT IN ('completed', 'lost', "
                      "'damaged', 'failed_attempt', 'returned', 'cancelled')") == 0
        # An open leg has no outcome and no actual time; a lost or cancelled one no actual time.
        assert scalar("SELECT COUNT(*) FROM legs WHERE (actual_at IS NULL) <> (outcome IS NULL OR outcome IN "
                      "('lost', 'cancelled'))") == 0
        assert scalar("SELECT COUNT(*) FROM legs WHERE actual_at IS NOT NULL AND delay_seconds <> "
                      "CAST(ROUND((julianday(actual_at) - julianday(promised_at)) * 86400) AS INTEGER)") == 0
        assert scalar("SELECT COUNT(*) FROM legs WHERE promised_day <> date(promised_at, '+1 hour') "
                      "AND promised_day <> date(promised_at, '+2 hours')") == 0
        assert scalar("SELECT COUNT(*) FROM incidents WHERE channel NOT IN ('phone', 'email', 'web', 'chat', "
                      "'social', 'store') OR status NOT IN ('new', 'in_progress', 'resolved', 'closed') OR "
                      "priority NOT IN ('low', 'normal', 'high', 'urgent') OR csat < 1 OR csat > 5") == 0
        assert scalar("SELECT COUNT(*) FROM incidents WHERE first_response_at < reported_at OR "
                      "resolved_at < first_response_at") == 0
        # Every decision's shares add up to exactly 1; a share names a supplier or is internal.
        sums = conn.execute(text("SELECT decision_id, SUM(share) FROM attribution_shares GROUP BY decision_id")).all()
        assert sums and all(Decimal(str(total)).quantize(Decimal("0.000001")) == 1 for _, total in sums)
        assert scalar("SELECT COUNT(*) FROM attribution_shares WHERE NOT is_internal AND supplier_id IS NULL") == 0
        assert scalar("SELECT COUNT(*) FROM attribution_shares s JOIN legs l ON l.id = s.leg_id "
                      "WHERE l.supplier_id <> s.supplier_id") == 0
        # The daily statistics were rebuilt: they count every leg that is not cancelled.
        assert scalar("SELECT SUM(legs) FROM leg_day_stats") == scalar(
            "SELECT COUNT(*) FROM legs WHERE outcome IS NULL OR outcome <> 'cancelled'")
    engine.dispose()


def _digest(url: str) -> str:
    engine = create_engine(url)
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for table in ("suppliers", "service_standards", "orders", "legs", "incidents", "attribution_decisions",
                      "attribution_shares", "audit_findings"):
            for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY id")):
                digest.update(repr(tuple(v for v in row)).encode())
    engine.dispose()
    return digest.hexdigest()


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(generated, tmp_path):
    url, _ = generated
    again, other = f"sqlite:///{tmp_path / 'again.sqlite'}", f"sqlite:///{tmp_path / 'other.sqlite'}"
    generate(again, TINY, seed=7, instance_dir=tmp_path / "i1", log=lambda _: None)
    generate(other, TINY, seed=8, instance_dir=tmp_path / "i2", log=lambda _: None)
    assert _digest(again) == _digest(url)
    assert _digest(other) != _digest(url)


def _statistics(db):
    from sqlalchemy import select

    from incidents.models import LegDayStat, LegDelayMonthStat

    return [[tuple(getattr(row, column.key) for column in model.__table__.columns)
             for row in db.session.scalars(select(model).order_by(*model.__table__.primary_key.columns))]
            for model in (LegDayStat, LegDelayMonthStat)]


def test_the_statistics_written_with_the_legs_equal_a_recomputation(tmp_path):
    """The generator sums the daily leg statistics and delay histograms with NumPy as it makes
    the legs; they must be exactly what Catena's own recomputation from the stored legs gives,
    on the engine the suite runs on (each engine has its own writer)."""
    from app.db import db
    from incidents.services.stats import rebuild_day_stats
    from tests.scratch_databases import create_scratch_database, drop_scratch_database

    test_database_url = os.environ.get("TEST_DATABASE_URL")
    url = create_scratch_database(test_database_url, tmp_path, "generate")
    try:
        # Seed 1 has 23 legs on strike days (force majeure) at this size.
        generate(url, TINY, seed=1, instance_dir=tmp_path / "instance", log=lambda _: None)
        with make_app(url, tmp_path / "instance").app_context():
            written = _statistics(db)
            rebuild_day_stats()
            recomputed = _statistics(db)
            db.session.rollback()
            db.engine.dispose()
        days, delays = written
        assert len(days) > 1000 and len(delays) > 1000
        # Force majeure days and several outcomes are there to be counted.
        assert any(row[3] for row in days) and sum(row[6] for row in days) > 0   # excluded; lost
        assert written == recomputed
    finally:
        drop_scratch_database(test_database_url, url)
