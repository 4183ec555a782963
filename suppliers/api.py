"""JSON API of the supplier register, over the same services as the pages."""
from __future__ import annotations

import marshmallow as ma
from flask import abort, g
from flask_smorest import Blueprint

from app.api import ListArgsSchema, api_permission, list_response
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
        raise ValidationFailed("The cursor is not valid; start again from the first page.",
                               code="invalid_cursor", fields={"cursor": "not a valid cursor"}) from None
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
