"""Assignments: a published template version sent to one supplier, answered through a private
link, reviewed, sent back for clarification, and decided.

Life of an assignment::

    sent ─(draft saved)→ in_progress ─(submit)→ submitted ─(decide)→ accepted | rejected
      │                       │                   │  ↑
      │                       │                   ↓  │ (resubmit)
      └───────────────────────┴──(cancel)       clarification
                                  → cancelled

The link. Its secret is HMAC-SHA256(SECRET_KEY, nonce) with a fresh 256-bit random nonce per
link; only the nonce and the secret's SHA-256 digest are stored. A copy of the database alone
therefore opens nothing, yet reminders and clarification requests can carry the same link the
supplier already has. Renewing a link draws a new nonce, which kills the old one; revoking
stamps `revoked_at`. A link reaches one assignment: every lookup goes through its digest.

Every e-mail goes through the outbox, written in the same unit of work as the change it reports.
"""
from __future__ import annotations

import calendar
import datetime as dt
import logging
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import links, outbox
from app.changelog import attribute_changes
from app.db import db, utcnow
from app.errors import Conflict, ServiceError, ValidationFailed
from app.uploads import discard, discard_after_commit, remember_stored, store_upload
from questionnaires.models import (
    DECISION_STATUS,
    FINAL_STATUSES,
    Answer,
    AnswerFile,
    Assignment,
    AssignmentEvent,
    AssignmentPurpose,
    AssignmentStatus,
    Decision,
    Question,
    QuestionType,
    Section,
    TemplateVersion,
    VersionStatus,
)
from questionnaires.services import scoring
from questionnaires.services.question_types import AnswerError, kind_of
from suppliers.models import Contact, Supplier, SupplierStatus
from suppliers.services import change_status, clean_text

log = logging.getLogger(__name__)

#: The portal's path; the view serves `/q/<secret>`.
PORTAL_PATH = "/q/"
MAX_MESSAGE_LENGTH = 5000
MAX_COMMENT_LENGTH = 5000
#: Evidence files a supplier may upload (checked by content, not by name).
EVIDENCE_KINDS = ("pdf", "png", "jpeg")


class LinkClosed(ServiceError):
    """The link expired, was revoked, or its questionnaire is no longer open to the supplier."""

    status = 410
    code = "link_closed"


# The link ----------------------------------------------------------------------------------

#: The HMAC purpose of questionnaire links (see app.links).
LINK_PURPOSE = "questionnaire-link"


def _secret_for(nonce: str) -> str:
    return links.secret_for(nonce, LINK_PURPOSE)


def _new_link(assignment: Assignment) -> None:
    link = links.new_link(LINK_PURPOSE)
    assignment.token_nonce = link.nonce
    assignment.token_hash = link.digest
    assignment.token_prefix = link.prefix


def portal_url(assignment: Assignment) -> str:
    """The supplier's private link, absolute (it leaves the application in e-mails)."""
    return current_app.config["CATENA_BASE_URL"].rstrip("/") + PORTAL_PATH + _secret_for(assignment.token_nonce)


def assignment_for_token(secret: str | None) -> Assignment | None:
    """The assignment whose link carries `secret`, whatever its state; None when unknown."""
    digest = links.digest_of(secret)
    if digest is None:
        return None
    return db.session.scalar(
        select(Assignment).where(Assignment.token_hash == digest)
        .options(selectinload(Assignment.template_version).selectinload(TemplateVersion.sections)
                 .selectinload(Section.questions),
                 selectinload(Assignment.answers).selectinload(Answer.files),
                 selectinload(Assignment.supplier)))


def _link_expiry(due_date: dt.date) -> dt.datetime:
    """The end of the grace period after the due date, at midnight in the company's zone."""
    return links.link_expiry(due_date, current_app.config["QUESTIONNAIRE_LINK_GRACE_DAYS"])


def record_event(assignment: Assignment, kind: str, actor=None, note: str | None = None) -> None:
    assignment.events.append(AssignmentEvent(kind=kind, actor_id=getattr(actor, "id", None), note=note,
                                             at=utcnow()))


def mail_recipient(assignment: Assignment, template: str, subject, kind: str, **context) -> None:
    """Queue an e-mail to the assignment's recipient, in the assignment's language."""
    if not assignment.recipient_email:
        return
    with force_locale(assignment.language):
        company = current_app.config["CATENA_COMPANY_NAME"]
        body = render_template(f"emails/questionnaires/{template}.txt", assignment=assignment,
                               company=company, url=portal_url(assignment), **context)
        subject_text = f"{company}: {subject}"
    outbox.enqueue(assignment.recipient_email, subject_text.replace("\n", " ")[:200], body, kind=kind)


# Sending ------------------------------------------------------------------------------------

def _recipient(supplier: Supplier, contact: Contact | None) -> Contact | None:
    if contact is not None:
        return contact if contact.supplier_id == supplier.id else None
    return db.session.scalar(
        select(Contact).where(Contact.supplier_id == supplier.id, Contact.email.is_not(None))
        .order_by(Contact.is_primary.desc(), Contact.id).limit(1))


def send_assignment(version: TemplateVersion, supplier: Supplier, due_date: dt.date | None, actor, *,
                    today: dt.date, message: str | None = None, contact: Contact | None = None,
                    language: str | None = None,
                    purpose: str = AssignmentPurpose.INITIAL.value) -> Assignment:
    """Send `version` to `supplier`: an assignment, its link, and an e-mail to the contact.

    A prospect (or a disqualified supplier asked to qualify again) moves to "in qualification",
    with the reason in its history; a qualified supplier keeps its status until the decision.
    """
    errors: dict[str, Any] = {}
    if version is None or version.status != VersionStatus.PUBLISHED:
        errors["template"] = _l("Choose a published questionnaire.")
    if supplier is None:
        errors["supplier"] = _l("Choose a supplier.")
    elif supplier.is_archived:
        errors["supplier"] = _l("This supplier is archived.")
    if due_date is None:
        errors["due_date"] = _l("Give the due date.")
    elif due_date < today:
        errors["due_date"] = _l("The due date cannot be in the past.")
    elif due_date > today + dt.timedelta(days=365):
        errors["due_date"] = _l("The due date must be within a year.")
    message = clean_text(message, multiline=True)
    if message and len(message) > MAX_MESSAGE_LENGTH:
        errors["message"] = _l("Use at most %(n)d characters.", n=MAX_MESSAGE_LENGTH)
    languages = current_app.config["LANGUAGES"]
    if language and language not in languages:
        errors["language"] = _l("Unknown language.")
    recipient = None
    if supplier is not None and "supplier" not in errors:
        recipient = _recipient(supplier, contact)
        if recipient is None or not recipient.email:
            errors["contact"] = _l("The supplier needs a contact with an e-mail address to receive the link.")
    if errors:
        raise ValidationFailed(_l("The questionnaire was not sent."), code="invalid_assignment", fields=errors)
    already = db.session.scalar(
        select(Assignment.id).join(Assignment.template_version)
        .where(Assignment.supplier_id == supplier.id, TemplateVersion.template_id == version.template_id,
               Assignment.status.not_in([s.value for s in FINAL_STATUSES])).limit(1))
    if already is not None:
        raise Conflict(_l("This supplier already has this questionnaire open (assignment #%(id)s).", id=already),
                       code="assignment_open")
    attribute_changes(actor, _l("Questionnaire sent"))
    assignment = Assignment(
        version_id=version.id, supplier_id=supplier.id, purpose=purpose, due_date=due_date, message=message,
        recipient_name=recipient.name, recipient_email=recipient.email,
        language=language or current_app.config["BABEL_DEFAULT_LOCALE"],
        expires_at=_link_expiry(due_date), created_by_id=getattr(actor, "id", None), sent_at=utcnow(),
        status=AssignmentStatus.SENT.value)
    assignment.template_version = version
    assignment.supplier = supplier
    _new_link(assignment)
    record_event(assignment, "sent", actor, recipient.email)
    db.session.add(assignment)
    db.session.flush()
    if supplier.status in (SupplierStatus.PROSPECT, SupplierStatus.DISQUALIFIED):
        change_status(supplier, SupplierStatus.IN_QUALIFICATION.value,
                      str(_l("Qualification questionnaire “%(title)s” sent (assignment #%(id)s).",
                             title=version.title, id=assignment.id)), actor, today=today)
    mail_recipient(assignment, "sent", _l("qualification questionnaire"), kind="questionnaire_sent")
    db.session.flush()
    return assignment


def renew_link(assignment: Assignment, actor, *, today: dt.date, due_date: dt.date | None = None,
               expected_version: int | None = None) -> Assignment:
    """A new link (the old one stops working), optionally with a new due date, mailed again."""
    _check_version(assignment, expected_version)
    if assignment.state in FINAL_STATUSES or assignment.state == AssignmentStatus.SUBMITTED:
        raise Conflict(_l("This questionnaire is not waiting for the supplier."), code="not_open")
    if due_date is not None:
        if due_date < today or due_date > today + dt.timedelta(days=365):
            raise ValidationFailed(_l("The link was not renewed."), code="invalid_due_date",
                                   fields={"due_date": _l("The due date must be between today and a year from now.")})
        assignment.due_date = due_date
        assignment.reminded_due_at = assignment.reminded_overdue_at = None
    attribute_changes(actor, _l("Link renewed"))
    _new_link(assignment)
    assignment.revoked_at = None
    assignment.expires_at = max(_link_expiry(assignment.due_date), _link_expiry(today))
    record_event(assignment, "link_renewed", actor)
    mail_recipient(assignment, "sent", _l("qualification questionnaire"), kind="questionnaire_sent")
    db.session.flush()
    return assignment


def revoke_link(assignment: Assignment, actor, *, expected_version: int | None = None) -> Assignment:
    """Stop the link working at once (a wrong recipient, a leak); renew it to reopen."""
    _check_version(assignment, expected_version)
    if assignment.revoked_at is not None:
        return assignment
    assignment.revoked_at = utcnow()
    record_event(assignment, "link_revoked", actor)
    db.session.flush()
    return assignment


def cancel(assignment: Assignment, reason: str | None, actor, *, expected_version: int | None = None) -> Assignment:
    _check_version(assignment, expected_version)
    if assignment.state in FINAL_STATUSES:
        raise Conflict(_l("This questionnaire is already closed."), code="closed")
    reason = clean_text(reason, multiline=True)
    if not reason:
        raise ValidationFailed(_l("Give the reason."), code="reason_required", fields={"reason": _l("Give the reason.")})
    attribute_changes(actor, reason)
    assignment.status = AssignmentStatus.CANCELLED.value
    assignment.revoked_at = assignment.revoked_at or utcnow()
    record_event(assignment, "cancelled", actor, reason)
    db.session.flush()
    return assignment


# The supplier's side -----------------------------------------------------------------------

def editable_question_ids(assignment: Assignment) -> set[int]:
    """Questions the supplier may change now: all while answering, the ones sent back during a
    clarification round, none otherwise."""
    if assignment.state in (AssignmentStatus.SENT, AssignmentStatus.IN_PROGRESS):
        return {q.id for q in assignment.template_version.questions()}
    if assignment.state == AssignmentStatus.CLARIFICATION:
        return {a.question_id for a in assignment.answers if a.needs_clarification}
    return set()


def current_values(assignment: Assignment) -> tuple[dict[int, Any], dict[int, int]]:
    """Stored answers as (question id → value, question id → number of files)."""
    values = {a.question_id: a.value for a in assignment.answers}
    files = {a.question_id: len(a.files) for a in assignment.answers}
    return values, files


def scorecard(assignment: Assignment) -> scoring.Scorecard:
    values, files = current_values(assignment)
    return scoring.score(assignment.template_version, values, files)


def _answer(assignment: Assignment, question: Question) -> Answer:
    answer = assignment.answer_for(question.id)
    if answer is None:
        answer = Answer(question_id=question.id, question=question)
        assignment.answers.append(answer)
    return answer


def save_answers(assignment: Assignment, form_values: dict[int, list[str]], uploads: dict[int, list] | None = None,
                 remove_files: set[int] | None = None, *, submit: bool) -> scoring.Scorecard:
    """Store the supplier's answers (a draft, or the submission when `submit`).

    `form_values` maps question ids to the form's values; `uploads` question ids to uploaded
    files; `remove_files` names AnswerFile ids to drop. Only questions the supplier may change
    now are read; anything else in the request (other ids, a status, a score) is ignored.
    Nothing is stored unless every value is valid — and, to submit, every shown required
    question is answered. Files stored before a refusal are removed again.
    """
    now = utcnow()
    if not assignment.is_open_for_supplier(now):
        raise LinkClosed(_l("This questionnaire can no longer be changed through this link."))
    uploads = uploads or {}
    editable = editable_question_ids(assignment)
    questions = {q.id: q for q in assignment.template_version.questions()}
    values, file_counts = current_values(assignment)
    errors: dict[str, Any] = {}
    for question_id in editable:
        question = questions[question_id]
        try:
            values[question_id] = kind_of(question).parse(question, form_values.get(question_id, []))
        except AnswerError as exc:
            errors[f"q{question_id}"] = exc.message
    # Files: removals first (only this assignment's, only editable questions), then uploads.
    removing = []
    for answer in assignment.answers:
        for stored in answer.files:
            if stored.id in (remove_files or ()) and answer.question_id in editable:
                removing.append((answer, stored))
                file_counts[answer.question_id] -= 1
    for question_id, files in uploads.items():
        files = [f for f in files if f and f.filename]
        if not files or question_id not in editable or questions[question_id].kind != QuestionType.FILE:
            continue
        limit = questions[question_id].max_files or 1
        if file_counts.get(question_id, 0) + len(files) > limit:
            errors[f"q{question_id}"] = _l("Attach at most %(n)d files here.", n=limit)
        else:
            file_counts[question_id] = file_counts.get(question_id, 0) + len(files)
    card = scoring.score(assignment.template_version, values, file_counts)
    if submit:
        for item in card.missing:
            # Only what the supplier may change now can be asked of them.
            if item.question.id in editable:
                errors.setdefault(f"q{item.question.id}", _l("This question needs an answer."))
    if errors:
        raise ValidationFailed(_l("Your answers were not saved: please check the marked questions."),
                               code="invalid_answers", fields=errors)
    stored_now: list[str] = []
    try:
        for question_id, files in uploads.items():
            files = [f for f in files if f and f.filename]
            if not files or question_id not in editable or questions[question_id].kind != QuestionType.FILE:
                continue
            answer = _answer(assignment, questions[question_id])
            for file_storage in files:
                stored = store_upload(file_storage, EVIDENCE_KINDS,
                                      current_app.config["QUESTIONNAIRE_FILE_MAX_BYTES"], field=f"q{question_id}")
                stored_now.append(stored.stored_name)
                remember_stored(stored.stored_name)
                answer.files.append(AnswerFile(stored_name=stored.stored_name, original_name=stored.original_name,
                                               content_type=stored.content_type, size_bytes=stored.size_bytes))
                answer.updated_at = now
    except ValidationFailed:
        for name in stored_now:
            discard(name)
        raise
    for answer, stored in removing:
        answer.files.remove(stored)
        answer.updated_at = now
    for question_id in editable:
        answer = assignment.answer_for(question_id)
        if answer is None and values.get(question_id) is None:
            continue
        answer = answer or _answer(assignment, questions[question_id])
        if answer.value != values.get(question_id):
            answer.value = values.get(question_id)
            answer.updated_at = now
    assignment.last_saved_at = now
    if submit:
        _submit(assignment, card, now)
    elif assignment.state == AssignmentStatus.SENT:
        assignment.status = AssignmentStatus.IN_PROGRESS.value
    db.session.flush()
    # Files of removed rows go once the unit commits; a rollback keeps them with their rows.
    for _, stored in removing:
        discard_after_commit(stored.stored_name)
    return card


def _submit(assignment: Assignment, card: scoring.Scorecard, now: dt.datetime) -> None:
    resubmission = assignment.state == AssignmentStatus.CLARIFICATION
    for answer in assignment.answers:
        answer.needs_clarification = False
    assignment.status = AssignmentStatus.SUBMITTED.value
    assignment.submitted_at = now
    assignment.score = card.score
    assignment.result = card.result
    record_event(assignment, "resubmitted" if resubmission else "submitted", None,
           f"{card.score if card.score is not None else '—'} / {card.result}")
    _notify_reviewer(assignment)


def _notify_reviewer(assignment: Assignment) -> None:
    reviewer = assignment.created_by
    if reviewer is None or not getattr(reviewer, "email", None) or not getattr(reviewer, "is_active", True):
        return
    with force_locale(getattr(reviewer, "locale", None) or current_app.config["BABEL_DEFAULT_LOCALE"]):
        body = render_template("emails/questionnaires/submitted.txt", assignment=assignment,
                               company=current_app.config["CATENA_COMPANY_NAME"],
                               url=current_app.config["CATENA_BASE_URL"].rstrip("/")
                               + f"/questionnaires/assignments/{assignment.id}")
        subject = str(_l("Questionnaire answered: %(supplier)s", supplier=assignment.supplier.legal_name))
    outbox.enqueue(reviewer.email, subject.replace("\n", " ")[:200], body, kind="questionnaire_submitted")


def file_of(assignment: Assignment, file_id: int) -> AnswerFile | None:
    """An evidence file of this assignment (None for another assignment's file)."""
    return db.session.scalar(
        select(AnswerFile).join(AnswerFile.answer)
        .where(AnswerFile.id == file_id, Answer.assignment_id == assignment.id))


# The reviewer's side -----------------------------------------------------------------------

def _check_version(assignment: Assignment, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != assignment.version:
        raise Conflict(_l("Someone else changed this questionnaire meanwhile: reload the page to see it."),
                       code="stale")


def comment(assignment: Assignment, question: Question, text: str | None, actor, *,
            expected_version: int | None = None) -> Answer:
    """The reviewer's comment on one answer (empty clears it)."""
    _check_version(assignment, expected_version)
    if assignment.state in FINAL_STATUSES:
        raise Conflict(_l("This questionnaire is already closed."), code="closed")
    if question.version_id != assignment.version_id:
        raise ValidationFailed(_l("This question is not part of the questionnaire."), code="unknown_question")
    text = clean_text(text, multiline=True)
    if text and len(text) > MAX_COMMENT_LENGTH:
        raise ValidationFailed(_l("The comment was not saved."), code="invalid_comment",
                               fields={"comment": _l("Use at most %(n)d characters.", n=MAX_COMMENT_LENGTH)})
    answer = _answer(assignment, question)
    answer.reviewer_comment = text
    record_event(assignment, "commented", actor, question.key)
    db.session.flush()
    return answer


def request_clarification(assignment: Assignment, requests: dict[int, str], actor, *, today: dt.date,
                          expected_version: int | None = None) -> Assignment:
    """Send chosen questions back: the link reopens just those, and the supplier is mailed.

    `requests` maps question ids to what the reviewer asks (required for each)."""
    _check_version(assignment, expected_version)
    if assignment.state != AssignmentStatus.SUBMITTED:
        raise Conflict(_l("Only a submitted questionnaire can be sent back."), code="not_submitted")
    questions = {q.id: q for q in assignment.template_version.questions()}
    errors: dict[str, Any] = {}
    cleaned: dict[int, str] = {}
    for question_id, text in (requests or {}).items():
        if question_id not in questions:
            raise ValidationFailed(_l("This question is not part of the questionnaire."), code="unknown_question")
        text = clean_text(text, multiline=True)
        if not text:
            errors[f"q{question_id}"] = _l("Say what needs clarifying.")
        elif len(text) > MAX_COMMENT_LENGTH:
            errors[f"q{question_id}"] = _l("Use at most %(n)d characters.", n=MAX_COMMENT_LENGTH)
        else:
            cleaned[question_id] = text
    if not requests:
        errors["questions"] = _l("Choose at least one question to send back.")
    if errors:
        raise ValidationFailed(_l("Nothing was sent back."), code="invalid_clarification", fields=errors)
    attribute_changes(actor, _l("Clarification requested"))
    for question_id, text in cleaned.items():
        answer = _answer(assignment, questions[question_id])
        answer.needs_clarification = True
        answer.clarification_request = text
    # A changed answer may show questions that depend on it: they reopen with it, or the
    # supplier could be asked for an answer they are not allowed to give.
    for question_id in _dependants(assignment.template_version, set(cleaned)) - set(cleaned):
        answer = _answer(assignment, questions[question_id])
        answer.needs_clarification = True
        answer.clarification_request = None
    assignment.status = AssignmentStatus.CLARIFICATION.value
    assignment.round += 1
    assignment.revoked_at = None
    assignment.expires_at = max(assignment.expires_at, _link_expiry(today))
    record_event(assignment, "clarification_requested", actor,
           ", ".join(questions[q].key for q in cleaned))
    db.session.flush()
    mail_recipient(assignment, "clarification", _l("questions to clarify"), kind="questionnaire_clarification",
          requests=[(questions[q], text) for q, text in cleaned.items()])
    return assignment


def _dependants(version: TemplateVersion, question_ids: set[int]) -> set[int]:
    """Questions shown depending on any of `question_ids`, directly or through others."""
    keys = {q.key for q in version.questions() if q.id in question_ids}
    found: set[int] = set()
    for question in version.questions():  # conditions refer to earlier questions: one pass
        if question.condition_key in keys:
            found.add(question.id)
            keys.add(question.key)
    return found


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus whole months; the 31st becomes the month's last day where needed."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def decide(assignment: Assignment, decision: str, reason: str | None, actor, *, today: dt.date,
           expected_version: int | None = None) -> Assignment:
    """Accept (approved or conditionally approved) or reject a submitted questionnaire.

    The decision sets the supplier's qualification status with the reason, and — when
    approved — qualified-until = decision date + the version's validity, all in its history.
    """
    _check_version(assignment, expected_version)
    if assignment.state != AssignmentStatus.SUBMITTED:
        raise Conflict(_l("Only a submitted questionnaire can be decided."), code="not_submitted")
    errors: dict[str, Any] = {}
    try:
        outcome = Decision(decision)
    except ValueError:
        outcome = None
        errors["decision"] = _l("Choose a decision.")
    reason = clean_text(reason, multiline=True)
    if not reason:
        errors["reason"] = _l("Give the reason: it is kept as qualification evidence.")
    elif len(reason) > 2000:
        errors["reason"] = _l("Use at most %(n)d characters.", n=2000)
    if errors:
        raise ValidationFailed(_l("No decision was recorded."), code="invalid_decision", fields=errors)
    version = assignment.template_version
    qualified_until = None if outcome == Decision.REJECTED else add_months(today, version.validity_months)
    supplier = assignment.supplier
    history_reason = str(_l("Questionnaire “%(title)s” v%(number)s (assignment #%(id)s, score %(score)s): %(reason)s",
                            title=version.title, number=version.number, id=assignment.id,
                            score=assignment.score if assignment.score is not None else "—", reason=reason))
    target = DECISION_STATUS[outcome]
    if supplier.status == SupplierStatus.PROSPECT:
        change_status(supplier, SupplierStatus.IN_QUALIFICATION.value, history_reason, actor, today=today)
    change_status(supplier, target, history_reason, actor, qualified_until=qualified_until, today=today,
                  renewal=True)
    attribute_changes(actor, reason)
    assignment.decision = outcome.value
    assignment.decision_reason = reason
    assignment.decided_at = utcnow()
    assignment.decided_by_id = getattr(actor, "id", None)
    assignment.qualified_until = qualified_until
    assignment.status = (AssignmentStatus.REJECTED if outcome == Decision.REJECTED else AssignmentStatus.ACCEPTED).value
    record_event(assignment, "decided", actor, outcome.value)
    db.session.flush()
    mail_recipient(assignment, "decided", _l("qualification decision"), kind="questionnaire_decided")
    return assignment


def get_assignment(assignment_id: int) -> Assignment | None:
    return db.session.scalar(
        select(Assignment).where(Assignment.id == assignment_id)
        .options(selectinload(Assignment.template_version).selectinload(TemplateVersion.sections)
                 .selectinload(Section.questions),
                 selectinload(Assignment.answers).selectinload(Answer.files),
                 selectinload(Assignment.events), selectinload(Assignment.supplier)))
