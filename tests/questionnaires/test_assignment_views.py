"""The quality office's pages of assignments: sending, the review, comments, clarification,
the decision, the link, evidence downloads, and who may do what."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app.db import db, unit_of_work
from app.outbox import OutboxMessage
from questionnaires.models import Assignment, AssignmentStatus
from questionnaires.services import assignments as service
from suppliers import services as supplier_services
from suppliers.models import Supplier
from tests.questionnaires.test_assignments_service import FULL, _form

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _question(version, key):
    return next(q for q in version.questions() if q.key == key)


def _submit(assignment, version, **answers):
    with unit_of_work():
        service.save_answers(assignment, _form(version, **answers), submit=True)


def _page(client, assignment) -> str:
    response = client.get(f"/questionnaires/assignments/{assignment.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _item(html: str, question_id: int) -> str:
    """The <li> of one question on the review page."""
    start = rf'<li class="list-group-item review-question[^"]*" id="q-{question_id}">'
    end = r'</li>\s*(?=<li class="list-group-item review|</ol>)'
    match = re.search(start + ".*?" + end, html, re.S)
    assert match, f"question {question_id} not on the page"
    return match.group(0)


def test_sending_through_the_page_mails_the_link_to_the_chosen_contact(carrier_questionnaire, login_as,
                                                                        make_supplier):
    supplier = make_supplier()
    supplier_services.add_contact(supplier, {"name": "Anna Primary", "email": "anna@carrier.example",
                                             "is_primary": True}, None)
    other = supplier_services.add_contact(supplier, {"name": "Marco Quality", "email": "marco@carrier.example"}, None)
    supplier_services.add_contact(supplier, {"name": "No Mail", "phone": "+39 02 1234"}, None)
    db.session.commit()
    manager = login_as("quality_manager")

    form_page = manager.get(f"/questionnaires/assignments/new?supplier={supplier.code}").get_data(as_text=True)
    assert "marco@carrier.example" in form_page and "No Mail" not in form_page
    due = dt.date.today() + dt.timedelta(days=20)
    response = manager.post_form("/questionnaires/assignments/new", {
        "template": str(carrier_questionnaire.id), "supplier": supplier.code, "contact": str(other.id),
        "due_date": due.isoformat(), "purpose": "initial", "language": "it", "message": "Grazie!"})
    assert response.status_code == 302, response.get_data(as_text=True)
    assignment = db.session.scalar(select(Assignment).where(Assignment.supplier_id == supplier.id))
    assert response.headers["Location"].endswith(f"/questionnaires/assignments/{assignment.id}")
    assert (assignment.recipient_email, assignment.language, assignment.due_date) == \
        ("marco@carrier.example", "it", due)
    secret = service.portal_url(assignment).rsplit("/", 1)[1]
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "questionnaire_sent")).all()
    assert [m.recipient for m in mail] == ["marco@carrier.example"]
    assert service.PORTAL_PATH + secret in mail[0].body
    # The assignment page shows the link to the quality office.
    page = _page(manager, assignment)
    assert service.portal_url(assignment) in page
    assert db.session.get(Supplier, supplier.id).status == "in_qualification"


def test_sending_refusals_are_shown_beside_the_fields(carrier_questionnaire, login_as, make_supplier):
    supplier = make_supplier()  # no contact with an e-mail address
    manager = login_as("quality_manager")
    past = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    response = manager.post_form("/questionnaires/assignments/new", {
        "template": str(carrier_questionnaire.id), "supplier": supplier.code, "contact": "",
        "due_date": past, "purpose": "initial", "language": "en"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The due date cannot be in the past." in html
    response = manager.post_form("/questionnaires/assignments/new", {
        "template": str(carrier_questionnaire.id), "supplier": "NOPE-1", "contact": "",
        "due_date": dt.date.today().isoformat(), "purpose": "initial", "language": "en"})
    assert response.status_code == 422 and "No supplier has this code." in response.get_data(as_text=True)
    assert db.session.scalar(select(Assignment.id)) is None


def test_review_page_shows_the_scores_worked_out_by_hand(carrier_questionnaire, send_questionnaire, login_as):
    assignment, _ = send_questionnaire(carrier_questionnaire)
    _submit(assignment, carrier_questionnaire, **FULL)
    page = _page(login_as("viewer"), assignment)
    # Company: iso9001 2/2·2 + insurance 1/2·3 + on_time 1/2·1 = 4 of 6 → 66.67.
    # Operations: controls (1+2)/4·2 = 1.5 + tracking 4/5·1 = 0.8 + certificate 0 of 1 → 2.3 of 4 → 57.50.
    # Overall 6.3 of 10 → 63.00, between the conditional mark (50) and the pass mark (70).
    overall = re.search(r'id="score-overall">.*?</tr>', page, re.S).group(0)
    assert "63.00" in overall and "Conditional" in overall and "score-conditional" in overall
    sections = {s.title: s.id for s in carrier_questionnaire.sections}
    company = re.search(rf'id="score-section-{sections["Company"]}">.*?</tr>', page, re.S).group(0)
    operations = re.search(rf'id="score-section-{sections["Operations"]}">.*?</tr>', page, re.S).group(0)
    assert "66.67" in company and "score-conditional" in company
    assert "57.50" in operations and "score-conditional" in operations
    # Answers are readable: option labels, units.
    assert "Up to €1M" in _item(page, _question(carrier_questionnaire, "insurance").id)
    assert "93 %" in _item(page, _question(carrier_questionnaire, "on_time").id)
    assert "Audits; KPI reviews" in _item(page, _question(carrier_questionnaire, "controls").id)
    assert 'id="knockouts"' not in page


def test_hidden_questions_are_greyed_and_knock_outs_listed(carrier_questionnaire, send_questionnaire, login_as):
    assignment, _ = send_questionnaire(carrier_questionnaire)
    _submit(assignment, carrier_questionnaire, **{**FULL, "subcontracts": "no", "controls": [], "insurance": "none"})
    page = _page(login_as("viewer"), assignment)
    controls = _item(page, _question(carrier_questionnaire, "controls").id)
    assert "question-hidden" in controls and "not shown to the supplier" in controls
    knockouts = re.search(r'id="knockouts">.*?</div>', page, re.S).group(0)
    assert "insurance" in knockouts and "None" in knockouts
    assert "question-knockout" in _item(page, _question(carrier_questionnaire, "insurance").id)
    overall = re.search(r'id="score-overall">.*?</tr>', page, re.S).group(0)
    assert "Knocked out" in overall


def test_comment_clarify_resubmit_and_review_again(carrier_questionnaire, send_questionnaire, login_as):
    assignment, _ = send_questionnaire(carrier_questionnaire)
    _submit(assignment, carrier_questionnaire, **FULL)
    auditor = login_as("auditor")
    on_time, iso = _question(carrier_questionnaire, "on_time"), _question(carrier_questionnaire, "iso9001")
    base = f"/questionnaires/assignments/{assignment.id}"
    response = auditor.post_form(f"{base}/answers/{on_time.id}/comment",
                                 {"version": assignment.version, "comment": "Looks like a target, not a result."})
    assert response.status_code == 302
    db.session.refresh(assignment)
    assert assignment.answer_for(on_time.id).reviewer_comment == "Looks like a target, not a result."

    # One request for one ticked question; the text of an unticked one is ignored.
    response = auditor.post_form(f"{base}/clarify", {
        "version": assignment.version, "clarify": [str(on_time.id)],
        f"request-{on_time.id}": "Please give last year's figure.", f"request-{iso.id}": "ignored"})
    assert response.status_code == 302
    db.session.refresh(assignment)
    assert assignment.status == AssignmentStatus.CLARIFICATION and assignment.round == 2
    assert service.editable_question_ids(assignment) == {on_time.id}
    assert assignment.answer_for(iso.id).needs_clarification is False
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "questionnaire_clarification")).all()
    assert len(mail) == 1 and "Please give last year's figure." in mail[0].body

    # The supplier answers through its link (the service the portal calls).
    _submit(assignment, carrier_questionnaire, **{**FULL, "on_time": "96"})
    page = _page(auditor, assignment)
    # on_time 96 → top band: Company 2 + 1.5 + 1 = 4.5 of 6 → 75.00; overall 6.8 of 10 → 68.00.
    overall = re.search(r'id="score-overall">.*?</tr>', page, re.S).group(0)
    assert "68.00" in overall
    assert "75.00" in page
    history = re.search(r'id="history".*?</section>', page, re.S).group(0)
    for word in ("Sent", "Submitted", "Reviewer's comment", "Sent back for clarification", "Resubmitted"):
        assert word in history


def test_clarification_without_a_question_or_a_text_is_refused(carrier_questionnaire, send_questionnaire,
                                                                login_as):
    assignment, _ = send_questionnaire(carrier_questionnaire)
    _submit(assignment, carrier_questionnaire, **FULL)
    manager = login_as("quality_manager")
    base = f"/questionnaires/assignments/{assignment.id}"
    response = manager.post_form(f"{base}/clarify", {"version": assignment.version})
    assert response.status_code == 422
    assert "Choose at least one question to send back." in response.get_data(as_text=True)
    on_time = _question(carrier_questionnaire, "on_time")
    response = manager.post_form(f"{base}/clarify", {"version": assignment.version, "clarify": [str(on_time.id)]})
    assert response.status_code == 422
    assert "Say what needs clarifying." in _item(response.get_data(as_text=True), on_time.id)
    db.session.refresh(assignment)
    assert assignment.status == AssignmentStatus.SUBMITTED


def test_decision_sets_the_supplier_status_and_shows_in_its_history(carrier_questionnaire, send_questionnaire,
                                                                    login_as):
    assignment, _ = send_questionnaire(carrier_questionnaire)
    _submit(assignment, carrier_questionnaire, **FULL)
    manager = login_as("quality_manager")
    page = _page(manager, assignment)
    # The result is conditional: "conditionally approved" is pre-selected, and its effect said.
    until = service.add_months(dt.date.today(), 12)
    radio = re.search(r'<input[^>]*value="conditionally_approved"[^>]*>', page).group(0)
    assert "checked" in radio
    assert "checked" not in re.search(r'<input[^>]*value="approved"[^>]*>', page).group(0)
    assert "Sets the supplier to Conditionally approved until" in page

    base = f"/questionnaires/assignments/{assignment.id}"
    response = manager.post_form(f"{base}/decide", {"version": assignment.version, "decision": "conditionally_approved",
                                                    "reason": ""})
    assert response.status_code == 422 and "This field is required." in response.get_data(as_text=True)

    response = manager.post_form(f"{base}/decide", {"version": assignment.version, "decision": "conditionally_approved",
                                                    "reason": "Insurance below our €1M requirement."})
    assert response.status_code == 302
    db.session.refresh(assignment)
    supplier = db.session.get(Supplier, assignment.supplier_id)
    assert assignment.status == AssignmentStatus.ACCEPTED and assignment.decision == "conditionally_approved"
    assert supplier.status == "conditionally_approved" and supplier.qualified_until == until
    assert assignment.qualified_until == until
    supplier_page = manager.get(f"/suppliers/{supplier.code}").get_data(as_text=True)
    history = re.search(r'id="status-history".*?</section>', supplier_page, re.S).group(0)
    assert "Insurance below our €1M requirement." in history and f"assignment #{assignment.id}" in history
    panel = re.search(r'id="questionnaires".*?</section>', supplier_page, re.S).group(0)
    assert f"/questionnaires/assignments/{assignment.id}" in panel and "63.00" in panel
    assert "Conditionally approved" in panel
    # A decided questionnaire offers no more review forms.
    page = _page(manager, assignment)
    assert "Record the decision" not in page and 'id="clarify-form"' not in page


def test_second_reviewer_with_a_stale_page_is_told_and_nothing_changes(carrier_questionnaire, send_questionnaire,
                                                                       login_as):
    assignment, _ = send_questionnaire(carrier_questionnaire)
    _submit(assignment, carrier_questionnaire, **FULL)
    first, second = login_as("quality_manager"), login_as("quality_manager")
    seen = assignment.version  # both reviewers load the page now
    on_time = _question(carrier_questionnaire, "on_time")
    base = f"/questionnaires/assignments/{assignment.id}"
    assert first.post_form(f"{base}/clarify", {"version": seen, "clarify": [str(on_time.id)],
                                               f"request-{on_time.id}": "Which year?"}).status_code == 302
    response = second.post_form(f"{base}/decide", {"version": seen, "decision": "approved", "reason": "All good."})
    assert response.status_code == 409
    assert "Someone else changed this questionnaire meanwhile" in response.get_data(as_text=True)
    db.session.refresh(assignment)
    assert assignment.status == AssignmentStatus.CLARIFICATION and assignment.decision is None
    assert db.session.get(Supplier, assignment.supplier_id).status == "in_qualification"
    # The same for the link actions.
    response = second.post_form(f"{base}/revoke", {"version": seen})
    assert response.status_code == 409
    db.session.refresh(assignment)
    assert assignment.revoked_at is None


def test_auditor_reviews_but_cannot_decide_or_send(carrier_questionnaire, send_questionnaire, login_as):
    assignment, _ = send_questionnaire(carrier_questionnaire)
    _submit(assignment, carrier_questionnaire, **FULL)
    auditor = login_as("auditor")
    page = _page(auditor, assignment)
    assert 'id="clarify-form"' in page and "comment-form" in page
    assert "Record the decision" not in page and "Revoke the link" not in page
    base = f"/questionnaires/assignments/{assignment.id}"
    response = auditor.post_form(f"{base}/decide", {"version": assignment.version, "decision": "approved",
                                                    "reason": "ok"})
    assert response.status_code == 403
    assert auditor.post_form(f"{base}/cancel", {"version": assignment.version, "reason": "x"}).status_code == 403
    db.session.refresh(assignment)
    assert assignment.decision is None and assignment.status == AssignmentStatus.SUBMITTED


def test_viewer_reads_only(carrier_questionnaire, send_questionnaire, login_as):
    assignment, _ = send_questionnaire(carrier_questionnaire)
    _submit(assignment, carrier_questionnaire, **FULL)
    viewer = login_as("viewer")
    page = _page(viewer, assignment)
    assert "<form method=\"post\" class=\"mt-2 comment-form\"" not in page and 'id="clarify-form"' not in page
    assert service.portal_url(assignment) not in page
    assert viewer.get("/questionnaires/assignments").status_code == 200
    base = f"/questionnaires/assignments/{assignment.id}"
    on_time = _question(carrier_questionnaire, "on_time")
    for url, data in ((f"{base}/answers/{on_time.id}/comment", {"comment": "x"}),
                      (f"{base}/clarify", {"clarify": [str(on_time.id)], f"request-{on_time.id}": "x"}),
                      (f"{base}/decide", {"decision": "approved", "reason": "x"}),
                      (f"{base}/renew", {}), (f"{base}/revoke", {}), (f"{base}/cancel", {"reason": "x"})):
        assert viewer.post_form(url, {"version": assignment.version, **data}).status_code == 403, url


def test_operator_cannot_send(carrier_questionnaire, login_as, make_supplier):
    operator = login_as("operator")
    supplier = make_supplier()
    assert operator.get("/questionnaires/assignments/new").status_code == 403
    response = operator.post_form("/questionnaires/assignments/new", {
        "template": str(carrier_questionnaire.id), "supplier": supplier.code,
        "due_date": dt.date.today().isoformat(), "purpose": "initial", "language": "en"})
    assert response.status_code == 403
    assert db.session.scalar(select(Assignment.id)) is None


def test_evidence_downloads_only_through_its_own_assignment(carrier_questionnaire, send_questionnaire, login_as):
    certificate = _question(carrier_questionnaire, "certificate")
    assignment, _ = send_questionnaire(carrier_questionnaire)
    other, _ = send_questionnaire(carrier_questionnaire)
    with unit_of_work():
        service.save_answers(assignment, _form(carrier_questionnaire, **FULL),
                             {certificate.id: [FileStorage(io.BytesIO(PDF), filename="iso 9001.pdf")]}, submit=True)
    stored = assignment.answer_for(certificate.id).files[0]
    viewer = login_as("viewer")
    page = _page(viewer, assignment)
    assert f"/questionnaires/assignments/{assignment.id}/files/{stored.id}" in page
    response = viewer.get(f"/questionnaires/assignments/{assignment.id}/files/{stored.id}")
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert viewer.get(f"/questionnaires/assignments/{other.id}/files/{stored.id}").status_code == 404
    assert viewer.get(f"/questionnaires/assignments/{assignment.id}/files/999999").status_code == 404


def test_link_renew_revoke_and_cancel(carrier_questionnaire, send_questionnaire, login_as):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    manager = login_as("quality_manager")
    base = f"/questionnaires/assignments/{assignment.id}"
    assert manager.post_form(f"{base}/revoke", {"version": assignment.version}).status_code == 302
    db.session.refresh(assignment)
    assert assignment.revoked_at is not None
    assert "revoked" in re.search(r'id="link-state">.*?</dd>', _page(manager, assignment), re.S).group(0)

    new_due = dt.date.today() + dt.timedelta(days=30)
    response = manager.post_form(f"{base}/renew", {"version": assignment.version, "due_date": new_due.isoformat()})
    assert response.status_code == 302
    db.session.refresh(assignment)
    assert assignment.revoked_at is None and assignment.due_date == new_due
    assert service.assignment_for_token(secret) is None  # the old link is dead
    assert "active" in re.search(r'id="link-state">.*?</dd>', _page(manager, assignment), re.S).group(0)

    response = manager.post_form(f"{base}/cancel", {"version": assignment.version, "reason": ""})
    assert response.status_code == 422
    response = manager.post_form(f"{base}/cancel", {"version": assignment.version, "reason": "Wrong supplier."})
    assert response.status_code == 302
    db.session.refresh(assignment)
    assert assignment.status == AssignmentStatus.CANCELLED


@pytest.mark.parametrize("role", ["viewer", "operator", "auditor", "quality_manager"])
def test_every_role_sees_the_supplier_panel(role, carrier_questionnaire, send_questionnaire, login_as):
    assignment, _ = send_questionnaire(carrier_questionnaire)
    page = login_as(role).get(f"/suppliers/{assignment.supplier.code}").get_data(as_text=True)
    panel = re.search(r'id="questionnaires".*?</section>', page, re.S).group(0)
    assert f"/questionnaires/assignments/{assignment.id}" in panel
    assert ("Send questionnaire" in panel) == (role == "quality_manager")
