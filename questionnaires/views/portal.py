"""The supplier portal: a qualification questionnaire answered through a private link, no account.

`/q/<secret>` is the only key: the secret's digest finds one assignment, and nothing in the URL
or the form names another record (a file id is looked up within the assignment; any status,
score or supplier field in the body is never read). What the link shows depends on the
assignment:

- open (sent, in progress): every question, editable; "Save draft" keeps the answers, "Submit"
  sends them (the browser asks first; without JavaScript a warning stands beside the button);
- clarification: only the questions the reviewer sent back are editable, each with the
  reviewer's request; the other answers are shown read-only;
- submitted or decided: the answers, read-only (a second submit lands here too, 409);
- expired, revoked or cancelled: 410 naming whom to contact, and nothing of the questionnaire;
- unknown secret: 404, logged, and counted against the client's address (see app.link_pages).

The page opens in the assignment's language unless the visitor chose one with the language
switch (session["locale"]). The secret is in the URL, so every portal response is sent with
`Referrer-Policy: no-referrer` and `Cache-Control: no-store`.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app import link_pages
from app.db import db, unit_of_work, utcnow
from app.errors import ValidationFailed
from app.uploads import send_stored
from questionnaires.models import (
    OPEN_FOR_SUPPLIER,
    Assignment,
    AssignmentStatus,
    Question,
    QuestionType,
)
from questionnaires.services import assignments as service
from questionnaires.services.question_types import LONG_TEXT_MAX, SHORT_TEXT_MAX, kind_of
from questionnaires.services.scoring import shown_questions
from questionnaires.views import bp

log = logging.getLogger(__name__)

PORTAL_ENDPOINTS = frozenset({"questionnaires.portal", "questionnaires.portal_file"})
#: The pseudo e-mail under which failed link lookups are counted (see app.link_pages).
PROBE_MARKER = "questionnaire-link:"

link_pages.protect(bp, PORTAL_ENDPOINTS)
#: `<token>` → its assignment (404, logged and counted when unknown), in its language.
with_assignment = link_pages.link_view(service.assignment_for_token, marker=PROBE_MARKER, what="questionnaire link")


def _is_closed(assignment: Assignment, now: dt.datetime) -> bool:
    """Expired, revoked or cancelled: the link shows nothing any more."""
    return (assignment.revoked_at is not None or now >= assignment.expires_at
            or assignment.state == AssignmentStatus.CANCELLED)


# What the pages show --------------------------------------------------------------------------

def option_label(question: Question, value: Any) -> str:
    """An option's label for the supplier; the fixed yes/no options speak the page's language."""
    if question.kind == QuestionType.YES_NO and value in ("yes", "no"):
        return _("Yes") if value == "yes" else _("No")
    return question.option_label(value)


@dataclass
class PortalQuestion:
    """One question as the portal shows it."""

    question: Question
    number: str
    editable: bool
    #: The values to put in the fields (the stored answer, or what was just posted).
    raw: list[str]
    #: The stored answer, for read-only display.
    value: Any
    files: list = field(default_factory=list)
    error: Any = None
    clarification_request: str | None = None
    #: The question its condition names, and the listed answers as labels.
    condition: Question | None = None
    condition_labels: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return f"q{self.question.id}"


def _as_raw(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _sections(assignment: Assignment, *, errors: dict | None = None, posted=None,
              only_shown: bool = False) -> list[tuple[Any, list[PortalQuestion]]]:
    version = assignment.template_version
    editable = service.editable_question_ids(assignment)
    values, _files = service.current_values(assignment)
    shown = shown_questions(version, values) if only_shown else None
    by_key: dict[str, Question] = {}
    sections = []
    for section in version.sections:
        items = []
        for index, question in enumerate(section.questions, start=1):
            by_key[question.key] = question
            if shown is not None and question.id not in shown:
                continue
            answer = assignment.answer_for(question.id)
            raw = _as_raw(values.get(question.id))
            if posted is not None and question.id in editable:
                raw = posted.getlist(f"q{question.id}")
            item = PortalQuestion(
                question=question, number=f"{section.position}.{index}", editable=question.id in editable,
                raw=raw, value=values.get(question.id), files=list(answer.files) if answer else [],
                error=(errors or {}).get(f"q{question.id}"),
                clarification_request=answer.clarification_request if answer and answer.needs_clarification else None)
            if question.condition_key:
                item.condition = by_key.get(question.condition_key)
                if item.condition is not None:
                    item.condition_labels = [option_label(item.condition, v) for v in question.condition_values or ()]
            items.append(item)
        if items:
            sections.append((section, items))
    return sections


def _progress(assignment: Assignment) -> tuple[int, int]:
    """(required questions answered, required questions shown) for the stored answers."""
    card = service.scorecard(assignment)
    required = [q for s in card.sections for q in s.questions if q.shown and q.question.required]
    return sum(1 for q in required if q.answered), len(required)


def _contact(assignment: Assignment) -> tuple[str | None, str | None]:
    sender = assignment.created_by
    if sender is None or not getattr(sender, "is_active", True):
        return None, None
    return sender.name, sender.email


def _common(assignment: Assignment, token: str) -> dict:
    contact_name, contact_email = _contact(assignment)
    return {"assignment": assignment, "version": assignment.template_version, "token": token,
            "company": current_app.config["CATENA_COMPANY_NAME"], "contact_name": contact_name,
            "contact_email": contact_email, "option_label": option_label, "QuestionType": QuestionType,
            "kind_of": kind_of, "SHORT_TEXT_MAX": SHORT_TEXT_MAX, "LONG_TEXT_MAX": LONG_TEXT_MAX}


def _gone(assignment: Assignment):
    """410: the link can change nothing; say whom to contact, show nothing of the questionnaire."""
    contact_name, contact_email = _contact(assignment)
    return link_pages.gone_page(_('The questionnaire link has expired or was withdrawn.'), contact_name, contact_email)


def _answers_page(assignment: Assignment, token: str, status: int = 200, *, already: bool = False):
    """The answers, read-only: after submitting, during the review, after the decision."""
    return render_template("questionnaires/portal/submitted.html", already=already,
                           sections=_sections(assignment, only_shown=True), **_common(assignment, token)), status


def _form_page(assignment: Assignment, token: str, status: int = 200, *, errors: dict | None = None,
               message=None, posted=None, files_dropped: bool = False):
    sections = _sections(assignment, errors=errors, posted=posted)
    answered, required = _progress(assignment)
    error_items = [item for _, items in sections for item in items if item.error]
    return render_template(
        "questionnaires/portal/portal.html", sections=sections, errors=errors or {}, error_items=error_items,
        message=message, files_dropped=files_dropped, answered=answered, required=required,
        clarifying=assignment.state == AssignmentStatus.CLARIFICATION, **_common(assignment, token)), status


def _uploads(assignment: Assignment) -> dict[int, list]:
    return {q.id: request.files.getlist(f"q{q.id}") for q in assignment.template_version.questions()
            if q.kind == QuestionType.FILE and f"q{q.id}" in request.files}


# Routes ---------------------------------------------------------------------------------------

@bp.route(service.PORTAL_PATH + "<token>", methods=["GET", "POST"])
@with_assignment
def portal(assignment: Assignment, token: str):
    if _is_closed(assignment, utcnow()):
        return _gone(assignment)
    if assignment.state not in OPEN_FOR_SUPPLIER:
        # Submitted or decided: the answers, read-only; posting again changes nothing.
        return _answers_page(assignment, token, 409 if request.method == "POST" else 200,
                             already=request.method == "POST")
    if request.method == "GET":
        return _form_page(assignment, token)
    # The CSRF token was checked before the view ran. Only q<id> fields of this version's
    # questions, their files and remove_file ids are read; the service keeps to the editable ones.
    submit = request.form.get("action") == "submit"
    form_values = {q.id: request.form.getlist(f"q{q.id}") for q in assignment.template_version.questions()}
    uploads = _uploads(assignment)
    remove_files = set(request.form.getlist("remove_file", type=int))
    try:
        with unit_of_work():
            service.save_answers(assignment, form_values, uploads, remove_files, submit=submit)
    except ValidationFailed as exc:
        return _form_page(assignment, token, 422, errors=exc.fields, message=exc.message, posted=request.form,
                          files_dropped=any(f.filename for files in uploads.values() for f in files))
    except service.LinkClosed:
        return _after_conflict(token)
    except (StaleDataError, IntegrityError):
        # Another request (a second tab, a double click) saved or submitted meanwhile.
        log.info("questionnaire portal: concurrent save on assignment %s", assignment.id)
        return _after_conflict(token)
    if submit:
        flash(_("Thank you. %(company)s has received your answers.", company=current_app.config["CATENA_COMPANY_NAME"]),
              "success")
    else:
        flash(_("Your answers are saved. You can come back through the same link until you submit."), "success")
    return redirect(url_for("questionnaires.portal", token=token), 303)


def _after_conflict(token: str):
    """The assignment changed under this request: show what it is now."""
    db.session.rollback()
    assignment = service.assignment_for_token(token)
    if assignment is None or _is_closed(assignment, utcnow()):
        return _gone(assignment) if assignment else abort(404)
    if assignment.state not in OPEN_FOR_SUPPLIER:
        return _answers_page(assignment, token, 409, already=True)
    return _form_page(assignment, token, 409,
                      message=_("Your answers were changed from another window meanwhile: please check them and save again."))


@bp.route(service.PORTAL_PATH + "<token>/files/<int:file_id>")
@with_assignment
def portal_file(assignment: Assignment, token: str, file_id: int):
    if _is_closed(assignment, utcnow()):
        return _gone(assignment)
    stored = service.file_of(assignment, file_id)
    if stored is None:
        log.warning("questionnaire link: file %s is not part of assignment %s (from %s)", file_id, assignment.id,
                    link_pages.client_address())
        abort(404)
    return send_stored(stored.stored_name, stored.content_type, stored.original_name)
