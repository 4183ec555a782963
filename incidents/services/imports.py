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
2. **One pass checks every row and stages the valid ones.** The file is streamed (never held
   in memory) once; each row goes through `parse_leg_row`, suppliers are looked up in chunks
   of `CHECK_CHUNK_ROWS`; entirely empty rows are skipped. Problems carry the row number a
   spreadsheet shows (the header is row 1). All are counted; the first `PROBLEM_LIMIT` errors
   and warnings are kept for the page and the report. Valid rows are written to the staging
   table (`StagedLeg`), a committed transaction per chunk, so no transaction holds SQLite's
   write lock for long (COPY on PostgreSQL); no reader of legs or orders ever sees them.
3. **All or nothing, unless asked otherwise.** If any row has an error the import is recorded
   as a *failed* batch with its problems, its staged rows are removed and no leg is written.
   With `valid_rows_only` the valid rows are written and the others listed in the batch's
   error report.
4. **The legs appear in one transaction.** After the last row, `record_staged_legs` moves the
   staged rows into orders and legs with a fixed number of set-based statements (and keeps
   the daily statistics exact), and the batch becomes *complete* in the same transaction;
   the staged rows are removed after. The batch says *running* until then. A run that stops
   on an error it can catch ends *failed* with nothing written. A run whose process died
   (SIGKILL, power cut) left only staged rows; it is found by `reclaim_interrupted`, run at
   the start of every import: while it runs, the process holds an exclusive `flock` on
   `<instance>/locks/import-<batch id>.lock`, which the operating system releases when the
   process dies, so a *running* batch whose lock can be taken has no process any more and is
   marked *failed*. (A batch with no lock file on this host, e.g. started on another one, is
   marked so only once `STALE_IMPORT_HOURS` old.) The staged rows of every batch no longer
   running are removed then too. Running the same file again does the whole work.
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
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import selectinload

from app.db import begin_write, db, utcnow
from app.errors import ValidationFailed
from app.i18n import company_zone
from app.uploads import sanitise_filename
from incidents.models import ImportBatch, ImportProfile, StagedLeg
from incidents.services.legs import (
    FIELD_LABELS,
    LEG_FIELDS,
    REQUIRED_LEG_FIELDS,
    LegInput,
    RowProblem,
    leg_values,
    parse_leg_row,
    record_staged_legs,
    supplier_ids_for,
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

#: Rows parsed before their suppliers are looked up together and the valid ones staged in one
#: committed transaction: small enough that it stays well under 250 ms on SQLite (HOSTILE G3),
#: large enough that the bulk insert pays off.
CHECK_CHUNK_ROWS = 5_000
#: Incidents written and committed together by an incident import (`incident_imports`).
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
            if _UNDECODABLE.search("\x00".join(record)):  # one search per row, not per cell
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
        width = len(cells)
        for name, position in positions.items():
            value = cells[position] if position < width else None
            if type(value) is not str:  # plain text, every cell of a CSV, needs nothing more
                if isinstance(value, FormulaText):
                    message = _l("A formula (%(formula)s) was kept as text, not calculated.", formula=value[:60])
                    notes.append(RowProblem(number, name, message, is_error=False))
                value = _as_field_value(name, value)
            raw[name] = value
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
    """What the check learnt: counts, the first problems, the suppliers the rows name."""

    rows_valid: int = 0
    supplier_ids: dict[str, int] = field(default_factory=dict)
    #: Codes looked up and not found, so that each is asked for once.
    unknown_codes: set[str] = field(default_factory=set)

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
    lock is not held while the file is checked), after each chunk of rows checked and staged,
    after the move into legs, and when the staged rows are cleared. `check_progress(rows_checked)`
    reports the reading, `progress(rows_written)` the legs written (once they are visible).
    """
    mapping, zone = dict(profile.mapping or {}), ZoneInfo(profile.timezone)
    datetime_format, profile_id = profile.datetime_format, profile.id
    actor_id = getattr(actor, "id", None)
    table = open_table(path, profile.delimiter)
    fingerprint = _fingerprint(table.path)
    reclaim_interrupted(commit)
    commit()

    with table.records() as records:
        header = next(records, None)
        if header is None or not any(_has_value(cell) for cell in header[1]):
            _reject(_l("The first row must hold the column names."), "no_header")
        positions = match_columns(header[1], mapping)
        begin_write()
        batch = ImportBatch(kind="legs", source="file", file_name=sanitise_filename(file_name or table.path.name, 255),
                            profile_id=profile_id, status="running", created_by_id=actor_id)
        db.session.add(batch)
        db.session.flush()
        batch_id = batch.id
        # The lock is taken before the batch is committed, so no committed running batch is
        # ever without it while its process lives.
        with batch_lock(batch_id):
            commit()
            try:
                stager = _Stager(batch_id, commit)
                check = _check_rows(records, positions, table.warnings, zone, datetime_format, stager, commit,
                                    check_progress, max_rows)
                if check.rows_total == 0:
                    _reject(_l("The file has column names but no rows."), "no_rows")
                if _fingerprint(table.path) != fingerprint:
                    _reject(_l("The file changed while it was being read; nothing was written. Try again."),
                            "file_changed")
                _finish(batch_id, check, mapping, valid_rows_only, commit, progress)
            except ImportRejected:
                # A refused file leaves nothing behind, not even its batch.
                _discard(batch_id, commit, keep_batch=False)
                raise
            except BaseException as exc:
                _abandon(batch_id, exc, commit)
                raise
    return db.session.get(ImportBatch, batch_id)


def _finish(batch_id: int, check: _CheckResult, mapping: dict[str, str], valid_rows_only: bool,
            commit: Callable[[], None], progress) -> None:
    """After the last row: report repeated ids, then refuse the file or move its staged rows
    into legs in one transaction, and clear the staging."""
    repeats, repeat_count = _staged_repeats(batch_id, PROBLEM_LIMIT)
    check.add(repeats)
    check.warning_count += repeat_count - len(repeats)
    if repeat_count:
        begin_write()
        _drop_superseded(batch_id)
        commit()
    begin_write()
    batch = db.session.get(ImportBatch, batch_id)
    batch.rows_total, batch.rows_rejected = check.rows_total, check.rows_rejected
    batch.problems, batch.notes = check.problem_dicts(mapping), check.summary()
    if check.error_count and not valid_rows_only:
        # All or nothing: the batch records the refusal and its report; no leg is written.
        batch.status, batch.finished_at = "failed", utcnow()
        db.session.flush()
        commit()
        _discard(batch_id, commit, keep_batch=True)
        return
    # The one transaction that makes the file's legs visible, all of them at once.
    created, updated = record_staged_legs(batch_id) if check.rows_valid else (0, 0)
    batch.rows_created, batch.rows_updated = created, updated
    batch.status, batch.finished_at = "complete", utcnow()
    db.session.flush()
    commit()
    _discard(batch_id, commit, keep_batch=True)
    if progress:
        progress(created + updated)


# Interrupted runs ---------------------------------------------------------------------------

def _lock_path(batch_id: int) -> Path:
    return Path(current_app.instance_path) / "locks" / f"import-{batch_id}.lock"


@contextlib.contextmanager
def batch_lock(batch_id: int) -> Iterator[None]:
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


def _stopped_note(reason: str) -> str:
    return str(_l("Stopped before its legs were written (%(reason)s): nothing of this import is kept. "
                  "Import the file again.", reason=reason))


def _stopped_note_of(kind: str) -> str:
    if kind == "incidents":
        # Incident imports commit a chunk at a time; each ticket is recorded once by its id.
        return str(_l("Stopped (%(reason)s) after some tickets may have been recorded. Import the file "
                      "again: tickets already recorded are not duplicated.", reason=_l("interrupted")))
    return _stopped_note(str(_l("interrupted")))


def reclaim_interrupted(commit: Callable[[], None], now: dt.datetime | None = None) -> list[int]:
    """Mark *failed* the file imports (of legs or incidents) left *running* by a process that
    died, and remove the staged rows of every import that is no longer running; the ids marked.

    A leg import that died wrote no leg: its rows were only staged, and its legs become
    visible in one transaction at the end. Importing the file again does the whole work.
    """
    now = now or utcnow()
    running = db.session.execute(select(ImportBatch.id, ImportBatch.kind, ImportBatch.started_at, ImportBatch.notes)
                                 .where(ImportBatch.kind.in_(("legs", "incidents")), ImportBatch.source == "file",
                                        ImportBatch.status == "running")).all()
    commit()
    reclaimed = []
    for batch_id, kind, started_at, notes in running:
        if not _owner_is_gone(batch_id, started_at, now):
            continue
        stopped = _stopped_note_of(kind)
        begin_write()
        done = db.session.execute(
            update(ImportBatch).where(ImportBatch.id == batch_id, ImportBatch.status == "running")
            .values(status="failed", finished_at=now, notes=f"{notes} {stopped}" if notes else stopped)
            .execution_options(synchronize_session=False))
        commit()
        if done.rowcount:
            log.warning("import batch %s: its process is gone, marked failed", batch_id)
            reclaimed.append(batch_id)
    leftover = db.session.scalars(select(StagedLeg.import_batch_id).distinct()
                                  .join(ImportBatch, ImportBatch.id == StagedLeg.import_batch_id)
                                  .where(ImportBatch.status != "running")).all()
    commit()
    for batch_id in leftover:
        _discard(batch_id, commit, keep_batch=True)
    return reclaimed


def _discard(batch_id: int, commit: Callable[[], None], *, keep_batch: bool) -> None:
    """Remove the staged rows of a batch (and the batch itself unless `keep_batch`)."""
    begin_write()
    db.session.execute(delete(StagedLeg).where(StagedLeg.import_batch_id == batch_id))
    if not keep_batch:
        db.session.execute(delete(ImportBatch).where(ImportBatch.id == batch_id)
                           .execution_options(synchronize_session=False))
    commit()


def _fingerprint(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


#: Order columns longer than parse_leg_row's 300-character cut would make PostgreSQL refuse
#: the staged rows; until parse_leg_row checks them, they are checked here.
_ORDER_TEXT_LIMITS = {"customer_ref": 64, "order_channel": 40}


def _parse_row(row: _MappedRow, zone: ZoneInfo, datetime_format: str | None
               ) -> tuple[LegInput | None, list[RowProblem]]:
    """One row through `parse_leg_row`, plus the checks it does not make yet."""
    leg, problems = parse_leg_row(row.raw, row.number, zone, datetime_format)
    if leg is None:
        return None, problems
    for name, limit in _ORDER_TEXT_LIMITS.items():
        if len(getattr(leg, name) or "") > limit:
            problems.append(RowProblem(row.number, name, _l("At most %(n)d characters.", n=limit)))
    if any(problem.is_error for problem in problems):
        return None, problems
    return leg, problems


def _check_rows(records: Iterator[tuple[int, list]], positions: dict[str, int], file_warnings: list[RowProblem],
                zone: ZoneInfo, datetime_format: str | None, stager: _Stager, commit: Callable[[], None],
                check_progress, max_rows: int | None) -> _CheckResult:
    """Parse every row and look its supplier up, a chunk at a time; stage the valid rows."""
    result = _CheckResult()
    result.add(file_warnings)
    pending: list[LegInput] = []
    pending_problems: list[RowProblem] = []
    for row in _mapped_rows(records, positions):
        result.rows_total += 1
        if max_rows is not None and result.rows_total > max_rows:
            _reject(_l("The file has more than %(n)d rows.", n=max_rows), "too_many_rows")
        leg, problems = _parse_row(row, zone, datetime_format)
        if row.notes or problems:
            pending_problems += row.notes + problems
        if leg is None:
            result.rows_rejected += 1
        else:
            pending.append(leg)
        if result.rows_total % CHECK_CHUNK_ROWS == 0:
            _check_chunk(pending, pending_problems, result, stager)
            pending, pending_problems = [], []
            if check_progress:
                check_progress(result.rows_total)
    _check_chunk(pending, pending_problems, result, stager)
    if check_progress:
        check_progress(result.rows_total)
    return result


def _check_chunk(legs: list[LegInput], problems: list[RowProblem], result: _CheckResult, stager: _Stager) -> None:
    if legs:
        unknown_codes = {leg.supplier_code for leg in legs} - result.supplier_ids.keys() - result.unknown_codes
        if unknown_codes:
            found = supplier_ids_for(unknown_codes)
            result.supplier_ids.update(found)
            result.unknown_codes.update(unknown_codes - found.keys())
        unknown = [RowProblem(leg.row, "supplier_code",
                              _l("No supplier has the code %(code)s.", code=leg.supplier_code))
                   for leg in legs if leg.supplier_code in result.unknown_codes]
        problems = problems + unknown
        refused = {problem.row for problem in unknown}
        result.rows_rejected += len(refused)
        valid = [leg for leg in legs if leg.row not in refused] if refused else legs
        result.rows_valid += len(valid)
        stager.write(valid, result.supplier_ids, result.rows_total)
        for leg in legs:
            if leg.warnings:
                problems += leg.warnings
    else:
        stager.write([], result.supplier_ids, result.rows_total)
    if problems:
        problems.sort(key=_problem_order)
        result.add(problems)


#: The staged columns, in the order `_Stager` writes them.
_STAGED_COLUMNS = ("import_batch_id", "row", "external_id", "order_ref", "customer_ref", "order_placed_at",
                   "order_channel", "order_value", "sequence", "stage", "supplier_id", "promised_at", "promised_day",
                   "actual_at", "outcome", "delay_seconds", "is_excluded", "exclusion_reason")


def _sqlite_time(value: dt.datetime | None) -> str | None:
    """A UTC time as SQLAlchemy's SQLite DateTime stores it (UTCDateTime: naive UTC text)."""
    if value is None:
        return None
    if value.tzinfo is not dt.timezone.utc:
        value = value.astimezone(dt.timezone.utc)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


class _Stager:
    """Writes checked rows into `staged_legs`, a committed transaction per chunk: short
    write transactions (HOSTILE G3), and rows no reader of legs can see.

    The driver's own bulk path, without a statement compiled per row: COPY on PostgreSQL,
    one `executemany` of values already in SQLite's stored form (as SQLAlchemy's types would
    write them) elsewhere.
    """

    def __init__(self, batch_id: int, commit: Callable[[], None]):
        self.batch_id = batch_id
        self.commit = commit
        self.zone = company_zone()  # legs belong to the company's calendar days
        dialect = db.session.get_bind().dialect
        self.is_postgresql = dialect.name == "postgresql"
        if self.is_postgresql:
            self.time = self.day = self.money = self.flag = lambda value: value
        else:
            self.time = _sqlite_time
            self.day = dt.date.isoformat
            money = StagedLeg.__table__.c.order_value.type.dialect_impl(dialect).bind_processor(dialect)
            self.money = lambda value: None if value is None else money(value)
            self.flag = int

    def write(self, legs: list[LegInput], supplier_ids: dict[str, int], rows_checked: int) -> None:
        """Stage `legs`, note on the batch how many rows were read (the page of a running
        import shows it), and commit: a long check holds no snapshot that would keep SQLite's
        WAL from being checkpointed."""
        begin_write()
        db.session.execute(update(ImportBatch).where(ImportBatch.id == self.batch_id)
                           .values(rows_total=rows_checked).execution_options(synchronize_session=False))
        if legs:
            rows = [self._row(leg, supplier_ids[leg.supplier_code]) for leg in legs]
            cursor = db.session.connection().connection.dbapi_connection.cursor()
            try:
                if self.is_postgresql:
                    with cursor.copy(f"COPY staged_legs ({', '.join(_STAGED_COLUMNS)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    cursor.executemany(f"INSERT INTO staged_legs ({', '.join(_STAGED_COLUMNS)}) "
                                       f"VALUES ({', '.join('?' * len(_STAGED_COLUMNS))})", rows)
            finally:
                cursor.close()
        self.commit()

    def _row(self, leg: LegInput, supplier_id: int) -> tuple:
        values = leg_values(leg, supplier_id, self.zone)
        time = self.time
        return (self.batch_id, leg.row, leg.external_id, leg.order_ref, leg.customer_ref, time(leg.order_placed_at),
                leg.order_channel, self.money(leg.order_value), values["sequence"], values["stage"], supplier_id,
                time(values["promised_at"]), self.day(values["promised_day"]), time(values["actual_at"]),
                values["outcome"], values["delay_seconds"], self.flag(values["is_excluded"]),
                values["exclusion_reason"])


def _repeat_pairs(batch_id: int):
    """(row, previous row with the same external id) for every staged row that repeats one."""
    ranked = (select(StagedLeg.row, func.lag(StagedLeg.row).over(partition_by=StagedLeg.external_id,
                                                                order_by=StagedLeg.row).label("previous"))
              .where(StagedLeg.import_batch_id == batch_id).subquery())
    return select(ranked.c.row, ranked.c.previous).where(ranked.c.previous.is_not(None))


def _staged_repeats(batch_id: int, limit: int) -> tuple[list[RowProblem], int]:
    """A warning on each staged row that repeats the external id of an earlier one (the first
    `limit` of them), and how many such rows there are."""
    pairs = _repeat_pairs(batch_id).subquery()
    count = db.session.scalar(select(func.count()).select_from(pairs))
    first = db.session.execute(select(pairs.c.row, pairs.c.previous).order_by(pairs.c.row).limit(limit)).all() \
        if count else []
    return [RowProblem(row, "external_id", _l("Same leg id as row %(row)d: this later row is the one kept.",
                                              row=previous), is_error=False) for row, previous in first], count


def _drop_superseded(batch_id: int) -> None:
    """Remove the staged rows a later row of the same external id replaces: the last one wins."""
    superseded = _repeat_pairs(batch_id).subquery()
    db.session.execute(delete(StagedLeg).where(StagedLeg.import_batch_id == batch_id,
                                               StagedLeg.row.in_(select(superseded.c.previous))))


def _abandon(batch_id: int, exc: BaseException, commit: Callable[[], None]) -> None:
    """Record that the run stopped; nothing of it is visible (its legs were only staged, or
    the move into legs was rolled back). Best effort: if the database is what failed, the
    batch stays running until `reclaim_interrupted` finds it."""
    try:
        db.session.rollback()
        begin_write()
        batch = db.session.get(ImportBatch, batch_id)
        if batch is not None and batch.status == "running":
            batch.status, batch.finished_at = "failed", utcnow()
            stopped = _stopped_note(_reason(exc))
            batch.notes = f"{batch.notes} {stopped}" if batch.notes else stopped
            db.session.flush()
        commit()
        _discard(batch_id, commit, keep_batch=True)
    except Exception:
        log.exception("could not record the interruption of import batch %s", batch_id)


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
