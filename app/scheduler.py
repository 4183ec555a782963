"""The scheduler process: `flask --app app scheduler run` (shared HOSTILE.md, decision 1).

APScheduler 3 runs in a process of its own, never inside the web workers, and nothing here
starts at import time: only the command does. Its job store is a table of the application's
database (`apscheduler_jobs`, which APScheduler creates itself; migrations/env.py leaves it out
of autogenerate). The database, not APScheduler, decides what is due: each job asks the
domain's service, whose unique keys make a second run, a second scheduler process or a retry a
no-op. So on start the scheduler first runs the audit programme's catch-up once, and a missed
02:00 (the process was down, or the clock skipped it at a DST change) costs nothing but delay.

Every job runs through `run_job`: an application context, one unit of work around the body
(bodies that open their own units commit them themselves), logging, and exceptions logged,
never raised into the scheduler.
"""
from __future__ import annotations

import datetime as dt
import importlib
import logging
import signal
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import AppGroup

log = logging.getLogger(__name__)

#: The table APScheduler keeps its jobs in; not part of Catena's schema (see migrations/env.py).
JOBS_TABLE = "apscheduler_jobs"

#: A job late by up to this many seconds still runs (e.g. after a restart in the morning);
#: APScheduler's default of 1 s would silently drop it.
MISFIRE_GRACE_SECONDS = 12 * 3600


@dataclass(frozen=True)
class ScheduledJob:
    """A daily job (at hour:minute), or one every `every_minutes`: `target` is "module:function",
    called with no arguments."""

    id: str
    target: str
    hour: int = 0
    minute: int = 0
    #: Run every this many minutes instead of daily (hour and minute are then ignored).
    every_minutes: int | None = None
    #: Skip it (with a log line) when the function does not exist (yet) rather than fail.
    optional: bool = False


#: The daily jobs, in the company's time zone (CATENA_TIMEZONE). Other domains add theirs here.
JOBS: list[ScheduledJob] = [
    ScheduledJob("audits.run_due", "audits.jobs:run_due_job", hour=2),
    ScheduledJob("questionnaires.daily", "questionnaires.jobs:daily", hour=6),
    ScheduledJob("audits.actions_daily", "audits.jobs:actions_daily", hour=6, minute=30),
    # The safety net of background exports: jobs no spawned worker took (reports.commands).
    ScheduledJob("reports.exports", "reports.commands:run_once_job", every_minutes=1),
]

#: The application the jobs of this process run in (set by `build_scheduler`).
_app: Flask | None = None


def resolve(target: str):
    """The function named "module:function", or None when it does not exist."""
    module_name, _, name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return getattr(module, name, None)


def run_job(target: str) -> bool:
    """The one runner of every job; True when the job ended normally. Never raises."""
    from app.db import unit_of_work

    app = _app or current_app._get_current_object()
    with app.app_context():
        function = resolve(target)
        if function is None:
            log.error("job %s: no such function", target)
            return False
        started = dt.datetime.now(dt.timezone.utc)
        log.info("job %s started", target)
        try:
            with unit_of_work():
                function()
        except Exception:  # noqa: BLE001 (logged; the scheduler and the other jobs go on)
            log.exception("job %s failed", target)
            return False
        log.info("job %s done in %.1f s", target, (dt.datetime.now(dt.timezone.utc) - started).total_seconds())
        return True


def configure_jobs(scheduler, app: Flask) -> list[str]:
    """Add the daily jobs to `scheduler` (replacing the stored ones); the ids added."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    zone = ZoneInfo(app.config["CATENA_TIMEZONE"])
    added = []
    for job in JOBS:
        if resolve(job.target) is None:
            if job.optional:
                log.info("job %s skipped: %s does not exist", job.id, job.target)
                continue
            raise RuntimeError(f"scheduled job {job.id}: {job.target} does not exist")
        if job.every_minutes:
            # Frequent jobs: a missed run is simply the next one (no catching up).
            trigger, grace = IntervalTrigger(minutes=job.every_minutes, timezone=zone), 60 * job.every_minutes
        else:
            trigger, grace = CronTrigger(hour=job.hour, minute=job.minute, timezone=zone), MISFIRE_GRACE_SECONDS
        scheduler.add_job(
            "app.scheduler:run_job", trigger,
            args=[job.target], id=job.id, name=job.target, replace_existing=True,
            coalesce=True, max_instances=1, misfire_grace_time=grace)
        added.append(job.id)
    return added


def build_scheduler(app: Flask, scheduler_class=None, jobstore=None):
    """A scheduler with the daily jobs, not started. By default a BlockingScheduler whose job
    store is the application's database; tests pass a BackgroundScheduler or a memory store."""
    global _app
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler

    _app = app
    if jobstore is None:
        jobstore = SQLAlchemyJobStore(url=app.config["SQLALCHEMY_DATABASE_URI"], tablename=JOBS_TABLE,
                                      engine_options={"pool_pre_ping": True})
    scheduler = (scheduler_class or BlockingScheduler)(
        jobstores={"default": jobstore}, timezone=ZoneInfo(app.config["CATENA_TIMEZONE"]),
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS})
    configure_jobs(scheduler, app)
    return scheduler


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic filter: APScheduler's own table is not part of the schema the models describe."""
    return not (type_ == "table" and name == JOBS_TABLE)


scheduler_cli = AppGroup("scheduler", help="The scheduler process (run exactly one beside the web workers).")


@scheduler_cli.command("run")
@click.option("--no-catch-up", is_flag=True, help="Do not run the audit programme's catch-up on start.")
def run_command(no_catch_up):
    """Run the daily jobs until stopped (SIGTERM or Ctrl+C). First catches up missed audit firings."""
    app = current_app._get_current_object()
    scheduler = build_scheduler(app)
    if not no_catch_up:
        # Firings missed while the process was down, once each (the unique keys make this
        # safe even if another scheduler is running).
        run_job("audits.jobs:run_due_job")
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    for job in JOBS:
        log.info("scheduling %s at %02d:%02d %s", job.id, job.hour, job.minute, app.config["CATENA_TIMEZONE"])
    click.echo(f"Scheduler started ({app.config['CATENA_TIMEZONE']}); stop with Ctrl+C.")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    click.echo("Scheduler stopped.")
