"""The audits API: the list and its filters (DESIGN fixed point), one audit with its current
snapshot, and its findings."""
from __future__ import annotations

from decimal import Decimal

from app.db import unit_of_work
from audits.services import conduct


def test_list_filters_by_plan_supplier_period_and_status(api_client, make_carrier, make_audit, make_plan):
    plan = make_plan()
    a, b = make_carrier(code="LM-API1"), make_carrier(code="LM-API2")
    march = make_audit(a, "2026-03", plan=plan)
    april = make_audit(a, "2026-04", plan=plan, status="in_progress")
    manual = make_audit(a, "2026-03")
    other = make_audit(b, "2026-03", plan=plan)
    client, headers = api_client("viewer")

    def ids(query):
        response = client.get("/api/v1/audits" + query, headers=headers)
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert set(ids(f"?plan={plan.id}")) == {march.id, april.id, other.id}
    assert ids("?supplier=LM-API1") == [april.id, manual.id, march.id]   # latest period first, then newest
    assert set(ids("?supplier=LM-API1&period=2026-03")) == {march.id, manual.id}
    assert ids("?supplier=LM-API1&status=in_progress") == [april.id]
    item = client.get("/api/v1/audits?supplier=LM-API2", headers=headers).get_json()["items"][0]
    assert item == {"id": other.id, "plan": plan.id, "supplier": "LM-API2", "period_start": "2026-03-01",
                    "period_end": "2026-03-31", "status": "planned"}
    bad = client.get("/api/v1/audits?period=March", headers=headers)
    assert bad.status_code == 422 and "period" in bad.get_json()["error"]["fields"]


def test_list_pages_with_a_cursor(api_client, make_carrier, make_audit):
    courier = make_carrier(code="LM-API3")
    made = [make_audit(courier, month).id for month in ("2026-01", "2026-02", "2026-03")]
    client, headers = api_client("viewer")
    first = client.get("/api/v1/audits?supplier=LM-API3&limit=2", headers=headers).get_json()
    second = client.get(f"/api/v1/audits?supplier=LM-API3&limit=2&cursor={first['next']}", headers=headers).get_json()
    assert [i["id"] for i in first["items"] + second["items"]] == made[::-1]
    assert second["next"] is None


def test_one_audit_with_its_snapshot_and_findings(api_client, make_carrier, sla, legs, make_audit):
    courier = make_carrier(code="LM-API4")
    sla(courier, target="0.95")
    legs(courier, "2026-03", on_time=17, late=3)
    audit = make_audit(courier, "2026-03")
    with unit_of_work():
        conduct.compute_snapshot(audit, None)
    with unit_of_work():
        conduct.propose_findings(audit, None)
    client, headers = api_client("viewer")
    body = client.get(f"/api/v1/audits/{audit.id}", headers=headers).get_json()
    assert body["snapshot_revision"] == 1
    [result] = body["results"]
    assert (result["metric"], result["period"], result["sample_size"], result["status"]) == \
        ("on_time_rate", "2026-03", 20, "breached")
    assert Decimal(str(result["value"])) == Decimal("0.85") and result["target"] == 0.95
    findings = client.get(f"/api/v1/audits/{audit.id}/findings", headers=headers).get_json()
    assert [(f["number"], f["grade"], f["proposed"]) for f in findings["items"]] == [(1, "major_nc", True)]
    assert findings["next"] is None
    assert client.get("/api/v1/audits/999999", headers=headers).status_code == 404
