"""What leaves Catena about incidents as a document: an incident's attribution dossier and a
supplier's chargeback statement, both as PDF (reports.pdf).

Each document is written from a record gathered here in a bounded number of queries, so the
template only lays out what it is given. Times are shown in the company's time zone by the
templates' date filters; money is formatted per language with its currency (EUR).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.auth.models import User
from app.changelog import ChangeLogEntry
from app.db import db, utcnow
from app.i18n import today
from incidents.models import (
    COST_KIND_LABELS,
    CHANNEL_LABELS,
    DISPUTE_STATUS_LABELS,
    INCIDENT_STATUS_LABELS,
    OUTCOME_LABELS,
    PRIORITY_LABELS,
    STAGE_LABELS,
    AttributionDecision,
    AttributionDispute,
    AttributionEvidence,
    ChargebackLine,
    ChargebackStatement,
    ChargebackStatus,
    Incident,
)
from incidents.services import attribution, chargebacks, disputes
from incidents.services import incidents as incident_services
from incidents.services.orders import LegView, leg_state
from reports import pdf

_TENTH = Decimal("0.1")

#: Leg states (incidents.services.orders.leg_state) a dossier marks as a failure of the leg.
LATE_STATES = frozenset({"late", "overdue", "lost"})
LEG_STATE_LABELS = {
    "on_time": _l("on time"),
    "late": _l("late"),
    "overdue": _l("overdue"),
    "lost": _l("lost"),
    "open": _l("open"),
    "cancelled": _l("cancelled"),
}
LEG_STATE_TONES = {"on_time": "success", "late": "danger", "overdue": "danger", "lost": "danger",
                   "open": "secondary", "cancelled": "secondary"}


def _user_names(ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


# Attribution dossier -------------------------------------------------------------------------

@dataclass
class ChainStep:
    """One leg of the order's chain as the dossier's timeline shows it."""

    view: LegView

    @property
    def leg(self):
        return self.view.leg

    @property
    def state(self) -> str:
        return self.view.state

    @property
    def is_late(self) -> bool:
        return self.state in LATE_STATES

    @property
    def delay_hours(self) -> Decimal | None:
        """actual − promised in hours, one decimal (negative: early); None while open."""
        if self.leg.delay_seconds is None:
            return None
        return (Decimal(self.leg.delay_seconds) / Decimal(3600)).quantize(_TENTH, rounding=ROUND_HALF_UP)


@dataclass
class EvidenceLine:
    file_name: str
    revision: int
    content_type: str
    size_bytes: int
    uploaded_at: dt.datetime
    uploaded_by: str | None


@dataclass
class DossierRecord:
    incident: Incident
    category: str
    chain: list[ChainStep]
    #: Every revision of the attribution, oldest first (the last is the current one).
    decisions: list[AttributionDecision]
    disputes: list[AttributionDispute]
    evidence: list[EvidenceLine]
    cost_total: Decimal
    names: dict[int, str] = field(default_factory=dict)

    @property
    def document_number(self) -> str:
        return f"ID-{self.incident.id}"

    @property
    def late_steps(self) -> list[ChainStep]:
        return [step for step in self.chain if step.is_late]


def dossier_record(incident: Incident, now: dt.datetime | None = None) -> DossierRecord:
    """Everything the dossier shows: the incident, its chain, its decisions, disputes and evidence."""
    now = now or utcnow()
    legs = attribution.chain_legs(incident.order)
    chain = [ChainStep(LegView(leg, leg_state(leg, now))) for leg in legs]
    decisions = list(reversed(attribution.decision_history(incident)))
    decision_ids = [d.id for d in decisions]
    revisions = {d.id: d.revision for d in decisions}
    evidence_rows = list(db.session.scalars(
        select(AttributionEvidence).where(AttributionEvidence.decision_id.in_(decision_ids))
        .order_by(AttributionEvidence.uploaded_at, AttributionEvidence.id))) if decision_ids else []
    names = _user_names({e.uploaded_by_id for e in evidence_rows})
    evidence = [EvidenceLine(file_name=e.file_name, revision=revisions.get(e.decision_id, 0),
                             content_type=e.content_type, size_bytes=e.size_bytes, uploaded_at=e.uploaded_at,
                             uploaded_by=names.get(e.uploaded_by_id)) for e in evidence_rows]
    return DossierRecord(
        incident=incident, category=incident.category.label(str(get_locale())), chain=chain, decisions=decisions,
        disputes=list(reversed(disputes.disputes_of(incident))), evidence=evidence,
        cost_total=incident_services.cost_total(incident), names=names)


def attribution_dossier_pdf(incident: Incident, *, pdf_variant: str | None = None,
                            uncompressed: bool = False) -> bytes:
    """The incident's attribution dossier as a controlled PDF record (document ID-<id>,
    revision = the current attribution revision, issued today)."""
    record = dossier_record(incident)
    current = record.decisions[-1].revision if record.decisions else 0
    order = incident.order.ref if incident.order else (incident.order_ref_given or "—")
    document = pdf.ReportDocument(
        title=str(_l("Incident attribution dossier")), number=record.document_number, revision=str(current),
        issued_on=today(), subject=str(_l("Incident #%(id)s — order %(order)s", id=incident.id, order=order)))
    return pdf.render_pdf(
        "reports/dossier.html", document, pdf_variant=pdf_variant, uncompressed=uncompressed, record=record,
        STAGE_LABELS=STAGE_LABELS, OUTCOME_LABELS=OUTCOME_LABELS, LEG_STATE_LABELS=LEG_STATE_LABELS,
        LEG_STATE_TONES=LEG_STATE_TONES, CHANNEL_LABELS=CHANNEL_LABELS, PRIORITY_LABELS=PRIORITY_LABELS,
        INCIDENT_STATUS_LABELS=INCIDENT_STATUS_LABELS, DISPUTE_STATUS_LABELS=DISPUTE_STATUS_LABELS,
        COST_KIND_LABELS=COST_KIND_LABELS, ROOT_CAUSES=attribution.ROOT_CAUSES, percent=percent)


def percent(share) -> str:
    """A fraction as a percentage without trailing zeros: 0.666667 → "66.6667", 1 → "100"."""
    return format((Decimal(str(share)) * 100).normalize(), "f")


# Chargeback statement ------------------------------------------------------------------------

@dataclass
class StatementRecord:
    statement: ChargebackStatement
    lines: list[ChargebackLine]
    terms: chargebacks.Terms
    prepared_by: str | None
    sent_by: str | None

    @property
    def document_number(self) -> str:
        return f"CB-{self.statement.id}"

    @property
    def is_capped(self) -> bool:
        return self.statement.total < self.statement.lines_total


def _sent_by(statement: ChargebackStatement) -> str | None:
    """Who marked the statement as sent, from the change log (the name, else the label logged)."""
    if statement.sent_at is None:
        return None
    entries = db.session.scalars(
        select(ChangeLogEntry).where(ChangeLogEntry.entity_type == ChargebackStatement.__tablename__,
                                     ChangeLogEntry.entity_id == str(statement.id))
        .order_by(ChangeLogEntry.id))
    for entry in entries:
        status = (entry.changes or {}).get("status")
        if isinstance(status, list) and len(status) == 2 and status[1] == ChargebackStatus.SENT:
            if entry.actor_id:
                return _user_names({entry.actor_id}).get(entry.actor_id, entry.actor_label)
            return str(_l("system")) if entry.actor_label == "system" else entry.actor_label
    return None


def statement_record(statement: ChargebackStatement) -> StatementRecord:
    return StatementRecord(
        statement=statement, lines=chargebacks.statement_lines_with_orders(statement),
        terms=chargebacks.terms_for(statement.supplier),
        prepared_by=_user_names({statement.created_by_id}).get(statement.created_by_id),
        sent_by=_sent_by(statement))


def chargeback_statement_pdf(statement: ChargebackStatement, *, pdf_variant: str | None = None,
                             uncompressed: bool = False) -> bytes:
    """The chargeback statement as a PDF to send to the supplier (document CB-<id>)."""
    record = statement_record(statement)
    supplier = statement.supplier
    document = pdf.ReportDocument(
        title=str(_l("Chargeback statement")), number=record.document_number, revision=str(statement.version),
        issued_on=today(), subject=f"{supplier.code} — {supplier.legal_name}")
    return pdf.render_pdf(
        "reports/chargeback_statement.html", document, pdf_variant=pdf_variant, uncompressed=uncompressed,
        record=record, supplier=supplier, statement=statement, ChargebackStatus=ChargebackStatus,
        CHARGEBACK_STATUS_LABELS=chargebacks.CHARGEBACK_STATUS_LABELS,
        CHARGEBACK_STATUS_TONES=chargebacks.CHARGEBACK_STATUS_COLOURS, percent=percent)
