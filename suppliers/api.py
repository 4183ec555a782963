"""JSON API of the supplier register, over the same services as the pages."""
from __future__ import annotations

import marshmallow as ma
from flask import abort, g
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from app.api import ListArgsSchema, api_permission, invalid_cursor, list_response
from app.db import unit_of_work
from app.errors import ValidationFailed
from app.i18n import today
from app.pagination import BadCursor
from suppliers import services
from suppliers.models import ChainRole, RiskClass, SupplierStatus

blp = Blueprint("suppliers_api", __name__, url_prefix="/suppliers",
                description="The supplier register: partners of the delivery chain and their qualification status.")

_ROLE_CODES = [r.value for r in ChainRole]
_STATUS_CODES = [s.value for s in SupplierStatus]
_RISK_CODES = [r.value for r in RiskClass]


class SupplierSchema(ma.Schema):
    code = ma.fields.String(metadata={"example": "CAR-001"})
    legal_name = ma.fields.String()
    vat_id = ma.fields.String(allow_none=True)
    country = ma.fields.String(metadata={"description": "ISO 3166-1 alpha-2"})
    address = ma.fields.String(allow_none=True)
    city = ma.fields.String(allow_none=True)
    website = ma.fields.String(allow_none=True)
    chain_roles = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(_ROLE_CODES)), attribute="role_codes")
    parent = ma.fields.Function(lambda s: s.parent.code if s.parent else None, allow_none=True,
                                metadata={"type": "string", "nullable": True, "description": "Code of the main contractor"})
    risk_class = ma.fields.String(validate=ma.validate.OneOf(_RISK_CODES))
    status = ma.fields.String(validate=ma.validate.OneOf(_STATUS_CODES))
    qualified_until = ma.fields.Date(allow_none=True)
    notes = ma.fields.String(allow_none=True)
    archived = ma.fields.Boolean(attribute="is_archived")
    version = ma.fields.Integer(metadata={"description": "Send it back on update to refuse lost updates"})
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class SupplierListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(SupplierSchema))
    next = ma.fields.String(allow_none=True)


class SupplierInputSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))
    legal_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    vat_id = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=40))
    country = ma.fields.String(required=True, validate=ma.validate.Length(equal=2))
    address = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=300))
    city = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=120))
    website = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=300))
    chain_roles = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(_ROLE_CODES)), required=True,
                                 validate=ma.validate.Length(min=1, max=len(_ROLE_CODES)))
    parent = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=32))
    risk_class = ma.fields.String(validate=ma.validate.OneOf(_RISK_CODES))
    notes = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=10_000))


class SupplierUpdateSchema(SupplierInputSchema):
    code = ma.fields.String(validate=ma.validate.Length(min=1, max=32))
    legal_name = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    country = ma.fields.String(validate=ma.validate.Length(equal=2))
    chain_roles = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(_ROLE_CODES)),
                                 validate=ma.validate.Length(min=1, max=len(_ROLE_CODES)))
    version = ma.fields.Integer(load_default=None, allow_none=True)


class StatusChangeSchema(ma.Schema):
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(_STATUS_CODES))
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))
    qualified_until = ma.fields.Date(load_default=None, allow_none=True)
    version = ma.fields.Integer(load_default=None, allow_none=True)


class StatusSchema(ma.Schema):
    code = ma.fields.String()
    status = ma.fields.String()
    qualified_until = ma.fields.Date(allow_none=True)
    history = ma.fields.List(ma.fields.Dict())


class SupplierListArgs(ListArgsSchema):
    q = ma.fields.String(load_default=None, validate=ma.validate.Length(max=100))
    role = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(_ROLE_CODES)), load_default=list)
    status = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(_STATUS_CODES)), load_default=list)
    risk_class = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(_RISK_CODES)), load_default=list)
    country = ma.fields.List(ma.fields.String(validate=ma.validate.Length(equal=2)), load_default=list)
    archived = ma.fields.String(load_default="exclude", validate=ma.validate.OneOf(["exclude", "include", "only"]))
    sort = ma.fields.String(load_default="code", validate=ma.validate.OneOf(list(services.SORT_COLUMNS)))
    dir = ma.fields.String(load_default="asc", validate=ma.validate.OneOf(["asc", "desc"]))


def _supplier_or_404(code: str):
    supplier = services.get_supplier_by_code(code)
    if supplier is None:
        abort(404)
    return supplier


def _status_body(supplier) -> dict:
    return {
        "code": supplier.code,
        "status": supplier.status,
        "qualified_until": supplier.qualified_until,
        "history": [
            {"from_status": c.from_status, "to_status": c.to_status, "reason": c.reason,
             "qualified_until": c.qualified_until.isoformat() if c.qualified_until else None,
             "changed_at": c.changed_at.isoformat(),
             "changed_by": c.changed_by.email if c.changed_by else None}
            for c in supplier.status_changes
        ],
    }


@blp.route("")
@api_permission("suppliers.view")
@blp.arguments(SupplierListArgs, location="query")
@blp.response(200, SupplierListSchema)
def list_suppliers(args):
    """List suppliers, with filters, sorted, one page at a time (keyset cursor)."""
    filters = services.SupplierFilters(
        text=args["q"], roles=args["role"], statuses=args["status"], risk_classes=args["risk_class"],
        countries=[c.upper() for c in args["country"]], include_archived=args["archived"] == "include",
        archived_only=args["archived"] == "only",
    )
    try:
        page = services.list_suppliers(filters, sort=args["sort"], descending=args["dir"] == "desc",
                                       cursor=args["cursor"], limit=args["limit"])
    except BadCursor:
        raise invalid_cursor() from None
    return list_response(page)


@blp.route("", methods=["POST"])
@api_permission("suppliers.edit")
@blp.arguments(SupplierInputSchema)
@blp.response(201, SupplierSchema)
def create_supplier(data):
    """Register a supplier (it starts as a prospect)."""
    with unit_of_work():
        supplier = services.create_supplier(data, g.api_user)
    return supplier


@blp.route("/<code>")
@api_permission("suppliers.view")
@blp.response(200, SupplierSchema)
def get_supplier(code):
    """One supplier by its code."""
    return _supplier_or_404(code)


@blp.route("/<code>", methods=["PATCH"])
@api_permission("suppliers.edit")
@blp.arguments(SupplierUpdateSchema)
@blp.response(200, SupplierSchema)
def update_supplier(data, code):
    """Change some fields of a supplier. Send `version` to refuse a lost update (409)."""
    supplier = _supplier_or_404(code)
    version = data.pop("version", None)
    with unit_of_work():
        services.update_supplier(supplier, data, g.api_user, expected_version=version)
    return supplier


@blp.route("/<code>/status")
@api_permission("suppliers.view")
@blp.response(200, StatusSchema)
def get_status(code):
    """The supplier's qualification status and its history, newest first."""
    return _status_body(_supplier_or_404(code))


@blp.route("/<code>/status", methods=["POST"])
@api_permission("suppliers.change_status")
@blp.arguments(StatusChangeSchema)
@blp.response(200, StatusSchema)
def change_status(data, code):
    """Change the qualification status; a reason is required, and a qualified-until date for
    approved and conditionally approved."""
    supplier = _supplier_or_404(code)
    with unit_of_work():
        services.change_status(supplier, data["status"], data["reason"], g.api_user,
                               qualified_until=data["qualified_until"], today=today(),
                               expected_version=data["version"])
    return _status_body(supplier)


# Service standards and their results -------------------------------------------------------

class SlaResultSchema(ma.Schema):
    sla = ma.fields.Integer(metadata={"description": "id of the SLA version whose target applies"})
    series = ma.fields.Integer(metadata={"description": "id shared by all versions of the SLA"})
    version = ma.fields.Integer()
    name = ma.fields.String()
    metric = ma.fields.String()
    stage = ma.fields.String(allow_none=True)
    window = ma.fields.String()
    period = ma.fields.String(metadata={"example": "2026-03"})
    period_start = ma.fields.Date()
    period_end = ma.fields.Date()
    value = ma.fields.Float(allow_none=True, metadata={"description": "rates as fractions 0–1, durations in hours"})
    sample_size = ma.fields.Integer()
    target = ma.fields.Float()
    warning_threshold = ma.fields.Float(allow_none=True)
    comparator = ma.fields.String(metadata={"description": "gte (at least) or lte (at most)"})
    status = ma.fields.String(metadata={"description": "met, warning, breached or no_data"})
    penalty = ma.fields.String(metadata={"description": "amount due for the period, as a decimal string"})


class SlaResultListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(SlaResultSchema))
    next = ma.fields.String(allow_none=True)


class SlaResultArgs(ma.Schema):
    from_ = ma.fields.String(data_key="from", required=True, validate=ma.validate.Regexp(r"^\d{4}-\d{2}$"),
                             metadata={"example": "2026-01"})
    to = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^\d{4}-\d{2}$"), metadata={"example": "2026-12"})


def result_item(result) -> dict:
    standard = result.standard
    return {
        "sla": standard.id, "series": standard.series_id, "version": standard.version, "name": standard.name,
        "metric": standard.metric, "stage": standard.stage, "window": standard.window,
        "period": result.period.key, "period_start": result.period.start, "period_end": result.period.end,
        "value": float(result.value) if result.value is not None else None, "sample_size": result.sample_size,
        "target": float(standard.target),
        "warning_threshold": float(standard.warning_threshold) if standard.warning_threshold is not None else None,
        "comparator": standard.comparator, "status": result.status, "penalty": str(result.penalty),
    }


def _month_span_or_422(args):
    from suppliers.services.measurement import month_span

    try:
        first, last = month_span(args["from_"], args["to"])
    except ValueError:
        raise ValidationFailed(_l("Give from and to as YYYY-MM, from not after to."), code="invalid_span",
                               fields={"from": _l("A month as YYYY-MM, not after to."),
                                       "to": _l("A month as YYYY-MM.")}) from None
    if (last.year - first.year) * 12 + last.month - first.month >= 60:
        raise ValidationFailed(_l("Ask for at most 60 months at a time."), code="span_too_long",
                               fields={"to": _l("At most 60 months after from.")})
    return first, last


@blp.route("/<code>/sla-results")
@api_permission("slas.view")
@blp.arguments(SlaResultArgs, location="query")
@blp.response(200, SlaResultListSchema)
def sla_results(args, code):
    """Every SLA that applies to the supplier, measured per period of [from, to] (months)."""
    from suppliers.services.measurement import supplier_results

    supplier = _supplier_or_404(code)
    first, last = _month_span_or_422(args)
    return {"items": [result_item(r) for r in supplier_results(supplier, first, last)], "next": None}


slas_blp = Blueprint("slas_api", __name__, url_prefix="/slas",
                     description="Service standards (SLAs) agreed with suppliers or chain roles, with their versions.")


class StandardSchema(ma.Schema):
    id = ma.fields.Integer()
    series = ma.fields.Integer(attribute="series_id")
    version = ma.fields.Integer()
    name = ma.fields.String()
    supplier = ma.fields.Function(lambda s: s.supplier.code if s.supplier else None, allow_none=True,
                                  metadata={"type": "string", "nullable": True})
    chain_role = ma.fields.String(allow_none=True)
    metric = ma.fields.String()
    stage = ma.fields.String(allow_none=True)
    comparator = ma.fields.String()
    target = ma.fields.Float()
    warning_threshold = ma.fields.Float(allow_none=True)
    window = ma.fields.String()
    min_sample = ma.fields.Integer()
    tolerance_minutes = ma.fields.Integer()
    honours_exclusions = ma.fields.Boolean()
    penalty_kind = ma.fields.String()
    penalty_amount = ma.fields.Decimal(as_string=True, allow_none=True)
    penalty_cap = ma.fields.Decimal(as_string=True, allow_none=True)
    weight = ma.fields.Float()
    valid_from = ma.fields.Date()
    valid_to = ma.fields.Date(allow_none=True)


class StandardListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(StandardSchema))
    next = ma.fields.String(allow_none=True)


class StandardInputSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    supplier = ma.fields.String(load_default=None, allow_none=True)
    chain_role = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.OneOf(_ROLE_CODES))
    metric = ma.fields.String(required=True)
    stage = ma.fields.String(load_default=None, allow_none=True)
    comparator = ma.fields.String(load_default=None, validate=ma.validate.OneOf(["gte", "lte"]))
    target = ma.fields.Decimal(required=True, allow_nan=False)
    warning_threshold = ma.fields.Decimal(load_default=None, allow_none=True, allow_nan=False)
    window = ma.fields.String(load_default="month", validate=ma.validate.OneOf(["week", "month", "quarter"]))
    min_sample = ma.fields.Integer(load_default=20, strict=True)
    tolerance_minutes = ma.fields.Integer(load_default=0, strict=True)
    honours_exclusions = ma.fields.Boolean(load_default=True)
    penalty_kind = ma.fields.String(load_default="none", validate=ma.validate.OneOf(["none", "fixed", "per_unit"]))
    penalty_amount = ma.fields.Decimal(load_default=None, allow_none=True, allow_nan=False)
    penalty_cap = ma.fields.Decimal(load_default=None, allow_none=True, allow_nan=False)
    weight = ma.fields.Decimal(load_default=None, allow_none=True, allow_nan=False)
    valid_from = ma.fields.Date(required=True)
    valid_to = ma.fields.Date(load_default=None, allow_none=True)


class RevisionSchema(StandardInputSchema):
    supplier = None
    chain_role = None
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))

    class Meta:
        exclude = ("supplier", "chain_role")


class StandardListArgs(ListArgsSchema):
    supplier = ma.fields.String(load_default=None)
    chain_role = ma.fields.String(load_default=None, validate=ma.validate.OneOf(_ROLE_CODES))
    current = ma.fields.Boolean(load_default=False, metadata={"description": "only versions in force"})


@slas_blp.route("")
@api_permission("slas.view")
@slas_blp.arguments(StandardListArgs, location="query")
@slas_blp.response(200, StandardListSchema)
def list_standards(args):
    """SLA versions, oldest first, optionally of one supplier or chain role."""
    from suppliers.services.standards import standards_page

    supplier = _supplier_or_404(args["supplier"]) if args["supplier"] else None
    try:
        page = standards_page(supplier=supplier, chain_role=args["chain_role"], current_only=args["current"],
                              cursor=args["cursor"], limit=args["limit"])
    except BadCursor:
        raise invalid_cursor() from None
    return list_response(page)


@slas_blp.route("", methods=["POST"])
@api_permission("slas.edit")
@slas_blp.arguments(StandardInputSchema)
@slas_blp.response(201, StandardSchema)
def create_standard(data):
    """Agree an SLA with a supplier (`supplier`) or as a chain role default (`chain_role`)."""
    from suppliers.services.standards import create_standard as create

    supplier_code, role = data.pop("supplier"), data.pop("chain_role")
    supplier = _supplier_or_404(supplier_code) if supplier_code else None
    with unit_of_work():
        standard = create(data, g.api_user, supplier=supplier, chain_role=role)
    return standard


def _standard_or_404(standard_id: int):
    from suppliers.models import ServiceStandard
    from app.db import db

    standard = db.session.get(ServiceStandard, standard_id)
    if standard is None:
        abort(404)
    return standard


@slas_blp.route("/<int:standard_id>")
@api_permission("slas.view")
@slas_blp.response(200, StandardSchema)
def get_standard(standard_id):
    """One SLA version."""
    return _standard_or_404(standard_id)


@slas_blp.route("/<int:standard_id>/revisions", methods=["POST"])
@api_permission("slas.edit")
@slas_blp.arguments(RevisionSchema)
@slas_blp.response(201, StandardSchema)
def revise_standard(data, standard_id):
    """A new version of the SLA from `valid_from`; the version in force ends the day before."""
    from suppliers.services.standards import revise_standard as revise

    current = _standard_or_404(standard_id)
    reason = data.pop("reason")
    with unit_of_work():
        revised = revise(current, data, g.api_user, reason)
    return revised
