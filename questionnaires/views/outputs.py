"""Downloads: the completed questionnaire as PDF (or PDF/A-3b) and .xlsx, and the list of
assignments as .xlsx with the list page's filters. Always attachments, never shown inline."""
from __future__ import annotations


from flask import abort, request

from app.auth.access import permission_required
from app.i18n import today
from questionnaires.services import assignment_lists
from questionnaires.services import assignments as assignment_service
from questionnaires.services import outputs
from questionnaires.views import bp
from reports.pdf import attachment
from reports.xlsx import XLSX_MIMETYPE



def _assignment_or_404(assignment_id: int):
    assignment = assignment_service.get_assignment(assignment_id)
    if assignment is None:
        abort(404)
    return assignment


def _file_stem(assignment) -> str:
    return f"questionnaire-{assignment.id}-{assignment.supplier.code}"


@bp.get("/questionnaires/assignments/<int:assignment_id>/questionnaire.pdf")
@permission_required("questionnaires.view")
def assignment_pdf(assignment_id: int):
    assignment = _assignment_or_404(assignment_id)
    variant = "pdf/a-3b" if request.args.get("pdfa") == "1" else None
    body = outputs.questionnaire_pdf(assignment, pdf_variant=variant)
    return attachment(body, _file_stem(assignment) + ".pdf", "application/pdf")


@bp.get("/questionnaires/assignments/<int:assignment_id>/questionnaire.xlsx")
@permission_required("questionnaires.view")
def assignment_xlsx(assignment_id: int):
    assignment = _assignment_or_404(assignment_id)
    body = outputs.questionnaire_xlsx(assignment)
    return attachment(body, _file_stem(assignment) + ".xlsx", XLSX_MIMETYPE)


@bp.get("/questionnaires/assignments.xlsx")
@permission_required("questionnaires.view")
def assignments_xlsx():
    # The list page's own filter form: the workbook holds what the page shows, every page of it.
    from questionnaires.views.assignments import filter_form, filters_from_form

    filters = filters_from_form(filter_form())
    day = today()
    body = outputs.assignments_xlsx(assignment_lists.stream_assignments(filters, today=day), filters)
    return attachment(body, f"assignments-{day.isoformat()}.xlsx", XLSX_MIMETYPE)
