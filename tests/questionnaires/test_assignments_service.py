"""The life of an assignment through the services: sent, answered, sent back, decided."""
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.db import db, unit_of_work
from app.errors import Conflict, ValidationFailed
from app.outbox import OutboxMessage
from questionnaires.models import AssignmentStatus
from questionnaires.services import assignments as service
from suppliers.models import StatusChange


def _form(version, **answers):
    by_key = {q.key: q.id for q in version.questions()}
    return {by_key[k]: (v if isinstance(v, list) else [v]) for k, v in answers.items()}


FULL = dict(iso9001="yes", insurance="low", on_time="93", subcontracts="yes", controls=["audit", "kpi"], tracking="4")


def test_sending_mails_a_link_that_reaches_only_its_assignment(carrier_questionnaire, send_questionnaire):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    other, other_secret = send_questionnaire(carrier_questionnaire)
    assert len(secret) >= 22 and secret != other_secret  # ≥ 128 bits, url-safe
    assert assignment.token_hash != secret and secret not in assignment.token_nonce
    assert service.assignment_for_token(secret).id == assignment.id
    assert service.assignment_for_token(secret + "x") is None
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "questionnaire_sent")).all()
    assert {m.recipient for m in mail} == {"giulia@carrier.example"}
    assert any(service.PORTAL_PATH + secret in m.body for m in mail)
    # A prospect moves to "in qualification", with the reason in its history.
    assert assignment.supplier.status == "in_qualification"


def test_draft_submit_clarify_resubmit_decide(carrier_questionnaire, send_questionnaire, factories):
    manager = factories.user("quality_manager")
    assignment, secret = send_questionnaire(carrier_questionnaire, actor=manager)
    version = carrier_questionnaire
    with unit_of_work():
        service.save_answers(assignment, _form(version, iso9001="yes"), submit=False)
    assert assignment.status == AssignmentStatus.IN_PROGRESS
    # The form carries every question: one left out is unanswered. Submitting with required
    # questions unanswered stores nothing.
    with pytest.raises(ValidationFailed) as refused:
        with unit_of_work():
            service.save_answers(assignment, _form(version, insurance="low"), submit=True)
    assert set(refused.value.fields) == {f"q{q.id}" for q in version.questions()
                                         if q.key in ("iso9001", "on_time", "subcontracts", "tracking")}
    db.session.refresh(assignment)
    assert assignment.answer_for(next(q.id for q in version.questions() if q.key == "insurance")) is None
    with unit_of_work():
        service.save_answers(assignment, _form(version, **FULL), submit=True)
    assert assignment.status == AssignmentStatus.SUBMITTED
    assert assignment.score == Decimal("63.00") and assignment.result == "conditional"
    # A second submit through the same link changes nothing.
    with pytest.raises(service.LinkClosed):
        service.save_answers(assignment, _form(version, **FULL), submit=True)

    on_time = next(q for q in version.questions() if q.key == "on_time")
    with unit_of_work():
        service.request_clarification(assignment, {on_time.id: "Please give last year's figure, not the target."},
                                      manager, today=dt.date.today(), expected_version=assignment.version)
    assert assignment.status == AssignmentStatus.CLARIFICATION and assignment.round == 2
    assert service.editable_question_ids(assignment) == {on_time.id}
    # During clarification only the reopened answer changes; anything else sent is ignored.
    with unit_of_work():
        service.save_answers(assignment, _form(version, **{**FULL, "on_time": "96", "iso9001": "no"}), submit=True)
    values = {a.question.key: a.value for a in assignment.answers}
    assert values["on_time"] == "96" and values["iso9001"] == "yes"
    # on_time 96 → top band: Company 2 + 1.5 + 1 = 4.5; overall (4.5 + 2.3) / 10 = 68 %.
    assert assignment.score == Decimal("68.00")

    today = dt.date(2026, 11, 27)
    with unit_of_work():
        service.decide(assignment, "conditionally_approved", "Insurance below our €1M requirement.", manager,
                       today=today, expected_version=assignment.version)
    supplier = assignment.supplier
    assert supplier.status == "conditionally_approved"
    assert supplier.qualified_until == dt.date(2027, 11, 27)
    last = db.session.scalars(select(StatusChange).where(StatusChange.supplier_id == supplier.id)
                              .order_by(StatusChange.id.desc())).first()
    assert last.to_status == "conditionally_approved" and "Insurance below" in last.reason
    assert assignment.status == AssignmentStatus.ACCEPTED
    kinds = [e.kind for e in assignment.events]
    assert kinds == ["sent", "submitted", "clarification_requested", "resubmitted", "decided"]


def test_stale_review_is_refused(carrier_questionnaire, send_questionnaire, factories):
    manager = factories.user("quality_manager")
    assignment, _ = send_questionnaire(carrier_questionnaire)
    with unit_of_work():
        service.save_answers(assignment, _form(carrier_questionnaire, **FULL), submit=True)
    stale = assignment.version - 1
    with pytest.raises(Conflict):
        service.decide(assignment, "approved", "ok", manager, today=dt.date.today(), expected_version=stale)


def test_revoked_and_expired_links_change_nothing(carrier_questionnaire, send_questionnaire):
    assignment, _ = send_questionnaire(carrier_questionnaire)
    with unit_of_work():
        service.revoke_link(assignment, None)
    with pytest.raises(service.LinkClosed):
        service.save_answers(assignment, _form(carrier_questionnaire, iso9001="yes"), submit=False)
    count = db.session.scalar(select(func.count()).select_from(service.Answer))
    assert count == 0


def test_reopening_a_deciding_answer_reopens_the_questions_it_shows(carrier_questionnaire, send_questionnaire,
                                                                     factories):
    manager = factories.user("quality_manager")
    version = carrier_questionnaire
    assignment, _ = send_questionnaire(version)
    with unit_of_work():
        service.save_answers(assignment, _form(version, **{**FULL, "subcontracts": "no", "controls": []}),
                             submit=True)
    subcontracts = next(q for q in version.questions() if q.key == "subcontracts")
    controls = next(q for q in version.questions() if q.key == "controls")
    with unit_of_work():
        service.request_clarification(assignment, {subcontracts.id: "Your contract says you subcontract."},
                                      manager, today=dt.date.today())
    assert service.editable_question_ids(assignment) == {subcontracts.id, controls.id}
    # The supplier now says yes, and must answer the question that yes shows.
    with pytest.raises(ValidationFailed) as refused:
        service.save_answers(assignment, _form(version, subcontracts="yes"), submit=True)
    assert set(refused.value.fields) == {f"q{controls.id}"}
    with unit_of_work():
        service.save_answers(assignment, _form(version, subcontracts="yes", controls=["audit", "kpi"]), submit=True)
    assert assignment.score == Decimal("63.00")
