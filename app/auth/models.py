"""User accounts, API tokens and the log-in attempts that drive throttling."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, CheckConstraint, Index
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flask_babel import lazy_gettext as _l

from app.auth.roles import ROLE_LABELS, Role, role_can
from app.changelog import ChangeLogged
from app.db import UTCDateTime, db, utcnow

ROLE_CODES = tuple(r.value for r in Role)


class User(ChangeLogged, db.Model):
    __tablename__ = "users"
    __changelog_exclude__ = ("password_hash", "session_version", "last_login_at", "created_at")
    __changelog_kind__ = _l("User")
    __changelog_labels__ = {"email": _l("E-mail"), "name": _l("Full name"), "role": _l("Role"),
                            "locale": _l("Language"), "is_active": _l("Active (may sign in)")}
    __changelog_values__ = {"role": ROLE_LABELS}
    __table_args__ = (
        CheckConstraint("role IN ('" + "','".join(ROLE_CODES) + "')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-case; log-in compares lower-case.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    #: Interface language chosen by the user ("en", "it"); empty means the browser's.
    locale: Mapped[str | None] = mapped_column(String(8))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Bumped on log-out and password change; a session cookie carrying an older value is void.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", foreign_keys="ApiToken.user_id", order_by="ApiToken.id"
    )

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def can(self, permission: str) -> bool:
        return self.is_active and role_can(self.role, permission)

    def __str__(self) -> str:
        return self.email


class ApiToken(db.Model):
    """A bearer token for the JSON API. Only a SHA-256 of the secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    #: First characters of the token, shown so that users can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens", foreign_keys=[user_id])

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class LoginAttempt(db.Model):
    """One log-in attempt. Kept in the database so that every worker sees the same count."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "attempted_at"),
        Index("ix_login_attempts_ip_at", "remote_addr", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    remote_addr: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
