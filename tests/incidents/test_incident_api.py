"""The incidents API: helpdesk push (idempotent), list and one incident."""
from __future__ import annotations

from sqlalchemy import func, select

from app.db import db
from incidents.models import Incident
from tests.incidents.test_incident_services import make_order

TICKET = {"external_id": "ZD-1001", "order_ref": "ORD-1", "category": "late_delivery", "channel": "email",
          "description": "Ordine in ritardo di tre giorni", "reported_at": "2026-03-01T10:00:00+01:00",
          "priority": "urgent"}


def _count():
    return db.session.scalar(select(func.count()).select_from(Incident))


def test_the_same_ticket_pushed_twice_makes_one_incident(api_client, make_supplier):
    make_order("ORD-1", make_supplier(code="LM-1"))
    client, headers = api_client("operator")
    first = client.post("/api/v1/incidents", json=TICKET, headers=headers)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    # 10:00+01:00 = 09:00 UTC; late_delivery 24 h × urgent 0.25 = 6 h.
    assert body["reported_at"].startswith("2026-03-01T09:00:00")
    assert body["respond_by"].startswith("2026-03-01T15:00:00")
    assert body["status"] == "new" and body["order_ref"] == "ORD-1" and body["needs_follow_up"] is False
    assert body["cost_total"] == "0.00" and body["interactions_count"] == 0
    assert isinstance(body["proposed_attribution"], list) and body["attribution"] == []
    again = client.post("/api/v1/incidents", json=dict(TICKET, description="changed"), headers=headers)
    assert again.status_code == 200 and again.get_json() == body
    assert _count() == 1


def test_idempotency_key_header_stands_in_for_a_missing_external_id(api_client):
    client, headers = api_client("operator")
    ticket = {k: v for k, v in TICKET.items() if k != "external_id"}
    headers = dict(headers, **{"Idempotency-Key": "key-42"})
    assert client.post("/api/v1/incidents", json=ticket, headers=headers).status_code == 201
    assert client.post("/api/v1/incidents", json=ticket, headers=headers).status_code == 200
    assert _count() == 1


def test_unknown_order_and_naive_time_in_company_zone(api_client):
    client, headers = api_client("operator")
    response = client.post("/api/v1/incidents", headers=headers,
                           json=dict(TICKET, order_ref="NOPE", reported_at="2026-07-01T10:00:00"))
    body = response.get_json()
    # Rome is UTC+2 in July.
    assert response.status_code == 201 and body["reported_at"].startswith("2026-07-01T08:00:00")
    assert body["needs_follow_up"] is True and body["order_ref"] == "NOPE"


def test_bad_fields_are_422_with_field_names(api_client):
    client, headers = api_client("operator")
    for field, value in [("reported_at", "yesterday"), ("channel", "fax"), ("description", ""),
                         ("category", "nonsense"), ("reported_at", "NaN"), ("surprise", 1)]:
        response = client.post("/api/v1/incidents", json=dict(TICKET, **{field: value}), headers=headers)
        assert response.status_code == 422, (field, response.get_json())
        assert field in response.get_json()["error"]["fields"], (field, response.get_json())
    assert _count() == 0


def test_a_viewer_token_may_read_but_not_push(api_client):
    client, headers = api_client("operator")
    created = client.post("/api/v1/incidents", json=TICKET, headers=headers).get_json()
    viewer, viewer_headers = api_client("viewer")
    assert viewer.post("/api/v1/incidents", json=dict(TICKET, external_id="ZD-2"),
                       headers=viewer_headers).status_code == 403
    assert viewer.get(f"/api/v1/incidents/{created['id']}", headers=viewer_headers).get_json() == created
    assert viewer.get("/api/v1/incidents/999999", headers=viewer_headers).status_code == 404
    assert viewer.post("/api/v1/incidents", json=TICKET).status_code == 401


def test_list_filters_and_pages(api_client, make_supplier):
    make_order("ORD-1", make_supplier(code="LM-1"))
    client, headers = api_client("operator")
    ids = []
    for n, ref in enumerate(["ORD-1", "ORD-X", "ORD-1"]):
        body = client.post("/api/v1/incidents", headers=headers,
                           json=dict(TICKET, external_id=f"T-{n}", order_ref=ref,
                                     reported_at=f"2026-03-0{n + 1}T10:00:00+01:00")).get_json()
        ids.append(body["id"])
    first = client.get("/api/v1/incidents?limit=2", headers=headers).get_json()
    assert [i["id"] for i in first["items"]] == ids[:2] and first["next"]
    second = client.get(f"/api/v1/incidents?limit=2&cursor={first['next']}", headers=headers).get_json()
    assert [i["id"] for i in second["items"]] == ids[2:] and second["next"] is None
    by_supplier = client.get("/api/v1/incidents?supplier=LM-1", headers=headers).get_json()
    assert [i["id"] for i in by_supplier["items"]] == [ids[0], ids[2]]
    assert client.get("/api/v1/incidents?category=lost_parcel", headers=headers).get_json()["items"] == []
    assert client.get("/api/v1/incidents?status=bogus", headers=headers).status_code == 422
    assert client.get("/api/v1/incidents?cursor=zzz", headers=headers).status_code == 400


def test_the_list_gives_each_incidents_cost_and_the_page_reads_no_cost_lines(api_client, login_as):
    from sqlalchemy import event

    from incidents.services import incidents as svc
    from tests.incidents.test_incident_services import new_incident

    incident = new_incident()
    svc.add_cost_line(incident, {"kind": "refund", "amount": "19.90"}, None)
    svc.add_cost_line(incident, {"kind": "voucher", "amount": "5.10"}, None)
    db.session.commit()
    db.session.expire_all()
    client, headers = api_client("viewer")
    listed = client.get("/api/v1/incidents", headers=headers).get_json()["items"]
    assert [(i["id"], i["cost_total"]) for i in listed] == [(incident.id, "25.00")]
    # The backlog page shows no cost, so it does not read the cost lines.
    statements = []
    engine = db.session.get_bind()

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    page = login_as("viewer")
    db.session.expire_all()
    event.listen(engine, "before_cursor_execute", before)
    try:
        assert page.get("/incidents/").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert not [s for s in statements if "incident_cost_lines" in s]
