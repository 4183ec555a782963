"""Downloads of one audit: the audit report (ISO 19011 §6.5.1) as PDF or PDF/A-3b, and the
audit workbook (.xlsx). Always attachments; the report speaks the signed-in user's language."""
from __future__ import annotations

from flask import abort, request

from app.auth.access import permission_required
from audits.services import conduct
from audits.services import report as report_service
from audits.views import bp
from reports.pdf import attachment
from reports.xlsx import XLSX_MIMETYPE


def _audit_or_404(audit_id: int):
    audit = conduct.get_audit(audit_id)
    if audit is None:
        abort(404)
    return audit


def _file_stem(audit) -> str:
    return f"audit-report-{audit.id}-{audit.supplier.code}"


@bp.get("/audits/<int:audit_id>/report.pdf")
@permission_required("audits.view")
def audit_report_pdf(audit_id: int):
    audit = _audit_or_404(audit_id)
    variant = "pdf/a-3b" if request.args.get("pdfa") == "1" else None
    body = report_service.audit_report_pdf(audit, pdf_variant=variant)
    return attachment(body, _file_stem(audit) + ".pdf", "application/pdf")


@bp.get("/audits/<int:audit_id>/audit.xlsx")
@permission_required("audits.view")
def audit_workbook(audit_id: int):
    audit = _audit_or_404(audit_id)
    body = report_service.audit_workbook(audit)
    return attachment(body, f"audit-{audit.id}-{audit.supplier.code}.xlsx", XLSX_MIMETYPE)
