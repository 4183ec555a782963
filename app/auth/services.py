"""Operations on users, passwords, log-in attempts and API tokens.

Passwords are hashed with Argon2id. Log-in attempts are counted in the database so that the
throttle holds across every worker process. Token secrets are shown once and stored as
SHA-256 digests: a 256-bit random secret needs no slow hash.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.auth.models import ApiToken, LoginAttempt, User
from app.auth.roles import Role
from app.db import db, utcnow
from app.errors import ValidationFailed

MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "cat_"

_hashers: dict[str, PasswordHasher] = {}


def _hasher() -> PasswordHasher:
    cost = current_app.config.get("PASSWORD_HASH_COST", "full")
    if cost not in _hashers:
        # Tests use the same Argon2id scheme at a tiny cost so the suite stays quick.
        _hashers[cost] = PasswordHasher() if cost == "full" else PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return _hashers[cost]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A hash to verify against when the e-mail is unknown, so both cases take the same time.
_DUMMY_HASH_CACHE: dict[str, str] = {}


def _dummy_hash() -> str:
    cost = current_app.config.get("PASSWORD_HASH_COST", "full")
    if cost not in _DUMMY_HASH_CACHE:
        _DUMMY_HASH_CACHE[cost] = hash_password(secrets.token_hex(16))
    return _DUMMY_HASH_CACHE[cost]


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            _l("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
            fields={"password": _l("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)},
        )


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def create_user(email: str, name: str, role: str, password: str, actor: User | None, locale: str | None = None) -> User:
    email = normalise_email(email)
    if role not in {r.value for r in Role}:
        raise ValidationFailed(_l("Unknown role."), fields={"role": _l("Unknown role.")})
    if find_user_by_email(email) is not None:
        raise ValidationFailed(
            _l("A user with this e-mail already exists."),
            code="duplicate_email",
            fields={"email": _l("A user with this e-mail already exists.")},
        )
    check_password_rules(password)
    user = User(email=email, name=name.strip() or email, role=role, password_hash=hash_password(password),
                locale=locale, is_active=True, session_version=1)
    db.session.add(user)
    db.session.flush()
    return user


def update_user(user: User, *, name: str, role: str, is_active: bool, actor: User) -> User:
    if user.id == actor.id and (role != user.role or not is_active):
        # An administrator locking themselves out would leave nobody to undo it.
        raise ValidationFailed(
            _l("You cannot change your own role or deactivate yourself."),
            code="self_lockout",
            fields={"role": _l("You cannot change your own role or deactivate yourself.")},
        )
    if role not in {r.value for r in Role}:
        raise ValidationFailed(_l("Unknown role."), fields={"role": _l("Unknown role.")})
    if user.is_active and not is_active:
        user.session_version += 1
    user.name, user.role, user.is_active = name.strip(), role, is_active
    db.session.flush()
    return user


def set_password(user: User, new_password: str, actor: User | None) -> None:
    check_password_rules(new_password)
    user.password_hash = hash_password(new_password)
    # Every other session of this user ends.
    user.session_version += 1
    db.session.flush()


def change_own_password(user: User, current_password: str, new_password: str) -> None:
    if not _verify(user.password_hash, current_password):
        raise ValidationFailed(
            _l("The current password is not correct."),
            code="wrong_password",
            fields={"current_password": _l("The current password is not correct.")},
        )
    set_password(user, new_password, actor=user)


def set_locale(user: User, locale: str) -> None:
    if locale not in current_app.config["LANGUAGES"]:
        raise ValidationFailed(_l("Unknown language."), fields={"locale": _l("Unknown language.")})
    user.locale = locale
    db.session.flush()


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    is_throttled: bool = False


def _recent_failures(column, value) -> int:
    window = dt.timedelta(minutes=current_app.config["LOGIN_FAILURE_WINDOW_MINUTES"])
    since = utcnow() - window
    return db.session.scalar(
        select(func.count()).select_from(LoginAttempt).where(
            column == value, LoginAttempt.attempted_at >= since, LoginAttempt.succeeded.is_(False)
        )
    ) or 0


def authenticate(email: str, password: str, remote_addr: str) -> LoginResult:
    """Check a log-in and record the attempt, whatever its outcome.

    The attempt is throttled when the e-mail (LOGIN_MAX_FAILURES) or the client address
    (4 × that, to allow a shared office address) failed too often within the window; the
    password is then not even checked. The caller shows the same message whether or not
    the account exists, and an unknown e-mail costs the same hashing time as a known one.
    """
    email = normalise_email(email)[:254]
    remote_addr = (remote_addr or "unknown")[:64]
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    throttled = (_recent_failures(LoginAttempt.email, email) >= limit
                 or _recent_failures(LoginAttempt.remote_addr, remote_addr) >= 4 * limit)
    user = None
    if not throttled:
        user = find_user_by_email(email)
        matches = _verify(user.password_hash if user else _dummy_hash(), password)
        if not (matches and user is not None and user.is_active):
            user = None
    db.session.add(LoginAttempt(email=email, remote_addr=remote_addr, succeeded=user is not None))
    if user is not None:
        user.last_login_at = utcnow()
        if _hasher().check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
    db.session.flush()
    return LoginResult(user=user, is_throttled=throttled)


def end_sessions(user: User) -> None:
    """Invalidate every browser session of the user (called on log-out)."""
    user.session_version += 1
    db.session.flush()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(user: User, name: str, actor: User | None) -> tuple[ApiToken, str]:
    """Create an API token; return it with its secret, which is never shown again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user, name=(name or "API token").strip()[:120], prefix=secret[:12],
        token_hash=_digest(secret), created_by_id=getattr(actor, "id", None),
    )
    db.session.add(token)
    db.session.flush()
    return token, secret


def revoke_token(token: ApiToken, actor: User) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()


def user_for_token(secret: str) -> User | None:
    """The active user owning an unrevoked token with this secret, or None."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    if token is None or token.is_revoked or not token.user.is_active:
        return None
    now = utcnow()
    # Record use at most once a minute: a busy integration must not turn reads into writes.
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        token.last_used_at = now
    return token.user
