"""Pages of customer incidents: intake, the backlog with bulk assignment, one incident's
life (interactions, costs, status) with its order's chain."""
from __future__ import annotations

import functools

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.access import permission_required
from app.db import db, unit_of_work, utcnow
from app.errors import ServiceError
from app.forms import choices, show_service_errors
from app.i18n import company_zone
from app.pagination import BadCursor
from incidents.forms import (
    backlog_filters_from_args,
    COST_KIND_LABELS,
    DIRECTION_LABELS,
    AssignForm,
    CostLineForm,
    IncidentForm,
    InteractionForm,
    StatusForm,
)
from incidents.models import (
    CHANNEL_LABELS,
    INCIDENT_STATUS_COLOURS,
    INCIDENT_STATUS_LABELS,
    INCIDENT_TRANSITIONS,
    PRIORITY_LABELS,
    IncidentStatus,
)
from incidents.services import incidents as services
from incidents.services import orders as order_services
from incidents.views import bp


@bp.record_once
def _share_labels(state):
    state.app.jinja_env.globals.update(
        INCIDENT_STATUS_LABELS=INCIDENT_STATUS_LABELS, INCIDENT_STATUS_COLOURS=INCIDENT_STATUS_COLOURS,
        CHANNEL_LABELS=CHANNEL_LABELS, PRIORITY_LABELS=PRIORITY_LABELS, COST_KIND_LABELS=COST_KIND_LABELS,
        DIRECTION_LABELS=DIRECTION_LABELS, incident_money=_money)


def _money(value) -> str:
    """An amount in euro with two decimal places, in the reader's number format."""
    return format_decimal(value, "#,##0.00") if value is not None else ""


def _actor():
    return current_user._get_current_object()


def with_incident(permission: str):
    """Load the incident named by <incident_id> (404 if none) after checking `permission`."""

    def decorator(view):
        @functools.wraps(view)
        @permission_required(permission)
        def wrapped(incident_id, *args, **kwargs):
            incident = services.get_incident(incident_id)
            if incident is None:
                abort(404)
            return view(incident, *args, **kwargs)

        return wrapped

    return decorator


def _assignee_choices(users=None):
    users = services.assignable_users() if users is None else users
    return choices([("", _("Nobody"))] + [(str(u.id), u.name) for u in users])


@bp.route("/incidents/")
@permission_required("incidents.view")
def backlog():
    filters, shown = backlog_filters_from_args(request.args)
    try:
        page = services.backlog(filters, cursor=request.args.get("cursor"), limit=current_app.config["PAGE_SIZE"])
    except BadCursor:
        abort(400)
    users = services.assignable_users()
    form = AssignForm()
    form.assignee.choices = _assignee_choices(users)
    args = {k: v for k, v in request.args.items() if k != "cursor"}
    return render_template("incidents/incidents/backlog.html", page=page, form=form, args=args, now=utcnow(),
                           categories=services.all_categories(), users=users,
                           category=filters.category or "", supplier=filters.supplier or "",
                           assignee=shown["assignee"], traceable=shown["traceable"])


@bp.route("/incidents/assign", methods=["POST"])
@permission_required("incidents.handle")
def assign():
    form = AssignForm()
    form.assignee.choices = _assignee_choices()
    if not form.validate():
        flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "danger")
        return redirect(url_for("incidents.backlog"))
    try:
        with unit_of_work():
            assignee = db.session.get(services.User, int(form.assignee.data)) if form.assignee.data else None
            changed = services.assign(services.incidents_by_ids(form.incident_ids.data[:500]), assignee, _actor())
    except ServiceError as error:
        flash(str(error.message), "danger")
    else:
        flash(_("%(n)s incidents assigned.", n=changed), "success")
    return redirect(url_for("incidents.backlog"))


@bp.route("/incidents/orders/suggest")
@permission_required("orders.view")
def suggest_orders():
    """Type-ahead for the order field: reference and customer reference of up to 10 orders."""
    orders = services.suggest_orders(request.args.get("q", "")[:64])
    return jsonify([{"ref": o.ref, "customer_ref": o.customer_ref} for o in orders])


@bp.route("/incidents/new", methods=["GET", "POST"])
@permission_required("incidents.handle")
def create():
    form = IncidentForm()
    if form.validate_on_submit():
        values = {name: getattr(form, name).data for name in ("order_ref", "channel", "category", "priority",
                                                                "description")}
        # The form's time is a wall-clock time of the company zone.
        values["reported_at"] = form.reported_at.data.replace(tzinfo=company_zone())
        try:
            with unit_of_work():
                incident = services.create_incident(values, _actor())
        except ServiceError as error:
            show_service_errors(form, error)
        else:
            if incident.needs_follow_up:
                flash(_("Incident %(id)s recorded without a known order: it is flagged for follow-up.",
                        id=incident), "warning")
            else:
                flash(_("Incident %(id)s recorded.", id=incident), "success")
            return redirect(url_for("incidents.detail", incident_id=incident.id))
    return render_template("incidents/incidents/new.html", form=form), 422 if form.errors else 200


def _render_detail(incident, status=200, **forms):
    forms.setdefault("interaction_form", InteractionForm(formdata=None))
    forms.setdefault("cost_form", CostLineForm(formdata=None))
    status_form = forms.setdefault("status_form", StatusForm(formdata=None))
    allowed = INCIDENT_TRANSITIONS[IncidentStatus(incident.status)]
    status_form.status.choices = choices((s.value, INCIDENT_STATUS_LABELS[s]) for s in IncidentStatus if s in allowed)
    timeline = order_services.timeline(incident.order, utcnow()) if incident.order else []
    return render_template("incidents/incidents/detail.html", incident=incident, timeline=timeline, now=utcnow(),
                           cost_total=services.cost_total(incident), **forms), status


@bp.route("/incidents/<int:incident_id>")
@with_incident("incidents.view")
def detail(incident):
    return _render_detail(incident)


@bp.route("/incidents/<int:incident_id>/interactions", methods=["POST"])
@with_incident("incidents.handle")
def add_interaction(incident):
    form = InteractionForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.add_interaction(incident, {"channel": form.channel.data, "direction": form.direction.data,
                                                    "note": form.note.data}, _actor())
        except ServiceError as error:
            show_service_errors(form, error)
        else:
            flash(_("Interaction recorded."), "success")
            return redirect(url_for("incidents.detail", incident_id=incident.id, _anchor="interactions"))
    return _render_detail(incident, 422, interaction_form=form)


@bp.route("/incidents/<int:incident_id>/costs", methods=["POST"])
@with_incident("incidents.handle")
def add_cost(incident):
    form = CostLineForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.add_cost_line(incident, {"kind": form.kind.data, "amount": form.amount.data,
                                                  "note": form.note.data}, _actor())
        except ServiceError as error:
            show_service_errors(form, error)
        else:
            flash(_("Cost recorded."), "success")
            return redirect(url_for("incidents.detail", incident_id=incident.id, _anchor="costs"))
    return _render_detail(incident, 422, cost_form=form)


@bp.route("/incidents/<int:incident_id>/status", methods=["POST"])
@with_incident("incidents.handle")
def change_status(incident):
    form = StatusForm()
    allowed = INCIDENT_TRANSITIONS[IncidentStatus(incident.status)]
    form.status.choices = choices((s.value, INCIDENT_STATUS_LABELS[s]) for s in IncidentStatus if s in allowed)
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.change_status(incident, form.status.data, _actor(), csat=form.csat.data,
                                       note=form.note.data)
        except ServiceError as error:
            show_service_errors(form, error)
        else:
            flash(_("Status changed to %(status)s.", status=INCIDENT_STATUS_LABELS[IncidentStatus(incident.status)]),
                  "success")
            return redirect(url_for("incidents.detail", incident_id=incident.id))
    return _render_detail(incident, 422, status_form=form)
