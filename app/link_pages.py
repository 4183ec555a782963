"""The pages behind private links (the questionnaire portal, corrective-action requests): what
every such page does whatever it shows.

- `link_view(...)` turns the `<token>` of a route into its record, or answers 404 — logged, and
  counted against the client's address in the database (`login_attempts`, as the log-in does),
  so the budget holds across workers. Past the budget every link request from that address is
  answered 429, real links included: a throttled client learns nothing about which secrets
  exist. Side effect, on purpose: these rows are failures from the client's address, so an
  address guessing links also meets the log-in's per-address throttle. The page then renders in
  the language the visitor chose, else the record's.
- `gone_page(...)`: the 410 page of a link that can change nothing any more.
- `protect(bp, endpoints)`: the secret is in the URL, so those responses are never passed on as
  a referrer, never cached, never indexed.

The budget: `PRIVATE_LINK_PROBE_LIMIT` unknown secrets per `PRIVATE_LINK_PROBE_WINDOW_MINUTES`
(config; 30 per 10 minutes by default).
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable

from flask import abort, current_app, render_template, request, session
from flask_babel import force_locale
from flask_login import current_user
from sqlalchemy import func, select

from app.auth.models import LoginAttempt
from app.db import db, unit_of_work, utcnow

log = logging.getLogger(__name__)

PROBE_LIMIT = 30
PROBE_WINDOW_MINUTES = 10


def client_address() -> str:
    return (request.remote_addr or "unknown")[:64]


def _budget() -> tuple[int, dt.timedelta]:
    config = current_app.config
    return (int(config.get("PRIVATE_LINK_PROBE_LIMIT", PROBE_LIMIT)),
            dt.timedelta(minutes=int(config.get("PRIVATE_LINK_PROBE_WINDOW_MINUTES", PROBE_WINDOW_MINUTES))))


def throttle(marker: str) -> None:
    """429 when this address tried too many unknown links of this kind lately."""
    limit, window = _budget()
    failures = db.session.scalar(
        select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.email == marker, LoginAttempt.remote_addr == client_address(),
            LoginAttempt.attempted_at >= utcnow() - window, LoginAttempt.succeeded.is_(False))) or 0
    if failures >= limit:
        abort(429)


def record_unknown_link(marker: str, what: str, token: str) -> None:
    log.warning("%s: unknown secret %s… from %s", what, (token or "")[:4], client_address())
    # End the read transaction first: on SQLite a write must start as a write transaction.
    db.session.rollback()
    with unit_of_work():
        db.session.add(LoginAttempt(email=marker, remote_addr=client_address(), succeeded=False))


def locale_for(language: str | None) -> str:
    """The visitor's chosen language, else a signed-in user's, else the record's."""
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("locale")
    if chosen in languages:
        return chosen
    if current_user.is_authenticated and getattr(current_user, "locale", None) in languages:
        return current_user.locale
    if language in languages:
        return language
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def link_view(lookup: Callable[[str], object | None], *, marker: str, what: str):
    """Decorator for a route with `<token>`: calls the view as view(record, token, **kwargs).

    `lookup(secret)` finds the record by the secret's digest; `marker` is the pseudo e-mail
    under which failed lookups of this kind are counted (not an address: it never names an
    account); `what` names the kind of link in the log."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(token: str, **kwargs):
            throttle(marker)
            record = lookup(token)
            if record is None:
                record_unknown_link(marker, what, token)
                abort(404)
            with force_locale(locale_for(getattr(record, "language", None))):
                return view(record, token, **kwargs)

        return wrapper

    return decorator


def gone_page(explanation: str, contact_name: str | None, contact_email: str | None):
    """410: say what happened to the link and whom to contact; show nothing of its record."""
    return render_template("links/gone.html", explanation=explanation, company=current_app.config["CATENA_COMPANY_NAME"],
                           contact_name=contact_name, contact_email=contact_email), 410


def protect(blueprint, endpoints: frozenset[str]) -> None:
    """No referrer, no cache, no index for the responses of these endpoints."""

    @blueprint.after_request
    def _link_page_headers(response):
        if request.endpoint in endpoints:
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["Cache-Control"] = "no-store"
            response.headers["X-Robots-Tag"] = "noindex, nofollow"
        return response
