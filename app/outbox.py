"""The outbox: e-mails are written in the same transaction as the change they report, and
sent only after it commits (DESIGN, "How data flows"), so a rolled-back change never mails
anybody and a committed one is never forgotten.

Services call `enqueue()`; `app.db.unit_of_work()` calls `deliver()` after its commit for the
messages of that unit; `flask outbox deliver` retries what failed. Without SMTP settings
(SMTP_HOST) messages are written as .eml files to instance/mail/, a sink to read in
development, and marked delivered there.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column

from app.db import UTCDateTime, begin_write, db, utcnow
from app.errors import ValidationFailed

log = logging.getLogger(__name__)

_SESSION_KEY = "outbox_pending_ids"
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
MAX_ATTEMPTS = 5


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: What the message is about, e.g. "dispute_link" (for filtering and tests).
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    #: pending, sent, failed (after MAX_ATTEMPTS).
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


def enqueue(recipient: str, subject: str, body: str, kind: str) -> OutboxMessage:
    """Queue an e-mail in the current transaction. Header fields may not carry line breaks
    (no header injection); the recipient is one plain address."""
    recipient = (recipient or "").strip()
    if not _ADDRESS.match(recipient) or len(recipient) > 254:
        raise ValidationFailed(_l("Not a valid e-mail address."), code="invalid_recipient",
                               fields={"recipient": _l("Not a valid e-mail address.")})
    if any(ch in subject for ch in "\r\n\x00") or len(subject) > 200:
        raise ValidationFailed(_l("The subject may not contain line breaks."), code="invalid_subject",
                               fields={"subject": _l("The subject may not contain line breaks.")})
    message = OutboxMessage(kind=kind, recipient=recipient, subject=subject, body=body.replace("\x00", ""))
    db.session.add(message)
    db.session.flush()
    db.session.info.setdefault(_SESSION_KEY, []).append(message.id)
    return message


def forget_pending() -> None:
    """Drop the ids queued in this unit (it rolled back: nothing of it exists)."""
    db.session.info.pop(_SESSION_KEY, None)


def deliver_committed() -> int:
    """Send the messages queued by the unit of work that just committed."""
    ids = db.session.info.pop(_SESSION_KEY, None)
    if not ids:
        return 0
    # All of them: the default limit would leave a large unit's later messages pending.
    return deliver(ids, limit=len(ids))


def deliver(ids: list[int] | None = None, limit: int = 100) -> int:
    """Send pending messages (the given ones, or the oldest `limit`); returns how many were sent.

    A failure is recorded on the message and never raised: the change it reports is committed
    already, and `flask outbox deliver` will try again.
    """
    begin_write()
    stmt = select(OutboxMessage).where(OutboxMessage.status == "pending").order_by(OutboxMessage.id)
    if ids is not None:
        stmt = stmt.where(OutboxMessage.id.in_(ids))
    sent = 0
    for message in db.session.scalars(stmt.limit(limit)).all():
        message.attempts += 1
        try:
            _send(message)
        except Exception as exc:  # noqa: BLE001 (any transport error is recorded, never raised)
            message.last_error = f"{type(exc).__name__}: {exc}"[:500]
            if message.attempts >= MAX_ATTEMPTS:
                message.status = "failed"
            log.warning("outbox message %s not sent: %s", message.id, message.last_error)
        else:
            message.status, message.sent_at, message.last_error = "sent", utcnow(), None
            sent += 1
    db.session.commit()
    return sent


def failed_messages(limit: int = 20) -> tuple[int, list[OutboxMessage]]:
    """Messages given up after MAX_ATTEMPTS: how many, and the latest `limit` of them."""
    failed = select(OutboxMessage).where(OutboxMessage.status == "failed")
    total = db.session.scalar(select(func.count()).select_from(failed.subquery())) or 0
    latest = db.session.scalars(failed.order_by(OutboxMessage.id.desc()).limit(limit)).all()
    return total, list(latest)


def pending_count() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.status == "pending")) or 0


def _as_email(message: OutboxMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = current_app.config["MAIL_FROM"]
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email.set_content(message.body)
    return email


def _tls_context() -> ssl.SSLContext:
    """Verify the server's certificate and host name against the system's trusted CAs."""
    return ssl.create_default_context()


def _send(message: OutboxMessage) -> None:
    config = current_app.config
    email = _as_email(message)
    if not config.get("MAIL_SERVER"):
        sink = Path(current_app.instance_path) / "mail"
        sink.mkdir(parents=True, exist_ok=True)
        (sink / f"{message.id:08d}-{message.kind}.eml").write_bytes(bytes(email))
        return
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=10) as smtp:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            # smtplib's default context checks neither the certificate nor the host name, which
            # would hand the password below to anybody in the middle.
            smtp.starttls(context=_tls_context())
            smtp.ehlo()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        smtp.send_message(email)
