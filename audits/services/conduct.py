"""Conducting an audit: its lifecycle, the frozen SLA snapshot, findings (proposed from the
snapshot and added by hand), the auditee's responses, participants, evidence, details and
the on-site checklist.

The rules, as a reader would check them:

- **Lifecycle.** planned → in_progress (`start`) → report_issued (`issue_report`) → closed
  (`close`); nothing else. Issuing needs a snapshot and both the conclusions and the statement
  of fulfilment. Once the report is issued the audit is frozen: no recompute, no finding,
  detail, participant, evidence, checklist or response changes.
- **Closing.** Every nonconformity (major or minor) must have at least one corrective action,
  every one of its actions must be final (closed or ineffective), and its latest action must
  be closed: an ineffective action counts only once a newer action replaced it and that one
  was verified effective.
- **Snapshot.** `compute_snapshot` measures every SLA in force for the supplier over the audit
  period (only the plan's metrics, if the plan lists any) and stores the results as revision
  n + 1, keeping the earlier revisions; the audit points to the newest. Legs corrected later
  change nothing already stored.
- **Proposed findings** (`propose_findings`), one per SLA series of the current revision, from
  its worst period: breached → minor nonconformity; breached beyond the plan's major margin
  (≥ target: value < target × (1 − margin); ≤ target: value > target × (1 + margin)), or
  breached also in the previous audit of the same supplier and plan (the audit with the latest
  earlier period start; audits without a plan follow other audits without a plan) →
  major nonconformity; warning → observation; met or not enough data → nothing. Margin 10 %
  when the audit has no plan.
- **Idempotent proposals.** A proposed finding is *untouched* while its `proposed` flag is set
  (any edit clears it), it has no auditee response and no corrective action. Proposing again
  updates untouched findings in place (same number), removes the untouched ones no longer
  warranted, and adds the missing ones; a series that already has a manual or edited finding
  gets no proposal.
- **Optimistic locking.** Operations on the audit record take `expected_version`: a page
  loaded before someone else's change gets Conflict and overwrites nothing.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from flask import current_app, render_template
from flask_babel import force_locale, format_decimal, format_percent
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from app import outbox
from app.changelog import attribute_changes
from app.db import db, utcnow
from app.errors import Conflict, ValidationFailed
from app.i18n import today as company_today
from app.pagination import Page, keyset_page
from app.uploads import discard_after_commit, remember_stored, store_upload
from audits.models import (
    ACTION_FINAL,
    ActionStatus,
    Audit,
    AuditChecklistAnswer,
    AuditeeResponse,
    AuditEvent,
    AuditEvidence,
    AuditParticipant,
    AuditSlaResult,
    AuditStatus,
    Finding,
    FindingGrade,
)
from questionnaires.models import QuestionType, TemplateVersion
from questionnaires.services import scoring
from questionnaires.services.question_types import AnswerError, kind_of
from suppliers.metrics import METRICS
from suppliers.models import Comparator, Contact
from suppliers.services import clean_text
from suppliers.services.measurement import supplier_results

DEFAULT_MAJOR_MARGIN = Decimal("0.10")
PARTICIPANT_ROLES = ("auditor", "auditee", "observer")
EVIDENCE_KINDS = ("pdf", "png", "jpeg")
#: Severity order of the statuses, worst first, to pick a series' worst period.
_STATUS_RANK = {"breached": 0, "warning": 1, "met": 2, "no_data": 3}
_MAX_TEXT = 10_000


# Loading and listing ---------------------------------------------------------------------

def get_audit(audit_id: int) -> Audit | None:
    """One audit with what its page shows, loaded in a bounded number of queries."""
    return db.session.scalar(
        select(Audit).where(Audit.id == audit_id)
        .options(joinedload(Audit.supplier), joinedload(Audit.plan), joinedload(Audit.lead_auditor),
                 selectinload(Audit.results), selectinload(Audit.participants), selectinload(Audit.evidence),
                 selectinload(Audit.findings).selectinload(Finding.actions),
                 selectinload(Audit.checklist_answers)))


@dataclass
class AuditFilters:
    plan_id: int | None = None
    supplier_code: str | None = None
    statuses: tuple[str, ...] = ()
    #: The month (its first day) that contains the audit period's start.
    period_month: dt.date | None = None


def audit_query(filters: AuditFilters):
    """The audits `filters` select, unordered (the list page and its exports share it)."""
    from suppliers.models import Supplier

    stmt = select(Audit)
    if filters.plan_id is not None:
        stmt = stmt.where(Audit.plan_id == filters.plan_id)
    if filters.supplier_code:
        stmt = stmt.join(Supplier, Supplier.id == Audit.supplier_id).where(
            Supplier.code == filters.supplier_code.strip().upper())
    if filters.statuses:
        stmt = stmt.where(Audit.status.in_(list(filters.statuses)))
    if filters.period_month is not None:
        first = filters.period_month.replace(day=1)
        following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        stmt = stmt.where(Audit.period_start >= first, Audit.period_start < following)
    return stmt


def list_audits(filters: AuditFilters, *, cursor: str | None, limit: int) -> Page:
    """Audits, latest period first, one keyset page at a time."""
    stmt = audit_query(filters).options(joinedload(Audit.supplier), joinedload(Audit.plan))
    return keyset_page(stmt, Audit.period_start, Audit.id, descending=True, cursor=cursor, limit=limit)


def finding_query(filters: AuditFilters, grades: tuple[str, ...] = ()):
    """The findings of the audits `filters` select, of the given grades (all when empty)."""
    stmt = select(Finding).where(Finding.audit_id.in_(audit_query(filters).with_only_columns(Audit.id)))
    if grades:
        stmt = stmt.where(Finding.grade.in_(list(grades)))
    return stmt


def history_of(audit: Audit) -> list[AuditEvent]:
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.audit_id == audit.id)
        .options(joinedload(AuditEvent.actor)).order_by(AuditEvent.id)))


# Shared checks ---------------------------------------------------------------------------

def _check_version(audit: Audit, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != audit.version:
        raise Conflict(_l("Someone else changed this audit meanwhile: reload the page to see it."), code="stale")


def _check_open(audit: Audit) -> None:
    if audit.is_issued:
        raise Conflict(_l("The report of this audit is issued: the audit can no longer be changed."),
                       code="audit_frozen")


def _event(audit: Audit, kind: str, actor, note: str | None = None) -> None:
    db.session.add(AuditEvent(audit_id=audit.id, kind=kind, actor_id=getattr(actor, "id", None), note=note,
                              at=utcnow()))


def _check_transition(audit: Audit, status: AuditStatus) -> None:
    if not audit.can_move_to(status):
        raise Conflict(_l("An audit that is “%(current)s” cannot become “%(wanted)s”.",
                          current=_status_label(audit.status), wanted=_status_label(status.value)),
                       code="illegal_transition")


def _move(audit: Audit, status: AuditStatus) -> None:
    _check_transition(audit, status)
    audit.status = status.value


def _status_label(status: str):
    from audits.models import AUDIT_STATUS_LABELS
    return AUDIT_STATUS_LABELS.get(AuditStatus(status), status)


# Lifecycle -------------------------------------------------------------------------------

def start(audit: Audit, actor, *, expected_version: int | None = None, today: dt.date | None = None) -> Audit:
    """planned → in_progress; the start date is today unless already recorded."""
    _check_version(audit, expected_version)
    _check_transition(audit, AuditStatus.IN_PROGRESS)
    attribute_changes(actor)
    _move(audit, AuditStatus.IN_PROGRESS)
    if audit.started_on is None:
        audit.started_on = today or company_today()
    _event(audit, "started", actor)
    db.session.flush()
    return audit


def issue_report(audit: Audit, actor, expected_version: int | None) -> Audit:
    """in_progress → report_issued. Needs a snapshot, the conclusions and the statement of
    fulfilment; freezes the audit, and mails the supplier's primary contact and the lead auditor."""
    _check_version(audit, expected_version)
    _check_transition(audit, AuditStatus.REPORT_ISSUED)
    errors = {}
    if not (audit.conclusions or "").strip():
        errors["conclusions"] = _l("Write the audit conclusions before issuing the report.")
    if not (audit.fulfilment or "").strip():
        errors["fulfilment"] = _l("State the degree to which the criteria are fulfilled before issuing the report.")
    if audit.snapshot_revision < 1:
        errors["snapshot"] = _l("Compute the SLA snapshot before issuing the report.")
    if errors:
        raise ValidationFailed(_l("The report was not issued: %(missing)s",
                                  missing=" ".join(str(m) for m in errors.values())),
                               code="report_incomplete", fields=errors)
    attribute_changes(actor, _l("Audit report issued"))
    _move(audit, AuditStatus.REPORT_ISSUED)
    audit.report_issued_at = utcnow()
    audit.report_issued_by_id = getattr(actor, "id", None)
    if audit.ended_on is None:
        audit.ended_on = company_today()
    _event(audit, "report_issued", actor, note=f"revision {audit.snapshot_revision}")
    db.session.flush()
    _mail_report_issued(audit)
    _requalify_after_major_nonconformity(audit, actor)
    return audit


def _requalify_after_major_nonconformity(audit: Audit, actor) -> None:
    """A major nonconformity puts the supplier's qualification in doubt (ISO 9001 8.4.1:
    re-evaluate external providers on their performance), so an issued report with one sends
    the requalification questionnaire now instead of at expiry. Nothing is sent when the
    supplier already has a questionnaire open or was never qualified through one."""
    majors = [f for f in audit.findings if f.grade == FindingGrade.MAJOR_NC.value]
    if not majors:
        return
    from questionnaires.services import reminders  # audits → questionnaires only at this hook

    reason = str(_l("Audit #%(id)s, for %(start)s to %(end)s, found a major nonconformity: "
                    "please answer the requalification questionnaire.",
                    id=audit.id, start=audit.period_start.isoformat(), end=audit.period_end.isoformat()))
    assignment = reminders.start_requalification(audit.supplier, reason, actor, today=company_today())
    if assignment is not None:
        _event(audit, "requalification_started", actor, note=f"#{assignment.id}")


def unclosed_nonconformities(audit: Audit) -> list[Finding]:
    """Nonconformities that keep the audit open: without a corrective action, with one not
    final, or whose latest action is not closed (an ineffective one needs a replacement)."""
    blocking = []
    for finding in audit.findings:
        if not finding.is_nonconformity:
            continue
        actions = sorted(finding.actions, key=lambda a: a.id)
        if not actions or any(a.state not in ACTION_FINAL for a in actions) \
                or actions[-1].state != ActionStatus.CLOSED:
            blocking.append(finding)
    return blocking


def close(audit: Audit, actor, expected_version: int | None) -> Audit:
    """report_issued → closed, once every nonconformity's corrective action is verified effective."""
    _check_version(audit, expected_version)
    _check_transition(audit, AuditStatus.CLOSED)
    blocking = unclosed_nonconformities(audit)
    if blocking:
        raise Conflict(_l("The audit cannot be closed while these nonconformities have no corrective action "
                          "verified effective: %(findings)s.", findings=", ".join(str(f) for f in blocking)),
                       code="nonconformities_open")
    attribute_changes(actor, _l("Audit closed"))
    _move(audit, AuditStatus.CLOSED)
    audit.closed_at = utcnow()
    audit.closed_by_id = getattr(actor, "id", None)
    _event(audit, "closed", actor)
    db.session.flush()
    return audit


def diverging_opinions(audit: Audit) -> list[Finding]:
    """Findings the auditee disagrees with: listed in the report as unresolved."""
    return [f for f in audit.findings if f.auditee_response == AuditeeResponse.DIVERGING.value]


# The SLA snapshot ------------------------------------------------------------------------

def compute_snapshot(audit: Audit, actor, now: dt.datetime | None = None, *,
                     expected_version: int | None = None) -> int:
    """Measure the supplier's SLAs over the audit period and store them as a new revision;
    returns the revision number. Refused once the report is issued (the snapshot is frozen)."""
    _check_version(audit, expected_version)
    if audit.is_issued:
        raise Conflict(_l("The report of this audit is issued: its SLA snapshot is frozen."), code="snapshot_frozen")
    wanted = set((audit.plan.metrics if audit.plan is not None else None) or ())
    results = supplier_results(audit.supplier, audit.period_start, audit.period_end, now=now)
    if wanted:
        results = [r for r in results if r.standard.metric in wanted]
    revision = audit.snapshot_revision + 1
    computed_at = now or utcnow()
    for r in results:
        standard = r.standard
        audit.results.append(AuditSlaResult(
            revision=revision, computed_at=computed_at, standard_id=standard.id,
            series_id=standard.series_id or standard.id, name=standard.name, metric=standard.metric,
            stage=standard.stage, period_key=r.period.key, period_start=r.period.start, period_end=r.period.end,
            value=r.value, sample_size=r.sample_size, comparator=standard.comparator, target=standard.target,
            warning_threshold=standard.warning_threshold, status=r.status, penalty=r.penalty))
    attribute_changes(actor)
    audit.snapshot_revision = revision
    _event(audit, "snapshot", actor, note=f"revision {revision}: {len(results)}")
    db.session.flush()
    return revision


@dataclass
class SnapshotDifference:
    series_id: int
    name: str
    metric: str
    period_key: str
    before: AuditSlaResult | None
    after: AuditSlaResult | None


def _result_key(r: AuditSlaResult) -> tuple[int, str]:
    return r.series_id, r.period_key


def snapshot_differences(audit: Audit) -> list[SnapshotDifference]:
    """What the last recompute changed: per SLA series and period, the value or status before
    and after (an SLA measured in one revision only has None on the other side)."""
    if audit.snapshot_revision < 2:
        return []
    before = {_result_key(r): r for r in audit.results if r.revision == audit.snapshot_revision - 1}
    after = {_result_key(r): r for r in audit.results if r.revision == audit.snapshot_revision}
    differences = []
    for key in sorted(set(before) | set(after), key=lambda k: (k[0], k[1])):
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None and old.value == new.value and old.status == new.status \
                and old.sample_size == new.sample_size:
            continue
        sample = new or old
        differences.append(SnapshotDifference(key[0], sample.name, sample.metric, key[1], old, new))
    return differences


# Proposed findings -------------------------------------------------------------------------

def format_level(value, metric: str) -> str:
    """A value or target as written in a finding: rates in %, durations in hours."""
    if value is None:
        return "—"
    unit = METRICS[metric].unit if metric in METRICS else ""
    if unit == "rate":
        return format_percent(value, "#,##0.0##%")
    if unit == "hours":
        return str(_l("%(hours)s h", hours=format_decimal(value, "#,##0.0#")))
    return format_decimal(value, "#,##0.0##")


def _beyond_margin(result: AuditSlaResult, margin: Decimal) -> bool:
    if result.value is None:
        return False
    target = Decimal(result.target)
    if result.comparator == Comparator.AT_LEAST:
        return Decimal(result.value) < target * (1 - margin)
    return Decimal(result.value) > target * (1 + margin)


def _previous_audit(audit: Audit) -> Audit | None:
    stmt = select(Audit).where(Audit.supplier_id == audit.supplier_id, Audit.id != audit.id,
                               Audit.period_start < audit.period_start)
    stmt = stmt.where(Audit.plan_id.is_(None) if audit.plan_id is None else Audit.plan_id == audit.plan_id)
    return db.session.scalar(stmt.order_by(Audit.period_start.desc(), Audit.id.desc()).limit(1))


def _breached_series(audit: Audit | None) -> set[int]:
    if audit is None or audit.snapshot_revision < 1:
        return set()
    return set(db.session.scalars(
        select(AuditSlaResult.series_id).where(AuditSlaResult.audit_id == audit.id,
                                               AuditSlaResult.revision == audit.snapshot_revision,
                                               AuditSlaResult.status == "breached")))


@dataclass
class ProposedFinding:
    series_id: int
    grade: FindingGrade
    criterion: str
    statement: str
    evidence: str


def _criterion(result: AuditSlaResult, audit: Audit) -> str:
    standard = result.standard
    owner = (standard.chain_role if standard is not None and standard.chain_role else audit.supplier.code)
    symbol = "≥" if result.comparator == Comparator.AT_LEAST else "≤"
    where = ", ".join(p for p in (owner, result.stage) if p)
    return str(_l("SLA “%(name)s” %(symbol)s %(target)s (%(where)s)", name=result.name, symbol=symbol,
                  target=format_level(result.target, result.metric), where=where))[:500]


def proposals_for(audit: Audit) -> list[ProposedFinding]:
    """The findings the current snapshot calls for, one per SLA series (see the module rules)."""
    margin = Decimal(audit.plan.major_margin) if audit.plan is not None and audit.plan.major_margin is not None \
        else DEFAULT_MAJOR_MARGIN
    by_series: dict[int, list[AuditSlaResult]] = defaultdict(list)
    for r in audit.current_results():
        by_series[r.series_id].append(r)
    previous = _previous_audit(audit)
    breached_before = _breached_series(previous)
    proposals = []
    for series_id, results in by_series.items():
        results.sort(key=lambda r: r.period_start)
        worst = min(results, key=lambda r: (_STATUS_RANK.get(r.status, 9), r.period_start))
        if worst.status == "breached":
            breached = [r for r in results if r.status == "breached"]
            reasons = []
            if any(_beyond_margin(r, margin) for r in breached):
                reasons.append(str(_l("breached by more than %(margin)s of the target",
                                      margin=format_percent(margin, "#,##0.##%"))))
            if series_id in breached_before:
                reasons.append(str(_l("breached also in the previous audit (#%(id)s, %(start)s – %(end)s)",
                                      id=previous.id, start=previous.period_start.isoformat(),
                                      end=previous.period_end.isoformat())))
            grade = FindingGrade.MAJOR_NC if reasons else FindingGrade.MINOR_NC
            shown = breached
        elif worst.status == "warning":
            grade, reasons, shown = FindingGrade.OBSERVATION, [], [r for r in results if r.status == "warning"]
        else:
            continue
        measured = "; ".join(
            str(_l("%(period)s: %(value)s over %(n)d measured", period=r.period_key,
                   value=format_level(r.value, r.metric), n=r.sample_size)) for r in shown)
        if grade == FindingGrade.OBSERVATION:
            statement = _l("The SLA was met but below its warning level (%(warning)s): %(measured)s.",
                           warning=format_level(worst.warning_threshold, worst.metric), measured=measured)
        else:
            statement = _l("The SLA was not met: %(measured)s.", measured=measured)
        statement = str(statement)
        if reasons:
            statement += " " + str(_l("Major: %(reasons)s.", reasons="; ".join(reasons)))
        evidence = str(_l("SLA snapshot revision %(revision)d of audit #%(id)s, period %(start)s – %(end)s.",
                          revision=audit.snapshot_revision, id=audit.id, start=audit.period_start.isoformat(),
                          end=audit.period_end.isoformat()))
        proposals.append(ProposedFinding(series_id, grade, _criterion(worst, audit), statement, evidence))
    return proposals


def is_untouched(finding: Finding) -> bool:
    """A proposed finding nobody has edited, answered or acted on: proposing again may replace it."""
    return finding.proposed and finding.auditee_response is None and not finding.actions


def propose_findings(audit: Audit, actor) -> dict[str, int]:
    """Propose findings from the current snapshot; idempotent. Returns counts added, updated, removed."""
    _check_open(audit)
    if audit.snapshot_revision < 1:
        raise Conflict(_l("Compute the SLA snapshot before proposing findings."), code="no_snapshot")
    proposals = {p.series_id: p for p in proposals_for(audit)}
    kept_series = {f.series_id for f in audit.findings if f.series_id is not None and not is_untouched(f)}
    untouched = {f.series_id: f for f in audit.findings if f.series_id is not None and is_untouched(f)}
    attribute_changes(actor, _l("Findings proposed from the SLA snapshot"))
    counts = {"added": 0, "updated": 0, "removed": 0}
    next_number = max((f.number for f in audit.findings), default=0) + 1
    for series_id, finding in untouched.items():
        proposal = proposals.get(series_id)
        if proposal is None or series_id in kept_series:
            audit.findings.remove(finding)
            counts["removed"] += 1
            continue
        new_values = (proposal.grade.value, proposal.criterion, proposal.statement, proposal.evidence)
        if (finding.grade, finding.criterion, finding.statement, finding.evidence) != new_values:
            finding.grade, finding.criterion, finding.statement, finding.evidence = new_values
            counts["updated"] += 1
    for series_id, proposal in proposals.items():
        if series_id in kept_series or series_id in untouched:
            continue
        audit.findings.append(Finding(
            number=next_number, grade=proposal.grade.value, criterion=proposal.criterion,
            statement=proposal.statement, evidence=proposal.evidence, series_id=series_id, proposed=True,
            created_by_id=getattr(actor, "id", None)))
        next_number += 1
        counts["added"] += 1
    _event(audit, "findings_proposed", actor,
           note=f"+{counts['added']} ~{counts['updated']} -{counts['removed']}")
    db.session.flush()
    return counts


# Findings by hand --------------------------------------------------------------------------

def _finding_values(values: dict) -> dict:
    errors = {}
    grade = values.get("grade")
    if grade not in {g.value for g in FindingGrade}:
        errors["grade"] = _l("Choose a grade.")
    criterion = clean_text(values.get("criterion"))
    if not criterion:
        errors["criterion"] = _l("Name the criterion the finding refers to.")
    elif len(criterion) > 500:
        errors["criterion"] = _l("Use at most %(n)d characters.", n=500)
    statement = clean_text(values.get("statement"), multiline=True)
    if not statement:
        errors["statement"] = _l("Describe the finding.")
    elif len(statement) > _MAX_TEXT:
        errors["statement"] = _l("Use at most %(n)d characters.", n=_MAX_TEXT)
    evidence = clean_text(values.get("evidence"), multiline=True)
    if evidence and len(evidence) > _MAX_TEXT:
        errors["evidence"] = _l("Use at most %(n)d characters.", n=_MAX_TEXT)
    if errors:
        raise ValidationFailed(_l("The finding was not saved."), code="invalid_finding", fields=errors)
    return {"grade": grade, "criterion": criterion, "statement": statement, "evidence": evidence}


def add_finding(audit: Audit, values: dict, actor) -> Finding:
    _check_open(audit)
    cleaned = _finding_values(values)
    attribute_changes(actor)
    number = max((f.number for f in audit.findings), default=0) + 1
    finding = Finding(number=number, proposed=False, created_by_id=getattr(actor, "id", None), **cleaned)
    audit.findings.append(finding)
    _event(audit, "finding_added", actor, note=f"F{number}")
    db.session.flush()
    return finding


def update_finding(finding: Finding, values: dict, actor) -> Finding:
    """Change a finding; a proposed one becomes the auditor's (proposing again leaves it alone)."""
    _check_open(finding.audit)
    cleaned = _finding_values(values)
    attribute_changes(actor)
    for name, value in cleaned.items():
        setattr(finding, name, value)
    finding.proposed = False
    db.session.flush()
    return finding


def remove_finding(finding: Finding, actor) -> None:
    audit = finding.audit
    _check_open(audit)
    if finding.actions:
        raise Conflict(_l("This finding has a corrective action: it cannot be removed."), code="finding_has_action")
    attribute_changes(actor)
    _event(audit, "finding_removed", actor, note=str(finding))
    audit.findings.remove(finding)
    db.session.flush()


def record_auditee_response(finding: Finding, response: str | None, comment: str | None, actor) -> Finding:
    """The auditee acknowledges the finding or states a diverging opinion (which needs a comment)."""
    _check_open(finding.audit)
    comment = clean_text(comment, multiline=True)
    if response not in {r.value for r in AuditeeResponse}:
        raise ValidationFailed(_l("The response was not recorded."), code="invalid_response",
                               fields={"response": _l("Choose acknowledged or diverging opinion.")})
    if response == AuditeeResponse.DIVERGING.value and not comment:
        raise ValidationFailed(_l("The response was not recorded."), code="comment_required",
                               fields={"comment": _l("Say what the auditee's diverging opinion is.")})
    if comment and len(comment) > _MAX_TEXT:
        raise ValidationFailed(_l("The response was not recorded."), code="invalid_response",
                               fields={"comment": _l("Use at most %(n)d characters.", n=_MAX_TEXT)})
    attribute_changes(actor)
    finding.auditee_response = response
    finding.auditee_comment = comment
    db.session.flush()
    return finding


# Details, participants, evidence ---------------------------------------------------------------

DETAIL_FIELDS = ("scope", "location", "planned_date", "started_on", "ended_on", "notes", "conclusions", "fulfilment")


def update_details(audit: Audit, values: dict, actor, expected_version: int | None) -> Audit:
    """Scope, location, dates, notes, conclusions and the statement of fulfilment."""
    _check_version(audit, expected_version)
    _check_open(audit)
    errors = {}
    cleaned = {}
    for name in ("scope", "notes", "conclusions", "fulfilment"):
        text = clean_text(values.get(name), multiline=True)
        if text and len(text) > _MAX_TEXT:
            errors[name] = _l("Use at most %(n)d characters.", n=_MAX_TEXT)
        cleaned[name] = text
    location = clean_text(values.get("location"))
    if location and len(location) > 300:
        errors["location"] = _l("Use at most %(n)d characters.", n=300)
    cleaned["location"] = location
    for name in ("planned_date", "started_on", "ended_on"):
        cleaned[name] = values.get(name)
    if cleaned["planned_date"] is None:
        errors["planned_date"] = _l("Give the planned date.")
    if cleaned["started_on"] and cleaned["ended_on"] and cleaned["ended_on"] < cleaned["started_on"]:
        errors["ended_on"] = _l("The audit cannot end before it started.")
    if errors:
        raise ValidationFailed(_l("The audit was not saved."), code="invalid_details", fields=errors)
    attribute_changes(actor)
    for name, value in cleaned.items():
        setattr(audit, name, value)
    db.session.flush()
    return audit


def add_participant(audit: Audit, values: dict, actor) -> AuditParticipant:
    _check_open(audit)
    errors = {}
    name = clean_text(values.get("name"))
    if not name:
        errors["name"] = _l("Give the participant's name.")
    elif len(name) > 200:
        errors["name"] = _l("Use at most %(n)d characters.", n=200)
    organisation = clean_text(values.get("organisation"))
    if organisation and len(organisation) > 200:
        errors["organisation"] = _l("Use at most %(n)d characters.", n=200)
    role = values.get("role")
    if role not in PARTICIPANT_ROLES:
        errors["role"] = _l("Choose auditor, auditee or observer.")
    email = clean_text(values.get("email"))
    if email and (len(email) > 254 or not outbox._ADDRESS.match(email)):
        errors["email"] = _l("Not a valid e-mail address.")
    if errors:
        raise ValidationFailed(_l("The participant was not added."), code="invalid_participant", fields=errors)
    participant = AuditParticipant(name=name, organisation=organisation, role=role, email=email)
    audit.participants.append(participant)
    _event(audit, "participant_added", actor, note=name)
    db.session.flush()
    return participant


def remove_participant(participant: AuditParticipant, actor) -> None:
    audit = participant.audit
    _check_open(audit)
    _event(audit, "participant_removed", actor, note=participant.name)
    audit.participants.remove(participant)
    db.session.flush()


def add_evidence(audit: Audit, file_storage, description: str | None, actor) -> AuditEvidence:
    """Store a PDF, PNG or JPEG as audit evidence; the file goes again if the unit rolls back."""
    _check_open(audit)
    description = clean_text(description)
    if description and len(description) > 500:
        raise ValidationFailed(_l("The file was not added."), code="invalid_evidence",
                               fields={"description": _l("Use at most %(n)d characters.", n=500)})
    if file_storage is None or not getattr(file_storage, "filename", None):
        raise ValidationFailed(_l("The file was not added."), code="file_required",
                               fields={"file": _l("Choose a file.")})
    limit = current_app.config.get("AUDIT_EVIDENCE_MAX_BYTES",
                                   current_app.config.get("QUESTIONNAIRE_FILE_MAX_BYTES", 10 * 1024 * 1024))
    stored = store_upload(file_storage, EVIDENCE_KINDS, limit, field="file")
    remember_stored(stored.stored_name)
    evidence = AuditEvidence(description=description, stored_name=stored.stored_name,
                             file_name=stored.original_name[:200], content_type=stored.content_type,
                             size_bytes=stored.size_bytes, added_by_id=getattr(actor, "id", None))
    audit.evidence.append(evidence)
    _event(audit, "evidence_added", actor, note=evidence.file_name)
    db.session.flush()
    return evidence


def remove_evidence(evidence: AuditEvidence, actor) -> None:
    audit = evidence.audit
    _check_open(audit)
    _event(audit, "evidence_removed", actor, note=evidence.file_name)
    discard_after_commit(evidence.stored_name)
    audit.evidence.remove(evidence)
    db.session.flush()


# The checklist -------------------------------------------------------------------------------

def checklist_questions(audit: Audit) -> list:
    """The checklist's questions the auditor answers here (file questions are evidence instead)."""
    version: TemplateVersion | None = audit.checklist_version
    if version is None:
        return []
    return [q for q in version.questions() if q.kind != QuestionType.FILE]


def checklist_values(audit: Audit) -> dict[int, object]:
    return {a.question_id: a.value for a in audit.checklist_answers}


def save_checklist(audit: Audit, form_values: dict[int, list[str]], notes: dict[int, str], actor
                   ) -> list[AuditChecklistAnswer]:
    """Parse and store the auditor's answers; errors come back per field `q<id>` (and
    `note<id>`), and then nothing is stored."""
    if audit.checklist_version_id is None:
        raise Conflict(_l("This audit has no checklist."), code="no_checklist")
    _check_open(audit)
    errors: dict[str, object] = {}
    parsed: dict[int, tuple[object, str | None]] = {}
    for question in checklist_questions(audit):
        raw = form_values.get(question.id) or []
        try:
            value = kind_of(question).parse(question, list(raw))
        except AnswerError as exc:
            errors[f"q{question.id}"] = exc.message
            continue
        note = clean_text(notes.get(question.id), multiline=True)
        if note and len(note) > _MAX_TEXT:
            errors[f"note{question.id}"] = _l("Use at most %(n)d characters.", n=_MAX_TEXT)
            continue
        parsed[question.id] = (value, note)
    if errors:
        raise ValidationFailed(_l("The checklist was not saved: correct the answers marked."),
                               code="invalid_answers", fields=errors)
    existing = {a.question_id: a for a in audit.checklist_answers}
    now = utcnow()
    saved = []
    for question_id, (value, note) in parsed.items():
        answer = existing.get(question_id)
        if answer is None:
            if value is None and note is None:
                continue
            answer = AuditChecklistAnswer(question_id=question_id)
            audit.checklist_answers.append(answer)
        if answer.value != value or answer.note != note:
            answer.value, answer.note, answer.updated_at = value, note, now
        saved.append(answer)
    _event(audit, "checklist_saved", actor)
    db.session.flush()
    return saved


def checklist_scorecard(audit: Audit) -> scoring.Scorecard | None:
    if audit.checklist_version is None:
        return None
    return scoring.score(audit.checklist_version, checklist_values(audit))


# Notifications ---------------------------------------------------------------------------------

def _primary_contact(audit: Audit) -> Contact | None:
    return db.session.scalar(
        select(Contact).where(Contact.supplier_id == audit.supplier_id, Contact.email.is_not(None))
        .order_by(Contact.is_primary.desc(), Contact.id).limit(1))


def _mail_report_issued(audit: Audit) -> None:
    """“Audit report issued” to the supplier's primary contact and to the lead auditor."""
    config = current_app.config
    recipients = []
    contact = _primary_contact(audit)
    if contact is not None:
        country = (audit.supplier.country or "").lower()
        language = country if country in config["LANGUAGES"] else config["BABEL_DEFAULT_LOCALE"]
        recipients.append((contact.email, contact.name, language, False))
    lead = audit.lead_auditor or (audit.plan.lead_auditor if audit.plan is not None else None)
    if lead is not None and lead.email:
        recipients.append((lead.email, lead.name, lead.locale or config["BABEL_DEFAULT_LOCALE"], True))
    diverging = diverging_opinions(audit)
    counts = defaultdict(int)
    for f in audit.findings:
        counts[f.grade] += 1
    for email, name, language, internal in recipients:
        with force_locale(language):
            company = config["CATENA_COMPANY_NAME"]
            body = render_template("emails/audits/report_issued.txt", audit=audit, name=name, company=company,
                                   internal=internal, counts=counts, diverging=diverging,
                                   format_level=format_level)
            subject = str(_l("%(company)s: audit report issued for %(supplier)s",
                             company=company, supplier=audit.supplier.legal_name))
        outbox.enqueue(email, subject.replace("\n", " ")[:200], body, kind="audit_report_issued")


def plans_for_filter() -> list:
    """(id, name) of every audit plan, for the list's filter."""
    from audits.models import AuditPlan
    return list(db.session.execute(select(AuditPlan.id, AuditPlan.name).order_by(AuditPlan.name, AuditPlan.id)))


def finding_of(audit: Audit, finding_id: int) -> Finding | None:
    return next((f for f in audit.findings if f.id == finding_id), None)


def participant_of(audit: Audit, participant_id: int) -> AuditParticipant | None:
    return next((p for p in audit.participants if p.id == participant_id), None)


def evidence_of(audit: Audit, evidence_id: int) -> AuditEvidence | None:
    return next((e for e in audit.evidence if e.id == evidence_id), None)
