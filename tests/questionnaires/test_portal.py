"""The supplier portal through HTTP only, as a supplier with no account uses it: open the link,
save a draft, come back, attach evidence, submit, and find the answers read-only afterwards."""
from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.db import db, unit_of_work
from questionnaires.models import AnswerFile, AssignmentStatus
from questionnaires.services import assignments as service

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
INPUT_RE = re.compile(r"<input\b[^>]*>")

#: A tiny PDF: the service checks the magic bytes and the extension, nothing more.
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

#: The answers the service test scores by hand (test_assignments_service.FULL).
FULL = dict(iso9001="yes", insurance="low", on_time="93", subcontracts="yes", controls=["audit", "kpi"],
            tracking="4")


def url(secret: str) -> str:
    return service.PORTAL_PATH + secret


def ids(version) -> dict[str, int]:
    return {q.key: q.id for q in version.questions()}


def fields(version, **answers) -> dict:
    by_key = ids(version)
    return {f"q{by_key[k]}": v for k, v in answers.items()}


def csrf_from(client, secret: str) -> str:
    page = client.get(url(secret)).get_data(as_text=True)
    match = CSRF_RE.search(page)
    assert match, "the portal page carries no CSRF token"
    return match.group(1)


def post(client, secret: str, data: dict, action: str = "save"):
    """Post the portal form as the browser does (multipart), with the page's CSRF token."""
    body = {"csrf_token": csrf_from(client, secret), "action": action, **data}
    return client.post(url(secret), data=body, content_type="multipart/form-data")


def checked(html: str, name: str) -> list[str]:
    """Values of the checked radios/checkboxes named `name` on the page."""
    values = []
    for tag in INPUT_RE.findall(html):
        if f'name="{name}"' in tag and re.search(r"\schecked\b", tag):
            values.append(re.search(r'value="([^"]*)"', tag).group(1))
    return values


def value_of(html: str, name: str) -> str | None:
    for tag in INPUT_RE.findall(html):
        if f'name="{name}"' in tag:
            match = re.search(r'value="([^"]*)"', tag)
            return match.group(1) if match else ""
    return None


def test_a_supplier_answers_saves_comes_back_attaches_evidence_and_submits(
        client, carrier_questionnaire, send_questionnaire, factories, app):
    manager = factories.user("quality_manager")
    assignment, secret = send_questionnaire(carrier_questionnaire, actor=manager,
                                            message="Please answer before the season starts.")
    version = carrier_questionnaire
    q = ids(version)

    # The link opens without any session, with who asks, what and the quality office's message.
    first = client.get(url(secret))
    assert first.status_code == 200
    page = first.get_data(as_text=True)
    assert app.config["CATENA_COMPANY_NAME"] in page
    assert "Carrier qualification" in page and "Please answer before the season starts." in page
    assert "Are you ISO 9001 certified?" in page
    assert "0 of 5 required questions answered" in page  # iso9001, insurance, on_time, subcontracts, tracking
    # The supplier sees neither weights, scores nor which answer knocks the questionnaire out.
    assert "knock" not in page.lower() and "weight" not in page.lower()

    # A draft: part of the answers.
    saved = post(client, secret, fields(version, iso9001="yes", insurance="low", on_time="93"))
    assert saved.status_code == 303 and saved.headers["Location"].endswith(url(secret))
    db.session.refresh(assignment)
    assert assignment.status == AssignmentStatus.IN_PROGRESS

    # Coming back (a fresh client: another day, another browser) shows the draft.
    later = app.test_client()
    page = later.get(url(secret)).get_data(as_text=True)
    assert checked(page, f"q{q['iso9001']}") == ["yes"]
    assert checked(page, f"q{q['insurance']}") == ["low"]
    assert value_of(page, f"q{q['on_time']}") == "93"
    assert "3 of 5 required questions answered" in page

    # The evidence: a PDF on the file question, kept with the draft.
    attached = post(client, secret, {**fields(version, iso9001="yes", insurance="low", on_time="93"),
                                     f"q{q['certificate']}": (io.BytesIO(PDF), "iso-9001.pdf")})
    assert attached.status_code == 303
    page = client.get(url(secret)).get_data(as_text=True)
    stored = db.session.scalars(select(AnswerFile)).all()
    assert [f.original_name for f in stored] == ["iso-9001.pdf"] and stored[0].content_type == "application/pdf"
    file_url = f"{url(secret)}/files/{stored[0].id}"
    assert file_url in page and 'name="remove_file"' in page
    download = client.get(file_url)
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment")

    # Submit: every required question answered.
    sent = post(client, secret, fields(version, **FULL), action="submit")
    assert sent.status_code == 303
    thanks = client.get(url(secret))
    assert thanks.status_code == 200
    page = thanks.get_data(as_text=True)
    assert "Thank you" in page and "Submitted" in page
    db.session.refresh(assignment)
    assert assignment.status == AssignmentStatus.SUBMITTED
    # By hand: Company iso9001 2×1 + insurance 3×½ + on_time 1×½ (90–95 band) = 4 of 6;
    # Operations controls 2×(1+2)/4 = 1.5, tracking 1×4/5 = 0.8, certificate 1×1 = 1 → 3.3 of 4
    # (subcontracts and incidents weigh 0). (4 + 3.3) / 10 = 73.00 % → pass (pass mark 70).
    assert assignment.score == Decimal("73.00") and assignment.result == "pass"

    # Afterwards the link shows the answers read-only: no fields, no buttons, still the evidence.
    page = later.get(url(secret)).get_data(as_text=True)
    assert 'name="action"' not in page and f'name="q{q["iso9001"]}"' not in page
    assert "Up to €1M" in page and "KPI reviews" in page and "iso-9001.pdf" in page
    assert later.get(file_url).status_code == 200


def test_submitting_without_the_certificate_scores_63(client, carrier_questionnaire, send_questionnaire):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    response = post(client, secret, fields(carrier_questionnaire, **FULL), action="submit")
    assert response.status_code == 303
    db.session.refresh(assignment)
    # By hand: 4 + 1.5 + 0.8 + 0 (no certificate) = 6.3 of 10 → 63.00 %: conditional (50–70).
    assert assignment.score == Decimal("63.00") and assignment.result == "conditional"


def test_a_hidden_conditional_question_does_not_block_the_submission(
        client, carrier_questionnaire, send_questionnaire):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    page = client.get(url(secret)).get_data(as_text=True)
    # Without JavaScript the question is shown with its condition; the script reads the data.
    assert "Answer only if you answered “Do you subcontract deliveries?” with: Yes." in page
    assert 'data-condition-key="subcontracts"' in page
    answers = {**FULL, "subcontracts": "no"}
    del answers["controls"]
    response = post(client, secret, fields(carrier_questionnaire, **answers), action="submit")
    assert response.status_code == 303
    db.session.refresh(assignment)
    assert assignment.status == AssignmentStatus.SUBMITTED
    # By hand: controls not shown, so not counted: (4 + 0.8 + 0) / (6 + 1 + 1) = 60.00 %.
    assert assignment.score == Decimal("60.00")


def test_missing_answers_come_back_with_messages_beside_the_fields_and_a_summary(
        client, carrier_questionnaire, send_questionnaire):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    q = ids(carrier_questionnaire)
    response = post(client, secret, fields(carrier_questionnaire, iso9001="yes", on_time="abc"), action="submit")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Your answers were not saved" in page
    assert f'href="#q{q["on_time"]}"' in page and f'id="q{q["on_time"]}-error"' in page
    assert "Enter a number." in page and "This question needs an answer." in page
    # What was typed is kept on the page, not lost.
    assert checked(page, f"q{q['iso9001']}") == ["yes"] and value_of(page, f"q{q['on_time']}") == "abc"
    db.session.refresh(assignment)
    assert assignment.status == AssignmentStatus.SENT and assignment.answers == []


def test_a_clarification_round_reopens_only_the_questions_sent_back(
        client, carrier_questionnaire, send_questionnaire, factories):
    manager = factories.user("quality_manager")
    assignment, secret = send_questionnaire(carrier_questionnaire, actor=manager)
    version = carrier_questionnaire
    q = ids(version)
    assert post(client, secret, fields(version, **FULL), action="submit").status_code == 303
    db.session.refresh(assignment)
    with unit_of_work():
        service.request_clarification(assignment, {q["on_time"]: "Please give last year's figure, not the target."},
                                      manager, today=dt.date.today(), expected_version=assignment.version)

    page = client.get(url(secret)).get_data(as_text=True)
    assert "Please give last year&#39;s figure, not the target." in page
    assert value_of(page, f"q{q['on_time']}") == "93"
    # The other answers are shown, not editable.
    assert f'name="q{q["iso9001"]}"' not in page and "Up to €1M" in page

    response = post(client, secret, fields(version, **{**FULL, "on_time": "96", "iso9001": "no"}), action="submit")
    assert response.status_code == 303
    db.session.refresh(assignment)
    values = {a.question.key: a.value for a in assignment.answers}
    assert values["on_time"] == "96" and values["iso9001"] == "yes"
    # on_time 96 → top band: Company 2 + 1.5 + 1 = 4.5; overall (4.5 + 2.3) / 10 = 68.00 %.
    assert assignment.status == AssignmentStatus.SUBMITTED and assignment.score == Decimal("68.00")


def test_a_second_submit_changes_nothing(client, carrier_questionnaire, send_questionnaire):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    token = csrf_from(client, secret)
    body = {"csrf_token": token, "action": "submit", **fields(carrier_questionnaire, **FULL)}
    assert client.post(url(secret), data=body).status_code == 303
    db.session.refresh(assignment)
    submitted_at, score = assignment.submitted_at, assignment.score
    again = client.post(url(secret), data={**body, **fields(carrier_questionnaire, iso9001="no")})
    assert again.status_code == 409
    assert "already been submitted" in again.get_data(as_text=True)
    db.session.refresh(assignment)
    assert (assignment.submitted_at, assignment.score) == (submitted_at, score)
    assert [e.kind for e in assignment.events].count("submitted") == 1


def test_a_removed_file_is_gone(client, carrier_questionnaire, send_questionnaire, app):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    q = ids(carrier_questionnaire)
    post(client, secret, {f"q{q['certificate']}": (io.BytesIO(PDF), "a.pdf")})
    stored = db.session.scalars(select(AnswerFile)).one()
    path = app.config["UPLOAD_DIR"] / stored.stored_name
    assert path.exists()
    assert post(client, secret, {"remove_file": str(stored.id)}).status_code == 303
    assert db.session.scalar(select(func.count()).select_from(AnswerFile)) == 0
    assert not path.exists()


def test_the_page_opens_in_the_assignments_language_and_the_switch_returns_to_it(
        client, carrier_questionnaire, send_questionnaire):
    _, secret = send_questionnaire(carrier_questionnaire, language="it")
    page = client.get(url(secret)).get_data(as_text=True)
    assert '<html lang="it">' in page
    switched = client.post("/language", data={"csrf_token": CSRF_RE.search(page).group(1), "locale": "en",
                                              "next": url(secret) + "?"})
    assert switched.status_code == 302 and switched.headers["Location"].startswith(url(secret))
    assert '<html lang="en">' in client.get(url(secret)).get_data(as_text=True)
    # An outside address is never a destination.
    away = client.post("/language", data={"csrf_token": CSRF_RE.search(page).group(1), "locale": "it",
                                          "next": "//evil.example/q/x"})
    assert "evil.example" not in away.headers["Location"]


@pytest.mark.parametrize("state", ["open", "gone", "submitted"])
def test_portal_responses_are_not_cached_nor_referred(client, carrier_questionnaire, send_questionnaire, state):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    if state == "gone":
        with unit_of_work():
            service.revoke_link(assignment, None)
    elif state == "submitted":
        post(client, secret, fields(carrier_questionnaire, **FULL), action="submit")
    response = client.get(url(secret))
    assert response.status_code == {"open": 200, "gone": 410, "submitted": 200}[state]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response.headers["Cache-Control"]
    unknown = client.get(url("x" * 43))
    assert unknown.status_code == 404 and unknown.headers["Referrer-Policy"] == "no-referrer"


def test_an_unknown_link_is_404_and_logged(client, caplog, app_ctx):
    with caplog.at_level("WARNING", logger="questionnaires.views.portal"):
        response = client.get(url("not-a-link-at-all"))
    assert response.status_code == 404
    assert any("unknown secret" in r.getMessage() for r in caplog.records)
