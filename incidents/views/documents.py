"""Downloads of the incidents domain: an incident's attribution dossier as PDF (or PDF/A-3b with
`?pdfa=1`). Always an attachment, never shown inline. The chargeback statement's PDF lives with
the chargeback pages (suppliers.views.documents)."""
from __future__ import annotations

from flask import request

from incidents.services import documents
from incidents.views import bp
from incidents.views.attribution import with_incident
from reports.pdf import attachment, variant_from


@bp.get("/incidents/<int:incident_id>/dossier.pdf")
@with_incident("incidents.view")
def incident_dossier(incident):
    body = documents.attribution_dossier_pdf(incident, pdf_variant=variant_from(request.args))
    return attachment(body, f"incident-{incident.id}-dossier.pdf", "application/pdf")
