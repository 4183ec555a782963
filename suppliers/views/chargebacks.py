"""Pages of a supplier's chargeback statements and its chargeback policy.

Routes (under the blueprint's /suppliers prefix):

    /<code>/chargebacks                         statements, the applicable policy, prepare a month
    /<code>/chargebacks/prepare        POST     prepare or refresh the statement of a month
    /<code>/chargebacks/policy         POST     set the supplier's own policy
    /<code>/chargebacks/<id>                    one statement with its lines
    /<code>/chargebacks/<id>/refresh   POST     recompute a draft
    /<code>/chargebacks/<id>/send      POST     draft → sent
    /<code>/chargebacks/<id>/respond   POST     sent → accepted | disputed

The rules are in incidents.services.chargebacks.
"""
from __future__ import annotations

import calendar
import datetime as dt

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.routing import BuildError

from app.db import unit_of_work
from app.errors import Conflict, ServiceError
from app.forms import show_service_errors
from incidents.models import ChargebackStatement, ChargebackStatus
from incidents.services import chargebacks as service
from suppliers.chargeback_forms import ConfirmForm, PolicyForm, PrepareForm, RespondForm
from suppliers.models import Supplier
from suppliers.views import bp
from suppliers.views.register import with_supplier


@bp.record_once
def _share_labels(state):
    # Globals, not context: macros imported by templates see globals only.
    state.app.jinja_env.globals.update(
        CHARGEBACK_STATUS_LABELS=service.CHARGEBACK_STATUS_LABELS,
        CHARGEBACK_STATUS_COLOURS=service.CHARGEBACK_STATUS_COLOURS,
    )


def _actor():
    return current_user._get_current_object()


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def incident_url(incident_id: int) -> str | None:
    """The incident's page, when the incidents domain has one (None otherwise)."""
    try:
        return url_for("incidents.detail", incident_id=incident_id)
    except BuildError:
        return None


def month_period(first: dt.date) -> tuple[dt.date, dt.date]:
    """The calendar month containing `first`, as (first day, last day)."""
    start = first.replace(day=1)
    return start, start.replace(day=calendar.monthrange(start.year, start.month)[1])


def _statement_of(supplier: Supplier, statement_id: int) -> ChargebackStatement:
    statement = service.get_statement(supplier, statement_id)
    if statement is None:
        abort(404)
    return statement


def _policy_form(supplier: Supplier) -> PolicyForm:
    own = service.policy_of(supplier)
    if own is None:
        return PolicyForm(formdata=None, charges_costs=True)
    return PolicyForm(formdata=None, per_incident_amount=own.per_incident_amount, charges_costs=own.charges_costs,
                      cap_per_statement=own.cap_per_statement)


def _render_list(supplier: Supplier, prepare_form=None, policy_form=None, status: int = 200):
    return render_template(
        "suppliers/chargebacks/list.html", supplier=supplier, statements=service.statements_for(supplier),
        terms=service.terms_for(supplier), prepare_form=prepare_form or PrepareForm(formdata=None),
        policy_form=policy_form or _policy_form(supplier),
    ), status


@bp.route("/<code>/chargebacks")
@with_supplier("chargebacks.view")
def chargebacks(supplier: Supplier):
    return _render_list(supplier)


@bp.route("/<code>/chargebacks/prepare", methods=["POST"])
@with_supplier("chargebacks.manage")
def prepare_chargeback(supplier: Supplier):
    form = PrepareForm()
    if form.validate_on_submit():
        start, end = month_period(form.month.data)
        try:
            with unit_of_work():
                statement = service.prepare_statement(supplier, start, end, _actor())
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Statement %(id)s prepared: %(count)d incidents.", id=str(statement),
                    count=len(statement.lines)), "success")
            return redirect(url_for("suppliers.chargeback", code=supplier.code, statement_id=statement.id))
    return _render_list(supplier, prepare_form=form, status=422)


@bp.route("/<code>/chargebacks/policy", methods=["POST"])
@with_supplier("chargebacks.manage")
def chargeback_policy(supplier: Supplier):
    form = PolicyForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                service.set_policy(supplier, form.values(), _actor())
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Chargeback policy of %(code)s saved. Draft statements change when refreshed.",
                    code=supplier.code), "success")
            return redirect(url_for("suppliers.chargebacks", code=supplier.code))
    return _render_list(supplier, policy_form=form, status=422)


def _render_statement(supplier: Supplier, statement: ChargebackStatement, respond_form=None, status: int = 200):
    terms = service.terms_for(supplier)
    return render_template(
        "suppliers/chargebacks/statement.html", supplier=supplier, statement=statement,
        lines=service.statement_lines_with_orders(statement), terms=terms,
        confirm_form=ConfirmForm(formdata=None, version=statement.version),
        respond_form=respond_form or RespondForm(formdata=None, version=statement.version),
        incident_url=incident_url, ChargebackStatus=ChargebackStatus,
    ), status


@bp.route("/<code>/chargebacks/<int:statement_id>")
@with_supplier("chargebacks.view")
def chargeback(supplier: Supplier, statement_id: int):
    return _render_statement(supplier, _statement_of(supplier, statement_id))


def _one_button(supplier: Supplier, statement: ChargebackStatement, action, done_message: str):
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                action(statement, _int_or_none(form.version.data))
        except Conflict as exc:
            flash(str(exc.message), "danger")
        except ServiceError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(done_message, "success")
    return redirect(url_for("suppliers.chargeback", code=supplier.code, statement_id=statement.id))


@bp.route("/<code>/chargebacks/<int:statement_id>/refresh", methods=["POST"])
@with_supplier("chargebacks.manage")
def refresh_chargeback(supplier: Supplier, statement_id: int):
    statement = _statement_of(supplier, statement_id)
    return _one_button(
        supplier, statement,
        lambda s, version: service.prepare_statement(supplier, s.period_start, s.period_end, _actor(),
                                                     expected_version=version),
        _("Statement refreshed from the current attributions, costs and policy."))


@bp.route("/<code>/chargebacks/<int:statement_id>/send", methods=["POST"])
@with_supplier("chargebacks.manage")
def send_chargeback(supplier: Supplier, statement_id: int):
    statement = _statement_of(supplier, statement_id)
    return _one_button(supplier, statement,
                       lambda s, version: service.send_statement(s, _actor(), expected_version=version),
                       _("Statement marked as sent. It can no longer change."))


@bp.route("/<code>/chargebacks/<int:statement_id>/respond", methods=["POST"])
@with_supplier("chargebacks.manage")
def respond_chargeback(supplier: Supplier, statement_id: int):
    statement = _statement_of(supplier, statement_id)
    form = RespondForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                service.record_response(statement, form.outcome.data == "accepted", form.note.data, _actor(),
                                        expected_version=_int_or_none(form.version.data))
        except Conflict as exc:
            flash(str(exc.message), "danger")
            return redirect(url_for("suppliers.chargeback", code=supplier.code, statement_id=statement.id))
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("The supplier's answer is recorded."), "success")
            return redirect(url_for("suppliers.chargeback", code=supplier.code, statement_id=statement.id))
    return _render_statement(supplier, statement, respond_form=form, status=422)
