"""Daily attributed-share statistics: what each supplier carries of the incidents of each day.

"Incidents per 1,000 legs" divides the shares a supplier carries in the incidents reported in
a period (an incident shared 70/30 is 0.7 of an incident for one party) by its legs. Finding
every incident's current attribution (its latest decision) means reading every decision ever
recorded; these statistics keep the answer per supplier and day instead, in the transaction
of every decision: `record_decision_shares` takes the superseded decision's shares out and
puts the new one's in (deltas, so a decision costs the same whatever is stored). Counts and
sums of millionths are integers, so the statistics are exactly what `rebuild_share_stats`
(a full recomputation from the decisions) gives; tests/incidents/test_share_stats_property.py
checks it after random sequences of decisions.

On PostgreSQL two decisions on different incidents touching the same (supplier, day) are
safe: `INSERT … ON CONFLICT DO UPDATE` adds to the row as it is when the lock is taken. Two
decisions on the same incident cannot both land: the unique (incident, revision) index stops
the second before it reaches here.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import BigInteger, cast, delete, func, insert, literal, select, tuple_
from sqlalchemy.orm import aliased

from app.db import adding_upsert, db
from incidents.models import AttributionDecision, AttributionShare, Incident, IncidentShareDayStat

MILLION = 1_000_000


def millionths(share: Decimal) -> int:
    """A share (six decimal places at most) as an integer number of millionths."""
    return int((Decimal(share) * MILLION).to_integral_value())


def _decision_shares(incident_id: int, revision: int) -> list[tuple[int, Decimal]]:
    return list(db.session.execute(
        select(AttributionShare.supplier_id, AttributionShare.share)
        .join(AttributionDecision, AttributionDecision.id == AttributionShare.decision_id)
        .where(AttributionDecision.incident_id == incident_id, AttributionDecision.revision == revision,
               AttributionShare.supplier_id.is_not(None))).all())


def record_decision_shares(incident: Incident, revision: int, previous_revision: int | None) -> None:
    """Move the incident's day from its `previous_revision` shares (None: it had no decision)
    to the shares of `revision`, which was just flushed."""
    change: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for sign, wanted in ((-1, previous_revision), (+1, revision)):
        if wanted is None:
            continue
        for supplier_id, share in _decision_shares(incident.id, wanted):
            change[supplier_id][0] += sign
            change[supplier_id][1] += sign * millionths(share)
    rows = [{"supplier_id": supplier_id, "day": incident.reported_day, "shares_count": count,
             "shares_millionths": total}
            for supplier_id, (count, total) in change.items() if count or total]
    _add(rows)


def _add(rows: list[dict]) -> None:
    if not rows:
        return
    stat = IncidentShareDayStat
    db.session.execute(adding_upsert(stat, ["supplier_id", "day"], ["shares_count", "shares_millionths"]), rows)
    # A supplier left with no share that day has no row, as after a rebuild.
    keys = [(row["supplier_id"], row["day"]) for row in rows]
    db.session.execute(delete(stat).where(stat.shares_count == 0,
                                          tuple_(stat.supplier_id, stat.day).in_(keys)))
    db.session.flush()


def current_shares_select():
    """(incident id, supplier id, share) of every incident's latest attribution decision, as a
    statement for a caller to use as a subquery or a CTE.

    "Latest" is "no later revision exists": an anti-join on the (incident, revision) index
    that the planner can start from the shares it needs (one supplier's, one span's), where a
    MAX(revision) per incident would first group every decision ever made.
    """
    later = aliased(AttributionDecision)
    superseded = (select(literal(1)).select_from(later)
                  .where(later.incident_id == AttributionDecision.incident_id,
                         later.revision > AttributionDecision.revision)
                  .exists())
    return (select(AttributionDecision.incident_id, AttributionShare.supplier_id, AttributionShare.share)
            .join(AttributionShare, AttributionShare.decision_id == AttributionDecision.id)
            .where(AttributionShare.supplier_id.is_not(None), ~superseded))


def current_shares_by_day():
    """(supplier id, day, count, sum of millionths) from every incident's latest decision:
    the recomputation the statistics must always equal."""
    shares = current_shares_select().subquery()
    millions = cast(func.round(shares.c.share * MILLION), BigInteger)
    return (select(shares.c.supplier_id, Incident.reported_day, func.count(), func.sum(millions))
            .join(Incident, Incident.id == shares.c.incident_id)
            .group_by(shares.c.supplier_id, Incident.reported_day))


def rebuild_share_stats() -> None:
    """Recompute every statistic (after a bulk load written around `record_decision`)."""
    db.session.execute(delete(IncidentShareDayStat))
    db.session.execute(insert(IncidentShareDayStat).from_select(
        ["supplier_id", "day", "shares_count", "shares_millionths"], current_shares_by_day()))
    db.session.flush()
