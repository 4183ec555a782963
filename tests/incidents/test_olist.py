"""The Olist sample, converted and imported end to end, measures what the raw files say.

The expected numbers are worked out here in plain Python over Olist's CSV files, never through
Catena's converter, importer or measurement, so that a fault in any of them shows.
"""
from __future__ import annotations

import csv
import datetime as dt
from collections import Counter, defaultdict
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import func, select

from app.db import db
from app.demo.olist import DEFAULT_DATA_DIR
from examples.olist.convert import convert
from incidents.models import ImportProfile, Leg
from incidents.services.legs import LEG_FIELDS
from suppliers.models import ServiceStandard, Supplier
from suppliers.services.measurement import supplier_results

DATA_DIR = DEFAULT_DATA_DIR

pytestmark = pytest.mark.skipif(not (DATA_DIR / "olist_orders_dataset.csv").is_file(),
                                reason=f"the shared Olist sample is not at {DATA_DIR}")

CANCELLED = {"canceled", "unavailable"}


def read(name: str) -> list[dict]:
    with (DATA_DIR / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def local(text: str) -> dt.datetime | None:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S") if text else None


def rate(on_time: int, measured: int) -> Decimal:
    return (Decimal(on_time) / Decimal(measured)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def expected_handovers() -> dict[str, dict[str, tuple[int, int]]]:
    """Seller code → month → (on time, measured), straight from the CSV files.

    A handover is on time when `order_delivered_carrier_date` is at or before the earliest
    `shipping_limit_date` of that seller's items in the order (both Brazil local times, no
    tolerance); without a handover it is late (every promise in the sample is long past).
    Cancelled and unavailable orders do not count. The month is the promise's.
    """
    orders = {o["order_id"]: o for o in read("olist_orders_dataset.csv")}
    limits: dict[tuple[str, str], dt.datetime] = {}
    for item in read("olist_order_items_dataset.csv"):
        key = (item["order_id"], item["seller_id"])
        limit = local(item["shipping_limit_date"])
        limits[key] = min(limit, limits.get(key, limit))
    tallies: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for (order_id, seller_id), limit in limits.items():
        order = orders[order_id]
        if order["order_status"] in CANCELLED:
            continue
        handed_over = local(order["order_delivered_carrier_date"])
        if handed_over is not None and abs(handed_over - limit) > dt.timedelta(days=365):
            continue  # one item's limit is in 2020: the import rejects it as a typing error
        tally = tallies[seller_id.upper()][limit.strftime("%Y-%m")]
        tally[1] += 1
        tally[0] += handed_over is not None and handed_over <= limit
    return {code: {month: tuple(t) for month, t in months.items()} for code, months in tallies.items()}


def expected_deliveries() -> dict[str, tuple[int, int]]:
    """Month → (on time, measured) of the carrier: delivered by the end of the estimated day."""
    tallies: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for order in read("olist_orders_dataset.csv"):
        if order["order_status"] in CANCELLED:
            continue
        end_of_day = local(order["order_estimated_delivery_date"]).replace(hour=23, minute=59, second=59)
        delivered = local(order["order_delivered_customer_date"])
        tally = tallies[end_of_day.strftime("%Y-%m")]
        tally[1] += 1
        tally[0] += delivered is not None and delivered <= end_of_day
    return {month: tuple(t) for month, t in tallies.items()}


def month_bounds(months) -> tuple[dt.date, dt.date]:
    first, last = min(months), max(months)
    last_day = dt.date.fromisoformat(last + "-01")
    last_day = (last_day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return dt.date.fromisoformat(first + "-01"), last_day


@pytest.fixture
def sao_paulo(app):
    """The app configured for Brazil time for one test (the app is shared by the suite)."""
    previous = app.config["CATENA_TIMEZONE"]
    app.config["CATENA_TIMEZONE"] = "America/Sao_Paulo"
    try:
        yield app
    finally:
        app.config["CATENA_TIMEZONE"] = previous


@pytest.mark.no_db
def test_converter_writes_one_handover_per_order_and_seller_and_one_last_mile_per_order(tmp_path):
    orders = read("olist_orders_dataset.csv")
    pairs = {(i["order_id"], i["seller_id"]) for i in read("olist_order_items_dataset.csv")}
    cancelled_orders = {o["order_id"] for o in orders if o["order_status"] in CANCELLED}

    out = tmp_path / "legs.csv"
    summary = convert(DATA_DIR, out)
    with out.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == LEG_FIELDS
        rows = list(reader)

    by_stage = Counter(r["stage"] for r in rows)
    assert by_stage == {"seller_handover": len(pairs), "last_mile": len(orders)}
    assert (summary.handover_legs, summary.last_mile_legs) == (len(pairs), len(orders))
    cancelled = Counter(r["stage"] for r in rows if r["outcome"] == "cancelled")
    assert cancelled["last_mile"] == len(cancelled_orders)
    assert cancelled["seller_handover"] == sum(1 for order_id, _ in pairs if order_id in cancelled_orders)
    assert len({r["external_id"] for r in rows}) == len(rows)

    # The estimated delivery day is promised until its last second, Brazil time, written naive.
    estimated = {o["order_id"]: o["order_estimated_delivery_date"] for o in orders}
    for row in rows:
        if row["stage"] == "last_mile":
            assert row["promised_at"] == estimated[row["order_ref"]][:10] + " 23:59:59"
            assert row["supplier_code"] == "OLIST-CARRIER"
    assert summary.delivered_without_delivery_date == 8
    assert summary.handover_before_purchase == 3


def test_demo_olist_refuses_another_company_time_zone(app):
    assert app.config["CATENA_TIMEZONE"] != "America/Sao_Paulo"
    result = app.test_cli_runner().invoke(args=["demo", "olist", str(DATA_DIR)])
    assert result.exit_code != 0
    assert "CATENA_TIMEZONE=America/Sao_Paulo" in result.output
    assert db.session.scalar(select(func.count()).select_from(Leg)) == 0


def test_seller_on_time_rates_equal_a_plain_computation_over_the_csv_files(sao_paulo):
    expected = expected_handovers()
    loaded = sao_paulo.test_cli_runner().invoke(args=["demo", "olist", str(DATA_DIR)])
    assert loaded.exit_code == 0, loaded.output

    # Several sellers with many handovers, every month from their first to their last promise.
    largest = sorted(expected, key=lambda code: (-sum(n for _, n in expected[code].values()), code))[:8]
    compared = 0
    for code in largest:
        supplier = db.session.scalar(select(Supplier).where(Supplier.code == code))
        first, last = month_bounds(expected[code])
        results = {r.period.key: r for r in supplier_results(supplier, first, last)
                   if r.metric == "on_time_rate" and r.standard.stage == "seller_handover"}
        assert set(results) >= set(expected[code])
        for month, result in results.items():
            on_time, measured = expected[code].get(month, (0, 0))
            assert result.sample_size == measured, (code, month)
            assert result.value == (rate(on_time, measured) if measured else None), (code, month)
            compared += measured
    assert compared > 500

    # The carrier, every month: the end-of-day promise, and an empty month (2017-01) with no value.
    carrier = db.session.scalar(select(Supplier).where(Supplier.code == "OLIST-CARRIER"))
    deliveries = expected_deliveries()
    first, last = month_bounds(deliveries)
    results = [r for r in supplier_results(carrier, first, last) if r.standard.stage == "last_mile"]
    assert "2017-01" in {r.period.key for r in results} and "2017-01" not in deliveries
    for result in results:
        on_time, measured = deliveries.get(result.period.key, (0, 0))
        assert result.sample_size == measured, result.period.key
        assert result.value == (rate(on_time, measured) if measured else None), result.period.key

    # Late-delivery complaints from the reviews: sellers' and the carrier's shares, as the
    # late-delivery rule gives them by hand over the CSV files.
    seller, carrier, orders = expected_late_delivery_shares()
    assert len(orders) > 100 and seller > 0 and carrier > 0
    assert _catena_late_delivery_shares(orders) == (seller, carrier)


def expected_late_delivery_shares() -> tuple[Decimal, Decimal, set[str]]:
    """(seller shares, carrier shares, orders) summed over the late-delivery complaints on
    orders with one seller, by the late-delivery rule done by hand over the CSV files: a leg's
    excess is its own delay minus the previous leg's (the first leg: its own delay), legs with
    a positive excess share in proportion, rounded to 6 places with the remainder to the
    largest."""
    from zoneinfo import ZoneInfo

    from examples.olist.reviews import complaints

    zone = ZoneInfo("America/Sao_Paulo")

    def aware(text):
        # In UTC: Python subtracts datetimes sharing one tzinfo by wall clock, ignoring DST.
        moment = local(text)
        return moment.replace(tzinfo=zone).astimezone(dt.timezone.utc) if moment else None

    orders = {o["order_id"]: o for o in read("olist_orders_dataset.csv")}
    limits: dict[str, dict[str, str]] = defaultdict(dict)
    for item in read("olist_order_items_dataset.csv"):
        current = limits[item["order_id"]].get(item["seller_id"])
        if current is None or item["shipping_limit_date"] < current:
            limits[item["order_id"]][item["seller_id"]] = item["shipping_limit_date"]
    seller_total = carrier_total = Decimal(0)
    counted: set[str] = set()
    for complaint in complaints(DATA_DIR):
        order = orders.get(complaint.order_ref)
        if complaint.category != "late_delivery" or order is None or order["order_status"] in CANCELLED:
            continue
        if len(limits.get(order["order_id"], {})) != 1:
            continue
        (promise_text,) = limits[order["order_id"]].values()
        handover_promise, handover_actual = aware(promise_text), aware(order["order_delivered_carrier_date"])
        if handover_actual and abs(handover_actual - handover_promise) > dt.timedelta(days=365):
            continue  # the import sets such a leg aside
        counted.add(order["order_id"])
        estimated = local(order["order_estimated_delivery_date"])
        delivery_promise = dt.datetime.combine(estimated.date(), dt.time(23, 59, 59), tzinfo=zone).astimezone(
            dt.timezone.utc)
        delivery_actual = aware(order["order_delivered_customer_date"])
        excess = {}
        if handover_actual:
            excess["seller"] = handover_actual - handover_promise
        if delivery_actual:
            excess["carrier"] = ((delivery_actual - handover_actual) - (delivery_promise - handover_promise)
                                 if handover_actual else delivery_actual - delivery_promise)
        late = {party: Decimal(delta.total_seconds()) for party, delta in excess.items()
                if delta > dt.timedelta(0)}
        if not late:
            continue
        total = sum(late.values())
        # Rounded half-even; the remainder to the largest rounded share, the first leg on a tie.
        shares = {party: (value / total).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
                  for party, value in late.items()}
        largest = max(shares, key=lambda party: (shares[party], party == "seller"))
        shares[largest] += Decimal(1) - sum(shares.values())
        seller_total += shares.get("seller", Decimal(0))
        carrier_total += shares.get("carrier", Decimal(0))
    return seller_total, carrier_total, counted


def _catena_late_delivery_shares(orders: set[str]) -> tuple[Decimal, Decimal]:
    from incidents.models import AttributionDecision, AttributionShare, Incident, IncidentCategory, Order

    rows = db.session.execute(
        select(Supplier.code, AttributionShare.share)
        .join(AttributionShare, AttributionShare.supplier_id == Supplier.id)
        .join(AttributionDecision, AttributionDecision.id == AttributionShare.decision_id)
        .join(Incident, Incident.id == AttributionDecision.incident_id)
        .join(IncidentCategory, IncidentCategory.id == Incident.category_id)
        .join(Order, Order.id == Incident.order_id)
        .where(IncidentCategory.code == "late_delivery", Order.ref.in_(orders))
    ).all()
    seller = sum((share for code, share in rows if code != "OLIST-CARRIER"), Decimal(0))
    carrier = sum((share for code, share in rows if code == "OLIST-CARRIER"), Decimal(0))
    return seller, carrier


def test_loading_olist_again_updates_the_same_legs_and_suppliers(sao_paulo, tmp_path):
    # A slice of the sample (its first 300 orders, their items and sellers) keeps this quick.
    orders = read("olist_orders_dataset.csv")[:300]
    order_ids = {o["order_id"] for o in orders}
    items = [i for i in read("olist_order_items_dataset.csv") if i["order_id"] in order_ids]
    seller_ids = {i["seller_id"] for i in items}
    sellers = [s for s in read("olist_sellers_dataset.csv") if s["seller_id"] in seller_ids]
    for name, rows in (("olist_orders_dataset.csv", orders), ("olist_order_items_dataset.csv", items),
                       ("olist_sellers_dataset.csv", sellers)):
        with (tmp_path / name).open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    pairs = {(i["order_id"], i["seller_id"]) for i in items}

    runner = sao_paulo.test_cli_runner()
    first = runner.invoke(args=["demo", "olist", str(tmp_path)])
    assert first.exit_code == 0, first.output
    legs = db.session.scalar(select(func.count()).select_from(Leg))
    assert legs == len(pairs) + len(orders)
    assert f"{legs} legs created, 0 updated" in first.output

    again = runner.invoke(args=["demo", "olist", str(tmp_path)])
    assert again.exit_code == 0, again.output
    assert f"0 legs created, {legs} updated" in again.output
    assert "0 registered now" in again.output
    assert db.session.scalar(select(func.count()).select_from(Leg)) == legs
    assert db.session.scalar(select(func.count()).select_from(Supplier)) == len(sellers) + 1
    assert db.session.scalar(select(func.count()).select_from(ServiceStandard)) == 4  # on-time and complaints per 1,000, for sellers and the carrier
    assert db.session.scalar(select(func.count()).select_from(ImportProfile)) == 1
