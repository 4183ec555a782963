"""File imports of orders and legs: a CSV or .xlsx file read through an import profile.

An **import profile** is a saved column mapping for the files of one source: which column of
the file holds each field of Catena's leg format (`legs.LEG_FIELDS`), the time zone of the
file's naive times, and optionally a date format and a CSV delimiter. The web page and the
command line (`flask --app app import legs FILE --profile NAME`) use the same profiles.

How a file is imported (the policies users see; the README repeats them):

1. **File checks, before anything parses it.** The extension must be .csv or .xlsx and the
   content must match it. A workbook must be a plain zip (`PK\\x03\\x04`) within the limits below
   (members, uncompressed size, compression ratio, member names), without macros
   (`xl/vbaProject.bin`), and no XML part may declare a DOCTYPE or an ENTITY or use an encoding
   other than UTF-8: openpyxl's parser is never given a chance to expand one. A CSV must be text:
   UTF-8 (with or without BOM), UTF-16 (with BOM, or recognisable without), otherwise it is read
   as Windows-1252/Latin-1 with a warning; the delimiter (`, ; tab |`) is detected from the first
   64 KB unless the profile names one. The first row holds the column names (the first sheet
   of a workbook is read); columns are matched to the profile by name, ignoring case and
   spacing; a mapped column that is missing or appears twice refuses the file, other columns
   are ignored. An empty file, or one with no row under its header, is refused too. Every
   refusal of the whole file raises `ImportRejected` and writes nothing, not even a batch.
2. **Pass 1 checks every row and writes nothing.** The file is streamed (never held in memory),
   each row goes through `parse_leg_row`, suppliers are checked in chunks; entirely empty rows
   are skipped. Problems carry the row number a spreadsheet shows (the header is row 1). All
   are counted; the first `PROBLEM_LIMIT` errors and warnings are kept for the page and the
   report.
3. **All or nothing, unless asked otherwise.** If any row has an error the import is recorded
   as a *failed* batch with its problems and no leg is written. With `valid_rows_only` the
   valid rows are written and the others listed in the batch's error report.
4. **Pass 2 writes in short transactions.** The file is streamed again and the valid rows are
   written `WRITE_CHUNK_ROWS` at a time, each chunk committed, so no transaction holds the
   SQLite write lock for long. The batch row tracks the counters; it says *running* until the
   last chunk is written and *complete* after. A run that stops on an error it can catch ends
   *failed*, with the rows it had written. A run whose process died (SIGKILL, power cut) is
   found by `reclaim_interrupted`, run at the start of every import: while pass 2 runs, the
   process holds an exclusive `flock` on `<instance>/locks/import-<batch id>.lock`, which the
   operating system releases when the process dies, so a *running* batch whose lock can be
   taken has no process any more and is marked *failed*. (A batch with no lock file on this
   host, e.g. started on another one, is marked so only once `STALE_IMPORT_HOURS` old.) The
   legs of the chunks it committed stay; running the same file again finishes the job,
   because legs are keyed by their external id.
5. **Re-importing updates.** A leg whose external id exists is updated, never duplicated; the
   leg then points to the batch that wrote it last. An external id repeated inside one file:
   **the last row wins**, and each repeat is reported as a warning naming the earlier row.
6. Warnings never stop an import: a formula cell of a workbook is stored as its text (never
   calculated), and a CSV that is not UTF-8 is read as Windows-1252/Latin-1.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import functools
import io
import itertools
import logging
import os
import re
import secrets
import sqlite3
import tempfile
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo, available_timezones

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update
from sqlalchemy.orm import selectinload

from app.db import begin_write, db, utcnow
from app.errors import ValidationFailed
from app.i18n import company_zone
from app.uploads import sanitise_filename
from incidents.models import ImportBatch, ImportProfile, Leg
from incidents.services.legs import (
    FIELD_LABELS,
    LEG_FIELDS,
    REQUIRED_LEG_FIELDS,
    LegInput,
    RowProblem,
    check_suppliers,
    parse_leg_row,
    record_legs,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

log = logging.getLogger(__name__)

# Limits of the file checks. Module constants so that a deployment or a test can lower them.
#: Most members a workbook's zip may have (real workbooks have a few dozen).
MAX_ZIP_MEMBERS = 10_000
#: Most bytes a workbook may expand to, all members together.
MAX_UNCOMPRESSED_BYTES = 500 * 1024 * 1024
#: Highest compression ratio accepted for a member, or for the whole zip; real sheets stay
#: under 30, zip bombs are far above.
MAX_COMPRESSION_RATIO = 100
#: Members smaller than this are not held to the ratio: a tiny, very regular XML part
#: compresses well and can do no harm.
RATIO_MIN_BYTES = 1024 * 1024
#: How much of a CSV is read to recognise its encoding and delimiter.
SNIFF_BYTES = 64 * 1024
#: Longest physical line of a CSV, in characters; a longer one is not a table.
MAX_LINE_CHARS = 1024 * 1024

#: Rows parsed before their suppliers are looked up together (pass 1).
CHECK_CHUNK_ROWS = 5_000
#: Legs written and committed together (pass 2): small enough that one transaction stays
#: under about 250 ms on SQLite (HOSTILE G3), large enough that set-based writes pay off.
WRITE_CHUNK_ROWS = 500
#: A running batch with no lock file on this host (started elsewhere) is taken for dead after this.
STALE_IMPORT_HOURS = 24
#: Errors, and separately warnings, kept in detail for the page and the report; all are counted.
PROBLEM_LIMIT = 1_000

ACCEPTED_EXTENSIONS = (".csv", ".xlsx")
CSV_DELIMITERS = (",", ";", "\t", "|")
#: Fields that hold times: a workbook's date cells go to `parse_leg_row` as they are.
TIME_FIELDS = ("promised_at", "actual_at", "order_placed_at")

#: Signatures of files people rename to .csv by mistake (or not by mistake).
_BINARY_SIGNATURES = (
    (b"PK\x03\x04", _l("This file is a zip archive or an .xlsx workbook, not a CSV file.")),
    (b"\xd0\xcf\x11\xe0", _l("This file is an old Excel (.xls) workbook: save it as .xlsx or CSV.")),
    (b"MZ", _l("This file is a program, not a CSV file.")),
    (b"\x7fELF", _l("This file is a program, not a CSV file.")),
    (b"%PDF-", _l("This file is a PDF document, not a CSV file.")),
)
_FORBIDDEN_XML = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_XML_ENCODINGS = {b"utf-8", b"utf8", b"us-ascii", b"ascii"}
_XML_PARTS = (".xml", ".rels", ".vml")
#: What the surrogateescape error handler makes of bytes the codec cannot decode.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


class ImportRejected(ValidationFailed):
    """The whole file is refused (type, limits, encoding, columns, size); nothing was written."""

    code = "import_rejected"


class FormulaText(str):
    """The text of a workbook formula: kept as text, never calculated, reported as a warning."""


# Profiles ---------------------------------------------------------------------------------

def get_profile(name: str) -> ImportProfile | None:
    return db.session.scalar(select(ImportProfile).where(ImportProfile.name == (name or "").strip()))


def list_profiles(kind: str = "legs") -> list[ImportProfile]:
    return list(db.session.scalars(select(ImportProfile).where(ImportProfile.kind == kind)
                                   .order_by(ImportProfile.name)))


def save_profile(name: str, mapping: dict[str, str], timezone: str, *, datetime_format: str | None = None,
                 delimiter: str | None = None) -> ImportProfile:
    """Create the profile called `name`, or replace the settings of the one that exists.

    `mapping` is Catena field → column header; fields mapped to an empty header are left out.
    Raises ValidationFailed with one message per field (the field names of LEG_FIELDS, and
    `name`, `timezone`, `datetime_format`, `delimiter`).
    """
    name = " ".join((name or "").split())
    mapping = {key: " ".join(str(header).split()) for key, header in (mapping or {}).items()
               if header is not None and str(header).strip()}
    datetime_format = (datetime_format or "").strip() or None
    delimiter = delimiter or None
    problems = _profile_problems(name, mapping, timezone, datetime_format, delimiter)
    existing = get_profile(name) if name else None
    if existing is not None and existing.kind != "legs":
        problems["name"] = _l("A profile of another kind already has this name.")
    if problems:
        raise ValidationFailed(_l("The import profile was not saved."), fields=problems)
    profile = existing or ImportProfile(name=name, kind="legs")
    profile.mapping = dict(mapping)
    profile.timezone = timezone
    profile.datetime_format = datetime_format
    profile.delimiter = delimiter
    db.session.add(profile)
    db.session.flush()
    return profile


def _profile_problems(name, mapping, timezone, datetime_format, delimiter) -> dict[str, str]:
    problems = {}
    if not name:
        problems["name"] = _l("Give the profile a name.")
    elif len(name) > 80 or any(ord(ch) < 32 for ch in name):
        problems["name"] = _l("Use at most 80 characters, without control characters.")
    unknown = sorted(set(mapping) - set(LEG_FIELDS))
    if unknown:
        problems["mapping"] = _l("Unknown fields: %(names)s.", names=", ".join(unknown)[:200])
    for key in REQUIRED_LEG_FIELDS:
        if key not in mapping:
            problems[key] = _l("Required: choose the column that holds it.")
    for key, header in mapping.items():
        if key in LEG_FIELDS and len(header) > 200:
            problems[key] = _l("Column names have at most %(n)d characters.", n=200)
    if timezone not in _known_zones():
        problems["timezone"] = _l("Choose a time zone from the list, e.g. Europe/Rome.")
    if datetime_format and not _is_usable_format(datetime_format):
        problems["datetime_format"] = _l("Not a usable date format; write it like %(example)s.",
                                             example="%d/%m/%Y %H:%M")
    if delimiter and delimiter not in CSV_DELIMITERS:
        problems["delimiter"] = _l("Use a comma, semicolon, tab or vertical bar.")
    return problems


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _is_usable_format(fmt: str) -> bool:
    """A strptime format that has a directive and reads back what it writes."""
    if len(fmt) > 64 or "%" not in fmt:
        return False
    sample = dt.datetime(2026, 11, 23, 14, 5, 7)
    try:
        dt.datetime.strptime(sample.strftime(fmt), fmt)
    except (ValueError, TypeError):
        return False
    return True


# File checks ---------------------------------------------------------------------------------

@dataclass
class TableFile:
    """A checked CSV or workbook, ready to be read row by row, header first."""

    path: Path
    kind: str
    encoding: str | None = None
    delimiter: str | None = None
    #: Problems of the whole file (row 0), e.g. the encoding it was read in.
    warnings: list[RowProblem] = field(default_factory=list)

    @contextlib.contextmanager
    def records(self) -> Iterator[Iterator[tuple[int, list]]]:
        """(row number, cell values) for every row, the header included as row 1."""
        if self.kind == "xlsx":
            with _workbook_records(self.path) as records:
                yield records
        else:
            # Bytes the codec cannot read become lone surrogates, so that the row holding
            # them can be named (a decoding error would surface a read-ahead buffer later).
            with self.path.open("r", encoding=self.encoding, errors="surrogateescape", newline="") as stream:
                yield _csv_records(stream, self.delimiter, self.encoding)


def open_table(path: Path, delimiter: str | None = None) -> TableFile:
    """Check `path` as an import file; raise ImportRejected if it cannot be one."""
    path = Path(path)
    extension = path.suffix.lower()
    if extension not in ACCEPTED_EXTENSIONS:
        _reject(_l("Only .csv and .xlsx files can be imported."), "file_type")
    try:
        size = path.stat().st_size
    except OSError:
        _reject(_l("The file cannot be read."), "file_unreadable")
    if size == 0:
        _reject(_l("The file is empty."), "file_empty")
    if extension == ".xlsx":
        check_workbook(path)
        return TableFile(path, "xlsx")
    return _inspect_csv(path, delimiter)


def _reject(message, code: str, fields: dict | None = None):
    raise ImportRejected(message, code=code, fields=fields)


def check_workbook(path: Path) -> None:
    """Refuse a workbook that is not a plain .xlsx within the zip limits, before openpyxl
    reads a byte of it: a zip bomb or an XML entity must never reach the parser."""
    with path.open("rb") as stream:
        if stream.read(4) != b"PK\x03\x04":
            _reject(_l("This file is not an .xlsx workbook."), "file_type")
    try:
        archive = zipfile.ZipFile(path)
    except Exception:  # BadZipFile, NotImplementedError("zip file version"), struct errors…
        log.info("zip refused", exc_info=True)
        _reject(_l("This file is not an .xlsx workbook (the zip is damaged)."), "file_type")
    with archive:
        members = archive.infolist()
        _check_zip_limits(members)
        _check_workbook_parts({m.filename for m in members}, len(members))
        for member in members:
            if member.filename.lower().endswith(_XML_PARTS):
                _scan_xml_part(archive, member)


def _check_zip_limits(members: list[zipfile.ZipInfo]) -> None:
    if len(members) > MAX_ZIP_MEMBERS:
        _reject(_l("Not a valid workbook: it has more than %(n)d parts.", n=MAX_ZIP_MEMBERS), "zip_limits")
    total = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members)
    if total > MAX_UNCOMPRESSED_BYTES:
        _reject(_l("Not a valid workbook: it expands to more than %(mb)d MB.",
                   mb=MAX_UNCOMPRESSED_BYTES // (1024 * 1024)), "zip_limits")
    ratio_message = _l("Not a valid workbook: it is compressed more than %(ratio)d to 1 (a zip bomb?).",
                       ratio=MAX_COMPRESSION_RATIO)
    if total > RATIO_MIN_BYTES and total > MAX_COMPRESSION_RATIO * max(packed, 1):
        _reject(ratio_message, "zip_limits")
    for member in members:
        expands = member.file_size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1)
        if member.file_size > RATIO_MIN_BYTES and expands:
            _reject(ratio_message, "zip_limits")
        if member.flag_bits & 0x1:
            _reject(_l("Not a valid workbook: it is encrypted. Save it without a password."), "file_type")
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            _reject(_l("This file is not an .xlsx workbook (unusual compression)."), "file_type")
        if not _is_safe_member_name(member.filename):
            _reject(_l("Not a valid workbook: it contains a part with a forbidden name."), "zip_limits")


def _is_safe_member_name(name: str) -> bool:
    normalised = name.replace("\\", "/")
    return not (normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised) or "\x00" in name
                or ".." in PurePosixPath(normalised).parts)


def _check_workbook_parts(names: set[str], count: int) -> None:
    lowered = {name.lower() for name in names}
    if len(names) != count:
        _reject(_l("Not a valid workbook: it names the same part twice."), "zip_limits")
    if any(name.endswith("vbaproject.bin") for name in lowered):
        _reject(_l("This is a macro-enabled workbook (.xlsm): save it as a plain .xlsx workbook."), "file_type")
    if "xl/workbook.bin" in lowered:
        _reject(_l("This is a binary workbook (.xlsb): save it as a plain .xlsx workbook."), "file_type")
    if "[content_types].xml" not in lowered or "xl/workbook.xml" not in lowered:
        _reject(_l("This file is not an .xlsx workbook."), "file_type")


def _scan_xml_part(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """Refuse an XML part that declares a DOCTYPE or an ENTITY (XXE, billion laughs) or that
    is not UTF-8, so that a byte scan can be trusted. The whole part is scanned: comments
    could push a DOCTYPE past any fixed prefix."""
    forbidden = _l("Not a valid workbook (forbidden XML entity).")
    try:
        with archive.open(member) as part:
            chunk = part.read(SNIFF_BYTES)
            _check_xml_encoding(chunk)
            tail = b""
            while chunk:
                if _FORBIDDEN_XML.search(tail + chunk):
                    _reject(forbidden, "xml_entity")
                tail = chunk[-16:]
                chunk = part.read(SNIFF_BYTES)
    except ImportRejected:
        raise
    except Exception:  # a damaged member: bad CRC, zlib errors, encryption, odd compression
        log.info("zip member %r refused", member.filename[:100], exc_info=True)
        _reject(_l("This file is not an .xlsx workbook (the zip is damaged)."), "file_type")


def _check_xml_encoding(head: bytes) -> None:
    unsupported = _l("Not a valid workbook (unsupported XML encoding).")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head[:4]:
        _reject(unsupported, "xml_encoding")
    declared = _XML_DECLARED_ENCODING.match(head.removeprefix(b"\xef\xbb\xbf").lstrip())
    if declared and declared.group(1).lower() not in _XML_ENCODINGS:
        _reject(unsupported, "xml_encoding")


def _inspect_csv(path: Path, delimiter: str | None) -> TableFile:
    with path.open("rb") as stream:
        sample = stream.read(SNIFF_BYTES)
        is_whole_file = not stream.read(1)
    for signature, message in _BINARY_SIGNATURES:
        if sample.startswith(signature):
            _reject(message, "file_type")
    encoding, warning = _detect_encoding(sample)
    text = _decode_sample(sample, encoding, is_whole_file)
    if _looks_binary(text):
        _reject(_l("This file is not a CSV text file."), "file_type")
    table = TableFile(path, "csv", encoding=encoding, delimiter=delimiter or _detect_delimiter(text, is_whole_file))
    if warning:
        table.warnings.append(RowProblem(0, None, warning, is_error=False))
    return table


def _detect_encoding(sample: bytes) -> tuple[str, object | None]:
    """The codec to read a CSV with, and a warning when it had to be guessed."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", None
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", None
    if b"\x00" in sample:
        # UTF-16 without a byte order mark: ASCII text leaves every other byte zero.
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
            return "utf-16-le", None
        if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
            return "utf-16-be", None
        _reject(_l("This file is not a CSV text file."), "file_type")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8-sig", None
    except UnicodeDecodeError:
        pass
    # Not UTF-8: Excel on Windows saves CSV in the ANSI code page, Windows-1252 in Italy.
    try:
        sample.decode("cp1252")
        encoding = "cp1252"
    except UnicodeDecodeError:
        encoding = "latin-1"
    return encoding, _l("The file is not UTF-8 and was read as Windows-1252 (Latin-1): check accented "
                        "letters, or save it as “CSV UTF-8”.")


def _decode_sample(sample: bytes, encoding: str, is_whole_file: bool) -> str:
    try:
        return codecs.getincrementaldecoder(encoding)().decode(sample, final=is_whole_file)
    except UnicodeDecodeError:
        _reject(_l("The file's encoding was not recognised: save it as “CSV UTF-8”."), "encoding")


def _looks_binary(text: str) -> bool:
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f")
    return "\x00" in text or controls > len(text) / 100


def _detect_delimiter(text: str, is_whole_file: bool) -> str:
    """The candidate that splits the header into most columns and the sample's rows into the
    same number of them; a comma if none splits the header at all."""
    if not is_whole_file:
        # The last line of a sample is usually cut short.
        cut = max(text.rfind("\n"), text.rfind("\r"))
        text = text[:cut] if cut > 0 else text
    best, best_score = ",", (0.0, 1)
    for candidate in CSV_DELIMITERS:
        try:
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=candidate)
            records = [record for record in itertools.islice(reader, 200) if record]
        except csv.Error:
            continue
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        score = (sum(len(record) == width for record in records) / len(records), width)
        if score > best_score:
            best, best_score = candidate, score
    return best


# Reading rows -------------------------------------------------------------------------------

def _bounded_lines(stream, limit: int) -> Iterator[str]:
    """The stream's lines, refusing one longer than `limit` characters: a file without line
    breaks would otherwise be read into memory whole."""
    while line := stream.readline(limit):
        if len(line) >= limit and not line.endswith(("\n", "\r")):
            _reject(_l("A line of the file is longer than %(n)d characters: this is not a table.", n=limit),
                    "line_too_long")
        yield line


def _csv_records(stream, delimiter: str, encoding: str) -> Iterator[tuple[int, list]]:
    # The csv module splits CR-only, LF and CRLF lines alike when the stream keeps them
    # (newline=""), and keeps a quoted line break inside its cell. Its field size limit
    # (128 Ki characters) stops a quote that is never closed from swallowing the file.
    reader = csv.reader(_bounded_lines(stream, MAX_LINE_CHARS), delimiter=delimiter, strict=False)
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            if any(_UNDECODABLE.search(cell) for cell in record):
                _reject(_l("Row %(row)d is not valid %(encoding)s text: save the file as “CSV UTF-8”.",
                           row=number, encoding=_encoding_label(encoding)), "encoding")
            yield number, record
    except csv.Error as exc:
        log.info("CSV refused at row %d: %s", number + 1, exc)
        _reject(_l("Row %(row)d cannot be read as CSV (a cell is too long or a quote is not closed).",
                   row=number + 1), "csv_syntax")


def _encoding_label(encoding: str) -> str:
    return {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-16-le": "UTF-16", "utf-16-be": "UTF-16",
            "cp1252": "Windows-1252", "latin-1": "Latin-1"}.get(encoding, encoding)


@contextlib.contextmanager
def _workbook_records(path: Path) -> Iterator[Iterator[tuple[int, list]]]:
    import openpyxl

    invalid = _l("Not a valid workbook: it could not be read.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions it skips
        try:
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=False, keep_links=False)
        except Exception:  # any parser failure means the same thing to the user
            log.info("workbook refused by openpyxl", exc_info=True)
            _reject(invalid, "file_type")
    try:
        if not workbook.worksheets:
            _reject(_l("The workbook has no sheet."), "file_empty")
        sheet = workbook.worksheets[0]
        # The stored dimensions can lie; without them read-only mode follows the real rows.
        sheet.reset_dimensions()
        yield _sheet_records(sheet, invalid)
    finally:
        workbook.close()


def _sheet_records(sheet, invalid) -> Iterator[tuple[int, list]]:
    rows = sheet.iter_rows()
    number = 0
    while True:
        try:
            row = next(rows, None)
        except Exception:
            log.info("workbook refused at row %d", number + 1, exc_info=True)
            _reject(invalid, "file_type")
        if row is None:
            return
        number += 1
        # Read-only rows list every cell from column A, empty ones included, so a cell's
        # position is its column; a missing row comes as an empty tuple.
        yield number, [_cell_value(cell) for cell in row]


def _cell_value(cell):
    value = getattr(cell, "value", None)
    if getattr(cell, "data_type", None) == "f" and isinstance(value, str):
        return FormulaText(value)
    return value


def _header_key(value) -> str:
    return " ".join(str(value if value is not None else "").replace("\ufeff", "").split()).casefold()


def _header_text(value) -> str:
    return " ".join(str(value if value is not None else "").replace("\ufeff", "").split())


def read_headers(path: Path, delimiter: str | None = None) -> list[str]:
    """The column names of the file's first row, for the mapping screen."""
    table = open_table(path, delimiter)
    with table.records() as records:
        first = next(records, None)
    headers = [_header_text(value) for value in (first[1] if first else [])]
    if not any(headers):
        _reject(_l("The first row must hold the column names."), "no_header")
    return headers


def match_columns(headers: list, mapping: dict[str, str]) -> dict[str, int]:
    """Field → position of its column; ImportRejected naming each mapped column that is
    missing from the file or appears in it more than once (letters' case and spacing
    do not matter)."""
    keys = [_header_key(value) for value in headers]
    counts = Counter(key for key in keys if key)
    positions, problems = {}, {}
    for name, header in mapping.items():
        key = _header_key(header)
        if counts[key] == 0:
            problems[name] = _l("The column “%(column)s” is not in the file.", column=str(header)[:80])
        elif counts[key] > 1:
            problems[name] = _l("The column “%(column)s” appears %(n)d times in the file: rename the copies.",
                                column=str(header)[:80], n=counts[key])
        else:
            positions[name] = keys.index(key)
    if problems:
        _reject(_l("The file does not have the columns the profile expects."), "columns", problems)
    return positions


def _squash(text) -> str:
    return re.sub(r"[\s_\-.]+", "", str(text or "")).casefold()


def find_column(columns: list[str], wanted: str | None) -> str | None:
    """The column of `columns` that is `wanted`, ignoring case, spaces, dashes and underscores."""
    if not wanted:
        return None
    key = _squash(wanted)
    return next((column for column in columns if _squash(column) == key), None)


def guess_mapping(columns: list[str]) -> dict[str, str]:
    """A first mapping for a new source: each field goes to the column named like its code
    (`promised_at`) or its label ("Promised time", in the current language)."""
    guessed = {}
    for name in LEG_FIELDS:
        column = find_column(columns, name) or find_column(columns, str(FIELD_LABELS[name]))
        if column:
            guessed[name] = column
    return guessed


@dataclass
class _MappedRow:
    number: int
    raw: dict
    #: Warnings found while reading the cells (formulas).
    notes: list[RowProblem]


def _mapped_rows(records: Iterator[tuple[int, list]], positions: dict[str, int]) -> Iterator[_MappedRow]:
    """The data rows as field → cell value, skipping rows that are entirely empty."""
    for number, cells in records:
        if not any(_has_value(cell) for cell in cells):
            continue
        raw, notes = {}, []
        for name, position in positions.items():
            value = cells[position] if position < len(cells) else None
            if isinstance(value, FormulaText):
                notes.append(RowProblem(number, name, _l("A formula (%(formula)s) was kept as text, not calculated.",
                                                         formula=value[:60]), is_error=False))
            raw[name] = _as_field_value(name, value)
        yield _MappedRow(number, raw, notes)


def _has_value(cell) -> bool:
    return cell is not None and (not isinstance(cell, str) or cell.strip() != "")


def _as_field_value(name: str, value):
    """A workbook cell as `parse_leg_row` expects it: text, or a date(time) for time fields."""
    if value is None or isinstance(value, str):
        return str(value) if isinstance(value, FormulaText) else value
    if isinstance(value, (dt.datetime, dt.date)):
        return value if name in TIME_FIELDS else value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 12345.0 in an id column means 12345
    return str(value)


# The import ---------------------------------------------------------------------------------

@dataclass
class ProblemTally:
    """Pass 1's problems of a file import: every one counted, the first PROBLEM_LIMIT errors
    and PROBLEM_LIMIT warnings kept for the page and the report."""

    rows_total: int = 0
    rows_rejected: int = 0
    errors: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0

    def add(self, problems: list[RowProblem]) -> None:
        for problem in problems:
            if problem.is_error:
                self.error_count += 1
                if len(self.errors) < PROBLEM_LIMIT:
                    self.errors.append(problem)
            else:
                self.warning_count += 1
                if len(self.warnings) < PROBLEM_LIMIT:
                    self.warnings.append(problem)

    def summary(self) -> str | None:
        """The counts of problems in words, or None when there is none."""
        if not self.error_count and not self.warning_count:
            return None
        text = str(_l("Errors: %(errors)d, in %(rows)d rows. Warnings: %(warnings)d.",
                      errors=self.error_count, rows=self.rows_rejected, warnings=self.warning_count))
        if self.error_count > len(self.errors) or self.warning_count > len(self.warnings):
            text += " " + str(_l("Only the first %(n)d errors and %(n)d warnings are listed.", n=PROBLEM_LIMIT))
        return text


@dataclass
class _CheckResult(ProblemTally):
    """What pass 1 learnt: counts, the first problems, the suppliers the valid rows name."""

    rows_valid: int = 0
    supplier_ids: dict[str, int] = field(default_factory=dict)

    def problem_dicts(self, mapping: dict[str, str]) -> list[dict] | None:
        problems = sorted(self.errors + self.warnings, key=_problem_order)
        return [_problem_dict(problem, mapping) for problem in problems] or None


_FIELD_ORDER = {name: n for n, name in enumerate(LEG_FIELDS)}


def _problem_order(problem: RowProblem):
    return problem.row, _FIELD_ORDER.get(problem.column, -1), not problem.is_error


def _problem_dict(problem: RowProblem, mapping: dict[str, str]) -> dict:
    # The file's own column name, as the user sees it, next to Catena's field name.
    return problem.as_dict() | {"header": mapping.get(problem.column) if problem.column else None}


def import_legs_file(path: Path, profile: ImportProfile, actor, *, valid_rows_only: bool = False,
                     file_name: str | None = None, progress: Callable[[int], None] | None = None,
                     commit: Callable[[], None], check_progress: Callable[[int], None] | None = None,
                     max_rows: int | None = None) -> ImportBatch:
    """Import a CSV or .xlsx file of legs through `profile`; return its batch.

    Raises ImportRejected, writing nothing, if the file itself is refused (see the module
    docstring), has no data row, or has more than `max_rows` data rows. A file with row errors
    gives a batch with status "failed" and no leg written, unless `valid_rows_only`.

    `commit` is called at every transaction boundary: before reading (so the caller's write
    lock is not held while the file is checked), after each chunk of pass 1 (only reads)
    and pass 2 (writes), and when the batch is finished. `check_progress(rows_checked)` reports
    pass 1, `progress(rows_written)` pass 2.
    """
    mapping, zone = dict(profile.mapping or {}), ZoneInfo(profile.timezone)
    datetime_format, profile_id = profile.datetime_format, profile.id
    actor_id = getattr(actor, "id", None)
    table = open_table(path, profile.delimiter)
    fingerprint = _fingerprint(table.path)
    reclaim_interrupted(commit)
    commit()

    check = _check_rows(table, mapping, zone, datetime_format, commit, check_progress, max_rows)
    if check.rows_total == 0:
        _reject(_l("The file has column names but no rows."), "no_rows")
    if _fingerprint(table.path) != fingerprint:
        _reject(_l("The file changed while it was being checked; nothing was written. Try again."), "file_changed")

    begin_write()
    batch = ImportBatch(
        kind="legs", source="file", file_name=sanitise_filename(file_name or table.path.name, 255),
        profile_id=profile_id, status="running", rows_total=check.rows_total, rows_rejected=check.rows_rejected,
        problems=check.problem_dicts(mapping), notes=check.summary(), created_by_id=actor_id,
    )
    db.session.add(batch)
    if check.error_count and not valid_rows_only:
        # All or nothing: the batch records the refusal and its report; no leg is written.
        batch.status, batch.finished_at = "failed", utcnow()
        db.session.flush()
        commit()
        return batch
    db.session.flush()
    # The lock is taken before the batch is committed, so no committed running batch is ever
    # without it while its process lives.
    with _batch_lock(batch.id):
        commit()
        # Pass 2 reads the file only if some row is to be written.
        rows = table if check.rows_valid else None
        _write_rows(rows, mapping, zone, datetime_format, check, fingerprint, batch, commit, progress)
    return batch


# Interrupted runs ---------------------------------------------------------------------------

def _lock_path(batch_id: int) -> Path:
    return Path(current_app.instance_path) / "locks" / f"import-{batch_id}.lock"


@contextlib.contextmanager
def _batch_lock(batch_id: int) -> Iterator[None]:
    """Hold an exclusive flock on the batch's lock file while the batch is written: the
    operating system releases it when the process dies, however it dies."""
    if fcntl is None:  # no flock (Windows): only the age of a batch tells
        yield
        return
    path = _lock_path(batch_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _owner_is_gone(batch_id: int, started_at: dt.datetime | None, now: dt.datetime) -> bool:
    path = _lock_path(batch_id)
    if fcntl is not None:
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            handle = None
        if handle is not None:
            with handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return False  # its process holds the lock: it is still writing
                path.unlink(missing_ok=True)
                return True
    # No lock file here: started on another host (or before locks existed); judge by age.
    return started_at is None or started_at < now - dt.timedelta(hours=STALE_IMPORT_HOURS)


def reclaim_interrupted(commit: Callable[[], None], now: dt.datetime | None = None) -> list[int]:
    """Mark *failed* the file imports left *running* by a process that died; their ids.

    The legs of the chunks such a run committed stay (they are valid rows of the file);
    importing the file again updates them and writes the rest.
    """
    now = now or utcnow()
    running = db.session.execute(select(ImportBatch.id, ImportBatch.started_at, ImportBatch.rows_created,
                                        ImportBatch.rows_updated, ImportBatch.notes)
                                 .where(ImportBatch.kind == "legs", ImportBatch.source == "file",
                                        ImportBatch.status == "running")).all()
    commit()
    reclaimed = []
    for batch_id, started_at, created, updated, notes in running:
        if not _owner_is_gone(batch_id, started_at, now):
            continue
        stopped = str(_l("Stopped after %(n)d rows were written (%(reason)s). Import the file again: "
                         "rows already written are updated, not duplicated.",
                         n=(created or 0) + (updated or 0), reason=_l("interrupted")))
        begin_write()
        done = db.session.execute(
            update(ImportBatch).where(ImportBatch.id == batch_id, ImportBatch.status == "running")
            .values(status="failed", finished_at=now, notes=f"{notes} {stopped}" if notes else stopped)
            .execution_options(synchronize_session=False))
        commit()
        if done.rowcount:
            log.warning("import batch %s: its process is gone, marked failed", batch_id)
            reclaimed.append(batch_id)
    return reclaimed


def _fingerprint(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


#: Order columns longer than parse_leg_row's 300-character cut would make PostgreSQL refuse
#: the chunk half way through pass 2; until parse_leg_row checks them, they are checked here.
_ORDER_TEXT_LIMITS = {"customer_ref": 64, "order_channel": 40}


def _parse_row(row: _MappedRow, zone: ZoneInfo, datetime_format: str | None
               ) -> tuple[LegInput | None, list[RowProblem]]:
    """One row through `parse_leg_row`, plus the checks it does not make yet; both passes
    use it, so pass 2 skips exactly the rows pass 1 refused."""
    leg, problems = parse_leg_row(row.raw, row.number, zone, datetime_format)
    if leg is None:
        return None, problems
    for name, limit in _ORDER_TEXT_LIMITS.items():
        if len(getattr(leg, name) or "") > limit:
            problems.append(RowProblem(row.number, name, _l("At most %(n)d characters.", n=limit)))
    if any(problem.is_error for problem in problems):
        return None, problems
    return leg, problems


def _check_rows(table: TableFile, mapping: dict[str, str], zone: ZoneInfo, datetime_format: str | None,
                commit: Callable[[], None], check_progress, max_rows: int | None) -> _CheckResult:
    """Pass 1: parse every row and look its supplier up; write nothing."""
    result = _CheckResult()
    result.add(table.warnings)
    with table.records() as records, _SeenExternalIds() as seen:
        header = next(records, None)
        if header is None or not any(_has_value(cell) for cell in header[1]):
            _reject(_l("The first row must hold the column names."), "no_header")
        positions = match_columns(header[1], mapping)
        pending: list[LegInput] = []
        pending_problems: list[RowProblem] = []
        for row in _mapped_rows(records, positions):
            result.rows_total += 1
            if max_rows is not None and result.rows_total > max_rows:
                _reject(_l("The file has more than %(n)d rows.", n=max_rows), "too_many_rows")
            leg, problems = _parse_row(row, zone, datetime_format)
            pending_problems += row.notes + problems
            if leg is None:
                result.rows_rejected += 1
            else:
                pending.append(leg)
            if result.rows_total % CHECK_CHUNK_ROWS == 0:
                _check_chunk(pending, pending_problems, result, seen)
                pending, pending_problems = [], []
                _end_transaction(commit)
                if check_progress:
                    check_progress(result.rows_total)
        _check_chunk(pending, pending_problems, result, seen)
        repeats, repeat_count = seen.repeats(PROBLEM_LIMIT)
        result.add(repeats)
        result.warning_count += repeat_count - len(repeats)
    _end_transaction(commit)
    if check_progress:
        check_progress(result.rows_total)
    return result


def _end_transaction(commit: Callable[[], None]) -> None:
    """End the read transaction of pass 1 (nothing is pending), so that a long check holds no
    snapshot that would keep SQLite's WAL from being checkpointed."""
    commit()


def _check_chunk(legs: list[LegInput], problems: list[RowProblem], result: _CheckResult,
                 seen: _SeenExternalIds) -> None:
    if legs:
        supplier_ids, unknown = check_suppliers(legs)
        result.supplier_ids.update(supplier_ids)
        problems = problems + unknown
        refused = {problem.row for problem in unknown}
        result.rows_rejected += len(refused)
        valid = [leg for leg in legs if leg.row not in refused]
        result.rows_valid += len(valid)
        seen.add(valid)
        for leg in legs:
            problems += leg.warnings
    problems.sort(key=_problem_order)
    result.add(problems)


class _SeenExternalIds:
    """The external ids of the valid rows with their row numbers, to report the rows that
    repeat an id. They are kept in a private temporary SQLite database on disk, so that a
    million ids cost disk space, not memory."""

    def __enter__(self) -> _SeenExternalIds:
        self._db = sqlite3.connect("")  # "" is a temporary database, deleted when closed
        self._db.execute("CREATE TABLE seen (external_id TEXT NOT NULL, row INTEGER NOT NULL)")
        return self

    def __exit__(self, *exc_info) -> None:
        self._db.close()

    def add(self, legs: list[LegInput]) -> None:
        self._db.executemany("INSERT INTO seen VALUES (?, ?)", ((leg.external_id, leg.row) for leg in legs))

    def repeats(self, limit: int) -> tuple[list[RowProblem], int]:
        """A warning on each row that repeats the external id of an earlier row (the first
        `limit` of them), and how many such rows there are."""
        self._db.execute("CREATE INDEX seen_id ON seen (external_id, row)")
        self._db.execute("CREATE TEMP TABLE repeats AS SELECT row, previous FROM (SELECT row, LAG(row) OVER "
                         "(PARTITION BY external_id ORDER BY row) AS previous FROM seen) WHERE previous IS NOT NULL")
        count = self._db.execute("SELECT COUNT(*) FROM repeats").fetchone()[0]
        first = self._db.execute("SELECT row, previous FROM repeats ORDER BY row LIMIT ?", (limit,))
        return [RowProblem(row, "external_id", _l("Same leg id as row %(row)d: this later row is the one kept.",
                                                  row=previous), is_error=False) for row, previous in first], count


def _write_rows(table: TableFile | None, mapping: dict[str, str], zone: ZoneInfo, datetime_format: str | None,
                check: _CheckResult, fingerprint: tuple[int, int], batch: ImportBatch,
                commit: Callable[[], None], progress) -> None:
    """Pass 2: write the rows pass 1 found valid, a chunk per transaction; with no table,
    only mark the batch complete."""
    writer = _ChunkWriter(batch, check.supplier_ids, commit, progress)
    try:
        if table is not None:
            rows_seen = 0
            with table.records() as records:
                positions = match_columns(next(records)[1], mapping)
                for row in _mapped_rows(records, positions):
                    rows_seen += 1
                    leg, _problems = _parse_row(row, zone, datetime_format)
                    # Only suppliers found in pass 1: one registered since then must not let
                    # a row through that the check refused.
                    if leg is not None and leg.supplier_code in check.supplier_ids:
                        writer.add(leg)
            # A file rewritten during pass 2 would otherwise end as "complete" with the rows
            # of two different files, or with fewer rows than were checked.
            if rows_seen != check.rows_total or _fingerprint(table.path) != fingerprint:
                _reject(_l("The file changed while it was being imported."), "file_changed")
        writer.finish()
    except BaseException as exc:
        writer.abandon(exc)
        raise


class _ChunkWriter:
    """Writes legs a chunk per transaction and keeps the batch's counters in step."""

    def __init__(self, batch: ImportBatch, supplier_ids: dict[str, int], commit, progress):
        self.batch_id = batch.id
        self.batch = batch
        self.supplier_ids = supplier_ids
        self.commit = commit
        self.progress = progress
        self.zone = company_zone()  # legs belong to the company's calendar days
        self.pending: list[LegInput] = []
        self.created = self.updated = 0

    def add(self, leg: LegInput) -> None:
        self.pending.append(leg)
        if len(self.pending) >= WRITE_CHUNK_ROWS:
            self._write()

    def _write(self) -> None:
        if not self.pending:
            return
        begin_write()
        created, updated = record_legs(self.pending, self.supplier_ids, self.zone, self.batch)
        self._adopt([leg.external_id for leg in self.pending])
        self.created += created
        self.updated += updated
        self.batch.rows_created, self.batch.rows_updated = self.created, self.updated
        db.session.flush()
        self.commit()
        self.pending = []
        if self.progress:
            self.progress(self.created + self.updated)

    def _adopt(self, external_ids: list[str]) -> None:
        """Point updated legs at this batch: a leg belongs to the import that wrote it last,
        so a run that finishes what a killed one started leaves no leg with a dead batch."""
        for start in range(0, len(external_ids), 500):
            db.session.execute(
                update(Leg).where(Leg.external_id.in_(external_ids[start:start + 500]),
                                  or_(Leg.import_batch_id.is_(None), Leg.import_batch_id != self.batch_id))
                .values(import_batch_id=self.batch_id).execution_options(synchronize_session=False))

    def finish(self) -> None:
        self._write()
        begin_write()
        self.batch.status, self.batch.finished_at = "complete", utcnow()
        db.session.flush()
        self.commit()

    def abandon(self, exc: BaseException) -> None:
        """Record that the run stopped, with what it had written; the chunk in progress is
        rolled back. Best effort: if the database is what failed, the batch stays running."""
        try:
            db.session.rollback()
            begin_write()
            batch = db.session.get(ImportBatch, self.batch_id)
            batch.status, batch.finished_at = "failed", utcnow()
            stopped = str(_l("Stopped after %(n)d rows were written (%(reason)s). Import the file again: "
                             "rows already written are updated, not duplicated.",
                             n=self.created + self.updated, reason=_reason(exc)))
            batch.notes = f"{batch.notes} {stopped}" if batch.notes else stopped
            db.session.flush()
            self.commit()
        except Exception:
            log.exception("could not record the interruption of import batch %s", self.batch_id)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationFailed):
        return str(exc.message)
    if isinstance(exc, KeyboardInterrupt):
        return str(_l("interrupted"))
    return str(_l("an unexpected error"))


# Uploads, batches, reports ------------------------------------------------------------------

def store_import_file(stream, original_name: str, directory: Path) -> Path:
    """Check an uploaded file and keep it under a generated name in `directory`.

    The file is written under a temporary name and renamed once checked, so neither a refused
    file nor a half-written one stays behind; its name is never the user's.
    """
    extension = Path(sanitise_filename(original_name)).suffix.lower()
    if extension not in ACCEPTED_EXTENSIONS:
        _reject(_l("Only .csv and .xlsx files can be imported."), "file_type",
                {"file": _l("Choose a .csv or .xlsx file.")})
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=".upload-", suffix=extension)
    temp_path = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(64 * 1024):
                out.write(chunk)
        open_table(temp_path)
        final = directory / (secrets.token_hex(16) + extension)
        os.replace(temp_path, final)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return final


def discard_stale_files(directory: Path, older_than: dt.timedelta = dt.timedelta(hours=24)) -> int:
    """Remove uploaded files nobody finished importing; return how many were removed."""
    if not directory.is_dir():
        return 0
    limit = dt.datetime.now().timestamp() - older_than.total_seconds()
    removed = 0
    for path in directory.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
        except OSError:
            continue  # another worker removed it first
    return removed


def latest_batches(limit: int = 50) -> list[ImportBatch]:
    return list(db.session.scalars(select(ImportBatch).where(ImportBatch.kind == "legs")
                                   .options(selectinload(ImportBatch.profile), selectinload(ImportBatch.created_by))
                                   .order_by(ImportBatch.id.desc()).limit(limit)))


def get_batch(batch_id: int) -> ImportBatch | None:
    return db.session.get(ImportBatch, batch_id)


_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def formula_safe(value) -> str:
    """Text that a spreadsheet will not run as a formula: a leading quote before = + - @ and
    control characters (the quote our import strips again)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def error_report_csv(batch: ImportBatch) -> str:
    """The batch's problems as CSV: row, column (the file's own name when known), severity,
    message. Cells are formula-safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["row", "column", "severity", "message"])
    for problem in batch.problems or []:
        column = problem.get("header") or (str(FIELD_LABELS[problem["column"]])
                                           if problem.get("column") in FIELD_LABELS else problem.get("column"))
        writer.writerow([problem.get("row") or "", formula_safe(column), problem.get("severity", "error"),
                         formula_safe(problem.get("message"))])
    if batch.notes:
        writer.writerow(["", "", "note", formula_safe(batch.notes)])
    return out.getvalue()
