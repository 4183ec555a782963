"""Every route, read from app.url_map: guessed ids, ids of another record's children, posts
without a CSRF token, the API reached with the session cookie alone, bodies that are not JSON
or have wrong types. HOSTILE.md rows 57, 62, 63 and the IDOR and JSON items of issue 9.

Each case expects a clean 4xx (an error page, or the API's `{"error": {"code", ...}}` with a
stable code) and a database in which not one row changed (`snapshot`).
"""
from __future__ import annotations

import datetime as dt
import re
import secrets

import pytest
from flask import url_for

from app.db import db, unit_of_work
from app.errors import HTTP_ERROR_CODES
from audits.models import AuditEvidence
from audits.services import conduct
from incidents.models import ChargebackStatement
from suppliers import services as supplier_services
from suppliers.models import Certificate
from tests.hostile.routes import all_routes, api_writes, form_posts, ids, routes_with_ids
from tests.questionnaires.conftest import build_questionnaire

#: An id no test creates, inside what the database can store (larger ones never reach a view).
MISSING_ID = 987_654_321
#: Values for the routes' other arguments: they name something that exists (the supplier is
#: made by the fixture), so that the id alone is what is wrong.
TOKEN = "A" * 43


def _url(app, route, values: dict) -> str:
    with app.test_request_context():
        return url_for(route.endpoint, **values)


def _fill(route, supplier_code: str, id_value: int = MISSING_ID) -> dict:
    known = {"code": supplier_code, "kind": "suppliers", "role": "carrier", "token": TOKEN, "ref": "NO-ORDER"}
    return {name: (id_value if name in route.id_arguments else known[name]) for name in route.arguments}


@pytest.fixture
def admin(login_as):
    return login_as("admin")


@pytest.fixture
def admin_api(api_client):
    return api_client("admin")


def _send(route, url, browser, api, **body):
    if route.is_api:
        client, headers = api
        return client.open(url, method=route.method, headers=headers, **({"json": {}} | body))
    if route.method == "GET":
        return browser.get(url)
    return browser.post_form(url, {})


# Guessed ids ----------------------------------------------------------------------------------

@pytest.mark.parametrize("route", routes_with_ids(), ids=ids(routes_with_ids()))
def test_a_guessed_id_that_names_nothing_is_404_and_changes_nothing(app, route, admin, admin_api, make_supplier,
                                                                    snapshot):
    """As an administrator, who may see everything: a 404 page or JSON, never a 5xx."""
    supplier = make_supplier()
    before = snapshot()
    response = _send(route, _url(app, route, _fill(route, supplier.code)), admin, admin_api)
    if route.is_api and response.status_code == 422:
        # The API checks an empty body against its schema before loading the record: still
        # nothing about the record is told.
        assert response.get_json()["error"]["fields"], str(route)
    else:
        assert response.status_code == 404, (str(route), response.status_code)
    if route.is_api:
        assert response.get_json()["error"]["code"] in ("not_found", "validation_failed")
    else:
        assert "Page not found" in response.get_data(as_text=True)
    assert snapshot() == before


def _stored_pdf(upload_dir) -> str:
    """A real file under a generated name, so that a lookup that ignores the parent would
    find it and serve it (a missing file would hide the fault behind a 404)."""
    name = secrets.token_hex(16) + ".pdf"
    upload_dir.mkdir(parents=True, exist_ok=True)
    (upload_dir / name).write_bytes(b"%PDF-1.4\n%%EOF\n")
    return name


@pytest.fixture
def two_of_each(make_supplier, make_finding, make_audit, carrier_questionnaire, send_questionnaire, upload_dir):
    """Parent A with no children and parent B with one of each: A's URL with B's child id
    must find nothing. Returns [(parent argument values of A, child argument, child id of B)]."""
    supplier_a, supplier_b = make_supplier(), make_supplier()
    contact_b = supplier_services.add_contact(supplier_b, {"name": "Bea Bianchi", "email": "bea@b.example"}, None)
    audit_a = make_audit(supplier_a, "2026-03")
    finding_b = make_finding("minor_nc")
    with unit_of_work():
        participant_b = conduct.add_participant(finding_b.audit, {"name": "Piero Neri", "role": "auditee"}, None)
    version_a = build_questionnaire(name="Questionnaire A", publish=False)
    version_b = build_questionnaire(name="Questionnaire B", publish=False)
    section_b = version_b.sections[0]
    assignment_a, _ = send_questionnaire(carrier_questionnaire)
    with db.session.no_autoflush:
        certificate_b = Certificate(supplier=supplier_b, standard="ISO 9001", file_name="b.pdf",
                                    stored_name=_stored_pdf(upload_dir), content_type="application/pdf",
                                    size_bytes=14)
        evidence_b = AuditEvidence(audit=finding_b.audit, stored_name=_stored_pdf(upload_dir), file_name="b.pdf",
                                   content_type="application/pdf", size_bytes=14)
        statement_b = ChargebackStatement(supplier=supplier_b, period_start=dt.date(2026, 3, 1),
                                          period_end=dt.date(2026, 3, 31), version=1)
        db.session.add_all([certificate_b, evidence_b, statement_b])
    db.session.commit()
    return [
        ({"code": supplier_a.code}, "contact_id", contact_b.id),
        ({"audit_id": audit_a.id}, "finding_id", finding_b.id),
        ({"audit_id": audit_a.id}, "participant_id", participant_b.id),
        ({"version_id": version_a.id}, "section_id", section_b.id),
        ({"version_id": version_a.id, "section_id": version_a.sections[0].id}, "question_id",
         section_b.questions[0].id),
        ({"assignment_id": assignment_a.id}, "question_id", section_b.questions[0].id),
        ({"version_id": version_a.id}, "question_id", section_b.questions[0].id),
        ({"code": supplier_a.code}, "certificate_id", certificate_b.id),
        ({"code": supplier_a.code}, "statement_id", statement_b.id),
        ({"audit_id": audit_a.id}, "evidence_id", evidence_b.id),
    ]


#: Children reached under a parent whose cross-parent case lives in a domain test, which
#: builds the records it needs (files, statements, disputes). A new nested route must be
#: added either to `two_of_each` or here, with its test.
CROSS_PARENT_ELSEWHERE = {
    "evidence_id": "the incident's evidence: tests/incidents/test_documents.py",
    "file_id": "tests/questionnaires/test_assignment_views.py::test_evidence_downloads_only_through_its_own_"
               "assignment, tests/questionnaires/test_portal_hostile.py::test_a_link_reaches_only_its_own_evidence, "
               "tests/audits/test_action_portal.py::test_a_link_reaches_only_its_own_action",
    "dispute_id": "tests/incidents/test_disputes.py::test_a_dispute_of_another_incident_is_404_on_the_staff_side",
}

NESTED = [r for r in all_routes() if len(r.id_arguments) + ("code" in r.arguments) + ("token" in r.arguments) >= 2]


@pytest.mark.parametrize("route", NESTED, ids=ids(NESTED))
def test_a_child_of_another_parent_is_404(app, route, admin, admin_api, two_of_each, snapshot):
    child = route.id_arguments[-1]
    found = [(parents, child_id) for parents, name, child_id in two_of_each
             if name == child and set(parents) | {child} == set(route.arguments)]
    if not found and child in CROSS_PARENT_ELSEWHERE:
        pytest.skip(f"{child}: {CROSS_PARENT_ELSEWHERE[child]}")
    assert found, f"{route}: add {child} under its parent to two_of_each, or to CROSS_PARENT_ELSEWHERE"
    parents, child_id = found[0]
    before = snapshot()
    response = _send(route, _url(app, route, {**parents, child: child_id}), admin, admin_api)
    assert response.status_code == 404, (str(route), response.status_code)
    assert snapshot() == before


def test_the_children_of_the_cross_parent_cases_are_reachable_under_their_own_parent(admin, two_of_each):
    """The control for the test above: under their own parent, B's files are served, so the
    404s there come from the parent check, not from a missing file."""
    certificate_id = next(c for _, name, c in two_of_each if name == "certificate_id")
    evidence_id = next(c for _, name, c in two_of_each if name == "evidence_id")
    certificate = db.session.get(Certificate, certificate_id)
    evidence = db.session.get(AuditEvidence, evidence_id)
    assert admin.get(f"/suppliers/{certificate.supplier.code}/certificates/{certificate.id}/file").status_code == 200
    assert admin.get(f"/audits/{evidence.audit_id}/evidence/{evidence.id}").status_code == 200


# CSRF -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("route", form_posts(), ids=ids(form_posts()))
def test_a_form_post_without_csrf_token_is_400_and_writes_nothing(app, route, admin, make_supplier, snapshot):
    """Signed in as an administrator, with the session cookie a cross-site form would carry."""
    supplier = make_supplier()
    assert app.config.get("WTF_CSRF_ENABLED", True) is True  # the suite runs with CSRF on
    before = snapshot()
    url = _url(app, route, _fill(route, supplier.code, id_value=1))
    response = admin.raw.post(url, data={"name": "x", "reason": "x", "status": "approved"})
    assert response.status_code == 400, (str(route), response.status_code)
    assert "The request could not be understood" in response.get_data(as_text=True)
    assert snapshot() == before


@pytest.mark.parametrize("route", api_writes(), ids=ids(api_writes()))
def test_the_api_refuses_the_session_cookie_alone(app, route, admin, make_supplier, snapshot):
    supplier = make_supplier()
    before = snapshot()
    response = admin.raw.open(_url(app, route, _fill(route, supplier.code, id_value=1)), method=route.method,
                              json={"legal_name": "Forged"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert snapshot() == before


# JSON bodies ----------------------------------------------------------------------------------

#: (body, content type): bodies that are not a JSON object.
NOT_JSON = [
    (b"{'legal_name': 'x',", "application/json"),               # broken JSON
    (b"legal_name=x", "application/x-www-form-urlencoded"),     # a form
    (b"\xff\xfe\x00garbage", "application/json"),               # not UTF-8
    (b"[1, 2, 3]", "application/json"),                         # a list
    (b'"a string"', "application/json"),
    (b"null", "application/json"),
    (b'{"target": NaN, "legal_name": Infinity}', "application/json"),
]
BODY_ROUTES = [r for r in api_writes() if r.endpoint not in {
    # No body at all: publishing and running are verbs on the id.
    "questionnaire_templates_api.publish_template", "audit_plans_api.run_due",
    # A multipart upload, not JSON (tests/questionnaires/test_import_views.py covers it).
    "questionnaire_import_api.import_templates",
}]


@pytest.mark.parametrize("route", BODY_ROUTES, ids=ids(BODY_ROUTES))
def test_a_body_that_is_not_a_json_object_is_a_json_4xx_and_writes_nothing(
        app, route, admin_api, api_fixtures, snapshot):
    client, headers = admin_api
    url = _url(app, route, api_fixtures(route))
    before = snapshot()
    for body, content_type in NOT_JSON:
        response = client.open(url, method=route.method, data=body, headers=headers | {"Content-Type": content_type})
        assert response.status_code in (400, 415, 422), (str(route), body, response.status_code)
        error = response.get_json()["error"]
        assert error["code"] in set(HTTP_ERROR_CODES.values()), (body, error)
        assert error["message"] and "Traceback" not in response.get_data(as_text=True)
    assert snapshot() == before


def _wrong_type(schema: dict, spec: dict):
    """A value of the wrong JSON type for `schema` (following $ref)."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    kind = schema.get("type")
    if kind == "string" or "enum" in schema:
        return {"not": "a string"}
    if kind in ("integer", "number"):
        return "12abc"
    if kind == "boolean":
        return "perhaps"
    if kind == "array":
        return "not a list"
    return 42  # an object (or anything else) sent as a number


@pytest.mark.parametrize("route", BODY_ROUTES, ids=ids(BODY_ROUTES))
def test_every_field_of_the_wrong_type_is_named_in_a_422(app, route, client, admin_api, api_fixtures, snapshot):
    """Every property of the operation's documented body is sent with the wrong JSON type; the
    422 names each of them in `fields`."""
    spec = client.get("/api/v1/openapi.json").get_json()
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.rule)
    body_schema = spec["paths"][path][route.method.lower()]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in body_schema:
        body_schema = spec["components"]["schemas"][body_schema["$ref"].rsplit("/", 1)[1]]
    properties = {name: prop for name, prop in body_schema["properties"].items() if not prop.get("readOnly")}
    assert properties
    body = {name: _wrong_type(prop, spec) for name, prop in properties.items()}
    api, headers = admin_api
    before = snapshot()
    response = api.open(_url(app, route, api_fixtures(route)), method=route.method, json=body, headers=headers)
    assert response.status_code == 422, (str(route), response.status_code, response.get_json())
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error["fields"]) == set(properties), str(route)
    assert snapshot() == before


@pytest.fixture
def api_fixtures(make_supplier, make_audit):
    """api_fixtures(route) → URL values naming existing records, so only the body is wrong."""
    from audits.models import AuditPlan
    from suppliers.services.standards import create_standard
    from questionnaires.services import templates as template_service

    supplier = make_supplier(chain_roles=["last_mile"])
    standard = create_standard({"name": "On time", "metric": "on_time_rate", "stage": "last_mile",
                                "comparator": "gte", "target": "0.95", "window": "month", "min_sample": 1,
                                "valid_from": dt.date(2025, 1, 1)}, None, supplier=supplier)
    plan = AuditPlan(name="Plan", starts_on=dt.date(2025, 1, 1))
    db.session.add(plan)
    template = template_service.create_template({"name": "T", "title": "T", "pass_mark": 70,
                                                 "validity_months": 12}, None)
    db.session.commit()
    known = {"code": supplier.code, "standard_id": standard.id, "plan_id": plan.id, "template_id": template.id}
    return lambda route: {name: known[name] for name in route.arguments}


# Records owned by one user ----------------------------------------------------------------------

JOB_ROUTES = [r for r in all_routes() if "job_id" in r.id_arguments]


def test_another_users_export_job_is_404_on_every_job_route(app, login_as, api_client):
    """An export job belongs to who asked for it (reports.exports.job_of): the same role, or an
    administrator, gets 404 on each job route, web and API; the owner gets the finished file."""
    from reports.exports import exports_dir, new_stored_name
    from reports.models import ExportJob

    owner = login_as("viewer")
    stored = new_stored_name()
    (exports_dir() / stored).write_bytes(b"PK\x03\x04 workbook")
    job = ExportJob(user_id=owner.user.id, kind="suppliers", params={}, locale="en", status="done", rows_done=1,
                    rows_total=1, stored_name=stored, file_name="suppliers.xlsx", size_bytes=16, attempts=1)
    db.session.add(job)
    db.session.commit()
    assert len(JOB_ROUTES) >= 5
    try:
        assert owner.get(f"/exports/jobs/{job.id}/download").status_code == 200
        other, admin = login_as("viewer"), login_as("admin")
        api, headers = api_client("admin")
        for route in JOB_ROUTES:
            url = _url(app, route, {"job_id": job.id})
            for browser in (other, admin):
                response = api.get(url, headers=headers) if route.is_api else browser.get(url)
                assert response.status_code == 404, (str(route), response.status_code)
    finally:
        (exports_dir() / stored).unlink(missing_ok=True)
