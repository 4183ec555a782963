"""The scheduler process: which jobs it holds and when, the one runner, and its job store in
the application's database (a database of this test's own, so APScheduler's table never
reaches the shared test schema)."""
from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

import pytest
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine, func, inspect, select, text

from app import create_app, scheduler
from app import config as app_config
from app.db import db, unit_of_work
from audits.models import Audit
from audits.services import programme


def _started(app, jobstore=None):
    sched = scheduler.build_scheduler(app, BackgroundScheduler, jobstore or MemoryJobStore())
    sched.start(paused=True)     # computes next run times, runs nothing
    return sched


def test_the_scheduler_holds_the_daily_jobs_in_the_company_zone(app):
    sched = _started(app)
    try:
        jobs = {job.id: job for job in sched.get_jobs()}
        expected = {"audits.run_due", "questionnaires.daily"}
        import audits.jobs
        if hasattr(audits.jobs, "actions_daily"):
            expected.add("audits.actions_daily")
        # The export worker's safety net runs every minute (reports.commands).
        expected.add("reports.exports")
        assert set(jobs) == expected
        assert jobs["reports.exports"].trigger.interval.total_seconds() == 60
        zone = ZoneInfo(app.config["CATENA_TIMEZONE"])
        due = jobs["audits.run_due"]
        assert due.func_ref == "app.scheduler:run_job" and due.args == ("audits.jobs:run_due_job",)
        assert jobs["questionnaires.daily"].args == ("questionnaires.jobs:daily",)
        for job, hour in ((due, 2), (jobs["questionnaires.daily"], 6)):
            assert job.next_run_time.tzinfo.key == zone.key
            assert (job.next_run_time.hour, job.next_run_time.minute) == (hour, 0)
            assert job.coalesce is True and job.max_instances == 1
            assert job.misfire_grace_time >= 3600
    finally:
        sched.shutdown(wait=False)


def test_a_missing_optional_job_is_skipped_and_a_missing_required_one_is_an_error(app, monkeypatch):
    monkeypatch.setattr(scheduler, "JOBS", [
        scheduler.ScheduledJob("x.optional", "audits.jobs:no_such_function", hour=3, optional=True),
        scheduler.ScheduledJob("audits.run_due", "audits.jobs:run_due_job", hour=2),
    ])
    sched = _started(app)
    try:
        assert [job.id for job in sched.get_jobs()] == ["audits.run_due"]
    finally:
        sched.shutdown(wait=False)
    monkeypatch.setattr(scheduler, "JOBS", [scheduler.ScheduledJob("x", "nowhere.module:f", hour=3)])
    with pytest.raises(RuntimeError):
        scheduler.build_scheduler(app, BackgroundScheduler, MemoryJobStore())


def test_the_runner_logs_a_failure_and_never_raises(app, caplog, monkeypatch):
    import audits.jobs

    def broken():
        raise RuntimeError("database on fire")

    monkeypatch.setattr(audits.jobs, "broken", broken, raising=False)
    scheduler._app = app
    with caplog.at_level(logging.INFO, logger="app.scheduler"):
        assert scheduler.run_job("audits.jobs:broken") is False
        assert scheduler.run_job("audits.jobs:not_there") is False
    assert "job audits.jobs:broken failed" in caplog.text and "database on fire" in caplog.text
    assert "no such function" in caplog.text


def test_the_runner_runs_the_audit_programme_of_today(app, factories):
    factories.supplier(chain_roles=["carrier"])
    from app.i18n import today

    with app.app_context():
        first_of_month = today().replace(day=1)
    with unit_of_work():
        plan = programme.create_plan({"name": "Daily", "recurrence": "cron", "cron": "0 2 * * *",
                                      "supplier_scope": "rule", "rule": {}, "starts_on": first_of_month}, None)
    scheduler._app = app
    assert scheduler.run_job("audits.jobs:run_due_job") is True
    # Every day of this month so far fired; they all close the same period: one audit.
    assert db.session.scalar(select(func.count()).select_from(Audit).where(Audit.plan_id == plan.id)) == 1
    assert programme.run_due(today()).firings == []


@pytest.mark.no_db
def test_the_job_store_lives_in_the_application_database_and_restarts_keep_one_copy(tmp_path):
    import os

    if os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("the job store table is exercised on a SQLite file of the test's own")
    from flask_migrate import upgrade

    url = f"sqlite:///{tmp_path / 'sched.sqlite'}"
    app = create_app(app_config.TestConfig(database_url=url, instance_dir=tmp_path))
    with app.app_context():
        upgrade()
    for _ in range(2):                     # a restart replaces the stored jobs, never adds
        with app.app_context():
            sched = scheduler.build_scheduler(app, BackgroundScheduler)
            sched.start(paused=True)
            sched.shutdown(wait=False)
    engine = create_engine(url)
    with engine.connect() as conn:
        ids = sorted(row[0] for row in conn.execute(text(f"SELECT id FROM {scheduler.JOBS_TABLE}")))
    engine.dispose()
    assert {"audits.run_due", "questionnaires.daily"} <= set(ids) and len(ids) == len(set(ids))
    # Alembic's autogenerate leaves APScheduler's table alone (migrations/env.py).
    assert scheduler.include_object(None, scheduler.JOBS_TABLE, "table", True, None) is False
    assert scheduler.include_object(None, "audits", "table", True, None) is True
    with app.app_context():
        assert scheduler.JOBS_TABLE in inspect(db.engine).get_table_names()


def test_nothing_starts_a_scheduler_at_import_or_in_the_web_app(tmp_path):
    """A fresh interpreter that creates the app and serves a request runs no scheduler thread."""
    import subprocess
    import sys

    from app.config import ROOT_DIR

    code = ("import threading; from app import create_app; from app.config import TestConfig; "
            f"a = create_app(TestConfig(database_url='sqlite:///{tmp_path}/x.sqlite', instance_dir='{tmp_path}')); "
            "import app.scheduler, audits.jobs; a.test_client().get('/login'); "
            "print(sorted(t.name for t in threading.enumerate()))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT_DIR, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['MainThread']"


def test_the_scheduler_run_command_catches_up_then_starts(app, monkeypatch):
    calls = []

    class FakeScheduler:
        def __init__(self, *args, **kwargs):
            pass

        def add_job(self, *args, **kwargs):
            calls.append(("add", kwargs["id"]))

        def start(self):
            calls.append(("start", None))

        def shutdown(self, wait=True):
            pass

    monkeypatch.setattr("apscheduler.schedulers.blocking.BlockingScheduler", FakeScheduler)
    monkeypatch.setattr(scheduler, "run_job", lambda target: calls.append(("run", target)) or True)
    monkeypatch.setattr("apscheduler.jobstores.sqlalchemy.SQLAlchemyJobStore", lambda **kw: MemoryJobStore())
    result = app.test_cli_runner().invoke(args=["scheduler", "run"])
    assert result.exit_code == 0, result.output
    assert calls.index(("run", "audits.jobs:run_due_job")) < calls.index(("start", None))
    assert ("add", "audits.run_due") in calls and ("add", "questionnaires.daily") in calls
    assert "Scheduler started" in result.output
