"""Chargebacks: what a supplier is charged for the incidents attributed to it in a period.

The written definitions (the README glossary quotes them):

- **Applicable policy.** A supplier's own `ChargebackPolicy` applies; without one, the policy
  of one of its chain roles; when several of its roles have a policy, the one with the highest
  per-incident amount (ties: the higher cap, no cap counting as highest, then the role code in
  alphabetical order), since a supplier that takes on several roles accepts the strictest
  terms among them. Without any policy, incident costs are charged, with no per-incident
  amount and no cap.
- **Incidents on a statement.** The incidents reported (`Incident.reported_day`, the day in the
  company's time zone) from `period_start` to `period_end`, both included, whose *current*
  attribution (the latest decision revision) gives the supplier a share. When the decision
  gives the supplier several shares (several of its legs), they are added up.
- **Line.** cost = the sum of the incident's cost lines (0 when the policy does not charge
  costs); per-incident amount = the policy's; share = the supplier's share (a fraction 0–1);
  amount = (cost + per-incident amount) × share, rounded half-up to the cent.
- **Totals.** lines total = the sum of the lines' amounts; total (what is charged) = the lines
  total, or the policy's cap per statement when the lines total is above it.
- **Life of a statement.** draft → sent → accepted or disputed (a dispute needs a note). A draft
  is refreshed (its lines recomputed) when it is prepared again for the same supplier and
  period; a sent, accepted or disputed statement never changes. Statements of one supplier
  never overlap in time, so an incident cannot be charged twice.

Services flush and never commit; the view, API handler or command around them opens the unit
of work.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload, selectinload
from sqlalchemy.orm.attributes import flag_modified

from app.changelog import attribute_changes
from app.db import db, utcnow
from app.errors import Conflict, ValidationFailed
from app.pagination import Page, keyset_page
from incidents.models import (
    AttributionDecision,
    AttributionShare,
    ChargebackLine,
    ChargebackPolicy,
    ChargebackStatement,
    ChargebackStatus,
    CostLine,
    Incident,
)
from suppliers.models import ChainRole, Supplier

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
#: Most a policy amount may be (the columns hold 12 digits, 2 of them decimals).
MAX_AMOUNT = Decimal("9999999999.99")
MAX_NOTE = 2000

#: Which status may follow which; the keys with no successor are final.
CHARGEBACK_TRANSITIONS: dict[ChargebackStatus, frozenset[ChargebackStatus]] = {
    ChargebackStatus.DRAFT: frozenset({ChargebackStatus.SENT}),
    ChargebackStatus.SENT: frozenset({ChargebackStatus.ACCEPTED, ChargebackStatus.DISPUTED}),
    ChargebackStatus.ACCEPTED: frozenset(),
    ChargebackStatus.DISPUTED: frozenset(),
}

CHARGEBACK_STATUS_LABELS = {
    ChargebackStatus.DRAFT: _l("Draft"),
    ChargebackStatus.SENT: _l("Sent"),
    ChargebackStatus.ACCEPTED: _l("Accepted"),
    ChargebackStatus.DISPUTED: _l("Disputed"),
}

#: Badge colours: grey not yet out, yellow awaiting the supplier, green settled, red disputed.
CHARGEBACK_STATUS_COLOURS = {
    ChargebackStatus.DRAFT: "secondary",
    ChargebackStatus.SENT: "warning",
    ChargebackStatus.ACCEPTED: "success",
    ChargebackStatus.DISPUTED: "danger",
}


@dataclass(frozen=True)
class Terms:
    """The penalty rules that apply to one supplier, and where they come from."""

    per_incident_amount: Decimal
    charges_costs: bool
    cap: Decimal | None
    #: The policy applied, None when the supplier and its roles have none.
    policy: ChargebackPolicy | None
    #: "supplier", "role" or "none".
    source: str
    chain_role: str | None = None


NO_POLICY_TERMS = Terms(per_incident_amount=ZERO, charges_costs=True, cap=None, policy=None, source="none")


def to_cents(value: Decimal) -> Decimal:
    """Round half-up to the cent."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


# Policies ----------------------------------------------------------------------------------

def _role_policy_rank(policy: ChargebackPolicy):
    cap = policy.cap_per_statement
    # Highest per-incident amount first; then the higher cap (no cap is the highest); then role.
    return (-policy.per_incident_amount, 0 if cap is None else 1, -(cap or 0), policy.chain_role)


def terms_for(supplier: Supplier) -> Terms:
    """The policy that applies to `supplier` (see the module docstring)."""
    own = db.session.scalar(select(ChargebackPolicy).where(ChargebackPolicy.supplier_id == supplier.id))
    if own is not None:
        return Terms(own.per_incident_amount, own.charges_costs, own.cap_per_statement, own, "supplier")
    roles = supplier.role_codes
    if roles:
        candidates = list(db.session.scalars(select(ChargebackPolicy).where(ChargebackPolicy.chain_role.in_(roles))))
        if candidates:
            best = min(candidates, key=_role_policy_rank)
            return Terms(best.per_incident_amount, best.charges_costs, best.cap_per_statement, best, "role",
                         best.chain_role)
    return NO_POLICY_TERMS


def policy_of(owner: Supplier | str) -> ChargebackPolicy | None:
    """The policy set on this supplier or chain role itself (not the one that applies)."""
    if isinstance(owner, Supplier):
        return db.session.scalar(select(ChargebackPolicy).where(ChargebackPolicy.supplier_id == owner.id))
    return db.session.scalar(select(ChargebackPolicy).where(ChargebackPolicy.chain_role == owner))


def _amount(value, field: str, errors: dict, *, required: bool) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[field] = _l("Give an amount (0 for none).")
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors[field] = _l("Not a number.")
        return None
    if not amount.is_finite() or amount < 0:
        errors[field] = _l("The amount cannot be negative.")
        return None
    if amount > MAX_AMOUNT or amount != amount.quantize(CENT):
        errors[field] = _l("Give an amount in euros with at most two decimals.")
        return None
    return amount


def set_policy(owner: Supplier | str, values: dict, actor) -> ChargebackPolicy:
    """Create or change the chargeback policy of a supplier or of a chain role (its code).

    `values`: per_incident_amount (≥ 0), charges_costs (bool), cap_per_statement (≥ 0, or
    empty for no cap).
    """
    if not isinstance(owner, Supplier) and owner not in {r.value for r in ChainRole}:
        raise ValidationFailed(_l("Unknown chain role."), code="unknown_chain_role",
                               fields={"chain_role": _l("Unknown chain role.")})
    errors: dict = {}
    per_incident = _amount(values.get("per_incident_amount"), "per_incident_amount", errors, required=True)
    cap = _amount(values.get("cap_per_statement"), "cap_per_statement", errors, required=False)
    if errors:
        raise ValidationFailed(_l("The chargeback policy is not valid."), fields=errors)
    attribute_changes(actor)
    policy = policy_of(owner)
    if policy is None:
        policy = (ChargebackPolicy(supplier_id=owner.id) if isinstance(owner, Supplier)
                  else ChargebackPolicy(chain_role=owner))
        db.session.add(policy)
    policy.per_incident_amount = per_incident
    policy.charges_costs = bool(values.get("charges_costs", True))
    policy.cap_per_statement = cap
    db.session.flush()
    return policy


# Statements --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Attributed:
    incident_id: int
    share: Decimal
    cost: Decimal


def _attributed_incidents(supplier: Supplier, period_start: dt.date, period_end: dt.date) -> list[_Attributed]:
    """The incidents of the period whose current decision gives the supplier a share, with the
    supplier's share (summed over its shares in that decision) and the incident's cost. Two
    queries whatever the number of incidents."""
    later = aliased(AttributionDecision)
    latest_revision = (select(func.max(later.revision)).where(later.incident_id == AttributionDecision.incident_id)
                       .correlate(AttributionDecision).scalar_subquery())
    in_scope = (
        select(Incident.id.label("incident_id"), func.sum(AttributionShare.share).label("share"))
        .join(AttributionDecision, AttributionDecision.incident_id == Incident.id)
        .join(AttributionShare, AttributionShare.decision_id == AttributionDecision.id)
        .where(AttributionShare.supplier_id == supplier.id,
               Incident.reported_day >= period_start, Incident.reported_day <= period_end,
               AttributionDecision.revision == latest_revision)
        .group_by(Incident.id)
    )
    shares = {row.incident_id: Decimal(row.share) for row in db.session.execute(in_scope.order_by(Incident.id))}
    if not shares:
        return []
    ids = in_scope.with_only_columns(Incident.id).subquery()
    costs = dict(db.session.execute(
        select(CostLine.incident_id, func.sum(CostLine.amount))
        .where(CostLine.incident_id.in_(select(ids.c.id)))
        .group_by(CostLine.incident_id)
    ).all())
    return [_Attributed(incident_id, share, to_cents(Decimal(costs.get(incident_id) or 0)))
            for incident_id, share in shares.items()]


def line_amount(cost: Decimal, per_incident_amount: Decimal, share: Decimal) -> Decimal:
    """(cost + per-incident amount) × share, rounded half-up to the cent."""
    return to_cents((cost + per_incident_amount) * share)


def statement_total(lines_total: Decimal, cap: Decimal | None) -> Decimal:
    return to_cents(lines_total if cap is None else min(lines_total, cap))


def _check_period(period_start, period_end) -> None:
    errors = {}
    if not isinstance(period_start, dt.date):
        errors["period_start"] = _l("Give the first day of the period.")
    if not isinstance(period_end, dt.date):
        errors["period_end"] = _l("Give the last day of the period.")
    if not errors and period_end < period_start:
        message = _l("The period ends before it starts.")
        errors = {"period_start": message, "period_end": message}
    if errors:
        raise ValidationFailed(_l("The period is not valid."), code="invalid_period", fields=errors)


def _fill(statement: ChargebackStatement, supplier: Supplier) -> None:
    terms = terms_for(supplier)
    attributed = _attributed_incidents(supplier, statement.period_start, statement.period_end)
    statement.lines.clear()
    lines_total = ZERO
    for item in attributed:
        cost = item.cost if terms.charges_costs else ZERO
        amount = line_amount(cost, terms.per_incident_amount, item.share)
        statement.lines.append(ChargebackLine(incident_id=item.incident_id, cost=cost,
                                              per_incident_amount=terms.per_incident_amount,
                                              share=item.share, amount=amount))
        lines_total += amount
    statement.lines_total = to_cents(lines_total)
    statement.total = statement_total(statement.lines_total, terms.cap)


def prepare_statement(supplier: Supplier, period_start: dt.date, period_end: dt.date, actor,
                      expected_version: int | None = None) -> ChargebackStatement:
    """Create the draft statement of `supplier` for the period, or refresh the existing draft
    of the same period (its lines recomputed from the current attributions, costs and policy).

    A sent, accepted or disputed statement is never changed; a period overlapping another
    statement of the supplier is refused, so that no incident is charged twice.
    """
    _check_period(period_start, period_end)
    overlapping = list(db.session.scalars(
        select(ChargebackStatement)
        .where(ChargebackStatement.supplier_id == supplier.id,
               ChargebackStatement.period_start <= period_end, ChargebackStatement.period_end >= period_start)
        .order_by(ChargebackStatement.id)
    ))
    statement = next((s for s in overlapping
                      if (s.period_start, s.period_end) == (period_start, period_end)), None)
    others = [s for s in overlapping if s is not statement]
    if others:
        raise ValidationFailed(
            _l("Statement %(id)s of %(code)s already covers part of this period (%(start)s – %(end)s).",
               id=str(others[0]), code=supplier.code, start=others[0].period_start.isoformat(),
               end=others[0].period_end.isoformat()),
            code="period_overlaps", fields={"period_start": _l("Overlaps another statement.")})
    if statement is not None:
        check_version(statement, expected_version)
        if statement.status != ChargebackStatus.DRAFT:
            raise ValidationFailed(
                _l("Statement %(id)s has been sent: it can no longer be changed.", id=str(statement)),
                code="statement_not_draft")
    attribute_changes(actor)
    if statement is None:
        statement = ChargebackStatement(supplier_id=supplier.id, supplier=supplier, period_start=period_start,
                                        period_end=period_end, status=ChargebackStatus.DRAFT.value,
                                        created_by_id=getattr(actor, "id", None))
        _fill(statement, supplier)
        try:
            # A savepoint, so that losing a race to prepare the same period leaves the
            # caller's unit of work usable.
            with db.session.begin_nested():
                db.session.add(statement)
        except IntegrityError:
            raise Conflict(_l("A statement for this period was just prepared by someone else. Reload the page."),
                           code="statement_exists") from None
    else:
        _fill(statement, supplier)
        # The version moves on a refresh even when the totals do not, so that a page showing
        # the old lines cannot send them.
        flag_modified(statement, "lines_total")
    db.session.flush()
    return statement


def check_version(statement: ChargebackStatement, expected_version: int | None) -> None:
    """Refuse a change made on an older copy of the statement (optimistic locking)."""
    if expected_version is not None and expected_version != statement.version:
        raise Conflict(
            _l("Statement %(id)s was changed by someone else since you opened it. Reload the page to see "
               "the current version, then try again.", id=str(statement)),
            code="stale_record",
        )


def _move(statement: ChargebackStatement, target: ChargebackStatus) -> None:
    current = ChargebackStatus(statement.status)
    if target not in CHARGEBACK_TRANSITIONS[current]:
        raise ValidationFailed(
            _l("A %(current)s statement cannot become %(target)s.", current=CHARGEBACK_STATUS_LABELS[current],
               target=CHARGEBACK_STATUS_LABELS[target]),
            code="invalid_transition", fields={"status": _l("Not allowed from the current status.")})
    statement.status = target.value


def send_statement(statement: ChargebackStatement, actor, expected_version: int | None = None) -> ChargebackStatement:
    """Draft → sent: the statement goes to the supplier and no longer changes."""
    check_version(statement, expected_version)
    _move(statement, ChargebackStatus.SENT)
    attribute_changes(actor)
    statement.sent_at = utcnow()
    db.session.flush()
    return statement


def record_response(statement: ChargebackStatement, accepted: bool, note: str | None, actor,
                    expected_version: int | None = None) -> ChargebackStatement:
    """Sent → accepted or disputed, with the supplier's answer; a dispute needs a note."""
    check_version(statement, expected_version)
    note = (note or "").strip() or None
    target = ChargebackStatus.ACCEPTED if accepted else ChargebackStatus.DISPUTED
    _move(statement, target)
    if not accepted and not note:
        raise ValidationFailed(_l("Say what the supplier disputes."), code="note_required",
                               fields={"note": _l("A dispute needs a note.")})
    if note and len(note) > MAX_NOTE:
        raise ValidationFailed(_l("The note is too long."), fields={"note": _l("At most 2,000 characters.")})
    attribute_changes(actor)
    statement.responded_at = utcnow()
    statement.response_note = note
    db.session.flush()
    return statement


# Reading -----------------------------------------------------------------------------------

def statement_by_id(statement_id: int) -> ChargebackStatement | None:
    return db.session.get(ChargebackStatement, statement_id)


def get_statement(supplier: Supplier, statement_id: int) -> ChargebackStatement | None:
    """The statement with this id if it belongs to `supplier` (None otherwise: no IDOR)."""
    statement = db.session.get(ChargebackStatement, statement_id)
    return statement if statement is not None and statement.supplier_id == supplier.id else None


def statements_for(supplier: Supplier, limit: int = 120) -> list[ChargebackStatement]:
    """The supplier's statements, latest period first (at most `limit`, ten years of months)."""
    return list(db.session.scalars(
        select(ChargebackStatement).where(ChargebackStatement.supplier_id == supplier.id)
        .order_by(ChargebackStatement.period_start.desc(), ChargebackStatement.id.desc()).limit(limit)
    ))


def statements_page(supplier: Supplier | None, cursor: str | None, limit: int) -> Page:
    """One page of statements (of one supplier, or all), by id; raises BadCursor."""
    stmt = select(ChargebackStatement).options(joinedload(ChargebackStatement.supplier))
    if supplier is not None:
        stmt = stmt.where(ChargebackStatement.supplier_id == supplier.id)
    return keyset_page(stmt, ChargebackStatement.id, ChargebackStatement.id, descending=False,
                       cursor=cursor, limit=limit)


@dataclass(frozen=True)
class StatementFilters:
    #: A supplier's code; None: every supplier's statements.
    supplier: str | None = None
    statuses: tuple[str, ...] = ()


def statement_query(filters: StatementFilters):
    """The chargeback statements `filters` select, unordered (for the export)."""
    stmt = select(ChargebackStatement)
    if filters.supplier:
        stmt = stmt.where(ChargebackStatement.supplier_id.in_(
            select(Supplier.id).where(Supplier.code == filters.supplier.strip().upper())))
    if filters.statuses:
        stmt = stmt.where(ChargebackStatement.status.in_(list(filters.statuses)))
    return stmt


def statement_lines_with_orders(statement: ChargebackStatement) -> list[ChargebackLine]:
    """The statement's lines with their incidents, orders and categories loaded (three queries)."""
    return list(db.session.scalars(
        select(ChargebackLine).where(ChargebackLine.statement_id == statement.id)
        .options(selectinload(ChargebackLine.incident).options(joinedload(Incident.order),
                                                               joinedload(Incident.category)))
        .order_by(ChargebackLine.id)
    ))
