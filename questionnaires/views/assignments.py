"""The quality office's side of assignments: the list, sending a questionnaire, the review
page (scores, answers, comments, clarification, decision, the link) and evidence downloads.

Each POST carries the assignment's `version` and passes it to the service as
`expected_version`: a second reviewer acting on a page loaded before someone else's change is
answered 409 with the message, and nothing is overwritten.
"""
from __future__ import annotations

import datetime as dt
import functools

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.orm.exc import StaleDataError

from app.auth.access import permission_required
from app.db import db, unit_of_work, utcnow
from app.errors import Conflict, ServiceError
from app.forms import choices, show_service_errors
from app.i18n import today
from app.pagination import BadCursor
from app.uploads import send_stored
from questionnaires.assignment_forms import (
    AssignmentFilterForm,
    CancelForm,
    ClarifyForm,
    CommentForm,
    DecideForm,
    RenewForm,
    RevokeForm,
    SendForm,
    version_of,
)
from questionnaires.models import (
    ASSIGNMENT_STATUS_LABELS,
    DECISION_LABELS,
    DECISION_STATUS,
    EVENT_LABELS,
    FINAL_STATUSES,
    OPEN_FOR_SUPPLIER,
    PURPOSE_LABELS,
    RESULT_LABELS,
    Assignment,
    AssignmentPurpose,
    AssignmentStatus,
    Decision,
    QuestionType,
    TemplateVersion,
)
from questionnaires.services import assignment_lists
from questionnaires.services import assignments as service
from questionnaires.services import scoring
from questionnaires.services import templates as template_service
from questionnaires.services.question_types import kind_of
from questionnaires.views import bp
from suppliers import services as supplier_services
from suppliers.models import STATUS_LABELS, SupplierStatus

#: Badge colours: the same everywhere, each badge also carrying its word.
ASSIGNMENT_STATUS_COLOURS = {
    "sent": "secondary", "in_progress": "info", "submitted": "primary", "clarification": "warning",
    "accepted": "success", "rejected": "danger", "cancelled": "light",
}
RESULT_COLOURS = {scoring.PASS: "success", scoring.CONDITIONAL: "warning", scoring.FAIL: "danger",
                  scoring.KNOCKED_OUT: "danger"}
DECISION_COLOURS = {"approved": "success", "conditionally_approved": "warning", "rejected": "danger"}
#: The decision a result suggests (pre-selected on the decision form).
SUGGESTED_DECISION = {scoring.PASS: Decision.APPROVED, scoring.CONDITIONAL: Decision.CONDITIONALLY_APPROVED,
                      scoring.FAIL: Decision.REJECTED, scoring.KNOCKED_OUT: Decision.REJECTED}


@bp.record_once
def _share_labels(state):
    # Globals, not context: macros and the supplier page's panel see globals only.
    state.app.jinja_env.globals.update(
        ASSIGNMENT_STATUS_LABELS=ASSIGNMENT_STATUS_LABELS, ASSIGNMENT_STATUS_COLOURS=ASSIGNMENT_STATUS_COLOURS,
        RESULT_LABELS=RESULT_LABELS, RESULT_COLOURS=RESULT_COLOURS, DECISION_LABELS=DECISION_LABELS,
        DECISION_COLOURS=DECISION_COLOURS, PURPOSE_LABELS=PURPOSE_LABELS,
        questionnaire_panel=questionnaire_panel,
    )


def _actor():
    return current_user._get_current_object()


def with_assignment(permission: str):
    """Load the assignment named by <assignment_id> (404 if none) after checking `permission`."""

    def decorator(view):
        @functools.wraps(view)
        @permission_required(permission)
        def wrapped(assignment_id, *args, **kwargs):
            assignment = service.get_assignment(assignment_id)
            if assignment is None:
                abort(404)
            return view(assignment, *args, **kwargs)

        return wrapped

    return decorator


def _assignment_url(assignment: Assignment, anchor: str | None = None) -> str:
    return url_for("questionnaires.assignment", assignment_id=assignment.id, _anchor=anchor)


# The list ------------------------------------------------------------------------------

def filter_form() -> AssignmentFilterForm:
    """The list's filter form, read from the query string."""
    form = AssignmentFilterForm(request.args)
    form.template.choices = choices([("", _("Any")),
                                     *((str(t.id), t.name) for t in template_service.templates_list())])
    form.validate()
    return form


def filters_from_form(form: AssignmentFilterForm) -> assignment_lists.AssignmentFilters:
    """The list's filters from its (validated) GET form; invalid values are dropped. The
    .xlsx export of the list reads the same form, so it exports what the page shows."""
    template_id = form.template.data
    return assignment_lists.AssignmentFilters(
        statuses=[s for s in form.status.data or [] if s in ASSIGNMENT_STATUS_LABELS],
        supplier=(form.supplier.data or "").strip()[:40] or None,
        template_id=int(template_id) if template_id and str(template_id).isdigit() else None,
        purpose=form.purpose.data or None,
        overdue_only=bool(form.overdue.data),
        due_before=form.due_before.data if not form.due_before.errors else None,
        due_after=form.due_after.data if not form.due_after.errors else None,
    )


@bp.route("/questionnaires/assignments")
@permission_required("questionnaires.view")
def assignments():
    form = filter_form()
    filters = filters_from_form(form)
    sort = request.args.get("sort", "id")
    if sort not in assignment_lists.SORT_COLUMNS:
        sort = "id"
    descending = request.args.get("dir", "desc" if sort == "id" else "asc") == "desc"
    day = today()
    try:
        page = assignment_lists.list_assignments(filters, today=day, sort=sort, descending=descending,
                                                 cursor=request.args.get("cursor"),
                                                 limit=current_app.config["PAGE_SIZE"])
    except BadCursor:
        abort(400)
    args = request.args.to_dict(flat=False)
    args.pop("cursor", None)
    return render_template("questionnaires/assignments/list.html", form=form, page=page, sort=sort,
                           descending=descending, args=args, today=day, is_overdue=assignment_lists.is_overdue)


# Sending -------------------------------------------------------------------------------

def _send_form_choices(form: SendForm, supplier) -> None:
    form.template.choices = choices((str(v.id), f"{v.template.name} · v{v.number}")
                                    for v in assignment_lists.sendable_versions())
    contacts = [c for c in (supplier.contacts if supplier is not None else ()) if c.email]
    form.contact.choices = choices([("", _("The primary contact")),
                                    *((str(c.id), f"{c.name} <{c.email}>") for c in contacts)])
    form.language.choices = choices(current_app.config["LANGUAGES"].items())


@bp.route("/questionnaires/assignments/new", methods=["GET", "POST"])
@permission_required("questionnaires.assign")
def assignment_new():
    form = SendForm()
    code = (form.supplier.data if request.method == "POST" else request.args.get("supplier")) or ""
    supplier = supplier_services.get_supplier_by_code(code[:40]) if code.strip() else None
    _send_form_choices(form, supplier)
    if request.method == "GET":
        day = today()
        form.due_date.data = day + dt.timedelta(days=current_app.config.get("QUESTIONNAIRE_DEFAULT_DAYS", 14))
        if supplier is not None:
            form.supplier.data = supplier.code
            country = (supplier.country or "").lower()
            form.language.data = country if country in current_app.config["LANGUAGES"] \
                else current_app.config["BABEL_DEFAULT_LOCALE"]
            requalifying = supplier.status in (SupplierStatus.APPROVED, SupplierStatus.CONDITIONALLY_APPROVED,
                                               SupplierStatus.SUSPENDED)
            form.purpose.data = (AssignmentPurpose.REQUALIFICATION if requalifying
                                 else AssignmentPurpose.INITIAL).value
            primary = next((c for c in supplier.contacts if c.is_primary and c.email), None)
            form.contact.data = str(primary.id) if primary else ""
        else:
            form.language.data = current_app.config["BABEL_DEFAULT_LOCALE"]
            form.purpose.data = AssignmentPurpose.INITIAL.value
        if request.args.get("template", "").isdigit():
            form.template.data = request.args["template"]
        return render_template("questionnaires/assignments/new.html", form=form, supplier=supplier)
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return render_template("questionnaires/assignments/new.html", form=form, supplier=supplier), 422
    if supplier is None:
        form.supplier.errors = list(form.supplier.errors) + [_("No supplier has this code.")]
        return render_template("questionnaires/assignments/new.html", form=form, supplier=supplier), 422
    version = db.session.get(TemplateVersion, int(form.template.data))
    contact = next((c for c in supplier.contacts if str(c.id) == form.contact.data), None)
    try:
        with unit_of_work():
            assignment = service.send_assignment(
                version, supplier, form.due_date.data, _actor(), today=today(), message=form.message.data,
                contact=contact, language=form.language.data, purpose=form.purpose.data)
    except ServiceError as exc:
        show_service_errors(form, exc)
        return render_template("questionnaires/assignments/new.html", form=form, supplier=supplier), exc.status
    flash(_("The questionnaire was sent: the link was e-mailed to %(email)s.", email=assignment.recipient_email),
          "success")
    return redirect(_assignment_url(assignment))


# The review page -------------------------------------------------------------------------

def link_state(assignment: Assignment, now: dt.datetime) -> str:
    """"revoked", "expired", "closed" (nothing left for the supplier to do) or "active"."""
    if assignment.revoked_at is not None:
        return "revoked"
    if now >= assignment.expires_at:
        return "expired"
    if assignment.state not in OPEN_FOR_SUPPLIER:
        return "closed"
    return "active"


def answer_text(question, answer) -> str:
    """An answer as the reviewer reads it: option labels, the unit, a formatted date."""
    if answer is None or answer.value in (None, "", []):
        return ""
    if question.kind == QuestionType.DATE:
        try:
            return format_date(dt.date.fromisoformat(answer.value), "medium")
        except (TypeError, ValueError):
            return str(answer.value)
    return kind_of(question).display(question, answer.value)


def score_class(score, version: TemplateVersion) -> str:
    """pass / conditional / fail for a 0–100 score against the version's marks."""
    if score is None:
        return "none"
    if score >= version.pass_mark:
        return scoring.PASS
    if score >= version.conditional_mark:
        return scoring.CONDITIONAL
    return scoring.FAIL


def _decision_effects(assignment: Assignment, day: dt.date) -> dict[str, str]:
    """What each decision will do to the supplier, in words."""
    until = service.add_months(day, assignment.template_version.validity_months)
    effects = {}
    for decision in Decision:
        status = STATUS_LABELS[SupplierStatus(DECISION_STATUS[decision])]
        if decision == Decision.REJECTED:
            effects[decision.value] = _("Sets the supplier to %(status)s.", status=status)
        else:
            effects[decision.value] = _("Sets the supplier to %(status)s until %(date)s.", status=status,
                                        date=format_date(until, "medium"))
    return effects


def _render_review(assignment: Assignment, status: int = 200, *, comment_forms: dict | None = None,
                   clarify_errors: dict | None = None, clarify_texts: dict | None = None, **forms):
    version_number = assignment.version
    card = service.scorecard(assignment)
    answers = {a.question_id: a for a in assignment.answers}
    day = today()
    result = assignment.result or card.result
    decide_form = forms.pop("decide_form", None)
    if decide_form is None:
        decide_form = DecideForm(formdata=None, version=version_number,
                                 decision=SUGGESTED_DECISION.get(result, Decision.REJECTED).value)
    comment_forms = comment_forms or {}
    for question in assignment.template_version.questions():
        if question.id not in comment_forms:
            answer = answers.get(question.id)
            comment_forms[question.id] = CommentForm(
                formdata=None, version=version_number, comment=answer.reviewer_comment if answer else None)
    context = {
        "assignment": assignment, "version": assignment.template_version, "supplier": assignment.supplier,
        "card": card, "answers": answers, "result": result, "today": day,
        "link": link_state(assignment, utcnow()), "history": assignment_lists.history_of(assignment),
        "is_overdue": assignment_lists.is_overdue(assignment, day),
        "decide_form": decide_form, "decision_effects": _decision_effects(assignment, day),
        "suggested": SUGGESTED_DECISION.get(result),
        "comment_forms": comment_forms, "clarify_errors": clarify_errors or {}, "clarify_texts": clarify_texts or {},
        "clarify_form": forms.pop("clarify_form", None) or ClarifyForm(formdata=None, version=version_number),
        "renew_form": forms.pop("renew_form", None) or RenewForm(formdata=None, version=version_number),
        "revoke_form": forms.pop("revoke_form", None) or RevokeForm(formdata=None, version=version_number),
        "cancel_form": forms.pop("cancel_form", None) or CancelForm(formdata=None, version=version_number),
        "is_final": assignment.state in FINAL_STATUSES, "is_submitted": assignment.state == AssignmentStatus.SUBMITTED,
        "answer_text": answer_text, "score_class": score_class, "EVENT_LABELS": EVENT_LABELS,
        "portal_url": service.portal_url(assignment) if current_user.can("questionnaires.assign") else None,
    }
    return render_template("questionnaires/assignments/review.html", **context), status


@bp.route("/questionnaires/assignments/<int:assignment_id>")
@with_assignment("questionnaires.view")
def assignment(assignment: Assignment):
    return _render_review(assignment)


def _perform(assignment: Assignment, form, form_name: str, action, success: str, anchor: str | None = None,
             **render_extra):
    """Validate `form`, run `action()` (one service call) as one unit of work, then redirect to
    the review page; a refusal re-renders it with the message (422, or 409 for a conflict)."""
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _render_review(assignment, 422, **{form_name: form}, **render_extra)
    try:
        with unit_of_work():
            action()
    except StaleDataError:
        # Someone saved the same assignment between our read and our write.
        error = Conflict(_l("Someone else changed this questionnaire meanwhile: reload the page to see it."),
                         code="stale")
        return _refused(assignment.id, form, form_name, error, render_extra)
    except ServiceError as exc:
        return _refused(assignment.id, form, form_name, exc, render_extra)
    flash(success, "success")
    return redirect(_assignment_url(assignment, anchor))


def _refused(assignment_id: int, form, form_name: str, error: ServiceError, render_extra: dict):
    show_service_errors(form, error)
    # The unit of work rolled back: read the assignment again as it now stands.
    fresh = service.get_assignment(assignment_id)
    if fresh is None:
        abort(404)
    return _render_review(fresh, error.status, **{form_name: form}, **render_extra)


def _question_of(assignment: Assignment, question_id: int):
    question = next((q for q in assignment.template_version.questions() if q.id == question_id), None)
    if question is None:
        abort(404)
    return question


@bp.route("/questionnaires/assignments/<int:assignment_id>/answers/<int:question_id>/comment", methods=["POST"])
@with_assignment("questionnaires.review")
def assignment_comment(assignment: Assignment, question_id: int):
    question = _question_of(assignment, question_id)
    form = CommentForm()
    forms = {question.id: form}
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _render_review(assignment, 422, comment_forms=forms)
    try:
        with unit_of_work():
            service.comment(assignment, question, form.comment.data, _actor(), expected_version=version_of(form))
    except ServiceError as exc:
        show_service_errors(form, exc)
        fresh = service.get_assignment(assignment.id)
        return _render_review(fresh, exc.status, comment_forms=forms)
    flash(_("Comment on %(key)s saved.", key=question.key), "success")
    return redirect(_assignment_url(assignment, f"q-{question.id}"))


@bp.route("/questionnaires/assignments/<int:assignment_id>/clarify", methods=["POST"])
@with_assignment("questionnaires.review")
def assignment_clarify(assignment: Assignment):
    form = ClarifyForm()
    question_ids = {q.id for q in assignment.template_version.questions()}
    chosen = []
    for raw in request.form.getlist("clarify"):
        if raw.isdigit() and int(raw) in question_ids and int(raw) not in chosen:
            chosen.append(int(raw))
    requests = {qid: request.form.get(f"request-{qid}", "") for qid in chosen}
    texts = {qid: request.form.get(f"request-{qid}", "")[:5000] for qid in question_ids
             if request.form.get(f"request-{qid}")}
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _render_review(assignment, 422, clarify_form=form, clarify_texts=texts)
    try:
        with unit_of_work():
            service.request_clarification(assignment, requests, _actor(), today=today(),
                                          expected_version=version_of(form))
    except (ServiceError, StaleDataError) as exc:
        if isinstance(exc, StaleDataError):
            exc = Conflict(_l("Someone else changed this questionnaire meanwhile: reload the page to see it."))
        show_service_errors(form, exc)
        errors = {int(k[1:]): v for k, v in exc.fields.items() if k.startswith("q") and k[1:].isdigit()}
        fresh = service.get_assignment(assignment.id)
        return _render_review(fresh, exc.status, clarify_form=form, clarify_errors=errors, clarify_texts=texts)
    flash(_("%(n)d questions sent back to the supplier for clarification.", n=len(requests)), "success")
    return redirect(_assignment_url(assignment))


@bp.route("/questionnaires/assignments/<int:assignment_id>/decide", methods=["POST"])
@with_assignment("questionnaires.decide")
def assignment_decide(assignment: Assignment):
    form = DecideForm()
    return _perform(
        assignment, form, "decide_form",
        lambda: service.decide(assignment, form.decision.data, form.reason.data, _actor(), today=today(),
                               expected_version=version_of(form)),
        _("Decision recorded: %(decision)s.", decision=DECISION_LABELS.get(form.decision.data, form.decision.data)),
    )


@bp.route("/questionnaires/assignments/<int:assignment_id>/renew", methods=["POST"])
@with_assignment("questionnaires.assign")
def assignment_renew(assignment: Assignment):
    form = RenewForm()
    return _perform(
        assignment, form, "renew_form",
        lambda: service.renew_link(assignment, _actor(), today=today(), due_date=form.due_date.data,
                                   expected_version=version_of(form)),
        _("A new link was e-mailed to %(email)s; the old one no longer works.",
          email=assignment.recipient_email or "—"),
    )


@bp.route("/questionnaires/assignments/<int:assignment_id>/revoke", methods=["POST"])
@with_assignment("questionnaires.assign")
def assignment_revoke(assignment: Assignment):
    form = RevokeForm()
    return _perform(assignment, form, "revoke_form",
                    lambda: service.revoke_link(assignment, _actor(), expected_version=version_of(form)),
                    _("The link was revoked: it no longer opens the questionnaire."))


@bp.route("/questionnaires/assignments/<int:assignment_id>/cancel", methods=["POST"])
@with_assignment("questionnaires.assign")
def assignment_cancel(assignment: Assignment):
    form = CancelForm()
    return _perform(assignment, form, "cancel_form",
                    lambda: service.cancel(assignment, form.reason.data, _actor(), expected_version=version_of(form)),
                    _("The questionnaire was cancelled."))


@bp.route("/questionnaires/assignments/<int:assignment_id>/files/<int:file_id>")
@with_assignment("questionnaires.view")
def assignment_file(assignment: Assignment, file_id: int):
    stored = service.file_of(assignment, file_id)
    if stored is None:
        abort(404)
    return send_stored(stored.stored_name, stored.content_type, stored.original_name)


# The supplier page's panel ---------------------------------------------------------------

def questionnaire_panel(supplier) -> Markup:
    """The questionnaires panel for the supplier page: `{{ questionnaire_panel(supplier) }}`."""
    if not (current_user.is_authenticated and current_user.can("questionnaires.view")):
        return Markup("")
    return Markup(render_template("questionnaires/assignments/_supplier_panel.html", supplier=supplier,
                                  assignments=assignment_lists.assignments_of_supplier(supplier),
                                  today=today(), is_overdue=assignment_lists.is_overdue))
