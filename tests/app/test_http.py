"""Error pages and the security headers every page carries."""
from __future__ import annotations


def test_pages_carry_security_headers(login_as):
    response = login_as("viewer").get("/suppliers/")
    csp = response.headers["Content-Security-Policy"]
    assert "object-src 'none'" in csp and "base-uri 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_session_cookie_is_httponly_and_samesite(client, make_user):
    user = make_user()
    response = client.login(user.email)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_unexpected_error_shows_a_page_without_traceback(app, login_as, monkeypatch):
    import suppliers.services

    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(suppliers.services, "list_suppliers", explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        response = login_as("viewer").get("/suppliers/")
    finally:
        app.config["PROPAGATE_EXCEPTIONS"] = None
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong on our side" in page
    assert "secret internal detail" not in page and "Traceback" not in page


def test_static_assets_are_served_locally(client):
    assert client.get("/static/vendor/bootstrap/bootstrap.min.css").status_code == 200
    page = client.get("/login").get_data(as_text=True)
    assert "https://" not in page.split("<body")[0]


def test_forged_host_is_refused_when_hosts_are_configured(app, client):
    app.config["TRUSTED_HOSTS"] = ["catena.example.com", "localhost"]
    try:
        assert client.get("/login", headers={"Host": "evil.example"}).status_code == 400
        assert client.get("/login").status_code == 200
    finally:
        app.config["TRUSTED_HOSTS"] = None
