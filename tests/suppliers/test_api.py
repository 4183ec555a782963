"""The supplier register over the JSON API."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from app.db import db
from suppliers.models import Supplier

NEW_SUPPLIER = {"code": "CAR-001", "legal_name": "Trasporti Padani S.r.l.", "country": "IT",
                "chain_roles": ["carrier"], "risk_class": "high", "vat_id": "IT00743110157"}


def test_create_get_update_and_change_status(api_client):
    client, headers = api_client("quality_manager")
    created = client.post("/api/v1/suppliers", json=NEW_SUPPLIER, headers=headers)
    assert created.status_code == 201, created.json
    body = created.json
    assert body["code"] == "CAR-001" and body["status"] == "prospect" and body["chain_roles"] == ["carrier"]
    assert body["parent"] is None and body["version"] == 1

    got = client.get("/api/v1/suppliers/CAR-001", headers=headers).json
    assert got["legal_name"] == "Trasporti Padani S.r.l."

    patched = client.patch("/api/v1/suppliers/CAR-001", json={"city": "Piacenza", "version": 1}, headers=headers)
    assert patched.status_code == 200 and patched.json["city"] == "Piacenza" and patched.json["version"] == 2
    stale = client.patch("/api/v1/suppliers/CAR-001", json={"city": "Lodi", "version": 1}, headers=headers)
    assert stale.status_code == 409 and stale.json["error"]["code"] == "stale_record"

    status = client.post("/api/v1/suppliers/CAR-001/status",
                         json={"status": "in_qualification", "reason": "Questionario inviato"}, headers=headers)
    assert status.status_code == 200
    assert status.json["status"] == "in_qualification"
    assert [h["to_status"] for h in status.json["history"]] == ["in_qualification", "prospect"]


def test_duplicate_code_is_a_json_error_with_a_code(api_client):
    client, headers = api_client("quality_manager")
    client.post("/api/v1/suppliers", json=NEW_SUPPLIER, headers=headers)
    response = client.post("/api/v1/suppliers", json=NEW_SUPPLIER, headers=headers)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_failed"
    assert "CAR-001" in error["fields"]["code"]


def test_schema_errors_name_the_fields(api_client):
    client, headers = api_client("quality_manager")
    response = client.post("/api/v1/suppliers", json={"code": "X", "chain_roles": ["teleporter"],
                                                       "status": "approved"}, headers=headers)
    assert response.status_code == 422
    fields = response.json["error"]["fields"]
    assert {"legal_name", "country", "chain_roles", "status"} <= set(fields)
    assert db.session.scalar(select(func.count()).select_from(Supplier)) == 0


def test_body_that_is_not_json_is_refused(api_client):
    client, headers = api_client("quality_manager")
    response = client.post("/api/v1/suppliers", data="{not json", headers={**headers, "Content-Type": "application/json"})
    assert response.status_code in (400, 422)
    assert "error" in response.json


def test_status_change_without_reason_is_refused(api_client, make_supplier):
    make_supplier(code="CAR-9")
    client, headers = api_client("quality_manager")
    response = client.post("/api/v1/suppliers/CAR-9/status", json={"status": "in_qualification", "reason": ""},
                           headers=headers)
    assert response.status_code == 422
    assert "reason" in response.json["error"]["fields"]


def test_list_filters_and_pages(api_client, make_supplier):
    for n in range(5):
        make_supplier(code=f"LM-{n}", chain_roles=["last_mile"])
    make_supplier(code="WH-1", chain_roles=["warehouse"])
    client, headers = api_client("viewer")
    first = client.get("/api/v1/suppliers?role=last_mile&limit=3", headers=headers).json
    assert [s["code"] for s in first["items"]] == ["LM-0", "LM-1", "LM-2"]
    second = client.get(f"/api/v1/suppliers?role=last_mile&limit=3&cursor={first['next']}", headers=headers).json
    assert [s["code"] for s in second["items"]] == ["LM-3", "LM-4"]
    assert second["next"] is None
    bad = client.get("/api/v1/suppliers?cursor=garbage", headers=headers)
    assert bad.status_code == 422 and bad.json["error"]["code"] == "invalid_cursor"


def test_viewer_token_cannot_write(api_client):
    client, headers = api_client("viewer")
    response = client.post("/api/v1/suppliers", json=NEW_SUPPLIER, headers=headers)
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"


def test_api_refuses_the_session_cookie_and_bad_tokens(login_as, app):
    browser = login_as("admin")
    response = browser.get("/api/v1/suppliers")
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"
    response = app.test_client().get("/api/v1/suppliers", headers={"Authorization": "Bearer cat_not-a-token"})
    assert response.status_code == 401 and response.json["error"]["code"] == "invalid_token"
    response = app.test_client().get("/api/v1/suppliers?token=cat_x")
    assert response.status_code == 401


def test_unknown_supplier_is_a_json_404(api_client):
    client, headers = api_client("viewer")
    response = client.get("/api/v1/suppliers/NOPE", headers=headers)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_non_finite_numbers_and_wrong_types_are_refused(api_client):
    client, headers = api_client("quality_manager")
    body = json.dumps({**NEW_SUPPLIER, "legal_name": 12, "chain_roles": "carrier"})
    response = client.post("/api/v1/suppliers", data=body, headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert {"legal_name", "chain_roles"} <= set(response.json["error"]["fields"])
