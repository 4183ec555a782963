"""Private links for people without an account (a supplier answering a questionnaire or a
corrective-action request): how their secrets are made, stored and found again.

A link's secret is HMAC-SHA256(SECRET_KEY, purpose + nonce) with a fresh 256-bit random nonce
per link; only the nonce and the secret's SHA-256 digest are stored. A copy of the database
alone therefore opens nothing, yet a reminder can carry the same link the recipient already
has. The purpose keeps two kinds of link apart: one nonce never opens the other kind's record.
Renewing a link draws a new nonce, which kills the old one.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import current_app

from app.i18n import company_zone

#: Longest secret worth hashing; anything longer is not one of ours.
MAX_SECRET_LENGTH = 100


@dataclass(frozen=True)
class NewLink:
    nonce: str
    #: SHA-256 of the secret, hex: what lookups compare.
    digest: str
    #: The secret's first characters, to recognise a link in a support call.
    prefix: str


def secret_for(nonce: str, purpose: str) -> str:
    """The secret of the link drawn with `nonce` for `purpose` (URL-safe, no padding)."""
    key = current_app.config["SECRET_KEY"]
    key = key.encode("utf-8") if isinstance(key, str) else key
    digest = hmac.new(key, purpose.encode("ascii") + b":" + nonce.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_link(purpose: str) -> NewLink:
    nonce = secrets.token_hex(32)
    secret = secret_for(nonce, purpose)
    return NewLink(nonce, hash_secret(secret), secret[:8])


def digest_of(secret: str | None) -> str | None:
    """The digest to look `secret` up by; None for what cannot be one of our secrets."""
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    return hash_secret(secret)


def link_expiry(last_day: dt.date, grace_days: int) -> dt.datetime:
    """Midnight (company zone, as UTC) after `last_day` + `grace_days`: the link's end."""
    end = last_day + dt.timedelta(days=grace_days + 1)
    return dt.datetime.combine(end, dt.time(0), tzinfo=company_zone()).astimezone(dt.timezone.utc)
