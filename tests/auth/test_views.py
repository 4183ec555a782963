"""Signing in and out, throttling, sessions and passwords."""
from __future__ import annotations

from sqlalchemy import func, select

from app.auth.models import LoginAttempt, User
from app.db import db
from tests.factories import DEFAULT_PASSWORD


def test_login_page_has_email_password_and_csrf_fields(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'name="email"' in page and 'name="password"' in page and 'name="csrf_token"' in page


def test_user_signs_in_and_out(client, make_user):
    user = make_user(role="operator")
    response = client.login(user.email)
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    response = client.post_form("/logout")
    assert response.status_code == 302
    assert client.get("/").status_code == 302  # back to the log-in page


def test_wrong_password_gives_a_generic_message(client, make_user):
    user = make_user()
    page = client.login(user.email, "wrong password!").get_data(as_text=True)
    assert "E-mail or password not correct." in page
    page = client.login("nobody@example.test", "wrong password!").get_data(as_text=True)
    assert "E-mail or password not correct." in page


def test_failed_logins_are_throttled_per_account(client, make_user, app):
    user = make_user()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        client.login(user.email, "wrong password!")
    response = client.login(user.email)  # even the right password is refused now
    assert response.status_code == 429
    assert "Too many failed attempts" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.email == user.email)) == app.config["LOGIN_MAX_FAILURES"] + 1


def test_old_session_cookie_is_void_after_logout(app, make_user):
    from tests.conftest import Client

    user = make_user()
    client = Client(app.test_client())
    client.login(user.email)
    cookie = client.raw.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    client.post_form("/logout")
    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    assert replay.get("/").status_code == 302


def test_next_parameter_never_leaves_the_site(client, make_user):
    user = make_user()
    token = client.csrf_token()
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = client.raw.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD,
                                                   "csrf_token": token, "next": target})
        assert response.headers["Location"] == "/", target
        client.post_form("/logout")
        token = client.csrf_token()
    response = client.raw.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD,
                                               "csrf_token": token, "next": "/suppliers/?q=x"})
    assert response.headers["Location"] == "/suppliers/?q=x"


def test_user_changes_password(login_as):
    client = login_as("auditor")
    response = client.post_form("/account/password", {"current_password": "not it", "password": "a new password 1",
                                                      "confirm": "a new password 1"})
    assert "The current password is not correct." in response.get_data(as_text=True)
    response = client.post_form("/account/password", {"current_password": DEFAULT_PASSWORD,
                                                      "password": "a new password 1", "confirm": "a new password 1"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200  # still signed in on this browser
    client.post_form("/logout")
    assert client.login(client.user.email, "a new password 1").status_code == 302


def test_language_choice_is_remembered_per_user(login_as):
    client = login_as("operator")
    client.post_form("/language", {"locale": "it", "next": "/"})
    assert db.session.get(User, client.user.id).locale == "it"
    page = client.get("/suppliers/").get_data(as_text=True)
    assert "Fornitori" in page
    assert '<html lang="it">' in page


def test_admin_creates_a_user_and_the_user_signs_in(login_as, app):
    from tests.conftest import Client

    admin = login_as("admin")
    response = admin.post_form("/admin/users/new", {"email": "New.Person@Example.com", "name": "Nuova Persona",
                                                    "role": "auditor", "password": "a long password"})
    assert response.status_code == 302
    newcomer = Client(app.test_client())
    assert newcomer.login("new.person@example.com", "a long password").status_code == 302


def test_admin_cannot_lock_themselves_out(login_as):
    admin = login_as("admin")
    response = admin.post_form(f"/admin/users/{admin.user.id}", {"name": "Me", "role": "viewer", "is_active": "y"})
    assert "You cannot change your own role" in response.get_data(as_text=True)
    assert db.session.get(User, admin.user.id).role == "admin"


def test_deactivated_user_is_signed_out(login_as, make_user):
    admin = login_as("admin")
    operator = login_as("operator")
    admin.post_form(f"/admin/users/{operator.user.id}", {"name": "Operatore", "role": "operator"})
    assert operator.get("/").status_code == 302


def test_admin_creates_and_revokes_an_api_token(login_as, app):
    import re

    admin = login_as("admin")
    page = admin.post_form(f"/admin/users/{admin.user.id}/tokens", {"name": "helpdesk"}).get_data(as_text=True)
    secret = re.search(r'value="(cat_[^"]+)"', page).group(1)
    api = app.test_client()
    assert api.get("/api/v1/suppliers", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    token_id = db.session.get(User, admin.user.id).tokens[0].id
    admin.post_form(f"/admin/tokens/{token_id}/revoke")
    assert api.get("/api/v1/suppliers", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_idle_session_ends(login_as, app):
    client = login_as("viewer")
    with client.raw.session_transaction() as session:
        session["last_seen"] -= app.config["SESSION_IDLE_MINUTES"] * 60 + 1
    response = client.get("/suppliers/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/").status_code == 302


def test_login_starts_a_fresh_session(client, make_user):
    user = make_user()
    with client.raw.session_transaction() as session:
        session["planted"] = "by an attacker"
    client.login(user.email)
    with client.raw.session_transaction() as session:
        assert "planted" not in session
