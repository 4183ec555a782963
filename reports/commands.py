"""The export worker: `flask --app app exports run [--once]`.

It takes queued export jobs one at a time. A job is claimed with a conditional UPDATE
(queued → running, only if still queued), so two workers never run the same job. The file is
written to `<instance>/exports/job-<id>-<random>.xlsx.part` and renamed into its final name
with `os.replace` only when complete, so a killed worker never leaves a file that looks done.
Progress (rows written) and a heartbeat are committed every ~5,000 rows in short transactions
of their own. A running job whose heartbeat is older than EXPORT_STALE_MINUTES (default 10)
was left by a dead worker: it is queued again and redone from the start, up to
MAX_ATTEMPTS runs, then marked failed. Finished files older than 7 days are removed.

Who runs it: the web request that queues a job starts `exports run --once` in the background
(reports.views.spawn_worker; off with EXPORT_SPAWN_WORKER=0), and the scheduler runs
`reports.commands:run_once_job` every minute as a safety net.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale
from sqlalchemy import Engine, select, update

from app.db import WRITE_TRANSACTION, begin_write, db, utcnow
from reports import exports
from reports.models import ExportJob, ExportStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
DEFAULT_STALE_MINUTES = 10
#: Finished files are kept this long, then removed (the job row stays, without its file).
KEEP_DAYS = 7


def _stale_after() -> dt.timedelta:
    return dt.timedelta(minutes=int(current_app.config.get("EXPORT_STALE_MINUTES", DEFAULT_STALE_MINUTES)))


def _write_apart(statement) -> None:
    """Run one UPDATE and commit it at once, beside the session's (reading) transaction: the
    export's streaming cursor stays open meanwhile."""
    bind = db.session.get_bind()
    if isinstance(bind, Engine):
        with bind.connect().execution_options(**WRITE_TRANSACTION) as conn, conn.begin():
            conn.execute(statement)
    else:  # a connection shared with the session (the tests' outer transaction)
        with bind.begin_nested():
            bind.execute(statement)


def reclaim_stale(now: dt.datetime | None = None) -> list[int]:
    """Jobs left running by a dead worker: back in the queue, or failed after MAX_ATTEMPTS.
    Their partial files are removed. The ids handled."""
    now = now or utcnow()
    cutoff = now - _stale_after()
    handled = []
    stale = db.session.execute(select(ExportJob.id, ExportJob.attempts, ExportJob.heartbeat_at).where(
        ExportJob.status == ExportStatus.RUNNING.value,
        (ExportJob.heartbeat_at < cutoff) | ExportJob.heartbeat_at.is_(None))).all()
    for job_id, attempts, heartbeat in stale:
        remove_partials(job_id)
        if attempts >= MAX_ATTEMPTS:
            values = {"status": ExportStatus.FAILED.value, "finished_at": now,
                      "error": f"stopped {attempts} times without finishing (worker killed?)"}
        else:
            values = {"status": ExportStatus.QUEUED.value, "rows_done": 0}
        begin_write()
        # Only if nobody took it meanwhile (same heartbeat as read).
        condition = (ExportJob.heartbeat_at == heartbeat) if heartbeat is not None else ExportJob.heartbeat_at.is_(None)
        done = db.session.execute(update(ExportJob).where(
            ExportJob.id == job_id, ExportJob.status == ExportStatus.RUNNING.value, condition).values(**values))
        db.session.commit()
        if done.rowcount:
            log.warning("export job %s: worker gone, %s", job_id, values["status"])
            handled.append(job_id)
    return handled


def claim_next(now: dt.datetime | None = None) -> int | None:
    """Take the oldest queued job (queued → running, attempts + 1); None when none is left."""
    while True:
        job_id = db.session.scalar(select(ExportJob.id).where(ExportJob.status == ExportStatus.QUEUED.value)
                                   .order_by(ExportJob.id).limit(1))
        db.session.rollback()
        if job_id is None:
            return None
        now = now or utcnow()
        begin_write()
        claimed = db.session.execute(update(ExportJob).where(
            ExportJob.id == job_id, ExportJob.status == ExportStatus.QUEUED.value).values(
            status=ExportStatus.RUNNING.value, started_at=now, heartbeat_at=now, rows_done=0, error=None,
            attempts=ExportJob.attempts + 1))
        db.session.commit()
        if claimed.rowcount == 1:
            return job_id
        # Another worker was quicker: look again.


def remove_partials(job_id: int) -> None:
    for path in exports.exports_dir().glob(f"job-{job_id}-*.xlsx.part"):
        path.unlink(missing_ok=True)


def run_job(job_id: int) -> bool:
    """Write the claimed job's file; True when done. Errors mark the job failed."""
    job = db.session.get(ExportJob, job_id)
    kind = exports.ensure_registered().get(job.kind)
    part = exports.exports_dir() / f"job-{job_id}-{secrets.token_hex(8)}.xlsx.part"

    def progress(rows: int) -> None:
        _write_apart(update(ExportJob).where(ExportJob.id == job_id, ExportJob.status == ExportStatus.RUNNING.value)
                     .values(rows_done=rows, heartbeat_at=utcnow()))

    try:
        if kind is None:
            raise LookupError(f"no export kind {job.kind!r}")
        if not job.user.is_active or not job.user.can(kind.permission):
            raise PermissionError("the user may no longer see this list")
        with force_locale(job.locale or "en"):
            rows = exports.write_export(kind, job.params or {}, part, user=job.user, progress=progress)
            name = exports.file_name(kind)
        stored = exports.new_stored_name()
        final = exports.exports_dir() / stored
        os.replace(part, final)
    except Exception as exc:  # noqa: BLE001 (recorded on the job; the worker goes on)
        log.exception("export job %s failed", job_id)
        part.unlink(missing_ok=True)
        db.session.rollback()
        begin_write()
        db.session.execute(update(ExportJob).where(ExportJob.id == job_id).values(
            status=ExportStatus.FAILED.value, finished_at=utcnow(), error=str(exc)[:500] or type(exc).__name__))
        db.session.commit()
        return False
    db.session.rollback()  # end the reading transaction
    begin_write()
    finished = db.session.execute(update(ExportJob).where(
        ExportJob.id == job_id, ExportJob.status == ExportStatus.RUNNING.value).values(
        status=ExportStatus.DONE.value, rows_done=rows, rows_total=rows, stored_name=stored, file_name=name,
        size_bytes=final.stat().st_size, finished_at=utcnow(), heartbeat_at=utcnow()))
    db.session.commit()
    if not finished.rowcount:
        # Taken back meanwhile (we were thought dead): the other run's file will be the one.
        final.unlink(missing_ok=True)
        return False
    return True


def remove_old_files(now: dt.datetime | None = None) -> int:
    """Remove finished files older than KEEP_DAYS and partial files older than a day."""
    now_ts = (now or utcnow()).timestamp()
    removed = 0
    for path in exports.exports_dir().iterdir():
        age = now_ts - path.stat().st_mtime
        if (path.suffix == ".xlsx" and age > KEEP_DAYS * 86400) or (path.name.endswith(".part") and age > 86400):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def run_once(now: dt.datetime | None = None) -> int:
    """Clean up, take back dead workers' jobs, then run queued jobs until none is left; the
    number of jobs run."""
    remove_old_files(now)
    reclaim_stale(now)
    ran = 0
    while (job_id := claim_next()) is not None:
        run_job(job_id)
        ran += 1
    return ran


def run_once_job() -> None:
    """The scheduler's safety net (every minute): whatever no spawned worker took."""
    db.session.commit()  # the runner's unit of work: the worker opens its own transactions
    run_once()


exports_cli = AppGroup("exports", help="Background list exports.")


@exports_cli.command("run")
@click.option("--once", is_flag=True, help="Run the queued jobs, then stop (else: keep polling).")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between polls.")
def run_command(once, interval):
    """Run queued export jobs one at a time."""
    while True:
        ran = run_once()
        if ran:
            click.echo(f"{ran} export(s) run.")
        if once:
            return
        time.sleep(interval)


def part_files() -> list[Path]:
    return sorted(exports.exports_dir().glob("*.part"))


reports_cli = AppGroup("reports", help="Documents Catena writes.")


@reports_cli.command("samples")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def samples_command(directory):
    """Write one of each PDF report from the current data (the demo) to DIRECTORY."""
    from reports.samples import write_samples

    for path in write_samples(directory):
        click.echo(path)

