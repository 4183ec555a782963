"""The questionnaire builder through the browser: build, reorder, publish, version, refuse."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.db import db
from questionnaires.models import Question, QuestionnaireTemplate, Section, TemplateVersion
from questionnaires.services import templates as svc


def _error_of(page: str, field: str) -> str:
    match = re.search(rf'<div class="invalid-feedback" id="{field}-error">(.*?)</div>', page, re.S)
    return match.group(1).strip() if match else ""


def _question_form(**overrides) -> dict:
    values = {"type": "short_text", "key": "", "text": "A question", "help_text": "", "required": "y",
              "weight": "1", "unit": "", "min_value": "", "max_value": "", "max_files": "1", "condition_key": ""}
    values.update(overrides)
    return values


def _options(*rows) -> dict:
    """Option rows as the form posts them: (label, value, score, knockout)."""
    data = {}
    for n, (label, value, score, knockout) in enumerate(rows):
        data.update({f"options-{n}-label": label, f"options-{n}-value": value, f"options-{n}-score": score})
        if knockout:
            data[f"options-{n}-knockout"] = "y"
    return data


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _keys(version_id: int) -> list[list[str]]:
    db.session.expire_all()
    version = db.session.get(TemplateVersion, version_id)
    return [[q.key for q in s.questions] for s in version.sections]


@pytest.fixture
def designer(login_as):
    return login_as("quality_manager")


def _new_template(client, name="Carrier qualification") -> TemplateVersion:
    response = client.post_form("/questionnaires/templates/new", {
        "name": name, "description": "", "title": "", "pass_mark": "70", "conditional_mark": "50",
        "validity_months": "24", "introduction": "Please answer every question."})
    assert response.status_code == 302, response.get_data(as_text=True)
    template = db.session.scalar(select(QuestionnaireTemplate).where(QuestionnaireTemplate.name == name))
    version = template.versions[0]
    assert response.location.endswith(f"/questionnaires/versions/{version.id}")
    return version


def _add_section(client, version: TemplateVersion, title: str) -> Section:
    response = client.post_form(f"/questionnaires/versions/{version.id}/sections/new", {"title": title})
    assert response.status_code == 302
    return db.session.scalar(select(Section).where(Section.version_id == version.id, Section.title == title))


def _add_question(client, version, section, **values):
    return client.post_form(f"/questionnaires/versions/{version.id}/sections/{section.id}/questions/new",
                            _question_form(**values))


def _built(client):
    """v1 with section A [Q1 yes/no (no = knock-out), Q2 text shown when Q1 is yes] and B [Q3 number]."""
    version = _new_template(client)
    a = _add_section(client, version, "Organisation")
    b = _add_section(client, version, "Insurance")
    assert _add_question(client, version, a, type="yes_no", text="ISO 9001 certified?", weight="2",
                         **_options(("Yes", "yes", "1", False), ("No", "no", "0", True))).status_code == 302
    assert _add_question(client, version, a, type="short_text", text="Certificate number", weight="0",
                         condition_key="Q1", condition_values="yes").status_code == 302
    assert _add_question(client, version, b, type="number", text="Cover", unit="EUR", min_value="0",
                         **{"scoring-0-min": "0", "scoring-0-max": "1000000", "scoring-0-score": "0",
                            "scoring-0-knockout": "y", "scoring-1-min": "1000000", "scoring-1-score": "1"}
                         ).status_code == 302
    return version, a, b


def test_a_template_is_built_with_every_question_type_through_the_pages(designer):
    version, a, b = _built(designer)
    more = [
        dict(type="single_choice", text="Fleet size", **_options(("Up to 10", "small", "0", False),
                                                                 ("More than 10", "large", "1", False))),
        dict(type="multiple_choice", text="Services", **_options(("Road", "", "1", False), ("Rail", "", "1", False))),
        dict(type="scale", text="How mature is your QMS?"),
        dict(type="long_text", text="Describe your claims process"),
        dict(type="date", text="Policy expiry"),
        dict(type="file", text="Upload the certificate", max_files="3"),
    ]
    for values in more:
        response = _add_question(designer, version, b, **values)
        assert response.status_code == 302, _error_of(designer.get(response.location).get_data(as_text=True), "text")
    assert _keys(version.id) == [["Q1", "Q2"], ["Q3", "Q4", "Q5", "Q6", "Q7", "Q8", "Q9"]]
    questions = {q.key: q for q in db.session.get(TemplateVersion, version.id).questions()}
    assert questions["Q1"].options == [{"value": "yes", "label": "Yes", "score": 1.0, "knockout": False},
                                       {"value": "no", "label": "No", "score": 0.0, "knockout": True}]
    assert questions["Q2"].condition_key == "Q1" and questions["Q2"].condition_values == ["yes"]
    assert questions["Q3"].scoring == {"bands": [{"min": 0.0, "max": 1000000.0, "score": 0.0, "knockout": True},
                                                 {"min": 1000000.0, "max": None, "score": 1.0, "knockout": False}]}
    assert (questions["Q3"].unit, questions["Q3"].min_value) == ("EUR", Decimal("0"))
    # A multiple-choice value defaults to its label; a scale gets 1..5.
    assert [o["value"] for o in questions["Q5"].options] == ["Road", "Rail"]
    assert [o["score"] for o in questions["Q6"].options] == [1, 2, 3, 4, 5]
    assert questions["Q9"].max_files == 3 and questions["Q9"].options is None

    page = designer.get(f"/questionnaires/versions/{version.id}").get_data(as_text=True)
    assert "Shown when Q1 is Yes" in page
    assert page.count('<span class="badge text-bg-danger">') >= 4  # Q1 and Q3, beside the question and its answer
    assert "Upload the certificate" in page and "Up to 3 files" in page
    template_page = designer.get(f"/questionnaires/templates/{version.template_id}").get_data(as_text=True)
    assert "Carrier qualification" in template_page and "Publish v1" in template_page


def test_the_list_shows_versions_question_counts_and_filters_by_status(designer):
    version, a, b = _built(designer)
    _new_template(designer, "Warehouse audit")
    page = designer.get("/questionnaires/").get_data(as_text=True)
    assert "Carrier qualification" in page and "Warehouse audit" in page
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    carrier = next(r for r in rows if "Carrier qualification" in r)
    assert re.findall(r'<td class="text-end">(\d+)</td>', carrier) == ["3", "0"]
    designer.post_form(f"/questionnaires/versions/{version.id}/publish")
    page = designer.get("/questionnaires/?status=published").get_data(as_text=True)
    assert "Carrier qualification" in page and "Warehouse audit" not in page
    page = designer.get("/questionnaires/?status=draft").get_data(as_text=True)
    assert "Carrier qualification" not in page and "Warehouse audit" in page


def test_moving_questions_across_sections_and_the_condition_order_refusal(designer):
    version, a, b = _built(designer)
    q1, q2 = db.session.get(Section, a.id).questions
    q3 = db.session.get(Section, b.id).questions[0]
    response = designer.post_form(f"/questionnaires/versions/{version.id}/questions/{q3.id}/move", {"direction": "up"})
    assert response.status_code == 302 and response.location.endswith(f"#question-{q3.id}")
    assert _keys(version.id) == [["Q1", "Q2", "Q3"], []]
    designer.post_form(f"/questionnaires/versions/{version.id}/questions/{q3.id}/move", {"direction": "down"})
    assert _keys(version.id) == [["Q1", "Q2"], ["Q3"]]
    designer.post_form(f"/questionnaires/versions/{version.id}/questions/{q2.id}/move", {"direction": "down"})
    assert _keys(version.id) == [["Q1"], ["Q2", "Q3"]]
    # Q2 is shown depending on Q1: it may not come before it.
    designer.post_form(f"/questionnaires/versions/{version.id}/questions/{q2.id}/move", {"direction": "up"})
    assert _keys(version.id) == [["Q1", "Q2"], ["Q3"]]
    response = designer.post_form(f"/questionnaires/versions/{version.id}/questions/{q2.id}/move",
                                  {"direction": "up"}, follow_redirects=True)
    assert "cannot come before the question that decides" in response.get_data(as_text=True)
    assert _keys(version.id) == [["Q1", "Q2"], ["Q3"]]
    # Sections move too, questions with them.
    designer.post_form(f"/questionnaires/versions/{version.id}/sections/{b.id}/move", {"direction": "up"})
    assert _keys(version.id) == [["Q3"], ["Q1", "Q2"]]


def test_publishing_freezes_the_version_and_its_pages_say_so(designer):
    version, a, b = _built(designer)
    q1 = db.session.get(Section, a.id).questions[0]
    response = designer.post_form(f"/questionnaires/versions/{version.id}/publish")
    assert response.status_code == 302
    assert db.session.get(TemplateVersion, version.id).status == "published"
    page = designer.get(f"/questionnaires/versions/{version.id}").get_data(as_text=True)
    assert "is published and frozen" in page
    assert f"/questions/{q1.id}/move" not in page and "Create a new draft" in page
    response = designer.post_form(f"/questionnaires/versions/{version.id}/questions/{q1.id}",
                                  _question_form(type="yes_no", text="Changed"))
    assert response.status_code == 409
    assert "frozen" in response.get_data(as_text=True)
    assert designer.get(f"/questionnaires/versions/{version.id}/questions/{q1.id}").status_code == 409
    designer.post_form(f"/questionnaires/versions/{version.id}/questions/{q1.id}/delete")
    db.session.expire_all()
    assert db.session.get(Question, q1.id).text == "ISO 9001 certified?"


def test_a_new_draft_copies_everything_as_v2_and_editing_it_leaves_v1_alone(designer):
    version, a, b = _built(designer)
    designer.post_form(f"/questionnaires/versions/{version.id}/publish")
    response = designer.post_form(f"/questionnaires/templates/{version.template_id}/new-draft")
    assert response.status_code == 302
    template = db.session.get(QuestionnaireTemplate, version.template_id)
    draft = template.draft
    assert draft.number == 2 and response.location.endswith(f"/questionnaires/versions/{draft.id}")
    assert _keys(draft.id) == [["Q1", "Q2"], ["Q3"]]
    assert draft.validity_months == 24 and draft.introduction == "Please answer every question."
    q1_v2 = draft.sections[0].questions[0]
    response = designer.post_form(f"/questionnaires/versions/{draft.id}/questions/{q1_v2.id}", _question_form(
        type="yes_no", key="Q1", text="ISO 9001 or ISO 14001?", weight="3",
        **_options(("Yes", "yes", "1", False), ("No", "no", "0", False))))
    assert response.status_code == 302
    db.session.expire_all()
    v1_q1 = db.session.get(Section, a.id).questions[0]
    assert (v1_q1.text, v1_q1.weight, v1_q1.is_knockout) == ("ISO 9001 certified?", Decimal("2.00"), True)
    assert (q1_v2.text, q1_v2.weight, q1_v2.is_knockout) == ("ISO 9001 or ISO 14001?", Decimal("3.00"), False)
    # A question id of v1 under the v2 URL is another version's: 404.
    assert designer.get(f"/questionnaires/versions/{draft.id}/questions/{v1_q1.id}").status_code == 404
    assert designer.post_form(f"/questionnaires/versions/{draft.id}/sections/{a.id}/delete").status_code == 404
    page = designer.get(f"/questionnaires/templates/{version.template_id}").get_data(as_text=True)
    assert "Edit draft v2" not in page  # the template page shows the draft itself, editable
    assert f"/questionnaires/versions/{draft.id}/questions/{q1_v2.id}" in page
    # Discarding the draft brings back the published v1.
    designer.post_form(f"/questionnaires/versions/{draft.id}/discard")
    assert [v.number for v in db.session.get(QuestionnaireTemplate, version.template_id).versions] == [1]


@pytest.mark.parametrize("values, field, message", [
    ({"text": ""}, "text", "Write the question."),
    ({"text": "x" * 10_000}, "text", "Use at most 4000 characters."),
    ({"weight": "-1"}, "weight", "Enter a number of at least 0."),
    ({"weight": "NaN"}, "weight", "Enter a number."),
    ({"condition_key": "Q3", "condition_values": "x"}, "condition_key", "No earlier question has the key Q3."),
    ({"condition_key": "Q2", "condition_values": "x"}, "condition_key",
     "A condition must refer to a yes/no, choice or scale question."),
    ({"condition_key": "Q1", "condition_values": "maybe"}, "condition_values", "Not an answer of Q1: maybe."),
    ({"type": "file", "max_files": "0"}, "max_files", "Allow 1 to 10 files."),
    ({"key": "Q1"}, "key", "Another question already has this key."),
])
def test_an_invalid_question_is_refused_beside_its_field_and_nothing_is_written(designer, values, field, message):
    version, a, b = _built(designer)
    response = _add_question(designer, version, a, **values)
    assert response.status_code == 422
    assert _error_of(response.get_data(as_text=True), field) == message
    assert _count(Question) == 3


def test_duplicate_options_are_refused_above_the_answer_rows(designer):
    version, a, b = _built(designer)
    response = _add_question(designer, version, a, type="single_choice", text="Fleet",
                             **_options(("Vans", "", "1", False), ("vans", "", "0", False)))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'id="options-error"[^>]*>Two options are the same: vans.</div>', page)
    # What was typed is still there, with blank rows to add more.
    assert 'name="options-1-label"' in page and 'value="vans"' in page and 'name="options-3-label"' in page
    assert _count(Question) == 3


def test_an_invalid_template_is_refused_beside_its_fields(designer):
    response = designer.post_form("/questionnaires/templates/new", {
        "name": "", "pass_mark": "60", "conditional_mark": "80", "validity_months": "200"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert _error_of(page, "name") == "Give the template a name."
    assert _error_of(page, "conditional_mark") == "The conditional pass must start at or below the pass mark."
    assert _error_of(page, "validity_months") == "A qualification holds for 1 to 120 months."
    assert _count(QuestionnaireTemplate) == 0


def test_an_unpublishable_draft_lists_its_problems_and_is_not_published(designer):
    version = _new_template(designer)
    _add_section(designer, version, "Empty")
    page = designer.get(f"/questionnaires/versions/{version.id}").get_data(as_text=True)
    assert "The questionnaire has no questions." in page and "Publish v1" not in page
    response = designer.post_form(f"/questionnaires/versions/{version.id}/publish", follow_redirects=True)
    assert "cannot be published yet" in response.get_data(as_text=True)
    assert db.session.get(TemplateVersion, version.id).status == "draft"


def test_deleting_a_question_others_depend_on_is_refused(designer):
    version, a, b = _built(designer)
    q1 = db.session.get(Section, a.id).questions[0]
    response = designer.post_form(f"/questionnaires/versions/{version.id}/questions/{q1.id}/delete",
                                  follow_redirects=True)
    assert "Questions Q2 are shown depending on this one" in response.get_data(as_text=True)
    q3 = db.session.get(Section, b.id).questions[0]
    designer.post_form(f"/questionnaires/versions/{version.id}/questions/{q3.id}/delete")
    assert _keys(version.id) == [["Q1", "Q2"], []]


def test_section_and_settings_edits_are_saved(designer):
    version, a, b = _built(designer)
    form = designer.get(f"/questionnaires/versions/{version.id}/settings").get_data(as_text=True)
    assert 'value="70"' in form and 'value="24"' in form
    response = designer.post_form(f"/questionnaires/versions/{version.id}/settings", {
        "title": "Carrier questionnaire 2026", "pass_mark": "75,5", "conditional_mark": "60", "validity_months": "12"})
    assert response.status_code == 302
    response = designer.post_form(f"/questionnaires/versions/{version.id}/sections/{a.id}",
                                  {"title": "Company", "description": "Who you are"})
    assert response.status_code == 302 and response.location.endswith(f"#section-{a.id}")
    db.session.expire_all()
    saved = db.session.get(TemplateVersion, version.id)
    assert (saved.title, saved.pass_mark, saved.validity_months) == ("Carrier questionnaire 2026", Decimal("75.50"), 12)
    assert saved.sections[0].title == "Company"


def test_html_in_question_text_is_shown_as_text(designer):
    version, a, b = _built(designer)
    _add_question(designer, version, b, text='<script>alert("x")</script><b>bold</b>')
    page = designer.get(f"/questionnaires/versions/{version.id}").get_data(as_text=True)
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in page


@pytest.mark.parametrize("role", ["viewer", "operator", "auditor"])
def test_readers_see_the_templates_but_cannot_change_them(login_as, designer, role):
    version, a, b = _built(designer)
    q1 = db.session.get(Section, a.id).questions[0]
    reader = login_as(role)
    page = reader.get(f"/questionnaires/versions/{version.id}")
    assert page.status_code == 200 and "ISO 9001 certified?" in page.get_data(as_text=True)
    assert "Publish v1" not in page.get_data(as_text=True)
    for url, data in [
        ("/questionnaires/templates/new", {"name": "Sneaky", "pass_mark": "70", "validity_months": "12"}),
        (f"/questionnaires/versions/{version.id}/sections/new", {"title": "Sneaky"}),
        (f"/questionnaires/versions/{version.id}/sections/{a.id}/questions/new", _question_form()),
        (f"/questionnaires/versions/{version.id}/questions/{q1.id}", _question_form(type="yes_no", text="Sneaky")),
        (f"/questionnaires/versions/{version.id}/questions/{q1.id}/move", {"direction": "down"}),
        (f"/questionnaires/versions/{version.id}/questions/{q1.id}/delete", {}),
        (f"/questionnaires/versions/{version.id}/publish", {}),
    ]:
        assert reader.post_form(url, data).status_code == 403, url
    assert _count(QuestionnaireTemplate) == 1 and _count(Section) == 2 and _count(Question) == 3
    assert db.session.get(TemplateVersion, version.id).status == "draft"


def test_a_post_without_its_csrf_token_is_refused(designer):
    version, a, b = _built(designer)
    response = designer.raw.post(f"/questionnaires/versions/{version.id}/publish", data={})
    assert response.status_code == 400
    assert db.session.get(TemplateVersion, version.id).status == "draft"


def test_unknown_ids_are_404(designer):
    assert designer.get("/questionnaires/templates/999").status_code == 404
    assert designer.get("/questionnaires/versions/999").status_code == 404
    version, a, b = _built(designer)
    assert designer.get(f"/questionnaires/versions/{version.id}/sections/999").status_code == 404
    assert designer.post_form(f"/questionnaires/versions/{version.id}/questions/999/move",
                              {"direction": "up"}).status_code == 404


def test_the_edit_page_shows_the_question_as_saved(designer):
    version, a, b = _built(designer)
    q1 = db.session.get(Section, a.id).questions[0]
    page = designer.get(f"/questionnaires/versions/{version.id}/questions/{q1.id}").get_data(as_text=True)
    assert '<option selected value="yes_no">' in page and 'value="ISO 9001 certified?"' not in page
    assert "ISO 9001 certified?</textarea>" in page and 'name="weight" type="text" value="2"' in page
    assert re.search(r'id="options-1-value"[^>]*value="no"', page)
    assert re.search(r'checked[^>]*id="options-1-knockout"|id="options-1-knockout"[^>]*checked', page)
    assert not re.search(r'checked[^>]*id="options-0-knockout"|id="options-0-knockout"[^>]*checked', page)
    assert 'name="options-3-label"' in page  # two blank rows after the two answers


def test_the_list_issues_the_same_queries_for_one_template_or_many(app, designer):
    from tests.app.test_queries import count_queries

    _built(designer)
    with count_queries(app) as few:
        assert designer.get("/questionnaires/").status_code == 200
    for n in range(5):
        _built_more = _new_template(designer, f"Template {n}")
        _add_section(designer, _built_more, "S")
    with count_queries(app) as many:
        assert designer.get("/questionnaires/").status_code == 200
    assert len(many) == len(few) <= 10
