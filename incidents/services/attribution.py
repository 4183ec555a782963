"""Attribution: which link of the delivery chain caused a customer's complaint.

Catena proposes the responsible legs with a rule chosen per incident category
(`IncidentCategory.attribution_rule`); the operator confirms or overrides the proposal with a
decision. Decisions are revisions: each one is kept, the latest is the incident's current
attribution.

Rules are pluggable through `RULES` (code → function with one interface,
`rule(legs, order, tolerance=timedelta(0)) -> list[ProposedShare]`), registered with
`register_rule`, which refuses a duplicate code. The written definitions of the rules are
`RULE_EXPLANATIONS` (the README glossary says the same words):

- late_delivery: each leg's *excess delay* is its actual duration minus its planned duration.
  Actual duration runs from when the leg received the parcel (the previous leg's actual
  completion, or the order time for the first leg) to its own actual completion; planned
  duration runs from the previous leg's promised completion (or the order time) to its own
  promised completion. Algebraically the excess is the leg's own delay minus the previous leg's
  delay, so for the first leg it is simply its own delay — which is also what we use when the
  order time is missing. When the previous leg's actual time is missing, the leg is taken to
  have received the parcel when it was promised, so its excess is its own delay too. Legs whose
  excess is above the tolerance are responsible, with shares proportional to their whole excess.
  Legs without an actual time cannot be measured and are not proposed.
- lost_parcel: the last leg that started (first leg, or previous leg completed) and did not
  complete (no actual time, or outcome "lost"); when every leg is complete, the last leg.
- damaged_goods: the first leg that recorded the damage (outcome "damaged"), else the last
  carrier leg (line haul, hub or last mile).
- labelling_error: the leg that produced the label, i.e. the last seller-handover or warehouse
  leg (a warehouse relabels what a seller hands over); the operator overrides it when evidence
  names another party.
- none: no proposal; the operator decides.

Cancelled legs are ignored by every rule.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.changelog import attribute_changes
from app.db import db, utcnow
from app.errors import Conflict, ValidationFailed
from incidents.models import (
    STAGE_LABELS,
    AttributionDecision,
    AttributionEvidence,
    AttributionRule,
    AttributionShare,
    Incident,
    IncidentCategory,
    Leg,
    LegOutcome,
    LegStage,
    Order,
)
from incidents.services.share_stats import record_decision_shares
from suppliers.models import Supplier

#: Shares are fractions with this many decimals (the column is Numeric(7, 6)).
SHARE_PLACES = Decimal("0.000001")
ONE = Decimal(1)

#: The catalogue of root causes an attribution may name (code → label).
ROOT_CAUSES = {
    "late_handover": _l("Late handover"),
    "transit_delay": _l("Transit delay"),
    "sorting_delay": _l("Sorting delay"),
    "delivery_delay": _l("Delivery delay"),
    "lost_in_transit": _l("Lost in transit"),
    "damaged_in_handling": _l("Damaged in handling"),
    "wrong_label": _l("Wrong label"),
    "address_error": _l("Address error"),
    "staff_conduct": _l("Staff conduct"),
    "system_error": _l("System error"),
    "customer_error": _l("Customer error"),
    "other": _l("Other"),
}

#: The root cause a late leg is proposed with, by its stage.
LATE_ROOT_CAUSE = {
    LegStage.SELLER_HANDOVER: "late_handover",
    LegStage.WAREHOUSE: "late_handover",
    LegStage.LINE_HAUL: "transit_delay",
    LegStage.HUB: "sorting_delay",
    LegStage.LAST_MILE: "delivery_delay",
    LegStage.PICKUP_POINT: "delivery_delay",
    LegStage.RETURN: "transit_delay",
}

#: Stages during which a carrier holds the parcel (for damaged goods with no recorded damage).
CARRIER_STAGES = frozenset({LegStage.LINE_HAUL, LegStage.HUB, LegStage.LAST_MILE})
#: Stages that produce the shipping label.
LABELLING_STAGES = frozenset({LegStage.SELLER_HANDOVER, LegStage.WAREHOUSE})


@dataclass
class ProposedShare:
    """One party Catena proposes as responsible, with its share (a fraction) and the reason."""

    leg: Leg
    supplier: Supplier
    share: Decimal
    #: Translatable text saying why, with the numbers (lazy: rendered in the reader's language).
    reason: object
    root_cause: str


Rule = Callable[..., list[ProposedShare]]

RULES: dict[str, Rule] = {}
RULE_LABELS: dict[str, object] = {}
RULE_EXPLANATIONS: dict[str, object] = {}


def register_rule(code: str, label, explanation):
    """Register a rule function under `code`; a code registered twice is a programming error."""

    def decorator(rule: Rule) -> Rule:
        if code in RULES:
            raise ValueError(f"attribution rule {code!r} is registered twice")
        RULES[code] = rule
        RULE_LABELS[code] = label
        RULE_EXPLANATIONS[code] = explanation
        return rule

    return decorator


def _hours(delta: dt.timedelta) -> Decimal:
    return (Decimal(int(delta.total_seconds())) / Decimal(3600)).quantize(Decimal("0.1"))


def _stage_label(leg: Leg):
    return STAGE_LABELS.get(leg.stage, leg.stage)


def _split(weights: list[tuple[Leg, Decimal]]) -> list[Decimal]:
    """Fractions proportional to `weights`, rounded to 6 places, summing exactly to 1.

    The rounding remainder goes to the largest share (the first of equals).
    """
    total = sum(w for _, w in weights)
    shares = [(w / total).quantize(SHARE_PLACES, rounding=ROUND_HALF_EVEN) for _, w in weights]
    largest = max(range(len(shares)), key=lambda i: (shares[i], -i))
    shares[largest] += ONE - sum(shares)
    return shares


@register_rule(
    AttributionRule.LATE_DELIVERY.value, _l("Late delivery: excess delay of each leg"),
    _l("Each leg's excess delay is its actual duration (from when it received the parcel — the previous "
       "leg's actual completion, or the order time for the first leg — to its own actual completion) minus "
       "its planned duration (from the previous leg's promised completion, or the order time, to its own "
       "promised completion). Legs with an excess above the tolerance are responsible, with shares "
       "proportional to their excess. A leg that hands over late is not blamed for the time a later leg "
       "lost, and a leg that made up lost time is not blamed at all. Without an order time, or when the "
       "previous leg's actual time is unknown, a leg's excess is its own delay."))
def late_delivery(legs: list[Leg], order: Order, tolerance: dt.timedelta = dt.timedelta(0)) -> list[ProposedShare]:
    late: list[tuple[Leg, Decimal, dt.timedelta | None, dt.timedelta | None]] = []
    previous: Leg | None = None
    for leg in legs:
        if leg.actual_at is not None:
            if previous is None:
                start_actual = start_planned = order.placed_at
            elif previous.actual_at is None:
                start_actual = start_planned = None
            else:
                start_actual, start_planned = previous.actual_at, previous.promised_at
            if start_actual is None:
                # Unknown start (no order time, or the previous leg's completion is unknown): the
                # leg is taken to have received the parcel when planned, so its excess is its delay.
                planned = actual = None
                excess = leg.actual_at - leg.promised_at
            else:
                planned, actual = leg.promised_at - start_planned, leg.actual_at - start_actual
                excess = actual - planned
            limit = tolerance(leg) if callable(tolerance) else tolerance
            if excess > limit and excess > dt.timedelta(0):
                late.append((leg, Decimal(int(excess.total_seconds())), planned, actual))
        previous = leg
    if not late:
        return []
    shares = _split([(leg, seconds) for leg, seconds, _, _ in late])
    proposals = []
    for (leg, seconds, planned, actual), share in zip(late, shares):
        if planned is None:
            reason = _l("%(stage)s by %(supplier)s ended %(excess)s h after its promise "
                        "(the time it received the parcel is unknown)",
                        stage=_stage_label(leg), supplier=leg.supplier.code,
                        excess=_hours(dt.timedelta(seconds=int(seconds))))
        else:
            reason = _l("%(stage)s by %(supplier)s took %(excess)s h more than planned "
                        "(planned %(planned)s h, actual %(actual)s h)",
                        stage=_stage_label(leg), supplier=leg.supplier.code, excess=_hours(actual - planned),
                        planned=_hours(planned), actual=_hours(actual))
        proposals.append(ProposedShare(leg, leg.supplier, share, reason,
                                       LATE_ROOT_CAUSE.get(leg.stage, "other")))
    return proposals


def _is_complete(leg: Leg) -> bool:
    return leg.actual_at is not None and leg.outcome != LegOutcome.LOST


@register_rule(
    AttributionRule.LOST_PARCEL.value, _l("Lost parcel: last leg holding custody"),
    _l("The leg that last held custody: the last leg that started (the first leg, or one whose previous leg "
       "completed) and did not complete (no actual time, or recorded as lost). When every leg completed, "
       "the last leg."))
def lost_parcel(legs: list[Leg], order: Order, tolerance: dt.timedelta = dt.timedelta(0)) -> list[ProposedShare]:
    if not legs:
        return []
    holder = None
    for n, leg in enumerate(legs):
        started = n == 0 or _is_complete(legs[n - 1])
        if started and not _is_complete(leg):
            holder = leg
    if holder is not None:
        reason = _l("%(stage)s by %(supplier)s received the parcel and never completed its leg",
                    stage=_stage_label(holder), supplier=holder.supplier.code)
    else:
        holder = legs[-1]
        reason = _l("Every leg completed; %(stage)s by %(supplier)s held the parcel last",
                    stage=_stage_label(holder), supplier=holder.supplier.code)
    return [ProposedShare(holder, holder.supplier, ONE, reason, "lost_in_transit")]


@register_rule(
    AttributionRule.DAMAGED_GOODS.value, _l("Damaged goods: leg that recorded the damage"),
    _l("The first leg that recorded the damage; when none did, the last carrier leg (line haul, hub or "
       "last mile)."))
def damaged_goods(legs: list[Leg], order: Order, tolerance: dt.timedelta = dt.timedelta(0)) -> list[ProposedShare]:
    for leg in legs:
        if leg.outcome == LegOutcome.DAMAGED:
            reason = _l("%(stage)s by %(supplier)s recorded the damage",
                        stage=_stage_label(leg), supplier=leg.supplier.code)
            return [ProposedShare(leg, leg.supplier, ONE, reason, "damaged_in_handling")]
    carriers = [leg for leg in legs if leg.stage in CARRIER_STAGES]
    if not carriers:
        return []
    leg = carriers[-1]
    reason = _l("No leg recorded the damage; %(stage)s by %(supplier)s was the last carrier",
                stage=_stage_label(leg), supplier=leg.supplier.code)
    return [ProposedShare(leg, leg.supplier, ONE, reason, "damaged_in_handling")]


@register_rule(
    AttributionRule.LABELLING_ERROR.value, _l("Labelling error: leg that produced the label"),
    _l("The leg that produced the label: the last seller-handover or warehouse leg (a warehouse relabels "
       "what it receives). Override it when the evidence names another party."))
def labelling_error(legs: list[Leg], order: Order, tolerance: dt.timedelta = dt.timedelta(0)) -> list[ProposedShare]:
    labellers = [leg for leg in legs if leg.stage in LABELLING_STAGES]
    if not labellers:
        return []
    leg = labellers[-1]
    reason = _l("%(stage)s by %(supplier)s produced the label",
                stage=_stage_label(leg), supplier=leg.supplier.code)
    return [ProposedShare(leg, leg.supplier, ONE, reason, "wrong_label")]


@register_rule(AttributionRule.NONE.value, _l("No proposal"),
               _l("Catena proposes nobody: the operator decides from the chain and the evidence."))
def no_proposal(legs: list[Leg], order: Order, tolerance: dt.timedelta = dt.timedelta(0)) -> list[ProposedShare]:
    return []


# Checked at import (start-up): every rule a category may name has a function.
_missing = {rule.value for rule in AttributionRule} - set(RULES)
if _missing:
    raise RuntimeError(f"attribution rules without a function: {sorted(_missing)}")


# Proposals ------------------------------------------------------------------------------

def chain_legs(order: Order | None) -> list[Leg]:
    """The order's legs in chain order, cancelled legs left out."""
    if order is None:
        return []
    legs = db.session.scalars(
        select(Leg).where(Leg.order_id == order.id).options(selectinload(Leg.supplier))
        .order_by(Leg.sequence, Leg.id)).all()
    return [leg for leg in legs if leg.outcome != LegOutcome.CANCELLED]


def agreed_tolerance(leg: Leg) -> dt.timedelta:
    """The tolerance of the on-time SLA agreed with the leg's supplier for its stage, in the
    version in force on the leg's promised day (its own SLA, else its role's default); 0 when
    there is none. A few minutes' excess within what was agreed blames nobody."""
    from suppliers.services.standards import series_for_supplier

    for versions in series_for_supplier(leg.supplier):
        if versions[0].metric == "on_time_rate" and versions[0].stage == leg.stage:
            for version in versions:
                if version.is_in_force_on(leg.promised_day):
                    return dt.timedelta(minutes=version.tolerance_minutes)
    return dt.timedelta(0)


def propose(incident: Incident, tolerance_hours: Decimal | None = None) -> list[ProposedShare]:
    """Catena's proposal for `incident` by its category's rule; [] when there is nothing to propose
    (rule "none", no known order, no chain data). Late delivery counts a leg's excess beyond
    `tolerance_hours` if given, else beyond the tolerance agreed with its supplier."""
    legs = chain_legs(incident.order)
    if not legs:
        return []
    rule = RULES.get(incident.category.attribution_rule, no_proposal)
    if tolerance_hours is None:
        tolerance = agreed_tolerance
    else:
        tolerance = dt.timedelta(seconds=int(Decimal(tolerance_hours) * 3600))
    return rule(legs, incident.order, tolerance=tolerance)


def proposal_as_dicts(proposals: list[ProposedShare]) -> list[dict]:
    """The proposal as plain data: {supplier (code), stage, share (float), root_cause, reason};
    leg_id and supplier_id are there too so a decision can be compared with it."""
    return [{
        "leg_id": p.leg.id,
        "supplier_id": p.supplier.id,
        "supplier": p.supplier.code,
        "stage": p.leg.stage,
        "share": float(p.share),
        "root_cause": p.root_cause,
        "reason": str(p.reason),
    } for p in proposals]


def proposal_parties(proposals: list[ProposedShare]) -> list[dict]:
    """The proposal as parties for `decide`: confirming it unchanged."""
    return [{"leg_id": p.leg.id, "share": p.share, "root_cause": p.root_cause, "reason": str(p.reason)}
            for p in proposals]


# Decisions ------------------------------------------------------------------------------

def _as_share(value) -> Decimal | None:
    try:
        share = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return share if share.is_finite() else None


def decide(incident: Incident, parties: list[dict], actor, note: str | None = None) -> AttributionDecision:
    """Record a decision on who caused `incident`, as a new revision after the current one.

    Each party is {"leg_id"} (the leg's supplier carries the share), {"supplier_id"} (a supplier
    outside the recorded chain) or {"internal": True} (our own fault), with "share" a fraction
    0–1 (at most 6 decimals), "root_cause" a code of ROOT_CAUSES and an optional "evidence".
    The shares must sum to exactly 1. Field errors are keyed `parties-<n>-<field>` for one
    party, `share_total` for the sum and `parties` for an empty decision.
    """
    errors: dict[str, object] = {}
    if not parties:
        raise ValidationFailed(_l("Name at least one responsible party."),
                               fields={"parties": _l("Name at least one responsible party.")})
    rows: list[dict] = []
    seen: set = set()
    legs_by_id: dict[int, Leg] = {}
    leg_ids = [p.get("leg_id") for p in parties if p.get("leg_id") not in (None, "")]
    if leg_ids:
        try:
            wanted = {int(i) for i in leg_ids}
        except (TypeError, ValueError):
            wanted = set()
        legs_by_id = {leg.id: leg for leg in db.session.scalars(select(Leg).where(Leg.id.in_(wanted)))}
    total = Decimal(0)
    for n, party in enumerate(parties):
        key = f"parties-{n}"
        share = _as_share(party.get("share"))
        if share is None:
            errors[f"{key}-share"] = _l("Enter the share as a number.")
        elif share <= 0 or share > 1:
            errors[f"{key}-share"] = _l("A share must be more than 0 % and at most 100 %.")
        elif share != share.quantize(SHARE_PLACES):
            errors[f"{key}-share"] = _l("A share may have at most 4 decimals as a percentage.")
        else:
            total += share
        row = {"share": share, "leg": None, "supplier_id": None, "is_internal": False}
        if party.get("internal"):
            row["is_internal"] = True
            identity = ("internal",)
        elif party.get("leg_id") not in (None, ""):
            try:
                leg = legs_by_id.get(int(party["leg_id"]))
            except (TypeError, ValueError):
                leg = None
            if leg is None or incident.order_id is None or leg.order_id != incident.order_id:
                errors[f"{key}-party"] = _l("This leg is not part of the incident's order.")
                identity = ("bad", n)
            else:
                row["leg"], row["supplier_id"] = leg, leg.supplier_id
                identity = ("leg", leg.id)
        elif party.get("supplier_id") not in (None, ""):
            try:
                supplier = db.session.get(Supplier, int(party["supplier_id"]))
            except (TypeError, ValueError):
                supplier = None
            if supplier is None:
                errors[f"{key}-party"] = _l("No such supplier.")
                identity = ("bad", n)
            else:
                row["supplier_id"] = supplier.id
                identity = ("supplier", supplier.id)
        else:
            errors[f"{key}-party"] = _l("Choose a leg, a supplier or “internal”.")
            identity = ("bad", n)
        if identity in seen:
            errors[f"{key}-party"] = _l("This party is named twice.")
        seen.add(identity)
        root_cause = (party.get("root_cause") or "").strip()
        if root_cause not in ROOT_CAUSES:
            errors[f"{key}-root_cause"] = _l("Choose a root cause from the list.")
        row["root_cause"] = root_cause
        row["evidence"] = (party.get("evidence") or "").strip()[:2000] or None
        row["reason"] = (party.get("reason") or None)
        rows.append(row)
    if not any(k.endswith("-share") for k in errors) and total != ONE:
        errors["share_total"] = _l("The shares add up to %(total)s %%; they must add up to exactly 100 %%.",
                                   total=(total * 100).normalize())
    if errors:
        raise ValidationFailed(_l("The attribution was not saved."), fields=errors)

    proposals = propose(incident)
    proposal = proposal_as_dicts(proposals)
    follows = bool(proposals) and (
        {(r["leg"].id if r["leg"] else None, r["supplier_id"], r["is_internal"], r["share"]) for r in rows}
        == {(p.leg.id, p.supplier.id, False, p.share) for p in proposals})
    reasons = {p.leg.id: str(p.reason) for p in proposals}

    attribute_changes(actor, note)
    previous = db.session.scalar(
        select(func.max(AttributionDecision.revision)).where(AttributionDecision.incident_id == incident.id)) or 0
    decision = AttributionDecision(
        incident_id=incident.id, revision=previous + 1, proposal=proposal, follows_proposal=follows,
        note=(note or "").strip() or None, decided_at=utcnow(), decided_by_id=getattr(actor, "id", None))
    for row in rows:
        leg = row["leg"]
        decision.shares.append(AttributionShare(
            leg_id=leg.id if leg else None, supplier_id=row["supplier_id"], is_internal=row["is_internal"],
            share=row["share"], root_cause=row["root_cause"], evidence=row["evidence"],
            reason=row["reason"] or (reasons.get(leg.id) if leg else None)))
    try:
        with db.session.begin_nested():
            db.session.add(decision)
            db.session.flush()
    except IntegrityError:
        # Two people deciding at the same moment: the unique (incident, revision) index stops one.
        raise Conflict(_l("Someone else recorded a decision at the same time; reload and decide again.")) from None
    record_decision_shares(incident, decision.revision, previous or None)
    db.session.expire(incident, ["decisions"])
    return decision


def decision_history(incident: Incident) -> list[AttributionDecision]:
    """Every revision of the incident's attribution, newest first, with shares, legs and people loaded."""
    return list(db.session.scalars(
        select(AttributionDecision).where(AttributionDecision.incident_id == incident.id)
        .options(selectinload(AttributionDecision.shares).selectinload(AttributionShare.leg),
                 selectinload(AttributionDecision.shares).selectinload(AttributionShare.supplier),
                 selectinload(AttributionDecision.decided_by))
        .order_by(AttributionDecision.revision.desc())))


def shares_as_dicts(decision: AttributionDecision) -> list[dict]:
    return [{
        "leg_id": s.leg_id,
        "supplier_id": s.supplier_id,
        "supplier": "internal" if s.is_internal else (s.supplier.code if s.supplier else None),
        "stage": s.leg.stage if s.leg else None,
        "share": float(s.share),
        "root_cause": s.root_cause,
        "reason": s.reason or "",
        "evidence": s.evidence or "",
    } for s in decision.shares]


def current_shares(incident: Incident) -> list[dict]:
    """The shares of the incident's current (latest) decision; [] when nobody has decided yet."""
    decision = db.session.scalar(
        select(AttributionDecision).where(AttributionDecision.incident_id == incident.id)
        .options(selectinload(AttributionDecision.shares).selectinload(AttributionShare.leg),
                 selectinload(AttributionDecision.shares).selectinload(AttributionShare.supplier))
        .order_by(AttributionDecision.revision.desc()).limit(1))
    return shares_as_dicts(decision) if decision else []


# Rules per category ---------------------------------------------------------------------

def categories_with_rules() -> list[IncidentCategory]:
    return list(db.session.scalars(
        select(IncidentCategory).where(IncidentCategory.is_active.is_(True))
        .order_by(IncidentCategory.position, IncidentCategory.id)))


def set_category_rule(category: IncidentCategory, rule: str, actor) -> IncidentCategory:
    """Change the rule Catena uses to propose attributions for `category`."""
    if rule not in RULES:
        raise ValidationFailed(_l("Unknown attribution rule."), fields={"rule": _l("Choose a rule from the list.")})
    attribute_changes(actor, None)
    category.attribution_rule = rule
    db.session.flush()
    return category


# Evidence files ---------------------------------------------------------------------------

def attach_evidence(decision: AttributionDecision, files: list, actor) -> list[AttributionEvidence]:
    """Record already checked and stored files (app.uploads.StoredFile) as the decision's evidence."""
    attached = [AttributionEvidence(decision=decision, file_name=f.original_name, stored_name=f.stored_name,
                                    content_type=f.content_type, size_bytes=f.size_bytes,
                                    uploaded_by_id=getattr(actor, "id", None)) for f in files]
    db.session.add_all(attached)
    db.session.flush()
    return attached


def evidence_of(incident: Incident, evidence_id: int) -> AttributionEvidence | None:
    """One evidence file, only if it belongs to a decision on this incident."""
    evidence = db.session.get(AttributionEvidence, evidence_id)
    if evidence is None or evidence.decision.incident_id != incident.id:
        return None
    return evidence
