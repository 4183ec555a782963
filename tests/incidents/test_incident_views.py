"""Incident pages: intake, backlog with bulk assignment, the incident's life."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from app.db import db, utcnow
from incidents.models import Incident
from incidents.services import incidents as svc
from tests.incidents.test_incident_services import make_order, new_incident


def _intake(client, **overrides):
    data = {"order_ref": "ORD-1", "channel": "phone", "category": "lost_parcel", "priority": "high",
            "description": "Pacco mai arrivato", "reported_at": "2026-03-01T10:00"}
    data.update(overrides)
    return client.post_form("/incidents/new", data)


def test_operator_records_an_incident_with_respond_by_in_company_time(login_as, make_supplier):
    make_order("ORD-1", make_supplier(code="LM-1"))
    client = login_as("operator")
    assert 'data-order-suggest="/incidents/orders/suggest"' in client.get("/incidents/new").get_data(as_text=True)
    response = _intake(client)
    assert response.status_code == 302
    incident = db.session.scalar(select(Incident))
    # 10:00 in Rome on 1 March is 09:00 UTC; lost_parcel 8 h × high 0.5 = 4 h.
    assert incident.reported_at == dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
    assert incident.respond_by == dt.datetime(2026, 3, 1, 13, 0, tzinfo=dt.timezone.utc)
    assert incident.order.ref == "ORD-1" and incident.created_by_id == client.user.id
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'badge text-bg-danger">New<' in page and "overdue" in page
    assert re.findall(r'<li class="chain-step border-start border-4 border-(\w+)', page) == ["danger"]


def test_unknown_order_is_accepted_and_shown_for_follow_up(login_as):
    client = login_as("operator")
    response = _intake(client, order_ref="NOPE-1")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "needs follow-up" in page and "NOPE-1" in page


def test_bad_intake_shows_the_errors_and_records_nothing(login_as):
    client = login_as("operator")
    response = _intake(client, description="", reported_at="not a date")
    assert response.status_code == 422
    assert db.session.scalar(select(Incident)) is None


def test_a_future_reported_time_is_refused_beside_the_field(login_as):
    from app.i18n import company_zone

    client = login_as("operator")
    future = (dt.datetime.now(company_zone()) + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = _intake(client, reported_at=future)
    assert response.status_code == 422 and "in the future" in response.get_data(as_text=True)


def test_a_form_post_without_csrf_is_refused(login_as):
    client = login_as("operator")
    response = client.raw.post("/incidents/new", data={"channel": "phone", "category": "other",
                                                       "description": "x", "reported_at": "2026-03-01T10:00"})
    assert response.status_code == 400


def test_a_viewer_may_read_but_not_record(login_as, app_ctx):
    incident = new_incident()
    viewer = login_as("viewer")
    assert viewer.get("/incidents/new").status_code == 403
    assert viewer.get("/incidents/").status_code == 200
    page = viewer.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "Log the interaction" not in page
    assert viewer.post_form(f"/incidents/{incident.id}/status", {"status": "in_progress"}).status_code == 403
    assert viewer.post_form("/incidents/assign", {"incident_ids": [incident.id], "assignee": ""}).status_code == 403
    assert viewer.get("/incidents/999999").status_code == 404


def test_life_of_an_incident_through_the_pages(login_as, app_ctx):
    incident = new_incident()
    client = login_as("operator")
    url = f"/incidents/{incident.id}"
    assert client.post_form(url + "/interactions", {"channel": "email", "direction": "outbound",
                                                    "note": "Abbiamo aperto una pratica"}).status_code == 302
    assert client.post_form(url + "/costs", {"kind": "refund", "amount": "19.90"}).status_code == 302
    assert client.post_form(url + "/costs", {"kind": "voucher", "amount": "5.10"}).status_code == 302
    assert client.post_form(url + "/costs", {"kind": "voucher", "amount": "-1"}).status_code == 422
    assert client.post_form(url + "/status", {"status": "closed", "csat": "5"}).status_code == 422
    assert client.post_form(url + "/status", {"status": "resolved"}).status_code == 302
    assert client.post_form(url + "/status", {"status": "closed", "csat": "9"}).status_code == 422
    assert client.post_form(url + "/status", {"status": "closed", "csat": "4"}).status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert 'id="cost-total">25.00<' in page and ">19.90<" in page
    assert "Abbiamo aperto una pratica" in page and "4 / 5" in page and 'text-bg-secondary">Closed<' in page
    db.session.expire_all()
    stored = db.session.get(Incident, incident.id)
    assert stored.first_response_at is not None and stored.status == "closed" and stored.csat == 4


def test_backlog_lists_overdue_first_and_bulk_assigns(login_as, make_supplier, app_ctx):
    make_order("ORD-1", make_supplier(code="LM-1"))
    now = utcnow()
    later = new_incident(order_ref="ORD-1", reported_at=now - dt.timedelta(hours=1))      # due in 23 h
    overdue = new_incident(priority="urgent", reported_at=now - dt.timedelta(hours=7))   # due 1 h ago
    client = login_as("operator")
    page = client.get("/incidents/").get_data(as_text=True)
    assert page.index(f"/incidents/{overdue.id}\"") < page.index(f"/incidents/{later.id}\"")
    assert page.count('class="table-danger"') == 1
    assert f"/incidents/{overdue.id}\"" not in client.get("/incidents/?supplier=LM-1").get_data(as_text=True)
    assert f"/incidents/{later.id}\"" in client.get("/incidents/?supplier=LM-1").get_data(as_text=True)
    response = client.post_form("/incidents/assign", {"incident_ids": [later.id, overdue.id],
                                                      "assignee": str(client.user.id)})
    assert response.status_code == 302
    db.session.expire_all()
    assert {i.assignee_id for i in svc.incidents_by_ids([later.id, overdue.id])} == {client.user.id}
    mine = client.get(f"/incidents/?assignee={client.user.id}").get_data(as_text=True)
    assert f"/incidents/{later.id}\"" in mine
    assert f"/incidents/{later.id}\"" not in client.get("/incidents/?assignee=none").get_data(as_text=True)
    assert client.get("/incidents/?cursor=garbage").status_code == 400


def test_order_suggestions_are_json(login_as, make_supplier):
    make_order("ORD-55", make_supplier(code="LM-1"), customer_ref="CUST-1")
    items = login_as("viewer").get("/incidents/orders/suggest?q=CUST").get_json()
    assert items == [{"ref": "ORD-55", "customer_ref": "CUST-1"}]


def test_a_lost_parcel_shows_whether_the_customer_was_informed(login_as):
    """ISO 9001 §8.5.3: the incident keeps the record that the customer was told."""
    import datetime as dt

    from sqlalchemy import select

    from app.db import db
    from incidents.models import Incident, IncidentCategory
    from incidents.services.incidents import add_interaction

    category = db.session.scalar(select(IncidentCategory).where(IncidentCategory.code == "lost_parcel"))
    reported = dt.datetime(2026, 3, 10, 9, tzinfo=dt.timezone.utc)
    incident = Incident(category=category, channel="phone", priority="high", description="Pacco perso",
                        status="new", reported_at=reported, respond_by=reported + dt.timedelta(hours=8))
    db.session.add(incident)
    db.session.commit()
    client = login_as("operator")
    assert "has not been informed yet" in client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    add_interaction(incident, {"channel": "email", "direction": "outbound", "at": reported + dt.timedelta(hours=2),
                               "note": "Informato del pacco smarrito"}, None)
    db.session.commit()
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "The customer was informed on" in page and "has not been informed" not in page
