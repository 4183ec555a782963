"""Pages for service standards (SLAs), scorecards and rankings.

Routes (all under the blueprint's /suppliers prefix). Role pages live under /roles/… and the
revision under /slas/<int>/revise so that none is taken for a supplier code by the
one-segment /<code> route of the register:

    /<code>/slas                  SLAs applying to a supplier, with every version
    /<code>/slas/new              agree an SLA with the supplier
    /<code>/scorecard             each SLA over its last periods, chart, penalties
    /roles/                       the chain roles, with links to their SLAs and ranking
    /roles/<role>/slas            a role's default SLAs
    /roles/<role>/slas/new        agree a default SLA for a role
    /roles/<role>/ranking         the role's suppliers ranked by attainment score
    /slas/<int:series_id>/revise  a new version of an SLA
"""
from __future__ import annotations

import datetime as dt

from decimal import Decimal

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_currency, format_date, format_decimal, format_percent
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.access import permission_required
from app.db import unit_of_work
from app.errors import ServiceError
from app.forms import show_service_errors
from app.i18n import today
from incidents.models import STAGE_LABELS
from suppliers.forms import ReviseStandardForm, ServiceStandardForm
from suppliers.metrics import METRICS
from suppliers.models import WINDOW_LABELS, ChainRole, ServiceStandard, Supplier
from suppliers.services import scorecards
from suppliers.services.measurement import parse_month
from suppliers.services.standards import create_standard, revise_standard, series_for_role, series_for_supplier
from suppliers.views import bp
from suppliers.views.register import with_supplier

#: Spans a user may choose, in months (scorecard: periods per SLA; ranking: calendar months).
SCORECARD_MONTHS = (6, 12, 24)
RANKING_MONTHS = (1, 3, 6, 12)


@bp.record_once
def _share_labels(state):
    # Globals, not context: macros imported by templates see globals only.
    state.app.jinja_env.globals.update(
        SLA_STATUS_LABELS=scorecards.RESULT_STATUS_LABELS,
        SLA_STATUS_COLOURS=scorecards.RESULT_STATUS_COLOURS,
        METRICS=METRICS,
        STAGE_LABELS=STAGE_LABELS,
        WINDOW_LABELS=WINDOW_LABELS,
    )
    state.app.jinja_env.filters.update(sla_value=sla_value, money=money)


def sla_value(value, unit: str, precise: bool = False) -> str:
    """An SLA value or level as people read it: rates in % with one decimal (levels with up
    to three), durations in hours with one decimal. Empty for no value."""
    if value is None:
        return ""
    if unit == "rate":
        return format_percent(value, "#,##0.0##%" if precise else "#,##0.0%")
    if unit == "hours":
        return _("%(hours)s h", hours=format_decimal(value, "#,##0.0##" if precise else "#,##0.0"))
    return format_decimal(value, "#,##0.0##")


def money(amount) -> str:
    """An amount of money in euros (penalties are agreed in EUR)."""
    return format_currency(amount if amount is not None else Decimal(0), "EUR")


def _actor():
    return current_user._get_current_object()


def _chain_role(role: str) -> str:
    if role not in {r.value for r in ChainRole}:
        abort(404)
    return role


def last_day_from_args() -> tuple[dt.date, str]:
    """The last day shown: today, or the end of the month asked for with ?until=YYYY-MM
    (to look back at past data, such as the Olist sample of 2016–2018)."""
    current = today()
    try:
        asked = parse_month(request.args.get("until", ""))
    except ValueError:
        return current, ""
    end = (asked.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    if end >= current:
        return current, ""
    return end, f"{asked:%Y-%m}"


def months_from_args(name: str, allowed: tuple[int, ...], default: int) -> int:
    months = request.args.get(name, type=int)
    return months if months in allowed else default


def _owner_url(standard: ServiceStandard) -> str:
    if standard.supplier_id is not None:
        return url_for("suppliers.supplier_slas", code=standard.supplier.code)
    return url_for("suppliers.role_slas", role=standard.chain_role)


# Lists ----------------------------------------------------------------------------------

@bp.route("/<code>/slas")
@with_supplier("slas.view")
def supplier_slas(supplier: Supplier):
    return render_template("suppliers/standards/list.html", supplier=supplier, role=None,
                           series=series_for_supplier(supplier), today=today())


@bp.route("/roles/")
@permission_required("slas.view")
def roles():
    return render_template("suppliers/standards/roles.html")


@bp.route("/roles/<role>/slas")
@permission_required("slas.view")
def role_slas(role: str):
    role = _chain_role(role)
    return render_template("suppliers/standards/list.html", supplier=None, role=role,
                           series=series_for_role(role), today=today())


# Agreeing and revising -------------------------------------------------------------------

def _create(form: ServiceStandardForm, *, supplier: Supplier | None = None, role: str | None = None):
    """Create from a posted form; the redirect on success, else None with errors on the form."""
    try:
        with unit_of_work():
            standard = create_standard(form.values(), _actor(), supplier=supplier, chain_role=role)
    except ServiceError as exc:
        show_service_errors(form, exc)
        return None
    flash(_("SLA “%(name)s” agreed.", name=standard.name), "success")
    return redirect(_owner_url(standard))


@bp.route("/<code>/slas/new", methods=["GET", "POST"])
@with_supplier("slas.edit")
def new_supplier_sla(supplier: Supplier):
    form = ServiceStandardForm()
    if form.validate_on_submit() and (done := _create(form, supplier=supplier)):
        return done
    return render_template("suppliers/standards/form.html", form=form, supplier=supplier, role=None,
                           current=None), 422 if form.is_submitted() else 200


@bp.route("/roles/<role>/slas/new", methods=["GET", "POST"])
@permission_required("slas.edit")
def new_role_sla(role: str):
    role = _chain_role(role)
    form = ServiceStandardForm()
    if form.validate_on_submit() and (done := _create(form, role=role)):
        return done
    return render_template("suppliers/standards/form.html", form=form, supplier=None, role=role,
                           current=None), 422 if form.is_submitted() else 200


@bp.route("/slas/<int:series_id>/revise", methods=["GET", "POST"])
@permission_required("slas.edit")
def revise_sla(series_id: int):
    versions = scorecards.get_series(series_id)
    if not versions:
        abort(404)
    current = versions[-1]
    form = ReviseStandardForm(data=None if request.method == "POST"
                              else ReviseStandardForm.initial_from(current, today()))
    form.keep_measure(current)
    if form.validate_on_submit():
        try:
            with unit_of_work():
                revised = revise_standard(current, form.values(), _actor(), form.reason.data)
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Version %(version)d of “%(name)s” applies from %(date)s.", version=revised.version,
                    name=revised.name, date=format_date(revised.valid_from)), "success")
            return redirect(_owner_url(revised))
    return render_template("suppliers/standards/form.html", form=form, supplier=current.supplier,
                           role=current.chain_role, current=current, versions=versions, today=today()
                           ), 422 if form.is_submitted() else 200


# Scorecard and ranking -------------------------------------------------------------------

@bp.route("/<code>/scorecard")
@with_supplier("slas.view")
def scorecard(supplier: Supplier):
    months = months_from_args("months", SCORECARD_MONTHS, 12)
    last_day, until = last_day_from_args()
    card = scorecards.scorecard(supplier, last_day, periods=months, running_day=today())
    return render_template("suppliers/scorecard.html", supplier=supplier, card=card, months=months,
                           choices=SCORECARD_MONTHS, until=until)


@bp.route("/roles/<role>/ranking")
@permission_required("slas.view")
def ranking(role: str):
    role = _chain_role(role)
    months = months_from_args("months", RANKING_MONTHS, 3)
    last_day, until = last_day_from_args()
    first, last = scorecards.month_span_ending(last_day, months)
    return render_template("suppliers/ranking.html", role=role, ranking=scorecards.ranking(role, first, last),
                           months=months, choices=RANKING_MONTHS, until=until)
