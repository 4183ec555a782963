"""The audit report (ISO 19011 §6.5.1) as a controlled PDF document, and the audit workbook.

Both are written from one `AuditReportRecord`, gathered once in a bounded number of queries,
so the PDF and the workbook never disagree about a value, a target or a finding. The report
holds every element §6.5.1 lists, each under its own heading (`templates/reports/audit_report.html`):
objectives, scope, audit client, team and auditee participants, dates and locations, criteria,
findings with their evidence, conclusions, the degree to which the criteria are fulfilled,
unresolved diverging opinions, and the statement that an audit samples; and, where present,
good practices, the follow-up action plan and the confidentiality note.

Document control: number AR-<audit id>; revision = the SLA snapshot revision the report shows;
issue date = the day the report was issued (company time zone), or today with a "draft"
mention while it is not issued; approval = who issued it. SLA values are those of the frozen
snapshot (audits.services.conduct), never re-measured here.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.db import db
from app.i18n import company_zone, today
from audits.models import (
    ACTION_STATUS_LABELS,
    AUDIT_STATUS_LABELS,
    AUDIT_TYPE_LABELS,
    AUDITEE_RESPONSE_LABELS,
    FINDING_GRADE_LABELS,
    ActionStatus,
    Audit,
    AuditParticipant,
    AuditSlaResult,
    CorrectiveAction,
    EffectivenessMethod,
    Finding,
    FindingGrade,
)
from audits.services import conduct
from incidents.models import STAGE_LABELS
from reports import pdf
from reports.xlsx import DATE_FORMAT, Column, TableSheet, XlsxBook, workbook_bytes
from suppliers.metrics import METRICS
from suppliers.models import CHAIN_ROLE_LABELS, Comparator, ServiceStandard, Supplier

#: Findings in the report's order, worst first; good practices have their own section.
GRADE_ORDER = (FindingGrade.MAJOR_NC, FindingGrade.MINOR_NC, FindingGrade.OBSERVATION, FindingGrade.IMPROVEMENT)
#: Colour of an SLA status (the word goes with it) and of its bar.
STATUS_TONES = {"met": "success", "warning": "warning", "breached": "danger", "no_data": "secondary"}
SLA_STATUS_LABELS = {"met": _l("Met"), "warning": _l("Warning"), "breached": _l("Breached"),
                     "no_data": _l("Not enough data")}
GRADE_TONES = {"major_nc": "danger", "minor_nc": "warning", "observation": "secondary",
               "improvement": "secondary", "good_practice": "success"}

_CENT = Decimal("0.01")


def local_day(moment: dt.datetime | None) -> dt.date | None:
    """A stored UTC time as the company's calendar day."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(company_zone()).date()


def comparator_symbol(comparator: str) -> str:
    return "≥" if comparator == Comparator.AT_LEAST else "≤"


def metric_label(metric: str):
    return METRICS[metric].label if metric in METRICS else metric


def stage_label(stage: str | None):
    return STAGE_LABELS.get(stage, stage) if stage else None


# The record both files are written from ------------------------------------------------------

@dataclass
class SlaCriterion:
    """One SLA of the snapshot as an audit criterion (and a process audited)."""

    series_id: int
    name: str
    metric: str
    stage: str | None
    comparator: str
    target: Decimal
    warning_threshold: Decimal | None
    owner: str
    results: list[AuditSlaResult] = field(default_factory=list)

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
        return conduct.format_level(self.target, self.metric)

    @property
    def unit(self) -> str:
        return METRICS[self.metric].unit if self.metric in METRICS else ""


@dataclass
class ChartBar:
    """One period of one SLA drawn as a bar on a 0–100 track, with the target as a mark."""

    label: str
    value_text: str
    target_text: str
    width: str
    target_at: str
    tone: str


@dataclass
class ActionLine:
    action: CorrectiveAction
    finding: Finding
    owner: str

    @property
    def effectiveness_text(self) -> str:
        a = self.action
        if a.effectiveness_result:
            return a.effectiveness_result
        if a.state == ActionStatus.CLOSED:
            return str(_l("Verified effective"))
        if a.state == ActionStatus.INEFFECTIVE:
            return str(_l("Verified not effective"))
        if a.effectiveness_method == EffectivenessMethod.SLA:
            return str(_l("To be verified on the SLA over %(n)d periods after acceptance",
                          n=a.effectiveness_periods))
        return str(_l("To be verified by the quality office"))


@dataclass
class AuditReportRecord:
    audit: Audit
    supplier: Supplier
    company_name: str
    lead_auditor: str | None
    auditors: list[AuditParticipant]
    auditees: list[AuditParticipant]
    observers: list[AuditParticipant]
    criteria: list[SlaCriterion]
    results: list[AuditSlaResult]
    findings_by_grade: list[tuple[str, list[Finding]]]
    good_practices: list[Finding]
    diverging: list[Finding]
    actions: list[ActionLine]
    checklist_title: str | None
    issued_by: str | None
    status_counts: Counter
    grade_counts: Counter

    @property
    def document_number(self) -> str:
        return f"AR-{self.audit.id}"

    @property
    def revision(self) -> str:
        return str(self.audit.snapshot_revision)

    @property
    def is_draft(self) -> bool:
        return not self.audit.is_issued

    @property
    def issued_on(self) -> dt.date:
        return local_day(self.audit.report_issued_at) or today()

    @property
    def findings(self) -> list[Finding]:
        return list(self.audit.findings)

    @property
    def measured_periods(self) -> int:
        return sum(n for status, n in self.status_counts.items() if status != "no_data")


def _names(ids: set[int]) -> dict[int, str]:
    from app.auth.models import User

    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def audit_report_record(audit: Audit) -> AuditReportRecord:
    """Everything the report and the workbook show. `audit` should come from
    `conduct.get_audit` (supplier, plan, results, participants, findings and actions loaded);
    the SLA versions and the people named are read in one query each."""
    supplier = audit.supplier
    results = sorted(audit.current_results(), key=lambda r: (r.name, r.series_id, r.period_start))
    standard_ids = {r.standard_id for r in results}
    if standard_ids:
        # Loaded into the session once, so `result.standard` below issues no query per row.
        list(db.session.scalars(select(ServiceStandard).where(ServiceStandard.id.in_(standard_ids))))
    criteria: dict[int, SlaCriterion] = {}
    for r in results:
        criterion = criteria.get(r.series_id)
        if criterion is None:
            standard = r.standard
            owner = (str(CHAIN_ROLE_LABELS.get(standard.chain_role, standard.chain_role))
                     if standard is not None and standard.chain_role else supplier.code)
            criterion = criteria[r.series_id] = SlaCriterion(
                series_id=r.series_id, name=r.name, metric=r.metric, stage=r.stage, comparator=r.comparator,
                target=r.target, warning_threshold=r.warning_threshold, owner=owner)
        # The latest period's target is the one in force at the end of the audit period.
        criterion.target, criterion.comparator = r.target, r.comparator
        criterion.results.append(r)

    plan = audit.plan
    lead = audit.lead_auditor or (plan.lead_auditor if plan is not None else None)
    participants = list(audit.participants)
    by_grade = {g.value: [] for g in FindingGrade}
    for finding in audit.findings:
        by_grade.setdefault(finding.grade, []).append(finding)
    action_lines = []
    for finding in audit.findings:
        for action in finding.actions:
            action_lines.append(ActionLine(action=action, finding=finding,
                                           owner=action.recipient_name or supplier.legal_name))
    names = _names({audit.report_issued_by_id})
    return AuditReportRecord(
        audit=audit, supplier=supplier, company_name=current_app.config.get("CATENA_COMPANY_NAME", "Catena"),
        lead_auditor=lead.name if lead is not None else None,
        auditors=[p for p in participants if p.role == "auditor"],
        auditees=[p for p in participants if p.role == "auditee"],
        observers=[p for p in participants if p.role == "observer"],
        criteria=list(criteria.values()), results=results,
        findings_by_grade=[(g.value, by_grade[g.value]) for g in GRADE_ORDER if by_grade[g.value]],
        good_practices=by_grade[FindingGrade.GOOD_PRACTICE.value],
        diverging=conduct.diverging_opinions(audit), actions=action_lines,
        checklist_title=(f"{audit.checklist_version.title} v{audit.checklist_version.number}"
                         if audit.checklist_version is not None else None),
        issued_by=names.get(audit.report_issued_by_id),
        status_counts=Counter(r.status for r in results),
        grade_counts=Counter(f.grade for f in audit.findings))


# The chart ------------------------------------------------------------------------------------

def _clamp(value: Decimal) -> str:
    return str(min(max(value, Decimal(0)), Decimal(100)).quantize(_CENT))


def chart_bars(criterion: SlaCriterion) -> list[ChartBar]:
    """The periods of one SLA as bars against its target. Rates are drawn on 0–100 %; hours on
    0 to 1.25 × the largest of the values and the target, so the target mark stays inside."""
    if criterion.unit == "rate":
        scale = Decimal(1)
    else:
        largest = max([Decimal(r.value) for r in criterion.results if r.value is not None]
                      + [Decimal(criterion.target)])
        scale = (largest * Decimal("1.25")) or Decimal(1)
    bars = []
    for r in criterion.results:
        width = _clamp(Decimal(r.value) / scale * 100) if r.value is not None else "0"
        bars.append(ChartBar(label=r.period_key, value_text=conduct.format_level(r.value, r.metric),
                             target_text=conduct.format_level(r.target, r.metric), width=width,
                             target_at=_clamp(Decimal(r.target) / scale * 100),
                             tone=STATUS_TONES.get(r.status, "secondary")))
    return bars


# PDF ------------------------------------------------------------------------------------------

def _locale_context(locale: str | None):
    return force_locale(locale) if locale else nullcontext()


def audit_report_pdf(audit: Audit, *, pdf_variant: str | None = None, locale: str | None = None,
                     uncompressed: bool = False) -> bytes:
    """The audit report as a controlled PDF. In a request it speaks the signed-in user's
    language (app.i18n.select_locale); `locale` forces one (commands, tests)."""
    with _locale_context(locale):
        record = audit_report_record(audit)
        document = pdf.ReportDocument(
            title=str(_l("Audit report (draft)") if record.is_draft else _l("Audit report")), number=record.document_number, revision=record.revision,
            issued_on=record.issued_on, subject=f"{record.supplier.code} — {record.supplier.legal_name}")
        return pdf.render_pdf(
            "reports/audit_report.html", document, pdf_variant=pdf_variant, uncompressed=uncompressed,
            record=record, grade_labels=FINDING_GRADE_LABELS, grade_tones=GRADE_TONES,
            status_labels=SLA_STATUS_LABELS, status_tones=STATUS_TONES, audit_status_labels=AUDIT_STATUS_LABELS,
            audit_type_labels=AUDIT_TYPE_LABELS, response_labels=AUDITEE_RESPONSE_LABELS,
            action_status_labels=ACTION_STATUS_LABELS,
            chain_role_labels=CHAIN_ROLE_LABELS, chart_bars=chart_bars, format_level=conduct.format_level,
            local_day=local_day)


# .xlsx ----------------------------------------------------------------------------------------

#: Characters a sheet name may not hold.
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def _sheet_title(index: int, name: str, taken: set[str]) -> str:
    title = f"{index} {_SHEET_FORBIDDEN.sub(' ', name)}".strip()[:31].rstrip("'")
    while title.lower() in taken:
        title = f"{index}-{title}"[:31]
    taken.add(title.lower())
    return title


def _label(labels, code):
    return None if code is None else str(labels.get(code, code))


def audit_workbook(audit: Audit, *, locale: str | None = None) -> bytes:
    """The audit as a workbook: "Summary" (the audit's facts and its findings counted by
    grade), one sheet per SLA (its periods: value, target, status, sample, penalty as numbers)
    and "Findings"."""
    with _locale_context(locale):
        return _audit_workbook(audit_report_record(audit))


def _audit_workbook(record: AuditReportRecord) -> bytes:
    audit, supplier = record.audit, record.supplier
    exported = dt.datetime.now(company_zone()).replace(tzinfo=None)
    heading = f"{_l('Audit report')} {record.document_number} — {supplier.code} {supplier.legal_name}"
    workbook = XlsxBook()
    summary = TableSheet(
        workbook, str(_l("Summary")), [Column(_l("Grade"), 34), Column(_l("Findings"), 12, "0")],
        heading=heading,
        facts=[
            (_l("Exported at"), exported),
            (_l("Document"), record.document_number),
            (_l("Revision"), audit.snapshot_revision),
            (_l("Status"), _label(AUDIT_STATUS_LABELS, audit.status)),
            (_l("Report issued"), local_day(audit.report_issued_at)),
            (_l("Approved by"), record.issued_by),
            (_l("Audit client"), record.company_name),
            (_l("Supplier code"), supplier.code),
            (_l("Legal name"), supplier.legal_name),
            (_l("VAT / tax id"), supplier.vat_id),
            (_l("Audit plan"), audit.plan.name if audit.plan is not None else None),
            (_l("Audit type"), _label(AUDIT_TYPE_LABELS, audit.audit_type)),
            (_l("Period from"), audit.period_start),
            (_l("Period to"), audit.period_end),
            (_l("Planned date"), audit.planned_date),
            (_l("Started on"), audit.started_on),
            (_l("Ended on"), audit.ended_on),
            (_l("Location"), audit.location),
            (_l("Lead auditor"), record.lead_auditor),
            (_l("SLAs audited"), len(record.criteria)),
            (_l("Periods met"), record.status_counts.get("met", 0)),
            (_l("Periods with a warning"), record.status_counts.get("warning", 0)),
            (_l("Periods breached"), record.status_counts.get("breached", 0)),
            (_l("Periods without enough data"), record.status_counts.get("no_data", 0)),
            (_l("Unresolved diverging opinions"), len(record.diverging)),
        ])
    for grade in FindingGrade:
        summary.append([str(FINDING_GRADE_LABELS[grade]), record.grade_counts.get(grade.value, 0)])
    summary.append([str(_l("Total")), sum(record.grade_counts.values())])
    summary.close()

    taken = {str(_l("Summary")).lower(), str(_l("Findings")).lower()}
    for index, criterion in enumerate(record.criteria, start=1):
        value_format = "0.00%" if criterion.unit == "rate" else "0.00"
        sheet = TableSheet(
            workbook, _sheet_title(index, criterion.name, taken),
            [Column(_l("Period"), 12), Column(_l("From"), 12, DATE_FORMAT), Column(_l("To"), 12, DATE_FORMAT),
             Column(_l("Value"), 12, value_format), Column(_l("Comparator"), 11), Column(_l("Target"), 12, value_format),
             Column(_l("Warning threshold"), 16, value_format), Column(_l("Status"), 16),
             Column(_l("Sample"), 10, "0"), Column(_l("Penalty"), 12, "#,##0.00")],
            heading=f"{criterion.name} — {criterion.metric_label}",
            facts=[(_l("Metric"), criterion.metric_label), (_l("Stage"), criterion.stage_label),
                   (_l("Agreed by"), criterion.owner),
                   (_l("Unit"), str(_l("fraction 0–1 (shown as %)")) if criterion.unit == "rate"
                    else str(_l("hours")))])
        for r in criterion.results:
            sheet.append([r.period_key, r.period_start, r.period_end, r.value, criterion.symbol, r.target,
                          r.warning_threshold, _label(SLA_STATUS_LABELS, r.status), r.sample_size,
                          Decimal(r.penalty).quantize(_CENT)])
        sheet.close()

    findings = TableSheet(
        workbook, str(_l("Findings")),
        [Column(_l("Finding"), 9), Column(_l("Grade"), 26), Column(_l("Criterion"), 36, wrap=True),
         Column(_l("What was found"), 50, wrap=True), Column(_l("Evidence"), 36, wrap=True),
         Column(_l("Auditee's response"), 22), Column(_l("Auditee's comment"), 36, wrap=True),
         Column(_l("Corrective actions"), 30, wrap=True), Column(_l("Recorded on"), 12, DATE_FORMAT)],
        heading=heading, facts=[(_l("Exported at"), exported)])
    for f in record.findings:
        actions = "; ".join(f"{a} ({_label(ACTION_STATUS_LABELS, a.status)})" for a in f.actions)
        findings.append([str(f), _label(FINDING_GRADE_LABELS, f.grade), f.criterion, f.statement, f.evidence,
                         _label(AUDITEE_RESPONSE_LABELS, f.auditee_response), f.auditee_comment, actions or None,
                         local_day(f.created_at)])
    findings.close()
    return workbook_bytes(workbook)
