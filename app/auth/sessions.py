"""Browser sessions: who is signed in, and when a session stops being valid.

A session carries the user's `session_version`; logging out or changing the password bumps
it, so a copied cookie stops working. A session idle for longer than SESSION_IDLE_MINUTES
ends at the next request.
"""
from __future__ import annotations

import time

from flask import Flask, flash, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user

from app.db import db
from app.extensions import login_manager


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to open this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str):
        from app.auth.models import User

        try:
            raw_id, raw_version = user_id.split(":", 1)
            user = db.session.get(User, int(raw_id))
            version = int(raw_version)
        except (ValueError, TypeError):
            return None
        if user is None or not user.is_active or user.session_version != version:
            return None
        return user

    @app.before_request
    def expire_idle_session():
        if request.endpoint == "static" or request.path.startswith("/api/"):
            return None
        now = int(time.time())
        last_seen = session.get("last_seen")
        idle_limit = app.config["SESSION_IDLE_MINUTES"] * 60
        if current_user.is_authenticated and last_seen and now - last_seen > idle_limit:
            logout_user()
            session.clear()
            flash(_l("Your session expired after a period of inactivity. Please sign in again."), "info")
            return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
        if current_user.is_authenticated:
            session["last_seen"] = now
        return None
