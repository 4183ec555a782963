"""Pages of the audit programme: the plans, one plan (its suppliers, recurrence in words, the
next firings, its audits), creating and editing, activating, "run due now", and the programme
calendar (a month grid, or a list on a phone or with ?view=list).

Routes, under /audits:

    /audits/plans                          the plans
    /audits/plans/new                      a new plan
    /audits/plans/<id>                     one plan
    /audits/plans/<id>/edit                change it
    /audits/plans/<id>/activate|deactivate start or stop its firings
    /audits/plans/<id>/run-due             fire what is due today (and missed days) now
    /audits/calendar?month=YYYY-MM[&view=list]
"""
from __future__ import annotations

import calendar as calendar_module
import datetime as dt
import functools

from babel.dates import get_day_names, get_month_names
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.routing import BuildError

from app.auth.access import permission_required
from app.db import db, unit_of_work
from app.errors import Conflict, ServiceError
from app.forms import show_service_errors
from app.i18n import today
from app.pagination import BadCursor
from audits.models import (
    AUDIT_STATUS_LABELS,
    AUDIT_TYPE_LABELS,
    PERIOD_BASIS_LABELS,
    Audit,
    AuditPlan,
    AuditStatus,
)
from audits.plan_forms import PlanActionForm, PlanForm
from audits.services import programme
from audits.views import bp
from questionnaires.services import templates as template_service
from suppliers.models import CHAIN_ROLE_LABELS, RISK_CLASS_LABELS, STATUS_LABELS

#: Calendar entry colours by audit status (the same as the audit badges), each with its word.
CALENDAR_STATUS_COLOURS = {"planned": "secondary", "in_progress": "info", "report_issued": "primary",
                           "closed": "success"}
#: Audits listed on one plan's page (the newest).
PLAN_AUDITS_SHOWN = 50


@bp.record_once
def _share(state):
    state.app.jinja_env.globals.update(audit_url=audit_url)


def audit_url(audit_id: int) -> str | None:
    """The audit's page, if that page exists in this build (it belongs to audits.views.audits)."""
    try:
        return url_for("audits.audit", audit_id=audit_id)
    except BuildError:
        return None


def _actor():
    return current_user._get_current_object()


def with_plan(permission: str):
    """Load the plan named by <plan_id> (404 if none) after checking `permission`."""

    def decorator(view):
        @functools.wraps(view)
        @permission_required(permission)
        def wrapped(plan_id, *args, **kwargs):
            plan = programme.get_plan(plan_id)
            if plan is None:
                abort(404)
            return view(plan, *args, **kwargs)

        return wrapped

    return decorator


def _form(**kwargs) -> PlanForm:
    form = PlanForm(**kwargs)
    form.set_choices(programme.eligible_lead_auditors(),
                     [t for t in template_service.templates_list() if t.published is not None])
    return form


def _labels() -> dict:
    return dict(AUDIT_TYPE_LABELS={t.value: label for t, label in AUDIT_TYPE_LABELS.items()},
                PERIOD_BASIS_LABELS={b.value: label for b, label in PERIOD_BASIS_LABELS.items()},
                STATUS_LABELS_BY_CODE={s.value: label for s, label in AUDIT_STATUS_LABELS.items()},
                CALENDAR_STATUS_COLOURS=CALENDAR_STATUS_COLOURS, CHAIN_ROLE_LABELS=CHAIN_ROLE_LABELS,
                SUPPLIER_STATUS_LABELS=STATUS_LABELS, RISK_CLASS_LABELS=RISK_CLASS_LABELS)


# The plans -----------------------------------------------------------------------------------

@bp.route("/audits/plans")
@permission_required("audits.view")
def plans():
    try:
        page = programme.list_plans(cursor=request.args.get("cursor"), limit=50)
    except BadCursor:
        abort(400)
    return render_template("audits/plans/list.html", page=page, describe=programme.describe_recurrence,
                           **_labels())


@bp.route("/audits/plans/new", methods=["GET", "POST"])
@permission_required("audits.plan")
def plan_new():
    form = _form(data=None if request.method == "POST" else {"starts_on": today()})
    if form.validate_on_submit():
        try:
            with unit_of_work():
                plan = programme.create_plan(form.values(), _actor())
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Audit plan “%(name)s” added to the programme.", name=plan.name), "success")
            return redirect(url_for("audits.plan", plan_id=plan.id))
    return render_template("audits/plans/form.html", form=form, plan=None), 422 if form.is_submitted() else 200


@bp.route("/audits/plans/<int:plan_id>/edit", methods=["GET", "POST"])
@with_plan("audits.plan")
def plan_edit(plan: AuditPlan):
    form = _form(data=None if request.method == "POST" else PlanForm.data_from(plan))
    status = 200
    if form.validate_on_submit():
        try:
            with unit_of_work():
                programme.update_plan(plan, form.values(), _actor(), expected_version=form.expected_version())
        except ServiceError as exc:
            show_service_errors(form, exc)
            status = exc.status
        else:
            flash(_("Audit plan “%(name)s” saved.", name=plan.name), "success")
            return redirect(url_for("audits.plan", plan_id=plan.id))
    elif form.is_submitted():
        status = 422
    return render_template("audits/plans/form.html", form=form, plan=plan), status


@bp.route("/audits/plans/<int:plan_id>")
@with_plan("audits.view")
def plan(plan: AuditPlan):
    current = today()
    audits = db.session.scalars(
        select(Audit).where(Audit.plan_id == plan.id).options(selectinload(Audit.supplier))
        .order_by(Audit.scheduled_for.desc(), Audit.id.desc()).limit(PLAN_AUDITS_SHOWN)).all()
    matching = programme.suppliers_for(plan, current)
    return render_template(
        "audits/plans/detail.html", plan=plan, audits=audits, matching=matching,
        next_days=programme.next_firing_days(plan, current) if plan.is_active else [],
        last_firing=programme.last_firing(plan), recurrence_text=programme.describe_recurrence(plan),
        action_form=PlanActionForm(data={"version": plan.version}), shown=PLAN_AUDITS_SHOWN, **_labels())


def _plan_action(plan: AuditPlan, operation, message: str):
    form = PlanActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        version = int(form.version.data) if form.version.data else None
    except ValueError:
        version = None
    try:
        with unit_of_work():
            operation(version)
    except Conflict as exc:
        flash(str(exc.message), "danger")
        return redirect(url_for("audits.plan", plan_id=plan.id))
    flash(message, "success")
    return redirect(url_for("audits.plan", plan_id=plan.id))


@bp.route("/audits/plans/<int:plan_id>/deactivate", methods=["POST"])
@with_plan("audits.plan")
def plan_deactivate(plan: AuditPlan):
    return _plan_action(plan, lambda v: programme.deactivate_plan(plan, _actor(), expected_version=v),
                        _("The plan no longer fires. Its audits stay."))


@bp.route("/audits/plans/<int:plan_id>/activate", methods=["POST"])
@with_plan("audits.plan")
def plan_activate(plan: AuditPlan):
    return _plan_action(plan, lambda v: programme.activate_plan(plan, _actor(), today(), expected_version=v),
                        _("The plan fires again from today."))


@bp.route("/audits/plans/<int:plan_id>/run-due", methods=["POST"])
@with_plan("audits.plan")
def plan_run_due(plan: AuditPlan):
    """Fire the plan's due firings now (what the scheduler would do at 02:00)."""
    if not PlanActionForm().validate_on_submit():
        abort(400)
    run = programme.run_due(today(), unit=unit_of_work, plan_ids=[plan.id])
    if run.failed:
        flash(_("Some firings failed and were logged; the others went ahead."), "danger")
    flash(_("%(firings)d firings, %(audits)d audits created.", firings=len(run.firings),
            audits=run.audits_created), "success")
    return redirect(url_for("audits.plan", plan_id=plan.id))


# The calendar --------------------------------------------------------------------------------

def _month_asked(current: dt.date) -> dt.date:
    text = request.args.get("month", "")
    try:
        year, month = (int(part) for part in text.split("-"))
        return dt.date(year, month, 1)
    except ValueError:
        return current.replace(day=1)


@bp.route("/audits/calendar")
@permission_required("audits.view")
def calendar():
    current = today()
    first = _month_asked(current)
    last = first.replace(day=calendar_module.monthrange(first.year, first.month)[1])
    weeks = calendar_module.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    grid_first, grid_last = weeks[0][0], weeks[-1][-1]
    audits = db.session.scalars(
        select(Audit).where(Audit.planned_date >= grid_first, Audit.planned_date <= grid_last)
        .options(selectinload(Audit.supplier)).order_by(Audit.planned_date, Audit.id)).all()
    by_day: dict[dt.date, list] = {}
    for audit in audits:
        by_day.setdefault(audit.planned_date, []).append(audit)
    # Firings still to come (from today on) in the grid, shown faint on their firing day.
    upcoming: dict[dt.date, list] = {}
    active = db.session.scalars(select(AuditPlan).where(AuditPlan.is_active.is_(True))
                                .order_by(AuditPlan.name)).all()
    for plan in active:
        for day in programme.firing_days(plan, max(grid_first, current), grid_last):
            upcoming.setdefault(day, []).append(plan)
    previous = (first - dt.timedelta(days=1)).replace(day=1)
    following = last + dt.timedelta(days=1)
    month_audits = [a for a in audits if first <= a.planned_date <= last]
    return render_template(
        "audits/plans/calendar.html", weeks=weeks, first=first, by_day=by_day, upcoming=upcoming,
        month_audits=month_audits,
        month_upcoming=sorted(((d, p) for d, plans in upcoming.items() if first <= d <= last for p in plans),
                              key=lambda pair: (pair[0], pair[1].name)),
        previous=f"{previous:%Y-%m}", following=f"{following:%Y-%m}", current=current,
        view="list" if request.args.get("view") == "list" else "grid",
        month_title=f"{get_month_names('wide', locale=get_locale())[first.month]} {first.year}",
        day_names=[get_day_names("abbreviated", locale=get_locale())[n] for n in range(7)],
        format_date=format_date, AuditStatus=AuditStatus, **_labels())
