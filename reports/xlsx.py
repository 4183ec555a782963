"""Writing .xlsx safely: text that Excel would read as a formula is neutralised, numbers and
dates stay real numbers and dates (shared HOSTILE.md, decision 5)."""
from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, BinaryIO

import xlsxwriter

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: A cell whose text starts with one of these is read by Excel (or LibreOffice) as a formula
#: or a DDE call; a leading apostrophe makes it plain text again.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")

#: Characters XML 1.0 (and so .xlsx) cannot hold; openpyxl raises on them.
_ILLEGAL = {c: None for c in range(32) if c not in (9, 10, 13)}
_HAS_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def safe_text(value: str) -> str:
    text = value.translate(_ILLEGAL) if _HAS_ILLEGAL.search(value) else value
    if value.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def safe_cell(value: Any) -> Any:
    """The value to write to a cell: text neutralised, numbers and dates unchanged.

    Excel has no time-zone-aware datetimes: aware ones are written as naive UTC, and callers
    that want local times convert first.
    """
    if value is None or isinstance(value, (bool, int, float, Decimal, dt.date)):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value
    return safe_text(str(value))


def unquote_imported(value: Any) -> Any:
    """Undo `safe_text` on a value read back from a workbook Catena wrote (one apostrophe)."""
    if isinstance(value, str) and value.startswith("'") and value[1:2] and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


# Sheets with a title block and a table -----------------------------------------------------

#: Excel's limit for one cell's text; longer text is cut and marked (a writer would cut it silently).
MAX_CELL_CHARS = 32_767
TRUNCATION_MARK = " […]"
#: Cell formats, as XlsxWriter format properties.
HEADER_STYLE = {"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F3A5F", "pattern": 1}
TITLE_STYLE = {"bold": True, "font_size": 13, "font_color": "#1F3A5F"}
LABEL_STYLE = {"bold": True}
WRAP_STYLE = {"text_wrap": True, "valign": "top"}
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
#: Excel's limit for a sheet's name.
MAX_SHEET_TITLE = 31


def cell_value(value: Any) -> Any:
    """`safe_cell`, and text cut to what a cell can hold with a visible mark."""
    value = safe_cell(value)
    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
        value = value[:MAX_CELL_CHARS - len(TRUNCATION_MARK)] + TRUNCATION_MARK
    return value


@dataclass(frozen=True)
class Column:
    label: Any
    #: Width in Excel's character units.
    width: float = 14
    #: Excel number format for the column's values ("0.00", DATE_FORMAT…); None: General.
    number_format: str | None = None
    #: Long text: wrapped within the column's width.
    wrap: bool = False


class XlsxBook:
    """An .xlsx workbook being written (XlsxWriter).

    `XlsxBook(out)` streams to `out`, a path or a binary file object, in XlsxWriter's
    constant_memory mode: each sheet's rows go to a temporary file (in a private directory under
    the system's temporary directory) as they are written, so memory stays flat however many
    rows there are; rows of a sheet must be written in order. `out` is written by `close()` only,
    in one go: `abort()`, or leaving a `with` block by an exception, removes the temporary files
    and leaves `out` untouched (as openpyxl's write-only `save` did).

    `XlsxBook()` builds a small workbook in memory (no temporary files; sheets in any order);
    `workbook_bytes` closes it and returns the file's bytes.
    """

    def __init__(self, out: BinaryIO | str | os.PathLike | None = None):
        options: dict[str, Any] = {
            # Every cell is written with an explicit type; these only guard a stray write().
            "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
        }
        self._buffer: io.BytesIO | None = None
        self._tmpdir: tempfile.TemporaryDirectory | None = None
        if out is None:
            self._buffer = out = io.BytesIO()
            options["in_memory"] = True
        else:
            if isinstance(out, os.PathLike):
                out = os.fspath(out)
            self._tmpdir = tempfile.TemporaryDirectory(prefix="catena-xlsx-")
            options.update(constant_memory=True, tmpdir=self._tmpdir.name)
        self.workbook = xlsxwriter.Workbook(out, options)
        if self._tmpdir is not None:
            # ZIP64 allowed (zipfile uses it only for a part over 4 GiB, as with openpyxl): a huge
            # export is written rather than refused.
            self.workbook.use_zip64()
        self._formats: dict[tuple, Any] = {}
        self.closed = False

    def add_sheet(self, title: str):
        """A new worksheet titled `title` cut to Excel's 31 characters (no apostrophe at its ends,
        which Excel refuses)."""
        return self.workbook.add_worksheet(str(title)[:MAX_SHEET_TITLE].strip("'") or None)

    def format(self, *styles: dict | None):
        """The one XlsxWriter format with these properties merged (None: the default format)."""
        properties: dict[str, Any] = {}
        for style in styles:
            if style:
                properties.update(style)
        if not properties:
            return None
        key = tuple(sorted(properties.items()))
        found = self._formats.get(key)
        if found is None:
            found = self._formats[key] = self.workbook.add_format(properties)
        return found

    def close(self) -> None:
        """Write the file (once)."""
        if self.closed:
            return
        try:
            self.workbook.close()
        except BaseException:
            self.abort()
            raise
        self.closed = True
        self._cleanup()

    def abort(self) -> None:
        """Drop what was written so far: nothing reaches `out`, the temporary files go."""
        if self.closed:
            return
        self.closed = True
        self.workbook.fileclosed = True  # a later close() writes nothing
        if self.workbook.constant_memory:
            for sheet in self.workbook.worksheets():
                sheet._opt_close()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def getvalue(self) -> bytes:
        if self._buffer is None:
            raise ValueError("this workbook is written to a file, not kept in memory")
        self.close()
        return self._buffer.getvalue()

    def __enter__(self) -> XlsxBook:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class _Formats:
    """One column's formats, one per kind of value, made once."""

    __slots__ = ("text", "number", "date", "datetime")

    def __init__(self, book: XlsxBook, number_format: str | None = None, wrap: bool = False):
        wrap_style = WRAP_STYLE if wrap else None
        self.text = book.format(wrap_style)
        self.number = book.format(wrap_style, {"num_format": number_format} if number_format else None)
        self.date = book.format(wrap_style, {"num_format": number_format or DATE_FORMAT})
        self.datetime = book.format(wrap_style, {"num_format": number_format or DATETIME_FORMAT})


def _write(sheet, row: int, col: int, value: Any, formats: _Formats) -> None:
    """One value through `cell_value`, written with its own type: text always as text (never a
    formula, a number or a link), numbers, dates and booleans as such; None leaves the cell empty."""
    value = cell_value(value)
    if value is None:
        return
    if isinstance(value, str):
        sheet.write_string(row, col, value, formats.text)
    elif isinstance(value, bool):
        sheet.write_boolean(row, col, value, formats.number)
    elif isinstance(value, int):
        sheet.write_number(row, col, value, formats.number)
    elif isinstance(value, (float, Decimal)):
        if value.is_finite() if isinstance(value, Decimal) else math.isfinite(value):
            # A Decimal as the nearest double, written with 16 significant digits: an amount of up
            # to 15 digits (2-decimal money) reads back exactly.
            sheet.write_number(row, col, float(value), formats.number)
        else:  # NaN and the infinities have no cell value
            sheet.write_string(row, col, str(value), formats.text)
    elif isinstance(value, dt.datetime):
        sheet.write_datetime(row, col, value, formats.datetime)
    else:  # dt.date
        sheet.write_datetime(row, col, value, formats.date)


class TableSheet:
    """A sheet of an `XlsxBook`: a title, label/value rows (export time, filters…), then a table
    with a styled, frozen header row and an autofilter over its rows.

    Every value passes through `cell_value`, so no text can run as a formula; numbers and
    dates stay numbers and dates. Rows stream: memory stays flat however many are appended.
    """

    def __init__(self, workbook: XlsxBook, title: str, columns: list[Column], *, heading: Any = None,
                 facts: list[tuple[Any, Any]] = ()):
        self.sheet = workbook.add_sheet(title)
        self.columns = columns
        for index, column in enumerate(columns):
            self.sheet.set_column(index, index, column.width)
        row = 0
        if heading is not None:
            title_format = workbook.format(TITLE_STYLE)
            self.sheet.write_string(row, 0, cell_value(str(heading)), title_format)
            row += 1
        if facts:
            label_format, plain = workbook.format(LABEL_STYLE), _Formats(workbook)
            for label, value in facts:
                self.sheet.write_string(row, 0, cell_value(str(label)), label_format)
                _write(self.sheet, row, 1, value, plain)
                row += 1
        if row:
            row += 1  # a blank row above the table
        #: 1-based, as Excel numbers rows.
        self.header_row = row + 1
        self.last_row = self.header_row
        self.sheet.freeze_panes(row + 1, 0)
        header_format = workbook.format(HEADER_STYLE)
        for index, column in enumerate(columns):
            self.sheet.write_string(row, index, cell_value(str(column.label)), header_format)
        self._formats = [_Formats(workbook, c.number_format, c.wrap) for c in columns]

    def append(self, values: list[Any]) -> None:
        row, sheet = self.last_row, self.sheet  # the next row, 0-based
        for index, (formats, value) in enumerate(zip(self._formats, values)):
            _write(sheet, row, index, value, formats)
        self.last_row += 1

    def close(self) -> None:
        if self.columns:
            self.sheet.autofilter(self.header_row - 1, 0, self.last_row - 1, len(self.columns) - 1)


def workbook_bytes(workbook: XlsxBook) -> bytes:
    """The .xlsx file of an in-memory `XlsxBook()`, which this closes."""
    return workbook.getvalue()
