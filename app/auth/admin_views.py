"""User administration: accounts, roles, password resets and API tokens (admins only)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.auth import services
from app.auth.access import permission_required
from app.auth.forms import ConfirmForm, ResetPasswordForm, TokenCreateForm, UserCreateForm, UserEditForm
from app.auth.models import ApiToken, User
from app.auth.roles import ROLE_LABELS
from app.changelog import history_for
from app.db import db, unit_of_work
from app.errors import ServiceError
from app.forms import show_service_errors

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _load_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users")
@permission_required("users.manage")
def users():
    rows = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template("admin/users.html", users=rows, role_labels=ROLE_LABELS)


@bp.route("/users/new", methods=["GET", "POST"])
@permission_required("users.manage")
def create_user():
    form = UserCreateForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                user = services.create_user(form.email.data, form.name.data, form.role.data,
                                            form.password.data, actor=current_user._get_current_object())
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("User %(email)s created.", email=user.email), "success")
            return redirect(url_for("admin.user", user_id=user.id))
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@permission_required("users.manage")
def user(user_id: int):
    user = _load_user(user_id)
    form = UserEditForm(obj=user)
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.update_user(user, name=form.name.data, role=form.role.data,
                                     is_active=form.is_active.data, actor=current_user._get_current_object())
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Changes saved."), "success")
            return redirect(url_for("admin.user", user_id=user.id))
    return render_template(
        "admin/user.html", user=user, form=form, reset_form=ResetPasswordForm(),
        token_form=TokenCreateForm(), confirm_form=ConfirmForm(),
        history=history_for("users", user.id), role_labels=ROLE_LABELS,
    )


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@permission_required("users.manage")
def reset_password(user_id: int):
    user = _load_user(user_id)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.set_password(user, form.password.data, actor=current_user._get_current_object())
        except ServiceError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(_("Password reset; the user's open sessions have ended."), "success")
    else:
        for errors in form.errors.values():
            for message in errors:
                flash(message, "danger")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.route("/users/<int:user_id>/tokens", methods=["POST"])
@permission_required("users.manage")
def create_token(user_id: int):
    user = _load_user(user_id)
    form = TokenCreateForm()
    if not form.validate_on_submit():
        flash(_("Give the token a name."), "danger")
        return redirect(url_for("admin.user", user_id=user.id))
    with unit_of_work():
        token, secret = services.create_token(user, form.name.data, actor=current_user._get_current_object())
    # The secret is rendered once, in this response, and never stored in clear.
    return render_template("admin/token_created.html", user=user, token=token, secret=secret)


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@permission_required("users.manage")
def revoke_token(token_id: int):
    token = db.session.get(ApiToken, token_id)
    if token is None:
        abort(404)
    ConfirmForm().validate_on_submit()
    with unit_of_work():
        services.revoke_token(token, actor=current_user._get_current_object())
    flash(_("Token revoked."), "success")
    return redirect(url_for("admin.user", user_id=token.user_id))
