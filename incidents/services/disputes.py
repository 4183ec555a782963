"""Attribution disputes: a supplier named in an incident's attribution answers it through a
private link, and the quality office settles what it disputes.

The life of a dispute: `open` (link sent) → `accepted` by the supplier (final), or `disputed`
with a statement → settled by the quality office as `upheld` (the decision stands) or
`revised` (a new revision of the attribution replaces it). The dispute row keeps both sides:
the decision disputed, the supplier's words and the settlement with the new revision.

A link's secret is `secrets.token_urlsafe(32)` (256 bits); only its SHA-256 digest is stored,
as for API tokens (`app.auth.services`). A link answers one dispute and reaches nothing else.
It can change something once: the answer is written with a conditional UPDATE on the `open`
status, so a second answer, even a concurrent one, changes nothing. Expired and revoked links
change nothing either.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from app.db import db, utcnow
from app.errors import Conflict, ServiceError, ValidationFailed
from incidents.models import (
    AttributionDecision,
    AttributionDispute,
    AttributionShare,
    DisputeStatus,
    Incident,
)
from incidents.services import attribution

#: The longest statement a supplier may send, in characters.
MAX_STATEMENT_LENGTH = 5000
#: Characters of the secret kept in clear so staff can tell links apart.
PREFIX_LENGTH = 8
#: Longest secret worth hashing; anything longer is not one of ours.
MAX_SECRET_LENGTH = 100


class LinkGone(ServiceError):
    """The link expired, was revoked or was already used: nothing can change through it."""

    status = 410
    code = "gone"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _current_decision(incident: Incident) -> AttributionDecision | None:
    return db.session.scalar(
        select(AttributionDecision).where(AttributionDecision.incident_id == incident.id)
        .order_by(AttributionDecision.revision.desc()).limit(1))


def open_dispute_link(incident: Incident, supplier, actor, days_valid: int = 14) -> tuple[AttributionDispute, str]:
    """Create a link for `supplier` to answer the incident's current decision.

    Returns the dispute and the secret, which is not stored and cannot be shown again.
    Refused unless the supplier carries a share of the current decision.
    """
    decision = _current_decision(incident)
    if decision is None:
        raise ValidationFailed(_l("Record an attribution before asking a supplier about it."),
                               fields={"supplier_id": _l("No attribution decision yet.")})
    named = db.session.scalar(
        select(AttributionShare.id).where(AttributionShare.decision_id == decision.id,
                                          AttributionShare.supplier_id == supplier.id).limit(1))
    if named is None:
        raise ValidationFailed(_l("This supplier carries no share of the current decision."),
                               fields={"supplier_id": _l("Choose a supplier named in the current decision.")})
    if not 1 <= int(days_valid) <= 90:
        raise ValidationFailed(_l("A link is valid for 1 to 90 days."),
                               fields={"days_valid": _l("A link is valid for 1 to 90 days.")})
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    dispute = AttributionDispute(
        incident_id=incident.id, supplier_id=supplier.id, decision_id=decision.id,
        token_hash=hash_secret(secret), token_prefix=secret[:PREFIX_LENGTH],
        created_at=now, created_by_id=getattr(actor, "id", None),
        expires_at=now + dt.timedelta(days=int(days_valid)), status=DisputeStatus.OPEN.value)
    db.session.add(dispute)
    db.session.flush()
    return dispute, secret


def notify_supplier(dispute: AttributionDispute, url: str, actor):
    """E-mail the link to the supplier's primary contact, through the outbox (sent after the
    link is committed). Returns the queued message, or None when the supplier has no primary
    contact with an e-mail address (staff then pass the link on themselves)."""
    from app import outbox
    from suppliers.models import Contact

    contact = db.session.scalar(select(Contact).where(Contact.supplier_id == dispute.supplier_id,
                                                      Contact.is_primary.is_(True)))
    if contact is None or not contact.email:
        return None
    company = current_app.config["CATENA_COMPANY_NAME"]
    subject = f"{company}: attribution of incident #{dispute.incident_id} — your answer"
    body = (f"Dear {contact.name},\n\n{company} has attributed customer incident #{dispute.incident_id} "
            f"partly or wholly to your company. You can see the delivery chain and your share, and accept or "
            f"dispute it, at this private link (valid until {dispute.expires_at:%Y-%m-%d %H:%M} UTC):\n\n{url}\n\n"
            f"The link is for you only: do not forward it.\n")
    return outbox.enqueue(contact.email, subject, body, kind="dispute_link")


def dispute_for_token(secret: str | None) -> AttributionDispute | None:
    """The dispute whose link carries `secret`, whatever its state; None for an unknown secret.

    One indexed lookup by digest: cheap enough to answer every GET without a rate counter.
    """
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    return db.session.scalar(
        select(AttributionDispute).where(AttributionDispute.token_hash == hash_secret(secret))
        .options(selectinload(AttributionDispute.incident).selectinload(Incident.category),
                 selectinload(AttributionDispute.supplier), selectinload(AttributionDispute.created_by)))


def supplier_shares(dispute: AttributionDispute) -> list[AttributionShare]:
    """The supplier's shares in the decision it is asked about (one per leg it handled)."""
    return list(db.session.scalars(
        select(AttributionShare).where(AttributionShare.decision_id == dispute.decision_id,
                                       AttributionShare.supplier_id == dispute.supplier_id)
        .options(selectinload(AttributionShare.leg)).order_by(AttributionShare.id)))


def supplier_responds(dispute: AttributionDispute, accepts: bool, statement: str | None) -> AttributionDispute:
    """The supplier accepts its share, or disputes it with a statement (required, ≤ 5,000 characters).

    Refused (LinkGone) when the link expired, was revoked or was already answered.
    """
    now = utcnow()
    # Browsers send line breaks as CRLF but count them as one character against maxlength.
    statement = (statement or "").replace("\r\n", "\n").strip()
    if not accepts and not statement:
        raise ValidationFailed(_l("Tell us why you dispute the attribution."),
                               fields={"statement": _l("Tell us why you dispute the attribution.")})
    if len(statement) > MAX_STATEMENT_LENGTH:
        raise ValidationFailed(_l("The statement may have at most %(n)d characters.", n=MAX_STATEMENT_LENGTH),
                               fields={"statement": _l("At most %(n)d characters.", n=MAX_STATEMENT_LENGTH)})
    if not dispute.is_usable(now):
        raise LinkGone(_l("This link is no longer valid."))
    status = DisputeStatus.ACCEPTED if accepts else DisputeStatus.DISPUTED
    # Conditional on the link still being open and valid: of two answers sent at once, one wins.
    result = db.session.execute(
        update(AttributionDispute)
        .where(AttributionDispute.id == dispute.id, AttributionDispute.status == DisputeStatus.OPEN.value,
               AttributionDispute.revoked_at.is_(None), AttributionDispute.expires_at > now)
        .values(status=status.value, supplier_statement=statement or None, supplier_answered_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise LinkGone(_l("This link is no longer valid."))
    db.session.refresh(dispute)
    return dispute


def settle(dispute: AttributionDispute, upheld: bool, actor, note: str | None,
           parties: list[dict] | None = None) -> AttributionDispute:
    """The quality office settles a disputed attribution.

    Upheld: the decision stands. Revised: with `parties`, a new revision is recorded here through
    `attribution.decide` (its note names the dispute); without, the incident's latest revision,
    recorded through the attribution form after the one disputed, is the revision. Either way
    the dispute links it and keeps the supplier's statement.
    """
    if dispute.status != DisputeStatus.DISPUTED:
        raise Conflict(_l("Only a disputed attribution can be settled."))
    note = (note or "").strip() or None
    if note and len(note) > MAX_STATEMENT_LENGTH:
        raise ValidationFailed(_l("The note may have at most %(n)d characters.", n=MAX_STATEMENT_LENGTH),
                               fields={"note": _l("At most %(n)d characters.", n=MAX_STATEMENT_LENGTH)})
    revised = None
    if not upheld:
        if parties is not None:
            decision_note = str(_l("Revised after the dispute of %(supplier)s (dispute %(id)s).",
                                   supplier=dispute.supplier.code, id=dispute.id))
            if note:
                decision_note = f"{decision_note} {note}"
            revised = attribution.decide(dispute.incident, parties, actor, note=decision_note)
        else:
            disputed = db.session.get(AttributionDecision, dispute.decision_id)
            latest = _current_decision(dispute.incident)
            if latest is None or latest.revision <= disputed.revision:
                raise ValidationFailed(
                    _l("Record the revised attribution first, then settle the dispute as revised."),
                    fields={"outcome": _l("No revision after the disputed one.")})
            revised = latest
    result = db.session.execute(
        update(AttributionDispute)
        .where(AttributionDispute.id == dispute.id, AttributionDispute.status == DisputeStatus.DISPUTED.value)
        .values(status=(DisputeStatus.UPHELD if upheld else DisputeStatus.REVISED).value,
                settled_at=utcnow(), settled_by_id=getattr(actor, "id", None), settlement_note=note,
                revised_decision_id=revised.id if revised else None)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise Conflict(_l("Someone else settled this dispute at the same time; reload the page."))
    db.session.refresh(dispute)
    return dispute


def revoke(dispute: AttributionDispute, actor) -> AttributionDispute:
    """Withdraw an unanswered link; it then answers 410."""
    if dispute.status != DisputeStatus.OPEN or dispute.revoked_at is not None:
        raise Conflict(_l("Only an unanswered link can be revoked."))
    dispute.revoked_at = utcnow()
    dispute.revoked_by_id = getattr(actor, "id", None)
    db.session.flush()
    return dispute


def disputes_of(incident: Incident) -> list[AttributionDispute]:
    """The incident's disputes, newest first, with suppliers, decisions and people loaded."""
    return list(db.session.scalars(
        select(AttributionDispute).where(AttributionDispute.incident_id == incident.id)
        .options(selectinload(AttributionDispute.supplier), selectinload(AttributionDispute.decision),
                 selectinload(AttributionDispute.revised_decision), selectinload(AttributionDispute.created_by),
                 selectinload(AttributionDispute.settled_by))
        .order_by(AttributionDispute.id.desc())))


def dispute_of_incident(incident: Incident, dispute_id: int) -> AttributionDispute | None:
    """The dispute `dispute_id` if it belongs to `incident`, else None."""
    dispute = db.session.get(AttributionDispute, dispute_id)
    return dispute if dispute is not None and dispute.incident_id == incident.id else None


def suppliers_of_current_decision(incident: Incident) -> list:
    """The suppliers carrying a share of the incident's current decision, by code."""
    decision = _current_decision(incident)
    if decision is None:
        return []
    shares = db.session.scalars(
        select(AttributionShare).where(AttributionShare.decision_id == decision.id,
                                       AttributionShare.supplier_id.is_not(None))
        .options(selectinload(AttributionShare.supplier)))
    return sorted({s.supplier for s in shares}, key=lambda s: s.code)
