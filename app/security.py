"""HTTP response hardening applied to every response.

The Content-Security-Policy allows no inline script and nothing from other origins: every
asset is vendored under static/.
"""
from __future__ import annotations

from flask import Flask, request
from flask_babel import lazy_gettext as _l

from app.errors import json_error

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: What an API request body may be: JSON, or a multipart upload (the questionnaire import).
API_BODY_TYPES = frozenset({"application/json", "multipart/form-data"})


def refuse_unreadable_api_body():
    """415 for an API write whose body is neither JSON nor an upload.

    The API reads its arguments from the JSON body only; without this, a form-encoded body
    would be read as an empty one, and a PATCH would answer 200 having changed nothing."""
    if (request.path.startswith("/api/") and request.method in UNSAFE_METHODS
            and (request.content_length or request.headers.get("Transfer-Encoding"))
            and request.mimetype not in API_BODY_TYPES):
        return json_error(415, "unsupported_media_type",
                          _l("Send the body as JSON (Content-Type: application/json)."))
    return None


def init_app(app: Flask) -> None:
    from app.db import begin_write

    app.before_request(refuse_unreadable_api_body)

    @app.before_request
    def open_write_transaction():
        # A request that may write takes the write lock first (see app.db).
        if request.method in UNSAFE_METHODS:
            begin_write()

    @app.after_request
    def set_security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint != "static":
            # Pages show records that may be confidential; never keep them in shared caches.
            headers.setdefault("Cache-Control", "no-store")
        return response
