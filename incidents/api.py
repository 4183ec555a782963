"""JSON API of orders and legs: bulk leg ingestion and an order with its chain."""
from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import marshmallow as ma
from flask import abort, current_app, g
from flask_babel import lazy_gettext as _l
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
        raise ValidationFailed(_l("Unknown time zone."), fields={"timezone": _l("Choose a time zone such as Europe/Rome.")}) from None
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


# Incidents -------------------------------------------------------------------------------

from flask import request  # noqa: E402

from app.api import ListArgsSchema  # noqa: E402
from app.i18n import company_zone  # noqa: E402
from app.pagination import BadCursor  # noqa: E402
from incidents.models import CHANNEL_LABELS, INCIDENT_STATUS_LABELS, PRIORITY_LABELS, Incident  # noqa: E402
from incidents.services import incidents as incident_services  # noqa: E402


class IncidentInSchema(ma.Schema):
    """A complaint pushed by a helpdesk. `reported_at` is ISO 8601; a time without a zone is
    read in the company's time zone (CATENA_TIMEZONE)."""

    class Meta:
        unknown = ma.RAISE

    external_id = ma.fields.String(allow_none=True, validate=ma.validate.Length(min=1, max=100), metadata={
        "description": "The helpdesk's ticket id: pushing the same ticket again returns the incident recorded "
                       "first, unchanged"})
    order_ref = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=64), metadata={
        "description": "Unknown or missing: the incident is recorded and flagged for follow-up"})
    category = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40))
    channel = ma.fields.String(required=True, validate=ma.validate.OneOf([c.value for c in CHANNEL_LABELS]))
    priority = ma.fields.String(load_default="normal", validate=ma.validate.OneOf([p.value for p in PRIORITY_LABELS]))
    description = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10_000))
    reported_at = ma.fields.DateTime(required=True, format="iso")


class IncidentListArgsSchema(ListArgsSchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf([s.value for s in INCIDENT_STATUS_LABELS]))
    category = ma.fields.String(load_default=None, validate=ma.validate.Length(max=40))
    supplier = ma.fields.String(load_default=None, validate=ma.validate.Length(max=32),
                                metadata={"description": "Supplier code: incidents whose order has a leg of it"})


class AttributionShareOutSchema(ma.Schema):
    supplier = ma.fields.String(allow_none=True)
    stage = ma.fields.String(allow_none=True)
    share = ma.fields.Float()
    root_cause = ma.fields.String(allow_none=True)
    reason = ma.fields.String(allow_none=True)


def _share_dict(item) -> dict:
    get = item.get if isinstance(item, dict) else (lambda name: getattr(item, name, None))
    supplier = get("supplier")
    supplier = getattr(supplier, "code", supplier)
    stage = get("stage")
    if stage is None and get("leg") is not None:
        stage = getattr(get("leg"), "stage", None)
    share = get("share")
    return {"supplier": supplier, "stage": stage, "share": float(share) if share is not None else None,
            "root_cause": get("root_cause"), "reason": str(get("reason")) if get("reason") is not None else None}


def _attribution(incident: Incident) -> tuple[list[dict], list[dict]]:
    """(proposed, current) shares, from incidents.services.attribution when it is installed."""
    try:
        from incidents.services import attribution
    except ImportError:
        return [], []
    proposed = attribution.propose(incident)
    if hasattr(attribution, "proposal_as_dicts"):
        proposed = attribution.proposal_as_dicts(proposed)
    return [_share_dict(s) for s in proposed], [_share_dict(s) for s in attribution.current_shares(incident)]


class IncidentOutSchema(ma.Schema):
    id = ma.fields.Integer()
    external_id = ma.fields.String(allow_none=True)
    order_ref = ma.fields.Function(lambda i: i.order.ref if i.order else i.order_ref_given,
                                   metadata={"type": "string", "nullable": True})
    needs_follow_up = ma.fields.Boolean()
    category = ma.fields.Function(lambda i: i.category.code, metadata={"type": "string"})
    channel = ma.fields.String()
    priority = ma.fields.String()
    description = ma.fields.String()
    status = ma.fields.String()
    reported_at = ma.fields.DateTime()
    respond_by = ma.fields.DateTime(allow_none=True)
    first_response_at = ma.fields.DateTime(allow_none=True)
    resolved_at = ma.fields.DateTime(allow_none=True)
    closed_at = ma.fields.DateTime(allow_none=True)
    csat = ma.fields.Integer(allow_none=True)
    interactions_count = ma.fields.Integer()
    cost_total = ma.fields.Function(lambda i: str(incident_services.cost_total(i)),
                                    metadata={"type": "string", "description": "Euro, two decimal places"})
    proposed_attribution = ma.fields.List(ma.fields.Nested(AttributionShareOutSchema))
    attribution = ma.fields.List(ma.fields.Nested(AttributionShareOutSchema))


class IncidentPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(IncidentOutSchema))
    next = ma.fields.String(allow_none=True)


class _IncidentOut:
    """An incident with what the response adds to it (attribution lists, interaction count)."""

    def __init__(self, incident: Incident, interactions_count: int | None = None):
        self._incident = incident
        self.proposed_attribution, self.attribution = _attribution(incident)
        self.interactions_count = (len(incident.interactions) if interactions_count is None
                                   else interactions_count)

    def __getattr__(self, name):
        return getattr(self._incident, name)


@blp.route("/incidents", methods=["POST"])
@api_permission("incidents.handle")
@blp.arguments(IncidentInSchema)
@blp.response(201, IncidentOutSchema)
@blp.alt_response(200, schema=IncidentOutSchema, description="The ticket was pushed before: the incident as recorded")
def post_incident(data):
    """Record a customer complaint; idempotent by `external_id`.

    201 with the new incident; 200 with the incident recorded first when the same
    `external_id` (or, without one, the same `Idempotency-Key` header, stored as the
    external id) was pushed before; nothing is changed then. `reported_at` without a zone is
    read in the company's time zone.
    """
    if not data.get("external_id"):
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if len(key) > 100:
            raise ValidationFailed(_l("The Idempotency-Key header is too long."),
                                   fields={"Idempotency-Key": _l("At most %(n)d characters.", n=100)})
        data["external_id"] = key or None
    reported_at = data["reported_at"]
    if reported_at.tzinfo is None:
        data["reported_at"] = reported_at.replace(tzinfo=company_zone())
    with unit_of_work():
        incident, created = incident_services.record_incident_from_api(data, g.api_user)
    return _IncidentOut(incident_services.get_incident(incident.id)), 201 if created else 200


@blp.route("/incidents")
@api_permission("incidents.view")
@blp.arguments(IncidentListArgsSchema, location="query")
@blp.response(200, IncidentPageSchema)
def list_incidents(args):
    """Incidents by first-response due time (respond_by, then id), every status unless
    `status` is given; keyset-paged: pass `next` back as `cursor`."""
    filters = incident_services.BacklogFilters(status=args["status"], category=args["category"],
                                               supplier=args["supplier"], include_closed=True)
    try:
        page = incident_services.backlog(filters, cursor=args["cursor"], limit=args["limit"], with_costs=True)
    except BadCursor:
        abort(400, description="The cursor is not valid.")
    counts = incident_services.interaction_counts(page.items)
    return {"items": [_IncidentOut(i, counts.get(i.id, 0)) for i in page.items], "next": page.next_cursor}


@blp.route("/incidents/<int:incident_id>")
@api_permission("incidents.view")
@blp.response(200, IncidentOutSchema)
def get_incident(incident_id):
    """One incident with its proposed and current attribution."""
    incident = incident_services.get_incident(incident_id)
    if incident is None:
        abort(404)
    return _IncidentOut(incident)
