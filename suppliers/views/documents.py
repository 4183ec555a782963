"""Downloads of a supplier's documents (under the blueprint's /suppliers prefix):

    /<code>/chargebacks/<id>/statement.pdf   a chargeback statement (another supplier's: 404)
    /<code>/scorecard.pdf                    the scorecard, same `months` and `until` as the page
    /<code>/scorecard.xlsx                   the scorecard workbook: summary and one sheet per SLA

PDFs take `?pdfa=1` for PDF/A-3b. Always attachments, never shown inline.
"""
from __future__ import annotations

from flask import abort, request

from incidents.services import chargebacks
from incidents.services import documents as incident_documents
from reports.pdf import attachment, variant_from
from reports.xlsx import XLSX_MIMETYPE
from suppliers.models import Supplier
from suppliers.services import scorecard_documents
from suppliers.views import bp
from suppliers.views.register import with_supplier
from suppliers.views.standards import SCORECARD_MONTHS, last_day_from_args, months_from_args



@bp.get("/<code>/chargebacks/<int:statement_id>/statement.pdf")
@with_supplier("chargebacks.view")
def chargeback_statement_pdf(supplier: Supplier, statement_id: int):
    statement = chargebacks.get_statement(supplier, statement_id)
    if statement is None:
        abort(404)
    body = incident_documents.chargeback_statement_pdf(statement, pdf_variant=variant_from(request.args))
    return attachment(body, f"chargeback-{statement.id}-{supplier.code}-{statement.period_start:%Y-%m}.pdf",
                      "application/pdf")


def _span() -> tuple:
    """The scorecard page's span: `months` periods up to the month `until` (YYYY-MM)."""
    last_day, _ = last_day_from_args()
    return last_day, months_from_args("months", SCORECARD_MONTHS, 12)


@bp.get("/<code>/scorecard.pdf")
@with_supplier("slas.view")
def scorecard_pdf(supplier: Supplier):
    last_day, months = _span()
    body = scorecard_documents.scorecard_pdf(supplier, last_day, months=months,
                                             pdf_variant=variant_from(request.args))
    return attachment(body, f"scorecard-{supplier.code}-{last_day:%Y-%m}.pdf", "application/pdf")


@bp.get("/<code>/scorecard.xlsx")
@with_supplier("slas.view")
def scorecard_xlsx(supplier: Supplier):
    last_day, months = _span()
    body = scorecard_documents.scorecard_workbook(supplier, last_day, months=months)
    return attachment(body, f"scorecard-{supplier.code}-{last_day:%Y-%m}.xlsx", XLSX_MIMETYPE)
