"""The PDF machinery: what a report may fetch (static files and data: URIs only), that a
hostile URL in the HTML reaches nothing and leaks nothing, and that rendering is bounded."""
from __future__ import annotations

import datetime as dt
import http.server
import io
import threading
from pathlib import Path

import pytest
from pypdf import PdfReader

from reports import pdf

STATIC = Path(__file__).resolve().parents[2] / "static"
BASE = STATIC.as_uri() + "/"
#: A line of /etc/passwd that every Linux has.
PASSWD_MARKER = b"root:x:0:0"


def _join(relative: str) -> str:
    from urllib.parse import urljoin

    return urljoin(BASE, relative)


@pytest.fixture
def fetcher():
    return pdf.StaticOnlyFetcher(STATIC)


@pytest.mark.no_db
@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "http://127.0.0.1:9/x",
    "https://example.com/logo.png",
    "ftp://example.com/x",
    "file://evil.example/etc/passwd",
    "gopher://127.0.0.1:70/",
    _join("../../app/config.py"),
    _join("../app/config.py"),
    _join("css/../../app/config.py"),
    _join("css/%2e%2e/%2e%2e/app/config.py"),
    _join("css/no-such-file.css"),
    _join("css/"),
])
def test_fetcher_refuses_everything_outside_static(fetcher, url):
    with pytest.raises(pdf.FetchRefused):
        fetcher.fetch(url)


@pytest.mark.no_db
def test_fetcher_serves_static_files_and_data_uris(fetcher):
    response = fetcher.fetch(_join("css/report.css"))
    assert response.content_type == "text/css" and b"@page" in response.read()
    response = fetcher.fetch("data:text/plain;base64,aGVsbG8=")
    assert response.read() == b"hello"


@pytest.mark.no_db
def test_fetcher_does_not_follow_a_symlink_out_of_static(tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "ok.css").write_text("p { color: red }")
    (static / "passwd.css").symlink_to("/etc/passwd")
    (static / "up").symlink_to(tmp_path)
    (tmp_path / "secret.txt").write_text("secret")
    fetcher = pdf.StaticOnlyFetcher(static)
    assert fetcher.fetch((static / "ok.css").as_uri()).read() == b"p { color: red }"
    for name in ("passwd.css", "up/secret.txt"):
        with pytest.raises(pdf.FetchRefused):
            fetcher.fetch((static / name).as_uri())


HOSTILE_HTML = """<!DOCTYPE html><html><head><title>t</title>
<link rel="stylesheet" href="file:///etc/passwd">
<link rel="stylesheet" href="{sink}/style.css">
<link rel="attachment" href="file:///etc/passwd">
<style>@import url({sink}/import.css); body {{ background: url({sink}/bg.png) }}</style>
</head><body>
<p>Visible text</p>
<img src="file:///etc/passwd"><img src="{sink}/img.png"><img src="../../app/config.py">
<object data="file:///etc/passwd"></object><embed src="file:///etc/passwd">
<iframe src="file:///etc/passwd"></iframe>
</body></html>"""


@pytest.fixture
def http_sink():
    """A local HTTP server that counts the requests it gets."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.end_headers()
            self.wfile.write(b"p { color: red }")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()
    server.server_close()


@pytest.mark.no_db
def test_hostile_urls_render_nothing_and_reach_nothing(http_sink):
    sink, hits = http_sink
    body = pdf.html_to_pdf(HOSTILE_HTML.format(sink=sink), static_folder=STATIC, uncompressed=True)
    assert body.startswith(b"%PDF-")
    assert "Visible text" in PdfReader(io.BytesIO(body)).pages[0].extract_text()
    assert PASSWD_MARKER not in body
    assert b"/EmbeddedFiles" not in body
    assert hits == []
    # The control: WeasyPrint's own fetcher would have reached both (so the test can fail).
    from weasyprint import HTML

    unsafe = HTML(string=HOSTILE_HTML.format(sink=sink), base_url=BASE).write_pdf(uncompressed_pdf=True)
    assert hits and PASSWD_MARKER in unsafe


def test_user_text_is_printed_not_interpreted(app_ctx, http_sink):
    sink, hits = http_sink
    hostile = f'<img src="file:///etc/passwd"><link rel="attachment" href="file:///etc/passwd"><img src="{sink}/x">'
    document = pdf.ReportDocument(title="Report", number="T-1", revision="1", issued_on=dt.date(2026, 11, 27),
                                  subject=hostile)
    body = pdf.render_pdf("reports/base.html", document, uncompressed=True)
    text = PdfReader(io.BytesIO(body)).pages[0].extract_text()
    assert '<img src="file:///etc/passwd">' in text.replace("\n", "")
    assert PASSWD_MARKER not in body and b"/EmbeddedFiles" not in body
    # The base template is reached through the strict fetcher: its stylesheet came from static/.
    html = pdf.render_html("reports/base.html", document)
    assert 'href="css/report.css"' in html
    with pytest.raises(ValueError):
        pdf.render_html("questionnaires/anything.html", document)
    assert hits == []


def test_metadata_title_and_author(app_ctx, app, monkeypatch):
    monkeypatch.setitem(app.config, "CATENA_COMPANY_NAME", "Rossi Logistica S.p.A.")
    document = pdf.ReportDocument(title="Audit report", number="AR-7", revision="2",
                                  issued_on=dt.date(2026, 11, 27), subject="SUP-1")
    reader = PdfReader(io.BytesIO(pdf.render_pdf("reports/base.html", document)))
    assert reader.metadata.title == "Audit report — SUP-1"
    assert reader.metadata.author == "Rossi Logistica S.p.A."
    text = reader.pages[0].extract_text()
    assert "Rossi Logistica S.p.A." in text and "AR-7" in text and "Revision 2" in text
    assert "Page 1 of 1" in text


def test_pdf_a_3b(app_ctx):
    document = pdf.ReportDocument(title="Archive", number="A-1", revision="1", issued_on=dt.date(2026, 11, 27))
    reader = PdfReader(io.BytesIO(pdf.render_pdf("reports/base.html", document, pdf_variant="pdf/a-3b")))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="B"' in xmp
    with pytest.raises(ValueError):
        pdf.render_pdf("reports/base.html", document, pdf_variant="pdf/x-1a")


def test_logo_is_taken_only_from_static(app_ctx, app, monkeypatch):
    monkeypatch.setitem(app.config, "CATENA_REPORT_LOGO", "favicon.svg")
    assert pdf.report_logo() == "favicon.svg"
    document = pdf.ReportDocument(title="Logo", number="L-1", revision="1", issued_on=dt.date(2026, 11, 27))
    assert '<img src="favicon.svg"' in pdf.render_html("reports/base.html", document)
    assert pdf.render_pdf("reports/base.html", document).startswith(b"%PDF-")
    for outside in ("../app/config.py", "/etc/passwd", "no-such.png"):
        monkeypatch.setitem(app.config, "CATENA_REPORT_LOGO", outside)
        assert pdf.report_logo() is None


def test_oversized_html_and_too_many_pages_are_refused(app_ctx, app, monkeypatch):
    document = pdf.ReportDocument(title="Big", number="B-1", revision="1", issued_on=dt.date(2026, 11, 27))
    monkeypatch.setitem(app.config, "CATENA_PDF_MAX_HTML_BYTES", 500)
    with pytest.raises(pdf.ReportTooLarge):
        pdf.render_pdf("reports/base.html", document)
    many_pages = "<html><body>" + '<p style="break-after: page">x</p>' * 5 + "</body></html>"
    with pytest.raises(pdf.ReportTooLarge):
        pdf.html_to_pdf(many_pages, static_folder=STATIC, max_pages=3)
    assert pdf.html_to_pdf(many_pages, static_folder=STATIC, max_pages=5).startswith(b"%PDF-")
