"""Sample documents from the data at hand (the demo, usually): one of each PDF report, written
to a folder. `make report-images` turns their first pages into the pictures the README shows,
so the pictures are regenerated from the code that makes the documents, never drawn by hand."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from app.db import db


def _first(stmt):
    return db.session.scalars(stmt.limit(1)).first()


def write_samples(directory: Path) -> list[Path]:
    """Write every report that has data to `directory`; returns the files written."""
    from audits.models import Audit, AuditStatus
    from audits.services.report import audit_report_pdf
    from incidents.models import AttributionDecision, ChargebackStatement, Incident
    from incidents.services.documents import attribution_dossier_pdf, chargeback_statement_pdf
    from questionnaires.models import Assignment, AssignmentStatus
    from questionnaires.services.outputs import questionnaire_pdf
    from suppliers.services.evidence_pack import evidence_pack_pdf
    from suppliers.services.scorecard_documents import scorecard_pdf

    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(name: str, body: bytes) -> None:
        path = directory / name
        path.write_bytes(body)
        written.append(path)

    audit = _first(select(Audit).where(Audit.status == AuditStatus.CLOSED.value, Audit.findings.any())
                   .order_by(Audit.period_start.desc()))
    if audit is not None:
        save("audit-report.pdf", audit_report_pdf(audit))
        today = dt.date.today()
        last = today.replace(day=1) - dt.timedelta(days=1)
        first = dt.date(last.year - 1, last.month, 1) + dt.timedelta(days=31)
        save("evidence-pack.pdf", evidence_pack_pdf(audit.supplier, first.replace(day=1), last))
        save("scorecard.pdf", scorecard_pdf(audit.supplier))
    assignment = _first(select(Assignment).where(Assignment.status == AssignmentStatus.ACCEPTED.value)
                        .order_by(Assignment.id))
    if assignment is not None:
        save("questionnaire.pdf", questionnaire_pdf(assignment))
    incident = _first(select(Incident).where(Incident.id.in_(select(AttributionDecision.incident_id)))
                      .order_by(Incident.id))
    if incident is not None:
        save("attribution-dossier.pdf", attribution_dossier_pdf(incident))
    statement = _first(select(ChargebackStatement).order_by(ChargebackStatement.id))
    if statement is not None:
        save("chargeback-statement.pdf", chargeback_statement_pdf(statement))
    return written
