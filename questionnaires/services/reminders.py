"""The daily questionnaire step: reminders for assignments near or past their due date, and
requalification for suppliers whose qualification is about to expire.

Both are safe to run any number of times a day, from several processes: each reminder is
claimed with a conditional UPDATE (`reminded_… IS NULL`) before its e-mail is queued in the
same transaction, and a requalification is started only for a supplier with no open
assignment of that template — the check and the insert happen under the write lock
(`BEGIN IMMEDIATE` on SQLite, a row lock on the supplier on PostgreSQL).
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from app.db import db, utcnow
from app.errors import ServiceError
from questionnaires.models import (
    FINAL_STATUSES,
    OPEN_FOR_SUPPLIER,
    Assignment,
    AssignmentPurpose,
    AssignmentStatus,
    TemplateVersion,
    VersionStatus,
)
from questionnaires.services import assignments as assignment_service
from suppliers.models import QUALIFIED_STATUSES, Supplier

log = logging.getLogger(__name__)


@dataclass
class DailyRun:
    reminded_due: list[int] = field(default_factory=list)
    reminded_overdue: list[int] = field(default_factory=list)
    requalifications: list[int] = field(default_factory=list)
    #: Supplier codes that need requalifying but have no questionnaire to send.
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.reminded_due)} due-date reminders, {len(self.reminded_overdue)} overdue reminders, "
                f"{len(self.requalifications)} requalifications started"
                + (f"; no questionnaire to send to {', '.join(self.skipped)}" if self.skipped else ""))


def _claim(assignment_id: int, column) -> bool:
    """Mark one reminder as sent unless another run did it first."""
    result = db.session.execute(
        update(Assignment).where(Assignment.id == assignment_id, column.is_(None))
        .values({column: utcnow(), Assignment.version: Assignment.version + 1})
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def send_reminders(today: dt.date, run: DailyRun | None = None) -> DailyRun:
    run = run or DailyRun()
    days_before = current_app.config["QUESTIONNAIRE_REMIND_DAYS"]
    now = utcnow()
    waiting = [s.value for s in OPEN_FOR_SUPPLIER]
    due_soon = db.session.scalars(
        select(Assignment.id).where(Assignment.status.in_(waiting), Assignment.revoked_at.is_(None),
                                    Assignment.reminded_due_at.is_(None), Assignment.expires_at > now,
                                    Assignment.due_date >= today,
                                    Assignment.due_date <= today + dt.timedelta(days=days_before))
        .order_by(Assignment.id)).all()
    overdue = db.session.scalars(
        select(Assignment.id).where(Assignment.status.in_(waiting), Assignment.revoked_at.is_(None),
                                    Assignment.reminded_overdue_at.is_(None), Assignment.expires_at > now,
                                    Assignment.due_date < today)
        .order_by(Assignment.id)).all()
    for ids, column, is_overdue, sent in ((due_soon, Assignment.reminded_due_at, False, run.reminded_due),
                                          (overdue, Assignment.reminded_overdue_at, True, run.reminded_overdue)):
        for assignment_id in ids:
            if not _claim(assignment_id, column):
                continue
            assignment = db.session.get(Assignment, assignment_id)
            db.session.refresh(assignment)
            subject = _l("overdue questionnaire") if is_overdue else _l("questionnaire due soon")
            assignment_service.mail_recipient(assignment, "reminder", subject,
                                     kind="questionnaire_overdue" if is_overdue else "questionnaire_reminder",
                                     overdue=is_overdue)
            assignment_service.record_event(assignment, "reminded_overdue" if is_overdue else "reminded_due")
            sent.append(assignment_id)
    db.session.flush()
    return run


def _requalification_version(supplier: Supplier) -> TemplateVersion | None:
    """The published version of the template the supplier was last qualified with."""
    last = db.session.scalar(
        select(Assignment).where(Assignment.supplier_id == supplier.id,
                                 Assignment.status == AssignmentStatus.ACCEPTED.value)
        .order_by(Assignment.decided_at.desc(), Assignment.id.desc()).limit(1))
    if last is None:
        return None
    return last.template_version.template.published


def start_requalification(supplier: Supplier, reason: str, actor, *, today: dt.date,
                          version: TemplateVersion | None = None) -> Assignment | None:
    """Send the supplier a requalification questionnaire now, unless one is already open.

    The hook for events that call for requalification before expiry (a major nonconformity,
    an SLA breached for several periods): the audits domain calls it with its reason.
    Returns None when an assignment is already open or no questionnaire can be chosen.
    """
    assignment, _ = _start_requalification(supplier, reason, actor, today=today, version=version)
    return assignment


def _start_requalification(supplier: Supplier, reason: str, actor, *, today: dt.date,
                           version: TemplateVersion | None) -> tuple[Assignment | None, bool]:
    """(the assignment started or None, whether one was open already)."""
    # Serialise concurrent starts for one supplier (SQLite already holds the write lock).
    db.session.execute(select(Supplier.id).where(Supplier.id == supplier.id).with_for_update())
    open_one = db.session.scalar(
        select(Assignment.id).where(Assignment.supplier_id == supplier.id,
                                    Assignment.status.not_in([s.value for s in FINAL_STATUSES])).limit(1))
    if open_one is not None:
        return None, True
    version = version or _requalification_version(supplier)
    if version is None or version.status != VersionStatus.PUBLISHED:
        return None, False
    due = today + dt.timedelta(days=current_app.config["REQUALIFICATION_ANSWER_DAYS"])
    # Write in the language the supplier was last written to (the default when never).
    language = db.session.scalar(select(Assignment.language).where(Assignment.supplier_id == supplier.id)
                                 .order_by(Assignment.id.desc()).limit(1))
    try:
        return assignment_service.send_assignment(
            version, supplier, due, actor, today=today, message=reason, language=language,
            purpose=AssignmentPurpose.REQUALIFICATION.value), False
    except ServiceError as exc:
        log.warning("requalification of %s not started: %s", supplier.code, exc)
        return None, False


def start_due_requalifications(today: dt.date, run: DailyRun | None = None) -> DailyRun:
    run = run or DailyRun()
    horizon = today + dt.timedelta(days=current_app.config["REQUALIFICATION_DAYS"])
    suppliers = db.session.scalars(
        select(Supplier).where(Supplier.status.in_([s.value for s in QUALIFIED_STATUSES]),
                               Supplier.archived_at.is_(None), Supplier.qualified_until.is_not(None),
                               Supplier.qualified_until <= horizon)
        .order_by(Supplier.code)).all()
    for supplier in suppliers:
        reason = str(_l("The qualification expires on %(date)s: please answer the requalification questionnaire.",
                        date=supplier.qualified_until.isoformat()))
        has_open = db.session.scalar(
            select(Assignment.id).where(Assignment.supplier_id == supplier.id,
                                        Assignment.status.not_in([s.value for s in FINAL_STATUSES])).limit(1))
        if has_open is not None:
            continue
        # Checked again under the supplier's lock: another run may have started it meanwhile,
        # which is not "nothing to send".
        assignment, was_open = _start_requalification(supplier, reason, None, today=today, version=None)
        if assignment is not None:
            run.requalifications.append(assignment.id)
        elif not was_open:
            run.skipped.append(supplier.code)
    return run


def run_daily(today: dt.date) -> DailyRun:
    """Everything the daily job does; one unit of work around it is the caller's."""
    run = send_reminders(today)
    start_due_requalifications(today, run)
    return run
