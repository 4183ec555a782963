"""The life of a customer incident: intake (pages and API), interactions, costs, status,
assignment and the backlog.

Times are timezone-aware UTC here; the edges (forms, API) attach the company zone to naive
times before calling. Every function flushes and never commits.

Definitions (README glossary):
- respond by = reported_at + category.first_response_hours × PRIORITY_RESPONSE_FACTOR[priority];
- first response = the first outbound interaction, or the move to "in progress", whichever
  comes first;
- resolved_at = when the incident was last resolved (reopening clears it); closed_at = closing.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.auth.models import User
from app.auth.roles import PERMISSIONS
from app.changelog import attribute_changes
from app.db import db, utcnow
from app.errors import ValidationFailed
from app.pagination import Page, keyset_page
from incidents.models import (
    INCIDENT_TRANSITIONS,
    PRIORITY_RESPONSE_FACTOR,
    AttributionDecision,
    AttributionShare,
    CostKind,
    CostLine,
    Incident,
    IncidentCategory,
    IncidentChannel,
    IncidentStatus,
    Interaction,
    InteractionDirection,
    Leg,
    Order,
    Priority,
)
from suppliers.models import Supplier
from suppliers.services import clean_text, escape_like

#: Longest description or interaction note accepted, in characters.
MAX_TEXT = 10_000
#: How far in the future a reported or interaction time may lie (clocks of other systems drift).
CLOCK_SKEW = dt.timedelta(minutes=5)
#: Largest single cost line accepted (a typo guard; Numeric(12, 2) holds up to 10^10).
MAX_AMOUNT = Decimal("9999999999.99")

OPEN_STATUSES = (IncidentStatus.NEW.value, IncidentStatus.IN_PROGRESS.value)


# Reading ---------------------------------------------------------------------------------

def active_categories() -> list[IncidentCategory]:
    return list(db.session.scalars(select(IncidentCategory).where(IncidentCategory.is_active)
                                   .order_by(IncidentCategory.position, IncidentCategory.code)))


def all_categories() -> list[IncidentCategory]:
    return list(db.session.scalars(select(IncidentCategory)
                                   .order_by(IncidentCategory.position, IncidentCategory.code)))


def assignable_users() -> list[User]:
    """Active users whose role may handle incidents, by name."""
    roles = [role.value for role in PERMISSIONS["incidents.handle"]]
    return list(db.session.scalars(select(User).where(User.is_active, User.role.in_(roles)).order_by(User.name)))


def get_incident(incident_id: int) -> Incident | None:
    return db.session.scalar(
        select(Incident).where(Incident.id == incident_id).options(
            selectinload(Incident.category), selectinload(Incident.assignee),
            selectinload(Incident.interactions).selectinload(Interaction.by),
            selectinload(Incident.cost_lines),
            selectinload(Incident.order).selectinload(Order.legs).selectinload(Leg.supplier)))


def get_incident_by_external_id(external_id: str) -> Incident | None:
    return db.session.scalar(select(Incident).where(Incident.external_id == external_id))


def suggest_orders(text: str, limit: int = 10) -> list[Order]:
    """Type-ahead: orders whose reference or customer reference starts with `text`."""
    text = (clean_text(text) or "")[:64]
    if len(text) < 2:
        return []
    prefix = escape_like(text) + "%"
    return list(db.session.scalars(
        select(Order).where(Order.ref.like(prefix, escape="\\") | Order.customer_ref.like(prefix, escape="\\"))
        .order_by(Order.id.desc()).limit(limit)))


def cost_total(incident: Incident) -> Decimal:
    return sum((line.amount for line in incident.cost_lines), Decimal("0.00"))


def respond_by_for(category: IncidentCategory, priority: str, reported_at: dt.datetime) -> dt.datetime:
    """When the first response is due: the category's hours scaled by the priority's factor."""
    factor = PRIORITY_RESPONSE_FACTOR[Priority(priority)]
    return reported_at + dt.timedelta(hours=category.first_response_hours * factor)


@dataclass
class BacklogFilters:
    category: str | None = None
    #: Supplier code: incidents whose order has a leg of that supplier.
    supplier: str | None = None
    assignee_id: int | None = None
    #: Only incidents nobody is assigned to (ignored when assignee_id is given).
    unassigned: bool = False
    status: str | None = None
    #: False: open incidents only (the backlog); True: every status (the API list).
    include_closed: bool = False
    #: Reported on these company-zone days (inclusive), as the dashboard's span.
    reported_from: dt.date | None = None
    reported_to: dt.date | None = None
    channel: str | None = None
    #: Supplier code: incidents whose current attribution gives it a share (the dashboard's
    #: "responsible supplier"), unlike `supplier`, which looks at the order's chain.
    attributed_to: str | None = None


def backlog_query(filters: BacklogFilters):
    """The incidents `filters` select, unordered (the backlog page and its export share it)."""
    stmt = select(Incident)
    if filters.status:
        stmt = stmt.where(Incident.status == filters.status)
    elif not filters.include_closed:
        stmt = stmt.where(Incident.status.in_(OPEN_STATUSES))
    if filters.category:
        stmt = stmt.where(Incident.category_id.in_(
            select(IncidentCategory.id).where(IncidentCategory.code == filters.category)))
    if filters.supplier:
        stmt = stmt.where(Incident.order_id.in_(
            select(Leg.order_id).join(Supplier, Supplier.id == Leg.supplier_id)
            .where(Supplier.code == filters.supplier.strip().upper())))
    if filters.assignee_id is not None:
        stmt = stmt.where(Incident.assignee_id == filters.assignee_id)
    elif filters.unassigned:
        stmt = stmt.where(Incident.assignee_id.is_(None))
    if filters.reported_from:
        stmt = stmt.where(Incident.reported_day >= filters.reported_from)
    if filters.reported_to:
        stmt = stmt.where(Incident.reported_day <= filters.reported_to)
    if filters.channel:
        stmt = stmt.where(Incident.channel == filters.channel)
    if filters.attributed_to:
        latest = (select(AttributionDecision.incident_id, func.max(AttributionDecision.revision).label("revision"))
                  .group_by(AttributionDecision.incident_id).subquery())
        stmt = stmt.where(Incident.id.in_(
            select(AttributionDecision.incident_id)
            .join(latest, (latest.c.incident_id == AttributionDecision.incident_id)
                  & (latest.c.revision == AttributionDecision.revision))
            .join(AttributionShare, AttributionShare.decision_id == AttributionDecision.id)
            .join(Supplier, Supplier.id == AttributionShare.supplier_id)
            .where(Supplier.code == filters.attributed_to.strip().upper())))
    return stmt


def backlog(filters: BacklogFilters, cursor: str | None = None, limit: int = 50, *,
            with_costs: bool = False) -> Page[Incident]:
    """Incidents by time left before their first-response breach: respond_by ascending, then id,
    so overdue ones come first. Keyset-paged; raises app.pagination.BadCursor. `with_costs`
    loads their cost lines too (the API gives each incident's cost; the page does not)."""
    stmt = backlog_query(filters)
    stmt = stmt.options(selectinload(Incident.category), selectinload(Incident.assignee),
                        selectinload(Incident.order))
    if with_costs:
        stmt = stmt.options(selectinload(Incident.cost_lines))
    # One part per status, each read from the (status, respond_by, id) index: a page then
    # costs the same at a million incidents as at a hundred (see keyset_page).
    statuses = ([] if filters.status else
                [s.value for s in IncidentStatus] if filters.include_closed else list(OPEN_STATUSES))
    return keyset_page(stmt, Incident.respond_by, Incident.id, descending=False,
                       cursor=cursor, limit=limit, key=lambda incident: [incident.respond_by, incident.id],
                       partitions=[Incident.status == status for status in statuses])


def interaction_counts(incidents: list[Incident]) -> dict[int, int]:
    ids = [i.id for i in incidents]
    if not ids:
        return {}
    rows = db.session.execute(select(Interaction.incident_id, func.count()).where(Interaction.incident_id.in_(ids))
                              .group_by(Interaction.incident_id))
    return {incident_id: count for incident_id, count in rows}


# Checking --------------------------------------------------------------------------------

def _check_time(value, name: str, errors: dict, now: dt.datetime) -> dt.datetime | None:
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        errors[name] = _l("Give a date and time with its time zone.")
        return None
    value = value.astimezone(dt.timezone.utc)
    if value > now + CLOCK_SKEW:
        errors[name] = _l("This time is in the future.")
        return None
    if value.year < 2000:
        errors[name] = _l("This time is too far in the past.")
        return None
    return value


def _check_text(value, name: str, errors: dict, *, required: bool) -> str | None:
    text = clean_text(value, multiline=True) if value is not None else None
    if text is None:
        if required:
            errors[name] = _l("Required.")
        return None
    if len(text) > MAX_TEXT:
        errors[name] = _l("At most %(n)s characters.", n=MAX_TEXT)
        return None
    return text


def _check_choice(value, enum, name: str, errors: dict, default=None) -> str | None:
    if value in (None, "") and default is not None:
        return default.value
    try:
        return enum(value).value
    except ValueError:
        errors[name] = _l("Not one of the allowed values.")
        return None


# Intake ----------------------------------------------------------------------------------

def create_incident(values: dict, actor) -> Incident:
    """Record a complaint. `values`: category (code), channel, priority (default normal),
    description, reported_at (aware; default now), order_ref (optional), external_id
    (optional). An unknown or missing order is allowed: the incident needs follow-up."""
    now = utcnow()
    errors: dict = {}
    code = (clean_text(values.get("category")) or "")[:40]
    category = db.session.scalar(select(IncidentCategory).where(IncidentCategory.code == code)) if code else None
    if category is None or not category.is_active:
        errors["category"] = _l("Choose a category of the catalogue.")
    channel = _check_choice(values.get("channel"), IncidentChannel, "channel", errors)
    priority = _check_choice(values.get("priority"), Priority, "priority", errors, default=Priority.NORMAL)
    description = _check_text(values.get("description"), "description", errors, required=True)
    reported_at = values.get("reported_at") or now
    reported_at = _check_time(reported_at, "reported_at", errors, now)
    order_ref = clean_text(values.get("order_ref"))
    if order_ref and len(order_ref) > 64:
        errors["order_ref"] = _l("At most %(n)s characters.", n=64)
    external_id = clean_text(values.get("external_id"))
    if external_id and len(external_id) > 100:
        errors["external_id"] = _l("At most %(n)s characters.", n=100)
    if errors:
        raise ValidationFailed(_l("The incident was not recorded: check the fields marked."), fields=errors)

    order = db.session.scalar(select(Order).where(Order.ref == order_ref)) if order_ref else None
    incident = Incident(
        external_id=external_id,
        order=order,
        order_ref_given=order_ref,
        # No known order: someone must find it (or confirm there is none) before attribution.
        needs_follow_up=order is None,
        channel=channel,
        category=category,
        priority=priority,
        description=description,
        status=IncidentStatus.NEW.value,
        reported_at=reported_at,
        respond_by=respond_by_for(category, priority, reported_at),
        created_by_id=getattr(actor, "id", None),
    )
    attribute_changes(actor)
    db.session.add(incident)
    db.session.flush()
    return incident


def record_incident_from_api(values: dict, actor) -> tuple[Incident, bool]:
    """Create the incident, or return the one already recorded under the same external_id
    unchanged (created=False), so a helpdesk may push the same ticket again safely."""
    external_id = clean_text(values.get("external_id"))
    if external_id:
        existing = get_incident_by_external_id(external_id)
        if existing is not None:
            return existing, False
    try:
        # A savepoint: if a concurrent push of the same ticket wins the race, only this
        # insert is undone and the winner is returned.
        with db.session.begin_nested():
            incident = create_incident(values, actor)
    except IntegrityError:
        existing = get_incident_by_external_id(external_id) if external_id else None
        if existing is None:
            raise
        return existing, False
    return incident, True


# Life ------------------------------------------------------------------------------------

def change_status(incident: Incident, status: str, actor, csat: int | None = None, note: str | None = None,
                  at: dt.datetime | None = None) -> None:
    """Move the incident along INCIDENT_TRANSITIONS. A CSAT score (1–5) is accepted only when
    closing, and is optional there (not every customer answers). The note becomes the
    change log's reason. `at` (aware; default now) is when the move happened, for records
    loaded from another system."""
    try:
        target = IncidentStatus(status)
    except ValueError:
        raise ValidationFailed(_l("Unknown status."), fields={"status": _l("Not one of the allowed values.")}) from None
    if target not in INCIDENT_TRANSITIONS[IncidentStatus(incident.status)]:
        raise ValidationFailed(_l("An incident cannot move from this status to that one."),
                               code="illegal_transition", fields={"status": _l("Not allowed from the current status.")})
    if csat is not None:
        if target != IncidentStatus.CLOSED:
            raise ValidationFailed(_l("A CSAT score is given when closing."),
                                   fields={"csat": _l("Only when closing.")})
        if isinstance(csat, bool) or not isinstance(csat, int) or not 1 <= csat <= 5:
            raise ValidationFailed(_l("The CSAT score is from 1 to 5."), fields={"csat": _l("From 1 to 5.")})
    note = clean_text(note, multiline=True)
    if note and len(note) > MAX_TEXT:
        raise ValidationFailed(_l("The note is too long."), fields={"note": _l("At most %(n)s characters.",
                                                                              n=MAX_TEXT)})
    now = utcnow()
    if at is not None:
        errors: dict = {}
        now = _check_time(at, "at", errors, now)
        if errors:
            raise ValidationFailed(_l("The incident was not recorded: check the fields marked."), fields=errors)
    attribute_changes(actor, note)
    if target == IncidentStatus.IN_PROGRESS:
        if incident.first_response_at is None:
            incident.first_response_at = now
        # Reopening: the earlier resolution no longer stands.
        incident.resolved_at = None
    elif target == IncidentStatus.RESOLVED:
        incident.resolved_at = now
    elif target == IncidentStatus.CLOSED:
        incident.closed_at = now
        incident.csat = csat
    incident.status = target.value
    db.session.flush()


def add_interaction(incident: Incident, values: dict, actor) -> Interaction:
    """Log a contact with the customer: channel, direction, note, at (aware; default now).
    The first outbound one is the first response, if none was recorded yet."""
    now = utcnow()
    errors: dict = {}
    channel = _check_choice(values.get("channel"), IncidentChannel, "channel", errors)
    direction = _check_choice(values.get("direction"), InteractionDirection, "direction", errors)
    note = _check_text(values.get("note"), "note", errors, required=False)
    at = _check_time(values.get("at") or now, "at", errors, now)
    if errors:
        raise ValidationFailed(_l("The interaction was not recorded: check the fields marked."), fields=errors)
    attribute_changes(actor)
    interaction = Interaction(incident=incident, at=at, channel=channel, direction=direction, note=note,
                              by_id=getattr(actor, "id", None))
    db.session.add(interaction)
    if direction == InteractionDirection.OUTBOUND and incident.first_response_at is None:
        incident.first_response_at = at
    db.session.flush()
    return interaction


def _check_amount(value, errors: dict) -> Decimal | None:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        errors["amount"] = _l("Give an amount such as 12.50.")
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        errors["amount"] = _l("Give an amount from 0 to %(max)s.", max=MAX_AMOUNT)
        return None
    if amount.as_tuple().exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        errors["amount"] = _l("At most two decimal places.")
        return None
    return amount.quantize(Decimal("0.01"))


def add_cost_line(incident: Incident, values: dict, actor) -> CostLine:
    """Record what the disservice cost: kind (refund, reshipment, voucher, other), amount
    (Decimal ≥ 0, at most 2 decimal places, euro), note."""
    errors: dict = {}
    kind = _check_choice(values.get("kind"), CostKind, "kind", errors)
    amount = _check_amount(values.get("amount"), errors) if values.get("amount") not in (None, "") else None
    if amount is None and "amount" not in errors:
        errors["amount"] = _l("Required.")
    note = clean_text(values.get("note"))
    if note and len(note) > 300:
        errors["note"] = _l("At most %(n)s characters.", n=300)
    if errors:
        raise ValidationFailed(_l("The cost was not recorded: check the fields marked."), fields=errors)
    attribute_changes(actor)
    line = CostLine(incident=incident, kind=kind, amount=amount, note=note)
    db.session.add(line)
    db.session.flush()
    return line


def assign(incidents: list[Incident], assignee: User | None, actor) -> int:
    """Give the incidents to `assignee` (None: nobody); return how many changed hands."""
    if assignee is not None and (not assignee.is_active or not assignee.can("incidents.handle")):
        raise ValidationFailed(_l("This person cannot handle incidents."),
                               fields={"assignee": _l("Choose an active operator.")})
    attribute_changes(actor)
    changed = 0
    new_id = assignee.id if assignee is not None else None
    for incident in incidents:
        if incident.assignee_id != new_id:
            incident.assignee_id = new_id
            changed += 1
    db.session.flush()
    return changed


def incidents_by_ids(ids: list[int]) -> list[Incident]:
    if not ids:
        return []
    return list(db.session.scalars(select(Incident).where(Incident.id.in_(ids)).order_by(Incident.id)))
