"""The daily attributed-share statistics always equal a full recomputation (issue 8, "Tests").

Hypothesis draws sequences of attribution decisions on a few incidents reported either side
of midnight in Rome around the 2026 clock changes: shares split at random to the millionth
between suppliers, legs (two legs of one order carried by the same supplier, so one decision
can name a supplier twice) and the company itself, each decision superseding the last. After
every decision each `IncidentShareDayStat` row must equal a plain Python pass over every
incident's latest decision, computed here from `reported_at` without Catena's SQL, and
`rebuild_share_stats` must give the same rows.
"""
from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.db import db
from incidents.models import AttributionDecision, Incident, IncidentCategory, IncidentShareDayStat, Order
from incidents.services import attribution
from incidents.services.legs import LegInput, record_legs
from incidents.services.share_stats import rebuild_share_stats
from suppliers.models import Supplier
from tests.factories import Factories

UTC = dt.timezone.utc
ROME = ZoneInfo("Europe/Rome")
SUPPLIERS = ("SHARE-A", "SHARE-B", "SHARE-C")
#: UTC times either side of a Rome midnight, on the days of the 2026 clock changes.
REPORTED = [dt.datetime(2026, 3, 28, 22, 59, tzinfo=UTC), dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
            dt.datetime(2026, 10, 24, 21, 59, tzinfo=UTC), dt.datetime(2026, 10, 25, 23, 0, tzinfo=UTC)]
#: Parties an incident's decision may name: the two legs (both SHARE-A's), a supplier, ourselves.
PARTIES = ("leg-1", "leg-2", "SHARE-B", "SHARE-C", "internal")

decisions = st.lists(st.tuples(
    st.integers(0, len(REPORTED) - 1),
    st.lists(st.sampled_from(PARTIES), min_size=1, max_size=4, unique=True),
    st.lists(st.integers(1, 999_999), max_size=3, unique=True),
), min_size=1, max_size=6)
_orders = itertools.count()


def _world() -> tuple[dict[str, int], list[Incident], Order]:
    ids = dict(db.session.execute(select(Supplier.code, Supplier.id).where(Supplier.code.in_(SUPPLIERS))).all())
    for code in SUPPLIERS:
        if code not in ids:
            ids[code] = Factories().supplier(code=code, chain_roles=["carrier"]).id
    ref = f"SHARE-ORD-{next(_orders)}"
    promised = dt.datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
    record_legs([LegInput(external_id=f"{ref}-{n}", order_ref=ref, stage=stage, supplier_code="SHARE-A",
                          promised_at=promised, sequence=n) for n, stage in ((1, "hub"), (2, "last_mile"))],
                ids, ROME)
    order = db.session.scalar(select(Order).where(Order.ref == ref))
    category = db.session.scalar(select(IncidentCategory).where(IncidentCategory.code == "late_delivery"))
    incidents = [Incident(order_id=order.id, category_id=category.id, status="new", channel="web",
                          reported_at=reported, respond_by=reported + dt.timedelta(days=1), description="x")
                 for reported in REPORTED]
    db.session.add_all(incidents)
    db.session.commit()
    return ids, incidents, order


def _shares(cuts: list[int], parties: int) -> list[Decimal]:
    """`parties` shares of at least a millionth, summing to exactly 1, split at `cuts`."""
    points = sorted(set(cuts))[:parties - 1]
    while len(points) < parties - 1:  # too few cuts drawn: split the rest evenly
        points = sorted({*points, (points[-1] if points else 0) + 1})
    edges = [0, *points, 1_000_000]
    return [Decimal(b - a) / 1_000_000 for a, b in zip(edges, edges[1:])]


def _recomputed() -> dict:
    totals = defaultdict(lambda: [0, 0])
    latest: dict[int, AttributionDecision] = {}
    for decision in db.session.scalars(select(AttributionDecision)):
        if decision.incident_id not in latest or decision.revision > latest[decision.incident_id].revision:
            latest[decision.incident_id] = decision
    for decision in latest.values():
        day = decision.incident.reported_at.astimezone(ROME).date()
        for share in decision.shares:
            if share.supplier_id is not None:
                totals[(share.supplier_id, day)][0] += 1
                totals[(share.supplier_id, day)][1] += int(share.share * 1_000_000)
    return {key: tuple(value) for key, value in totals.items()}


def _stored() -> dict:
    return {(s.supplier_id, s.day): (s.shares_count, s.shares_millionths)
            for s in db.session.scalars(select(IncidentShareDayStat))}


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=decisions)
def test_share_statistics_equal_a_full_recomputation_after_any_decisions(app_ctx, steps):
    ids, incidents, order = _world()
    legs = {f"leg-{leg.sequence}": leg.id for leg in order.legs}
    operator = Factories().user("operator")
    for which, parties, cuts in steps:
        shares = _shares(cuts, len(parties))
        chosen = []
        for party, share in zip(parties, shares):
            if party == "internal":
                chosen.append({"internal": True, "share": share, "root_cause": "system_error"})
            elif party.startswith("leg-"):
                chosen.append({"leg_id": legs[party], "share": share, "root_cause": "transit_delay"})
            else:
                chosen.append({"supplier_id": ids[party], "share": share, "root_cause": "transit_delay"})
        attribution.decide(incidents[which], chosen, operator)
        db.session.commit()
        assert _stored() == _recomputed(), (which, parties, shares)
    rebuild_share_stats()
    assert _stored() == _recomputed()
    db.session.rollback()


def test_split_shares_sum_to_one_and_keep_a_millionth_each():
    assert _shares([], 3) == [Decimal("0.000001"), Decimal("0.000001"), Decimal("0.999998")]
    assert _shares([300_000, 700_000], 3) == [Decimal("0.3"), Decimal("0.4"), Decimal("0.3")]
    assert _shares([999_999, 5], 2) == [Decimal("0.000005"), Decimal("0.999995")]
