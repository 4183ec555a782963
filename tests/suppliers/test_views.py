"""The supplier pages as a user meets them."""
from __future__ import annotations

import datetime as dt
import io
import re

from sqlalchemy import func, select

from app.db import db
from suppliers.models import Certificate, Supplier


def _supplier_form(**overrides):
    data = {"code": "CAR-100", "legal_name": "Trasporti Padani S.r.l.", "country": "IT",
            "chain_roles": ["carrier"], "risk_class": "high", "vat_id": "", "parent": ""}
    data.update(overrides)
    return data


def test_quality_manager_creates_finds_and_requalifies_a_supplier(login_as):
    client = login_as("quality_manager")
    response = client.post_form("/suppliers/new", _supplier_form())
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/suppliers/CAR-100")

    listing = client.get("/suppliers/?q=padani").get_data(as_text=True)
    assert "CAR-100" in listing and "Trasporti Padani S.r.l." in listing

    response = client.post_form("/suppliers/CAR-100/status", {
        "status": "in_qualification", "reason": "Questionario di qualificazione inviato", "version": "1"})
    assert response.status_code == 302
    page = client.get("/suppliers/CAR-100").get_data(as_text=True)
    assert "Questionario di qualificazione inviato" in page      # status history
    # The change log shows the field with its old and new value, in words.
    assert re.search(r"<td>Status</td>\s*<td[^>]*><bdi>Prospect</bdi></td>\s*<td[^>]*><bdi>In qualification</bdi>", page)
    assert re.search(r"<td>Legal name</td>\s*<td[^>]*><bdi>—</bdi></td>\s*<td[^>]*><bdi>Trasporti Padani S.r.l.</bdi>", page)


def test_duplicate_code_is_shown_beside_the_field(login_as, make_supplier):
    make_supplier(code="CAR-100")
    client = login_as("quality_manager")
    response = client.post_form("/suppliers/new", _supplier_form())
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="code-error"' in page
    assert "Another supplier already has the code CAR-100." in page
    assert db.session.scalar(select(func.count()).select_from(Supplier)) == 1


def test_status_change_without_reason_is_refused(login_as, make_supplier):
    make_supplier(code="CAR-200")
    client = login_as("quality_manager")
    response = client.post_form("/suppliers/CAR-200/status", {"status": "in_qualification", "reason": ""})
    assert response.status_code == 422
    assert 'id="reason-error"' in response.get_data(as_text=True)
    assert db.session.scalar(select(Supplier.status).where(Supplier.code == "CAR-200")) == "prospect"


def test_form_post_without_csrf_token_is_refused(login_as):
    client = login_as("quality_manager")
    response = client.raw.post("/suppliers/new", data=_supplier_form())
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Supplier)) == 0


def test_viewer_sees_suppliers_but_cannot_change_them(login_as, make_supplier):
    make_supplier(code="CAR-300")
    client = login_as("viewer")
    page = client.get("/suppliers/CAR-300").get_data(as_text=True)
    assert "CAR-300" in page
    assert "/suppliers/CAR-300/edit" not in page
    assert client.get("/suppliers/CAR-300/edit").status_code == 403
    assert client.post_form("/suppliers/CAR-300/status",
                            {"status": "in_qualification", "reason": "x"}).status_code == 403
    assert client.post_form("/suppliers/new", _supplier_form(code="NEW-1")).status_code == 403
    assert db.session.scalar(select(Supplier.status).where(Supplier.code == "CAR-300")) == "prospect"


def test_archived_supplier_is_hidden_but_reachable(login_as, make_supplier):
    make_supplier(code="OLD-1")
    client = login_as("quality_manager")
    assert client.post_form("/suppliers/OLD-1/archive", {"reason": "Contratto cessato"}).status_code == 302
    assert "/suppliers/OLD-1\"" not in client.get("/suppliers/").get_data(as_text=True)
    assert "OLD-1" in client.get("/suppliers/?archived=include").get_data(as_text=True)
    assert client.get("/suppliers/OLD-1").status_code == 200


def test_edit_on_an_old_copy_is_refused_with_409(login_as, make_supplier):
    make_supplier(code="CAR-400")
    client = login_as("quality_manager")
    first = client.post_form("/suppliers/CAR-400/edit", _supplier_form(code="CAR-400", legal_name="Prima", version="1"))
    assert first.status_code == 302
    second = client.post_form("/suppliers/CAR-400/edit", _supplier_form(code="CAR-400", legal_name="Seconda", version="1"))
    assert second.status_code == 409
    assert db.session.scalar(select(Supplier.legal_name).where(Supplier.code == "CAR-400")) == "Prima"


def test_unknown_supplier_is_a_404_page(login_as):
    response = login_as("viewer").get("/suppliers/NOPE-1")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_certificate_upload_is_stored_and_downloaded_as_attachment(login_as, make_supplier, app):
    make_supplier(code="CAR-500")
    client = login_as("quality_manager")
    response = client.post_form("/suppliers/CAR-500/certificates/new", {
        "standard": "ISO 9001:2015", "number": "IT-123", "expires_on": "2027-03-31",
        "file": (io.BytesIO(PDF_BYTES), "../../etc/cron.d/certificato.pdf"),
    }, content_type="multipart/form-data")
    assert response.status_code == 302
    certificate = db.session.scalar(select(Certificate))
    assert certificate.file_name == "certificato.pdf"
    assert certificate.expires_on == dt.date(2027, 3, 31)
    download = client.get(f"/suppliers/CAR-500/certificates/{certificate.id}/file")
    assert download.status_code == 200
    assert download.data == PDF_BYTES
    assert download.headers["Content-Disposition"].startswith("attachment")


def test_upload_that_is_not_what_it_claims_is_refused(login_as, make_supplier):
    make_supplier(code="CAR-600")
    client = login_as("quality_manager")
    response = client.post_form("/suppliers/CAR-600/certificates/new", {
        "standard": "ISO 9001", "file": (io.BytesIO(b"MZ\x90\x00 this is an exe"), "certificate.pdf"),
    }, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "not a valid PDF, PNG, JPG file" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0


def test_upload_over_the_limit_gets_the_413_page(login_as, make_supplier, app):
    make_supplier(code="CAR-700")
    client = login_as("quality_manager")
    too_big = PDF_BYTES + b"0" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post_form("/suppliers/CAR-700/certificates/new", {
        "standard": "ISO 9001", "file": (io.BytesIO(too_big), "big.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "The file is too large" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0


def test_list_pages_by_cursor(login_as, make_supplier, app):
    app.config["PAGE_SIZE"] = 2
    try:
        for n in range(5):
            make_supplier(code=f"PG-{n}")
        client = login_as("viewer")
        first = client.get("/suppliers/").get_data(as_text=True)
        assert "PG-0" in first and "PG-1" in first and "PG-2" not in first
        import re
        next_link = re.search(r'href="([^"]*cursor=[^"]+)"[^>]*rel="next"', first).group(1).replace("&amp;", "&")
        second = client.get(next_link).get_data(as_text=True)
        assert "PG-2" in second and "PG-3" in second and "PG-1" not in second
    finally:
        app.config["PAGE_SIZE"] = 50


def test_html_in_names_is_shown_as_text(login_as, make_supplier):
    make_supplier(code="XSS-1", legal_name='<script>alert(1)</script><img src=x onerror=alert(1)>')
    page = login_as("viewer").get("/suppliers/XSS-1").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
