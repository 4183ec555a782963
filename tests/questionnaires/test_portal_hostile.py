"""The supplier portal against what a hostile or careless visitor sends (HOSTILE.md rows 56–58):
closed links, other assignments' ids, forged fields, missing CSRF, bad files, markup, limits,
guessing links, and a submission racing another."""
from __future__ import annotations

import datetime as dt
import io
import os

import pytest
from sqlalchemy import func, select, update

from app.db import db, unit_of_work, utcnow
from questionnaires.models import Answer, AnswerFile, Assignment, AssignmentStatus
from questionnaires.services import assignments as service
from questionnaires.services.question_types import LONG_TEXT_MAX
from tests.questionnaires.conftest import build_questionnaire
from tests.questionnaires.test_portal import FULL, PDF, fields, ids, post, url

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def uploaded_files(app) -> set[str]:
    directory = app.config["UPLOAD_DIR"]
    return set(os.listdir(directory)) if directory.exists() else set()


@pytest.mark.parametrize("how", ["expired", "revoked", "cancelled"])
def test_a_closed_link_is_410_naming_the_contact_and_showing_nothing(
        client, carrier_questionnaire, send_questionnaire, factories, how):
    manager = factories.user("quality_manager", name="Marta Rossi", email="marta.rossi@shop.example")
    assignment, secret = send_questionnaire(carrier_questionnaire, actor=manager, message="Private note")
    post(client, secret, fields(carrier_questionnaire, iso9001="yes", on_time="93"))
    with unit_of_work():
        if how == "expired":
            assignment.expires_at = utcnow() - dt.timedelta(minutes=1)
        elif how == "revoked":
            service.revoke_link(assignment, manager)
        else:
            service.cancel(assignment, "Sent to the wrong supplier.", manager)
    db.session.refresh(assignment)
    status_before = assignment.status
    for method in ("get", "post"):
        if method == "get":
            response = client.get(url(secret))
        else:
            response = client.post(url(secret), data={"csrf_token": client.csrf_token("/login"), "action": "submit",
                                                      **fields(carrier_questionnaire, **FULL)})
        assert response.status_code == 410, method
        page = response.get_data(as_text=True)
        assert "Marta Rossi" in page and "marta.rossi@shop.example" in page
        for secret_text in ("Carrier qualification", "ISO 9001", "Goods-in-transit", "Private note",
                            assignment.supplier.legal_name, 'name="q'):
            assert secret_text not in page, secret_text
    db.session.refresh(assignment)
    assert assignment.status == status_before and assignment.score is None
    # The evidence behind the link is closed too.
    assert client.get(f"{url(secret)}/files/1").status_code == 410


def test_a_closed_link_without_a_sender_names_the_quality_office(client, carrier_questionnaire, send_questionnaire,
                                                                  app):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    with unit_of_work():
        service.revoke_link(assignment, None)
    page = client.get(url(secret)).get_data(as_text=True)
    assert f"Please contact the quality office of {app.config['CATENA_COMPANY_NAME']}" in page


def test_a_link_reaches_only_its_own_evidence(client, carrier_questionnaire, send_questionnaire, caplog):
    a, secret_a = send_questionnaire(carrier_questionnaire)
    b, secret_b = send_questionnaire(carrier_questionnaire)
    certificate = ids(carrier_questionnaire)["certificate"]
    post(client, secret_b, {f"q{certificate}": (io.BytesIO(PDF), "b.pdf")})
    b_file = db.session.scalars(select(AnswerFile)).one()
    assert client.get(f"{url(secret_b)}/files/{b_file.id}").status_code == 200
    with caplog.at_level("WARNING", logger="questionnaires.views.portal"):
        assert client.get(f"{url(secret_a)}/files/{b_file.id}").status_code == 404
    assert any("not part of assignment" in r.getMessage() for r in caplog.records)
    # Nor can A remove B's file by naming its id in the form.
    assert post(client, secret_a, {"remove_file": str(b_file.id)}).status_code == 303
    assert count(AnswerFile) == 1


def test_forged_fields_are_ignored(client, carrier_questionnaire, send_questionnaire, factories):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    other_supplier = factories.supplier()
    other_version = build_questionnaire(name="Warehouse qualification")
    other_question = other_version.questions()[0]
    supplier_id = assignment.supplier_id
    response = post(client, secret, {**fields(carrier_questionnaire, iso9001="yes"), "status": "accepted",
                                     "score": "100", "result": "pass", "supplier_id": str(other_supplier.id),
                                     "decision": "approved", f"q{other_question.id}": "yes",
                                     "assignment_id": "1", "round": "7"})
    assert response.status_code == 303
    db.session.refresh(assignment)
    assert assignment.status == AssignmentStatus.IN_PROGRESS
    assert assignment.score is None and assignment.result is None and assignment.decision is None
    assert assignment.supplier_id == supplier_id and assignment.round == 1
    assert {a.question_id for a in assignment.answers} == {ids(carrier_questionnaire)["iso9001"]}
    assert db.session.scalar(select(func.count()).select_from(Answer)
                             .where(Answer.question_id == other_question.id)) == 0


def test_a_post_without_the_csrf_token_is_refused_and_saves_nothing(client, carrier_questionnaire,
                                                                    send_questionnaire):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    client.get(url(secret))  # the visitor has a session, but the forged form carries no token
    response = client.post(url(secret), data={"action": "submit", **fields(carrier_questionnaire, **FULL)})
    assert response.status_code == 400
    forged = client.post(url(secret), data={"csrf_token": "forged", "action": "save",
                                            **fields(carrier_questionnaire, **FULL)})
    assert forged.status_code == 400
    db.session.refresh(assignment)
    assert assignment.status == AssignmentStatus.SENT and assignment.answers == []


@pytest.mark.parametrize("name,content,message", [
    ("big.pdf", PDF + b"0" * 400, "larger than"),
    ("image.pdf", PNG, "not a valid"),
    ("notes.txt", b"just some text\n", "not a valid"),
    ("notes.pdf", b"just some text\n", "not a valid"),
])
def test_a_refused_file_stores_nothing(client, carrier_questionnaire, send_questionnaire, app, name, content,
                                       message):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    q = ids(carrier_questionnaire)
    before = uploaded_files(app)
    limit = app.config["QUESTIONNAIRE_FILE_MAX_BYTES"]
    app.config["QUESTIONNAIRE_FILE_MAX_BYTES"] = 300
    try:
        response = post(client, secret, {**fields(carrier_questionnaire, iso9001="yes"),
                                         f"q{q['certificate']}": [(io.BytesIO(PDF), "good.pdf"),
                                                                  (io.BytesIO(content), name)]})
    finally:
        app.config["QUESTIONNAIRE_FILE_MAX_BYTES"] = limit
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and f'id="q{q["certificate"]}-error"' in page
    assert "choose them again" in page
    assert count(AnswerFile) == 0 and uploaded_files(app) == before
    db.session.refresh(assignment)
    assert assignment.answers == [] and assignment.status == AssignmentStatus.SENT


def test_too_many_files_are_refused(client, carrier_questionnaire, send_questionnaire):
    _, secret = send_questionnaire(carrier_questionnaire)
    certificate = ids(carrier_questionnaire)["certificate"]  # max_files = 2
    response = post(client, secret, {f"q{certificate}": [(io.BytesIO(PDF), f"{n}.pdf") for n in range(3)]})
    assert response.status_code == 422 and "at most 2 files" in response.get_data(as_text=True)
    assert count(AnswerFile) == 0


def test_markup_in_an_answer_is_shown_as_text(client, carrier_questionnaire, send_questionnaire):
    _, secret = send_questionnaire(carrier_questionnaire)
    attack = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    assert post(client, secret, fields(carrier_questionnaire, incidents=attack)).status_code == 303
    page = client.get(url(secret)).get_data(as_text=True)
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_long_text_takes_10000_characters_and_no_more(client, carrier_questionnaire, send_questionnaire):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    incidents = ids(carrier_questionnaire)["incidents"]
    assert post(client, secret, fields(carrier_questionnaire, incidents="x" * LONG_TEXT_MAX)).status_code == 303
    db.session.refresh(assignment)
    assert len(assignment.answer_for(incidents).value) == 10_000
    refused = post(client, secret, fields(carrier_questionnaire, incidents="y" * (LONG_TEXT_MAX + 1)))
    assert refused.status_code == 422
    assert "Use at most 10000 characters." in refused.get_data(as_text=True)
    db.session.refresh(assignment)
    assert assignment.answer_for(incidents).value == "x" * 10_000


def test_a_request_over_the_size_limit_is_413(client, carrier_questionnaire, send_questionnaire, app):
    assignment, secret = send_questionnaire(carrier_questionnaire)
    certificate = ids(carrier_questionnaire)["certificate"]
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 2000
    try:
        response = post(client, secret, {f"q{certificate}": (io.BytesIO(PDF + b"0" * 5000), "big.pdf")})
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert response.status_code == 413
    assert count(AnswerFile) == 0


def test_guessing_links_is_throttled_per_address(client, carrier_questionnaire, send_questionnaire, app):
    _, secret = send_questionnaire(carrier_questionnaire)
    app.config["PRIVATE_LINK_PROBE_LIMIT"] = 5
    try:
        for n in range(5):
            assert client.get(url(f"guess{n}")).status_code == 404
        assert client.get(url("guess-again")).status_code == 429
        # Throttled, the address learns nothing more, not even about a real link.
        assert client.get(url(secret)).status_code == 429
        other = app.test_client()
        assert other.get(url(secret), environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    finally:
        del app.config["PRIVATE_LINK_PROBE_LIMIT"]


def test_a_submit_racing_another_is_not_an_error(client, carrier_questionnaire, send_questionnaire, monkeypatch):
    """Another request submits between this one's read and its write: the version check
    (StaleDataError) refuses the write, and the visitor sees a page, not a 500."""
    assignment, secret = send_questionnaire(carrier_questionnaire)
    real_save = service.save_answers

    def racing_save(target, *args, **kwargs):
        # What a concurrent request would have committed meanwhile: a newer row version.
        db.session.execute(update(Assignment).where(Assignment.id == target.id)
                           .values(version=Assignment.version + 1), execution_options={"synchronize_session": False})
        return real_save(target, *args, **kwargs)

    monkeypatch.setattr(service, "save_answers", racing_save)
    response = post(client, secret, fields(carrier_questionnaire, **FULL), action="submit")
    assert response.status_code == 409
    assert "changed from another window" in response.get_data(as_text=True)
    db.session.refresh(assignment)
    assert assignment.status == AssignmentStatus.SENT and assignment.answers == []
