"""Markup in every text field that reaches a page or a PDF (HOSTILE.md rows 20, 21, 22, 26),
and right-to-left, emoji and 10,000-character text through the forms (rows 26, 29).

The hostile records are the ones of the export tests (`hostile_scene`: the text in every
free-text column, written past the services' own cleaning). Every GET page of app.url_map whose
arguments name one of those records is opened as an administrator: none may answer 5xx, and
none may carry the markup as markup. Every PDF route is rendered with the fetcher watched: it
may be asked only for the application's static files and `data:` URIs.
"""
from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest
from flask import url_for
from sqlalchemy import select

from app.db import db
from incidents.models import Incident
from reports import pdf
from suppliers.models import Supplier
from tests.hostile.routes import all_routes

RAW_PIECES = ["<script>alert(1)", '<img src="file:///etc/passwd"', "<link rel=attachment"]
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _pages(kind: str):
    return [r for r in all_routes() if r.method == "GET" and not r.is_api and r.endpoint != "static"
            and r.rule.endswith(".pdf") == (kind == "pdf")]


def test_markup_in_every_text_field_is_escaped_on_every_page(app, login_as, markup_scene):
    client = login_as("admin")
    opened, showing = [], []
    for route in _pages("html"):
        if not set(route.arguments) <= set(markup_scene) or "token" in route.arguments:
            continue
        with app.test_request_context():
            url = url_for(route.endpoint, **{name: markup_scene[name] for name in route.arguments})
        response = client.get(url)
        assert response.status_code < 500, url
        if response.mimetype != "text/html":
            continue
        page = response.get_data(as_text=True)
        for piece in RAW_PIECES:
            assert piece not in page, (url, piece)
        opened.append(url)
        if ESCAPED in page:
            showing.append(url)
    # Worked out from the scene: the pages that show a record's text. If one stops showing
    # it, find out why rather than lower the number.
    assert len(opened) > 40
    for expected in (f"/suppliers/{markup_scene['code']}", f"/incidents/{markup_scene['incident_id']}",
                     f"/audits/{markup_scene['audit_id']}", f"/audits/plans/{markup_scene['plan_id']}",
                     f"/audits/actions/{markup_scene['action_id']}", f"/questionnaires/versions/"
                     f"{markup_scene['version_id']}", "/suppliers/", "/audits"):
        assert expected in showing, expected


@pytest.fixture
def watched_fetcher(monkeypatch):
    """Every URL any PDF asks its fetcher for, and what became of it."""
    asked: list[tuple[str, str]] = []
    original = pdf.StaticOnlyFetcher.fetch

    def fetch(self, url, headers=None):
        try:
            result = original(self, url, headers)
        except pdf.FetchRefused:
            asked.append((url, "refused"))
            raise
        asked.append((url, "served"))
        return result

    monkeypatch.setattr(pdf.StaticOnlyFetcher, "fetch", fetch)
    return asked


def test_every_pdf_shows_markup_as_text_and_fetches_only_static_files(app, login_as, markup_scene,
                                                                       watched_fetcher):
    client = login_as("admin")
    static = Path(app.static_folder).resolve().as_uri()
    rendered = []
    for route in _pages("pdf"):
        if route.is_api or not set(route.arguments) <= set(markup_scene):
            continue
        with app.test_request_context():
            url = url_for(route.endpoint, **{name: markup_scene[name] for name in route.arguments})
        response = client.get(url + ("?to=2026-03" if "code" in route.arguments else ""))
        assert response.status_code == 200, (url, response.status_code)
        assert response.data.startswith(b"%PDF-")
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert b"root:x:0:0" not in response.data
        rendered.append(url)
    assert len(rendered) >= 5, rendered
    assert watched_fetcher, "the reports load their stylesheet through the fetcher"
    for url, outcome in watched_fetcher:
        assert url.startswith(("data:", static + "/")) and outcome == "served", (url, outcome)


class _Sink(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"SINK-SECRET")

    def log_message(self, *args):
        pass


def test_markup_that_reached_the_renderer_fetches_nothing(app_ctx, app, tmp_path):
    """The second lock, should escaping ever fail: raw tags given straight to the renderer.
    A local HTTP sink counts requests (0 expected); a secret file's marker must not appear in
    the uncompressed PDF."""
    secret = tmp_path / "secret.txt"
    secret.write_text("CATENA-SECRET-MARKER")
    server = http.server.HTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink = f"http://127.0.0.1:{server.server_port}"
    try:
        html = (f'<html><head><link rel=stylesheet href="{sink}/style.css"><style>@import url({sink}/i.css);</style>'
                f'</head><body><p>x</p><img src="{secret.as_uri()}"><img src="{sink}/img.png">'
                f'<link rel=attachment href="{secret.as_uri()}"><object data="{secret.as_uri()}"></object>'
                f'<img src="http://169.254.169.254/latest/meta-data/"></body></html>')
        body = pdf.html_to_pdf(html, static_folder=app.static_folder, uncompressed=True)
    finally:
        server.shutdown()
    assert _Sink.hits == 0
    assert b"CATENA-SECRET-MARKER" not in body and b"SINK-SECRET" not in body
    assert b"/EmbeddedFile" not in body


# Right-to-left, emoji, long text ----------------------------------------------------------------

RTL_EMOJI = "\u202egpj.exe شركة النقل 🚚📦 Società"


def test_right_to_left_and_emoji_text_round_trips_through_a_form_and_the_api(login_as, api_client):
    client = login_as("quality_manager")
    response = client.post_form("/suppliers/new", {"code": "RTL-1", "legal_name": RTL_EMOJI, "country": "IT",
                                                   "chain_roles": "carrier", "risk_class": "medium"})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    supplier = db.session.scalar(select(Supplier).where(Supplier.code == "RTL-1"))
    # Kept as typed, the override included: it is isolated where it is shown, so it cannot
    # reverse the text around it (the register's name, its list, the breadcrumb).
    assert supplier.legal_name == RTL_EMOJI
    page = client.get("/suppliers/RTL-1").get_data(as_text=True)
    assert f"<bdi>{RTL_EMOJI}</bdi>" in page
    assert f'<td class="name"><bdi>{RTL_EMOJI}</bdi>' in client.get("/suppliers/?q=RTL-1").get_data(as_text=True)
    api, headers = api_client("viewer")
    assert api.get("/api/v1/suppliers/RTL-1", headers=headers).get_json()["legal_name"] == supplier.legal_name


def test_a_10000_character_description_is_kept_whole_and_one_more_is_refused_beside_the_field(login_as, snapshot):
    client = login_as("operator")
    text = ("Pacco in ritardo 📦 " * 600)[:10_000]
    assert len(text) == 10_000
    accepted = client.post_form("/incidents/new", {"channel": "web", "category": "late_delivery",
                                                   "priority": "normal", "description": text})
    assert accepted.status_code == 302, accepted.get_data(as_text=True)[:2000]
    incident = db.session.scalar(select(Incident))
    assert incident.description == text.strip()
    before = snapshot()
    refused = client.post_form("/incidents/new", {"channel": "web", "category": "late_delivery",
                                                  "priority": "normal", "description": text + "x"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "10000" in page.split('id="description-error"', 1)[1][:300]
    assert snapshot() == before


@pytest.mark.parametrize("control", ["\x00", "\x0b", "\x1f"], ids=["nul", "vertical-tab", "unit-separator"])
def test_control_characters_are_dropped_at_the_door_on_both_engines(login_as, api_client, control):
    """PostgreSQL refuses NUL in text and openpyxl refuses most control characters, while
    SQLite takes anything: dropped on input, both engines store the same text (row 28)."""
    client = login_as("quality_manager")
    response = client.post_form("/suppliers/new", {"code": "CTL-1", "legal_name": f"Trasporti{control} Rossi",
                                                   "country": "IT", "chain_roles": "carrier", "risk_class": "medium"})
    assert response.status_code == 302
    assert db.session.scalar(select(Supplier.legal_name).where(Supplier.code == "CTL-1")) == "Trasporti Rossi"
    api, headers = api_client("operator")
    created = api.post("/api/v1/incidents", json={"external_id": "CTL-T1", "channel": "email",
                                                  "category": "late_delivery", "priority": "normal",
                                                  "description": f"Pacco{control} perso",
                                                  "reported_at": "2026-03-10T09:00:00Z"}, headers=headers)
    assert created.status_code == 201, created.get_json()
    assert db.session.scalar(select(Incident.description).where(Incident.external_id == "CTL-T1")) == "Pacco perso"
