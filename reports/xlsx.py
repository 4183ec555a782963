"""Writing .xlsx safely: text that Excel would read as a formula is neutralised, numbers and
dates stay real numbers and dates (shared HOSTILE.md, decision 5)."""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: A cell whose text starts with one of these is read by Excel (or LibreOffice) as a formula
#: or a DDE call; a leading apostrophe makes it plain text again.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")

#: Characters XML 1.0 (and so .xlsx) cannot hold; openpyxl raises on them.
_ILLEGAL = {c: None for c in range(32) if c not in (9, 10, 13)}


def safe_text(value: str) -> str:
    text = value.translate(_ILLEGAL) if any(ord(c) < 32 for c in value) else value
    if value.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def safe_cell(value: Any) -> Any:
    """The value to hand to openpyxl: text neutralised, numbers and dates unchanged.

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

#: Excel's limit for one cell's text; longer text is cut and marked (openpyxl would cut it silently).
MAX_CELL_CHARS = 32_767
TRUNCATION_MARK = " […]"
HEADER_FILL = PatternFill("solid", fgColor="1F3A5F")
HEADER_FONT = Font(bold=True, color="FFFFFF")
TITLE_FONT = Font(bold=True, size=13, color="1F3A5F")
LABEL_FONT = Font(bold=True)
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


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


def _styled(sheet, value: Any, *, font: Font | None = None, fill: PatternFill | None = None,
            number_format: str | None = None, wrap: bool = False) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=cell_value(value))
    if font is not None:
        cell.font = font
    if fill is not None:
        cell.fill = fill
    if number_format and not isinstance(cell.value, str):
        cell.number_format = number_format
    elif isinstance(cell.value, dt.datetime):
        cell.number_format = DATETIME_FORMAT
    elif isinstance(cell.value, dt.date):
        cell.number_format = DATE_FORMAT
    if wrap:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    return cell


class TableSheet:
    """A sheet of a write-only workbook: a title, label/value rows (export time, filters…),
    then a table with a styled, frozen header row and an autofilter over its rows.

    Every value passes through `cell_value`, so no text can run as a formula; numbers and
    dates stay numbers and dates. Rows stream: memory stays flat however many are appended.
    """

    def __init__(self, workbook, title: str, columns: list[Column], *, heading: Any = None,
                 facts: list[tuple[Any, Any]] = ()):
        self.sheet = workbook.create_sheet(title=title[:31])
        self.columns = columns
        for index, column in enumerate(columns, start=1):
            self.sheet.column_dimensions[get_column_letter(index)].width = column.width
        preamble: list[list] = []
        if heading is not None:
            preamble.append([_styled(self.sheet, str(heading), font=TITLE_FONT)])
        for label, value in facts:
            preamble.append([_styled(self.sheet, str(label), font=LABEL_FONT), _styled(self.sheet, value)])
        if preamble:
            preamble.append([])
        self.header_row = len(preamble) + 1
        self.last_row = self.header_row
        # Freezing is written with the sheet's head, so it is set before the first row.
        self.sheet.freeze_panes = f"A{self.header_row + 1}"
        for row in preamble:
            self.sheet.append(row)
        self.sheet.append([_styled(self.sheet, str(c.label), font=HEADER_FONT, fill=HEADER_FILL) for c in columns])

    def append(self, values: list[Any]) -> None:
        self.sheet.append([_styled(self.sheet, value, number_format=column.number_format, wrap=column.wrap)
                           for column, value in zip(self.columns, values)])
        self.last_row += 1

    def close(self) -> None:
        last_column = get_column_letter(len(self.columns))
        self.sheet.auto_filter.ref = f"A{self.header_row}:{last_column}{self.last_row}"


def workbook_bytes(workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
