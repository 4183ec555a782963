"""Hostile files through the pages a user uploads them to: the leg import (/imports/new) and a
supplier's certificate. HOSTILE.md rows 1, 2, 3, 6, 8, 11 and 12.

The file checks themselves (every zip limit, encodings, member names, macros) are tested one by
one in tests/incidents/test_imports.py; here each hostile file goes the whole way through the
request, and the test checks what the user sees (a 422 with the message beside the file field,
or a 413) and that nothing was written: no row in any table, no file left in the upload folder.
"""
from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from app.db import db
from incidents.models import ImportBatch, Leg
from tests.hostile.conftest import stored_files

USAID_CSV = (Path(__file__).resolve().parents[3] / "shared" / "data" / "usaid-scms-delivery-history"
             / "SCMS_Delivery_History_Dataset.csv")
HEADER = ["external_id", "order_ref", "stage", "supplier_code", "promised_at", "actual_at"]


def workbook_bytes(add: dict[str, bytes] | None = None, replace: dict[str, bytes] | None = None) -> bytes:
    """A valid one-row leg workbook, with some zip members replaced or added."""
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.active.append(["L1", "O1", "hub", "CAR-1", "2026-03-11 09:00", None])
    plain = io.BytesIO()
    book.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as original, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy:
        for info in original.infolist():
            copy.writestr(info.filename, (replace or {}).get(info.filename, original.read(info.filename)))
        for name, data in (add or {}).items():
            copy.writestr(name, data)
    return out.getvalue()


XXE = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
       b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
       b"<si><t>&xxe;</t></si></sst>")
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(f'<!ENTITY lol{n} "{(f"&lol{n - 1};" if n > 1 else "&lol;") * 10}">'.encode()
                     for n in range(1, 10))
          + b']><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol9;</t></si></sst>')

HOSTILE_FILES = [
    pytest.param("legs.xlsx", lambda: workbook_bytes(add={"xl/sharedStrings.xml": XXE}),
                 "Not a valid workbook (forbidden XML entity).", id="xxe-shared-strings"),
    pytest.param("legs.xlsx", lambda: workbook_bytes(replace={"xl/worksheets/sheet1.xml": XXE}),
                 "Not a valid workbook (forbidden XML entity).", id="xxe-sheet"),
    pytest.param("legs.xlsx", lambda: workbook_bytes(add={"xl/sharedStrings.xml": LAUGHS}),
                 "Not a valid workbook (forbidden XML entity).", id="billion-laughs"),
    # 20 MiB of zeros deflate to about 20 KiB: a 1,000-to-1 bomb inside a real workbook.
    pytest.param("legs.xlsx", lambda: workbook_bytes(add={"xl/media/image1.bin": bytes(20 * 1024 * 1024)}),
                 "more than 100 to 1", id="zip-bomb"),
    pytest.param("legs.xlsx", lambda: workbook_bytes(add={"../../etc/cron.d/x": b"x"}), None, id="zip-slip-member"),
    pytest.param("legs.xlsx", lambda: workbook_bytes(add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0"}), ".xlsm",
                 id="macro-workbook"),
    pytest.param("legs.xlsx", lambda: b"%PDF-1.7\n" + bytes(100), "This file is not an .xlsx workbook.",
                 id="pdf-named-xlsx"),
    pytest.param("legs.csv", lambda: b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(200), None,
                 id="program-named-csv"),
    pytest.param("legs.xls", lambda: b"a,b\n1,2\n", "Only .csv and .xlsx files can be imported.",
                 id="unknown-extension"),
    pytest.param("legs.csv", lambda: b"", None, id="empty-file"),
]


@pytest.fixture
def manager(login_as):
    return login_as("quality_manager")


def upload(client, content: bytes, name: str, profile: str = ""):
    return client.post_form("/imports/new", {"file": (io.BytesIO(content), name), "profile": profile},
                            content_type="multipart/form-data")


@pytest.mark.parametrize("name, content, message", HOSTILE_FILES)
def test_a_hostile_import_file_is_422_beside_the_field_and_leaves_nothing(
        manager, upload_dir, snapshot, name, content, message):
    data = content()
    before = snapshot()
    started = time.monotonic()
    response = upload(manager, data, name)
    elapsed = time.monotonic() - started
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    # The message sits beside the file field (the form macro's feedback for that field).
    feedback = page.split('id="file-error"', 1)
    assert len(feedback) == 2, "no error beside the file field"
    if message:
        assert message in feedback[1].split("</div>", 1)[0]
    assert "root:x:0:0" not in page and "Traceback" not in page
    assert elapsed < 2, f"took {elapsed:.1f} s"
    assert snapshot() == before
    assert stored_files(upload_dir) == []


def test_a_file_over_the_upload_limit_is_413_before_it_is_read(app, manager, upload_dir, snapshot, monkeypatch,
                                                                api_client):
    """The limit is lowered to 64 KiB so the test stays small; Werkzeug refuses the request
    from its Content-Length, before the body is read."""
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 64 * 1024)
    api, headers = api_client("quality_manager")
    before = snapshot()
    response = upload(manager, b"external_id\n" + b"x" * (64 * 1024), "legs.csv")
    assert response.status_code == 413
    assert "The file is too large" in response.get_data(as_text=True)
    refused = api.post("/api/v1/legs", data=b'{"legs": [' + b" " * (64 * 1024) + b"]}",
                       headers=headers | {"Content-Type": "application/json"})
    assert refused.status_code == 413
    assert refused.get_json()["error"]["code"] == "payload_too_large"
    assert snapshot() == before
    assert stored_files(upload_dir) == []


@pytest.mark.parametrize("name, content", [
    ("certificate.pdf", b"MZ\x90\x00 a program"),
    ("certificate.pdf", b"\x89PNG\r\n\x1a\n" + bytes(50)),  # a real PNG, named .pdf
    ("certificate.png", b"%PDF-1.4\n%%EOF\n"),
])
def test_a_certificate_that_is_not_what_its_name_says_is_refused_beside_the_field(
        manager, make_supplier, upload_dir, snapshot, name, content):
    supplier = make_supplier()
    before = snapshot()
    response = manager.post_form(f"/suppliers/{supplier.code}/certificates/new", {
        "standard": "ISO 9001:2015", "number": "IT-1", "expires_on": "2027-03-31",
        "file": (io.BytesIO(content), name)}, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "This file is not a valid PDF, PNG, JPG file." in page.split('id="file-error"', 1)[1][:200]
    assert snapshot() == before
    assert stored_files(upload_dir) == []


@pytest.mark.skipif(not USAID_CSV.exists(), reason="the shared USAID data set is not on this machine")
def test_the_usaid_file_is_read_and_refused_naming_rows_and_writes_no_leg(manager, make_supplier, upload_dir):
    """The real USAID SCMS file: a UTF-8 byte-order mark, CR-only line endings and “Date Not
    Captured” in date columns. Its header must be read (33 columns, the BOM not glued to “ID”),
    and the import refused with each bad cell named by its row (the header is row 1), no leg
    written and the uploaded copy removed."""
    make_supplier(code="ORGENICS")
    raw = USAID_CSV.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw[:5000] and b"\r" in raw[:5000]
    uploaded = upload(manager, raw, "SCMS_Delivery_History_Dataset.csv")
    assert uploaded.status_code == 302
    mapping_url = uploaded.headers["Location"]
    page = manager.get(mapping_url).get_data(as_text=True)
    # The first column is "ID", not "\ufeffID": the BOM was read as an encoding mark.
    assert '<option value="ID">ID</option>' in page and "\ufeff" not in page
    assert "Scheduled Delivery Date" in page
    saved = manager.post_form(mapping_url, {
        "external_id": "ID", "order_ref": "ASN/DN #", "stage": "Shipment Mode", "supplier_code": "Vendor",
        "promised_at": "Scheduled Delivery Date", "actual_at": "Delivered to Client Date",
        "order_placed_at": "PO Sent to Vendor Date", "name": "usaid", "timezone": "UTC",
        "datetime_format": "%d-%b-%y", "delimiter": ""})
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    done = manager.post_form(saved.headers["Location"], {})
    assert done.status_code == 302
    batch = db.session.scalar(select(ImportBatch))
    assert (batch.status, batch.rows_total, batch.rows_created) == ("failed", 10_324, 0)
    assert db.session.scalar(select(func.count()).select_from(Leg)) == 0
    row_two = {p["column"]: p["message"] for p in batch.problems if p["row"] == 2}
    assert row_two["order_placed_at"] == "“Date Not Captured” is not a date and time."
    detail = manager.get(f"/imports/{batch.id}").get_data(as_text=True)
    assert "“Date Not Captured” is not a date and time." in detail
    assert stored_files(upload_dir) == []
