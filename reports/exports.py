"""List exports: every list page as an .xlsx workbook of what the user sees, with its filters.

Each export kind is registered here once (STYLE: pluggable kinds) with the list's permission,
the function that reads the list's filters from a query string *as its page does* (shared with
the page, in the domain's forms module), the filtered query (the page's own), the columns and a
row function. `write_export` streams the rows through an XlsxWriter workbook in constant_memory
mode, so memory stays flat whatever the count; small lists go straight into the response, large
ones become an `ExportJob` run by the worker (reports.commands).

Times are written in the company's time zone (CATENA_TIMEZONE) as the pages show them, dates as
real dates, amounts and counts as numbers; every text goes through `reports.xlsx.cell_value`, so
none can run as a formula (HOSTILE.md, decision 5).
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import aliased, joinedload, selectinload
from werkzeug.datastructures import MultiDict

from app.db import db, utcnow
from app.i18n import company_zone
from reports.models import ExportJob, ExportStatus
from reports.xlsx import DATE_FORMAT, DATETIME_FORMAT, Column, TableSheet, XlsxBook

#: Rows written between two progress reports (and heartbeats) of a background export.
PROGRESS_EVERY = 5_000
#: Rows fetched per round trip while streaming.
BATCH_SIZE = 1_000
DEFAULT_SYNC_MAX_ROWS = 50_000
MONEY_FORMAT = "#,##0.00"
HOURS_FORMAT = "0.00"


@dataclass(frozen=True)
class ExportKind:
    """One exportable list."""

    code: str
    title: Any
    #: The list page's own permission (checked besides "reports.export").
    permission: str
    #: Query string (MultiDict) → the list's filters, exactly as its page reads them.
    parse: Callable[[MultiDict], Any]
    #: Filters → the page's filtered select of the list's objects (unordered).
    query: Callable[[Any], Any]
    #: The order of the rows (the page's, with the id as tie-breaker).
    order_by: Callable[[], tuple]
    columns: Callable[[], list[Column]]
    row: Callable[[Any], list[Any]]
    #: Loader options for what the row function reads (no lazy load per row).
    options: Callable[[], tuple] = lambda: ()
    #: For the lists that run to a million rows: the page's filtered, ordered select turned into
    #: a select of the plain values `row` reads by name, so `row` gets result rows, not ORM
    #: objects (building an object with its relations costs more than writing its cells).
    values: Callable[[Any], Any] | None = None
    #: Query parameters the list understands → their labels, for the filters written in the sheet.
    params: dict[str, Any] = field(default_factory=dict)


KINDS: dict[str, ExportKind] = {}


def register(kind: ExportKind) -> ExportKind:
    if kind.code in KINDS:
        raise ValueError(f"export kind {kind.code!r} registered twice")
    KINDS[kind.code] = kind
    return kind


def get_kind(code: str) -> ExportKind | None:
    return KINDS.get(code)


# Values as the pages show them ------------------------------------------------------------

@dataclass
class _RowContext:
    zone: ZoneInfo
    language: str
    #: (id of a label map, code) → its translation.
    labels: dict = field(default_factory=dict)


_ROWS: ContextVar[_RowContext | None] = ContextVar("export_rows", default=None)


@contextmanager
def row_context() -> Iterator[None]:
    """While one export makes its rows: the company zone, the language and each label's
    translation found once, not per value (a Flask-Babel lookup costs several microseconds
    and a million-row export asks for millions)."""
    token = _ROWS.set(_RowContext(company_zone(), _current_language()))
    try:
        yield
    finally:
        _ROWS.reset(token)


def local(moment: dt.datetime | None) -> dt.datetime | None:
    """A UTC moment as the company-zone wall time Excel shows (Excel has no time zones)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    context = _ROWS.get()
    return moment.astimezone(context.zone if context is not None else company_zone()).replace(tzinfo=None)


def label(labels: dict, code: str | None) -> str | None:
    if code is None:
        return None
    context = _ROWS.get()
    if context is None:
        return _translated(labels, code)
    key = (id(labels), code)
    found = context.labels.get(key)
    if found is None:
        found = context.labels[key] = _translated(labels, code)
    return found


def _translated(labels: dict, code: str) -> str:
    found = labels.get(code)
    return str(found) if found is not None else code


def yes_no(value: bool) -> str:
    return str(_l("Yes")) if value else str(_l("No"))


def _hours(seconds: int | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.01"))


def _language() -> str:
    context = _ROWS.get()
    return context.language if context is not None else _current_language()


def _current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else "en"


# The kinds ------------------------------------------------------------------------------

def _register_kinds() -> None:
    from app.auth.models import User
    from audits.action_forms import action_filters_from_args
    from audits.audit_forms import audit_filters_from_args
    from audits.models import (
        ACTION_STATUS_LABELS,
        AUDIT_STATUS_LABELS,
        AUDIT_TYPE_LABELS,
        FINDING_GRADE_LABELS,
        Audit,
        CorrectiveAction,
        Finding,
        FindingGrade,
    )
    from audits.services import actions as action_service
    from audits.services import conduct as audit_service
    from incidents.forms import backlog_filters_from_args, leg_filters_from_args
    from incidents.models import (
        CHANNEL_LABELS,
        INCIDENT_STATUS_LABELS,
        OUTCOME_LABELS,
        PRIORITY_LABELS,
        STAGE_LABELS,
        ChargebackStatement,
        ChargebackStatus,
        Incident,
        IncidentCategory,
        Leg,
        Order,
    )
    from incidents.services import chargebacks as chargeback_service
    from incidents.services import incidents as incident_service
    from incidents.services import orders as order_service
    from suppliers.forms import supplier_filters_from_args
    from suppliers.models import CHAIN_ROLE_LABELS, RISK_CLASS_LABELS, STATUS_LABELS, Supplier
    from suppliers.services import supplier_query

    # Suppliers: the register's list (suppliers.index).
    register(ExportKind(
        code="suppliers", title=_l("Suppliers"), permission="suppliers.view",
        parse=lambda args: supplier_filters_from_args(args)[1],
        query=supplier_query,
        order_by=lambda: (Supplier.code, Supplier.id),
        options=lambda: (selectinload(Supplier.chain_roles), joinedload(Supplier.parent)),
        columns=lambda: [
            Column(_l("Code"), 14), Column(_l("Legal name"), 36), Column(_l("VAT ID"), 16),
            Column(_l("Country"), 9), Column(_l("Chain roles"), 28), Column(_l("Status"), 20),
            Column(_l("Risk class"), 12), Column(_l("Qualified until"), 14, DATE_FORMAT),
            Column(_l("Parent"), 14), Column(_l("Archived at"), 17, DATETIME_FORMAT),
            Column(_l("Updated at"), 17, DATETIME_FORMAT)],
        row=lambda s: [
            s.code, s.legal_name, s.vat_id, s.country,
            ", ".join(label(CHAIN_ROLE_LABELS, r.role) for r in s.chain_roles),
            label(STATUS_LABELS, s.status), label(RISK_CLASS_LABELS, s.risk_class), s.qualified_until,
            s.parent.code if s.parent is not None else None, local(s.archived_at), local(s.updated_at)],
        params={"q": _l("Search"), "role": _l("Chain role"), "status": _l("Status"), "risk": _l("Risk class"),
                "country": _l("Country"), "archived": _l("Archived")},
    ))

    # Incidents: the backlog (incidents.backlog), in its order; up to a million rows, so read
    # as plain values.
    def incident_values(stmt):
        category, order, assignee = aliased(IncidentCategory), aliased(Order), aliased(User)
        return (stmt.with_only_columns(
                    Incident.id, Incident.reported_at, Incident.reported_day, Incident.channel,
                    category.label_it.label("category_it"), category.label_en.label("category_en"),
                    Incident.priority, Incident.status, order.ref.label("order_ref"), Incident.order_ref_given,
                    Incident.respond_by, Incident.first_response_at, Incident.resolved_at,
                    Incident.first_response_seconds, Incident.resolution_seconds, Incident.csat,
                    assignee.name.label("assignee_name"), Incident.description)
                .join(category, category.id == Incident.category_id)
                .outerjoin(order, order.id == Incident.order_id)
                .outerjoin(assignee, assignee.id == Incident.assignee_id))

    def incident_row(i) -> list[Any]:
        return [i.id, local(i.reported_at), i.reported_day, label(CHANNEL_LABELS, i.channel),
                i.category_it if _language() == "it" else i.category_en,
                label(PRIORITY_LABELS, i.priority), label(INCIDENT_STATUS_LABELS, i.status),
                i.order_ref if i.order_ref is not None else i.order_ref_given, local(i.respond_by),
                local(i.first_response_at), local(i.resolved_at), _hours(i.first_response_seconds),
                _hours(i.resolution_seconds), i.csat, i.assignee_name, i.description]

    register(ExportKind(
        code="incidents", title=_l("Incidents"), permission="incidents.view",
        parse=lambda args: backlog_filters_from_args(args)[0],
        query=incident_service.backlog_query,
        order_by=lambda: (Incident.respond_by, Incident.id),
        values=incident_values,
        columns=lambda: [
            Column(_l("Incident"), 10), Column(_l("Reported at"), 17, DATETIME_FORMAT),
            Column(_l("Reported on"), 12, DATE_FORMAT), Column(_l("Channel"), 10), Column(_l("Category"), 22),
            Column(_l("Priority"), 10), Column(_l("Status"), 14), Column(_l("Order"), 16),
            Column(_l("Respond by"), 17, DATETIME_FORMAT), Column(_l("First response at"), 17, DATETIME_FORMAT),
            Column(_l("Resolved at"), 17, DATETIME_FORMAT), Column(_l("First response (hours)"), 12, HOURS_FORMAT),
            Column(_l("Resolution (hours)"), 12, HOURS_FORMAT), Column(_l("CSAT"), 7, "0"),
            Column(_l("Assignee"), 20), Column(_l("Description"), 60, wrap=True)],
        row=incident_row,
        params={"status": _l("Status"), "category": _l("Category"), "supplier": _l("Supplier"),
                "assignee": _l("Assignee"), "from": _l("Reported from"), "to": _l("Reported to"),
                "channel": _l("Channel"), "attributed": _l("Attributed to")},
    ))

    # Legs: the legs of the orders the orders page lists (incidents.orders), by stage and span.
    register(ExportKind(
        code="legs", title=_l("Legs"), permission="orders.view",
        parse=leg_filters_from_args, query=order_service.leg_query,
        order_by=lambda: (Leg.order_id.desc(), Leg.sequence, Leg.id),
        options=lambda: (joinedload(Leg.order), joinedload(Leg.supplier)),
        columns=lambda: [
            Column(_l("Leg"), 10), Column(_l("External ID"), 18), Column(_l("Order"), 16),
            Column(_l("Sequence"), 9, "0"), Column(_l("Stage"), 16), Column(_l("Supplier code"), 14),
            Column(_l("Supplier"), 30), Column(_l("Promised at"), 17, DATETIME_FORMAT),
            Column(_l("Promised on"), 12, DATE_FORMAT), Column(_l("Actual at"), 17, DATETIME_FORMAT),
            Column(_l("Outcome"), 14), Column(_l("Delay (hours)"), 11, HOURS_FORMAT), Column(_l("Excluded"), 9),
            Column(_l("Exclusion reason"), 30)],
        row=lambda leg: [
            leg.id, leg.external_id, leg.order.ref, leg.sequence, label(STAGE_LABELS, leg.stage), leg.supplier.code,
            leg.supplier.legal_name, local(leg.promised_at), leg.promised_day, local(leg.actual_at),
            label(OUTCOME_LABELS, leg.outcome), _hours(leg.delay_seconds), yes_no(leg.is_excluded),
            leg.exclusion_reason],
        params={"q": _l("Order"), "supplier": _l("Supplier"), "stage": _l("Stage"),
                "from": _l("Promised from"), "to": _l("Promised to")},
    ))

    audit_params = {"plan": _l("Plan"), "supplier": _l("Supplier (code)"), "status": _l("Status"),
                    "period": _l("Period (month)")}

    # Audits: the audit list (audits.audits), latest period first.
    register(ExportKind(
        code="audits", title=_l("Audits"), permission="audits.view",
        parse=lambda args: audit_filters_from_args(args)[1], query=audit_service.audit_query,
        order_by=lambda: (Audit.period_start.desc(), Audit.id.desc()),
        options=lambda: (joinedload(Audit.supplier), joinedload(Audit.plan)),
        columns=lambda: [
            Column(_l("Audit"), 9), Column(_l("Supplier code"), 14), Column(_l("Supplier"), 30),
            Column(_l("Plan"), 26), Column(_l("Type"), 14), Column(_l("Period start"), 12, DATE_FORMAT),
            Column(_l("Period end"), 12, DATE_FORMAT), Column(_l("Planned date"), 12, DATE_FORMAT),
            Column(_l("Status"), 16), Column(_l("Started on"), 12, DATE_FORMAT),
            Column(_l("Ended on"), 12, DATE_FORMAT), Column(_l("Location"), 24)],
        row=lambda a: [
            a.id, a.supplier.code, a.supplier.legal_name, a.plan.name if a.plan is not None else None,
            label(AUDIT_TYPE_LABELS, a.audit_type), a.period_start, a.period_end, a.planned_date,
            label(AUDIT_STATUS_LABELS, a.status), a.started_on, a.ended_on, a.location],
        params=audit_params,
    ))

    # Findings: no page of their own; the audit list's filters, and grade.
    def parse_findings(args):
        grades = tuple(g for g in args.getlist("grade") if g in {x.value for x in FindingGrade})
        return audit_filters_from_args(args)[1], grades

    register(ExportKind(
        code="findings", title=_l("Findings"), permission="audits.view",
        parse=parse_findings, query=lambda f: audit_service.finding_query(*f),
        order_by=lambda: (Finding.audit_id.desc(), Finding.number, Finding.id),
        options=lambda: (joinedload(Finding.audit).joinedload(Audit.supplier),),
        columns=lambda: [
            Column(_l("Finding"), 9), Column(_l("Audit"), 9), Column(_l("Supplier code"), 14),
            Column(_l("Period start"), 12, DATE_FORMAT), Column(_l("Number"), 8, "0"), Column(_l("Grade"), 22),
            Column(_l("Criterion"), 36, wrap=True), Column(_l("What was found"), 60, wrap=True),
            Column(_l("Evidence"), 40, wrap=True), Column(_l("Recorded at"), 17, DATETIME_FORMAT)],
        row=lambda f: [
            f.id, f.audit_id, f.audit.supplier.code, f.audit.period_start, f.number,
            label(FINDING_GRADE_LABELS, f.grade), f.criterion, f.statement, f.evidence, local(f.created_at)],
        params={**audit_params, "grade": _l("Grade")},
    ))

    # Corrective actions: their list (audits.actions), earliest due first.
    register(ExportKind(
        code="corrective-actions", title=_l("Corrective actions"), permission="audits.view",
        parse=lambda args: action_filters_from_args(args)[1],
        query=lambda filters: action_service.action_query(filters, today=_company_today()),
        order_by=lambda: (CorrectiveAction.due_date, CorrectiveAction.id),
        options=lambda: (joinedload(CorrectiveAction.supplier),
                         joinedload(CorrectiveAction.finding).joinedload(Finding.audit)),
        columns=lambda: [
            Column(_l("Action"), 9), Column(_l("Supplier code"), 14), Column(_l("Supplier"), 30),
            Column(_l("Audit"), 9), Column(_l("Finding"), 9, "0"), Column(_l("Grade"), 22), Column(_l("Status"), 22),
            Column(_l("Due date"), 12, DATE_FORMAT), Column(_l("Plan due date"), 12, DATE_FORMAT),
            Column(_l("Recipient"), 24), Column(_l("Root cause"), 40, wrap=True)],
        row=lambda a: [
            a.id, a.supplier.code, a.supplier.legal_name, a.finding.audit_id, a.finding.number,
            label(FINDING_GRADE_LABELS, a.finding.grade), label(ACTION_STATUS_LABELS, a.status), a.due_date,
            a.action_due_date, a.recipient_name, a.root_cause],
        params={"status": _l("Status"), "supplier": _l("Supplier"), "overdue": _l("Overdue only")},
    ))

    # Chargeback statements: a supplier's list (suppliers.chargebacks), or every supplier's.
    def parse_chargebacks(args):
        statuses = tuple(s for s in args.getlist("status") if s in {x.value for x in ChargebackStatus})
        return chargeback_service.StatementFilters(
            supplier=(args.get("supplier") or "").strip()[:32] or None, statuses=statuses)

    register(ExportKind(
        code="chargebacks", title=_l("Chargeback statements"), permission="chargebacks.view",
        parse=parse_chargebacks, query=chargeback_service.statement_query,
        order_by=lambda: (ChargebackStatement.period_start.desc(), ChargebackStatement.id.desc()),
        options=lambda: (joinedload(ChargebackStatement.supplier),),
        columns=lambda: [
            Column(_l("Statement"), 10), Column(_l("Supplier code"), 14), Column(_l("Supplier"), 30),
            Column(_l("Period start"), 12, DATE_FORMAT), Column(_l("Period end"), 12, DATE_FORMAT),
            Column(_l("Status"), 14), Column(_l("Lines total"), 13, MONEY_FORMAT),
            Column(_l("Total"), 13, MONEY_FORMAT), Column(_l("Sent at"), 17, DATETIME_FORMAT),
            Column(_l("Answered at"), 17, DATETIME_FORMAT)],
        row=lambda s: [
            s.id, s.supplier.code, s.supplier.legal_name, s.period_start, s.period_end,
            label(chargeback_service.CHARGEBACK_STATUS_LABELS, s.status), _money(s.lines_total),
            _money(s.total), local(s.sent_at), local(s.responded_at)],
        params={"supplier": _l("Supplier"), "status": _l("Status")},
    ))


def _company_today() -> dt.date:
    from app.i18n import today

    return today()


def ensure_registered() -> dict[str, ExportKind]:
    """The registry, filled on first use (the kinds import every domain)."""
    if not KINDS:
        _register_kinds()
    return KINDS


# Writing --------------------------------------------------------------------------------

def as_multidict(args) -> MultiDict:
    """Query-string pairs as given (a MultiDict, or a job's stored {name: [values]})."""
    if isinstance(args, MultiDict):
        return args
    return MultiDict([(k, v) for k, values in (args or {}).items()
                      for v in (values if isinstance(values, list) else [values])])


def stored_params(args: MultiDict) -> dict[str, list[str]]:
    """What a job keeps of the query string: the list's own parameters only."""
    return {k: v for k, v in args.to_dict(flat=False).items() if k not in ("cursor", "sort", "dir")}


def filtered_query(kind: ExportKind, args):
    return kind.query(kind.parse(as_multidict(args)))


def count_rows(kind: ExportKind, args) -> int:
    """One COUNT over the same filtered query the export streams."""
    stmt = filtered_query(kind, args)
    return db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))


def stream_rows(kind: ExportKind, args, batch_size: int = BATCH_SIZE) -> Iterable[Any]:
    """The list's objects (or, for a kind with `values`, result rows) in the page's order,
    fetched `batch_size` at a time."""
    stmt = filtered_query(kind, args).order_by(*kind.order_by())
    if kind.values is not None:
        yield from db.session.execute(kind.values(stmt).execution_options(yield_per=batch_size))
    else:
        yield from db.session.scalars(stmt.options(*kind.options()).execution_options(yield_per=batch_size))


def filter_facts(kind: ExportKind, args) -> list[tuple[Any, Any]]:
    """The filters as given, one line each, for the sheet's header block."""
    args = as_multidict(args)
    facts = []
    for name, name_label in kind.params.items():
        values = [v.strip() for v in args.getlist(name) if v and v.strip()]
        if values:
            facts.append((f"{_l('Filter')}: {name_label}", ", ".join(values)))
    return facts or [(_l("Filter"), str(_l("none (the whole list)")))]


def write_export(kind: ExportKind | str, args, out: BinaryIO | str | os.PathLike, *, user=None,
                 progress: Callable[[int], None] | None = None, every: int = PROGRESS_EVERY) -> int:
    """Write the list `kind` with the filters `args` as an .xlsx to `out` (a file object or a
    path); the number of rows. `progress(rows_written)` is called every `every` rows.

    The rows go to temporary files as they come; `out` is written once they are all there. When
    anything fails on the way, nothing is written to `out` and the temporary files go."""
    if isinstance(kind, str):
        kind = ensure_registered()[kind]
    facts: list[tuple[Any, Any]] = [(_l("Exported at"), local(utcnow()))]
    if user is not None:
        facts.append((_l("Exported by"), f"{user.name} <{user.email}>"))
    facts += filter_facts(kind, args)
    with XlsxBook(out) as workbook, row_context():
        sheet = TableSheet(workbook, str(kind.title), kind.columns(), heading=kind.title, facts=facts)
        rows = 0
        for item in stream_rows(kind, args):
            sheet.append(kind.row(item))
            rows += 1
            if progress is not None and rows % every == 0:
                progress(rows)
        sheet.close()
    return rows


def file_name(kind: ExportKind) -> str:
    return f"{kind.code}-{local(utcnow()).date().isoformat()}.xlsx"


def sync_max_rows() -> int:
    return int(current_app.config.get("EXPORT_SYNC_MAX_ROWS", DEFAULT_SYNC_MAX_ROWS))


# Jobs -----------------------------------------------------------------------------------

def exports_dir() -> Path:
    path = Path(current_app.instance_path) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def create_job(kind: ExportKind, args, user, *, locale: str, rows_total: int | None) -> ExportJob:
    """Queue a background export of `kind` with the filters `args` for `user` (flushes)."""
    job = ExportJob(user_id=user.id, kind=kind.code, params=stored_params(as_multidict(args)), locale=locale,
                    status=ExportStatus.QUEUED.value, rows_total=rows_total, rows_done=0, attempts=0)
    db.session.add(job)
    db.session.flush()
    return job


def job_of(user, job_id: int) -> ExportJob | None:
    """The user's own job; another user's is as good as missing."""
    job = db.session.get(ExportJob, job_id)
    if job is None or job.user_id != user.id:
        return None
    return job


def recent_jobs(user, limit: int = 20) -> list[ExportJob]:
    return list(db.session.scalars(select(ExportJob).where(ExportJob.user_id == user.id)
                                   .order_by(ExportJob.created_at.desc(), ExportJob.id.desc()).limit(limit)))


def job_file(job: ExportJob) -> Path | None:
    """The finished file of a done job, if it is still there."""
    if job.status != ExportStatus.DONE.value or not job.stored_name:
        return None
    path = exports_dir() / job.stored_name
    return path if path.is_file() else None


def new_stored_name() -> str:
    return secrets.token_hex(16) + ".xlsx"
