"""The .xlsx writer (reports.xlsx, XlsxWriter): what a reader (openpyxl) sees of a TableSheet's
layout and values, a list export written to a path or a file object, and an export that fails
half-way leaving neither a file nor temporary files behind."""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import tempfile
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from app.db import db
from reports import exports
from reports.xlsx import (
    DATE_FORMAT,
    DATETIME_FORMAT,
    MAX_CELL_CHARS,
    TRUNCATION_MARK,
    Column,
    TableSheet,
    XlsxBook,
    workbook_bytes,
)
from tests.reports.export_fixtures import UTC, make_incident

COLUMNS = [Column("Id", 8, "0"), Column("Text", 20), Column("At", 17, DATETIME_FORMAT), Column("On", 12),
           Column("Amount", 13, "#,##0.00"), Column("Note", 40, wrap=True), Column("Flag", 6)]


def _rgb(color) -> str:
    return (color.rgb or "")[-6:].upper()


@pytest.mark.no_db
def test_a_table_sheet_reads_back_with_its_layout_and_typed_values():
    book = XlsxBook()
    sheet = TableSheet(book, "A sheet title longer than thirty-one characters", COLUMNS, heading="Report",
                       facts=[("Exported at", dt.datetime(2026, 3, 1, 9, 30, tzinfo=UTC)), ("Filter", "=none")])
    long = "x" * (MAX_CELL_CHARS + 10)
    sheet.append([1, "=cmd|' /C calc'!A0", dt.datetime(2026, 3, 10, 10, 0), dt.date(2026, 3, 10),
                  Decimal("1234.56"), "line one\nline two", True])
    sheet.append([2, "00123", None, None, Decimal("0.10"), long, False])
    sheet.append([3, "https://example.com/x", None, None, Decimal("99999999999.99"), "bell\x07 gone", None])
    sheet.close()
    workbook = load_workbook(io.BytesIO(workbook_bytes(book)))
    ws = workbook.worksheets[0]
    assert ws.title == "A sheet title longer than thirt"                          # 31 characters

    title, label, value = ws["A1"], ws["A2"], ws["B2"]
    assert title.value == "Report" and title.font.b and title.font.sz == 13 and _rgb(title.font.color) == "1F3A5F"
    assert label.value == "Exported at" and label.font.b
    assert value.value == dt.datetime(2026, 3, 1, 9, 30) and value.number_format == DATETIME_FORMAT
    assert ws["B3"].value == "'=none" and ws["B3"].data_type == "s"
    assert all(c.value is None for c in ws[4])                                      # the blank row

    header = ws[5]
    assert [c.value for c in header] == [c.label for c in COLUMNS]
    for cell in header:
        assert cell.font.b and _rgb(cell.font.color) == "FFFFFF"
        assert cell.fill.fill_type == "solid" and _rgb(cell.fill.fgColor) == "1F3A5F"
    assert ws.freeze_panes == "A6"
    assert ws.auto_filter.ref == "A5:G8"
    assert ws.column_dimensions["A"].width == pytest.approx(8, abs=1)
    assert ws.column_dimensions["F"].width == pytest.approx(40, abs=1)

    first, second, third = ws[6], ws[7], ws[8]
    assert first[0].value == 1 and first[0].number_format == "0"
    assert first[1].value == "'=cmd|' /C calc'!A0" and first[1].data_type == "s" and first[1].number_format == "General"
    assert first[2].value == dt.datetime(2026, 3, 10, 10, 0) and first[2].number_format == DATETIME_FORMAT
    assert first[3].value == dt.datetime(2026, 3, 10) and first[3].number_format == DATE_FORMAT
    assert first[3].is_date
    assert Decimal(str(first[4].value)) == Decimal("1234.56") and first[4].number_format == "#,##0.00"
    assert first[5].alignment.wrap_text and first[5].alignment.vertical == "top"
    assert first[6].value is True
    assert second[1].value == "00123" and second[1].data_type == "s"                # text stays text
    assert second[2].value is None and second[3].value is None
    assert Decimal(str(second[4].value)) == Decimal("0.10")
    assert len(second[5].value) == MAX_CELL_CHARS and second[5].value.endswith(TRUNCATION_MARK)
    assert third[1].value == "https://example.com/x" and third[1].hyperlink is None
    assert Decimal(str(third[4].value)) == Decimal("99999999999.99")
    assert third[5].value == "bell gone"


@pytest.mark.no_db
def test_an_in_memory_workbook_takes_several_sheets_written_in_turn():
    book = XlsxBook()
    one = TableSheet(book, "One", [Column("A"), Column("B")])
    two = TableSheet(book, "Two", [Column("A")], heading="Second")
    one.append(["a1", 1])
    two.append(["b1"])
    one.append(["a2", 2])
    one.close()
    two.close()
    workbook = load_workbook(io.BytesIO(workbook_bytes(book)))
    assert workbook.sheetnames == ["One", "Two"]
    assert [[c.value for c in row] for row in workbook["One"].iter_rows()] == [["A", "B"], ["a1", 1], ["a2", 2]]
    assert workbook["One"].freeze_panes == "A2" and workbook["One"].auto_filter.ref == "A1:B3"
    assert [c.value for c in workbook["Two"]["A"]] == ["Second", None, "A", "b1"]
    assert workbook["Two"].auto_filter.ref == "A3:A4"


def _incidents() -> None:
    make_incident(dt.datetime(2026, 3, 10, 9, 0, tzinfo=UTC), description="=HYPERLINK(\"x\")")
    make_incident(dt.datetime(2026, 3, 11, 9, 0, tzinfo=UTC))
    db.session.commit()


def _check_export(data: bytes) -> None:
    ws = load_workbook(io.BytesIO(data)).active
    header_row = next(c.row for c in ws["A"] if c.value == "Incident")
    header = ws[header_row]
    assert _rgb(header[0].fill.fgColor) == "1F3A5F" and header[0].font.b
    assert ws.freeze_panes == f"A{header_row + 1}"
    assert ws.auto_filter.ref == f"A{header_row}:P{header_row + 2}"
    first = ws[header_row + 1]
    assert first[1].value == dt.datetime(2026, 3, 10, 10, 0) and first[1].number_format == DATETIME_FORMAT
    assert first[2].value == dt.datetime(2026, 3, 10) and first[2].number_format == DATE_FORMAT
    assert first[15].value == "'=HYPERLINK(\"x\")" and first[15].data_type == "s" and first[15].alignment.wrap_text


def test_write_export_writes_to_a_path_and_to_a_file_object(app_ctx, tmp_path):
    _incidents()
    path = tmp_path / "incidents.xlsx"
    assert exports.write_export("incidents", {"status": ["all"]}, path) == 2
    _check_export(path.read_bytes())
    buffer = io.BytesIO()
    assert exports.write_export("incidents", {"status": ["all"]}, buffer) == 2
    _check_export(buffer.getvalue())
    with open(tmp_path / "handle.xlsx", "wb") as handle:
        exports.write_export("incidents", {"status": ["all"]}, handle)
    _check_export((tmp_path / "handle.xlsx").read_bytes())


def test_an_export_failing_half_way_writes_nothing_and_leaves_no_temporary_files(app_ctx, tmp_path, monkeypatch):
    _incidents()
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    kind = exports.ensure_registered()["incidents"]
    seen = []

    def row(item):
        if seen:
            raise RuntimeError("the database went away")
        seen.append(item)
        return kind.row(item)

    failing = dataclasses.replace(kind, row=row)
    path, buffer = tmp_path / "out.xlsx", io.BytesIO()
    for out in (path, buffer):
        seen.clear()
        with pytest.raises(RuntimeError):
            exports.write_export(failing, {"status": ["all"]}, out)
    assert not path.exists() and buffer.getvalue() == b""
    assert list(temp.iterdir()) == []
    # And a good export cleans up after itself too.
    exports.write_export(kind, {"status": ["all"]}, path)
    assert path.stat().st_size and list(temp.iterdir()) == []


@pytest.mark.no_db
def test_a_streamed_workbook_keeps_rows_on_disk_not_in_memory(tmp_path):
    book = XlsxBook(tmp_path / "big.xlsx")
    assert book.workbook.constant_memory
    sheet = TableSheet(book, "Rows", [Column("N"), Column("Text")])
    for n in range(2_000):
        sheet.append([n, f"row {n}"])
    # Only the row being written is held; the rest are in the sheet's temporary file.
    assert len(sheet.sheet.table) <= 1
    sheet.close()
    book.close()
    ws = load_workbook(tmp_path / "big.xlsx", read_only=True).active
    assert sum(1 for _ in ws.iter_rows()) == 2_001
