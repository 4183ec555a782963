"""The supplier evidence pack (ISO 9001 §8.4) as a PDF download, over a span of months
(`?from=YYYY-MM&to=YYYY-MM`, default the last 12 full months; `pdfa=1` for PDF/A-3b)."""
from __future__ import annotations

from flask import abort, render_template, request

from app.auth.access import permission_required
from reports.pdf import attachment
from suppliers.services import get_supplier_by_code
from suppliers.services import evidence_pack as pack_service
from suppliers.views import bp


@bp.get("/<code>/evidence-pack.pdf")
@permission_required("suppliers.view")
def evidence_pack(code: str):
    supplier = get_supplier_by_code(code)
    if supplier is None:
        abort(404)
    try:
        first, last = pack_service.parse_span(request.args.get("from"), request.args.get("to"))
    except pack_service.BadSpan as exc:
        return render_template("errors/error.html", status=400, title=str(exc), hint=None), 400
    variant = "pdf/a-3b" if request.args.get("pdfa") == "1" else None
    body = pack_service.evidence_pack_pdf(supplier, first, last, pdf_variant=variant)
    return attachment(body, f"evidence-pack-{supplier.code}-{first:%Y-%m}-{last:%Y-%m}.pdf", "application/pdf")
