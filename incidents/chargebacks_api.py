"""JSON API of chargeback statements: list, read with lines, prepare (or refresh a draft).

The rules are in incidents.services.chargebacks.
"""
from __future__ import annotations

import marshmallow as ma
from flask import abort, g
from flask_smorest import Blueprint

from app.api import ListArgsSchema, api_permission, invalid_cursor, list_response
from app.db import unit_of_work
from app.pagination import BadCursor
from incidents.services import chargebacks as service
from suppliers.services import get_supplier_by_code

blp = Blueprint("chargebacks_api", __name__, url_prefix="/chargebacks",
                description="Chargeback statements: what suppliers are charged for the incidents attributed to them.")


class ChargebackLineSchema(ma.Schema):
    incident_id = ma.fields.Integer()
    order_ref = ma.fields.Function(
        lambda line: line.incident.order.ref if line.incident.order else line.incident.order_ref_given,
        metadata={"type": "string", "nullable": True})
    reported_day = ma.fields.Function(lambda line: line.incident.reported_day.isoformat(),
                                      metadata={"type": "string", "format": "date"})
    cost = ma.fields.Decimal(as_string=True)
    per_incident_amount = ma.fields.Decimal(as_string=True)
    share = ma.fields.Decimal(as_string=True)
    amount = ma.fields.Decimal(as_string=True)


class ChargebackStatementSchema(ma.Schema):
    id = ma.fields.Integer()
    supplier = ma.fields.Function(lambda s: s.supplier.code, metadata={"type": "string"})
    period_start = ma.fields.Date()
    period_end = ma.fields.Date()
    status = ma.fields.String()
    lines_total = ma.fields.Decimal(as_string=True)
    total = ma.fields.Decimal(as_string=True)
    sent_at = ma.fields.DateTime(allow_none=True)
    responded_at = ma.fields.DateTime(allow_none=True)
    response_note = ma.fields.String(allow_none=True)
    version = ma.fields.Integer()


class ChargebackStatementDetailSchema(ChargebackStatementSchema):
    lines = ma.fields.Method("dump_lines", metadata={"type": "array", "items": {"type": "object"}})

    def dump_lines(self, statement):
        # Incidents and orders loaded together: a bounded number of queries for any size.
        return ChargebackLineSchema(many=True).dump(service.statement_lines_with_orders(statement))


class ChargebackListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ChargebackStatementSchema))
    next = ma.fields.String(allow_none=True)


class ChargebackListArgs(ListArgsSchema):
    supplier = ma.fields.String(load_default=None, validate=ma.validate.Length(max=32))


class PrepareSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    supplier = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))
    period_start = ma.fields.Date(required=True)
    period_end = ma.fields.Date(required=True)


def _supplier_or_404(code: str):
    supplier = get_supplier_by_code(code)
    if supplier is None:
        abort(404)
    return supplier


@blp.route("")
@api_permission("chargebacks.view")
@blp.arguments(ChargebackListArgs, location="query")
@blp.response(200, ChargebackListSchema)
def list_statements(args):
    """Statements, oldest first, optionally of one supplier (keyset cursor)."""
    supplier = _supplier_or_404(args["supplier"]) if args["supplier"] else None
    try:
        page = service.statements_page(supplier, cursor=args["cursor"], limit=args["limit"])
    except BadCursor:
        raise invalid_cursor() from None
    return list_response(page)


@blp.route("/<int:statement_id>")
@api_permission("chargebacks.view")
@blp.response(200, ChargebackStatementDetailSchema)
def get_statement(statement_id: int):
    """One statement with its lines."""
    statement = service.statement_by_id(statement_id)
    if statement is None:
        abort(404)
    return statement


@blp.route("", methods=["POST"])
@api_permission("chargebacks.manage")
@blp.arguments(PrepareSchema)
@blp.response(201, ChargebackStatementDetailSchema)
def prepare(data):
    """Prepare the draft statement of a supplier for a period, or refresh the existing draft
    of that same period. A sent statement is refused with `statement_not_draft`."""
    supplier = _supplier_or_404(data["supplier"])
    with unit_of_work():
        statement = service.prepare_statement(supplier, data["period_start"], data["period_end"], g.api_user)
    return statement
