"""Qualification questionnaires: templates in versions, assignments sent to suppliers through a
private link, their answers, the review and the decision.

A template (`QuestionnaireTemplate`) is the family a quality manager thinks of ("Carrier
qualification"); what is built, published and sent is one of its versions
(`TemplateVersion`). A published version is frozen: editing it makes a new draft version, and
an assignment keeps pointing at the version it was sent with, so what a supplier answered can
always be shown with the questions it was asked.

A question's options are stored as JSON on the question (`[{"value", "label", "score",
"knockout"}]`), as is the scoring rule of a number question (`{"bands": [{"min", "max",
"score", "knockout"}]}`): they are read and written with the question, never queried on
their own, and a frozen version never changes them.
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
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.changelog import ChangeLogged
from app.db import UTCDateTime, db, in_list, utcnow


class VersionStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    #: Replaced by a newer published version: still shown for the assignments sent with it.
    RETIRED = "retired"


VERSION_STATUS_LABELS = {
    VersionStatus.DRAFT: _l("Draft"),
    VersionStatus.PUBLISHED: _l("Published"),
    VersionStatus.RETIRED: _l("Retired"),
}


class QuestionType(StrEnum):
    YES_NO = "yes_no"
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    SCALE = "scale"
    NUMBER = "number"
    SHORT_TEXT = "short_text"
    LONG_TEXT = "long_text"
    DATE = "date"
    FILE = "file"


QUESTION_TYPE_LABELS = {
    QuestionType.YES_NO: _l("Yes / no"),
    QuestionType.SINGLE_CHOICE: _l("Single choice"),
    QuestionType.MULTIPLE_CHOICE: _l("Multiple choice"),
    QuestionType.SCALE: _l("Scale 1–5"),
    QuestionType.NUMBER: _l("Number"),
    QuestionType.SHORT_TEXT: _l("Short text"),
    QuestionType.LONG_TEXT: _l("Long text"),
    QuestionType.DATE: _l("Date"),
    QuestionType.FILE: _l("File evidence"),
}

#: Types whose answer is one of the question's options (scored and knocked out per option).
OPTION_TYPES = frozenset({QuestionType.YES_NO, QuestionType.SINGLE_CHOICE,
                          QuestionType.MULTIPLE_CHOICE, QuestionType.SCALE})


class AssignmentStatus(StrEnum):
    #: Link sent, nothing saved yet.
    SENT = "sent"
    #: The supplier saved a draft.
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    #: The reviewer sent chosen questions back; the link reopens just those.
    CLARIFICATION = "clarification"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    #: Withdrawn by the quality office before a decision.
    CANCELLED = "cancelled"


ASSIGNMENT_STATUS_LABELS = {
    AssignmentStatus.SENT: _l("Sent"),
    AssignmentStatus.IN_PROGRESS: _l("In progress"),
    AssignmentStatus.SUBMITTED: _l("Submitted"),
    AssignmentStatus.CLARIFICATION: _l("Clarification requested"),
    AssignmentStatus.ACCEPTED: _l("Accepted"),
    AssignmentStatus.REJECTED: _l("Rejected"),
    AssignmentStatus.CANCELLED: _l("Cancelled"),
}

#: While in these statuses the supplier's link can still change answers.
OPEN_FOR_SUPPLIER = frozenset({AssignmentStatus.SENT, AssignmentStatus.IN_PROGRESS,
                               AssignmentStatus.CLARIFICATION})
#: Statuses after which nothing changes any more.
FINAL_STATUSES = frozenset({AssignmentStatus.ACCEPTED, AssignmentStatus.REJECTED,
                            AssignmentStatus.CANCELLED})


class Decision(StrEnum):
    """The reviewer's decision and the supplier status it sets."""

    APPROVED = "approved"
    CONDITIONALLY_APPROVED = "conditionally_approved"
    REJECTED = "rejected"


DECISION_LABELS = {
    Decision.APPROVED: _l("Approved"),
    Decision.CONDITIONALLY_APPROVED: _l("Conditionally approved"),
    Decision.REJECTED: _l("Rejected"),
}

#: Decision → supplier status (codes of suppliers.models.SupplierStatus).
DECISION_STATUS = {
    Decision.APPROVED: "approved",
    Decision.CONDITIONALLY_APPROVED: "conditionally_approved",
    Decision.REJECTED: "disqualified",
}


#: Outcome of the scoring at submission (questionnaires.services.scoring).
RESULT_LABELS = {
    "pass": _l("Pass"),
    "conditional": _l("Conditional pass"),
    "fail": _l("Fail"),
    "knocked_out": _l("Knocked out"),
}

#: What an AssignmentEvent records, in words.
EVENT_LABELS = {
    "sent": _l("Sent"),
    "link_renewed": _l("Link renewed"),
    "link_revoked": _l("Link revoked"),
    "saved": _l("Draft saved"),
    "submitted": _l("Submitted"),
    "resubmitted": _l("Resubmitted"),
    "commented": _l("Reviewer's comment"),
    "clarification_requested": _l("Sent back for clarification"),
    "reminded_due": _l("Reminder sent"),
    "reminded_overdue": _l("Overdue reminder sent"),
    "decided": _l("Decided"),
    "cancelled": _l("Cancelled"),
}


class AssignmentPurpose(StrEnum):
    INITIAL = "initial"
    REQUALIFICATION = "requalification"


PURPOSE_LABELS = {
    AssignmentPurpose.INITIAL: _l("Qualification"),
    AssignmentPurpose.REQUALIFICATION: _l("Requalification"),
}


class QuestionnaireTemplate(ChangeLogged, db.Model):
    """A questionnaire as the quality office names it; its content lives in its versions."""

    __tablename__ = "questionnaire_templates"
    __changelog_kind__ = _l("Questionnaire template")
    __changelog_labels__ = {"name": _l("Name"), "description": _l("Description")}
    __changelog_exclude__ = ("created_at",)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    versions: Mapped[list[TemplateVersion]] = relationship(
        back_populates="template", order_by="TemplateVersion.number", cascade="all, delete-orphan")
    created_by = relationship("User")

    def __str__(self) -> str:
        return self.name

    @property
    def latest(self) -> TemplateVersion | None:
        return self.versions[-1] if self.versions else None

    @property
    def published(self) -> TemplateVersion | None:
        """The version new assignments are sent with."""
        return next((v for v in reversed(self.versions) if v.status == VersionStatus.PUBLISHED), None)

    @property
    def draft(self) -> TemplateVersion | None:
        return next((v for v in self.versions if v.status == VersionStatus.DRAFT), None)


class TemplateVersion(ChangeLogged, db.Model):
    """One version of a template: its sections, questions and marks. Frozen once published."""

    __tablename__ = "questionnaire_versions"
    __table_args__ = (
        UniqueConstraint("template_id", "number"),
        CheckConstraint(in_list("status", VersionStatus), name="status"),
        CheckConstraint("pass_mark >= 0 AND pass_mark <= 100", name="pass_mark_range"),
        CheckConstraint("conditional_mark >= 0 AND conditional_mark <= pass_mark", name="conditional_mark_range"),
        CheckConstraint("validity_months >= 1 AND validity_months <= 120", name="validity_range"),
        # At most one draft per template: editing a published version makes *the* draft.
        Index("uq_questionnaire_versions_one_draft", "template_id", unique=True,
              sqlite_where=text("status = 'draft'"), postgresql_where=text("status = 'draft'")),
    )
    __changelog_kind__ = _l("Questionnaire version")
    __changelog_labels__ = {
        "title": _l("Title"), "introduction": _l("Introduction"), "status": _l("Status"),
        "pass_mark": _l("Pass mark"), "conditional_mark": _l("Conditional pass from"),
        "validity_months": _l("Validity (months)"),
    }
    __changelog_values__ = {"status": VERSION_STATUS_LABELS}
    __changelog_exclude__ = ("created_at", "published_at", "published_by_id", "number")

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_templates.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=VersionStatus.DRAFT.value)
    #: What the supplier sees as the questionnaire's title.
    title: Mapped[str] = mapped_column(String(200))
    #: Shown to the supplier above the first section.
    introduction: Mapped[str | None] = mapped_column(Text)
    #: Overall score (0–100) from which the questionnaire passes.
    pass_mark: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("70"))
    #: Scores from here up to the pass mark pass conditionally.
    conditional_mark: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("50"))
    #: How long a qualification decided on this version holds.
    validity_months: Mapped[int] = mapped_column(Integer, default=12)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    template: Mapped[QuestionnaireTemplate] = relationship(back_populates="versions")
    sections: Mapped[list[Section]] = relationship(
        back_populates="version", order_by="Section.position", cascade="all, delete-orphan")
    created_by = relationship("User", foreign_keys=[created_by_id])
    published_by = relationship("User", foreign_keys=[published_by_id])

    def __str__(self) -> str:
        return f"{self.title} v{self.number}"

    def changelog_owner(self):
        return ("questionnaire_templates", self.template)

    @property
    def is_frozen(self) -> bool:
        return self.status != VersionStatus.DRAFT

    def questions(self) -> list[Question]:
        return [q for s in self.sections for q in s.questions]


class Section(db.Model):
    __tablename__ = "questionnaire_sections"
    __table_args__ = (UniqueConstraint("version_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id"), index=True)
    #: 1-based order within the version.
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)

    version: Mapped[TemplateVersion] = relationship(back_populates="sections")
    questions: Mapped[list[Question]] = relationship(
        back_populates="section", order_by="Question.position", cascade="all, delete-orphan")

    def __str__(self) -> str:
        return self.title


class Question(db.Model):
    __tablename__ = "questionnaire_questions"
    __table_args__ = (
        UniqueConstraint("section_id", "position"),
        # Conditions and imports refer to a question by its key, unique within the version.
        UniqueConstraint("version_id", "key"),
        CheckConstraint(in_list("type", QuestionType), name="type"),
        CheckConstraint("weight >= 0", name="weight_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Denormalised from the section, for the unique key and for version-wide lookups.
    version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id"), index=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_sections.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    #: Short stable reference ("Q7", "insurance_cover"), kept across versions.
    key: Mapped[str] = mapped_column(String(60))
    text: Mapped[str] = mapped_column(Text)
    help_text: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(20))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Relative weight in the section and overall score; 0 = asked but not scored.
    weight: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=Decimal("1"))
    #: Choice types: [{"value", "label", "score", "knockout"}] (see the module docstring).
    options: Mapped[list | None] = mapped_column(JSON)
    #: Number questions: {"bands": [{"min", "max", "score", "knockout"}]}; min inclusive, max exclusive.
    scoring: Mapped[dict | None] = mapped_column(JSON)
    #: Number questions: the unit shown beside the field and the accepted range.
    unit: Mapped[str | None] = mapped_column(String(40))
    min_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    max_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    #: File questions: how many files may be attached (at least one when required).
    max_files: Mapped[int | None] = mapped_column(Integer)
    #: Shown only when the question with this key (earlier in the version) has one of these answers.
    condition_key: Mapped[str | None] = mapped_column(String(60))
    condition_values: Mapped[list | None] = mapped_column(JSON)

    section: Mapped[Section] = relationship(back_populates="questions")

    def __str__(self) -> str:
        return f"{self.key}: {self.text[:60]}"

    @property
    def kind(self) -> QuestionType:
        return QuestionType(self.type)

    @property
    def is_conditional(self) -> bool:
        return bool(self.condition_key)

    @property
    def is_knockout(self) -> bool:
        if self.kind in OPTION_TYPES:
            return any(o.get("knockout") for o in self.options or ())
        if self.kind == QuestionType.NUMBER:
            return any(b.get("knockout") for b in (self.scoring or {}).get("bands", ()))
        return False

    def option_label(self, value) -> str:
        for option in self.options or ():
            if option.get("value") == value:
                return option.get("label") or str(value)
        return str(value)


class Assignment(ChangeLogged, db.Model):
    """One template version sent to one supplier: its private link, answers, review and decision."""

    __tablename__ = "questionnaire_assignments"
    __table_args__ = (
        CheckConstraint(in_list("status", AssignmentStatus), name="status"),
        CheckConstraint(in_list("purpose", AssignmentPurpose), name="purpose"),
        CheckConstraint(f"decision IS NULL OR {in_list('decision', Decision)}", name="decision"),
        Index("ix_questionnaire_assignments_status_due", "status", "due_date"),
    )
    __changelog_kind__ = _l("Questionnaire assignment")
    __changelog_labels__ = {
        "status": _l("Status"), "due_date": _l("Due date"), "decision": _l("Decision"),
        "decision_reason": _l("Reason"), "qualified_until": _l("Qualified until"),
        "recipient_email": _l("Recipient"),
    }
    __changelog_values__ = {"status": ASSIGNMENT_STATUS_LABELS, "decision": DECISION_LABELS}
    __changelog_exclude__ = (
        "token_nonce", "token_hash", "token_prefix", "created_at", "sent_at", "submitted_at", "version",
        "score", "result", "reminded_due_at", "reminded_overdue_at", "last_saved_at",
        "expires_at", "round", "decided_at", "decided_by_id", "revoked_at",
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20), default=AssignmentPurpose.INITIAL.value)
    status: Mapped[str] = mapped_column(String(20), default=AssignmentStatus.SENT.value)
    due_date: Mapped[dt.date] = mapped_column(Date)
    message: Mapped[str | None] = mapped_column(Text)
    #: Who the link was sent to (the supplier's contact at the time).
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    recipient_email: Mapped[str | None] = mapped_column(String(254))
    #: Language of the e-mail and the portal's first page (the supplier may switch).
    language: Mapped[str] = mapped_column(String(5), default="en")
    #: The link's secret is HMAC(SECRET_KEY, nonce): the database alone cannot rebuild it, yet
    #: reminders and clarification requests can carry the same link. Only its digest is looked up.
    token_nonce: Mapped[str] = mapped_column(String(64))
    #: SHA-256 hex digest of the link's secret.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(12))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_saved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: 1 for the first submission, +1 for each clarification round.
    round: Mapped[int] = mapped_column(Integer, default=1)
    #: Scoring at the last submission (0–100) and its outcome: pass, conditional, fail, knocked_out.
    score: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    result: Mapped[str | None] = mapped_column(String(20))
    decision: Mapped[str | None] = mapped_column(String(24))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    qualified_until: Mapped[dt.date | None] = mapped_column(Date)
    #: Reminders already sent, so the daily job sends each one once.
    reminded_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reminded_overdue_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Optimistic lock for the reviewer's pages (a second reviewer is told, not overwritten).
    version: Mapped[int] = mapped_column(Integer, default=1)

    template_version: Mapped[TemplateVersion] = relationship()
    supplier = relationship("Supplier")
    created_by = relationship("User", foreign_keys=[created_by_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])
    answers: Mapped[list[Answer]] = relationship(back_populates="assignment", cascade="all, delete-orphan")
    events: Mapped[list[AssignmentEvent]] = relationship(
        back_populates="assignment", order_by="AssignmentEvent.id", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return f"#{self.id}"

    def changelog_owner(self):
        return ("suppliers", self.supplier)

    @property
    def state(self) -> AssignmentStatus:
        return AssignmentStatus(self.status)

    def is_open_for_supplier(self, now: dt.datetime) -> bool:
        return (self.state in OPEN_FOR_SUPPLIER and self.revoked_at is None and now < self.expires_at)

    def answer_for(self, question_id: int) -> Answer | None:
        return next((a for a in self.answers if a.question_id == question_id), None)


class Answer(db.Model):
    """The supplier's answer to one question, with the reviewer's comment on it."""

    __tablename__ = "questionnaire_answers"
    __table_args__ = (UniqueConstraint("assignment_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_assignments.id"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_questions.id"))
    #: yes_no, single choice and scale: the option value ("yes"/"no" for yes_no); multiple choice: a list of
    #: values; number: a decimal string; date: ISO date; texts: the text; file: null (see files).
    value: Mapped[object | None] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewer_comment: Mapped[str | None] = mapped_column(Text)
    #: Sent back for clarification in the current round: the portal reopens just these answers.
    needs_clarification: Mapped[bool] = mapped_column(Boolean, default=False)
    clarification_request: Mapped[str | None] = mapped_column(Text)

    assignment: Mapped[Assignment] = relationship(back_populates="answers")
    question: Mapped[Question] = relationship()
    files: Mapped[list[AnswerFile]] = relationship(
        back_populates="answer", order_by="AnswerFile.id", cascade="all, delete-orphan")


class AnswerFile(db.Model):
    """Evidence uploaded for a file question; stored outside static under a generated name."""

    __tablename__ = "questionnaire_answer_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_answers.id"), index=True)
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    original_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    answer: Mapped[Answer] = relationship(back_populates="files")


class AssignmentEvent(db.Model):
    """What happened to an assignment and who did it: sent, reminded, submitted, sent back,
    decided. The completed questionnaire's "who and when"."""

    __tablename__ = "questionnaire_assignment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_assignments.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: sent, link_renewed, saved, submitted, clarification_requested, reminded_due, reminded_overdue,
    #: decided, cancelled.
    kind: Mapped[str] = mapped_column(String(40))
    #: Null when the supplier (through the link) or the system acted.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)

    assignment: Mapped[Assignment] = relationship(back_populates="events")
    actor = relationship("User")
