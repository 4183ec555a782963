"""E-mails leave only after the change they report is committed."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import outbox
from app.db import db, unit_of_work
from app.errors import ValidationFailed


def _sink(app) -> Path:
    return Path(app.instance_path) / "mail"


def test_a_committed_message_is_delivered_to_the_sink(app, app_ctx):
    with unit_of_work():
        message = outbox.enqueue("fornitore@vettore.example", "Il tuo link", "Corpo del messaggio", kind="test")
    db.session.refresh(message)
    assert message.status == "sent" and message.attempts == 1
    written = (_sink(app) / f"{message.id:08d}-test.eml").read_text()
    assert "To: fornitore@vettore.example" in written and "Corpo del messaggio" in written


def test_a_rolled_back_message_is_never_sent(app, app_ctx):
    before = db.session.scalar(select(func.count()).select_from(outbox.OutboxMessage))
    with pytest.raises(RuntimeError):
        with unit_of_work():
            outbox.enqueue("fornitore@vettore.example", "Mai", "Mai inviato", kind="rolled_back")
            raise RuntimeError("the change failed")
    assert db.session.scalar(select(func.count()).select_from(outbox.OutboxMessage)) == before
    assert not list(_sink(app).glob("*-rolled_back.eml"))


@pytest.mark.parametrize("recipient,subject", [
    ("a@b.example\r\nBcc: all@evil.example", "ok"),
    ("a@b.example, b@c.example", "ok"),
    ("a@b.example", "Subject\r\nBcc: all@evil.example"),
])
def test_header_injection_is_refused(app_ctx, recipient, subject):
    with pytest.raises(ValidationFailed):
        outbox.enqueue(recipient, subject, "x", kind="test")


def test_a_transport_failure_is_recorded_and_retried_later(app, app_ctx):
    app.config["MAIL_SERVER"], app.config["MAIL_PORT"] = "127.0.0.1", 1   # nothing listens there
    try:
        with unit_of_work():
            message = outbox.enqueue("fornitore@vettore.example", "Riprova", "x", kind="retry")
        db.session.refresh(message)
        assert (message.status, message.attempts) == ("pending", 1) and message.last_error
    finally:
        app.config["MAIL_SERVER"] = ""
    assert outbox.deliver() >= 1
    db.session.refresh(message)
    assert message.status == "sent" and message.attempts == 2
