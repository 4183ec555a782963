"""The supplier evidence pack (ISO 9001 §8.4): one controlled PDF per supplier showing how it
was evaluated, selected, monitored and re-evaluated over a span of months.

What it holds: the supplier's identity and chain roles; the evaluation criteria (the
questionnaire templates sent to it, the SLAs agreed with their targets); its questionnaire
results and decisions and its status history (every change, with the reason and who decided),
both whole, since a decision taken before the span still qualifies the supplier during it;
its SLA results over the span (measured as every scorecard measures them,
suppliers.services.measurement); the audits whose period overlaps the span with their
findings; the corrective actions and their effectiveness; its certificates.

Bounded: every part is one query (SLA results: one aggregation per SLA series), and the long
lists are capped (`MAX_ROWS`, with the cap said in the document), so the size of the pack
follows the span, not the supplier's whole history; the PDF page limit
(CATENA_PDF_MAX_PAGES) is the last guard.
"""
from __future__ import annotations

import calendar
import datetime as dt
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import joinedload, selectinload

from app.auth.models import User
from app.db import db
from app.i18n import company_zone, today
from audits.models import (
    ACTION_STATUS_LABELS,
    AUDIT_STATUS_LABELS,
    AUDITEE_RESPONSE_LABELS,
    FINDING_GRADE_LABELS,
    Audit,
    CorrectiveAction,
    Finding,
)
from audits.services.conduct import format_level
from audits.services.report import (
    GRADE_TONES,
    SLA_STATUS_LABELS,
    STATUS_TONES,
    ActionLine,
    ChartBar,
    comparator_symbol,
    metric_label,
    stage_label,
)
from questionnaires.models import DECISION_LABELS, RESULT_LABELS, Assignment, TemplateVersion
from reports import pdf
from suppliers.metrics import METRICS
from suppliers.models import (
    CHAIN_ROLE_LABELS,
    RISK_CLASS_LABELS,
    STATUS_LABELS,
    Certificate,
    StatusChange,
    Supplier,
)
from suppliers.services.measurement import SlaResult, supplier_results

#: The most rows one list of the pack shows (the document says when a list is cut).
MAX_ROWS = 5000
#: The most audits shown with their findings.
MAX_AUDITS = 60
_CENT = Decimal("0.01")


class BadSpan(ValueError):
    """The months asked for are not a span the pack can cover."""


def default_span(day: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last 12 full months before `day`'s month: (first day, last day)."""
    day = day or today()
    last = day.replace(day=1) - dt.timedelta(days=1)
    first_month = (last.year * 12 + last.month - 1) - 11
    return dt.date(first_month // 12, first_month % 12 + 1, 1), last


def parse_span(from_month: str | None, to_month: str | None, *, day: dt.date | None = None
               ) -> tuple[dt.date, dt.date]:
    """`from`/`to` as YYYY-MM (either may be missing: the default span fills it) → (first day,
    last day). Raises BadSpan with a message a user can act on."""
    default_first, default_last = default_span(day)

    def month(text: str | None, default: dt.date, *, end: bool) -> dt.date:
        if not text:
            return default
        try:
            year, number = text.strip().split("-")
            if len(year) != 4 or len(number) != 2:
                raise ValueError
            start = dt.date(int(year), int(number), 1)
        except ValueError:
            raise BadSpan(_l("“%(value)s” is not a month: use YYYY-MM, e.g. 2026-03.", value=text[:20])) from None
        return start.replace(day=calendar.monthrange(start.year, start.month)[1]) if end else start

    first = month(from_month, default_first, end=False)
    last = month(to_month, default_last, end=True)
    if first > last:
        raise BadSpan(_l("The first month must not come after the last one."))
    if (last.year - first.year) * 12 + last.month - first.month >= 60:
        raise BadSpan(_l("Choose a span of at most 60 months."))
    return first, last


@dataclass
class SlaSeries:
    """One SLA agreed with the supplier and its results over the span, oldest period first."""

    name: str
    metric: str
    stage: str | None
    comparator: str
    target: Decimal
    warning_threshold: Decimal | None
    owner: str
    results: list[SlaResult]

    @property
    def metric_label(self):
        return metric_label(self.metric)

    @property
    def stage_label(self):
        return stage_label(self.stage)

    @property
    def symbol(self) -> str:
        return comparator_symbol(self.comparator)

    @property
    def target_text(self) -> str:
        return format_level(self.target, self.metric)

    def bars(self) -> list[ChartBar]:
        unit = METRICS[self.metric].unit if self.metric in METRICS else ""
        if unit == "rate":
            scale = Decimal(1)
        else:
            largest = max([r.value for r in self.results if r.value is not None] + [Decimal(self.target)])
            scale = (Decimal(largest) * Decimal("1.25")) or Decimal(1)

        def clamp(value: Decimal) -> str:
            return str(min(max(value, Decimal(0)), Decimal(100)).quantize(_CENT))

        return [ChartBar(label=r.period.key, value_text=format_level(r.value, self.metric),
                         target_text=format_level(r.standard.target, self.metric),
                         width=clamp(Decimal(r.value) / scale * 100) if r.value is not None else "0",
                         target_at=clamp(Decimal(r.standard.target) / scale * 100),
                         tone=STATUS_TONES.get(r.status, "secondary"))
                for r in self.results]


@dataclass
class EvidencePackRecord:
    supplier: Supplier
    first: dt.date
    last: dt.date
    templates: list[TemplateVersion]
    assignments: list[Assignment]
    status_changes: list[StatusChange]
    series: list[SlaSeries]
    audits: list[Audit]
    actions: list[ActionLine]
    certificates: list[Certificate]
    names: dict[int, str]
    #: Lists cut at MAX_ROWS / MAX_AUDITS (their names).
    truncated: set[str]

    @property
    def document_number(self) -> str:
        return f"EP-{self.supplier.code}-{self.first:%Y%m}-{self.last:%Y%m}"

    @property
    def span_text(self) -> str:
        return f"{self.first:%Y-%m} – {self.last:%Y-%m}"


def _span_moments(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The span as UTC instants: from the company's midnight of `first` to that after `last`."""
    zone = company_zone()
    start = dt.datetime.combine(first, dt.time(), tzinfo=zone).astimezone(dt.timezone.utc)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=zone).astimezone(dt.timezone.utc)
    return start, end


def evidence_pack_record(supplier: Supplier, first: dt.date, last: dt.date) -> EvidencePackRecord:
    """Everything the pack shows for `supplier` over [first, last] (whole days, company zone)."""
    start, end = _span_moments(first, last)
    truncated: set[str] = set()

    def capped(rows: list, name: str, limit: int = MAX_ROWS) -> list:
        if len(rows) > limit:
            truncated.add(name)
            return rows[:limit]
        return rows

    # Questionnaires and status changes: the whole history, newest first (a decision taken
    # before the span still qualifies the supplier during it, and a re-evaluation after it is
    # part of the evidence a reader expects).
    assignments = capped(list(db.session.scalars(
        select(Assignment).where(Assignment.supplier_id == supplier.id)
        .options(joinedload(Assignment.template_version).joinedload(TemplateVersion.template))
        .order_by(Assignment.created_at.desc(), Assignment.id.desc()).limit(MAX_ROWS + 1))), "assignments")
    templates = list({a.template_version.id: a.template_version for a in assignments}.values())
    status_changes = capped(list(db.session.scalars(
        select(StatusChange).where(StatusChange.supplier_id == supplier.id)
        .order_by(StatusChange.changed_at.desc(), StatusChange.id.desc()).limit(MAX_ROWS + 1))), "status_changes")
    status_changes.reverse()

    series: dict[int, SlaSeries] = {}
    for r in supplier_results(supplier, first, last):
        standard = r.standard
        key = standard.series_id or standard.id
        item = series.get(key)
        if item is None:
            owner = (str(CHAIN_ROLE_LABELS.get(standard.chain_role, standard.chain_role))
                     if standard.chain_role else supplier.code)
            item = series[key] = SlaSeries(
                name=standard.name, metric=standard.metric, stage=standard.stage, comparator=standard.comparator,
                target=standard.target, warning_threshold=standard.warning_threshold, owner=owner, results=[])
        item.name, item.target, item.comparator = standard.name, standard.target, standard.comparator
        item.warning_threshold = standard.warning_threshold
        item.results.append(r)
    for item in series.values():
        item.results.sort(key=lambda r: r.period.start)

    audits = capped(list(db.session.scalars(
        select(Audit).where(Audit.supplier_id == supplier.id, Audit.period_start <= last, Audit.period_end >= first)
        .options(joinedload(Audit.plan), joinedload(Audit.lead_auditor),
                 selectinload(Audit.findings).selectinload(Finding.actions))
        .order_by(Audit.period_start, Audit.id).limit(MAX_AUDITS + 1))), "audits", MAX_AUDITS)
    audit_ids = [a.id for a in audits]
    # Corrective actions: those of the audits shown, and any other raised or still open in the span.
    action_rows = capped(list(db.session.scalars(
        select(CorrectiveAction).join(Finding, Finding.id == CorrectiveAction.finding_id)
        .where(CorrectiveAction.supplier_id == supplier.id,
               or_(Finding.audit_id.in_(audit_ids) if audit_ids else False,
                   and_(CorrectiveAction.created_at >= start, CorrectiveAction.created_at < end)))
        .options(joinedload(CorrectiveAction.finding).joinedload(Finding.audit))
        .order_by(CorrectiveAction.id).limit(MAX_ROWS + 1))), "actions")
    actions = [ActionLine(action=a, finding=a.finding, owner=a.recipient_name or supplier.legal_name)
               for a in action_rows]
    certificates = list(db.session.scalars(
        select(Certificate).where(Certificate.supplier_id == supplier.id)
        .order_by(Certificate.standard, Certificate.id).limit(MAX_ROWS)))

    user_ids = ({c.changed_by_id for c in status_changes} | {a.decided_by_id for a in assignments}
                | {a.verified_by_id for a in action_rows}) - {None}
    names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(user_ids))).all()) \
        if user_ids else {}
    return EvidencePackRecord(
        supplier=supplier, first=first, last=last, templates=templates, assignments=assignments,
        status_changes=status_changes, series=sorted(series.values(), key=lambda s: (s.name, s.metric)),
        audits=audits, actions=actions, certificates=certificates, names=names, truncated=truncated)


def evidence_pack_pdf(supplier: Supplier, first: dt.date, last: dt.date, *, pdf_variant: str | None = None,
                      locale: str | None = None, uncompressed: bool = False) -> bytes:
    """The evidence pack as a controlled PDF (document EP-<code>-<from>-<to>, revision = the
    day it was printed, since the pack is a point-in-time extract)."""
    with force_locale(locale) if locale else nullcontext():
        record = evidence_pack_record(supplier, first, last)
        printed = today()
        document = pdf.ReportDocument(
            title=str(_l("Supplier evidence pack")), number=record.document_number, revision=printed.strftime("%Y%m%d"),
            issued_on=printed, subject=f"{supplier.code} — {supplier.legal_name}")
        return pdf.render_pdf(
            "reports/evidence_pack.html", document, pdf_variant=pdf_variant, uncompressed=uncompressed,
            record=record, chain_role_labels=CHAIN_ROLE_LABELS, risk_labels=RISK_CLASS_LABELS,
            status_labels=STATUS_LABELS, result_labels=RESULT_LABELS, decision_labels=DECISION_LABELS,
            sla_status_labels=SLA_STATUS_LABELS, status_tones=STATUS_TONES, grade_labels=FINDING_GRADE_LABELS,
            grade_tones=GRADE_TONES, audit_status_labels=AUDIT_STATUS_LABELS,
            response_labels=AUDITEE_RESPONSE_LABELS, action_status_labels=ACTION_STATUS_LABELS,
            format_level=format_level, max_rows=MAX_ROWS, max_audits=MAX_AUDITS)
