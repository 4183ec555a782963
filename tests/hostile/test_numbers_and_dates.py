"""Numbers and dates a user or a client may get wrong: SLA targets that are not finite or out of
range, reversed date ranges, promised times across the DST changes of Europe/Rome, and 10,000
legs in one API call (and one more). HOSTILE.md rows 33, 34, 41, 42 and 46.
"""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.db import db
from incidents.models import Incident, IncidentCategory, Leg

ROME = ZoneInfo("Europe/Rome")
UTC = dt.timezone.utc
SLA_JSON = {"name": "On time", "metric": "on_time_rate", "stage": "last_mile", "comparator": "gte", "target": 0.95,
            "window": "month", "min_sample": 1, "valid_from": "2026-01-01"}
SLA_FORM = {"name": "On-time delivery", "metric": "on_time_rate", "stage": "last_mile", "comparator": "gte",
            "target": "95", "warning_threshold": "", "window": "month", "min_sample": "20", "tolerance_minutes": "30",
            "honours_exclusions": "y", "penalty_kind": "none", "penalty_amount": "", "penalty_cap": "", "weight": "1",
            "valid_from": "2026-01-01", "valid_to": ""}


def error_beside(page: str, field: str) -> str:
    match = re.search(rf'<div class="invalid-feedback[^"]*" id="{field}-error">(.*?)</div>', page, re.S)
    return match.group(1).strip() if match else ""


@pytest.fixture
def courier(make_supplier):
    return make_supplier(code="LM-1", chain_roles=["last_mile"])


# SLA targets ----------------------------------------------------------------------------------

@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "-5", "1.01", "1e309", '"0x10"', '"12abc"',
                                     '""', "null", '"NaN"', '"Infinity"', "[]"])
def test_an_sla_target_that_is_not_a_finite_share_is_a_422_naming_it(api_client, courier, snapshot, literal):
    """Python's JSON reader turns NaN and Infinity into floats, and 1e309 into infinity: each
    must still be refused, as must a share below 0 or above 1 (100 %)."""
    client, headers = api_client("quality_manager")
    before = snapshot()
    body = '{"name": "x", "supplier": "LM-1", "metric": "on_time_rate", "stage": "last_mile", ' \
           f'"comparator": "gte", "window": "month", "target": {literal}, "valid_from": "2026-01-01"}}'
    response = client.post("/api/v1/slas", data=body, headers=headers | {"Content-Type": "application/json"})
    assert response.status_code == 422, (literal, response.get_json())
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed" and "target" in error["fields"], error
    assert snapshot() == before


@pytest.mark.parametrize("target, message", [
    ("NaN", "Enter a number."), ("inf", "Enter a number."), ("-inf", "Enter a number."), ("-5", "Enter a percentage from 0 to 100."),
    ("101", "Enter a percentage from 0 to 100."), ("1e309", "Enter a percentage from 0 to 100."),
])
def test_an_sla_target_in_the_form_is_refused_beside_its_field(login_as, courier, snapshot, target, message):
    client = login_as("quality_manager")
    before = snapshot()
    response = client.post_form("/suppliers/LM-1/slas/new", SLA_FORM | {"target": target})
    assert response.status_code == 422
    assert error_beside(response.get_data(as_text=True), "target") == message, target
    assert snapshot() == before


# Reversed date ranges -------------------------------------------------------------------------

def test_an_sla_ending_before_it_starts_is_refused_in_the_form_and_the_api(login_as, api_client, courier, snapshot):
    client = login_as("quality_manager")
    api, headers = api_client("quality_manager")
    before = snapshot()
    page = client.post_form("/suppliers/LM-1/slas/new", SLA_FORM | {"valid_from": "2026-06-01",
                                                                     "valid_to": "2026-05-31"})
    assert page.status_code == 422 and error_beside(page.get_data(as_text=True), "valid_to")
    response = api.post("/api/v1/slas", json=SLA_JSON | {"supplier": "LM-1", "valid_from": "2026-06-01",
                                                         "valid_to": "2026-05-31"}, headers=headers)
    assert response.status_code == 422 and "valid_to" in response.get_json()["error"]["fields"]
    assert snapshot() == before


def test_a_reversed_results_range_is_a_422_and_an_equal_one_is_one_month(api_client, courier):
    api, headers = api_client("viewer")
    reversed_range = api.get("/api/v1/suppliers/LM-1/sla-results?from=2026-05&to=2026-02", headers=headers)
    assert reversed_range.status_code == 422
    assert reversed_range.get_json()["error"]["code"] == "invalid_span"
    one_month = api.get("/api/v1/suppliers/LM-1/sla-results?from=2026-02&to=2026-02", headers=headers)
    assert one_month.status_code == 200


@pytest.mark.parametrize("url", ["/incidents/?from=2026-05-01&to=2026-02-01", "/orders/?from=2026-05-01&to=2026-02-01",
                                 "/service/dashboard?from=2026-05-01&to=2026-02-01",
                                 "/suppliers/LM-1/scorecard?from=2026-05&to=2026-02",
                                 "/suppliers/LM-1/evidence-pack.pdf?from=2026-05&to=2026-02"])
def test_a_reversed_filter_range_is_a_clear_4xx_or_an_empty_list_never_a_5xx(login_as, courier, url):
    response = login_as("viewer").get(url)
    assert response.status_code in (200, 400, 422), (url, response.status_code)
    page = response.get_data(as_text=True)
    assert "Traceback" not in page
    if response.status_code != 200:
        assert response.mimetype == "text/html" and "<h1" in page


# DST ------------------------------------------------------------------------------------------

def test_a_leg_promised_before_the_spring_change_is_late_by_elapsed_time(api_client, courier):
    """2026-03-29 in Rome: 02:00 CET jumps to 03:00 CEST. Promised 01:30 CET (00:30 UTC), done at
    03:30 CEST (01:30 UTC): one hour late, not two (README glossary, "Delay")."""
    api, headers = api_client("quality_manager")
    response = api.post("/api/v1/legs", json={"timezone": "Europe/Rome", "legs": [
        {"external_id": "DST-1", "order_ref": "O-DST", "stage": "last_mile", "supplier_code": "LM-1",
         "promised_at": "2026-03-29T01:30", "actual_at": "2026-03-29T03:30", "outcome": "completed"},
        {"external_id": "DST-2", "order_ref": "O-DST", "stage": "last_mile", "supplier_code": "LM-1",
         "promised_at": "2026-10-25T01:30", "actual_at": "2026-10-25T03:30", "outcome": "completed"}]},
        headers=headers)
    assert response.status_code == 201, response.get_json()
    spring = db.session.scalar(select(Leg).where(Leg.external_id == "DST-1"))
    assert spring.promised_at == dt.datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert spring.delay_seconds == 3600
    # 2026-10-25: 03:00 CEST goes back to 02:00 CET. 01:30 CEST (23:30 UTC) to 03:30 CET
    # (02:30 UTC) is three hours.
    autumn = db.session.scalar(select(Leg).where(Leg.external_id == "DST-2"))
    assert autumn.delay_seconds == 3 * 3600


def test_an_incident_response_due_24_hours_later_crosses_the_spring_change_in_elapsed_hours(api_client):
    """Reported 2026-03-28 10:00 CET; a 24-hour response is due 2026-03-29 11:00 CEST (23 hours of
    wall clock later), because due times are elapsed hours (incidents.services.respond_by_for)."""
    category = db.session.scalar(select(IncidentCategory).where(IncidentCategory.code == "late_delivery"))
    category.first_response_hours = 24
    db.session.commit()
    api, headers = api_client("operator")
    response = api.post("/api/v1/incidents", json={
        "external_id": "T-DST", "channel": "email", "category": "late_delivery", "priority": "normal",
        "description": "Late parcel", "reported_at": "2026-03-28T10:00:00+01:00"}, headers=headers)
    assert response.status_code == 201, response.get_json()
    incident = db.session.scalar(select(Incident).where(Incident.external_id == "T-DST"))
    assert incident.respond_by.astimezone(ROME) == dt.datetime(2026, 3, 29, 11, 0, tzinfo=ROME)
    assert incident.respond_by - incident.reported_at == dt.timedelta(hours=24 * _priority_factor("normal"))


def _priority_factor(priority: str):
    from incidents.models import PRIORITY_RESPONSE_FACTOR, Priority

    return PRIORITY_RESPONSE_FACTOR[Priority(priority)]


@pytest.mark.parametrize("moment", ["2026-02-29T10:00", "2026-13-01T10:00", "2026-03-29T25:00", "yesterday"])
def test_an_impossible_time_in_the_api_is_a_422_naming_the_leg_and_field(api_client, courier, snapshot, moment):
    api, headers = api_client("quality_manager")
    before = snapshot()
    response = api.post("/api/v1/legs", json={"legs": [
        {"external_id": "BAD-1", "order_ref": "O-BAD", "stage": "last_mile", "supplier_code": "LM-1",
         "promised_at": moment}]}, headers=headers)
    assert response.status_code == 422
    assert "legs.0.promised_at" in response.get_json()["error"]["fields"]
    assert snapshot() == before


# 10,000 legs and one more -----------------------------------------------------------------------

def _legs(n: int) -> list[dict]:
    return [{"external_id": f"BULK-{i}", "order_ref": f"BO-{i // 4}", "stage": "last_mile", "supplier_code": "LM-1",
             "promised_at": "2026-03-10T12:00", "sequence": i % 4 + 1} for i in range(n)]


def test_10001_legs_are_refused_whole_and_10000_are_recorded(api_client, courier, snapshot):
    api, headers = api_client("quality_manager")
    before = snapshot()
    too_many = api.post("/api/v1/legs", json={"legs": _legs(10_001)}, headers=headers)
    assert too_many.status_code == 422
    assert "legs" in too_many.get_json()["error"]["fields"]
    assert snapshot() == before
    accepted = api.post("/api/v1/legs", json={"legs": _legs(10_000)}, headers=headers)
    assert accepted.status_code == 201, accepted.get_json()
    assert accepted.get_json()["created"] == 10_000
    assert db.session.scalar(select(func.count()).select_from(Leg)) == 10_000
