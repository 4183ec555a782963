"""Corrective actions, the quality office's side: the list, requesting an action from a
nonconformity, the action's page (the supplier's answer and files, review, effectiveness,
the link, history), and the panel the audit page shows under each nonconformity.

Each POST carries the action's `version` and passes it to the service as `expected_version`:
a reviewer acting on a page loaded before someone else's change gets 409 and the message.
"""
from __future__ import annotations

import datetime as dt
import functools

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.orm.exc import StaleDataError

from app.auth.access import permission_required
from app.db import unit_of_work, utcnow
from app.errors import Conflict, ServiceError
from app.forms import choices, show_service_errors
from app.i18n import today
from app.pagination import BadCursor
from app.uploads import send_stored
from audits.action_forms import (
    action_filters_from_args,
    METHOD_LABELS,
    AcceptForm,
    ManualVerifyForm,
    RenewForm,
    RequestActionForm,
    RevokeForm,
    SendBackForm,
    VerifyForm,
    version_of,
)
from audits.models import (
    ACTION_FINAL,
    ACTION_STATUS_LABELS,
    FINDING_GRADE_LABELS,
    CorrectiveAction,
    EffectivenessMethod,
)
from audits.services import actions as service
from audits.views import bp

#: Badge colours: the same everywhere, each badge also carrying its word.
ACTION_STATUS_COLOURS = {
    "requested": "secondary", "responded": "primary", "returned": "warning", "accepted": "info",
    "closed": "success", "ineffective": "danger",
}
EFFECTIVENESS_LABELS = {
    service.NOT_YET: _l("Not yet: the periods are not over"),
    service.MET: _l("Met in every period"),
    service.NOT_MET: _l("Not met"),
    service.NO_DATA: _l("Not enough data: verify manually"),
    service.NOT_APPLICABLE: _l("Verified manually"),
}
EVENT_LABELS = {
    "action_requested": _l("Requested from the supplier"),
    "action_draft_saved": _l("Draft saved by the supplier"),
    "action_responded": _l("Answered by the supplier"),
    "action_resubmitted": _l("Answered again by the supplier"),
    "action_accepted": _l("Accepted"),
    "action_sent_back": _l("Sent back"),
    "action_closed": _l("Closed, effective"),
    "action_ineffective": _l("Verified not effective"),
    "link_renewed": _l("Link renewed"),
    "link_revoked": _l("Link revoked"),
    "reminded_due": _l("Due-date reminder sent"),
    "escalated": _l("Overdue: escalated to the quality managers"),
    "consequence_applied": _l("Supplier status changed (overdue major nonconformity)"),
    "consequence_skipped": _l("Status consequence not applied"),
}
EIGHT_D_LABELS = {
    "d1": _l("D1 Team"), "d2": _l("D2 Problem description"), "d3": _l("D3 Interim containment"),
    "d4": _l("D4 Root cause"), "d5": _l("D5 Permanent corrective action"), "d6": _l("D6 Implementation and validation"),
    "d7": _l("D7 Prevention of recurrence"), "d8": _l("D8 Team recognition"),
}


@bp.record_once
def _share_action_globals(state):
    # Globals, not context: the audit page's panel and macros see globals only.
    state.app.jinja_env.globals.update(
        ACTION_STATUS_LABELS={s.value: label for s, label in ACTION_STATUS_LABELS.items()},
        ACTION_STATUS_COLOURS=ACTION_STATUS_COLOURS, ACTION_EIGHT_D_LABELS=EIGHT_D_LABELS,
        ACTION_GRADE_LABELS={g.value: label for g, label in FINDING_GRADE_LABELS.items()},
        action_panel=action_panel, overdue_actions=overdue_actions,
    )


def _actor():
    return current_user._get_current_object()


def with_action(permission: str):
    """Load the action named by <action_id> (404 if none) after checking `permission`."""

    def decorator(view):
        @functools.wraps(view)
        @permission_required(permission)
        def wrapped(action_id, *args, **kwargs):
            action = service.get_action(action_id)
            if action is None:
                abort(404)
            return view(action, *args, **kwargs)

        return wrapped

    return decorator


def _action_url(action: CorrectiveAction, anchor: str | None = None) -> str:
    return url_for("audits.action", action_id=action.id, _anchor=anchor)


# The list ------------------------------------------------------------------------------

@bp.route("/audits/actions")
@permission_required("audits.view")
def actions():
    form, filters = action_filters_from_args(request.args)
    day = today()
    try:
        page = service.list_actions(filters, today=day, cursor=request.args.get("cursor"),
                                    limit=current_app.config["PAGE_SIZE"])
    except BadCursor:
        abort(400)
    args = request.args.to_dict(flat=False)
    args.pop("cursor", None)
    return render_template("audits/actions/list.html", form=form, page=page, args=args, today=day)


# Requesting -----------------------------------------------------------------------------

def request_form(finding, formdata=None) -> RequestActionForm:
    form = RequestActionForm(formdata=formdata) if formdata is not None else RequestActionForm(formdata=None)
    form.language.choices = choices(current_app.config["LANGUAGES"].items())
    if formdata is None:
        form.finding_id.data = str(finding.id)
        form.due_date.data = today() + dt.timedelta(days=int(current_app.config.get("CORRECTIVE_ACTION_DEFAULT_DAYS", 30)))
        country = (finding.audit.supplier.country or "").lower()
        form.language.data = country if country in current_app.config["LANGUAGES"] \
            else current_app.config["BABEL_DEFAULT_LOCALE"]
        form.effectiveness_method.data = (EffectivenessMethod.SLA if finding.series_id is not None
                                          else EffectivenessMethod.MANUAL).value
        form.effectiveness_periods.data = 2
    return form


def _finding_or_404(raw):
    finding = service.get_finding(int(raw)) if str(raw or "").isdigit() else None
    if finding is None:
        abort(404)
    return finding


@bp.route("/audits/actions/new", methods=["GET", "POST"])
@permission_required("actions.manage")
def action_new():
    finding = _finding_or_404(request.values.get("finding_id"))
    if request.method == "GET":
        return render_template("audits/actions/new.html", form=request_form(finding), finding=finding)
    form = request_form(finding, request.form)
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return render_template("audits/actions/new.html", form=form, finding=finding), 422
    try:
        with unit_of_work():
            action = service.request_action(
                finding, _actor(), due_date=form.due_date.data, today=today(), request_text=form.request_text.data,
                language=form.language.data, effectiveness_method=form.effectiveness_method.data,
                effectiveness_periods=form.effectiveness_periods.data)
    except ServiceError as exc:
        show_service_errors(form, exc)
        return render_template("audits/actions/new.html", form=form, finding=finding), exc.status
    flash(_("Corrective action %(action)s requested: the link was e-mailed to %(email)s.", action=str(action),
            email=action.recipient_email), "success")
    return redirect(_action_url(action))


# The action's page ------------------------------------------------------------------------

def _render(action: CorrectiveAction, status: int = 200, **forms):
    number = action.version
    day = today()
    context = {
        "action": action, "finding": action.finding, "audit": action.finding.audit, "supplier": action.supplier,
        "answer": service.answer_of(action), "today": day, "link": service.link_state(action, utcnow()),
        "history": service.history_of(action), "EVENT_LABELS": EVENT_LABELS, "METHOD_LABELS": METHOD_LABELS,
        "effectiveness": service.effectiveness(action, day), "EFFECTIVENESS_LABELS": EFFECTIVENESS_LABELS,
        "format_value": service.format_value, "acceptance_day": service.acceptance_day(action),
        "is_final": action.state in ACTION_FINAL,
        "portal_url": service.portal_url(action) if current_user.can("actions.manage") else None,
        "accept_form": forms.pop("accept_form", None) or AcceptForm(formdata=None, version=number),
        "send_back_form": forms.pop("send_back_form", None) or SendBackForm(formdata=None, version=number),
        "verify_form": forms.pop("verify_form", None) or VerifyForm(formdata=None, version=number),
        "manual_form": forms.pop("manual_form", None) or ManualVerifyForm(formdata=None, version=number),
        "renew_form": forms.pop("renew_form", None) or RenewForm(formdata=None, version=number),
        "revoke_form": forms.pop("revoke_form", None) or RevokeForm(formdata=None, version=number),
    }
    return render_template("audits/actions/detail.html", **context), status


@bp.route("/audits/actions/<int:action_id>")
@with_action("audits.view")
def action(action: CorrectiveAction):
    return _render(action)


def _perform(action: CorrectiveAction, form, form_name: str, call, success, anchor: str | None = None):
    """Validate `form`, run `call()` (one service call) as one unit of work, then redirect to
    the action's page; a refusal re-renders it with the message (422, or 409 for a conflict)."""
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _render(action, 422, **{form_name: form})
    try:
        with unit_of_work():
            outcome = call()
    except StaleDataError:
        # Someone saved the same action between our read and our write.
        return _refused(action.id, form, form_name, Conflict(
            _l("Someone else changed this corrective action meanwhile: reload the page to see it."), code="stale"))
    except ServiceError as exc:
        return _refused(action.id, form, form_name, exc)
    flash(success(outcome) if callable(success) else success, "success")
    return redirect(_action_url(action, anchor))


def _refused(action_id: int, form, form_name: str, error: ServiceError):
    show_service_errors(form, error)
    fresh = service.get_action(action_id)  # the unit rolled back: read the action as it now stands
    if fresh is None:
        abort(404)
    return _render(fresh, error.status, **{form_name: form})


@bp.route("/audits/actions/<int:action_id>/accept", methods=["POST"])
@with_action("actions.manage")
def action_accept(action: CorrectiveAction):
    form = AcceptForm()
    return _perform(action, form, "accept_form",
                    lambda: service.accept(action, form.note.data, _actor(), version_of(form)),
                    _("The supplier's answer was accepted; effectiveness is now awaited."), "effectiveness")


@bp.route("/audits/actions/<int:action_id>/send-back", methods=["POST"])
@with_action("actions.manage")
def action_send_back(action: CorrectiveAction):
    form = SendBackForm()
    return _perform(action, form, "send_back_form",
                    lambda: service.send_back(action, form.note.data, _actor(), version_of(form), today=today()),
                    _("The answer was sent back to the supplier; the link is open again."))


@bp.route("/audits/actions/<int:action_id>/verify", methods=["POST"])
@with_action("actions.manage")
def action_verify(action: CorrectiveAction):
    form = VerifyForm()

    def message(result):
        if result.state == service.MET:
            return _("Effective: the corrective action is closed.")
        if result.state == service.NOT_MET:
            return _("Not effective: the SLA was not met. A new corrective action is needed.")
        return str(EFFECTIVENESS_LABELS[result.state])

    return _perform(action, form, "verify_form",
                    lambda: service.verify(action, _actor(), today=today(), expected_version=version_of(form)),
                    message, "effectiveness")


@bp.route("/audits/actions/<int:action_id>/verify-manually", methods=["POST"])
@with_action("actions.manage")
def action_verify_manually(action: CorrectiveAction):
    form = ManualVerifyForm()
    return _perform(action, form, "manual_form",
                    lambda: service.verify_manually(action, form.effective.data == "yes", form.note.data,
                                                    request.files.getlist("evidence"), _actor(),
                                                    expected_version=version_of(form)),
                    _("The verification was recorded."), "effectiveness")


@bp.route("/audits/actions/<int:action_id>/renew", methods=["POST"])
@with_action("actions.manage")
def action_renew(action: CorrectiveAction):
    form = RenewForm()
    return _perform(action, form, "renew_form",
                    lambda: service.renew_link(action, _actor(), today=today(), due_date=form.due_date.data,
                                               expected_version=version_of(form)),
                    _("A new link was e-mailed to %(email)s; the old one no longer works.",
                      email=action.recipient_email or "—"), "link")


@bp.route("/audits/actions/<int:action_id>/revoke", methods=["POST"])
@with_action("actions.manage")
def action_revoke(action: CorrectiveAction):
    form = RevokeForm()
    return _perform(action, form, "revoke_form",
                    lambda: service.revoke_link(action, _actor(), expected_version=version_of(form)),
                    _("The link was revoked: it no longer opens the corrective action."), "link")


@bp.route("/audits/actions/<int:action_id>/files/<int:file_id>")
@with_action("audits.view")
def action_file(action: CorrectiveAction, file_id: int):
    stored = service.file_of(action, file_id)
    if stored is None:
        abort(404)
    return send_stored(stored.stored_name, stored.content_type, stored.file_name)


# Panels for other pages --------------------------------------------------------------------

def action_panel(finding) -> Markup:
    """Under a nonconformity on the audit page: `{{ action_panel(finding) }}` — its actions, or
    the form to request one."""
    if not (current_user.is_authenticated and current_user.can("audits.view")) or not finding.is_nonconformity:
        return Markup("")
    found = service.actions_of_finding(finding)
    can_request = current_user.can("actions.manage") and not any(a.state not in ACTION_FINAL for a in found)
    return Markup(render_template("audits/actions/_finding_panel.html", finding=finding, actions=found,
                                  form=request_form(finding) if can_request else None, today=today()))


def overdue_actions(limit: int = 10) -> list[CorrectiveAction]:
    """For the overview page: actions waiting for the supplier past their due date."""
    if not (current_user.is_authenticated and current_user.can("audits.view")):
        return []
    return service.overdue_actions(today(), limit)
