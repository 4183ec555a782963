"""JSON API of orders and legs: bulk leg ingestion and an order with its chain."""
from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import marshmallow as ma
from flask import abort, current_app, g
from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.api import api_permission
from app.db import db, unit_of_work
from app.errors import ValidationFailed
from incidents.models import ImportBatch, Leg, Order
from incidents.services.legs import LEG_FIELDS, LegRowsRejected, ingest_leg_rows

blp = Blueprint("incidents_api", __name__, url_prefix="",
                description="Orders and the legs of their delivery chain.")

#: Most legs accepted in one call; larger sets go in several calls or through a file import.
MAX_LEGS_PER_CALL = 10_000


class LegInSchema(ma.Schema):
    """One leg in Catena's leg format; times are ISO 8601, naive ones in `timezone`."""

    class Meta:
        unknown = ma.RAISE

    external_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    order_ref = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    stage = ma.fields.String(required=True)
    supplier_code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))
    promised_at = ma.fields.String(required=True, metadata={"format": "date-time"})
    actual_at = ma.fields.String(allow_none=True, metadata={"format": "date-time"})
    outcome = ma.fields.String(allow_none=True)
    sequence = ma.fields.Integer(allow_none=True, strict=True)
    customer_ref = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=64))
    order_placed_at = ma.fields.String(allow_none=True, metadata={"format": "date-time"})
    order_channel = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=40))
    order_value = ma.fields.Decimal(allow_none=True, allow_nan=False, as_string=True)
    excluded = ma.fields.Boolean(load_default=False)
    exclusion_reason = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=300))


class LegBatchSchema(ma.Schema):
    legs = ma.fields.List(ma.fields.Nested(LegInSchema), required=True,
                          validate=ma.validate.Length(min=1, max=MAX_LEGS_PER_CALL))
    timezone = ma.fields.String(load_default=None, metadata={
        "description": "IANA zone of naive times; default: the company's time zone"})


class LegBatchResultSchema(ma.Schema):
    batch = ma.fields.Integer()
    created = ma.fields.Integer()
    updated = ma.fields.Integer()
    warnings = ma.fields.List(ma.fields.Dict())


class LegOutSchema(ma.Schema):
    external_id = ma.fields.String()
    sequence = ma.fields.Integer()
    stage = ma.fields.String()
    supplier = ma.fields.Function(lambda leg: leg.supplier.code, metadata={"type": "string"})
    promised_at = ma.fields.DateTime()
    actual_at = ma.fields.DateTime(allow_none=True)
    outcome = ma.fields.String(allow_none=True)
    delay_hours = ma.fields.Function(
        lambda leg: round(leg.delay_seconds / 3600, 2) if leg.delay_seconds is not None else None,
        metadata={"type": "number", "nullable": True})
    excluded = ma.fields.Boolean(attribute="is_excluded")


class OrderSchema(ma.Schema):
    ref = ma.fields.String()
    customer_ref = ma.fields.String(allow_none=True)
    placed_at = ma.fields.DateTime(allow_none=True)
    channel = ma.fields.String(allow_none=True)
    value = ma.fields.Decimal(allow_none=True, as_string=True)
    legs = ma.fields.List(ma.fields.Nested(LegOutSchema))


def _row_fields(problems) -> dict:
    return {f"legs.{p.row}.{p.column}": str(p.message) for p in problems}


@blp.route("/legs", methods=["POST"])
@api_permission("legs.import")
@blp.arguments(LegBatchSchema)
@blp.response(201, LegBatchResultSchema)
def post_legs(data):
    """Record up to 10,000 legs (and their orders) all or nothing; idempotent by external id.

    A leg whose external id is known is updated. Errors name the leg by its position in the
    list (from 0) and the field: `legs.3.promised_at`.
    """
    zone_name = data["timezone"] or current_app.config["CATENA_TIMEZONE"]
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed("Unknown time zone.", fields={"timezone": "not an IANA time zone name"}) from None
    rows = []
    for leg in data["legs"]:
        row = {name: leg.get(name) for name in LEG_FIELDS}
        row["excluded"] = "yes" if leg.get("excluded") else "no"
        row["order_value"] = str(leg["order_value"]) if leg.get("order_value") is not None else None
        row["sequence"] = str(leg["sequence"]) if leg.get("sequence") is not None else None
        rows.append(row)
    try:
        with unit_of_work():
            batch = ImportBatch(kind="legs", source="api", rows_total=len(rows), status="running",
                                created_by_id=g.api_user.id)
            db.session.add(batch)
            db.session.flush()
            created, updated, warnings = ingest_leg_rows(rows, zone, batch, first_row=0)
            batch.rows_created, batch.rows_updated, batch.status = created, updated, "complete"
            batch.problems = [w.as_dict() for w in warnings[:1000]] or None
    except LegRowsRejected as rejected:
        raise ValidationFailed(rejected.message, code="rows_invalid", fields=_row_fields(rejected.problems)) from None
    return {"batch": batch.id, "created": created, "updated": updated,
            "warnings": [w.as_dict() for w in warnings[:1000]]}


@blp.route("/orders/<ref>")
@api_permission("orders.view")
@blp.response(200, OrderSchema)
def get_order(ref):
    """One order with the legs of its chain, in order."""
    order = db.session.scalar(select(Order).where(Order.ref == ref)
                              .options(selectinload(Order.legs).selectinload(Leg.supplier)))
    if order is None:
        abort(404)
    return order
