"""File imports of incidents: a CSV or .xlsx file of complaints, checked row by row like a leg file.

The command line (`flask --app app import incidents FILE --timezone ZONE`) runs this service;
the policies follow those of the leg import (`incidents.services.imports`, whose file checks
and readers are reused unchanged):

1. **File checks** are those of the leg import (`open_table`): type, zip limits, encoding,
   delimiter, header in the first row. A refusal of the whole file raises `ImportRejected`
   and writes nothing, not even a batch.
2. **Fixed column names, no profile.** Columns are matched to `INCIDENT_FIELDS` by name,
   ignoring case, spaces, dashes and underscores ("External ID" is `external_id`). A required
   column that is missing, or any field's column that appears twice, refuses the file; other
   columns are ignored.
3. **Pass 1 checks every row and writes nothing.** Each row becomes the values
   `create_incident` takes (`reported_at` read with `legs.parse_datetime`, naive times being in
   the `timezone` given), and goes through `create_incident` itself inside a SAVEPOINT that is
   always rolled back: the rules are exactly those of the pages and the API, with no copy
   to drift. The flushed INSERT is undone with the savepoint; the outer transaction is
   committed every `CHECK_CHUNK_ROWS` rows (it holds nothing then), so SQLite's write lock is
   never held for long. The row is validated without its external id (checked here, ≤ 100
   characters), so a ticket already recorded, or repeated in the file, cannot collide with
   the unique index during the check. Problems carry the spreadsheet's row number (header =
   row 1) and the field as column.
4. **All or nothing, unless `valid_rows_only`**: any row error gives a *failed* batch with
   its problems and no incident written.
5. **Pass 2 writes with `record_incident_from_api`**, `WRITE_CHUNK_ROWS` rows per committed
   transaction. It is idempotent by external id: a ticket already recorded is left unchanged
   and counted in `rows_updated` ("already recorded"). So importing the same file again, or
   again after a run that died half way, creates nothing twice.
6. **A run whose process died** (SIGKILL, power cut) is marked *failed* by the next import of
   either kind (`imports.reclaim_interrupted`): pass 2 holds the batch's lock file, as a leg
   import does. Its committed chunks stay; importing the file again records the rest.
7. **An external id repeated in the file: the last valid row wins**; each repeat gets a
   warning naming the earlier row, and the earlier rows are not written (they are counted in
   `rows_total` only). The ids are kept in memory (one dict entry per ticket): incident files
   are thousands of rows, not the millions of a leg file.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

from flask_babel import lazy_gettext as _l

from app.db import begin_write, db, utcnow
from app.errors import ValidationFailed
from app.uploads import sanitise_filename
from incidents.models import ImportBatch
from incidents.services.imports import (
    WRITE_CHUNK_ROWS,
    ImportRejected,
    ProblemTally,
    TableFile,
    _has_value,
    _header_text,
    _mapped_rows,
    batch_lock,
    find_column,
    open_table,
    reclaim_interrupted,
)
from incidents.services.incidents import create_incident, record_incident_from_api
from incidents.services.legs import RowProblem, parse_datetime
from suppliers.services import clean_text

log = logging.getLogger(__name__)

INCIDENT_FIELDS = ("external_id", "order_ref", "category", "channel", "priority", "description", "reported_at")
REQUIRED_INCIDENT_FIELDS = ("external_id", "category", "channel", "description", "reported_at")
#: Rows checked (each in a rolled-back savepoint) before the outer transaction is ended.
CHECK_CHUNK_ROWS = WRITE_CHUNK_ROWS
#: Longest external id (the column's size; `create_incident` checks the same).
MAX_EXTERNAL_ID = 100

_FIELD_ORDER = {name: n for n, name in enumerate(INCIDENT_FIELDS)}


def _reject(message, code: str, fields: dict | None = None):
    raise ImportRejected(message, code=code, fields=fields)


def incident_columns(headers: list) -> dict[str, int]:
    """Field → position of its column in `headers`; ImportRejected naming each required
    column that is missing and each column that appears more than once."""
    texts = [_header_text(value) for value in headers]
    positions, problems = {}, {}
    for name in INCIDENT_FIELDS:
        matches = [n for n, text in enumerate(texts) if text and find_column([text], name)]
        if not matches:
            if name in REQUIRED_INCIDENT_FIELDS:
                problems[name] = _l("The column “%(column)s” is not in the file.", column=name)
        elif len(matches) > 1:
            problems[name] = _l("The column “%(column)s” appears %(n)d times in the file: rename the copies.",
                                column=name, n=len(matches))
        else:
            positions[name] = matches[0]
    if problems:
        _reject(_l("The file does not have the columns an incident file needs."), "columns", problems)
    return positions


def _row_values(raw: dict, number: int, zone: ZoneInfo) -> tuple[dict, list[RowProblem]]:
    """The values `create_incident` takes, from one row's cells, and the problems found in
    reading them (required cells, the time, the external id)."""
    problems: list[RowProblem] = []
    values = {}
    for name in INCIDENT_FIELDS:
        value = raw.get(name)
        if isinstance(value, str):
            value = value.strip() or None
        values[name] = value
    for name in ("channel", "priority"):
        # Spreadsheets capitalise ("Phone"); the codes are lower case.
        if isinstance(values[name], str):
            values[name] = values[name].casefold()
    for name in REQUIRED_INCIDENT_FIELDS:
        if values[name] is None:
            problems.append(RowProblem(number, name, _l("Required.")))
    external_id = clean_text(values["external_id"]) if values["external_id"] is not None else None
    if external_id and len(external_id) > MAX_EXTERNAL_ID:
        problems.append(RowProblem(number, "external_id", _l("At most %(n)s characters.", n=MAX_EXTERNAL_ID)))
    values["external_id"] = external_id
    if values["reported_at"] is not None:
        try:
            values["reported_at"] = parse_datetime(values["reported_at"], zone)
        except (ValueError, TypeError, OverflowError):
            problems.append(RowProblem(number, "reported_at", _l("“%(value)s” is not a date and time.",
                                                                 value=str(values["reported_at"])[:60])))
            values["reported_at"] = None
    return values, problems


def _check_values(values: dict, number: int, known: set, actor) -> list[RowProblem]:
    """Run `create_incident` on the row inside a savepoint that is always rolled back, and
    turn its field errors into problems (fields already refused in `known` are skipped)."""
    begin_write()
    savepoint = db.session.begin_nested()
    try:
        # Without its external id: the id is checked apart, and a ticket already recorded or
        # repeated in the file must not trip the unique index here.
        create_incident(values | {"external_id": None}, actor)
    except ValidationFailed as exc:
        return [RowProblem(number, name, message) for name, message in exc.fields.items() if name not in known]
    finally:
        savepoint.rollback()
    return []


@dataclass
class _Check(ProblemTally):
    """What pass 1 learnt: counts, the first problems, the row kept for each external id."""

    #: External id → number of the last valid row that has it: the row written.
    kept: dict[str, int] = field(default_factory=dict)

    def problem_dicts(self, headers: dict[str, str]) -> list[dict] | None:
        problems = sorted(self.errors + self.warnings,
                          key=lambda p: (p.row, _FIELD_ORDER.get(p.column, -1), not p.is_error))
        return [p.as_dict() | {"header": headers.get(p.column) if p.column else None} for p in problems] or None


def _fingerprint(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


def import_incidents_file(path: Path, actor, *, timezone: str, valid_rows_only: bool = False,
                          commit: Callable[[], None], file_name: str | None = None) -> ImportBatch:
    """Import a CSV or .xlsx file of incidents; return its batch (kind "incidents").

    Raises ImportRejected, writing nothing, if `timezone` is unknown or the file itself is
    refused (see the module docstring). A file with row errors gives a *failed* batch and no
    incident written, unless `valid_rows_only`. `commit` is called at every transaction
    boundary (after each chunk of either pass and when the batch is finished).
    """
    if timezone not in available_timezones():
        _reject(_l("Unknown time zone."), "timezone", {"timezone": _l("Choose a time zone such as Europe/Rome.")})
    zone = ZoneInfo(timezone)
    table = open_table(path)
    fingerprint = _fingerprint(table.path)
    reclaim_interrupted(commit)
    commit()

    check, headers = _check_rows(table, zone, actor, commit)
    if check.rows_total == 0:
        _reject(_l("The file has column names but no rows."), "no_rows")
    if _fingerprint(table.path) != fingerprint:
        _reject(_l("The file changed while it was being checked; nothing was written. Try again."), "file_changed")

    begin_write()
    batch = ImportBatch(
        kind="incidents", source="file", file_name=sanitise_filename(file_name or table.path.name, 255),
        status="running", rows_total=check.rows_total, rows_rejected=check.rows_rejected,
        problems=check.problem_dicts(headers), notes=check.summary(), created_by_id=getattr(actor, "id", None),
    )
    db.session.add(batch)
    if check.error_count and not valid_rows_only:
        batch.status, batch.finished_at = "failed", utcnow()
        db.session.flush()
        commit()
        return batch
    db.session.flush()
    # As for leg imports: the lock tells `reclaim_interrupted` that this process still lives.
    with batch_lock(batch.id):
        commit()
        _write_rows(table, zone, actor, check, fingerprint, batch, commit)
    return batch


def _check_rows(table: TableFile, zone: ZoneInfo, actor, commit) -> tuple[_Check, dict[str, str]]:
    """Pass 1: every row through `create_incident` in a rolled-back savepoint; write nothing."""
    check = _Check()
    check.add(table.warnings)
    with table.records() as records:
        header = next(records, None)
        if header is None or not any(_has_value(cell) for cell in header[1]):
            _reject(_l("The first row must hold the column names."), "no_header")
        positions = incident_columns(header[1])
        headers = {name: _header_text(header[1][position]) for name, position in positions.items()}
        for row in _mapped_rows(records, positions):
            check.rows_total += 1
            values, problems = _row_values(row.raw, row.number, zone)
            known = {problem.column for problem in problems}
            problems += _check_values(values, row.number, known, actor)
            if problems:
                check.rows_rejected += 1
            else:
                earlier = check.kept.get(values["external_id"])
                if earlier is not None:
                    problems.append(RowProblem(row.number, "external_id", _l(
                        "Same ticket id as row %(row)d: this later row is the one kept.", row=earlier), is_error=False))
                check.kept[values["external_id"]] = row.number
            check.add(row.notes + sorted(problems, key=lambda p: _FIELD_ORDER.get(p.column, -1)))
            if check.rows_total % CHECK_CHUNK_ROWS == 0:
                commit()  # nothing is pending: the savepoints were rolled back
    commit()
    return check, headers


def _write_rows(table: TableFile, zone: ZoneInfo, actor, check: _Check, fingerprint: tuple[int, int],
                batch: ImportBatch, commit) -> None:
    """Pass 2: write the kept rows with `record_incident_from_api`, a chunk per transaction."""
    batch_id = batch.id
    created = recorded = pending = rows_seen = 0
    try:
        with table.records() as records:
            positions = incident_columns(next(records)[1])
            for row in _mapped_rows(records, positions):
                rows_seen += 1
                values, problems = _row_values(row.raw, row.number, zone)
                if problems or check.kept.get(values["external_id"]) != row.number:
                    continue  # refused in pass 1, or a repeat a later row replaces
                begin_write()
                try:
                    _incident, is_new = record_incident_from_api(values, actor)
                except ValidationFailed as exc:
                    # Only if the catalogue changed since pass 1 (a category deactivated).
                    batch.rows_rejected += 1
                    batch.problems = (batch.problems or []) + [
                        RowProblem(row.number, name, message).as_dict() for name, message in exc.fields.items()]
                    continue
                created += is_new
                recorded += not is_new
                pending += 1
                if pending >= WRITE_CHUNK_ROWS:
                    batch.rows_created, batch.rows_updated = created, recorded
                    db.session.flush()
                    commit()
                    pending = 0
        if rows_seen != check.rows_total or _fingerprint(table.path) != fingerprint:
            _reject(_l("The file changed while it was being imported."), "file_changed")
        begin_write()
        batch.rows_created, batch.rows_updated = created, recorded
        batch.status, batch.finished_at = "complete", utcnow()
        db.session.flush()
        commit()
    except BaseException as exc:
        _abandon(batch_id, exc, commit)
        raise


def _abandon(batch_id: int, exc: BaseException, commit) -> None:
    """Record that the run stopped, with the counters of the chunks committed; the chunk in
    progress is rolled back. Best effort: if the database failed, the batch stays running."""
    try:
        db.session.rollback()
        begin_write()
        batch = db.session.get(ImportBatch, batch_id)
        written = (batch.rows_created or 0) + (batch.rows_updated or 0)
        batch.status, batch.finished_at = "failed", utcnow()
        reason = str(exc.message) if isinstance(exc, ValidationFailed) else str(_l("an unexpected error"))
        stopped = str(_l("Stopped after %(n)d rows were written (%(reason)s). Import the file again: "
                         "tickets already recorded are not duplicated.", n=written, reason=reason))
        batch.notes = f"{batch.notes} {stopped}" if batch.notes else stopped
        db.session.flush()
        commit()
    except Exception:
        log.exception("could not record the interruption of import batch %s", batch_id)
