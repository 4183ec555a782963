"""Template services: building, reordering, publishing and versioning a questionnaire."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.db import db
from app.errors import Conflict, ValidationFailed
from questionnaires.models import Question, QuestionnaireTemplate, TemplateVersion
from questionnaires.services import templates as svc


def build(actor=None) -> TemplateVersion:
    """A draft with two sections: A [Q1 yes/no, Q2 shown when Q1 is yes], B [Q3 number]."""
    template = svc.create_template({"name": "Carrier qualification", "pass_mark": "70", "conditional_mark": "50",
                                    "validity_months": "12"}, actor)
    version = template.versions[0]
    a = svc.add_section(version, "Organisation", None, actor)
    b = svc.add_section(version, "Insurance", None, actor)
    svc.add_question(a, {"type": "yes_no", "text": "ISO 9001 certified?", "weight": "2", "required": True}, actor)
    svc.add_question(a, {"type": "short_text", "text": "Certificate number", "weight": "0",
                         "condition_key": "Q1", "condition_values": ["yes"]}, actor)
    svc.add_question(b, {"type": "number", "text": "Cover in EUR", "weight": "1", "unit": "EUR",
                         "scoring": {"bands": [{"min": 0, "max": 1000000, "score": 0, "knockout": True},
                                               {"min": 1000000, "score": 1}]}}, actor)
    db.session.commit()
    return version


def keys(version: TemplateVersion) -> list[list[str]]:
    db.session.expire_all()
    return [[q.key for q in s.questions] for s in version.sections]


def test_questions_get_keys_q1_q2_q3_in_order_of_creation(app_ctx):
    version = build()
    assert keys(version) == [["Q1", "Q2"], ["Q3"]]
    q1 = version.sections[0].questions[0]
    assert [o["value"] for o in q1.options] == ["yes", "no"]
    assert q1.weight == Decimal("2.00")


def test_moving_the_first_question_of_a_section_up_puts_it_last_in_the_section_above(app_ctx):
    version = build()
    q3 = version.sections[1].questions[0]
    svc.move_question(q3, -1, None)
    db.session.commit()
    assert keys(version) == [["Q1", "Q2", "Q3"], []]


def test_moving_the_last_question_of_a_section_down_puts_it_first_in_the_next(app_ctx):
    version = build()
    b = version.sections[1]
    svc.add_question(b, {"type": "date", "text": "Policy expiry", "weight": "0"}, None)
    db.session.commit()
    svc.move_question(version.sections[0].questions[1], +1, None)  # Q2, the last of section A
    db.session.commit()
    assert keys(version) == [["Q1"], ["Q2", "Q3", "Q4"]]


def test_a_question_cannot_move_above_the_question_that_decides_it(app_ctx):
    version = build()
    with pytest.raises(Conflict) as raised:
        svc.move_question(version.sections[0].questions[1], -1, None)
    assert raised.value.code == "condition_order"
    with pytest.raises(Conflict):
        svc.move_question(version.sections[0].questions[0], +1, None)
    db.session.rollback()
    assert keys(version) == [["Q1", "Q2"], ["Q3"]]


def test_a_condition_on_a_later_question_is_refused(app_ctx):
    version = build()
    # Q3 (section B) is after anything added to section A.
    svc.update_question(version.sections[1].questions[0], {
        "type": "single_choice", "text": "Cover", "weight": "1", "key": "Q3",
        "options": [{"label": "Low"}, {"label": "High"}]}, None)
    db.session.commit()
    with pytest.raises(ValidationFailed) as raised:
        svc.add_question(version.sections[0], {"type": "short_text", "text": "Why?", "condition_key": "Q3",
                                               "condition_values": ["Low"]}, None)
    assert "condition_key" in raised.value.fields
    with pytest.raises(ValidationFailed) as raised:
        svc.update_question(version.sections[0].questions[0], {
            "type": "yes_no", "text": "ISO?", "key": "Q1", "condition_key": "Q3", "condition_values": ["Low"]}, None)
    assert "condition_key" in raised.value.fields


def test_a_condition_on_a_text_question_is_refused(app_ctx):
    version = build()
    with pytest.raises(ValidationFailed) as raised:
        svc.add_question(version.sections[1], {"type": "short_text", "text": "More", "condition_key": "Q2",
                                               "condition_values": ["x"]}, None)
    assert raised.value.fields == {"condition_key": svc.clean_question.__globals__["_l"](
        "A condition must refer to a yes/no, choice or scale question.")}


@pytest.mark.parametrize("values, field", [
    ({"text": ""}, "text"),
    ({"text": "x" * 10_000}, "text"),
    ({"weight": "-1"}, "weight"),
    ({"weight": "NaN"}, "weight"),
    ({"weight": "Infinity"}, "weight"),
    ({"type": "single_choice", "options": [{"label": "A"}, {"label": "a"}]}, "options"),
    ({"type": "single_choice", "options": [{"label": "Only"}]}, "options"),
    ({"type": "file", "max_files": "11"}, "max_files"),
    ({"type": "sticky"}, "type"),
])
def test_invalid_questions_are_refused_naming_the_field(app_ctx, values, field):
    version = build()
    base = {"type": "short_text", "text": "A question", "weight": "1"}
    with pytest.raises(ValidationFailed) as raised:
        svc.add_question(version.sections[0], {**base, **values}, None)
    assert field in raised.value.fields
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Question)) == 3


def test_publishing_freezes_and_a_new_draft_copies_everything_as_v2(app_ctx):
    version = build()
    svc.publish(version, None)
    db.session.commit()
    assert version.status == "published" and version.published_at is not None
    with pytest.raises(Conflict) as raised:
        svc.update_question(version.sections[0].questions[0], {"type": "yes_no", "text": "Changed"}, None)
    assert raised.value.code == "version_frozen"
    db.session.rollback()
    draft = svc.new_draft(version.template, None)
    db.session.commit()
    assert (draft.number, draft.status) == (2, "draft")
    assert keys(draft) == [["Q1", "Q2"], ["Q3"]]
    q2 = draft.sections[0].questions[1]
    assert (q2.condition_key, q2.condition_values) == ("Q1", ["yes"])
    assert draft.sections[1].questions[0].scoring["bands"][0]["knockout"] is True
    svc.update_question(draft.sections[0].questions[0], {"type": "yes_no", "text": "ISO 9001 or 14001?",
                                                          "key": "Q1", "weight": "3"}, None)
    db.session.commit()
    db.session.expire_all()
    assert version.sections[0].questions[0].text == "ISO 9001 certified?"
    assert version.sections[0].questions[0].weight == Decimal("2.00")
    # Publishing v2 retires v1.
    svc.publish(draft, None)
    db.session.commit()
    assert [v.status for v in version.template.versions] == ["retired", "published"]


def test_an_empty_version_is_not_publishable(app_ctx):
    template = svc.create_template({"name": "Empty", "pass_mark": "70", "validity_months": "12"}, None)
    version = template.versions[0]
    svc.add_section(version, "Nothing here", None, None)
    problems = svc.check_publishable(version)
    assert problems == ["The questionnaire has no questions.", "Section “Nothing here” has no questions."]
    with pytest.raises(ValidationFailed) as raised:
        svc.publish(version, None)
    assert raised.value.code == "not_publishable"


def test_discarding_the_only_version_is_refused_and_a_second_draft_is_dropped(app_ctx):
    version = build()
    with pytest.raises(Conflict):
        svc.discard_draft(version, None)
    svc.publish(version, None)
    draft = svc.new_draft(version.template, None)
    db.session.commit()
    svc.discard_draft(draft, None)
    db.session.commit()
    template = db.session.get(QuestionnaireTemplate, version.template_id)
    assert [v.number for v in template.versions] == [1]
