"""Scorecards and rankings over crafted legs, every expected value worked out by hand."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from app.db import db
from incidents.services.legs import LegInput, record_legs
from suppliers import services as supplier_services
from suppliers.models import Supplier
from suppliers.services import scorecards
from suppliers.services.standards import create_standard, revise_standard

ROME = ZoneInfo("Europe/Rome")
UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
_n = iter(range(1, 100_000))


def at(day: str, time: str = "12:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=ROME).astimezone(UTC)


def on_time(supplier, day, stage="last_mile"):
    return _leg(supplier, at(day), at(day), stage=stage)


def late(supplier, day, stage="last_mile"):
    return _leg(supplier, at(day), at(day) + dt.timedelta(hours=3), stage=stage)


def lost(supplier, day, stage="last_mile"):
    return _leg(supplier, at(day), None, stage=stage, outcome="lost")


def _leg(supplier, promised, actual, *, stage, outcome=None):
    n = next(_n)
    return LegInput(external_id=f"SC{n}", order_ref=f"OSC{n}", stage=stage, supplier_code=supplier.code,
                    promised_at=promised, actual_at=actual, outcome=outcome or "completed", row=n)


def record(*legs):
    codes = {leg.supplier_code for leg in legs}
    ids = dict(db.session.execute(db.select(Supplier.code, Supplier.id).where(Supplier.code.in_(codes))).all())
    record_legs(list(legs), ids, ROME)
    db.session.commit()


def sla(supplier=None, role=None, **values):
    base = {"name": "On time", "metric": "on_time_rate", "stage": "last_mile", "comparator": "gte",
            "target": "0.9", "window": "month", "min_sample": 1, "valid_from": dt.date(2026, 1, 1)}
    base.update(values)
    standard = create_standard(base, None, supplier=supplier, chain_role=role)
    db.session.commit()
    return standard


JAN, FEB, MAR = "2026-01-05", "2026-02-05", "2026-03-05"
SPAN = (dt.date(2026, 1, 1), dt.date(2026, 3, 31))


def _role_with_four_suppliers(make_supplier):
    """B meets its role default every month, A scores 5/9, F misses its only month, C has no legs."""
    sla(role="last_mile", name="Role on time")                       # weight 1
    a = make_supplier(code="A-LM", chain_roles=["last_mile"])
    b = make_supplier(code="B-LM", chain_roles=["last_mile"])
    c = make_supplier(code="C-LM", chain_roles=["last_mile"])
    f = make_supplier(code="F-LM", chain_roles=["last_mile"])
    # A's own on-time SLA (weight 2) replaces the role default; its lost rate (weight 1) is measured at the hub.
    sla(a, name="A on time", weight="2")
    sla(a, name="A lost", metric="lost_rate", stage="hub", comparator="lte", target="0.1", weight="1")
    record(on_time(a, JAN), on_time(a, FEB), late(a, MAR),                            # on time: 2 of 3 months
           lost(a, JAN, "hub"), lost(a, FEB, "hub"), on_time(a, MAR, "hub"),           # lost rate: 1 of 3 months
           on_time(b, JAN), on_time(b, FEB), on_time(b, MAR),                          # 3 of 3
           late(f, JAN))                                                               # 0 of 1; Feb, Mar no data
    return a, b, c, f


def test_ranking_orders_by_weighted_attainment_with_no_data_last(make_supplier):
    a, b, c, f = _role_with_four_suppliers(make_supplier)
    archived = make_supplier(code="Z-LM", chain_roles=["last_mile"])
    supplier_services.archive_supplier(archived, "closed down", None)
    make_supplier(code="CAR-X", chain_roles=["carrier"])
    db.session.commit()

    ranking = scorecards.ranking("last_mile", *SPAN, now=NOW)

    assert [r.supplier.code for r in ranking.suppliers] == ["B-LM", "A-LM", "F-LM", "C-LM"]
    scores = {r.supplier.code: r.score for r in ranking.suppliers}
    # A: (2 · 2/3 + 1 · 1/3) / (2 + 1) = (5/3) / 3 = 5/9 = 0.555556 (six places).
    assert scores == {"B-LM": Decimal("1.000000"), "A-LM": Decimal("0.555556"), "F-LM": Decimal("0.000000"),
                      "C-LM": None}
    assert [r.rank for r in ranking.suppliers] == [1, 2, 3, None]
    by_code = {r.supplier.code: r for r in ranking.suppliers}
    # The role default is not counted for A: its own SLA on the same metric and stage replaces it.
    assert sorted((s.standard.name, s.periods_attained, s.periods_judged) for s in by_code["A-LM"].slas) == [
        ("A lost", 1, 3), ("A on time", 2, 3)]
    assert [(s.periods_attained, s.periods_judged, s.periods_without_data) for s in by_code["F-LM"].slas] == [(0, 1, 2)]
    assert not ranking.is_truncated


def test_equal_scores_share_a_rank(make_supplier):
    sla(role="last_mile")
    for code in ("E1", "E2", "E3"):
        make_supplier(code=code, chain_roles=["last_mile"])
    e1, e2, e3 = (supplier_services.get_supplier_by_code(c) for c in ("E1", "E2", "E3"))
    record(on_time(e1, JAN), on_time(e2, JAN), late(e3, JAN))
    ranking = scorecards.ranking("last_mile", *SPAN, now=NOW)
    assert [(r.supplier.code, r.rank) for r in ranking.suppliers] == [("E1", 1), ("E2", 1), ("E3", 3)]


def test_ranking_is_capped_and_says_so(make_supplier):
    sla(role="warehouse", stage="warehouse")
    for n in range(3):
        make_supplier(code=f"WH-{n}", chain_roles=["warehouse"])
    ranking = scorecards.ranking("warehouse", *SPAN, limit=2, now=NOW)
    assert ranking.is_truncated and [r.supplier.code for r in ranking.suppliers] == ["WH-0", "WH-1"]


def _count_queries(run):
    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):   # not the test's SAVEPOINTs
            statements.append(statement)

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", before)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return len(statements)


def test_ranking_queries_do_not_grow_with_the_number_of_suppliers(make_supplier):
    sla(role="last_mile")
    sla(role="last_mile", name="Lost", metric="lost_rate", comparator="lte", target="0.1")
    first = [make_supplier(code=f"Q-{n}", chain_roles=["last_mile"]) for n in range(2)]
    record(*(on_time(s, JAN) for s in first))
    db.session.expire_all()
    few = _count_queries(lambda: scorecards.ranking("last_mile", *SPAN, now=NOW))
    more = [make_supplier(code=f"R-{n}", chain_roles=["last_mile"]) for n in range(8)]
    record(*(late(s, FEB) for s in more))
    db.session.expire_all()
    many = _count_queries(lambda: scorecards.ranking("last_mile", *SPAN, now=NOW))
    # Suppliers, their chain roles, role series, own series, and one read of the month sums that
    # both role-default series (on time, lost) share.
    assert few == many == 5


def test_scorecard_uses_version_1_for_periods_before_the_revision(make_supplier):
    courier = make_supplier(code="REV-1", chain_roles=["last_mile"])
    first = sla(courier, target="0.9", penalty_kind="fixed", penalty_amount="500")
    revise_standard(first, {"name": "On time", "metric": "on_time_rate", "stage": "last_mile", "comparator": "gte",
                            "target": "0.5", "window": "month", "min_sample": 1, "penalty_kind": "fixed",
                            "penalty_amount": "500", "valid_from": dt.date(2026, 3, 1)}, None, "New contract")
    db.session.commit()
    # February and March: 3 of 5 legs on time = 60 %.
    record(*[on_time(courier, d) for d in (FEB, FEB, FEB, MAR, MAR, MAR)],
           *[late(courier, d) for d in (FEB, FEB, MAR, MAR)])

    card = scorecards.scorecard(courier, dt.date(2026, 3, 20), periods=4, now=NOW)

    [row] = card.slas
    assert [c.label for c in row.cells] == ["2025-12", "2026-01", "2026-02", "2026-03"]
    assert [(c.status, c.value, c.version) for c in row.cells] == [
        ("not_agreed", None, None),                  # before the SLA was agreed
        ("no_data", None, 1),                        # no legs in January
        ("breached", Decimal("0.6"), 1),             # v1: 60 % < 90 %
        ("met", Decimal("0.6"), 2),                  # v2: 60 % ≥ 50 %
    ]
    assert [c.is_running for c in row.cells] == [False, False, False, True]
    assert row.penalty_total == Decimal("500.00") and card.penalty_total == Decimal("500.00")


def test_scorecard_penalties_add_up_per_sla_and_overall(make_supplier):
    courier = make_supplier(code="PEN-1", chain_roles=["last_mile"])
    sla(courier, penalty_kind="fixed", penalty_amount="500")
    # 1 of 4 on time = 25 %: 90 − 25 = 65 points × €10 = €650, capped at €400.
    sla(courier, name="Per unit", stage="hub", penalty_kind="per_unit", penalty_amount="10", penalty_cap="400")
    record(late(courier, JAN), late(courier, FEB), on_time(courier, MAR),
           on_time(courier, FEB, "hub"), *(late(courier, FEB, "hub") for _ in range(3)))
    card = scorecards.scorecard(courier, dt.date(2026, 3, 31), periods=3, now=NOW)
    totals = {s.latest.name: s.penalty_total for s in card.slas}
    assert totals == {"On time": Decimal("1000.00"), "Per unit": Decimal("400.00")}
    assert card.penalty_total == Decimal("1400.00")
    assert {s.latest.name: (s.count("met"), s.count("breached"), s.count("no_data")) for s in card.slas} == {
        "On time": (1, 2, 0), "Per unit": (0, 1, 2)}


def test_scorecard_periods_per_window(make_supplier):
    courier = make_supplier(code="WIN-1", chain_roles=["last_mile"])
    sla(courier, name="Weekly", window="week", valid_from=dt.date(2025, 1, 1))
    sla(courier, name="Quarterly", stage="hub", window="quarter", valid_from=dt.date(2025, 1, 1))
    sla(courier, name="Monthly", stage="warehouse", valid_from=dt.date(2025, 1, 1))
    card = scorecards.scorecard(courier, dt.date(2026, 3, 4), periods=12, now=NOW)   # a Wednesday
    labels = {s.latest.name: [c.label for c in s.cells] for s in card.slas}
    # 12 ISO weeks ending with the week of Wednesday 4 March 2026 (week 10).
    assert labels["Weekly"] == [f"2025-W{w}" for w in (51, 52)] + [f"2026-W{w:02d}" for w in range(1, 11)]
    # ⌈12 / 3⌉ = 4 quarters: a year, as for the monthly SLA.
    assert labels["Quarterly"] == ["2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1"]
    assert labels["Monthly"] == [f"2025-{m:02d}" for m in range(4, 13)] + ["2026-01", "2026-02", "2026-03"]
    assert scorecards.periods_shown("quarter", 6) == 4 and scorecards.periods_shown("quarter", 24) == 8


def test_scorecard_leaves_out_slas_not_in_force_in_the_periods(make_supplier):
    courier = make_supplier(code="OLD-1", chain_roles=["last_mile"])
    sla(courier, name="Ended", valid_from=dt.date(2024, 1, 1), valid_to=dt.date(2024, 12, 31))
    sla(courier, name="Future", stage="hub", valid_from=dt.date(2027, 1, 1))
    card = scorecards.scorecard(courier, dt.date(2026, 3, 31), periods=12, now=NOW)
    assert card.slas == []


@pytest.mark.no_db
def test_month_span_ending_counts_the_current_month():
    assert scorecards.month_span_ending(dt.date(2026, 3, 20), 3) == (dt.date(2026, 1, 1), dt.date(2026, 3, 20))
    assert scorecards.month_span_ending(dt.date(2026, 1, 31), 2) == (dt.date(2025, 12, 1), dt.date(2026, 1, 31))


def test_scorecard_and_ranking_look_back_to_a_chosen_month(login_as, make_supplier):
    import datetime as dt

    from app.db import db
    from incidents.services.legs import LegInput, record_legs
    from suppliers.services.standards import create_standard
    from tests.suppliers.test_measurement import ROME, at

    seller = make_supplier(code="OLD-SELLER", chain_roles=["seller"])
    record_legs([LegInput(external_id=f"H{n}", order_ref=f"H{n}", stage="seller_handover",
                          supplier_code="OLD-SELLER", promised_at=at("2018-02-10"),
                          actual_at=at("2018-02-10") if n else at("2018-02-11"), outcome="completed")
                 for n in range(4)], {"OLD-SELLER": seller.id}, ROME)
    create_standard({"name": "Handover", "metric": "on_time_rate", "stage": "seller_handover", "target": "0.95",
                     "min_sample": 1, "valid_from": dt.date(2016, 1, 1)}, None, chain_role="seller")
    db.session.commit()
    client = login_as("viewer")
    card = client.get("/suppliers/OLD-SELLER/scorecard?until=2018-03").get_data(as_text=True)
    assert "2018-02" in card and "75.0" in card and "(running)" not in card
    ranking = client.get("/suppliers/roles/seller/ranking?months=12&until=2018-06").get_data(as_text=True)
    assert "OLD-SELLER" in ranking and "0.0%" in ranking   # 0 of 1 judged months met
