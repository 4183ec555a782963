"""Pages and API of the audit programme: plans created with errors beside their fields, who may
change them, the calendar with the audits on their days, and the JSON API."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select, update

from app.db import db, unit_of_work
from app.i18n import today
from audits.models import Audit, AuditPlan
from audits.services import programme

D = dt.date


def _plan(**overrides) -> AuditPlan:
    values = {"name": "Carriers monthly", "recurrence": "monthly", "day_of_month": 5,
              "supplier_scope": "rule", "rule": {"chain_roles": ["carrier"]}, "starts_on": D(2026, 1, 1)}
    values.update(overrides)
    with unit_of_work():
        return programme.create_plan(values, None)


def _form(**overrides) -> dict:
    data = {"name": "Monthly carriers", "audit_type": "remote_sla_review", "supplier_scope": "rule",
            "rule_chain_roles": ["carrier"], "recurrence": "monthly", "day_of_month": "5", "month": "",
            "cron": "", "period_basis": "previous_month", "lead_auditor_id": "", "lead_time_days": "7",
            "major_margin": "0.10", "starts_on": "2026-01-01", "checklist_template_id": "",
            "risk_low": "", "risk_medium": "", "risk_high": "", "risk_critical": ""}
    data.update(overrides)
    return data


def _field_error(html: str, field: str) -> str | None:
    match = re.search(rf'id="{field}-error">([^<]+)<', html)
    return match.group(1) if match else None


# Plans ------------------------------------------------------------------------------------------

def test_a_quality_manager_creates_a_monthly_plan_over_all_carriers(login_as, factories):
    manager = login_as("quality_manager")
    auditor = factories.user("auditor", name="Anna Auditrice")
    page = manager.get("/audits/plans/new")
    assert page.status_code == 200 and "Anna Auditrice" in page.get_data(as_text=True)

    response = manager.post_form("/audits/plans/new", _form(lead_auditor_id=str(auditor.id)))
    assert response.status_code == 302, response.get_data(as_text=True)
    plan = db.session.scalar(select(AuditPlan))
    assert (plan.name, plan.rule["chain_roles"], plan.lead_auditor_id) == ("Monthly carriers", ["carrier"], auditor.id)
    assert response.headers["Location"].endswith(f"/audits/plans/{plan.id}")

    detail = manager.get(f"/audits/plans/{plan.id}").get_data(as_text=True)
    assert "Every month on day 5" in detail and "Anna Auditrice" in detail
    # The next 12 firings, from today.
    assert len(re.findall(r"<li>", detail.split("next-firings", 1)[1].split("</ol>", 1)[0])) == 12


def test_errors_are_shown_beside_their_fields_and_nothing_is_saved(login_as):
    manager = login_as("quality_manager")
    response = manager.post_form("/audits/plans/new", _form(
        recurrence="cron", cron="0 2 1 */2 * *", day_of_month="31", supplier_scope="list", suppliers="NOPE-1",
        risk_critical="monthly"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Not a valid cron expression" in _field_error(html, "cron")
    assert "1 to 28" in _field_error(html, "day_of_month")
    assert "NOPE-1" in _field_error(html, "suppliers")
    assert "only shorten" in html
    assert db.session.scalar(select(func.count()).select_from(AuditPlan)) == 0

    response = manager.post_form("/audits/plans/new", _form(recurrence="yearly"))
    assert response.status_code == 422
    assert "yearly plan needs the month" in _field_error(response.get_data(as_text=True), "month")


def test_editing_a_plan_keeps_its_values_and_refuses_a_stale_copy(login_as):
    manager = login_as("quality_manager")
    plan = _plan()
    page = manager.get(f"/audits/plans/{plan.id}/edit").get_data(as_text=True)
    assert 'value="Carriers monthly"' in page
    response = manager.post_form(f"/audits/plans/{plan.id}/edit",
                                 _form(name="Carriers, quarterly", recurrence="quarterly", version=str(plan.version)))
    assert response.status_code == 302
    db.session.refresh(plan)
    assert (plan.name, plan.recurrence) == ("Carriers, quarterly", "quarterly")
    stale = manager.post_form(f"/audits/plans/{plan.id}/edit", _form(name="Late edit", version="1"))
    assert stale.status_code == 409 and "changed by someone else" in stale.get_data(as_text=True)


@pytest.mark.parametrize("role", ["viewer", "operator", "auditor"])
def test_only_the_quality_office_changes_the_programme(login_as, role):
    plan = _plan()
    user = login_as(role)
    assert user.get("/audits/plans").status_code == 200
    assert user.get(f"/audits/plans/{plan.id}").status_code == 200
    assert user.get("/audits/calendar").status_code == 200
    assert user.get("/audits/plans/new").status_code == 403
    assert user.post_form("/audits/plans/new", _form()).status_code == 403
    assert user.post_form(f"/audits/plans/{plan.id}/edit", _form()).status_code == 403
    for action in ("deactivate", "activate", "run-due"):
        assert user.post_form(f"/audits/plans/{plan.id}/{action}").status_code == 403
    assert db.session.scalar(select(func.count()).select_from(AuditPlan)) == 1


def test_run_due_now_and_deactivate_from_the_plan_page(login_as, factories):
    factories.supplier(chain_roles=["carrier"])
    manager = login_as("quality_manager")
    plan = _plan(starts_on=today() - dt.timedelta(days=70))
    response = manager.post_form(f"/audits/plans/{plan.id}/run-due", {"version": plan.version},
                                 follow_redirects=True)
    html = response.get_data(as_text=True)
    created = db.session.scalar(select(func.count()).select_from(Audit).where(Audit.plan_id == plan.id))
    assert created in (2, 3)         # the 5th of each month in the last 70 days
    assert f"{created} firings, {created} audits created." in html
    again = manager.post_form(f"/audits/plans/{plan.id}/run-due", {"version": plan.version}, follow_redirects=True)
    assert "0 firings, 0 audits created." in again.get_data(as_text=True)

    manager.post_form(f"/audits/plans/{plan.id}/deactivate", {"version": plan.version})
    db.session.refresh(plan)
    assert plan.is_active is False
    assert "None: the plan is inactive." in manager.get(f"/audits/plans/{plan.id}").get_data(as_text=True)


# The calendar -------------------------------------------------------------------------------------

def test_the_calendar_shows_each_audit_on_its_day_in_its_status_colour(login_as, factories):
    factories.supplier(chain_roles=["carrier"], code="CAL-A")
    second = factories.supplier(chain_roles=["carrier"], code="CAL-B")
    plan = _plan(lead_time_days=3)
    with unit_of_work():
        programme.fire(plan, D(2026, 3, 5))         # planned for 2026-03-08
    audit_b = db.session.scalar(select(Audit).where(Audit.supplier_id == second.id))
    db.session.execute(update(Audit).where(Audit.id == audit_b.id).values(status="in_progress"))
    db.session.commit()

    viewer = login_as("viewer")
    html = viewer.get("/audits/calendar?month=2026-03").get_data(as_text=True)
    grid = html.split('class="table table-bordered cal-grid"', 1)[1].split("</table>", 1)[0]
    cell = grid.split('data-date="2026-03-08"', 1)[1].split("</td>", 1)[0]
    assert "CAL-A" in cell and "cal-status-planned" in cell and "text-bg-secondary" in cell and "Planned" in cell
    assert "CAL-B" in cell and "cal-status-in_progress" in cell and "text-bg-info" in cell and "In progress" in cell
    other = grid.split('data-date="2026-03-09"', 1)[1].split("</td>", 1)[0]
    assert "CAL-A" not in other
    assert f"/audits/{audit_b.id}" in cell                 # the audit's page
    # The list view (and what a phone shows): both audits of the month, by day.
    listing = viewer.get("/audits/calendar?month=2026-03&view=list").get_data(as_text=True)
    assert "cal-grid" not in listing.split("cal-legend", 1)[1].split("cal-list", 1)[0]
    assert listing.count("cal-list-item") == 2
    # A bad month falls back to this month, never an error.
    assert viewer.get("/audits/calendar?month=2026-13").status_code == 200
    assert viewer.get("/audits/calendar?month=<script>").status_code == 200


def test_the_calendar_shows_firings_still_to_come_faintly(login_as, factories):
    factories.supplier(chain_roles=["carrier"])
    plan = _plan(name="Future firings", starts_on=today())
    day = programme.next_firing_days(plan, today(), 1)[0]
    html = login_as("viewer").get(f"/audits/calendar?month={day:%Y-%m}").get_data(as_text=True)
    cell = html.split(f'data-date="{day.isoformat()}"', 1)[1].split("</td>", 1)[0]
    assert "cal-firing" in cell and "Future firings" in cell


# The API --------------------------------------------------------------------------------------------

def test_the_api_creates_lists_and_updates_plans(api_client, factories):
    client, headers = api_client("quality_manager")
    auditor = factories.user("auditor")
    body = {"name": "Quarterly warehouses", "recurrence": "quarterly", "day_of_month": 10,
            "period_basis": "previous_quarter", "supplier_scope": "rule", "rule": {"chain_roles": ["warehouse"]},
            "risk_recurrence": {"critical": "monthly"}, "lead_auditor_id": auditor.id, "starts_on": "2026-01-01"}
    created = client.post("/api/v1/audit-plans", json=body, headers=headers)
    assert created.status_code == 201, created.get_json()
    plan = created.get_json()
    assert (plan["recurrence"], plan["risk_recurrence"], plan["lead_auditor"]) == (
        "quarterly", {"critical": "monthly"}, auditor.email)

    for n in range(2):
        client.post("/api/v1/audit-plans", json={**body, "name": f"Z plan {n}"}, headers=headers)
    first = client.get("/api/v1/audit-plans?limit=2", headers=headers).get_json()
    assert [p["name"] for p in first["items"]] == ["Quarterly warehouses", "Z plan 0"] and first["next"]
    rest = client.get(f"/api/v1/audit-plans?limit=2&cursor={first['next']}", headers=headers).get_json()
    assert [p["name"] for p in rest["items"]] == ["Z plan 1"] and rest["next"] is None

    patched = client.patch(f"/api/v1/audit-plans/{plan['id']}", json={"day_of_month": 12, "version": plan["version"]},
                           headers=headers)
    assert patched.status_code == 200 and patched.get_json()["day_of_month"] == 12
    stale = client.patch(f"/api/v1/audit-plans/{plan['id']}", json={"day_of_month": 14, "version": plan["version"]},
                         headers=headers)
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_record"
    off = client.patch(f"/api/v1/audit-plans/{plan['id']}", json={"is_active": False}, headers=headers)
    assert off.get_json()["is_active"] is False


def test_the_api_refuses_bad_plans_with_field_codes(api_client):
    client, headers = api_client("quality_manager")
    response = client.post("/api/v1/audit-plans", json={"name": "Bad", "recurrence": "cron", "cron": "every day",
                                                         "starts_on": "2026-01-01"}, headers=headers)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_plan" and set(error["fields"]) == {"cron"}
    response = client.post("/api/v1/audit-plans", json={"name": "Bad", "starts_on": "2026-02-30",
                                                         "day_of_month": "5"}, headers=headers)
    assert response.status_code == 422 and {"starts_on", "day_of_month"} <= set(response.get_json()["error"]["fields"])
    assert client.get("/api/v1/audit-plans/999999", headers=headers).status_code == 404
    assert client.get("/api/v1/audit-plans?cursor=garbage", headers=headers).get_json()["error"]["code"] \
        == "invalid_cursor"
    viewer, viewer_headers = api_client("viewer")
    assert viewer.post("/api/v1/audit-plans", json={"name": "X", "starts_on": "2026-01-01"},
                       headers=viewer_headers).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(AuditPlan)) == 0


def test_the_api_runs_a_plan_due_once(api_client, factories):
    factories.supplier(chain_roles=["carrier"])
    plan = _plan(starts_on=D(2026, 1, 1))
    client, headers = api_client("quality_manager")
    first = client.post(f"/api/v1/audit-plans/{plan.id}/run-due", json={"at": "2026-03-10"}, headers=headers)
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["firings"] == [{"scheduled_for": "2026-01-05", "audits_created": 1},
                                           {"scheduled_for": "2026-02-05", "audits_created": 1},
                                           {"scheduled_for": "2026-03-05", "audits_created": 1}]
    again = client.post(f"/api/v1/audit-plans/{plan.id}/run-due", json={"at": "2026-03-10"}, headers=headers)
    assert again.get_json()["audits_created"] == 0 and again.get_json()["firings"] == []
    future = (today() + dt.timedelta(days=1)).isoformat()
    refused = client.post(f"/api/v1/audit-plans/{plan.id}/run-due", json={"at": future}, headers=headers)
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "future_date"
    viewer, viewer_headers = api_client("viewer")
    assert viewer.post(f"/api/v1/audit-plans/{plan.id}/run-due", json={}, headers=viewer_headers).status_code == 403
