"""JSON API of audits, over the same services as the pages: the list (filters plan, supplier,
period, status), one audit with its current SLA snapshot, its findings, and its report as a
PDF (`/audits/{id}/report.pdf`, rendered by audits.services.report)."""
from __future__ import annotations

import marshmallow as ma
from flask import abort
from flask_smorest import Blueprint

from app.api import ListArgsSchema, api_permission, id_field, invalid_cursor, list_response
from app.pagination import BadCursor
from audits.models import AuditStatus, FindingGrade
from audits.services import conduct as service
from audits.services import report as report_service
from reports.pdf import attachment
from suppliers.services.measurement import parse_month

blp = Blueprint("audits_api", __name__, url_prefix="/audits", description="Audits, their SLA snapshot and findings.")

_STATUS_CODES = [s.value for s in AuditStatus]


def _number(value):
    return float(value) if value is not None else None


class AuditSchema(ma.Schema):
    id = ma.fields.Integer()
    plan = ma.fields.Integer(attribute="plan_id", allow_none=True, metadata={"description": "Audit plan id"})
    supplier = ma.fields.Function(lambda a: a.supplier.code, metadata={"type": "string", "example": "CAR-001"})
    period_start = ma.fields.Date()
    period_end = ma.fields.Date()
    status = ma.fields.String(validate=ma.validate.OneOf(_STATUS_CODES))


class SnapshotResultSchema(ma.Schema):
    series = ma.fields.Integer(attribute="series_id")
    sla = ma.fields.Integer(attribute="standard_id", metadata={"description": "The SLA version that applied"})
    name = ma.fields.String()
    metric = ma.fields.String()
    stage = ma.fields.String(allow_none=True)
    period = ma.fields.String(attribute="period_key")
    value = ma.fields.Function(lambda r: _number(r.value), allow_none=True, metadata={
        "type": "number", "nullable": True, "description": "Rates as fractions 0–1, durations in hours"})
    sample_size = ma.fields.Integer()
    target = ma.fields.Function(lambda r: _number(r.target), metadata={"type": "number"})
    comparator = ma.fields.String()
    status = ma.fields.String(metadata={"description": "met, warning, breached or no_data"})
    penalty = ma.fields.Function(lambda r: _number(r.penalty), metadata={"type": "number"})


class AuditDetailSchema(AuditSchema):
    audit_type = ma.fields.String()
    planned_date = ma.fields.Date()
    started_on = ma.fields.Date(allow_none=True)
    ended_on = ma.fields.Date(allow_none=True)
    location = ma.fields.String(allow_none=True)
    scope = ma.fields.String(allow_none=True)
    conclusions = ma.fields.String(allow_none=True)
    fulfilment = ma.fields.String(allow_none=True)
    report_issued_at = ma.fields.DateTime(allow_none=True)
    closed_at = ma.fields.DateTime(allow_none=True)
    snapshot_revision = ma.fields.Integer(metadata={"description": "0 until the snapshot is computed"})
    results = ma.fields.Function(lambda a: SnapshotResultSchema(many=True).dump(a.current_results()),
                                 metadata={"type": "array", "items": {"type": "object"},
                                           "description": "The current snapshot revision's results"})


class FindingSchema(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.Integer()
    grade = ma.fields.String(validate=ma.validate.OneOf([g.value for g in FindingGrade]))
    criterion = ma.fields.String()
    statement = ma.fields.String()
    evidence = ma.fields.String(allow_none=True)
    series = ma.fields.Integer(attribute="series_id", allow_none=True)
    proposed = ma.fields.Boolean()
    auditee_response = ma.fields.String(allow_none=True, metadata={"description": "acknowledged or diverging"})
    auditee_comment = ma.fields.String(allow_none=True)


class AuditListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AuditSchema))
    next = ma.fields.String(allow_none=True)


class FindingListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(FindingSchema))
    next = ma.fields.String(allow_none=True)


def _month(value: str) -> None:
    try:
        parse_month(value)
    except ValueError:
        raise ma.ValidationError("Use YYYY-MM.") from None


class AuditListArgs(ListArgsSchema):
    plan = id_field(load_default=None, metadata={"description": "Audit plan id"})
    supplier = ma.fields.String(load_default=None, validate=ma.validate.Length(max=40),
                                metadata={"description": "Supplier code"})
    period = ma.fields.String(load_default=None, validate=_month,
                              metadata={"description": "YYYY-MM: the month in which the audited period starts"})
    status = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(_STATUS_CODES)), load_default=list)


@blp.route("")
@api_permission("audits.view")
@blp.arguments(AuditListArgs, location="query")
@blp.response(200, AuditListSchema)
def list_audits(args):
    """List audits, latest period first, one page at a time (keyset cursor)."""
    filters = service.AuditFilters(plan_id=args["plan"], supplier_code=args["supplier"],
                                   statuses=tuple(args["status"]),
                                   period_month=parse_month(args["period"]) if args["period"] else None)
    try:
        page = service.list_audits(filters, cursor=args["cursor"], limit=args["limit"])
    except BadCursor:
        raise invalid_cursor() from None
    return list_response(page)


@blp.route("/<int:audit_id>")
@api_permission("audits.view")
@blp.response(200, AuditDetailSchema)
def get_audit(audit_id):
    """One audit with the results of its current SLA snapshot revision."""
    audit = service.get_audit(audit_id)
    if audit is None:
        abort(404)
    return audit


@blp.route("/<int:audit_id>/findings")
@api_permission("audits.view")
@blp.response(200, FindingListSchema)
def list_findings(audit_id):
    """The audit's findings in number order (every finding on one page: `next` is null)."""
    audit = service.get_audit(audit_id)
    if audit is None:
        abort(404)
    return {"items": list(audit.findings), "next": None}



class ReportArgs(ma.Schema):
    pdfa = ma.fields.Boolean(load_default=False,
                             metadata={"description": "true (or 1): an archivable PDF/A-3b instead of a plain PDF"})


@blp.route("/<int:audit_id>/report.pdf")
@api_permission("audits.view")
@blp.arguments(ReportArgs, location="query")
@blp.response(200, content_type="application/pdf",
              description="The audit report (ISO 19011 §6.5.1) as a PDF document, in the language of the token's user")
def get_audit_report(args, audit_id):
    """The audit report as a PDF attachment (document AR-<id>, revision = the SLA snapshot revision)."""
    audit = service.get_audit(audit_id)
    if audit is None:
        abort(404)
    body = report_service.audit_report_pdf(audit, pdf_variant="pdf/a-3b" if args["pdfa"] else None)
    return attachment(body, f"audit-report-{audit.id}-{audit.supplier.code}.pdf", "application/pdf")
