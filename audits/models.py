"""SLA compliance audits (ISO 19011): the audit programme (plans on a recurrence), the audits
each firing creates exactly once, their SLA snapshot, findings, and the corrective actions
(SCAR) nonconformities open with suppliers.

Exactly once: an audit is unique per (plan, supplier, period start), and a firing of a plan is
unique per (plan, scheduled day). Both are inserted with INSERT … ON CONFLICT DO NOTHING, so
a second firing, a second scheduler process or a retry creates nothing (shared HOSTILE.md,
decision 1).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.changelog import ChangeLogged
from app.db import UTCDateTime, db, in_list, utcnow


class AuditType(StrEnum):
    REMOTE = "remote_sla_review"
    ON_SITE = "on_site"


AUDIT_TYPE_LABELS = {
    AuditType.REMOTE: _l("Remote SLA review"),
    AuditType.ON_SITE: _l("On-site audit with checklist"),
}


class Recurrence(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"
    CRON = "cron"


RECURRENCE_LABELS = {
    Recurrence.MONTHLY: _l("Monthly"),
    Recurrence.QUARTERLY: _l("Quarterly"),
    Recurrence.YEARLY: _l("Yearly"),
    Recurrence.CRON: _l("Cron expression"),
}


class PeriodBasis(StrEnum):
    """The period an audit covers, relative to the day the plan fires."""

    PREVIOUS_MONTH = "previous_month"
    PREVIOUS_QUARTER = "previous_quarter"
    PREVIOUS_YEAR = "previous_year"


PERIOD_BASIS_LABELS = {
    PeriodBasis.PREVIOUS_MONTH: _l("The previous calendar month"),
    PeriodBasis.PREVIOUS_QUARTER: _l("The previous calendar quarter"),
    PeriodBasis.PREVIOUS_YEAR: _l("The previous calendar year"),
}


class SupplierScope(StrEnum):
    #: The suppliers listed on the plan.
    LIST = "list"
    #: Every supplier matching the plan's rule at the moment it fires.
    RULE = "rule"


class AuditStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    REPORT_ISSUED = "report_issued"
    CLOSED = "closed"


AUDIT_STATUS_LABELS = {
    AuditStatus.PLANNED: _l("Planned"),
    AuditStatus.IN_PROGRESS: _l("In progress"),
    AuditStatus.REPORT_ISSUED: _l("Report issued"),
    AuditStatus.CLOSED: _l("Closed"),
}

AUDIT_TRANSITIONS = {
    AuditStatus.PLANNED: frozenset({AuditStatus.IN_PROGRESS}),
    AuditStatus.IN_PROGRESS: frozenset({AuditStatus.REPORT_ISSUED}),
    AuditStatus.REPORT_ISSUED: frozenset({AuditStatus.CLOSED}),
    AuditStatus.CLOSED: frozenset(),
}


class FindingGrade(StrEnum):
    MAJOR_NC = "major_nc"
    MINOR_NC = "minor_nc"
    OBSERVATION = "observation"
    IMPROVEMENT = "improvement"
    GOOD_PRACTICE = "good_practice"


FINDING_GRADE_LABELS = {
    FindingGrade.MAJOR_NC: _l("Major nonconformity"),
    FindingGrade.MINOR_NC: _l("Minor nonconformity"),
    FindingGrade.OBSERVATION: _l("Observation"),
    FindingGrade.IMPROVEMENT: _l("Opportunity for improvement"),
    FindingGrade.GOOD_PRACTICE: _l("Good practice"),
}

NONCONFORMITIES = frozenset({FindingGrade.MAJOR_NC, FindingGrade.MINOR_NC})


class AuditeeResponse(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    DIVERGING = "diverging"


AUDITEE_RESPONSE_LABELS = {
    AuditeeResponse.ACKNOWLEDGED: _l("Acknowledged by the auditee"),
    AuditeeResponse.DIVERGING: _l("Diverging opinion"),
}


class ActionStatus(StrEnum):
    #: Sent to the supplier; waiting for its answer.
    REQUESTED = "requested"
    #: The supplier answered (containment, root cause, action); the quality manager reviews.
    RESPONDED = "responded"
    #: Sent back to the supplier with what is missing.
    RETURNED = "returned"
    #: The plan is accepted; the action is carried out and its effectiveness awaited.
    ACCEPTED = "accepted"
    #: Verified effective: done.
    CLOSED = "closed"
    #: Verified not effective: a new action is needed (this one is kept as it was).
    INEFFECTIVE = "ineffective"


ACTION_STATUS_LABELS = {
    ActionStatus.REQUESTED: _l("Requested"),
    ActionStatus.RESPONDED: _l("Answered by the supplier"),
    ActionStatus.RETURNED: _l("Sent back"),
    ActionStatus.ACCEPTED: _l("Accepted, effectiveness pending"),
    ActionStatus.CLOSED: _l("Closed, effective"),
    ActionStatus.INEFFECTIVE: _l("Not effective"),
}

#: While in these statuses the supplier's link can change the answer.
ACTION_OPEN_FOR_SUPPLIER = frozenset({ActionStatus.REQUESTED, ActionStatus.RETURNED})
ACTION_FINAL = frozenset({ActionStatus.CLOSED, ActionStatus.INEFFECTIVE})


class EffectivenessMethod(StrEnum):
    #: The linked SLA must be met in the next N periods after acceptance (computed).
    SLA = "sla"
    #: A person verifies, with evidence.
    MANUAL = "manual"


audit_plan_suppliers = Table(
    "audit_plan_suppliers",
    db.metadata,
    Column("plan_id", ForeignKey("audit_plans.id", ondelete="CASCADE"), primary_key=True),
    Column("supplier_id", ForeignKey("suppliers.id"), primary_key=True),
)


class AuditPlan(ChangeLogged, db.Model):
    """A line of the audit programme: whom to audit, against what, how often, over which period."""

    __tablename__ = "audit_plans"
    __table_args__ = (
        CheckConstraint(in_list("audit_type", AuditType), name="audit_type"),
        CheckConstraint(in_list("recurrence", Recurrence), name="recurrence"),
        CheckConstraint(in_list("period_basis", PeriodBasis), name="period_basis"),
        CheckConstraint(in_list("supplier_scope", SupplierScope), name="supplier_scope"),
        CheckConstraint("day_of_month >= 1 AND day_of_month <= 28", name="day_of_month_range"),
        CheckConstraint("lead_time_days >= 0 AND lead_time_days <= 90", name="lead_time_range"),
    )
    __changelog_kind__ = _l("Audit plan")
    __changelog_labels__ = {
        "name": _l("Name"), "objectives": _l("Objectives"), "criteria": _l("Criteria"),
        "audit_type": _l("Audit type"), "recurrence": _l("Recurrence"), "cron": _l("Cron expression"),
        "day_of_month": _l("Day of the month"), "month": _l("Month"), "period_basis": _l("Period covered"),
        "supplier_scope": _l("Suppliers"), "rule": _l("Rule"), "metrics": _l("SLA metrics"),
        "risk_recurrence": _l("Recurrence by risk class"), "lead_auditor_id": _l("Lead auditor"),
        "lead_time_days": _l("Lead time (days)"), "starts_on": _l("Starts on"), "is_active": _l("Active"),
        "checklist_template_id": _l("Checklist"), "major_margin": _l("Major NC margin"),
    }
    __changelog_values__ = {"audit_type": AUDIT_TYPE_LABELS, "recurrence": RECURRENCE_LABELS,
                            "period_basis": PERIOD_BASIS_LABELS}
    __changelog_collections__ = ("suppliers",)
    __changelog_exclude__ = ("created_at", "version")

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    objectives: Mapped[str | None] = mapped_column(Text)
    #: The audit criteria in words (contract clauses, the SLAs, the checklist).
    criteria: Mapped[str | None] = mapped_column(Text)
    audit_type: Mapped[str] = mapped_column(String(24), default=AuditType.REMOTE.value)
    #: SLA metrics audited (codes of suppliers.metrics); empty = every SLA in force.
    metrics: Mapped[list | None] = mapped_column(JSON)
    #: On-site audits: the questionnaire template the auditor fills in (its published version
    #: at the time the audit is created).
    checklist_template_id: Mapped[int | None] = mapped_column(ForeignKey("questionnaire_templates.id"))
    supplier_scope: Mapped[str] = mapped_column(String(8), default=SupplierScope.RULE.value)
    #: With the rule scope: {"chain_roles": [...], "statuses": [...], "risk_classes": [...]};
    #: an empty list matches everything. Re-evaluated at every firing. Archived suppliers never match.
    rule: Mapped[dict | None] = mapped_column(JSON)
    recurrence: Mapped[str] = mapped_column(String(12), default=Recurrence.MONTHLY.value)
    #: Firing day for monthly, quarterly (first month of the quarter) and yearly plans.
    day_of_month: Mapped[int] = mapped_column(Integer, default=1)
    #: Yearly plans: the month (1–12) they fire in.
    month: Mapped[int | None] = mapped_column(Integer)
    #: Cron plans: a five-field crontab expression (minute and hour are ignored: plans fire per day).
    cron: Mapped[str | None] = mapped_column(String(100))
    #: A risk class may audit more often: {"critical": "monthly", "high": "monthly"}.
    risk_recurrence: Mapped[dict | None] = mapped_column(JSON)
    period_basis: Mapped[str] = mapped_column(String(20), default=PeriodBasis.PREVIOUS_MONTH.value)
    lead_auditor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Days between the firing and the planned audit date (notice given to the supplier).
    lead_time_days: Mapped[int] = mapped_column(Integer, default=7)
    #: Breached by more than this share of the target (e.g. 0.10 = 10 %) → major nonconformity.
    major_margin: Mapped[Decimal] = mapped_column(Numeric(6, 4), default=Decimal("0.10"))
    #: No firing before this day.
    starts_on: Mapped[dt.date] = mapped_column(Date)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    suppliers = relationship("Supplier", secondary=audit_plan_suppliers, order_by="Supplier.code")
    lead_auditor = relationship("User", foreign_keys=[lead_auditor_id])
    checklist_template = relationship("QuestionnaireTemplate")

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name


class AuditPlanFiring(db.Model):
    """One firing of a plan on one scheduled day: the record that it has been done, so that a
    catch-up after downtime fires each missed day once, and never a day twice."""

    __tablename__ = "audit_plan_firings"
    __table_args__ = (UniqueConstraint("plan_id", "scheduled_for"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("audit_plans.id", ondelete="CASCADE"))
    scheduled_for: Mapped[dt.date] = mapped_column(Date)
    fired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Audits this firing created (0 when all existed already or no supplier matched).
    audits_created: Mapped[int] = mapped_column(Integer, default=0)


class Audit(ChangeLogged, db.Model):
    __tablename__ = "audits"
    __table_args__ = (
        # Exactly once per plan, supplier and period, whoever fires it and how often.
        UniqueConstraint("plan_id", "supplier_id", "period_start", name="uq_audits_plan_supplier_period"),
        CheckConstraint(in_list("status", AuditStatus), name="status"),
        CheckConstraint(in_list("audit_type", AuditType), name="audit_type"),
        CheckConstraint("period_end >= period_start", name="period_order"),
        Index("ix_audits_status_planned", "status", "planned_date"),
        Index("ix_audits_supplier_period", "supplier_id", "period_start"),
    )
    __changelog_kind__ = _l("Audit")
    __changelog_labels__ = {
        "status": _l("Status"), "planned_date": _l("Planned date"), "lead_auditor_id": _l("Lead auditor"),
        "location": _l("Location"), "started_on": _l("Started on"), "ended_on": _l("Ended on"),
        "notes": _l("Notes"), "conclusions": _l("Conclusions"), "scope": _l("Scope"),
        "fulfilment": _l("Degree of fulfilment"),
    }
    __changelog_values__ = {"status": AUDIT_STATUS_LABELS}
    __changelog_exclude__ = ("created_at", "version", "snapshot_revision", "report_issued_at", "closed_at",
                             "report_issued_by_id", "closed_by_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Null for an audit added by hand outside the programme.
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("audit_plans.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    audit_type: Mapped[str] = mapped_column(String(24))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    #: The plan's firing day that created it.
    scheduled_for: Mapped[dt.date | None] = mapped_column(Date)
    planned_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=AuditStatus.PLANNED.value)
    lead_auditor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The checklist version the auditor fills in (on-site audits).
    checklist_version_id: Mapped[int | None] = mapped_column(ForeignKey("questionnaire_versions.id"))
    scope: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(300))
    started_on: Mapped[dt.date | None] = mapped_column(Date)
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    conclusions: Mapped[str | None] = mapped_column(Text)
    #: The statement of the degree to which the criteria are fulfilled (ISO 19011 §6.5.1).
    fulfilment: Mapped[str | None] = mapped_column(Text)
    #: The SLA snapshot revision in force (0 = not computed yet).
    snapshot_revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    report_issued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    report_issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    plan: Mapped[AuditPlan | None] = relationship()
    supplier = relationship("Supplier")
    lead_auditor = relationship("User", foreign_keys=[lead_auditor_id])
    report_issued_by = relationship("User", foreign_keys=[report_issued_by_id])
    closed_by = relationship("User", foreign_keys=[closed_by_id])
    checklist_version = relationship("TemplateVersion")
    results: Mapped[list[AuditSlaResult]] = relationship(
        back_populates="audit", order_by=lambda: [AuditSlaResult.revision, AuditSlaResult.id], cascade="all, delete-orphan")
    findings: Mapped[list[Finding]] = relationship(
        back_populates="audit", order_by="Finding.number", cascade="all, delete-orphan")
    participants: Mapped[list[AuditParticipant]] = relationship(
        back_populates="audit", order_by="AuditParticipant.id", cascade="all, delete-orphan")
    evidence: Mapped[list[AuditEvidence]] = relationship(
        back_populates="audit", order_by="AuditEvidence.id", cascade="all, delete-orphan")
    checklist_answers: Mapped[list[AuditChecklistAnswer]] = relationship(
        back_populates="audit", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return f"#{self.id}"

    def changelog_owner(self):
        return ("suppliers", self.supplier)

    @property
    def state(self) -> AuditStatus:
        return AuditStatus(self.status)

    def can_move_to(self, status: AuditStatus) -> bool:
        return status in AUDIT_TRANSITIONS[self.state]

    @property
    def is_issued(self) -> bool:
        return self.state in (AuditStatus.REPORT_ISSUED, AuditStatus.CLOSED)

    def current_results(self) -> list[AuditSlaResult]:
        return [r for r in self.results if r.revision == self.snapshot_revision]


class AuditSlaResult(db.Model):
    """One SLA measured over one period of the audit, frozen: later corrections of legs or
    incidents do not change it. A recompute before the report is issued writes a new revision."""

    __tablename__ = "audit_sla_results"
    __table_args__ = (Index("ix_audit_sla_results_audit_revision", "audit_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("audits.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The SLA version that applied (kept even if the SLA is revised later).
    standard_id: Mapped[int] = mapped_column(ForeignKey("service_standards.id"))
    #: The SLA's series, to find the same SLA in the previous audit.
    series_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(40))
    stage: Mapped[str | None] = mapped_column(String(32))
    period_key: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    value: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    sample_size: Mapped[int] = mapped_column(Integer)
    comparator: Mapped[str] = mapped_column(String(3))
    target: Mapped[Decimal] = mapped_column(Numeric(12, 6))
    warning_threshold: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    #: met, warning, breached, no_data
    status: Mapped[str] = mapped_column(String(10))
    penalty: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))

    audit: Mapped[Audit] = relationship(back_populates="results")
    standard = relationship("ServiceStandard")


class AuditParticipant(db.Model):
    __tablename__ = "audit_participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("audits.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str | None] = mapped_column(String(200))
    #: auditor, auditee, observer
    role: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))

    audit: Mapped[Audit] = relationship(back_populates="participants")


class AuditEvidence(db.Model):
    """A file kept as audit evidence (stored outside static, served as an attachment)."""

    __tablename__ = "audit_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("audits.id", ondelete="CASCADE"), index=True)
    description: Mapped[str | None] = mapped_column(String(500))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    audit: Mapped[Audit] = relationship(back_populates="evidence")


class AuditChecklistAnswer(db.Model):
    """The auditor's answer to one checklist question (a questionnaire template filled in on site)."""

    __tablename__ = "audit_checklist_answers"
    __table_args__ = (UniqueConstraint("audit_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("audits.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_questions.id"))
    #: As questionnaires' Answer.value (see questionnaires.services.question_types).
    value: Mapped[object | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    audit: Mapped[Audit] = relationship(back_populates="checklist_answers")
    question = relationship("Question")


class Finding(ChangeLogged, db.Model):
    __tablename__ = "audit_findings"
    __table_args__ = (
        UniqueConstraint("audit_id", "number"),
        CheckConstraint(in_list("grade", FindingGrade), name="grade"),
        CheckConstraint(f"auditee_response IS NULL OR {in_list('auditee_response', AuditeeResponse)}",
                        name="auditee_response"),
    )
    __changelog_kind__ = _l("Finding")
    __changelog_labels__ = {"grade": _l("Grade"), "criterion": _l("Criterion"), "statement": _l("Finding"),
                            "evidence": _l("Evidence"), "auditee_response": _l("Auditee's response"),
                            "auditee_comment": _l("Auditee's comment")}
    __changelog_values__ = {"grade": FINDING_GRADE_LABELS, "auditee_response": AUDITEE_RESPONSE_LABELS}
    __changelog_exclude__ = ("created_at", "number", "proposed")

    id: Mapped[int] = mapped_column(primary_key=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("audits.id", ondelete="CASCADE"), index=True)
    #: 1, 2, … within the audit (shown as F1, F2).
    number: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(16))
    #: The criterion it refers to, in words ("SLA On-time delivery ≥ 95 %", "contract §4.2").
    criterion: Mapped[str] = mapped_column(String(500))
    statement: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)
    #: The SLA series it comes from, when proposed from the snapshot.
    series_id: Mapped[int | None] = mapped_column(Integer)
    #: Proposed automatically from the snapshot (the auditor may change or remove it).
    proposed: Mapped[bool] = mapped_column(Boolean, default=False)
    auditee_response: Mapped[str | None] = mapped_column(String(16))
    auditee_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    audit: Mapped[Audit] = relationship(back_populates="findings")
    created_by = relationship("User")
    actions: Mapped[list[CorrectiveAction]] = relationship(back_populates="finding", order_by="CorrectiveAction.id")

    def __str__(self) -> str:
        return f"F{self.number}"

    def changelog_owner(self):
        return ("audits", self.audit)

    @property
    def is_nonconformity(self) -> bool:
        return FindingGrade(self.grade) in NONCONFORMITIES


class CorrectiveAction(ChangeLogged, db.Model):
    """A corrective action request (SCAR) to the supplier for one nonconformity, answered
    through a private link (the same rules as the questionnaire portal), reviewed, and closed
    only after its effectiveness is verified."""

    __tablename__ = "corrective_actions"
    __table_args__ = (
        CheckConstraint(in_list("status", ActionStatus), name="status"),
        CheckConstraint(in_list("effectiveness_method", EffectivenessMethod), name="effectiveness_method"),
        Index("ix_corrective_actions_status_due", "status", "due_date"),
    )
    __changelog_kind__ = _l("Corrective action")
    __changelog_labels__ = {
        "status": _l("Status"), "due_date": _l("Due date"), "containment": _l("Containment"),
        "root_cause": _l("Root cause"), "action_plan": _l("Corrective action"),
        "action_due_date": _l("Action due"), "review_note": _l("Review note"),
        "effectiveness_result": _l("Effectiveness"),
    }
    __changelog_values__ = {"status": ACTION_STATUS_LABELS}
    __changelog_exclude__ = ("token_nonce", "token_hash", "token_prefix", "created_at", "version", "expires_at",
                             "revoked_at", "responded_at", "escalated_at", "consequence_applied_at",
                             "reminded_due_at", "why_analysis")

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("audit_findings.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=ActionStatus.REQUESTED.value)
    #: When the supplier's answer (containment, root cause, plan) is due.
    due_date: Mapped[dt.date] = mapped_column(Date)
    request_text: Mapped[str | None] = mapped_column(Text)
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    recipient_email: Mapped[str | None] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(5), default="en")
    # The link, as questionnaires.services.assignments: HMAC(SECRET_KEY, nonce), hash stored.
    token_nonce: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(12))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The supplier's answer.
    containment: Mapped[str | None] = mapped_column(Text)
    #: Five whys (list of up to five strings) or 8D fields ({"d1": …, "d8": …}).
    why_analysis: Mapped[dict | None] = mapped_column(JSON)
    root_cause: Mapped[str | None] = mapped_column(Text)
    action_plan: Mapped[str | None] = mapped_column(Text)
    action_due_date: Mapped[dt.date | None] = mapped_column(Date)
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The review.
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Effectiveness.
    effectiveness_method: Mapped[str] = mapped_column(String(8), default=EffectivenessMethod.SLA.value)
    #: SLA method: the periods after acceptance in which the linked SLA must be met.
    effectiveness_periods: Mapped[int] = mapped_column(Integer, default=2)
    #: The SLA series checked (from the finding), when the method is SLA.
    series_id: Mapped[int | None] = mapped_column(Integer)
    effectiveness_result: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Escalation: each happens once.
    reminded_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    consequence_applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    finding: Mapped[Finding] = relationship(back_populates="actions")
    supplier = relationship("Supplier")
    reviewed_by = relationship("User", foreign_keys=[reviewed_by_id])
    verified_by = relationship("User", foreign_keys=[verified_by_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    files: Mapped[list[CorrectiveActionFile]] = relationship(
        back_populates="action", order_by="CorrectiveActionFile.id", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return f"CA-{self.id}"

    def changelog_owner(self):
        return ("suppliers", self.supplier)

    @property
    def state(self) -> ActionStatus:
        return ActionStatus(self.status)

    def is_open_for_supplier(self, now: dt.datetime) -> bool:
        return self.state in ACTION_OPEN_FOR_SUPPLIER and self.revoked_at is None and now < self.expires_at

    def is_overdue(self, today: dt.date) -> bool:
        return self.state in ACTION_OPEN_FOR_SUPPLIER and self.due_date < today


class CorrectiveActionFile(db.Model):
    """Evidence the supplier attaches to its answer."""

    __tablename__ = "corrective_action_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("corrective_actions.id", ondelete="CASCADE"), index=True)
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    action: Mapped[CorrectiveAction] = relationship(back_populates="files")


class AuditEvent(db.Model):
    """What happened to an audit or a corrective action, who did it and when (the history)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    audit_id: Mapped[int | None] = mapped_column(ForeignKey("audits.id", ondelete="CASCADE"), index=True)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("corrective_actions.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)

    actor = relationship("User")
