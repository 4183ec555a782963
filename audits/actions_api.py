"""JSON API of corrective actions, over the same services as the pages: the list (filters
status, supplier, overdue; keyset pages) and one action with its finding and effectiveness."""
from __future__ import annotations

import marshmallow as ma
from flask import abort
from flask_smorest import Blueprint

from app.api import ListArgsSchema, api_permission, invalid_cursor, list_response
from app.i18n import today
from app.pagination import BadCursor
from audits.models import ActionStatus, EffectivenessMethod
from audits.services import actions as service

blp = Blueprint("corrective_actions_api", __name__, url_prefix="/corrective-actions",
                description="Corrective actions requested from suppliers.")

_STATUS_CODES = [s.value for s in ActionStatus]


def _number(value):
    return float(value) if value is not None else None


class FindingRefSchema(ma.Schema):
    id = ma.fields.Integer()
    audit = ma.fields.Integer(attribute="audit_id")
    number = ma.fields.Integer()
    grade = ma.fields.String(metadata={"description": "major_nc or minor_nc"})
    criterion = ma.fields.String()


class ActionSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String(validate=ma.validate.OneOf(_STATUS_CODES))
    supplier = ma.fields.Function(lambda a: a.supplier.code, metadata={"type": "string", "example": "CAR-001"})
    finding = ma.fields.Nested(FindingRefSchema)
    due_date = ma.fields.Date(metadata={"description": "When the supplier's answer is due"})
    overdue = ma.fields.Function(lambda a: a.is_overdue(today()), metadata={"type": "boolean"})
    action_due_date = ma.fields.Date(allow_none=True, metadata={"description": "The supplier's planned completion"})
    effectiveness_method = ma.fields.String(validate=ma.validate.OneOf([m.value for m in EffectivenessMethod]))
    effectiveness_periods = ma.fields.Integer()
    created_at = ma.fields.DateTime()
    responded_at = ma.fields.DateTime(allow_none=True)
    reviewed_at = ma.fields.DateTime(allow_none=True)
    verified_at = ma.fields.DateTime(allow_none=True)
    effectiveness_result = ma.fields.String(allow_none=True)


class PeriodSchema(ma.Schema):
    period = ma.fields.String(attribute="key")
    start = ma.fields.Date()
    end = ma.fields.Date()
    value = ma.fields.Function(lambda p: _number(p.value), allow_none=True, metadata={"type": "number", "nullable": True})
    status = ma.fields.String(allow_none=True, metadata={"description": "met, warning, breached, no_data; null while the period is not over"})


class EffectivenessSchema(ma.Schema):
    state = ma.fields.String(metadata={"description": "not_yet, met, not_met, no_data or not_applicable (manual method)"})
    sla = ma.fields.String(attribute="sla_name", allow_none=True)
    metric = ma.fields.String(allow_none=True)
    periods = ma.fields.List(ma.fields.Nested(PeriodSchema))


class ActionDetailSchema(ActionSchema):
    containment = ma.fields.String(allow_none=True)
    why_analysis = ma.fields.Dict(allow_none=True)
    root_cause = ma.fields.String(allow_none=True)
    action_plan = ma.fields.String(allow_none=True)
    review_note = ma.fields.String(allow_none=True)
    effectiveness = ma.fields.Nested(EffectivenessSchema)


class ActionListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ActionSchema))
    next = ma.fields.String(allow_none=True)


class ActionListArgs(ListArgsSchema):
    status = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(_STATUS_CODES)), load_default=list)
    supplier = ma.fields.String(load_default=None, validate=ma.validate.Length(max=40),
                                metadata={"description": "Supplier code"})
    overdue = ma.fields.Boolean(load_default=False,
                                metadata={"description": "Only actions waiting for the supplier past their due date"})


class _WithEffectiveness:
    def __init__(self, action, effectiveness):
        self._action = action
        self.effectiveness = effectiveness

    def __getattr__(self, name):
        return getattr(self._action, name)


@blp.route("")
@api_permission("audits.view")
@blp.arguments(ActionListArgs, location="query")
@blp.response(200, ActionListSchema)
def list_actions(args):
    """List corrective actions, earliest due date first, one page at a time (keyset cursor)."""
    filters = service.ActionFilters(statuses=args["status"], supplier=args["supplier"], overdue_only=args["overdue"])
    try:
        page = service.list_actions(filters, today=today(), cursor=args["cursor"], limit=args["limit"])
    except BadCursor:
        raise invalid_cursor() from None
    return list_response(page)


@blp.route("/<int:action_id>")
@api_permission("audits.view")
@blp.response(200, ActionDetailSchema)
def get_action(action_id):
    """One corrective action with the supplier's answer and its effectiveness as computed today."""
    action = service.get_action(action_id)
    if action is None:
        abort(404)
    return _WithEffectiveness(action, service.effectiveness(action, today()))
