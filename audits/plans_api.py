"""JSON API of the audit programme (/api/v1/audit-plans), over the same services as the pages."""
from __future__ import annotations

import marshmallow as ma
from flask import abort, g
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from app.api import ListArgsSchema, api_permission, id_field, invalid_cursor, list_response
from app.db import unit_of_work
from app.errors import ValidationFailed
from app.i18n import today
from app.pagination import BadCursor
from audits.models import AuditType, PeriodBasis, Recurrence, SupplierScope
from audits.services import programme
from suppliers.models import RiskClass

blp = Blueprint("audit_plans_api", __name__, url_prefix="/audit-plans", description="The audit programme: plans and their firings.")

_RECURRENCES = [r.value for r in Recurrence]
_SHORTER = [Recurrence.MONTHLY.value, Recurrence.QUARTERLY.value, Recurrence.YEARLY.value]


class RuleSchema(ma.Schema):
    chain_roles = ma.fields.List(ma.fields.String(), load_default=list)
    statuses = ma.fields.List(ma.fields.String(), load_default=list)
    risk_classes = ma.fields.List(ma.fields.String(), load_default=list)


class PlanSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    objectives = ma.fields.String(allow_none=True)
    criteria = ma.fields.String(allow_none=True)
    audit_type = ma.fields.String(metadata={"enum": [t.value for t in AuditType]})
    metrics = ma.fields.List(ma.fields.String(), allow_none=True)
    checklist_template = ma.fields.Integer(attribute="checklist_template_id", allow_none=True)
    supplier_scope = ma.fields.String(metadata={"enum": [s.value for s in SupplierScope]})
    rule = ma.fields.Dict(allow_none=True)
    suppliers = ma.fields.Function(lambda plan: [s.code for s in plan.suppliers],
                                   metadata={"type": "array", "items": {"type": "string"}})
    recurrence = ma.fields.String(metadata={"enum": _RECURRENCES})
    day_of_month = ma.fields.Integer()
    month = ma.fields.Integer(allow_none=True)
    cron = ma.fields.String(allow_none=True)
    risk_recurrence = ma.fields.Dict(allow_none=True)
    period_basis = ma.fields.String(metadata={"enum": [b.value for b in PeriodBasis]})
    lead_auditor = ma.fields.Function(lambda plan: plan.lead_auditor.email if plan.lead_auditor else None,
                                      metadata={"type": "string", "nullable": True})
    lead_auditor_id = ma.fields.Integer(allow_none=True)
    lead_time_days = ma.fields.Integer()
    major_margin = ma.fields.Decimal(as_string=True)
    starts_on = ma.fields.Date()
    is_active = ma.fields.Boolean()
    version = ma.fields.Integer(metadata={"description": "Send it back on update to refuse lost updates"})


class PlanListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(PlanSchema))
    next = ma.fields.String(allow_none=True)


class PlanInputSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    objectives = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=10_000))
    criteria = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=10_000))
    audit_type = ma.fields.String(validate=ma.validate.OneOf([t.value for t in AuditType]))
    metrics = ma.fields.List(ma.fields.String(), allow_none=True)
    checklist_template = id_field(allow_none=True, data_key="checklist_template",
                                  attribute="checklist_template_id")
    supplier_scope = ma.fields.String(validate=ma.validate.OneOf([s.value for s in SupplierScope]))
    rule = ma.fields.Nested(RuleSchema, allow_none=True)
    suppliers = ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=32)),
                               validate=ma.validate.Length(max=5000))
    recurrence = ma.fields.String(validate=ma.validate.OneOf(_RECURRENCES))
    day_of_month = ma.fields.Integer(strict=True)
    month = ma.fields.Integer(strict=True, allow_none=True)
    cron = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=100))
    risk_recurrence = ma.fields.Dict(keys=ma.fields.String(validate=ma.validate.OneOf([r.value for r in RiskClass])),
                                     values=ma.fields.String(validate=ma.validate.OneOf(_SHORTER)), allow_none=True)
    period_basis = ma.fields.String(validate=ma.validate.OneOf([b.value for b in PeriodBasis]))
    lead_auditor_id = id_field(strict=True, allow_none=True)
    lead_time_days = ma.fields.Integer(strict=True)
    major_margin = ma.fields.Decimal(allow_nan=False)
    starts_on = ma.fields.Date(required=True)


class PlanUpdateSchema(PlanInputSchema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    starts_on = ma.fields.Date()
    is_active = ma.fields.Boolean()
    version = ma.fields.Integer(load_default=None, allow_none=True)


class RunDueArgsSchema(ma.Schema):
    at = ma.fields.Date(load_default=None, allow_none=True,
                        metadata={"description": "Run as on this day (default: today); not in the future"})


class FiringSchema(ma.Schema):
    scheduled_for = ma.fields.Date()
    audits_created = ma.fields.Integer()


class RunDueSchema(ma.Schema):
    at = ma.fields.Date()
    firings = ma.fields.List(ma.fields.Nested(FiringSchema))
    audits_created = ma.fields.Integer()
    failed = ma.fields.List(ma.fields.Nested(FiringSchema))


def _plan_or_404(plan_id: int):
    plan = programme.get_plan(plan_id)
    if plan is None:
        abort(404)
    return plan


@blp.route("")
@api_permission("audits.view")
@blp.arguments(ListArgsSchema, location="query")
@blp.response(200, PlanListSchema)
def list_plans(args):
    """The audit plans by name, one page at a time (keyset cursor)."""
    try:
        page = programme.list_plans(cursor=args["cursor"], limit=args["limit"])
    except BadCursor:
        raise invalid_cursor() from None
    return list_response(page)


@blp.route("", methods=["POST"])
@api_permission("audits.plan")
@blp.arguments(PlanInputSchema)
@blp.response(201, PlanSchema)
def create_plan(data):
    """Add a plan to the programme. Days from `starts_on` already past are fired at the next run."""
    with unit_of_work():
        plan = programme.create_plan(data, g.api_user)
    return plan


@blp.route("/<int:plan_id>")
@api_permission("audits.view")
@blp.response(200, PlanSchema)
def get_plan(plan_id):
    """One plan."""
    return _plan_or_404(plan_id)


@blp.route("/<int:plan_id>", methods=["PATCH"])
@api_permission("audits.plan")
@blp.arguments(PlanUpdateSchema)
@blp.response(200, PlanSchema)
def update_plan(data, plan_id):
    """Change some fields of a plan, or `is_active`. Send `version` to refuse a lost update (409)."""
    plan = _plan_or_404(plan_id)
    version = data.pop("version", None)
    is_active = data.pop("is_active", None)
    with unit_of_work():
        if data:
            programme.update_plan(plan, data, g.api_user, expected_version=version)
            version = None
        if is_active is True:
            programme.activate_plan(plan, g.api_user, today(), expected_version=version)
        elif is_active is False:
            programme.deactivate_plan(plan, g.api_user, expected_version=version)
    return plan


@blp.route("/<int:plan_id>/run-due", methods=["POST"])
@api_permission("audits.plan")
@blp.arguments(RunDueArgsSchema)
@blp.response(200, RunDueSchema)
def run_due(data, plan_id):
    """Fire the plan's due firings now (missed days included, once each); repeating is a no-op."""
    plan = _plan_or_404(plan_id)
    at = data.get("at") or today()
    if at > today():
        message = _l("A plan cannot be fired ahead of its day.")
        raise ValidationFailed(message, code="future_date", fields={"at": message})
    run = programme.run_due(at, unit=unit_of_work, plan_ids=[plan.id])
    return {"at": at, "audits_created": run.audits_created,
            "firings": [{"scheduled_for": day, "audits_created": n} for _, day, n in run.firings],
            "failed": [{"scheduled_for": day, "audits_created": 0} for _, day, _ in run.failed]}
