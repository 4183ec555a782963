"""The quality office's corrective-action pages and the JSON API, over HTTP."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import render_template_string
from sqlalchemy import select

from app.db import db, unit_of_work
from app.i18n import today as company_today
from audits.models import CorrectiveAction
from audits.services import actions as service
from tests.audits.action_fixtures import make_finding, request_action  # noqa: F401  (fixtures)
from tests.audits.action_fixtures import mails, on_time_sla


def submitted(action):
    values = {"containment": "Parcels re-sorted.", "root_cause": "No shift plan.", "action_plan": "Shift plan.",
              "action_due_date": (company_today() + dt.timedelta(days=10)).isoformat()}
    with unit_of_work():
        service.respond(action, values, [], set(), submit=True)


def test_request_from_a_finding_then_review_cycle(login_as, make_finding):
    manager = login_as("quality_manager")
    finding = make_finding()
    finding.series_id = on_time_sla(finding.audit.supplier).series_id
    db.session.commit()
    due = (company_today() + dt.timedelta(days=14)).isoformat()
    form_page = manager.get(f"/audits/actions/new?finding_id={finding.id}")
    assert form_page.status_code == 200
    assert re.search(r'<input checked[^>]*value="sla"', form_page.get_data(as_text=True))
    response = manager.post_form("/audits/actions/new", {
        "finding_id": finding.id, "due_date": due, "effectiveness_method": "sla", "effectiveness_periods": "3",
        "language": "it", "request_text": "Per favore rispondete."})
    assert response.status_code == 302
    action = db.session.scalar(select(CorrectiveAction).where(CorrectiveAction.finding_id == finding.id))
    assert response.headers["Location"].endswith(f"/audits/actions/{action.id}")
    assert (action.language, action.effectiveness_periods, action.series_id) == ("it", 3, finding.series_id)
    assert len(mails("action_requested")) == 1
    # A second request for the same finding is refused.
    again = manager.post_form("/audits/actions/new", {
        "finding_id": finding.id, "due_date": due, "effectiveness_method": "manual", "language": "en"})
    assert again.status_code == 409

    submitted(action)
    page = manager.get(f"/audits/actions/{action.id}").get_data(as_text=True)
    assert "Parcels re-sorted." in page and "send-back" in page
    # Sending back needs a note.
    empty = manager.post_form(f"/audits/actions/{action.id}/send-back", {"version": action.version, "note": ""})
    assert empty.status_code == 422
    back = manager.post_form(f"/audits/actions/{action.id}/send-back",
                             {"version": action.version, "note": "Add the training records."})
    assert back.status_code == 302
    db.session.refresh(action)
    assert action.status == "returned"
    submitted(action)
    db.session.refresh(action)
    stale = manager.post_form(f"/audits/actions/{action.id}/accept", {"version": action.version - 1})
    assert stale.status_code == 409
    accepted = manager.post_form(f"/audits/actions/{action.id}/accept", {"version": action.version})
    assert accepted.status_code == 302
    db.session.refresh(action)
    assert action.status == "accepted"
    page = manager.get(f"/audits/actions/{action.id}").get_data(as_text=True)
    assert "Not yet: the periods are not over" in page


def test_manual_verification_form_needs_a_note(login_as, make_finding, request_action):
    manager = login_as("quality_manager")
    action = request_action(make_finding(grade="minor_nc"), manager.user, today=company_today())
    submitted(action)
    with unit_of_work():
        service.accept(action, None, manager.user, action.version)
    refused = manager.post_form(f"/audits/actions/{action.id}/verify-manually",
                                {"version": action.version, "effective": "yes", "note": ""})
    assert refused.status_code == 422
    done = manager.post_form(f"/audits/actions/{action.id}/verify-manually",
                             {"version": action.version, "effective": "no", "note": "Still late in the audit sample."})
    assert done.status_code == 302
    db.session.refresh(action)
    assert (action.status, action.effectiveness_result) == ("ineffective",
                                                            "Verified not effective: Still late in the audit sample.")
    page = manager.get(f"/audits/actions/{action.id}").get_data(as_text=True)
    assert "Verified not effective: Still late in the audit sample." in page and "verify-manually" not in page


def test_viewer_reads_but_cannot_act(login_as, make_finding, request_action):
    viewer = login_as("viewer")
    action = request_action(make_finding(), today=company_today())
    submitted(action)
    assert viewer.get(f"/audits/actions/{action.id}").status_code == 200
    assert viewer.get("/audits/actions").status_code == 200
    response = viewer.post_form(f"/audits/actions/{action.id}/accept", {"version": action.version})
    assert response.status_code == 403
    db.session.refresh(action)
    assert action.status == "responded"


def test_staff_post_without_csrf_is_400(login_as, make_finding, request_action):
    manager = login_as("quality_manager")
    action = request_action(make_finding(), today=company_today())
    submitted(action)
    response = manager.post(f"/audits/actions/{action.id}/accept", data={"version": action.version})
    assert response.status_code == 400
    db.session.refresh(action)
    assert action.status == "responded"


def test_list_filters_and_overdue_in_red(login_as, make_finding, request_action):
    manager = login_as("quality_manager")
    today = company_today()
    late = request_action(make_finding(), today=today - dt.timedelta(days=10), due_date=today - dt.timedelta(days=1))
    on_time = request_action(make_finding(grade="minor_nc"), today=today)
    page = manager.get("/audits/actions?overdue=y").get_data(as_text=True)
    assert f">CA-{late.id}<" in page and f">CA-{on_time.id}<" not in page
    assert 'class="table-danger"' in page
    by_supplier = manager.get(f"/audits/actions?supplier={on_time.supplier.code}").get_data(as_text=True)
    assert f">CA-{on_time.id}<" in by_supplier and f">CA-{late.id}<" not in by_supplier
    home = manager.get("/").get_data(as_text=True)
    assert "Overdue corrective actions" in home and f">CA-{late.id}<" in home


def test_action_panel_under_a_nonconformity(app, login_as, make_finding, request_action):
    manager = login_as("quality_manager")
    finding = make_finding()
    template = "{{ action_panel(finding) }}"
    with app.test_request_context():
        from flask_login import login_user
        login_user(manager.user)
        empty = render_template_string(template, finding=finding)
    assert "Request corrective action" in empty and 'name="finding_id"' in empty
    action = request_action(finding, today=company_today())
    with app.test_request_context():
        from flask_login import login_user
        login_user(manager.user)
        listed = render_template_string(template, finding=finding)
    assert f"CA-{action.id}" in listed and 'name="finding_id"' not in listed


def test_api_lists_with_filters_and_reads_one(api_client, make_finding, request_action):
    api, headers = api_client("viewer")
    today = company_today()
    late = request_action(make_finding(), today=today - dt.timedelta(days=10), due_date=today - dt.timedelta(days=1))
    fresh = request_action(make_finding(grade="minor_nc"), today=today)
    submitted(fresh)

    def ids(query):
        response = api.get(f"/api/v1/corrective-actions{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert ids("") == [late.id, fresh.id]                      # earliest due first
    assert ids("?overdue=true") == [late.id]
    assert ids("?status=responded") == [fresh.id]
    assert ids(f"?supplier={late.supplier.code}") == [late.id]
    page = api.get("/api/v1/corrective-actions?limit=1", headers=headers).get_json()
    assert len(page["items"]) == 1 and page["next"]
    assert api.get("/api/v1/corrective-actions?status=nonsense", headers=headers).status_code == 422
    one = api.get(f"/api/v1/corrective-actions/{late.id}", headers=headers).get_json()
    assert (one["status"], one["supplier"], one["overdue"], one["finding"]["grade"]) == \
        ("requested", late.supplier.code, True, "major_nc")
    assert one["effectiveness"]["state"] == "not_applicable"
    assert api.get("/api/v1/corrective-actions/999999", headers=headers).status_code == 404
    assert api.get("/api/v1/corrective-actions").status_code == 401


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_request_form_post_is_refused_to_roles_without_actions_manage(login_as, make_finding, role):
    client = login_as(role)
    finding = make_finding()
    response = client.post_form("/audits/actions/new", {"finding_id": finding.id, "due_date": "2030-01-01",
                                                        "effectiveness_method": "manual", "language": "en"})
    assert response.status_code == 403
