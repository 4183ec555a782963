"""Bulk leg ingestion and orders over the JSON API."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from app.db import db
from incidents.models import Leg, Order


def _leg(n, **overrides):
    leg = {"external_id": f"L-{n}", "order_ref": f"ORD-{n // 2}", "stage": "last_mile", "supplier_code": "LM-1",
           "promised_at": "2026-03-10T18:00:00", "actual_at": "2026-03-10T17:30:00+01:00"}
    leg.update(overrides)
    return leg


def test_legs_are_recorded_all_or_nothing_and_idempotently(api_client, make_supplier):
    make_supplier(code="LM-1", chain_roles=["last_mile"])
    client, headers = api_client("quality_manager")
    body = {"legs": [_leg(n) for n in range(4)], "timezone": "Europe/Rome"}
    first = client.post("/api/v1/legs", json=body, headers=headers)
    assert first.status_code == 201, first.json
    assert (first.json["created"], first.json["updated"]) == (4, 0)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 2
    leg = db.session.scalar(select(Leg).where(Leg.external_id == "L-0"))
    # Naive 18:00 in Rome (CET) is 17:00 UTC; the actual time carried its own offset.
    assert leg.promised_at == dt.datetime(2026, 3, 10, 17, 0, tzinfo=dt.timezone.utc)
    assert leg.delay_seconds == -30 * 60

    again = client.post("/api/v1/legs", json={"legs": [_leg(0, actual_at="2026-03-10T19:00:00")],
                                              "timezone": "Europe/Rome"}, headers=headers)
    assert (again.json["created"], again.json["updated"]) == (0, 1)
    assert db.session.scalar(select(func.count()).select_from(Leg)) == 4
    db.session.expire_all()
    assert db.session.scalar(select(Leg.delay_seconds).where(Leg.external_id == "L-0")) == 3600


def test_one_bad_leg_rejects_the_call(api_client, make_supplier):
    make_supplier(code="LM-1")
    client, headers = api_client("quality_manager")
    legs = [_leg(0), _leg(1, supplier_code="NOPE"), _leg(2, promised_at="yesterday"), _leg(3, stage="teleport")]
    response = client.post("/api/v1/legs", json={"legs": legs}, headers=headers)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "rows_invalid"
    assert set(error["fields"]) == {"legs.1.supplier_code", "legs.2.promised_at", "legs.3.stage"}
    assert db.session.scalar(select(func.count()).select_from(Leg)) == 0
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_more_than_ten_thousand_legs_are_refused(api_client):
    client, headers = api_client("quality_manager")
    response = client.post("/api/v1/legs", json={"legs": [_leg(n) for n in range(10_001)]}, headers=headers)
    assert response.status_code == 422
    assert "legs" in response.json["error"]["fields"]


def test_operator_cannot_push_legs_but_reads_orders(api_client, make_supplier):
    make_supplier(code="LM-1")
    qm, qm_headers = api_client("quality_manager")
    qm.post("/api/v1/legs", json={"legs": [_leg(0, stage="seller_handover", sequence=1), _leg(1, sequence=2)]},
            headers=qm_headers)
    client, headers = api_client("operator")
    assert client.post("/api/v1/legs", json={"legs": [_leg(5)]}, headers=headers).status_code == 403
    order = client.get("/api/v1/orders/ORD-0", headers=headers).json
    assert [leg["stage"] for leg in order["legs"]] == ["seller_handover", "last_mile"]
    assert order["legs"][0]["supplier"] == "LM-1"
    assert client.get("/api/v1/orders/NOPE", headers=headers).status_code == 404


def test_a_leg_belongs_to_the_company_day_whatever_zone_the_call_uses(api_client, make_supplier, app):
    make_supplier(code="LM-1")
    client, headers = api_client("quality_manager")
    # 23:30 in New York on 9 March is 05:30 on 10 March in Rome, the company's zone.
    leg = _leg(0, promised_at="2026-03-09T23:30:00", actual_at=None)
    assert client.post("/api/v1/legs", json={"legs": [leg], "timezone": "America/New_York"},
                       headers=headers).status_code == 201
    assert db.session.scalar(select(Leg.promised_day)) == dt.date(2026, 3, 10)
