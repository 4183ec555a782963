"""E-mail through a real SMTP server: a questionnaire link reaches its contact once, and a
server that cannot be reached loses nothing — the message waits, is retried, and is given up
(and reported) only after MAX_ATTEMPTS."""
from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from app import outbox
from app.db import db, unit_of_work
from questionnaires.services import assignments as assignment_service
# The questionnaires' fixtures, used here as any domain would send a questionnaire.
from tests.questionnaires.conftest import carrier_questionnaire, send_questionnaire  # noqa: F401


class Collector:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_config(app):
    """Point the application at 127.0.0.1:<a free port> for one test; nothing listens there
    until the test starts a server with `serve()`."""
    saved = {key: app.config[key] for key in ("MAIL_SERVER", "MAIL_PORT", "MAIL_USERNAME", "MAIL_PASSWORD")}
    port = _free_port()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USERNAME="")
    controllers = []

    def serve(**options) -> Collector:
        handler = Collector()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return handler

    yield serve
    for controller in controllers:
        controller.stop()
    app.config.update(saved)


def test_a_questionnaire_link_reaches_the_contact_through_smtp(app, smtp_config, carrier_questionnaire,
                                                              send_questionnaire):
    server = smtp_config()
    assignment, secret = send_questionnaire(carrier_questionnaire)

    assert len(server.messages) == 1
    recipients, email = server.messages[0]
    assert recipients == ["giulia@carrier.example"] and email["To"] == "giulia@carrier.example"
    assert email["From"] == app.config["MAIL_FROM"]
    assert app.config["CATENA_COMPANY_NAME"] in email["Subject"]
    body = email.get_content()
    assert assignment_service.portal_url(assignment) in body and secret in body
    row = db.session.scalar(select(outbox.OutboxMessage).where(outbox.OutboxMessage.kind == "questionnaire_sent"))
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None) and row.sent_at is not None


def test_an_unreachable_server_loses_nothing_and_the_retry_sends_once(app, smtp_config, carrier_questionnaire,
                                                                      send_questionnaire):
    # Nothing listens yet: the change commits, the e-mail waits.
    assignment, _ = send_questionnaire(carrier_questionnaire)
    row = db.session.scalar(select(outbox.OutboxMessage).where(outbox.OutboxMessage.kind == "questionnaire_sent"))
    assert (row.status, row.attempts) == ("pending", 1)
    assert "Connection" in row.last_error or "refused" in row.last_error.lower()
    assert assignment.id is not None and assignment_service.portal_url(assignment) in row.body

    server = smtp_config()
    assert outbox.deliver() == 1
    db.session.refresh(row)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    # Nothing is pending any more: another round sends nothing again.
    assert outbox.deliver() == 0
    assert [r for r, _ in server.messages] == [["giulia@carrier.example"]]


def test_a_message_is_given_up_after_max_attempts_and_reported(app, smtp_config):
    with unit_of_work():
        message = outbox.enqueue("fornitore@vettore.example", "Catena: promemoria", "Corpo", kind="retry_test")
    for attempt in range(2, outbox.MAX_ATTEMPTS):
        outbox.deliver()
        db.session.refresh(message)
        assert (message.status, message.attempts) == ("pending", attempt)

    result = app.test_cli_runner().invoke(args=["outbox", "deliver"])
    assert result.exit_code == 0, result.output
    db.session.refresh(message)
    assert (message.status, message.attempts) == ("failed", outbox.MAX_ATTEMPTS) and message.last_error
    assert "0 sent." in result.output
    assert f"#{message.id}" in result.output and "fornitore@vettore.example" in result.output
    assert f"given up after {outbox.MAX_ATTEMPTS} attempts" in result.output

    # A failed message is not tried again, even once a server listens.
    server = smtp_config()
    assert outbox.deliver() == 0 and server.messages == []


# STARTTLS and log-in -------------------------------------------------------------------------

@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1: (certificate file, key file)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def _tls_server(smtp_config, certificate, logins: list):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticate(server, session, envelope, mechanism, auth_data):
        logins.append((session.ssl is not None, auth_data))
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"catena", b"s3cret")
        return AuthResult(success=ok)

    # Log-in only after STARTTLS, as a real relay requires.
    return smtp_config(tls_context=context, require_starttls=True, authenticator=authenticate,
                       auth_require_tls=True)


def test_mail_goes_through_starttls_and_logs_in_over_it(app, smtp_config, certificate, monkeypatch):
    logins = []
    server = _tls_server(smtp_config, certificate, logins)
    app.config.update(MAIL_USERNAME="catena", MAIL_PASSWORD="s3cret")
    # Trust the test certificate as if a CA had signed it.
    monkeypatch.setattr(outbox, "_tls_context", lambda: ssl.create_default_context(cafile=str(certificate[0])))
    with unit_of_work():
        message = outbox.enqueue("fornitore@vettore.example", "Catena: prova", "Corpo", kind="tls_test")
    db.session.refresh(message)
    assert (message.status, message.last_error) == ("sent", None)
    assert logins == [(True, LoginPassword(b"catena", b"s3cret"))]
    assert [r for r, _ in server.messages] == [["fornitore@vettore.example"]]


def test_an_untrusted_certificate_gets_no_password_and_no_mail(app, smtp_config, certificate):
    logins = []
    server = _tls_server(smtp_config, certificate, logins)
    app.config.update(MAIL_USERNAME="catena", MAIL_PASSWORD="s3cret")
    with unit_of_work():
        message = outbox.enqueue("fornitore@vettore.example", "Catena: prova", "Corpo", kind="tls_test")
    db.session.refresh(message)
    assert (message.status, message.attempts) == ("pending", 1)
    assert "CERTIFICATE_VERIFY_FAILED" in message.last_error
    assert logins == [] and server.messages == []
