"""What leaves Catena about questionnaires as a file: the completed questionnaire as a PDF
record and as an .xlsx workbook, and the list of assignments as .xlsx.

Both files of one questionnaire are built from the same `QuestionnaireRecord`, so the PDF and
the workbook never disagree about a score, an answer or whether a question was shown. Scores
are those of `scoring` (README glossary: questionnaire score); times are shown in the
company's time zone (CATENA_TIMEZONE).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.auth.models import User
from app.db import db
from app.i18n import company_zone, today
from questionnaires.models import (
    ASSIGNMENT_STATUS_LABELS,
    DECISION_LABELS,
    EVENT_LABELS,
    PURPOSE_LABELS,
    QUESTION_TYPE_LABELS,
    RESULT_LABELS,
    Answer,
    Assignment,
    AssignmentEvent,
    Question,
    QuestionnaireTemplate,
    QuestionType,
    TemplateVersion,
)
from questionnaires.services import assignments as assignment_service
from questionnaires.services.assignment_lists import AssignmentFilters
from questionnaires.services import scoring
from questionnaires.services.question_types import kind_of
from reports import pdf
from reports.xlsx import DATE_FORMAT, DATETIME_FORMAT, Column, TableSheet, XlsxBook, workbook_bytes
from suppliers.models import Supplier

#: Colour of a result's badge and bar (the word goes with it).
RESULT_TONES = {scoring.PASS: "success", scoring.CONDITIONAL: "warning", scoring.FAIL: "danger",
                scoring.KNOCKED_OUT: "danger"}


_CENT = Decimal("0.01")


def _local(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored UTC time as the company's local wall-clock time, naive (as Excel wants it)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(company_zone()).replace(tzinfo=None)


def _cents(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(_CENT, rounding=ROUND_HALF_UP)


# The record both files are written from ------------------------------------------------------

@dataclass
class AnswerLine:
    """One question of the completed questionnaire, with its answer and its review."""

    question: Question
    score: scoring.QuestionScore
    #: The answer as a reader sees it: option labels, number with unit, file names.
    text: str
    #: The answer as data: a Decimal for numbers, a date for dates, the stored value otherwise.
    value: Any
    file_names: list[str] = field(default_factory=list)
    reviewer_comment: str | None = None
    clarification_request: str | None = None

    @property
    def type_label(self):
        return QUESTION_TYPE_LABELS.get(QuestionType(self.question.type), self.question.type)


@dataclass
class SectionLines:
    score: scoring.SectionScore
    lines: list[AnswerLine]

    @property
    def title(self) -> str:
        return self.score.section.title


@dataclass
class EventLine:
    at: dt.datetime
    kind: str
    label: Any
    actor: str | None
    note: str | None


@dataclass
class QuestionnaireRecord:
    assignment: Assignment
    supplier: Supplier
    version: TemplateVersion
    card: scoring.Scorecard
    sections: list[SectionLines]
    events: list[EventLine]
    decided_by: str | None

    @property
    def result(self) -> str:
        """The result of the questionnaire's answers as they stand (as at its last submission)."""
        return self.assignment.result or self.card.result

    @property
    def document_number(self) -> str:
        return f"QA-{self.assignment.id}"

    def _lines(self) -> Iterator[AnswerLine]:
        return (line for section in self.sections for line in section.lines)

    @property
    def knockout_lines(self) -> list[AnswerLine]:
        return [line for line in self._lines() if line.score.knocked_out]

    @property
    def missing_lines(self) -> list[AnswerLine]:
        return [line for line in self._lines() if line.score.missing]


def _typed_value(question: Question, value: Any) -> Any:
    if value is None:
        return None
    if question.type == QuestionType.NUMBER:
        try:
            return Decimal(str(value))
        except ArithmeticError:
            return str(value)
    if question.type == QuestionType.DATE:
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return value


def _user_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def questionnaire_record(assignment: Assignment) -> QuestionnaireRecord:
    """Everything the completed questionnaire shows, scored as the scoring rules say.

    `assignment` should come from `assignments.get_assignment` (versions, answers, files and
    events loaded); users named in the history are read in one query.
    """
    card = assignment_service.scorecard(assignment)
    answers: dict[int, Answer] = {a.question_id: a for a in assignment.answers}
    sections = []
    for section_score in card.sections:
        lines = []
        for item in section_score.questions:
            question = item.question
            answer = answers.get(question.id)
            value = answer.value if answer is not None else None
            files = [f.original_name for f in answer.files] if answer is not None else []
            text = ", ".join(files) if question.type == QuestionType.FILE else kind_of(question).display(question, value)
            lines.append(AnswerLine(
                question=question, score=item, text=text, value=_typed_value(question, value), file_names=files,
                reviewer_comment=answer.reviewer_comment if answer is not None else None,
                clarification_request=answer.clarification_request if answer is not None else None))
        sections.append(SectionLines(score=section_score, lines=lines))
    names = _user_names({e.actor_id for e in assignment.events if e.actor_id}
                        | ({assignment.decided_by_id} if assignment.decided_by_id else set()))
    events = [EventLine(at=e.at, kind=e.kind, label=EVENT_LABELS.get(e.kind, e.kind),
                        actor=names.get(e.actor_id) if e.actor_id else None, note=_event_note(e))
              for e in assignment.events]
    return QuestionnaireRecord(assignment=assignment, supplier=assignment.supplier,
                               version=assignment.template_version, card=card, sections=sections, events=events,
                               decided_by=names.get(assignment.decided_by_id))


def _event_note(event: AssignmentEvent) -> str | None:
    if event.kind == "decided" and event.note in DECISION_LABELS:
        return str(DECISION_LABELS[event.note])
    return event.note


# PDF ----------------------------------------------------------------------------------------

def bar_width(score: Decimal | None) -> str:
    """The filled length of a 0–100 score bar, as an SVG length (clamped, two decimals)."""
    if score is None:
        return "0"
    return str(min(max(Decimal(score), Decimal(0)), Decimal(100)).quantize(_CENT))


def questionnaire_pdf(assignment: Assignment, *, pdf_variant: str | None = None,
                      uncompressed: bool = False) -> bytes:
    """The completed questionnaire as a controlled PDF record (document number QA-<id>,
    revision = the answering round, issued today)."""
    record = questionnaire_record(assignment)
    document = pdf.ReportDocument(
        title=str(_l("Qualification questionnaire")), number=record.document_number,
        revision=str(assignment.round), issued_on=today(),
        subject=f"{record.supplier.code} — {record.supplier.legal_name}")
    return pdf.render_pdf("reports/questionnaire.html", document, pdf_variant=pdf_variant, uncompressed=uncompressed,
                          record=record, result_labels=RESULT_LABELS, result_tones=RESULT_TONES,
                          status_labels=ASSIGNMENT_STATUS_LABELS, decision_labels=DECISION_LABELS,
                          purpose_labels=PURPOSE_LABELS, bar_width=bar_width, local_time=_local)


# .xlsx --------------------------------------------------------------------------------------

def _label(labels: Mapping, code: str | None) -> str | None:
    if code is None:
        return None
    return str(labels.get(code, code))


def _yes_no(flag: bool) -> str:
    return str(_l("yes")) if flag else str(_l("no"))


def questionnaire_xlsx(assignment: Assignment) -> bytes:
    """The completed questionnaire as a workbook: "Summary" and "Answers" (one row per question)."""
    record = questionnaire_record(assignment)
    supplier, version, card = record.supplier, record.version, record.card
    exported = _local(dt.datetime.now(dt.timezone.utc))
    workbook = XlsxBook()

    summary = TableSheet(
        workbook, str(_l("Summary")),
        [Column(_l("Section"), 40), Column(_l("Score"), 12, "0.00"), Column(_l("Points"), 12, "0.00"),
         Column(_l("Counted weight"), 16, "0.00")],
        heading=f"{version.title} v{version.number} — {supplier.code} {supplier.legal_name}",
        facts=[
            (_l("Exported at"), exported),
            (_l("Document"), record.document_number),
            (_l("Supplier code"), supplier.code),
            (_l("Legal name"), supplier.legal_name),
            (_l("VAT / tax id"), supplier.vat_id),
            (_l("Questionnaire"), version.title),
            (_l("Version"), version.number),
            (_l("Purpose"), _label(PURPOSE_LABELS, assignment.purpose)),
            (_l("Status"), _label(ASSIGNMENT_STATUS_LABELS, assignment.status)),
            (_l("Round"), assignment.round),
            (_l("Recipient"), " ".join(p for p in (assignment.recipient_name,
                                                   f"<{assignment.recipient_email}>" if assignment.recipient_email
                                                   else None) if p) or None),
            (_l("Sent at"), _local(assignment.sent_at)),
            (_l("Due date"), assignment.due_date),
            (_l("Submitted at"), _local(assignment.submitted_at)),
            (_l("Score"), _cents(card.score)),
            (_l("Pass mark"), _cents(version.pass_mark)),
            (_l("Conditional pass from"), _cents(version.conditional_mark)),
            (_l("Result"), _label(RESULT_LABELS, record.result)),
            (_l("Decision"), _label(DECISION_LABELS, assignment.decision)),
            (_l("Reason"), assignment.decision_reason),
            (_l("Decided by"), record.decided_by),
            (_l("Decided at"), _local(assignment.decided_at)),
            (_l("Qualified until"), assignment.qualified_until),
            (_l("Times in"), str(company_zone())),
        ])
    for section in record.sections:
        summary.append([section.title, _cents(section.score.score), _cents(section.score.points),
                        _cents(section.score.weight)])
    summary.append([str(_l("Overall")), _cents(card.score), _cents(card.points), _cents(card.weight)])
    summary.close()

    answers = TableSheet(
        workbook, str(_l("Answers")),
        [Column(_l("Section"), 22), Column(_l("Key"), 14), Column(_l("Question"), 50, wrap=True),
         Column(_l("Type"), 16), Column(_l("Shown"), 9), Column(_l("Required"), 10),
         Column(_l("Weight"), 9, "0.00"), Column(_l("Answer"), 40, wrap=True), Column(_l("Answer value"), 18),
         Column(_l("Points"), 9, "0.00"), Column(_l("Knock-out"), 11), Column(_l("Missing"), 10),
         Column(_l("Reviewer's comment"), 40, wrap=True), Column(_l("Clarification request"), 40, wrap=True)],
        heading=f"{version.title} v{version.number} — {supplier.code} {supplier.legal_name}",
        facts=[(_l("Exported at"), exported), (_l("Document"), record.document_number)])
    for section in record.sections:
        for line in section.lines:
            item = line.score
            answers.append([
                section.title, line.question.key, line.question.text, str(line.type_label),
                _yes_no(item.shown), _yes_no(line.question.required), _cents(line.question.weight),
                line.text if item.shown else str(_l("not shown")),
                line.value if item.shown else None,
                _cents(item.points) if item.counted else None,
                _yes_no(item.knocked_out), _yes_no(item.missing),
                line.reviewer_comment, line.clarification_request,
            ])
    answers.close()
    return workbook_bytes(workbook)


# The list of assignments ----------------------------------------------------------------------

#: Filters of the assignment list export, as the list page names them in its query string.
FILTER_LABELS = {
    "statuses": _l("Status"),
    "supplier": _l("Supplier"),
    "template_id": _l("Questionnaire template"),
    "purpose": _l("Purpose"),
    "overdue_only": _l("Overdue only"),
    "due_after": _l("Due from"),
    "due_before": _l("Due until"),
}


def _filter_text(key: str, value: Any) -> Any:
    if key == "statuses":
        return ", ".join(_label(ASSIGNMENT_STATUS_LABELS, s) for s in value)
    if key == "purpose":
        return _label(PURPOSE_LABELS, value)
    if key == "overdue_only":
        return _yes_no(bool(value))
    if key == "template_id":
        template = db.session.get(QuestionnaireTemplate, value)
        return template.name if template is not None else str(value)
    return value


def assignments_xlsx(rows: Iterable[Assignment], filters: AssignmentFilters) -> bytes:
    """The assignment list as a workbook, the filters it was made with written above it.

    `rows`: assignments with `supplier` and `template_version` loaded (streamed is fine).
    """
    workbook = XlsxBook()
    facts: list[tuple[Any, Any]] = [(_l("Exported at"), _local(dt.datetime.now(dt.timezone.utc)))]
    active = [(k, v) for k, v in dataclasses.asdict(filters).items() if v not in (None, "", [], False)]
    if active:
        facts += [(f"{_l('Filter')}: {FILTER_LABELS.get(k, k)}", _filter_text(k, v)) for k, v in active]
    else:
        facts.append((_l("Filter"), str(_l("none (all assignments)"))))
    sheet = TableSheet(
        workbook, str(_l("Assignments")),
        [Column(_l("Assignment"), 12), Column(_l("Supplier code"), 14), Column(_l("Supplier"), 36),
         Column(_l("Questionnaire"), 34), Column(_l("Version"), 9), Column(_l("Purpose"), 16),
         Column(_l("Status"), 18), Column(_l("Score"), 9, "0.00"), Column(_l("Result"), 16),
         Column(_l("Due date"), 12, DATE_FORMAT), Column(_l("Submitted at"), 17, DATETIME_FORMAT),
         Column(_l("Decision"), 22), Column(_l("Qualified until"), 14, DATE_FORMAT)],
        heading=_l("Questionnaire assignments"), facts=facts)
    for assignment in rows:
        supplier, version = assignment.supplier, assignment.template_version
        sheet.append([
            assignment.id, supplier.code, supplier.legal_name, version.title, version.number,
            _label(PURPOSE_LABELS, assignment.purpose), _label(ASSIGNMENT_STATUS_LABELS, assignment.status),
            _cents(assignment.score), _label(RESULT_LABELS, assignment.result), assignment.due_date,
            _local(assignment.submitted_at), _label(DECISION_LABELS, assignment.decision),
            assignment.qualified_until,
        ])
    sheet.close()
    return workbook_bytes(workbook)
