"""Attribution disputes: the supplier's public page behind a private link, and the quality
office's side on the incident (links, the list of answers, settlement).

The public page `/dispute/<token>` needs no sign-in; the token is the only key and reaches one
dispute, hence one incident and one supplier's shares — no URL or form field names another
record. Unknown token → 404 (logged as a failed authorization); expired, revoked or already
answered → 410 naming the company and the person who sent the link, with no incident data.

Rate limit: no per-process counter (it would not hold across workers). A GET is one indexed
lookup of the token's digest; a POST can change the dispute once (conditional UPDATE in the
service), so repeated submissions are refused by the database whatever the worker.

Settling as "revised": the quality office first records the new decision in the attribution
panel (the existing form, with its checks), then settles the dispute as revised; the dispute
links that latest revision. The service also accepts parties directly for API use.
"""
from __future__ import annotations

import logging

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from app import link_pages
from app.db import db, unit_of_work, utcnow
from app.errors import ServiceError
from app.forms import choices
from incidents.dispute_forms import DisputeLinkForm, RevokeForm, SettleForm, SupplierAnswerForm
from incidents.models import (
    DISPUTE_STATUS_COLOURS,
    DISPUTE_STATUS_LABELS,
    OUTCOME_LABELS,
    STAGE_LABELS,
    DisputeStatus,
    Incident,
)
from incidents.services import attribution as attribution_service
from incidents.services import disputes as service
from incidents.views import bp
from incidents.views.attribution import _incident_url, percent, with_incident
from suppliers.models import Supplier

log = logging.getLogger(__name__)

_BARE_LAYOUT = "{% block content %}{% endblock %}"


@bp.record_once
def _register_panel(state):
    state.app.extensions["dispute_bare_layout"] = state.app.jinja_env.from_string(_BARE_LAYOUT)
    state.app.jinja_env.globals["dispute_panel"] = dispute_panel


def _actor():
    return current_user._get_current_object()


def _common() -> dict:
    return {"DISPUTE_STATUS_LABELS": DISPUTE_STATUS_LABELS, "DISPUTE_STATUS_COLOURS": DISPUTE_STATUS_COLOURS,
            "ROOT_CAUSES": attribution_service.ROOT_CAUSES, "STAGE_LABELS": STAGE_LABELS,
            "OUTCOME_LABELS": OUTCOME_LABELS, "percent": percent, "DisputeStatus": DisputeStatus}


# The supplier's page ---------------------------------------------------------------------

def _gone(dispute):
    """410: the link can change nothing; say whom to contact, show nothing of the incident."""
    sender = dispute.created_by
    explanation = (_("An answer has already been sent through this link.") if dispute.status != DisputeStatus.OPEN
                   else _("The link has expired or was withdrawn."))
    return link_pages.gone_page(explanation, sender.name if sender else None, sender.email if sender else None)


def _portal_page(dispute, form, status: int = 200):
    incident = dispute.incident
    legs = attribution_service.chain_legs(incident.order)
    return render_template(
        "incidents/disputes/portal.html", dispute=dispute, incident=incident, form=form,
        legs=legs, shares=service.supplier_shares(dispute), category=incident.category.label(str(get_locale())),
        order_ref=incident.order.ref if incident.order else incident.order_ref_given,
        company=current_app.config["CATENA_COMPANY_NAME"], **_common()), status


#: Failed lookups of dispute links are counted under this marker (app.link_pages), like the
#: questionnaire and corrective-action links: guessing is throttled per address.
PROBE_MARKER = "dispute-link:"
link_pages.protect(bp, frozenset({"incidents.dispute_portal"}))


def _dispute_or_404(token: str):
    link_pages.throttle(PROBE_MARKER)
    dispute = service.dispute_for_token(token)
    if dispute is None:
        link_pages.record_unknown_link(PROBE_MARKER, "dispute link", token)
        abort(404)
    return dispute


@bp.route("/dispute/<token>", methods=["GET", "POST"])
def dispute_portal(token: str):
    dispute = _dispute_or_404(token)
    if not dispute.is_usable(utcnow()):
        return _gone(dispute)
    form = SupplierAnswerForm()
    if request.method == "GET":
        return _portal_page(dispute, form)
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _portal_page(dispute, form, 422)
    try:
        # Only the answer and the statement are read: any id in the body is ignored.
        with unit_of_work():
            service.supplier_responds(dispute, form.answer.data == "accept", form.statement.data)
    except service.LinkGone:
        return _gone(dispute)
    except ServiceError as exc:
        for key, message in exc.fields.items():
            field = getattr(form, key, None)
            if field is not None:
                field.errors = list(field.errors) + [message]
        return _portal_page(dispute, form, exc.status)
    return render_template("incidents/disputes/answered.html", dispute=dispute,
                           company=current_app.config["CATENA_COMPANY_NAME"], **_common())


# The quality office's side ---------------------------------------------------------------

def _panel_context(incident: Incident) -> dict:
    can_manage = current_user.is_authenticated and current_user.can("incidents.disputes")
    context = {"incident": incident, "disputes": service.disputes_of(incident), "can_manage": can_manage,
               "now": utcnow(), **_common()}
    if can_manage:
        link_form = DisputeLinkForm(formdata=None)
        link_form.supplier_id.choices = choices([(s.id, f"{s.code} · {s.legal_name}")
                                                 for s in service.suppliers_of_current_decision(incident)])
        context.update(link_form=link_form, settle_form=SettleForm(formdata=None), revoke_form=RevokeForm(formdata=None))
    return context


def dispute_panel(incident: Incident) -> Markup:
    """The disputes panel for the incident page: `{{ dispute_panel(incident) }}`."""
    layout = current_app.extensions["dispute_bare_layout"]
    return Markup(render_template("incidents/_disputes.html", layout=layout, standalone=False,
                                  **_panel_context(incident)))


@bp.route("/incidents/<int:incident_id>/disputes")
@with_incident("incidents.view")
def disputes(incident: Incident):
    return render_template("incidents/_disputes.html", layout="base.html", standalone=True,
                           incident_url=_incident_url(incident), **_panel_context(incident))


def _disputes_url(incident: Incident) -> str:
    return url_for("incidents.disputes", incident_id=incident.id)


@bp.route("/incidents/<int:incident_id>/dispute-links", methods=["POST"])
@with_incident("incidents.disputes")
def create_dispute_link(incident: Incident):
    form = DisputeLinkForm()
    form.supplier_id.choices = choices([(s.id, s.code) for s in service.suppliers_of_current_decision(incident)])
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        flash(_("Choose a supplier named in the current decision."), "danger")
        return redirect(_disputes_url(incident))
    supplier = db.session.get(Supplier, form.supplier_id.data)
    try:
        with unit_of_work():
            dispute, secret = service.open_dispute_link(incident, supplier, _actor(), days_valid=form.days_valid.data)
            # Links are built from the configured base URL, never from the request's Host header.
            url = current_app.config["CATENA_BASE_URL"].rstrip("/") + url_for("incidents.dispute_portal",
                                                                              token=secret)
            mailed = service.notify_supplier(dispute, url, _actor())
    except ServiceError as exc:
        flash(str(exc.message), "danger")
        return redirect(_disputes_url(incident))
    contact = next((c for c in supplier.contacts if c.is_primary), None)
    if mailed:
        flash(_("The link was e-mailed to %(email)s.", email=mailed.recipient), "success")
    return render_template("incidents/disputes/link_created.html", incident=incident, dispute=dispute,
                           supplier=supplier, url=url, contact=contact,
                           incident_url=_incident_url(incident), disputes_url=_disputes_url(incident))


def _dispute_of(incident: Incident, dispute_id: int):
    dispute = service.dispute_of_incident(incident, dispute_id)
    if dispute is None:
        abort(404)
    return dispute


@bp.route("/incidents/<int:incident_id>/disputes/<int:dispute_id>/settle", methods=["POST"])
@with_incident("incidents.disputes")
def settle_dispute(incident: Incident, dispute_id: int):
    dispute = _dispute_of(incident, dispute_id)
    form = SettleForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        flash(_("Choose an outcome."), "danger")
        return redirect(_disputes_url(incident))
    try:
        with unit_of_work():
            service.settle(dispute, form.outcome.data == "upheld", _actor(), form.note.data)
    except ServiceError as exc:
        flash(str(exc.message), "danger")
    else:
        flash(_("The dispute is settled."), "success")
    return redirect(_disputes_url(incident))


@bp.route("/incidents/<int:incident_id>/disputes/<int:dispute_id>/revoke", methods=["POST"])
@with_incident("incidents.disputes")
def revoke_dispute_link(incident: Incident, dispute_id: int):
    dispute = _dispute_of(incident, dispute_id)
    form = RevokeForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        with unit_of_work():
            service.revoke(dispute, _actor())
    except ServiceError as exc:
        flash(str(exc.message), "danger")
    else:
        flash(_("The link is revoked."), "success")
    return redirect(_disputes_url(incident))
