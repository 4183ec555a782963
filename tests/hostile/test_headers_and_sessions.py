"""Security headers and sessions (issue 9, item 3; HOSTILE.md decision 6 and goal G13).

- the Content-Security-Policy allows no inline script or style, and no page needs one;
- the session cookie is Secure, HttpOnly, SameSite=Lax and `__Host-` when CATENA_SECURE_COOKIES=1;
- signing in starts a new session; an idle one ends; a copied one dies at log-out;
- log-in and private links are rate-limited in the database;
- uploads live outside static/ and come back only as attachments;
- no stack trace or SQL reaches a user, on a page or in the API.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from app import create_app
from app.config import ROOT_DIR, STATIC_DIR, Config, TestConfig
from app.db import db
from app.security import CONTENT_SECURITY_POLICY
from tests.hostile.routes import all_routes

TEMPLATES = ROOT_DIR / "templates"
PACKAGES = ["app", "suppliers", "incidents", "audits", "questionnaires", "reports"]


# Content-Security-Policy ----------------------------------------------------------------------

def test_the_policy_allows_no_inline_script_or_style_and_nothing_from_elsewhere():
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'" and directives["default-src"] == "'self'"
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "unsafe-eval" not in CONTENT_SECURITY_POLICY


INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I),
    "event handler attribute": re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I),
    "style attribute": re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I),
    "javascript: URL": re.compile(r"(href|src|action)\s*=\s*[\"']?\s*javascript:", re.I),
    "style element": re.compile(r"<style[\s>]", re.I),
}


def _web_templates():
    # Report templates become PDFs (WeasyPrint, no CSP); e-mails are not pages.
    return [p for p in TEMPLATES.rglob("*.html") if p.relative_to(TEMPLATES).parts[0] not in ("reports", "emails")]


def test_no_page_template_holds_what_the_policy_would_block():
    found = []
    for path in _web_templates():
        source = path.read_text(encoding="utf-8")
        for what, pattern in INLINE.items():
            for match in pattern.finditer(source):
                found.append(f"{path.relative_to(TEMPLATES)}: {what}: {match.group(0)[:60]}")
    assert found == []


@pytest.fixture
def rendered_pages(app, login_as, markup_scene):
    from flask import url_for

    client = login_as("admin")
    pages = {}
    for route in all_routes():
        if route.method != "GET" or route.is_api or route.endpoint == "static" or "token" in route.arguments:
            continue
        if route.rule.endswith(".pdf"):
            continue  # rendered (slowly) by test_pages.py, which checks them as attachments
        if not set(route.arguments) <= set(markup_scene):
            continue
        with app.test_request_context():
            url = url_for(route.endpoint, **{name: markup_scene[name] for name in route.arguments})
        pages[url] = client.get(url)
    pages["/login (signed out)"] = app.test_client().get("/login")
    return pages


def test_every_page_carries_the_headers_and_nothing_the_policy_would_block(rendered_pages):
    html = 0
    for url, response in rendered_pages.items():
        headers = response.headers
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
        assert headers["X-Content-Type-Options"] == "nosniff", url
        assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"], url
        assert "no-store" in headers["Cache-Control"], url
        if response.mimetype == "text/html" and response.status_code == 200:
            html += 1
            # Quoted attribute values are data (user text, escaped), not markup.
            page = re.sub(r'"[^"]*"', '""', response.get_data(as_text=True))
            for what, pattern in INLINE.items():
                assert not pattern.search(page), (url, what, pattern.search(page).group(0)[:80])
        elif response.mimetype not in ("text/html", "application/json"):
            # Downloads (workbooks, PDFs, CSV) are attachments, never rendered by the browser.
            assert headers.get("Content-Disposition", "").startswith("attachment"), (url, response.mimetype)
    assert html > 40


# Cookies --------------------------------------------------------------------------------------

def test_secure_cookies_are_configured_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CATENA_SECURE_COOKIES", "1")
    config = Config(instance_dir=tmp_path)
    assert (config.SESSION_COOKIE_SECURE, config.SESSION_COOKIE_HTTPONLY, config.SESSION_COOKIE_SAMESITE,
            config.SESSION_COOKIE_NAME, config.REMEMBER_COOKIE_SECURE) == (True, True, "Lax", "__Host-catena", True)
    assert config.PREFERRED_URL_SCHEME == "https"
    monkeypatch.setenv("CATENA_SECURE_COOKIES", "0")
    assert Config(instance_dir=tmp_path).SESSION_COOKIE_NAME == "catena"


def _session_cookie(response) -> str:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if "catena=" in c]
    return cookie


def test_behind_https_the_session_cookie_is_host_only_secure_httponly_and_lax(app, client, make_user, monkeypatch):
    for name, value in {"SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_NAME": "__Host-catena",
                        "PREFERRED_URL_SCHEME": "https"}.items():
        monkeypatch.setitem(app.config, name, value)
    user = make_user()
    # Over HTTPS, Flask-WTF also checks that the Referer is this site.
    https = {"base_url": "https://catena.example", "headers": {"Referer": "https://catena.example/login"}}
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                      client.raw.get("/login", **https).get_data(as_text=True)).group(1)
    response = client.raw.post("/login", data={"email": user.email, "password": "correct horse battery",
                                               "csrf_token": token}, **https)
    assert response.status_code == 302
    cookie = _session_cookie(response)
    attributes = {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")[1:]}
    assert cookie.startswith("__Host-catena=")
    assert {"secure", "httponly", "samesite", "path"} <= attributes and "domain" not in attributes
    assert "SameSite=Lax" in cookie and "Path=/" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


# Sessions -------------------------------------------------------------------------------------

def test_signing_in_rotates_the_session(client, make_user):
    """A session planted before sign-in (or read by someone else) never becomes the signed-in
    one: its values and its CSRF token are dropped, and the cookie changes."""
    user = make_user()
    client.csrf_token("/login")
    with client.raw.session_transaction() as session:
        session["planted"] = "by an attacker"
        before_token = session["csrf_token"]
    before_cookie = client.raw.get_cookie("catena").value
    response = client.login(user.email)
    assert response.status_code == 302
    with client.raw.session_transaction() as session:
        assert "planted" not in session
        assert session.get("csrf_token") != before_token
        assert session["_user_id"] == f"{user.id}:{user.session_version}"
    assert client.raw.get_cookie("catena").value != before_cookie


def test_the_pre_login_cookie_replayed_after_sign_in_is_anonymous(app, make_user):
    from tests.conftest import Client

    victim = Client(app.test_client())
    user = make_user()
    victim.csrf_token("/login")
    planted = victim.raw.get_cookie("catena").value
    assert victim.login(user.email).status_code == 302
    attacker = app.test_client()
    attacker.set_cookie("catena", planted)
    assert attacker.get("/suppliers/").status_code == 302  # sent to sign in


def test_an_idle_session_ends_and_a_logged_out_cookie_stays_dead(app, login_as):
    """SESSION_IDLE_MINUTES of inactivity end the session at the next request; see also
    tests/auth/test_views.py::test_old_session_cookie_is_void_after_logout."""
    client = login_as("viewer")
    assert client.get("/suppliers/").status_code == 200
    copied = client.raw.get_cookie("catena").value
    with client.raw.session_transaction() as session:
        session["last_seen"] -= app.config["SESSION_IDLE_MINUTES"] * 60 + 1
    expired = client.get("/suppliers/")
    assert expired.status_code == 302 and expired.headers["Location"].startswith("/login")
    assert client.get("/suppliers/").status_code == 302
    # The copy taken before is void too once the user signs out elsewhere.
    other = login_as("viewer")
    replay = app.test_client()
    replay.set_cookie("catena", other.raw.get_cookie("catena").value)
    assert replay.get("/suppliers/").status_code == 200
    other.post_form("/logout")
    assert replay.get("/suppliers/").status_code == 302
    assert copied


def test_a_session_one_second_inside_the_idle_limit_is_kept(app, login_as):
    client = login_as("viewer")
    with client.raw.session_transaction() as session:
        session["last_seen"] -= app.config["SESSION_IDLE_MINUTES"] * 60 - 1
    assert client.get("/suppliers/").status_code == 200


# Rate limits ----------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["/q/", "/ca/", "/dispute/"])
def test_guessing_private_links_is_throttled_and_then_even_a_real_link_is_429(
        app, client, monkeypatch, prefix, carrier_questionnaire, send_questionnaire):
    """PRIVATE_LINK_PROBE_LIMIT unknown secrets per address (lowered to 3 here); the count is in
    the database, so it holds across workers (app/link_pages.py)."""
    monkeypatch.setitem(app.config, "PRIVATE_LINK_PROBE_LIMIT", 3)
    _, real = send_questionnaire(carrier_questionnaire)
    for n in range(3):
        assert client.get(f"{prefix}guess{n:040d}").status_code == 404
    assert client.get(f"{prefix}guess-after-the-limit").status_code == 429
    if prefix == "/q/":
        assert client.get(f"/q/{real}").status_code == 429
    # Another address is not affected.
    assert client.get(f"/q/{real}", environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 200


# Uploads --------------------------------------------------------------------------------------

def test_uploads_are_stored_outside_the_static_folder(app, tmp_path):
    static = Path(app.static_folder).resolve()
    assert not Path(Config(instance_dir=tmp_path).UPLOAD_DIR).resolve().is_relative_to(static)
    assert not Path(Config().UPLOAD_DIR).resolve().is_relative_to(static)


@pytest.mark.parametrize("where", ["uploads", "instance"])
def test_an_upload_or_instance_folder_set_inside_static_is_refused_at_start(tmp_path, monkeypatch, where):
    # Uploads, exports, the SQLite file and the secret key live under these two folders.
    inside = STATIC_DIR / "vendor" / ".." / "catena-files"   # resolved before comparing
    if where == "uploads":
        monkeypatch.setenv("CATENA_UPLOAD_DIR", str(inside))
        instance, setting = tmp_path / "instance", "CATENA_UPLOAD_DIR"
    else:
        instance, setting = inside, "CATENA_INSTANCE_DIR"
    with pytest.raises(RuntimeError, match=f"{setting} .* is inside the static folder"):
        create_app(TestConfig(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", instance_dir=instance))
    # Refused before anything (the generated secret key, the uploads folder) was written there.
    assert not (STATIC_DIR / "catena-files").exists()


def test_folders_beside_the_static_one_are_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv("CATENA_UPLOAD_DIR", str(tmp_path / "static-uploads"))
    config = TestConfig(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", instance_dir=tmp_path / "static")
    assert create_app(config).config["UPLOAD_DIR"] == tmp_path / "static-uploads"


def test_every_stored_file_is_served_through_send_stored():
    """Downloads of uploaded files go through app.uploads.send_stored (attachment, checked
    content type, no cache); no other module calls send_file."""
    callers = [str(p.relative_to(ROOT_DIR)) for package in PACKAGES for p in (ROOT_DIR / package).rglob("*.py")
               if "send_file(" in p.read_text(encoding="utf-8")]
    assert callers == ["app/uploads.py"]


def test_a_stored_file_comes_back_as_an_attachment_whatever_its_name(login_as, make_supplier, app):
    supplier = make_supplier()
    client = login_as("quality_manager")
    name = "../../etc/cron.d/certificato \u202efinale è.pdf"
    response = client.post_form(f"/suppliers/{supplier.code}/certificates/new", {
        "standard": "ISO 9001:2015", "number": "IT-1", "expires_on": "2027-03-31",
        "file": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), name)}, content_type="multipart/form-data")
    assert response.status_code == 302
    from suppliers.models import Certificate

    certificate = db.session.query(Certificate).one()
    download = client.get(f"/suppliers/{supplier.code}/certificates/{certificate.id}/file")
    disposition = download.headers["Content-Disposition"]
    assert download.status_code == 200 and disposition.startswith("attachment;")
    assert "\u202e" not in disposition and "/" not in disposition.split("filename", 1)[1]
    # The non-ASCII name is RFC 5987-encoded, with a plain ASCII fallback.
    assert "filename*=UTF-8''certificato%20finale%20%C3%A8.pdf" in disposition
    assert download.mimetype == "application/pdf"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    # Stored under a generated name, outside static/: not reachable as a static file.
    stored = next(Path(app.config["UPLOAD_DIR"]).glob("*.pdf"))
    assert re.fullmatch(r"[0-9a-f]{32}\.pdf", stored.name)
    assert client.get(f"/static/{stored.name}").status_code == 404


# No trace, no SQL -----------------------------------------------------------------------------

LEAKS = ["Traceback", "sqlalchemy", "psycopg", "sqlite3", "SELECT", "no_such_table", "secret internal detail",
         'File "', "OperationalError", "ProgrammingError"]


def _boom_python(*args, **kwargs):
    raise RuntimeError("secret internal detail")


def _boom_sql(*args, **kwargs):
    db.session.execute(text("SELECT secret_column FROM no_such_table"))


@pytest.mark.parametrize("boom", [_boom_python, _boom_sql], ids=["exception", "database-error"])
def test_an_error_in_a_view_shows_a_plain_500_page_and_json(app, login_as, api_client, monkeypatch, boom):
    import suppliers.api
    import suppliers.services

    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setattr(suppliers.services, "list_suppliers", boom)
    monkeypatch.setattr(suppliers.api, "list_suppliers", boom, raising=False)
    monkeypatch.setattr(suppliers.services, "supplier_query", boom)
    page = login_as("viewer").get("/suppliers/")
    assert page.status_code == 500
    body = page.get_data(as_text=True)
    assert "Something went wrong on our side" in body
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY  # error pages too
    for leak in LEAKS:
        assert leak not in body, leak
    api, headers = api_client("viewer")
    response = api.get("/api/v1/suppliers", headers=headers)
    assert response.status_code == 500
    assert response.get_json() == {"error": {"code": "internal_error", "fields": {},
                                             "message": "Something went wrong on our side"}}
    # The application still answers afterwards (the failed transaction was rolled back).
    monkeypatch.undo()
    assert api.get("/api/v1/suppliers", headers=headers).status_code == 200


def test_the_error_page_of_a_database_error_is_logged_with_the_detail(app, login_as, monkeypatch, caplog):
    """What the user is not shown, the log keeps, for the administrator."""
    import suppliers.services

    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setattr(suppliers.services, "list_suppliers", _boom_sql)
    monkeypatch.setattr(suppliers.services, "supplier_query", _boom_sql)
    with caplog.at_level("ERROR"):
        assert login_as("viewer").get("/suppliers/").status_code == 500
    assert "no_such_table" in caplog.text


_LOGGING_PROCESS = """
import sys
from flask import request
from app import create_app
from app.config import TestConfig

app = create_app(TestConfig(database_url=sys.argv[1], instance_dir=sys.argv[2]))
app.config["PROPAGATE_EXCEPTIONS"] = False


@app.route("/fails")
def fails():
    # An error quoting what it was given, as a parser's or a mail server's often does.
    raise RuntimeError(f"unknown user {request.args['user']}")


assert app.test_client().get(sys.argv[3]).status_code == 500
"""


def test_a_newline_in_logged_text_cannot_forge_a_log_line(tmp_path):
    """HOSTILE B32: a process of Catena logs one JSON object per line, so text from outside
    (here in an exception the error handler logs with its traceback) stays inside its record."""
    import json
    import subprocess
    import sys

    forged = "admin\n2026-11-22 INFO login ok user=root"
    run = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _LOGGING_PROCESS, f"sqlite:///{tmp_path / 'db.sqlite'}",
         str(tmp_path / "instance"), "/fails?user=admin%0A2026-11-22%20INFO%20login%20ok%20user%3Droot"],
        cwd=ROOT_DIR, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    records = [json.loads(line) for line in run.stderr.splitlines()]   # every line is a whole record
    assert [(r["level"], r["name"], r["message"]) for r in records] == [
        ("ERROR", "app.errors", "unhandled error on GET /fails")]
    assert f"RuntimeError: unknown user {forged}" in records[0]["exc_info"]
    assert not any(line.startswith("2026-11-22") for line in run.stderr.splitlines())
