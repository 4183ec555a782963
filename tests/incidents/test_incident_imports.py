"""File imports of incidents: the service (checks, both passes, idempotence) and the command line.

Europe/Rome is UTC+1 in winter (CET) and UTC+2 in summer (CEST).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from app.db import db
from incidents.models import ImportBatch, Incident
from incidents.services import imports
from incidents.services.imports import ImportRejected
from incidents.services.incident_imports import import_incidents_file
from tests.incidents.test_incident_services import make_order

UTC = dt.timezone.utc
HEADER = ["external_id", "order_ref", "category", "channel", "priority", "description", "reported_at"]

VALID_ROWS = [
    ["T-1", "ORD-1", "late_delivery", "phone", "high", "Il pacco è in ritardo", "2026-01-15 10:00"],
    ["T-2", "NOPE-1", "lost_parcel", "Email", "", "Pacco mai arrivato", "2026-07-15 10:00"],
    ["T-3", "", "late_delivery", "web", "low", "Consegna tardiva", "2026-02-01T09:30:00+00:00"],
]


def write_csv(directory: Path, rows: list[list], header: list[str] = HEADER, name: str = "incidents.csv") -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path = directory / name
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def incident_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Incident))


def by_external_id(external_id: str) -> Incident:
    return db.session.scalar(select(Incident).where(Incident.external_id == external_id))


@pytest.fixture
def order(make_supplier):
    make_order("ORD-1", make_supplier(code="LM-1"))


def run_import(path, valid_rows_only=False, timezone="Europe/Rome"):
    return import_incidents_file(path, None, timezone=timezone, valid_rows_only=valid_rows_only,
                                 commit=db.session.commit)


def test_a_valid_file_creates_the_incidents_with_utc_times(tmp_path, order):
    batch = run_import(write_csv(tmp_path, VALID_ROWS))
    assert (batch.kind, batch.source, batch.status) == ("incidents", "file", "complete")
    assert (batch.rows_total, batch.rows_created, batch.rows_updated, batch.rows_rejected) == (3, 3, 0, 0)
    assert batch.problems is None and incident_count() == 3
    first, second, third = by_external_id("T-1"), by_external_id("T-2"), by_external_id("T-3")
    # Naive times are Rome time: 10:00 CET = 09:00 UTC, 10:00 CEST = 08:00 UTC.
    assert first.reported_at == dt.datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    assert second.reported_at == dt.datetime(2026, 7, 15, 8, 0, tzinfo=UTC)
    assert third.reported_at == dt.datetime(2026, 2, 1, 9, 30, tzinfo=UTC)
    assert first.order is not None and first.needs_follow_up is False and first.priority == "high"
    assert second.order is None and second.needs_follow_up is True and second.order_ref_given == "NOPE-1"
    assert second.channel == "email" and second.priority == "normal"
    assert third.needs_follow_up is True


BAD_ROWS = [
    ["T-1", "ORD-1", "late_delivery", "phone", "high", "Il pacco è in ritardo", "2026-01-15 10:00"],
    ["T-2", "", "teleportation", "phone", "", "Categoria ignota", "2026-01-15 10:00"],
    ["T-3", "", "late_delivery", "phone", "", "Data sbagliata", "31/02/2026"],
    ["T-4", "", "late_delivery", "phone", "", "", "2026-01-15 10:00"],
    ["T-5", "", "lost_parcel", "chat", "", "Valida", "2026-01-16 10:00"],
]


def test_a_file_with_bad_rows_writes_nothing_and_names_row_and_column(tmp_path, order):
    batch = run_import(write_csv(tmp_path, BAD_ROWS))
    assert batch.status == "failed" and incident_count() == 0
    assert (batch.rows_total, batch.rows_created, batch.rows_rejected) == (5, 0, 3)
    problems = [(p["row"], p["column"], p["severity"]) for p in batch.problems]
    assert problems == [(3, "category", "error"), (4, "reported_at", "error"), (5, "description", "error")]
    assert batch.problems[1]["message"] == "“31/02/2026” is not a date and time."
    assert batch.problems[2]["message"] == "Required."
    report = list(csv.reader(io.StringIO(imports.error_report_csv(batch))))
    assert report[1][:3] == ["3", "category", "error"]
    # The failed batch is recorded; nothing else is.
    assert db.session.scalar(select(func.count()).select_from(ImportBatch)) == 1


def test_valid_only_writes_the_good_rows(tmp_path, order):
    batch = run_import(write_csv(tmp_path, BAD_ROWS), valid_rows_only=True)
    assert batch.status == "complete"
    assert (batch.rows_total, batch.rows_created, batch.rows_updated, batch.rows_rejected) == (5, 2, 0, 3)
    assert sorted(i.external_id for i in db.session.scalars(select(Incident))) == ["T-1", "T-5"]


def test_reimport_creates_nothing_and_counts_already_recorded(tmp_path, order):
    path = write_csv(tmp_path, VALID_ROWS)
    run_import(path)
    changed = [row[:5] + ["Another text"] + row[6:] for row in VALID_ROWS]
    again = run_import(write_csv(tmp_path, changed, name="again.csv"))
    assert (again.status, again.rows_created, again.rows_updated) == ("complete", 0, 3)
    assert incident_count() == 3 and by_external_id("T-1").description == "Il pacco è in ritardo"


def test_an_incident_import_whose_process_died_is_marked_failed_by_the_next_one(tmp_path, order):
    dead = ImportBatch(kind="incidents", source="file", status="running",
                       started_at=dt.datetime.now(UTC) - dt.timedelta(hours=imports.STALE_IMPORT_HOURS + 1))
    db.session.add(dead)
    db.session.commit()
    batch = run_import(write_csv(tmp_path, VALID_ROWS))
    assert batch.status == "complete"
    dead = db.session.get(ImportBatch, dead.id)
    assert dead.status == "failed" and dead.finished_at is not None
    assert "tickets already recorded are not duplicated" in dead.notes


def test_a_repeated_ticket_warns_and_the_last_row_wins(tmp_path, order):
    rows = VALID_ROWS + [["T-1", "", "lost_parcel", "chat", "", "Seconda versione", "2026-01-16 10:00"]]
    batch = run_import(write_csv(tmp_path, rows))
    assert (batch.status, batch.rows_total, batch.rows_created) == ("complete", 4, 3)
    assert [(p["row"], p["column"], p["severity"], p["message"]) for p in batch.problems] == [
        (5, "external_id", "warning", "Same ticket id as row 2: this later row is the one kept.")]
    assert by_external_id("T-1").description == "Seconda versione"


def test_an_xlsx_file_works_with_date_cells_and_loose_headers(tmp_path, order):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["External ID", "Order Ref", "Category", "Channel", "Priority", "Description", "Reported At",
                  "ignored"])
    sheet.append(["X-1", "ORD-1", "late_delivery", "phone", "urgent", "Ritardo", dt.datetime(2026, 7, 1, 12, 0), 1])
    sheet.append(["X-2", None, "lost_parcel", "store", None, "Perso", "2026-01-02 08:00", None])
    path = tmp_path / "incidents.xlsx"
    workbook.save(path)
    batch = run_import(path)
    assert (batch.status, batch.rows_created) == ("complete", 2), batch.problems
    assert by_external_id("X-1").reported_at == dt.datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert by_external_id("X-2").reported_at == dt.datetime(2026, 1, 2, 7, 0, tzinfo=UTC)


def test_a_file_without_a_required_column_or_with_an_unknown_zone_is_refused(tmp_path, app_ctx):
    path = write_csv(tmp_path, [row[:6] for row in VALID_ROWS], header=HEADER[:6])
    with pytest.raises(ImportRejected) as refused:
        run_import(path)
    assert set(refused.value.fields) == {"reported_at"}
    with pytest.raises(ImportRejected):
        run_import(write_csv(tmp_path, VALID_ROWS), timezone="Mars/Olympus")
    assert incident_count() == 0 and db.session.scalar(select(func.count()).select_from(ImportBatch)) == 0


# Command line -------------------------------------------------------------------------------

def test_the_command_imports_and_reports(app, tmp_path, order):
    path = write_csv(tmp_path, VALID_ROWS)
    result = app.test_cli_runner().invoke(args=["import", "incidents", str(path), "--profile", "x"])
    assert result.exit_code == 0, result.output
    assert "--profile is ignored" in result.output
    assert "complete: 3 rows, 3 incidents created, 0 already recorded, 0 rows set aside." in result.output
    again = app.test_cli_runner().invoke(args=["import", "incidents", str(path), "--timezone", "UTC"])
    assert again.exit_code == 0 and "0 incidents created, 3 already recorded" in again.output


def test_the_command_exits_1_listing_the_problems(app, tmp_path, order):
    path = write_csv(tmp_path, BAD_ROWS)
    result = app.test_cli_runner().invoke(args=["import", "incidents", str(path)])
    assert result.exit_code == 1
    assert "3 of 5 rows have errors; nothing was written" in result.output
    assert "row 3, category: Choose a category of the catalogue. (error)" in result.output
    assert "row 4, reported_at: “31/02/2026” is not a date and time. (error)" in result.output
    assert "row 5, description: Required. (error)" in result.output
    assert incident_count() == 0
    valid_only = app.test_cli_runner().invoke(args=["import", "incidents", str(path), "--valid-only"])
    assert valid_only.exit_code == 0 and "2 incidents created" in valid_only.output and incident_count() == 2
