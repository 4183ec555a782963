"""Service standards and their results over the JSON API."""
from __future__ import annotations

from app.db import db
from incidents.services.legs import LegInput, record_legs
from tests.suppliers.test_measurement import ROME, at

SLA = {"name": "Consegna puntuale", "metric": "on_time_rate", "stage": "last_mile", "comparator": "gte",
       "target": 0.9, "warning_threshold": 0.95, "window": "month", "min_sample": 1, "valid_from": "2026-01-01"}


def test_results_per_sla_and_period(api_client, make_supplier):
    courier = make_supplier(code="LM-1", chain_roles=["last_mile"])
    promise = at("2026-02-10")
    record_legs([LegInput(external_id=f"L{n}", order_ref=f"O{n}", stage="last_mile", supplier_code="LM-1",
                          promised_at=promise, actual_at=promise if n < 3 else None, outcome="completed" if n < 3 else None)
                 for n in range(4)], {"LM-1": courier.id}, ROME)
    db.session.commit()
    client, headers = api_client("quality_manager")
    created = client.post("/api/v1/slas", json={**SLA, "chain_role": "last_mile"}, headers=headers)
    assert created.status_code == 201, created.json
    response = client.get("/api/v1/suppliers/LM-1/sla-results?from=2026-01&to=2026-02", headers=headers)
    assert response.status_code == 200
    items = {item["period"]: item for item in response.json["items"]}
    assert items["2026-01"]["status"] == "no_data" and items["2026-01"]["value"] is None
    february = items["2026-02"]
    assert (february["value"], february["sample_size"], february["status"]) == (0.75, 4, "breached")
    assert (february["metric"], february["stage"], february["target"], february["comparator"]) == (
        "on_time_rate", "last_mile", 0.9, "gte")
    assert february["penalty"] == "0.00"


def test_sla_values_are_checked(api_client, make_supplier):
    make_supplier(code="LM-1")
    client, headers = api_client("quality_manager")
    for target in ("NaN", "Infinity", "-Infinity"):
        body = '{"name": "x", "supplier": "LM-1", "metric": "on_time_rate", "stage": "last_mile", ' \
               f'"target": {target}, "valid_from": "2026-01-01"}}'
        response = client.post("/api/v1/slas", data=body, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code in (400, 422), target
    response = client.post("/api/v1/slas", json={**SLA, "supplier": "LM-1", "target": 1.2}, headers=headers)
    assert response.status_code == 422 and "target" in response.json["error"]["fields"]
    response = client.post("/api/v1/slas", json={**SLA, "supplier": "LM-1", "warning_threshold": 0.8}, headers=headers)
    assert response.status_code == 422 and "warning_threshold" in response.json["error"]["fields"]
    response = client.post("/api/v1/slas", json={**SLA, "supplier": "LM-1", "valid_to": "2025-12-31"}, headers=headers)
    assert response.status_code == 422 and "valid_to" in response.json["error"]["fields"]
    response = client.get("/api/v1/suppliers/LM-1/sla-results?from=2026-05&to=2026-02", headers=headers)
    assert response.status_code == 422


def test_revision_keeps_the_old_version(api_client, make_supplier):
    make_supplier(code="LM-1")
    client, headers = api_client("quality_manager")
    first = client.post("/api/v1/slas", json={**SLA, "supplier": "LM-1"}, headers=headers).json
    revised = client.post(f"/api/v1/slas/{first['id']}/revisions",
                          json={**SLA, "target": 0.92, "warning_threshold": None, "valid_from": "2026-07-01",
                                "reason": "Rinnovo contratto"}, headers=headers)
    assert revised.status_code == 201, revised.json
    assert (revised.json["version"], revised.json["series"]) == (2, first["id"])
    old = client.get(f"/api/v1/slas/{first['id']}", headers=headers).json
    assert old["valid_to"] == "2026-06-30"
    listing = client.get("/api/v1/slas?supplier=LM-1", headers=headers).json
    assert [(s["version"], s["valid_to"]) for s in listing["items"]] == [(1, "2026-06-30"), (2, None)]
