"""Issue 5's "done when", through HTTP only: a quality manager imports the real G-Cloud 15
question export, publishes one sheet and sends it to a supplier; the supplier answers through
the e-mailed link with no account; the reviewer sends one answer back, the supplier corrects
it, the reviewer accepts; the supplier's status, expiry and history show the decision.

(The same journey in a real browser, on a phone-sized window, is how the feature was checked
by hand; tests/questionnaires/test_portal.py covers the portal's pages in detail.)"""
from __future__ import annotations

import datetime as dt
import io
import re

from sqlalchemy import select

from app.db import db, unit_of_work
from app.outbox import OutboxMessage
from questionnaires.models import OPTION_TYPES, Assignment, QuestionnaireTemplate, QuestionType
from questionnaires.services import assignments as assignment_service
from questionnaires.services import scoring
from questionnaires.services import templates as template_service
from suppliers import services as supplier_services
from suppliers.models import StatusChange, Supplier
from tests.questionnaires.test_template_io import GCLOUD

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
SHEET = "lot questions cloud support"


def _answers_for(version) -> dict:
    """A complete, plausible answer to every question, as the portal form posts it: the first
    option of choice questions, 12 for numbers, a date, a sentence, a PDF for file questions."""
    values: dict[int, list[str]] = {}
    form: dict = {}
    for question in version.questions():
        kind = question.kind
        if kind in OPTION_TYPES:
            answer = [question.options[0]["value"]]
        elif kind == QuestionType.NUMBER:
            answer = ["12"]
        elif kind == QuestionType.DATE:
            answer = ["2026-01-15"]
        elif kind == QuestionType.FILE:
            form[f"q{question.id}"] = [(io.BytesIO(PDF), "evidence.pdf")]
            continue
        else:
            answer = ["We answer this in full."]
        values[question.id] = answer
        form[f"q{question.id}"] = answer if len(answer) > 1 else answer[0]
    return form


def test_import_assign_answer_clarify_accept(login_as, client, make_supplier):
    manager = login_as("quality_manager")
    supplier = make_supplier()
    supplier_services.add_contact(supplier, {"name": "Anna Rossi", "email": "anna@cloud.example", "is_primary": True},
                                  None)
    db.session.commit()

    # 1. Import the real export; pick one sheet; its template page opens.
    response = manager.post_form("/questionnaires/import", {"file": (open(GCLOUD, "rb"), GCLOUD.name)},
                                 content_type="multipart/form-data")
    assert response.status_code == 302
    step = response.headers["Location"]
    response = manager.post_form(step, {"sheets": [SHEET], "mode": "templates"})
    assert response.status_code == 302, response.get_data(as_text=True)
    template = db.session.scalar(select(QuestionnaireTemplate).where(QuestionnaireTemplate.name == SHEET))
    assert response.headers["Location"].endswith(f"/questionnaires/templates/{template.id}")
    version = template.versions[0]
    assert len(version.sections) == 2 and len(version.questions()) == 36

    # 2. Publish it and send it from the page, with a due date in two weeks.
    assert manager.post_form(f"/questionnaires/versions/{version.id}/publish").status_code == 302
    due = dt.date.today() + dt.timedelta(days=14)
    response = manager.post_form("/questionnaires/assignments/new", {
        "template": str(version.id), "supplier": supplier.code, "due_date": due.isoformat(),
        "purpose": "initial", "language": "en", "message": "Please answer by the due date."})
    assert response.status_code == 302, response.get_data(as_text=True)
    assignment = db.session.scalar(select(Assignment).where(Assignment.supplier_id == supplier.id))

    # 3. The link comes from the e-mail; the supplier has no account and no session.
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "questionnaire_sent"))
    assert mail.recipient == "anna@cloud.example"
    link = re.search(r"https?://\S+(/q/\S+)", mail.body).group(1)
    page = client.get(link).get_data(as_text=True)
    assert SHEET in page and "Please answer by the due date." in page

    def post(data: dict, action: str):
        token = CSRF_RE.search(client.get(link).get_data(as_text=True)).group(1)
        return client.post(link, data={"csrf_token": token, "action": action, **data},
                           content_type="multipart/form-data")

    # Draft first, then the submission (the files are attached with the submission).
    assert post({}, "save").status_code == 303
    response = post(_answers_for(version), "submit")
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:2000]
    db.session.refresh(assignment)
    assert assignment.status == "submitted"
    # An imported questionnaire scores yes 1 and no 0 until the quality manager sets other
    # scores; what is stored at submission is what the scoring service gives.
    card = assignment_service.scorecard(assignment)
    assert assignment.score == card.score and card.result == assignment.result

    # 4. The reviewer sends the first question back.
    first = version.questions()[0]
    base = f"/questionnaires/assignments/{assignment.id}"
    response = manager.post_form(f"{base}/clarify", {"version": assignment.version, "clarify": [str(first.id)],
                                                     f"request-{first.id}": "Please give more detail."})
    assert response.status_code == 302
    db.session.refresh(assignment)
    assert assignment.status == "clarification"
    clarification = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "questionnaire_clarification")).one()
    assert link in clarification.body and "Please give more detail." in clarification.body

    # 5. The supplier corrects it through the same link and submits again.
    page = client.get(link).get_data(as_text=True)
    assert "Please give more detail." in page
    corrected = {f"q{first.id}": first.options[-1]["value"] if first.kind in OPTION_TYPES else "More detail."}
    response = post(corrected, "submit")
    assert response.status_code in (302, 303)
    db.session.refresh(assignment)
    assert assignment.status == "submitted" and assignment.round == 2

    # 6. The reviewer accepts.
    response = manager.post_form(f"{base}/decide", {"version": assignment.version, "decision": "approved",
                                                    "reason": "Complete answers and evidence."})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]

    # 7. The supplier's status, expiry and history.
    supplier = db.session.get(Supplier, supplier.id)
    expected_until = assignment_service.add_months(dt.date.today(), version.validity_months)
    assert supplier.status == "approved" and supplier.qualified_until == expected_until
    history = db.session.scalars(select(StatusChange).where(StatusChange.supplier_id == supplier.id)
                                 .order_by(StatusChange.id)).all()
    assert [(h.from_status, h.to_status) for h in history][-2:] == [("prospect", "in_qualification"),
                                                                     ("in_qualification", "approved")]
    assert "Complete answers and evidence." in history[-1].reason
    page = manager.get(f"/suppliers/{supplier.code}").get_data(as_text=True)
    assert "Complete answers and evidence." in page
    # Once decided the link shows the answers read-only and changes nothing.
    assert post(corrected, "submit").status_code == 409


def test_a_new_version_leaves_sent_assignments_as_they_were(carrier_questionnaire, send_questionnaire, client):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    template = carrier_questionnaire.template
    with unit_of_work():
        draft = template_service.new_draft(template, None)
        question = next(q for q in draft.questions() if q.key == "iso9001")
        template_service.update_question(question, {
            "type": "yes_no", "key": "iso9001", "text": "Are you ISO 9001:2015 certified by an accredited body?",
            "weight": 5, "required": True}, None)
        template_service.publish(draft, None)
    db.session.refresh(assignment)
    assert assignment.template_version.number == 1 and assignment.template_version.status == "retired"
    page = client.get(assignment_service.PORTAL_PATH + secret).get_data(as_text=True)
    assert "Are you ISO 9001 certified?" in page and "accredited body" not in page
    # v1's weights still score it: the hand-worked 63.00 of test_scoring.
    values = {q.id: v for q, v in zip(assignment.template_version.questions(),
                                      ["yes", "low", "93", "yes", ["audit", "kpi"], "4", None, None])}
    assert scoring.score(assignment.template_version, values).score == 63
