"""The questionnaire-templates API: list, get, create with content, publish, and its errors."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db import db
from questionnaires.models import Question, QuestionnaireTemplate, Section, TemplateVersion
from questionnaires.services import templates as svc

URL = "/api/v1/questionnaire-templates"


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _payload(**overrides) -> dict:
    body = {
        "name": "Carrier qualification",
        "pass_mark": 70, "conditional_mark": 50, "validity_months": 24,
        "sections": [
            {"title": "Organisation", "questions": [
                {"type": "yes_no", "text": "ISO 9001 certified?", "weight": 2,
                 "options": [{"value": "yes", "label": "Yes", "score": 1},
                             {"value": "no", "label": "No", "score": 0, "knockout": True}]},
                {"type": "short_text", "text": "Certificate number", "weight": 0, "required": False,
                 "condition_key": "Q1", "condition_values": ["yes"]},
            ]},
            {"title": "Insurance", "questions": [
                {"key": "cover", "type": "number", "text": "Cover", "unit": "EUR",
                 "scoring": {"bands": [{"min": 0, "max": 1000000, "score": 0, "knockout": True},
                                       {"min": 1000000, "max": None, "score": 1}]}},
            ]},
        ],
    }
    body.update(overrides)
    return body


def _template(name: str, publish: bool) -> QuestionnaireTemplate:
    template = svc.build_template({"name": name, "pass_mark": 70, "validity_months": 12, "sections": [
        {"title": "Only", "questions": [{"type": "yes_no", "text": "Ok?", "weight": 1}]}]}, None)
    if publish:
        svc.publish(template.versions[0], None)
    db.session.commit()
    return template


def test_create_with_sections_and_questions_in_one_call(app_ctx, api_client):
    api, headers = api_client("quality_manager")
    response = api.post(URL, json=_payload(), headers=headers)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["name"] == "Carrier qualification" and body["published_version"] is None
    assert [(v["number"], v["status"]) for v in body["versions"]] == [(1, "draft")]
    latest = body["latest"]
    assert (latest["title"], latest["pass_mark"], latest["validity_months"]) == ("Carrier qualification", "70.00", 24)
    assert [s["title"] for s in latest["sections"]] == ["Organisation", "Insurance"]
    q1, q2 = latest["sections"][0]["questions"]
    cover = latest["sections"][1]["questions"][0]
    assert (q1["key"], q1["weight"], q1["knockout"], q1["required"]) == ("Q1", "2.00", True, True)
    assert (q2["key"], q2["condition_key"], q2["condition_values"], q2["required"]) == ("Q2", "Q1", ["yes"], False)
    assert (cover["key"], cover["knockout"], cover["scoring"]["bands"][1]) == (
        "cover", True, {"min": 1000000.0, "max": None, "score": 1.0, "knockout": False})
    assert body["published"] is None


def test_create_is_all_or_nothing_and_names_every_invalid_question(app_ctx, api_client):
    api, headers = api_client("quality_manager")
    body = _payload()
    body["sections"][0]["questions"][1]["condition_key"] = "cover"  # a later question
    body["sections"][1]["questions"].append({"type": "single_choice", "text": "Fleet",
                                             "options": [{"label": "Vans"}, {"label": "VANS"}]})
    body["sections"][1]["questions"].append({"type": "short_text", "text": "x" * 10_000})
    response = api.post(URL, json=body, headers=headers)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "invalid_template"
    assert error["fields"] == {
        "sections.0.questions.1.condition_key": "No earlier question has the key cover.",
        "sections.1.questions.1.options": "Two options are the same: VANS.",
        "sections.1.questions.2.text": "Use at most 4000 characters.",
    }
    assert (_count(QuestionnaireTemplate), _count(TemplateVersion), _count(Section), _count(Question)) == (0, 0, 0, 0)


@pytest.mark.parametrize("body, field", [
    ({}, "name"),
    ({"name": "X", "pass_mark": "abc"}, "pass_mark"),
    ({"name": "X", "sections": [{"title": "S", "questions": [{"type": "essay", "text": "?"}]}]}, "sections"),
])
def test_a_badly_shaped_body_is_a_422_in_the_envelope(app_ctx, api_client, body, field):
    api, headers = api_client("quality_manager")
    response = api.post(URL, json=body, headers=headers)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_failed"
    assert field in response.json["error"]["fields"]
    assert _count(QuestionnaireTemplate) == 0


def test_a_nan_weight_is_refused(app_ctx, api_client):
    api, headers = api_client("quality_manager")
    body = _payload()
    raw = __import__("json").dumps(body).replace('"weight": 2', '"weight": NaN')
    response = api.post(URL, data=raw, content_type="application/json", headers=headers)
    assert response.status_code == 422
    assert response.json["error"]["code"] in ("validation_failed", "invalid_template")
    assert _count(QuestionnaireTemplate) == 0


def test_publish_then_list_published_and_get(app_ctx, api_client):
    api, headers = api_client("quality_manager")
    created = api.post(URL, json=_payload(), headers=headers).json
    draft_only = _template("Warehouse audit", publish=False)
    response = api.post(f"{URL}/{created['id']}/publish", headers=headers)
    assert response.status_code == 200
    assert response.json["published_version"] == 1
    assert response.json["published"]["status"] == "published"
    # Nothing left to publish.
    again = api.post(f"{URL}/{created['id']}/publish", headers=headers)
    assert again.status_code == 409 and again.json["error"]["code"] == "no_draft"

    listing = api.get(f"{URL}?status=published", headers=headers).json
    assert [t["name"] for t in listing["items"]] == ["Carrier qualification"] and listing["next"] is None
    everything = api.get(URL, headers=headers).json
    assert [t["name"] for t in everything["items"]] == ["Carrier qualification", "Warehouse audit"]

    detail = api.get(f"{URL}/{draft_only.id}", headers=headers).json
    assert detail["published"] is None and detail["latest"]["sections"][0]["questions"][0]["text"] == "Ok?"


def test_publishing_an_empty_draft_says_why(app_ctx, api_client):
    api, headers = api_client("quality_manager")
    created = api.post(URL, json={"name": "Empty"}, headers=headers).json
    response = api.post(f"{URL}/{created['id']}/publish", headers=headers)
    assert response.status_code == 422
    assert response.json["error"] == {"code": "not_publishable", "message": "The questionnaire cannot be published yet.",
                                      "fields": {"version": "The questionnaire has no questions."}}


def test_the_list_pages_with_a_cursor(app_ctx, api_client):
    api, headers = api_client("viewer")
    for name in ("A", "B", "C"):
        _template(name, publish=True)
    first = api.get(f"{URL}?limit=2", headers=headers).json
    assert [t["name"] for t in first["items"]] == ["A", "B"] and first["next"]
    second = api.get(f"{URL}?limit=2&cursor={first['next']}", headers=headers).json
    assert [t["name"] for t in second["items"]] == ["C"] and second["next"] is None
    bad = api.get(f"{URL}?cursor=nonsense", headers=headers)
    assert bad.status_code == 422 and bad.json["error"]["code"] == "invalid_cursor"


def test_readers_cannot_create_or_publish_and_unknown_ids_are_404(app_ctx, api_client):
    template = _template("Draft", publish=False)
    for role in ("viewer", "operator", "auditor"):
        api, headers = api_client(role)
        assert api.post(URL, json=_payload(), headers=headers).status_code == 403
        response = api.post(f"{URL}/{template.id}/publish", headers=headers)
        assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
        assert api.get(f"{URL}/{template.id}", headers=headers).status_code == 200
    api, headers = api_client("quality_manager")
    missing = api.get(f"{URL}/99999", headers=headers)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    assert api.get(URL).status_code == 401
    assert _count(QuestionnaireTemplate) == 1
    assert db.session.get(TemplateVersion, template.versions[0].id).status == "draft"
