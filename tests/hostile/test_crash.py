"""Crash consistency (HOSTILE rows 17 and 53, G4): a command is SIGKILLed part way through a
large leg import, a background export and a catch-up of audit firings; after the restart the
database is consistent and the work is finished exactly once.

Each test runs the real command (`flask --app app …`) as a subprocess against a database of its
own (a SQLite file under tmp_path, or `<db>_crash_*` next to TEST_DATABASE_URL's, created and
dropped here), kills it at a few moments (0.3 s, 1 s and a seeded random one), checks what is
left, then runs the command again to completion and checks the result.
"""
from __future__ import annotations

import csv
import datetime as dt
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from app import config as app_config
from app import create_app
from app.config import ROOT_DIR, normalise_database_url
from app.db import db, unit_of_work
from audits.models import Audit, AuditEvent, AuditPlan, AuditPlanFiring
from audits.services import programme
from incidents.models import ImportBatch, Leg, Order, StagedLeg
from incidents.services import imports
from reports import exports
from reports.models import ExportJob
from tests.factories import Factories

pytestmark = pytest.mark.no_db

#: Kill moments, seconds after the command started: early (the app is still loading or the
#: work just began), one second in, and one drawn with a fixed seed (repeatable).
KILL_AFTER = [0.3, 1.0, round(random.Random(17).uniform(0.5, 2.5), 2)]
PG = bool(os.environ.get("TEST_DATABASE_URL"))


# Own database, subprocess ---------------------------------------------------------------------

def _own_database(tmp_path: Path, suffix: str):
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{tmp_path / 'crash.sqlite'}", lambda: None
    admin = create_engine(normalise_database_url(base), isolation_level="AUTOCOMMIT")
    name = admin.url.database + suffix
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin.url.set(database=name).render_as_string(hide_password=False), drop


class Own:
    """An app on its own database, and the environment to run its commands in."""

    def __init__(self, tmp_path: Path, suffix: str):
        from flask_migrate import upgrade

        self.url, self.drop = _own_database(tmp_path, suffix)
        self.instance = tmp_path / "instance"
        self.app = create_app(app_config.TestConfig(database_url=self.url, instance_dir=self.instance))
        with self.app.app_context():
            upgrade()
            db.session.remove()
            db.engine.dispose()
        self.env = {**os.environ, "DATABASE_URL": self.url, "CATENA_INSTANCE_DIR": str(self.instance),
                    "SECRET_KEY": self.app.config["SECRET_KEY"], "SMTP_HOST": "", "EXPORT_SPAWN_WORKER": "0"}

    def context(self):
        return self.app.app_context()

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT_DIR, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def kill_after(self, seconds: float, *args: str, until=None) -> bool:
        """Start the command and SIGKILL it after `seconds` (or as soon as `until()` is true);
        True if it was still running when killed."""
        process = self.start(*args)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and process.poll() is None:
            if until is not None and until():
                break
            time.sleep(0.02)
        alive = process.poll() is None
        # Popen.kill sends SIGKILL, and nothing if the process has ended (and been reaped) meanwhile.
        process.kill()
        process.communicate(timeout=30)
        return alive

    def run(self, *args: str) -> str:
        process = self.start(*args)
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert "Traceback" not in err, err
        return out

    def check_integrity(self) -> None:
        if self.url.startswith("sqlite"):
            with self.context():
                assert db.session.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
                assert db.session.execute(text("PRAGMA foreign_key_check")).all() == []
                db.session.remove()

    def count(self, stmt) -> int:
        with self.context():
            try:
                return db.session.scalar(select(func.count()).select_from(stmt.subquery()))
            finally:
                db.session.remove()


@pytest.fixture
def own(tmp_path, request):
    made = Own(tmp_path, "_crash_" + request.node.name.split("[")[0][-20:].lower())
    yield made
    with made.context():
        db.session.remove()
        db.engine.dispose()
    made.drop()


# (a) A leg import ------------------------------------------------------------------------------

LEG_ROWS = 20_000
HEADER = ["external_id", "order_ref", "stage", "supplier_code", "promised_at", "actual_at"]


def _legs_file(directory: Path, prefix: str, rows: int = LEG_ROWS) -> Path:
    path = directory / f"{prefix}.csv"
    start = dt.datetime(2026, 3, 2, 8, 0)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for n in range(rows):
            promised = start + dt.timedelta(minutes=7 * n)
            writer.writerow([f"{prefix}-L{n}", f"{prefix}-O{n // 2}", "last_mile" if n % 2 else "hub", "CAR-1",
                             promised.strftime("%Y-%m-%d %H:%M"),
                             (promised + dt.timedelta(minutes=(n % 90) - 30)).strftime("%Y-%m-%d %H:%M")])
    return path


def _import_setup(own: Own) -> None:
    with own.context():
        Factories().supplier(code="CAR-1", chain_roles=["carrier"])
        imports.save_profile("crash", {field: field for field in HEADER}, "Europe/Rome")
        db.session.commit()
        db.session.remove()


def _legs_of(own: Own, prefix: str) -> tuple[int, int]:
    """(legs of this file, distinct external ids among them)."""
    like = Leg.external_id.like(f"{prefix}-L%")
    return own.count(select(Leg.id).where(like)), own.count(select(Leg.external_id).where(like).distinct())


def _batches(own: Own) -> list[tuple[int, str, int, int]]:
    with own.context():
        try:
            return [tuple(row) for row in db.session.execute(
                select(ImportBatch.id, ImportBatch.status, ImportBatch.rows_created, ImportBatch.rows_updated)
                .order_by(ImportBatch.id)).all()]
        finally:
            db.session.remove()


def test_a_killed_leg_import_is_marked_failed_and_importing_again_completes_it(own, tmp_path):
    _import_setup(own)
    for round_, seconds in enumerate(KILL_AFTER):
        prefix = f"R{round_}"
        path = _legs_file(tmp_path, prefix)
        before = len(_batches(own))
        own.kill_after(seconds, "import", "legs", str(path), "--profile", "crash", "--quiet")
        own.check_integrity()
        written, distinct = _legs_of(own, prefix)
        assert written == distinct                                    # never a duplicate
        assert written in (0, LEG_ROWS)                               # never half a file
        killed = _batches(own)[before:]
        assert len(killed) <= 1

        # The restart: the next import finds the dead run and says so, then does the work.
        out = own.run("import", "legs", str(path), "--profile", "crash", "--quiet")
        assert re.search(rf"Import \d+ complete: {LEG_ROWS} rows", out), out
        batches = {batch_id: rest for batch_id, *rest in _batches(own)}
        for batch_id, *_ in killed:
            assert batches[batch_id][0] in ("failed", "complete"), batches[batch_id]   # never "running" forever
        assert not [b for b, (status, *_) in batches.items() if status == "running"]
        assert _legs_of(own, prefix) == (LEG_ROWS, LEG_ROWS)           # right count, 0 duplicates
        last_id = max(batches)
        status, created, updated = batches[last_id]
        assert status == "complete" and created + updated == LEG_ROWS and created == LEG_ROWS - written
        assert own.count(select(Leg.id).where(Leg.external_id.like(f"{prefix}-L%"),
                                              Leg.import_batch_id != last_id)) == 0
    own.check_integrity()


def _first_chunk_staged(own: Own):
    def staged() -> bool:
        try:
            return own.count(select(StagedLeg.row)) > 0
        except Exception:  # the table is locked or the schema not visible yet: not yet
            return False
    return staged


def _orders_of(own: Own, prefix: str) -> int:
    return own.count(select(Order.id).where(Order.ref.like(f"{prefix}-O%")))


def test_a_killed_import_stays_marked_and_a_live_one_is_never_taken_for_dead(own, tmp_path):
    """Killed while staging: the batch is found dead by the next import even when that import
    is refused, and its staged rows are removed; a batch whose process is alive is left alone."""
    _import_setup(own)
    path = _legs_file(tmp_path, "K")
    assert own.kill_after(60, "import", "legs", str(path), "--profile", "crash", until=_first_chunk_staged(own))
    [(batch_id, status, *_)] = _batches(own)
    assert status == "running"                                        # what the kill leaves
    assert own.count(select(StagedLeg.row)) > 0 and _legs_of(own, "K") == (0, 0)
    with own.context():
        with own.app.test_request_context():
            # A live import (this process holds the lock) is never reclaimed...
            with imports.batch_lock(10_000):
                live = ImportBatch(id=10_000, kind="legs", source="file", status="running")
                db.session.add(live)
                db.session.commit()
                assert imports.reclaim_interrupted(db.session.commit) == [batch_id]
            batch = db.session.get(ImportBatch, batch_id)
            assert batch.status == "failed" and batch.finished_at is not None
            assert "interrupted" in batch.notes
            assert db.session.scalar(select(func.count()).select_from(StagedLeg)) == 0
            assert db.session.get(ImportBatch, 10_000).status == "running"
            # ...nor one started elsewhere (no lock file here) until it is a day old.
            assert imports.reclaim_interrupted(db.session.commit) == []
            later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=imports.STALE_IMPORT_HOURS, minutes=1)
            assert imports.reclaim_interrupted(db.session.commit, now=later) == [10_000]
            db.session.remove()
    own.check_integrity()


def test_a_leg_import_killed_while_staging_or_moving_is_never_visible_half_written(own, tmp_path):
    """HOSTILE A17: killed at the first staged chunk, then at moments spread over the rest of
    the run (the last ones fall in or after the move into legs): the file's legs and orders
    are all there or none, and a re-run leaves exactly one of each."""
    _import_setup(own)
    path = _legs_file(tmp_path, "H")
    assert own.kill_after(60, "import", "legs", str(path), "--profile", "crash", until=_first_chunk_staged(own))
    own.check_integrity()
    assert _legs_of(own, "H")[0] == 0 and _orders_of(own, "H") == 0
    started = time.monotonic()
    own.run("import", "legs", str(path), "--profile", "crash", "--quiet")
    whole = time.monotonic() - started
    for n, fraction in enumerate((0.6, 0.9, 0.97)):
        prefix = f"H{n}"
        path = _legs_file(tmp_path, prefix)
        own.kill_after(whole * fraction, "import", "legs", str(path), "--profile", "crash", "--quiet")
        own.check_integrity()
        legs, distinct = _legs_of(own, prefix)
        assert legs == distinct and legs in (0, LEG_ROWS), (fraction, legs)
        assert _orders_of(own, prefix) == (LEG_ROWS // 2 if legs else 0)
        own.run("import", "legs", str(path), "--profile", "crash", "--quiet")
        assert _legs_of(own, prefix) == (LEG_ROWS, LEG_ROWS) and _orders_of(own, prefix) == LEG_ROWS // 2
        assert own.count(select(StagedLeg.row)) == 0


# (b) A background export -------------------------------------------------------------------------

EXPORT_ROWS = 3_000


def _export_setup(own: Own) -> int:
    """EXPORT_ROWS legs, and a queued job exporting them all; the job's id."""
    with own.context():
        supplier = Factories().supplier(code="CAR-1", chain_roles=["carrier"])
        user = Factories().user("viewer")
        profile = imports.save_profile("crash", {field: field for field in HEADER}, "Europe/Rome")
        db.session.commit()
        assert supplier.id
        with own.app.test_request_context():
            batch = imports.import_legs_file(_legs_file(own.instance.parent, "E", EXPORT_ROWS), profile, None,
                                             commit=db.session.commit)
            assert batch.status == "complete"
            job = exports.create_job(exports.ensure_registered()["legs"], {}, user, locale="en", rows_total=EXPORT_ROWS)
            db.session.commit()
            job_id = job.id
        db.session.remove()
    return job_id


def _job(own: Own, job_id: int) -> dict:
    with own.context():
        try:
            job = db.session.get(ExportJob, job_id)
            return {"status": job.status, "stored_name": job.stored_name, "rows_done": job.rows_done,
                    "attempts": job.attempts, "heartbeat_at": job.heartbeat_at}
        finally:
            db.session.remove()


def _dead_worker_is_old_news(own: Own, job_id: int) -> None:
    """What the stale limit (EXPORT_STALE_MINUTES) does by waiting: the dead worker's
    heartbeat is an hour old."""
    with own.context():
        db.session.execute(ExportJob.__table__.update().where(ExportJob.id == job_id, ExportJob.status == "running")
                           .values(heartbeat_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)))
        db.session.commit()
        db.session.remove()


def test_a_killed_export_worker_serves_no_partial_file_and_the_job_is_redone(own):
    job_id = _export_setup(own)
    exports_dir = own.instance / "exports"
    finished: list[bytes] = []
    for round_, seconds in enumerate(KILL_AFTER):
        own.kill_after(seconds, "exports", "run", "--once")
        own.check_integrity()
        job = _job(own, job_id)
        done_files = sorted(p.name for p in exports_dir.glob("*.xlsx")) if exports_dir.exists() else []
        # No finished file without a complete job; a .part is never a job's file.
        if job["status"] == "done":
            assert done_files == [job["stored_name"]]
        else:
            assert job["status"] in ("queued", "running") and job["stored_name"] is None
            assert done_files == []
        assert not (job["stored_name"] or "").endswith(".part")

        _dead_worker_is_old_news(own, job_id)
        own.run("exports", "run", "--once")
        job = _job(own, job_id)
        assert job["status"] == "done" and job["rows_done"] == EXPORT_ROWS, job
        assert not list(exports_dir.glob("*.part"))
        files = sorted(p.name for p in exports_dir.glob("*.xlsx"))
        assert files == [job["stored_name"]]
        finished.append((exports_dir / job["stored_name"]).read_bytes())
        # Next round: the same job queued again, as if never run.
        (exports_dir / job["stored_name"]).unlink()
        with own.context():
            db.session.execute(ExportJob.__table__.update().where(ExportJob.id == job_id).values(
                status="queued", stored_name=None, file_name=None, rows_done=0, attempts=0, finished_at=None,
                heartbeat_at=None))
            db.session.commit()
            db.session.remove()

    # Each redone file equals a clean export of the same job.
    own.run("exports", "run", "--once")
    with own.context():
        clean = exports.job_file(db.session.get(ExportJob, job_id)).read_bytes()
        db.session.remove()
    from tests.reports.export_fixtures import table

    expected = table(clean)
    for body in finished:
        got = table(body)
        assert got[:2] == expected[:2] and len(got[1]) == EXPORT_ROWS
        assert {k: v for k, v in got[2].items() if k != "Exported at"} == \
            {k: v for k, v in expected[2].items() if k != "Exported at"}


# (c) A catch-up of audit firings ---------------------------------------------------------------

PLANS, MONTHS = 10, 36


def _audit_setup(own: Own) -> dt.date:
    at = dt.date(2026, 4, 30)
    starts_on = dt.date(2023, 5, 1)          # May 2023 … Apr 2026: 36 monthly firings per plan
    with own.context():
        factories = Factories()
        for n in range(PLANS):
            supplier = factories.supplier(chain_roles=["carrier"], code=f"KILL-{n:02d}")
            with unit_of_work():
                programme.create_plan({"name": f"Plan {n}", "recurrence": "monthly", "day_of_month": 1 + n,
                                       "period_basis": "previous_month", "supplier_scope": "list",
                                       "suppliers": [supplier.code], "starts_on": starts_on,
                                       "lead_time_days": 7}, None)
        assert sum(len(programme.firing_days(p, starts_on, at))
                   for p in db.session.scalars(select(AuditPlan))) == PLANS * MONTHS
        db.session.remove()
    return at


def test_a_killed_catch_up_of_audit_firings_ends_with_each_audit_once(own):
    at = _audit_setup(own)
    keys = select(Audit.plan_id, Audit.supplier_id, Audit.period_start)
    for seconds in KILL_AFTER:
        own.kill_after(seconds, "audits", "run-due", "--at", at.isoformat())
        own.check_integrity()
        audits, firings = own.count(keys), own.count(select(AuditPlanFiring.id))
        assert audits == own.count(keys.distinct()) <= PLANS * MONTHS
        # A firing is recorded with its audits, in one unit of work: never one without the other.
        assert audits == firings
        assert own.count(select(AuditEvent.id).where(AuditEvent.kind == "created")) == audits

    out = own.run("audits", "run-due", "--at", at.isoformat())
    assert "failed" not in out, out
    assert own.count(keys) == own.count(keys.distinct()) == PLANS * MONTHS
    assert own.count(select(AuditPlanFiring.id)) == PLANS * MONTHS
    assert own.count(select(AuditPlanFiring.plan_id, AuditPlanFiring.scheduled_for).distinct()) == PLANS * MONTHS
    assert own.count(select(AuditEvent.id).where(AuditEvent.kind == "created")) == PLANS * MONTHS
    # Once more: nothing left to do.
    out = own.run("audits", "run-due", "--at", at.isoformat())
    assert own.count(keys) == PLANS * MONTHS
    own.check_integrity()
