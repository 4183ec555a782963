"""The supplier's page for a corrective action request: a private link, no account.

`/ca/<secret>` is the only key: the secret's digest finds one action, and nothing in the URL
or the form names another record (a file id is looked up within the action; a status, a
supplier or any other field in the body is never read). What the link shows:

- requested or sent back: the finding (only this one), the request, and the form —
  containment, a 5-why or 8D analysis (a radio chooses; both field groups are in the page,
  so it works without JavaScript), root cause, the corrective action, its planned completion
  date and evidence files; "Save draft" keeps it, "Submit" sends it;
- answered or accepted: the answer, read-only (posting again changes nothing, 409);
- expired, revoked, or closed (effective or not): 410 naming whom to contact, and nothing
  of the action;
- unknown secret: 404, logged, and counted against the client's address.

As on the questionnaire portal, every response is sent with `Referrer-Policy: no-referrer`
and `Cache-Control: no-store`, and the page opens in the action's language unless the visitor
chose another.
"""
from __future__ import annotations

import datetime as dt
import logging

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app import link_pages
from app.db import db, unit_of_work, utcnow
from app.errors import ValidationFailed
from app.uploads import send_stored
from audits.models import ACTION_FINAL, ACTION_OPEN_FOR_SUPPLIER, CorrectiveAction
from audits.services import actions as service
from audits.views import bp

log = logging.getLogger(__name__)

PORTAL_ENDPOINTS = frozenset({"audits.action_portal", "audits.action_portal_file"})
#: The pseudo e-mail under which failed link lookups are counted (see app.link_pages).
PROBE_MARKER = "corrective-action-link:"

link_pages.protect(bp, PORTAL_ENDPOINTS)
#: `<token>` → its action (404, logged and counted when unknown), in its language.
with_action_link = link_pages.link_view(service.action_for_token, marker=PROBE_MARKER,
                                        what="corrective-action link")


def _is_closed(action: CorrectiveAction, now: dt.datetime) -> bool:
    """Expired, revoked, or the action is closed (effective or not): the link shows nothing."""
    return action.revoked_at is not None or now >= action.expires_at or action.state in ACTION_FINAL


def _contact(action: CorrectiveAction) -> tuple[str | None, str | None]:
    sender = action.created_by
    if sender is None or not getattr(sender, "is_active", True):
        return None, None
    return sender.name, sender.email


def _gone(action: CorrectiveAction):
    contact_name, contact_email = _contact(action)
    return link_pages.gone_page(_('The corrective action link has expired, was withdrawn, or the action is closed.'),
                                contact_name, contact_email)


def _page(action: CorrectiveAction, token: str, status: int = 200, *, errors: dict | None = None, message=None,
          answer=None, files_dropped: bool = False, already: bool = False):
    contact_name, contact_email = _contact(action)
    editable = action.state in ACTION_OPEN_FOR_SUPPLIER
    return render_template(
        "audits/portal/action.html", action=action, finding=action.finding, token=token, editable=editable,
        answer=answer or service.answer_of(action), errors=errors or {}, message=message, already=already,
        files_dropped=files_dropped, company=current_app.config["CATENA_COMPANY_NAME"],
        contact_name=contact_name, contact_email=contact_email, why_count=service.WHY_COUNT,
        eight_d_fields=service.EIGHT_D_FIELDS, FIVE_WHYS=service.FIVE_WHYS, EIGHT_D=service.EIGHT_D,
        max_files=service.MAX_FILES), status


@bp.route(service.PORTAL_PATH + "<token>", methods=["GET", "POST"])
@with_action_link
def action_portal(action: CorrectiveAction, token: str):
    if _is_closed(action, utcnow()):
        return _gone(action)
    if action.state not in ACTION_OPEN_FOR_SUPPLIER:
        return _page(action, token, 409 if request.method == "POST" else 200, already=request.method == "POST")
    if request.method == "GET":
        return _page(action, token)
    # The CSRF token was checked before the view ran; the service reads only the answer's fields.
    submit = request.form.get("action") == "submit"
    uploads = request.files.getlist("files")
    remove_files = set(request.form.getlist("remove_file", type=int))
    try:
        with unit_of_work():
            service.respond(action, request.form, uploads, remove_files, submit=submit)
    except ValidationFailed as exc:
        return _page(action, token, 422, errors=exc.fields, message=exc.message,
                     answer=service.answer_from_form(request.form), files_dropped=any(f.filename for f in uploads))
    except service.LinkClosed:
        return _after_conflict(token)
    except (StaleDataError, IntegrityError):
        log.info("corrective-action portal: concurrent save on action %s", action.id)
        return _after_conflict(token)
    if submit:
        flash(_("Thank you. %(company)s has received your answer.", company=current_app.config["CATENA_COMPANY_NAME"]),
              "success")
    else:
        flash(_("Your answer is saved. You can come back through the same link until you submit."), "success")
    return redirect(url_for("audits.action_portal", token=token), 303)


def _after_conflict(token: str):
    """The action changed under this request: show what it is now."""
    db.session.rollback()
    action = service.action_for_token(token)
    if action is None:
        abort(404)
    if _is_closed(action, utcnow()):
        return _gone(action)
    if action.state not in ACTION_OPEN_FOR_SUPPLIER:
        return _page(action, token, 409, already=True)
    return _page(action, token, 409,
                 message=_("Your answer was changed from another window meanwhile: please check it and save again."))


@bp.route(service.PORTAL_PATH + "<token>/files/<int:file_id>")
@with_action_link
def action_portal_file(action: CorrectiveAction, token: str, file_id: int):
    if _is_closed(action, utcnow()):
        return _gone(action)
    stored = service.file_of(action, file_id)
    if stored is None:
        log.warning("corrective-action link: file %s is not part of action %s (from %s)", file_id, action.id,
                    link_pages.client_address())
        abort(404)
    return send_stored(stored.stored_name, stored.content_type, stored.file_name)
