"""The assignments API: send with a template id and a supplier code, list, read one."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from app.db import db, unit_of_work
from app.outbox import OutboxMessage
from questionnaires.models import Assignment
from questionnaires.services import assignments as service
from suppliers import services as supplier_services
from tests.questionnaires.conftest import build_questionnaire
from tests.questionnaires.test_assignments_service import FULL, _form


def _supplier_with_contacts(make_supplier):
    supplier = make_supplier()
    supplier_services.add_contact(supplier, {"name": "Giulia Verdi", "email": "giulia@carrier.example",
                                             "is_primary": True}, None)
    supplier_services.add_contact(supplier, {"name": "Marco Rossi", "email": "marco@carrier.example"}, None)
    db.session.commit()
    return supplier


def test_create_returns_the_portal_url_that_opens_the_portal(app, carrier_questionnaire, api_client, make_supplier,
                                                              client):
    supplier = _supplier_with_contacts(make_supplier)
    api, headers = api_client("quality_manager")
    due = dt.date.today() + dt.timedelta(days=21)
    response = api.post("/api/v1/assignments", headers=headers, json={
        "template": carrier_questionnaire.template_id, "supplier": supplier.code.lower(), "due_date": due.isoformat(),
        "message": "Thank you", "language": "it", "contact_email": "Marco@carrier.example"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["supplier"] == supplier.code and body["status"] == "sent" and body["due_date"] == due.isoformat()
    assert body["template"] == carrier_questionnaire.template_id and body["version"] == 1
    assert body["recipient_email"] == "marco@carrier.example" and body["language"] == "it"
    base = app.config["CATENA_BASE_URL"].rstrip("/")
    assert body["portal_url"].startswith(base + "/q/")
    secret = body["portal_url"].rsplit("/", 1)[1]
    assert service.assignment_for_token(secret).id == body["id"]
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "questionnaire_sent")).all()
    assert [m.recipient for m in mail] == ["marco@carrier.example"] and body["portal_url"] in mail[0].body
    if any(rule.rule.startswith("/q/") for rule in app.url_map.iter_rules()):
        # The supplier needs no account: a plain client opens the link.
        assert client.get("/q/" + secret).status_code == 200


def test_create_errors_name_the_field(carrier_questionnaire, api_client, make_supplier):
    supplier = _supplier_with_contacts(make_supplier)
    api, headers = api_client("quality_manager")
    due = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    draft_only = build_questionnaire(publish=False, name="Not yet published")

    def post(**overrides):
        data = {"template": carrier_questionnaire.template_id, "supplier": supplier.code, "due_date": due}
        data.update(overrides)
        return api.post("/api/v1/assignments", headers=headers, json=data)

    cases = [
        (dict(supplier="NOPE-404"), "supplier"),
        (dict(template=draft_only.template_id), "template"),
        (dict(template=999999), "template"),
        (dict(due_date=(dt.date.today() - dt.timedelta(days=1)).isoformat()), "due_date"),
        (dict(due_date="tomorrow"), "due_date"),
        (dict(contact_email="nobody@carrier.example"), "contact_email"),
        (dict(language="fr"), "language"),
    ]
    for overrides, field in cases:
        response = post(**overrides)
        assert response.status_code == 422, (overrides, response.get_json())
        error = response.get_json()["error"]
        assert set(error) == {"code", "message", "fields"} and field in error["fields"], (overrides, error)
    assert db.session.scalar(select(Assignment.id)) is None
    # The same questionnaire still open for this supplier: 409.
    assert post().status_code == 201
    response = post()
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "assignment_open"


def test_viewer_cannot_send(carrier_questionnaire, api_client, make_supplier):
    supplier = _supplier_with_contacts(make_supplier)
    api, headers = api_client("viewer")
    response = api.post("/api/v1/assignments", headers=headers, json={
        "template": carrier_questionnaire.template_id, "supplier": supplier.code,
        "due_date": (dt.date.today() + dt.timedelta(days=7)).isoformat()})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_list_and_read_one_with_section_scores(carrier_questionnaire, send_questionnaire, api_client):
    submitted, _ = send_questionnaire(carrier_questionnaire)
    with unit_of_work():
        service.save_answers(submitted, _form(carrier_questionnaire, **FULL), submit=True)
    waiting, _ = send_questionnaire(carrier_questionnaire)
    other, _ = send_questionnaire(build_questionnaire(name="Warehouse qualification"))
    api, headers = api_client("viewer")

    page = api.get("/api/v1/assignments?limit=2", headers=headers).get_json()
    assert [a["id"] for a in page["items"]] == [other.id, waiting.id] and page["next"]
    rest = api.get(f"/api/v1/assignments?limit=2&cursor={page['next']}", headers=headers).get_json()
    assert [a["id"] for a in rest["items"]] == [submitted.id] and rest["next"] is None
    assert [a["id"] for a in api.get("/api/v1/assignments?status=submitted", headers=headers)
            .get_json()["items"]] == [submitted.id]
    by_supplier = api.get(f"/api/v1/assignments?supplier={waiting.supplier.code}", headers=headers).get_json()
    assert [a["id"] for a in by_supplier["items"]] == [waiting.id]
    by_template = api.get(f"/api/v1/assignments?template={other.template_version.template_id}",
                          headers=headers).get_json()
    assert [a["id"] for a in by_template["items"]] == [other.id]
    response = api.get("/api/v1/assignments?cursor=garbage", headers=headers)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_cursor"
    response = api.get("/api/v1/assignments?status=lost", headers=headers)
    assert response.status_code == 422 and "status" in response.get_json()["error"]["fields"]

    one = api.get(f"/api/v1/assignments/{submitted.id}", headers=headers).get_json()
    assert one["status"] == "submitted" and one["score"] == 63.0 and one["result"] == "conditional"
    # Company 4 of 6 → 66.67; Operations 2.3 of 4 → 57.50 (worked out in test_assignment_views.py).
    assert one["sections"] == [{"title": "Company", "score": 66.67}, {"title": "Operations", "score": 57.5}]
    assert one["knockouts"] == [] and one["missing"] == []
    assert one["decision"] is None and one["qualified_until"] is None
    assert "portal_url" not in one
    assert api.get("/api/v1/assignments/999999", headers=headers).status_code == 404


def test_decision_shows_in_the_api(carrier_questionnaire, send_questionnaire, api_client, factories):
    assignment, _ = send_questionnaire(carrier_questionnaire)
    with unit_of_work():
        service.save_answers(assignment, _form(carrier_questionnaire, **FULL), submit=True)
    with unit_of_work():
        service.decide(assignment, "approved", "Good enough.", factories.user("quality_manager"),
                       today=dt.date(2026, 11, 27))
    api, headers = api_client("viewer")
    one = api.get(f"/api/v1/assignments/{assignment.id}", headers=headers).get_json()
    assert one["status"] == "accepted" and one["decision"] == "approved"
    assert one["qualified_until"] == "2027-11-27"
