"""Signing in and out, one's own password and language."""
from __future__ import annotations

import time

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import services
from app.auth.access import safe_next_url
from app.auth.forms import ChangePasswordForm, LanguageForm, LoginForm
from app.db import unit_of_work
from app.errors import ServiceError

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm(next=request.args.get("next", ""))
    error = None
    status = 200
    if form.validate_on_submit():
        chosen_locale = session.get("locale")
        with unit_of_work():
            result = services.authenticate(form.email.data, form.password.data, request.remote_addr)
            if result.user is not None and not result.user.locale and chosen_locale:
                services.set_locale(result.user, chosen_locale)
        if result.is_throttled:
            error, status = _("Too many failed attempts. Wait a few minutes and try again."), 429
        elif result.user is None:
            error = _("E-mail or password not correct.")
        else:
            # A fresh session on sign-in: nothing from before (a planted id) carries over.
            session.clear()
            if chosen_locale:
                session["locale"] = chosen_locale
            login_user(result.user)
            session["last_seen"] = int(time.time())
            return redirect(safe_next_url(form.next.data) or url_for("core.home"))
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    with unit_of_work():
        services.end_sessions(current_user._get_current_object())
    logout_user()
    session.clear()
    flash(_("You have signed out."), "success")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            with unit_of_work():
                services.change_own_password(user, form.current_password.data, form.password.data)
        except ServiceError as exc:
            for name, message in exc.fields.items():
                getattr(form, name).errors.append(message)
        else:
            # The password change ended every session, this one included; start a new one.
            login_user(user)
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("core.home"))
    return render_template("auth/password.html", form=form)


@bp.route("/language", methods=["POST"])
def set_language():
    form = LanguageForm()
    if form.validate_on_submit():
        locale = form.locale.data
        session["locale"] = locale
        if current_user.is_authenticated:
            with unit_of_work():
                services.set_locale(current_user._get_current_object(), locale)
    return redirect(safe_next_url(form.next.data) or url_for("core.home"))
