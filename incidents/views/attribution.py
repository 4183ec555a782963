"""The attribution panel of an incident: Catena's proposal, the decision and its history.

`attribution_panel(incident)` is a Jinja global that the incident page calls; the same
template rendered inside `base.html` is the stand-alone page a refused decision comes back to.
The rules page shows, and lets the quality office change, the rule each category uses.
"""
from __future__ import annotations

import functools
from decimal import Decimal

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from werkzeug.routing import BuildError

from app.auth.access import permission_required
from app.db import db, unit_of_work
from app.errors import ServiceError
from app.uploads import discard, send_stored, store_upload
from incidents.attribution_forms import INTERNAL, AttributionForm, ConfirmProposalForm, RuleForm
from incidents.models import STAGE_LABELS, Incident, IncidentCategory
from incidents.services import attribution as service
from incidents.views import bp

#: Renders only the content block: the panel inside another page.
_BARE_LAYOUT = "{% block content %}{% endblock %}"


@bp.record_once
def _register_panel(state):
    state.app.extensions["attribution_bare_layout"] = state.app.jinja_env.from_string(_BARE_LAYOUT)
    state.app.jinja_env.globals["attribution_panel"] = attribution_panel


def with_incident(permission: str):
    """Load the incident named by <incident_id> (404 if none) after checking `permission`."""

    def decorator(view):
        @functools.wraps(view)
        @permission_required(permission)
        def wrapped(incident_id, *args, **kwargs):
            incident = db.session.get(Incident, incident_id)
            if incident is None:
                abort(404)
            return view(incident, *args, **kwargs)

        return wrapped

    return decorator


def _actor():
    return current_user._get_current_object()


def percent(share) -> str:
    """A fraction as a percentage without trailing zeros: 0.666667 → "66.6667", 1 → "100"."""
    return format((Decimal(str(share)) * 100).normalize(), "f")


def _incident_url(incident: Incident) -> str:
    try:
        return url_for("incidents.detail", incident_id=incident.id)
    except BuildError:  # the incident page is not there yet: the stand-alone panel stands in
        return url_for("incidents.attribution", incident_id=incident.id)


def _root_cause_pairs():
    return [(code, str(label)) for code, label in service.ROOT_CAUSES.items()]


def _party_labels(legs) -> dict[str, str]:
    labels = {f"leg:{leg.id}": f"{leg.sequence}. {STAGE_LABELS.get(leg.stage, leg.stage)} · {leg.supplier.code}"
              for leg in legs}
    labels[INTERNAL] = _("Internal (our own fault)")
    return labels


def _decision_form(legs, proposals, history) -> AttributionForm:
    """A fresh form with a row per leg and one for "internal", filled from the current decision,
    else from the proposal."""
    filled: dict[str, dict] = {}
    if history:
        for s in history[0].shares:
            key = INTERNAL if s.is_internal else (f"leg:{s.leg_id}" if s.leg_id else None)
            if key:
                filled[key] = {"share": percent(s.share), "root_cause": s.root_cause or "", "evidence": s.evidence or ""}
    else:
        for p in proposals:
            filled[f"leg:{p.leg.id}"] = {"share": percent(p.share), "root_cause": p.root_cause, "evidence": ""}
    rows = [{"party": key, **filled.get(key, {"share": "", "root_cause": "", "evidence": ""})}
            for key in [*(f"leg:{leg.id}" for leg in legs), INTERNAL]]
    form = AttributionForm(formdata=None, rows=rows)
    form.set_root_causes(_root_cause_pairs())
    return form


def _panel_context(incident: Incident, form: AttributionForm | None = None,
                   form_errors: list | None = None) -> dict:
    legs = service.chain_legs(incident.order)
    proposals = service.propose(incident)
    history = service.decision_history(incident)
    can_attribute = current_user.is_authenticated and current_user.can("incidents.attribute")
    if can_attribute and form is None:
        form = _decision_form(legs, proposals, history)
    return {
        "incident": incident,
        "proposals": proposals,
        "history": history,
        "can_attribute": can_attribute,
        "form": form,
        "form_errors": form_errors or [],
        "confirm_form": ConfirmProposalForm(formdata=None) if can_attribute and proposals else None,
        "party_labels": _party_labels(legs),
        "has_chain": bool(legs),
        "rule_label": service.RULE_LABELS.get(incident.category.attribution_rule),
        "ROOT_CAUSES": service.ROOT_CAUSES,
        "percent": percent,
    }


def attribution_panel(incident: Incident) -> Markup:
    """The panel for the incident page: `{{ attribution_panel(incident) }}`."""
    layout = current_app.extensions["attribution_bare_layout"]
    return Markup(render_template("incidents/_attribution.html", layout=layout, standalone=False,
                                  **_panel_context(incident)))


def _render_page(incident: Incident, status: int = 200, **context):
    return render_template("incidents/_attribution.html", layout="base.html", standalone=True,
                           incident_url=_incident_url(incident), **_panel_context(incident, **context)), status


def _place_errors(form: AttributionForm, error: ServiceError, positions: list[int]) -> list:
    """Put `decide`'s field errors beside the rows they name; return those of the whole form."""
    general = []
    for key, message in error.fields.items():
        parts = key.split("-")
        if len(parts) == 3 and parts[0] == "parties" and parts[1].isdigit() and int(parts[1]) < len(positions):
            sub = form.rows[positions[int(parts[1])]].form
            field = getattr(sub, parts[2], None)
            if field is not None:
                field.errors = list(field.errors) + [message]
                continue
        general.append(message)
    return general


@bp.route("/incidents/<int:incident_id>/evidence/<int:evidence_id>")
@with_incident("incidents.view")
def evidence_file(incident: Incident, evidence_id: int):
    evidence = service.evidence_of(incident, evidence_id)
    if evidence is None:
        abort(404)
    return send_stored(evidence.stored_name, evidence.content_type, evidence.file_name)


@bp.route("/incidents/<int:incident_id>/attribution", methods=["GET"])
@with_incident("incidents.view")
def attribution(incident: Incident):
    return _render_page(incident)


@bp.route("/incidents/<int:incident_id>/attribution", methods=["POST"])
@with_incident("incidents.attribute")
def attribute(incident: Incident):
    if request.form.get("confirm"):
        confirm = ConfirmProposalForm()
        if not confirm.validate_on_submit():
            abort(400)
        proposals = service.propose(incident)
        if not proposals:
            flash(_("Catena has no proposal for this incident: decide yourself."), "warning")
            return redirect(_incident_url(incident))
        try:
            with unit_of_work():
                service.decide(incident, service.proposal_parties(proposals), _actor(), note=confirm.note.data)
        except ServiceError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(_("Catena's proposal is confirmed."), "success")
        return redirect(_incident_url(incident))

    form = AttributionForm()
    form.set_root_causes(_root_cause_pairs())
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _render_page(incident, 422, form=form)
    parties, positions = form.parties()
    if form.has_share_errors:
        flash(_("The attribution was not saved."), "danger")
        return _render_page(incident, 422, form=form)
    stored = []
    try:
        # Files are checked by content and stored first; if anything fails they are removed.
        for upload in form.evidence_files.data or []:
            if upload and upload.filename:
                stored.append(store_upload(upload, ("pdf", "png", "jpeg"),
                                           current_app.config["CERTIFICATE_MAX_BYTES"], field="evidence_files"))
        with unit_of_work():
            decision = service.decide(incident, parties, _actor(), note=form.note.data)
            service.attach_evidence(decision, stored, _actor())
    except ServiceError as exc:
        for file in stored:
            discard(file.stored_name)
        general = _place_errors(form, exc, positions)
        if "evidence_files" in exc.fields:
            form.evidence_files.errors = [exc.fields["evidence_files"]]
        flash(str(exc.message), "danger")
        return _render_page(incident, exc.status, form=form, form_errors=general)
    except BaseException:
        for file in stored:
            discard(file.stored_name)
        raise
    flash(_("Attribution recorded (revision %(revision)s).", revision=decision.revision), "success")
    return redirect(_incident_url(incident))


# Rules per category ---------------------------------------------------------------------

def _rule_choices():
    return [(code, str(label)) for code, label in service.RULE_LABELS.items()]


@bp.route("/incidents/attribution-rules")
@permission_required("incidents.view")
def attribution_rules():
    categories = service.categories_with_rules()
    can_edit = current_user.can("slas.edit")
    forms = {}
    if can_edit:
        for category in categories:
            form = RuleForm(formdata=None, rule=category.attribution_rule)
            form.rule.choices = _rule_choices()
            forms[category.id] = form
    return render_template("incidents/attribution_rules.html", categories=categories, forms=forms,
                           locale=str(get_locale()), RULE_LABELS=service.RULE_LABELS,
                           RULE_EXPLANATIONS=service.RULE_EXPLANATIONS)


@bp.route("/incidents/attribution-rules/<int:category_id>", methods=["POST"])
@permission_required("slas.edit")
def set_attribution_rule(category_id: int):
    category = db.session.get(IncidentCategory, category_id)
    if category is None:
        abort(404)
    form = RuleForm()
    form.rule.choices = _rule_choices()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                service.set_category_rule(category, form.rule.data, _actor())
        except ServiceError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(_("The rule of %(category)s is now: %(rule)s.", category=category.label(str(get_locale())),
                    rule=service.RULE_LABELS[category.attribution_rule]), "success")
    else:
        if form.csrf_token.errors:
            abort(400)
        flash(_("Choose a rule from the list."), "danger")
    return redirect(url_for("incidents.attribution_rules"))
