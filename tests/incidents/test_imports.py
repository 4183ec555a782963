"""File imports of legs: the service (checks, staging, the move into legs, policies) and the command line.

Expected values are worked out by hand: Europe/Rome is UTC+1 in winter (CET) and UTC+2 in
summer (CEST); in 2026 the clocks jump from 02:00 to 03:00 on 29 March and fall back from
03:00 to 02:00 on 25 October.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import time
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from app.db import db
from app.errors import ValidationFailed
from incidents.models import ImportBatch, ImportProfile, Leg, Order, StagedLeg
from incidents.services import imports
from incidents.services.imports import ImportRejected

UTC = dt.timezone.utc
USAID_CSV = (Path(__file__).resolve().parents[3] / "shared" / "data" / "usaid-scms-delivery-history"
             / "SCMS_Delivery_History_Dataset.csv")

#: Catena's own column names, as a file made from the CSV template has them.
HEADER = ["external_id", "order_ref", "stage", "supplier_code", "promised_at", "actual_at"]


# Files ------------------------------------------------------------------------------------

def csv_text(rows: list[list], header: list[str] | None = HEADER, delimiter: str = ",", line_end: str = "\r\n") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=line_end)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_csv(directory: Path, rows: list[list], name: str = "legs.csv", encoding: str = "utf-8", **options) -> Path:
    path = directory / name
    path.write_bytes(csv_text(rows, **options).encode(encoding))
    return path


def write_xlsx(directory: Path, rows: list[list], name: str = "legs.xlsx", header: list[str] = HEADER) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    path = directory / name
    workbook.save(path)
    return path


def rewrite_zip(source: Path, target: Path, replace: dict[str, bytes] | None = None,
                add: dict[str, bytes] | None = None) -> Path:
    """A copy of the zip `source` with some members replaced and others added."""
    replace, add = replace or {}, add or {}
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for info in original.infolist():
            copy.writestr(info.filename, replace.get(info.filename, original.read(info.filename)))
        for name, data in add.items():
            copy.writestr(name, data)
    return target


# Fixtures ---------------------------------------------------------------------------------

@pytest.fixture
def suppliers(make_supplier):
    return make_supplier(code="CAR-1", chain_roles=["carrier"]), make_supplier(code="SEL-1", chain_roles=["seller"])


@pytest.fixture
def make_profile(app_ctx):
    def make(name: str = "catena", mapping: dict | None = None, timezone: str = "Europe/Rome",
             extra: tuple[str, ...] = (), **options):
        mapping = mapping or {field: field for field in [*HEADER, *extra]}
        profile = imports.save_profile(name, mapping, timezone, **options)
        db.session.commit()
        return profile

    return make


@pytest.fixture
def run_import(app_ctx):
    """run_import(path, profile, **options) → the batch, committing as the command line does."""

    def run(path, profile, **options):
        options.setdefault("commit", db.session.commit)
        return imports.import_legs_file(path, profile, None, **options)

    return run


def leg_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Leg))


def leg(external_id: str) -> Leg:
    return db.session.scalar(select(Leg).where(Leg.external_id == external_id))


def problem_keys(batch: ImportBatch, severity: str = "error") -> list[tuple[int, str]]:
    return [(p["row"], p["column"]) for p in batch.problems or [] if p["severity"] == severity]


VALID_ROWS = [
    ["L1", "O1", "seller_handover", "SEL-1", "2026-03-10 14:00", "2026-03-10 13:00"],
    ["L2", "O1", "last_mile", "CAR-1", "2026-07-01 09:30", "2026-07-01 11:00"],
    # In the spring gap: 02:30 does not exist in Rome that night; it moves forward to 03:30 CEST.
    ["L3", "O2", "last_mile", "car-1", "2026-03-29 02:30", ""],
    # In the repeated autumn hour: the first 02:30 (still CEST) is taken.
    ["L4", "O2", "hub", "CAR-1", "2026-10-25 02:30", "2026-10-25T01:00:00Z"],
]


# A clean import -----------------------------------------------------------------------------

def test_a_valid_csv_creates_legs_and_orders_with_utc_times_from_the_profile_zone(
        tmp_path, suppliers, make_profile, run_import):
    batch = run_import(write_csv(tmp_path, VALID_ROWS), make_profile(), file_name="June.csv")

    assert (batch.status, batch.rows_total, batch.rows_created, batch.rows_updated, batch.rows_rejected) == \
        ("complete", 4, 4, 0, 0)
    assert batch.finished_at is not None and batch.file_name == "June.csv" and batch.source == "file"
    assert db.session.scalar(select(func.count()).select_from(Order)) == 2
    first = leg("L1")
    assert first.promised_at == dt.datetime(2026, 3, 10, 13, 0, tzinfo=UTC)  # 14:00 CET
    assert first.actual_at == dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert first.delay_seconds == -3600 and first.outcome == "completed"
    assert first.import_batch_id == batch.id
    assert leg("L2").promised_at == dt.datetime(2026, 7, 1, 7, 30, tzinfo=UTC)  # 09:30 CEST
    gap = leg("L3")
    assert gap.promised_at == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert gap.promised_day == dt.date(2026, 3, 29) and gap.actual_at is None and gap.outcome is None
    assert gap.supplier.code == "CAR-1"
    repeated = leg("L4")
    assert repeated.promised_at == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 02:30, CEST
    assert repeated.delay_seconds == 30 * 60


def test_the_profile_zone_is_the_zone_of_naive_times(tmp_path, suppliers, make_profile, run_import):
    rows = [["L1", "O1", "last_mile", "CAR-1", "2026-07-01 09:30", ""]]
    run_import(write_csv(tmp_path, rows), make_profile(timezone="America/New_York"))
    assert leg("L1").promised_at == dt.datetime(2026, 7, 1, 13, 30, tzinfo=UTC)  # EDT is UTC-4


def test_importing_again_updates_the_legs_instead_of_duplicating_them(tmp_path, suppliers, make_profile, run_import):
    profile = make_profile()
    first = run_import(write_csv(tmp_path, VALID_ROWS), profile)
    changed = [list(row) for row in VALID_ROWS]
    changed[1][5] = "2026-07-01 12:15"
    second = run_import(write_csv(tmp_path, changed, name="again.csv"), profile)

    assert (second.rows_created, second.rows_updated) == (0, 4)
    assert leg_count() == 4
    updated = leg("L2")
    assert updated.actual_at == dt.datetime(2026, 7, 1, 10, 15, tzinfo=UTC)
    assert updated.delay_seconds == 165 * 60
    # A leg belongs to the import that wrote it last.
    assert updated.import_batch_id == second.id != first.id


def test_an_order_takes_each_detail_from_the_last_row_that_gives_it(tmp_path, suppliers, make_profile, run_import):
    header = HEADER + ["customer_ref", "order_channel", "order_value"]
    profile = make_profile(extra=("customer_ref", "order_channel", "order_value"))
    rows = [["L1", "O1", "hub", "CAR-1", "2026-05-04 10:00", "", "C1", "web", "10.50"],
            ["L2", "O1", "last_mile", "CAR-1", "2026-05-05 10:00", "", "C2", "", ""],
            ["L3", "O2", "hub", "CAR-1", "2026-05-04 10:00", "", "", "", ""]]
    run_import(write_csv(tmp_path, rows, header=header), profile)
    order = db.session.scalar(select(Order).where(Order.ref == "O1"))
    assert (order.customer_ref, order.channel, order.value) == ("C2", "web", Decimal("10.50"))
    assert db.session.scalar(select(Order.customer_ref).where(Order.ref == "O2")) is None
    again = [["L2", "O1", "last_mile", "CAR-1", "2026-05-05 10:00", "", "", "app", ""]]
    run_import(write_csv(tmp_path, again, header=header, name="again.csv"), profile)
    db.session.expire_all()
    order = db.session.scalar(select(Order).where(Order.ref == "O1"))
    assert (order.customer_ref, order.channel, order.value) == ("C2", "app", Decimal("10.50"))
    assert [leg.external_id for leg in order.legs] == ["L1", "L2"]


def test_progress_reports_rows_checked_and_written(tmp_path, suppliers, make_profile, run_import, monkeypatch):
    monkeypatch.setattr(imports, "CHECK_CHUNK_ROWS", 2)
    rows = [[f"L{n}", f"O{n}", "last_mile", "CAR-1", "2026-05-04 10:00", ""] for n in range(7)]
    checked, written, commits = [], [], []
    batch = run_import(write_csv(tmp_path, rows), make_profile(), check_progress=checked.append,
                       progress=written.append, commit=lambda: (commits.append(1), db.session.commit()))
    assert checked == [2, 4, 6, 7]
    # The legs become visible all at once, so they are reported written once.
    assert written == [7]
    assert batch.rows_created == 7 and leg_count() == 7
    # Every staged chunk is its own transaction: 4 chunks, the batch row, the move, the clean-up.
    assert len(commits) >= 7


def test_nothing_is_visible_before_the_move_and_no_staged_row_stays_after(
        tmp_path, suppliers, make_profile, run_import, monkeypatch):
    monkeypatch.setattr(imports, "CHECK_CHUNK_ROWS", 2)
    rows = [[f"L{n}", f"O{n}", "last_mile", "CAR-1", "2026-05-04 10:00", ""] for n in range(5)]
    seen = []

    def look(rows_checked):
        seen.append((rows_checked, leg_count(), db.session.scalar(select(func.count()).select_from(Order)),
                     db.session.scalar(select(func.count()).select_from(StagedLeg)),
                     tuple(db.session.execute(select(ImportBatch.status, ImportBatch.rows_total)).one())))

    batch = run_import(write_csv(tmp_path, rows), make_profile(), check_progress=look)
    # The page of the running import can show how far the reading is; no leg or order yet.
    assert seen == [(2, 0, 0, 2, ("running", 2)), (4, 0, 0, 4, ("running", 4)), (5, 0, 0, 5, ("running", 5))]
    assert batch.status == "complete" and leg_count() == 5
    assert db.session.scalar(select(func.count()).select_from(StagedLeg)) == 0


# Errors and the all-or-nothing policy -------------------------------------------------------

ROWS_WITH_EVERY_ERROR = [
    ["L1", "O1", "last_mile", "CAR-1", "2026-05-04 10:00", ""],           # row 2: valid
    ["L2", "O1", "last_mile", "CAR-1", "31/02/2026", ""],                 # row 3: not a date
    ["L3", "O2", "last_mile", "NOPE-9", "2026-05-04 10:00", ""],          # row 4: unknown supplier
    ["L4", "O2", "teleport", "CAR-1", "2026-05-04 10:00", ""],            # row 5: unknown stage
    ["L5", "O3", "last_mile", "CAR-1", "2026-01-10 10:00", "2028-01-12 10:00"],  # row 6: years apart
    ["L6", "", "last_mile", "CAR-1", "2026-05-04 10:00", ""],             # row 7: empty order
]


def test_every_error_names_its_row_and_column_and_nothing_is_written(tmp_path, suppliers, make_profile, run_import):
    batch = run_import(write_csv(tmp_path, ROWS_WITH_EVERY_ERROR), make_profile())

    assert batch.status == "failed" and batch.finished_at is not None
    assert (batch.rows_total, batch.rows_rejected, batch.rows_created) == (6, 5, 0)
    assert problem_keys(batch) == [(3, "promised_at"), (4, "supplier_code"), (5, "stage"), (6, "actual_at"),
                                   (7, "order_ref")]
    messages = {p["row"]: p["message"] for p in batch.problems}
    assert messages[3] == "“31/02/2026” is not a date and time."
    assert messages[4] == "No supplier has the code NOPE-9."
    assert messages[5].startswith("Unknown stage “teleport”")
    assert messages[6] == "More than a year from the promised time: check the dates."
    assert messages[7] == "Required, but empty."
    # The file's own column name travels with each problem.
    assert {p["header"] for p in batch.problems} == {"promised_at", "supplier_code", "stage", "actual_at", "order_ref"}
    assert leg_count() == 0
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_one_bad_row_writes_nothing(tmp_path, suppliers, make_profile, run_import):
    rows = [[f"L{n}", "O1", "last_mile", "CAR-1", "2026-05-04 10:00", ""] for n in range(5)]
    rows[3][4] = "yesterday"
    batch = run_import(write_csv(tmp_path, rows), make_profile())
    assert (batch.status, batch.rows_rejected) == ("failed", 1)
    assert problem_keys(batch) == [(5, "promised_at")]
    assert leg_count() == 0


def test_valid_rows_only_writes_the_good_rows_and_reports_the_bad_ones(tmp_path, suppliers, make_profile, run_import):
    batch = run_import(write_csv(tmp_path, ROWS_WITH_EVERY_ERROR), make_profile(), valid_rows_only=True)

    assert (batch.status, batch.rows_created, batch.rows_rejected) == ("complete", 1, 5)
    assert leg_count() == 1 and leg("L1") is not None
    report = list(csv.reader(io.StringIO(imports.error_report_csv(batch))))
    assert report[0] == ["row", "column", "severity", "message"]
    assert report[1] == ["3", "promised_at", "error", "“31/02/2026” is not a date and time."]
    assert [line[0] for line in report[1:6]] == ["3", "4", "5", "6", "7"]
    assert report[-1][2] == "note" and "Errors: 5, in 5 rows" in report[-1][3]


def test_valid_rows_only_with_no_valid_row_completes_without_writing(tmp_path, suppliers, make_profile, run_import):
    rows = [["L1", "O1", "hub", "NOPE-1", "2026-05-04 10:00", ""]]
    batch = run_import(write_csv(tmp_path, rows), make_profile(), valid_rows_only=True)
    assert (batch.status, batch.rows_created, batch.rows_rejected) == ("complete", 0, 1)
    assert leg_count() == 0


def test_order_texts_longer_than_their_columns_are_row_errors(tmp_path, suppliers, make_profile, run_import):
    header = HEADER + ["customer_ref"]
    rows = [["L1", "O1", "hub", "CAR-1", "2026-05-04 10:00", "", "C" * 65]]
    batch = run_import(write_csv(tmp_path, rows, header=header), make_profile(extra=("customer_ref",)))
    assert problem_keys(batch) == [(2, "customer_ref")] and leg_count() == 0


def test_rows_repeating_an_external_id_are_reported_and_the_last_one_wins(
        tmp_path, suppliers, make_profile, run_import, monkeypatch):
    monkeypatch.setattr(imports, "CHECK_CHUNK_ROWS", 2)  # the repeats land in different chunks
    rows = [
        ["L1", "O1", "last_mile", "CAR-1", "2026-05-04 10:00", "2026-05-04 11:00"],
        ["L2", "O1", "hub", "CAR-1", "2026-05-03 10:00", ""],
        ["L3", "O2", "hub", "CAR-1", "2026-05-03 10:00", ""],
        ["L1", "O1", "last_mile", "CAR-1", "2026-05-04 10:00", "2026-05-04 12:00"],
        ["L1", "O1", "last_mile", "CAR-1", "2026-05-04 10:00", "2026-05-04 13:00"],
    ]
    batch = run_import(write_csv(tmp_path, rows), make_profile())
    assert batch.status == "complete" and leg_count() == 3
    assert leg("L1").actual_at == dt.datetime(2026, 5, 4, 11, 0, tzinfo=UTC)  # 13:00 CEST, row 6
    warnings = [(p["row"], p["column"], p["message"]) for p in batch.problems if p["severity"] == "warning"]
    assert warnings == [(5, "external_id", "Same leg id as row 2: this later row is the one kept."),
                        (6, "external_id", "Same leg id as row 5: this later row is the one kept.")]


def test_problems_are_counted_beyond_the_listed_ones(tmp_path, suppliers, make_profile, run_import, monkeypatch):
    monkeypatch.setattr(imports, "PROBLEM_LIMIT", 3)
    rows = [[f"L{n}", "O1", "last_mile", "CAR-1", "never", ""] for n in range(10)]
    batch = run_import(write_csv(tmp_path, rows), make_profile())
    assert batch.rows_rejected == 10
    assert problem_keys(batch) == [(2, "promised_at"), (3, "promised_at"), (4, "promised_at")]
    assert batch.notes == ("Errors: 10, in 10 rows. Warnings: 0. "
                           "Only the first 3 errors and 3 warnings are listed.")


def test_a_file_with_more_rows_than_allowed_is_refused_before_writing(tmp_path, suppliers, make_profile, run_import):
    rows = [[f"L{n}", "O1", "last_mile", "CAR-1", "2026-05-04 10:00", ""] for n in range(3)]
    with pytest.raises(ImportRejected) as refused:
        run_import(write_csv(tmp_path, rows), make_profile(), max_rows=2)
    assert refused.value.code == "too_many_rows"
    assert leg_count() == 0 and db.session.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_an_import_stopped_half_way_writes_nothing_and_running_it_again_does_it_all(
        tmp_path, suppliers, make_profile, run_import, monkeypatch):
    monkeypatch.setattr(imports, "CHECK_CHUNK_ROWS", 2)
    rows = [[f"L{n}", f"O{n}", "last_mile", "CAR-1", "2026-05-04 10:00", ""] for n in range(5)]
    path = write_csv(tmp_path, rows)
    profile = make_profile()
    first = run_import(path, profile)
    assert (first.rows_created, leg_count()) == (5, 0 + 5)
    rows[0][5] = "2026-05-04 11:00"
    path = write_csv(tmp_path, rows, name="again.csv")
    real_write = imports._Stager.write
    calls = []

    def failing_on_the_second_chunk(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(imports._Stager, "write", failing_on_the_second_chunk)
    with pytest.raises(RuntimeError):
        run_import(path, profile)
    stopped = db.session.scalars(select(ImportBatch).order_by(ImportBatch.id)).all()[-1]
    assert stopped.status == "failed" and (stopped.rows_created, stopped.rows_updated) == (0, 0)
    assert "Stopped before its legs were written (an unexpected error)" in stopped.notes
    assert leg("L0").actual_at is None and leg_count() == 5
    assert db.session.scalar(select(func.count()).select_from(StagedLeg)) == 0

    monkeypatch.setattr(imports._Stager, "write", real_write)
    again = run_import(path, profile)
    assert (again.status, again.rows_created, again.rows_updated) == ("complete", 0, 5)
    assert leg("L0").actual_at == dt.datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    assert set(db.session.scalars(select(Leg.import_batch_id))) == {again.id}


def test_a_failure_while_moving_the_rows_into_legs_writes_nothing(
        tmp_path, suppliers, make_profile, run_import, monkeypatch):
    rows = [[f"L{n}", f"O{n}", "last_mile", "CAR-1", "2026-05-04 10:00", ""] for n in range(5)]
    real_move = imports.record_staged_legs

    def failing_after_the_writes(batch_id):
        real_move(batch_id)
        assert leg_count() == 5  # written, not yet committed
        raise RuntimeError("connection lost")

    monkeypatch.setattr(imports, "record_staged_legs", failing_after_the_writes)
    with pytest.raises(RuntimeError):
        run_import(write_csv(tmp_path, rows), make_profile())
    stopped = db.session.scalar(select(ImportBatch))
    assert stopped.status == "failed" and "Stopped before its legs were written" in stopped.notes
    assert leg_count() == 0 and db.session.scalar(select(func.count()).select_from(Order)) == 0
    assert db.session.scalar(select(func.count()).select_from(StagedLeg)) == 0


def test_a_file_rewritten_while_it_is_read_is_refused_and_nothing_is_kept(
        tmp_path, suppliers, make_profile, run_import, monkeypatch):
    monkeypatch.setattr(imports, "CHECK_CHUNK_ROWS", 2)
    rows = [[f"L{n}", f"O{n}", "last_mile", "CAR-1", "2026-05-04 10:00", ""] for n in range(6)]
    path = write_csv(tmp_path, rows)

    def truncate_after_the_first_chunk(rows_checked):
        if rows_checked == 2:
            path.write_text(csv_text(rows[:3]))

    batch = None
    with pytest.raises(ImportRejected) as refused:
        batch = run_import(path, make_profile(), check_progress=truncate_after_the_first_chunk)
    assert refused.value.code == "file_changed" and batch is None
    assert leg_count() == 0 and db.session.scalar(select(func.count()).select_from(ImportBatch)) == 0
    assert db.session.scalar(select(func.count()).select_from(StagedLeg)) == 0


def test_the_next_import_removes_the_staged_rows_of_a_dead_run(tmp_path, suppliers, make_profile, run_import):
    dead = ImportBatch(kind="legs", source="file", status="running",
                       started_at=dt.datetime.now(UTC) - dt.timedelta(hours=imports.STALE_IMPORT_HOURS + 1))
    db.session.add(dead)
    db.session.flush()
    db.session.add(StagedLeg(import_batch_id=dead.id, row=2, external_id="GHOST", order_ref="O-GHOST", sequence=1,
                             stage="hub", supplier_id=suppliers[0].id, promised_at=dt.datetime(2026, 5, 4, tzinfo=UTC),
                             promised_day=dt.date(2026, 5, 4), is_excluded=False))
    db.session.commit()
    batch = run_import(write_csv(tmp_path, VALID_ROWS), make_profile())
    assert batch.status == "complete" and leg_count() == 4 and leg("GHOST") is None
    assert db.session.get(ImportBatch, dead.id).status == "failed"
    assert db.session.scalar(select(func.count()).select_from(StagedLeg)) == 0


# Columns, profiles --------------------------------------------------------------------------

def test_a_missing_or_doubled_mapped_column_is_refused_per_column(tmp_path, suppliers, make_profile, run_import):
    profile = make_profile()
    header = ["external_id", "order_ref", "stage", "Supplier_Code", "supplier_code", "actual_at"]
    path = write_csv(tmp_path, [["L1", "O1", "hub", "CAR-1", "CAR-1", ""]], header=header)
    with pytest.raises(ImportRejected) as refused:
        run_import(path, profile)
    assert refused.value.fields == {
        "supplier_code": "The column “supplier_code” appears 2 times in the file: rename the copies.",
        "promised_at": "The column “promised_at” is not in the file.",
    }
    assert db.session.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_columns_match_whatever_their_case_and_spacing_and_extra_columns_are_ignored(
        tmp_path, suppliers, make_profile, run_import):
    profile = make_profile(mapping={"external_id": "Leg ID", "order_ref": "Order", "stage": "Stage",
                                    "supplier_code": "Carrier", "promised_at": "Promised"})
    header = ["leg  id", "ORDER", "Notes", "stage", "carrier", " Promised "]
    path = write_csv(tmp_path, [["L1", "O1", "anything", "hub", "CAR-1", "2026-05-04 10:00"]], header=header)
    assert run_import(path, profile).rows_created == 1


def test_save_profile_checks_every_setting(app_ctx):
    with pytest.raises(ValidationFailed) as refused:
        imports.save_profile("", {"external_id": "id", "colour": "c"}, "Mars/Olympus", datetime_format="dd/mm",
                             delimiter=":")
    assert set(refused.value.fields) == {"name", "mapping", "order_ref", "stage", "supplier_code", "promised_at",
                                         "timezone", "datetime_format", "delimiter"}
    assert db.session.scalar(select(func.count()).select_from(ImportProfile)) == 0


def test_save_profile_replaces_the_profile_of_the_same_name(make_profile):
    make_profile("weekly")
    mapping = {name: name.upper() for name in HEADER}
    updated = imports.save_profile(" weekly ", mapping, "UTC", datetime_format="%d/%m/%Y %H:%M", delimiter=";")
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(ImportProfile)) == 1
    assert imports.get_profile("weekly").id == updated.id
    assert (updated.mapping["order_ref"], updated.timezone, updated.delimiter) == ("ORDER_REF", "UTC", ";")


def test_a_date_format_reads_local_dates(tmp_path, suppliers, make_profile, run_import):
    rows = [["L1", "O1", "hub", "CAR-1", "04/05/2026 10:00", ""]]
    run_import(write_csv(tmp_path, rows), make_profile(datetime_format="%d/%m/%Y %H:%M"))
    assert leg("L1").promised_at == dt.datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def test_guess_mapping_matches_codes_and_labels(app_ctx):
    assert imports.guess_mapping(["Leg id", "ORDER-REF", "stage", "Supplier code", "Promised time", "Other"]) == {
        "external_id": "Leg id", "order_ref": "ORDER-REF", "stage": "stage", "supplier_code": "Supplier code",
        "promised_at": "Promised time"}


# Workbooks ------------------------------------------------------------------------------------

def test_an_xlsx_workbook_imports_with_date_cells_and_a_formula_kept_as_text(
        tmp_path, suppliers, make_profile, run_import):
    header = HEADER + ["customer_ref", "order_value"]
    rows = [
        ["L1", "O1", "last_mile", "CAR-1", dt.datetime(2026, 3, 10, 14, 0), dt.datetime(2026, 3, 10, 15, 0),
         '=HYPERLINK("http://x.test")', 129.9],
        [1001, 555, "hub", "CAR-1", "2026-03-11 09:00", None, None, 10],
    ]
    batch = run_import(write_xlsx(tmp_path, rows, header=header), make_profile(extra=("customer_ref", "order_value")))
    assert (batch.status, batch.rows_created) == ("complete", 2)
    first = leg("L1")
    assert first.promised_at == dt.datetime(2026, 3, 10, 13, 0, tzinfo=UTC)
    assert first.order.customer_ref == '=HYPERLINK("http://x.test")' and first.order.value == Decimal("129.90")
    assert [(p["row"], p["column"], p["severity"]) for p in batch.problems] == [(2, "customer_ref", "warning")]
    assert "kept as text" in batch.problems[0]["message"]
    # Whole numbers in text columns keep their digits: 1001, not 1001.0.
    assert leg("1001").order.ref == "555"
    # The report never lets a spreadsheet run the formula text it quotes.
    assert imports.error_report_csv(batch).splitlines()[1].startswith("2,customer_ref,warning,")


def test_the_first_sheet_is_read_and_empty_rows_keep_the_numbering(tmp_path, suppliers, make_profile, run_import):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    sheet.append(["L1", "O1", "hub", "CAR-1", "2026-03-11 09:00", None])
    sheet.cell(row=5, column=1, value="L2")  # rows 3 and 4 empty; row 5 lacks everything else
    workbook.create_sheet("Other").append(["ignored"])
    path = tmp_path / "gaps.xlsx"
    workbook.save(path)
    batch = run_import(path, make_profile())
    assert batch.rows_total == 2
    assert {row for row, _ in problem_keys(batch)} == {5}


# Hostile files ----------------------------------------------------------------------------------

@pytest.fixture
def workbook(tmp_path):
    return write_xlsx(tmp_path, [["L1", "O1", "hub", "CAR-1", "2026-03-11 09:00", None]], name="base.xlsx")


def refusal(path: Path) -> ImportRejected:
    with pytest.raises(ImportRejected) as refused:
        imports.open_table(path)
    return refused.value


XXE = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
       b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
       b'<si><t>&xxe;</t></si></sst>')
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10 if n > 1 else "&lol;" * 10}">'.encode()
                     for n in range(1, 10))
          + b']><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol9;</t></si></sst>')


def test_an_xml_entity_in_a_workbook_is_refused_before_parsing(tmp_path, workbook):
    for name, part in (("xl/sharedStrings.xml", XXE), ("xl/worksheets/sheet1.xml", XXE)):
        hostile = rewrite_zip(workbook, tmp_path / "xxe.xlsx", add={name: part} if name == "xl/sharedStrings.xml"
                              else None, replace={name: part} if name != "xl/sharedStrings.xml" else None)
        refused = refusal(hostile)
        assert (refused.code, str(refused.message)) == ("xml_entity", "Not a valid workbook (forbidden XML entity).")
        assert "root:" not in str(refused.message)


def test_billion_laughs_are_refused_at_once(tmp_path, workbook):
    hostile = rewrite_zip(workbook, tmp_path / "laughs.xlsx", add={"xl/sharedStrings.xml": LAUGHS})
    started = time.monotonic()
    assert refusal(hostile).code == "xml_entity"
    assert time.monotonic() - started < 1


def test_a_doctype_hidden_after_a_long_comment_is_found(tmp_path, workbook):
    with zipfile.ZipFile(workbook) as original:
        sheet = original.read("xl/worksheets/sheet1.xml")
    padded = b'<?xml version="1.0"?><!--' + b" " * 20_000 + b'--><!DOCTYPE x [<!ENTITY a "b">]>' + sheet
    assert refusal(rewrite_zip(workbook, tmp_path / "padded.xlsx",
                               replace={"xl/worksheets/sheet1.xml": padded})).code == "xml_entity"


def test_a_utf16_xml_part_is_refused(tmp_path, workbook):
    part = '<?xml version="1.0" encoding="UTF-16"?><sst/>'.encode("utf-16")
    assert refusal(rewrite_zip(workbook, tmp_path / "u16.xlsx", add={"xl/sharedStrings.xml": part})).code == \
        "xml_encoding"


def test_a_zip_bomb_is_refused_by_its_compression_ratio(tmp_path, workbook):
    # 20 MB of zeros deflate to about 20 KB: a ratio near 1,000.
    bomb = rewrite_zip(workbook, tmp_path / "bomb.xlsx", add={"xl/media/image1.bin": bytes(20 * 1024 * 1024)})
    started = time.monotonic()
    refused = refusal(bomb)
    assert refused.code == "zip_limits" and "more than 100 to 1" in str(refused.message)
    assert time.monotonic() - started < 1


def test_zip_limits_on_size_and_members_name_the_limit(tmp_path, workbook, monkeypatch):
    monkeypatch.setattr(imports, "MAX_UNCOMPRESSED_BYTES", 1024 * 1024)
    large = rewrite_zip(workbook, tmp_path / "large.xlsx", add={"xl/media/a.bin": bytes(range(256)) * 8192})
    assert "expands to more than 1 MB" in str(refusal(large).message)
    monkeypatch.setattr(imports, "MAX_ZIP_MEMBERS", 20)
    many = rewrite_zip(workbook, tmp_path / "many.xlsx", add={f"xl/media/{n}.txt": b"x" for n in range(20)})
    assert "more than 20 parts" in str(refusal(many).message)


@pytest.mark.parametrize("name", ["../../x", "/abs", "xl/../../etc/cron.d/x", "C:/Windows/x"])
def test_a_zip_member_name_leaving_the_archive_is_refused(tmp_path, workbook, name):
    assert refusal(rewrite_zip(workbook, tmp_path / "names.xlsx", add={name: b"x"})).code == "zip_limits"


def test_a_macro_workbook_is_refused(tmp_path, workbook):
    xlsm = rewrite_zip(workbook, tmp_path / "macros.xlsx", add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0"})
    refused = refusal(xlsm)
    assert refused.code == "file_type" and ".xlsm" in str(refused.message)


@pytest.mark.parametrize("name", ["program.csv", "program.xlsx"])
def test_a_renamed_program_is_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(200))
    assert refusal(path).code == "file_type"


def test_a_pdf_renamed_xlsx_and_an_unknown_extension_are_refused(tmp_path):
    pdf = tmp_path / "report.xlsx"
    pdf.write_bytes(b"%PDF-1.7\n" + bytes(100))
    assert str(refusal(pdf).message) == "This file is not an .xlsx workbook."
    other = tmp_path / "legs.xls"
    other.write_bytes(b"a,b\n")
    assert str(refusal(other).message) == "Only .csv and .xlsx files can be imported."


def test_empty_and_header_only_files_are_refused(tmp_path, suppliers, make_profile, run_import):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert refusal(empty).code == "file_empty"
    header_only = write_csv(tmp_path, [], name="header.csv")
    assert imports.read_headers(header_only) == HEADER
    with pytest.raises(ImportRejected) as refused:
        run_import(header_only, make_profile())
    assert refused.value.code == "no_rows"
    assert db.session.scalar(select(func.count()).select_from(ImportBatch)) == 0


# CSV dialects -----------------------------------------------------------------------------------

def test_a_utf16_csv_with_bom_is_read(tmp_path, suppliers, make_profile, run_import):
    rows = [["L1", "Ordine-è", "hub", "CAR-1", "2026-03-11 09:00", ""]]
    batch = run_import(write_csv(tmp_path, rows, encoding="utf-16"), make_profile())
    assert batch.rows_created == 1 and leg("L1").order.ref == "Ordine-è"
    assert not batch.problems


def test_a_latin1_csv_is_read_with_a_warning(tmp_path, suppliers, make_profile, run_import):
    header = HEADER + ["customer_ref"]
    rows = [["L1", "O1", "hub", "CAR-1", "2026-03-11 09:00", "", "Società"]]
    path = write_csv(tmp_path, rows, header=header, encoding="latin-1")
    batch = run_import(path, make_profile(extra=("customer_ref",)))
    assert leg("L1").order.customer_ref == "Società"
    assert [(p["row"], p["severity"]) for p in batch.problems] == [(0, "warning")]
    assert "Windows-1252" in batch.problems[0]["message"]


def test_a_semicolon_csv_with_decimal_commas_and_a_bom(tmp_path, suppliers, make_profile, run_import):
    header = HEADER + ["order_value"]
    rows = [["L1", "O1", "hub", "CAR-1", "2026-03-11 09:00", "", "129,90"]]
    path = write_csv(tmp_path, rows, header=header, delimiter=";", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfexternal_id;")
    assert run_import(path, make_profile(extra=("order_value",))).rows_created == 1
    assert leg("L1").order.value == Decimal("129.90")


def test_cr_only_lines_and_a_quoted_line_break_keep_spreadsheet_row_numbers(
        tmp_path, suppliers, make_profile, run_import):
    header = HEADER + ["exclusion_reason"]
    rows = [["L1", "O1", "hub", "CAR-1", "2026-03-11 09:00", "", "strike\rat the hub"],
            ["L2", "O1", "hub", "CAR-1", "not a date", "", ""]]
    path = write_csv(tmp_path, rows, header=header, line_end="\r")
    batch = run_import(path, make_profile(extra=("exclusion_reason",)))
    assert problem_keys(batch) == [(3, "promised_at")]


def test_a_csv_that_turns_out_not_to_be_utf8_after_the_sample_is_refused(
        tmp_path, suppliers, make_profile, run_import, monkeypatch):
    monkeypatch.setattr(imports, "SNIFF_BYTES", 256)
    rows = [[f"L{n}", "O1", "hub", "CAR-1", "2026-03-11 09:00", ""] for n in range(10)]
    rows.append(["L99", "Società", "hub", "CAR-1", "2026-03-11 09:00", ""])
    path = tmp_path / "mixed.csv"
    path.write_bytes(csv_text(rows).encode("latin-1"))
    with pytest.raises(ImportRejected) as refused:
        run_import(path, make_profile())
    assert refused.value.code == "encoding" and "Row 12" in str(refused.value.message)
    assert leg_count() == 0


def test_a_line_without_end_is_refused_without_reading_it_whole(tmp_path, make_profile, run_import, monkeypatch):
    monkeypatch.setattr(imports, "MAX_LINE_CHARS", 1000)
    path = tmp_path / "long.csv"
    path.write_text(",".join(HEADER) + "\n" + "x" * 5000)
    with pytest.raises(ImportRejected) as refused:
        run_import(path, make_profile())
    assert refused.value.code == "line_too_long"


def test_the_usaid_file_with_bom_and_cr_only_lines_is_read(app_ctx):
    headers = imports.read_headers(USAID_CSV)
    assert len(headers) == 33
    assert (headers[0], headers[12], headers[-1]) == ("ID", "Scheduled Delivery Date", "Line Item Insurance (USD)")
    table = imports.open_table(USAID_CSV)
    assert (table.encoding, table.delimiter) == ("utf-8-sig", ",")
    with table.records() as records:
        count, second = 0, None
        for number, cells in records:
            count = number
            if number == 2:
                second = cells
    assert count == 10_325  # the header and 10,324 rows
    assert second[:3] == ["1", "100-CI-T01", "Pre-PQ Process"] and second[5] == "Côte d'Ivoire"


def test_the_usaid_file_is_checked_whole_and_refused_with_its_placeholders_reported(
        make_supplier, make_profile, run_import):
    make_supplier(code="ORGENICS")
    profile = make_profile("usaid", mapping={
        "external_id": "ID", "order_ref": "ASN/DN #", "stage": "Shipment Mode", "supplier_code": "Vendor",
        "promised_at": "Scheduled Delivery Date", "actual_at": "Delivered to Client Date",
        "order_placed_at": "PO Sent to Vendor Date"}, timezone="UTC", datetime_format="%d-%b-%y")
    batch = run_import(USAID_CSV, profile)
    assert (batch.status, batch.rows_total, batch.rows_rejected) == ("failed", 10_324, 10_324)
    assert leg_count() == 0
    first_row = [p for p in batch.problems if p["row"] == 2]
    # "Date Not Captured" sits in a date column; "Air" is no stage.
    assert [(p["column"], p["message"]) for p in first_row] == [
        ("stage", first_row[0]["message"]),
        ("order_placed_at", "“Date Not Captured” is not a date and time."),
    ]
    assert len([p for p in batch.problems if p["severity"] == "error"]) == imports.PROBLEM_LIMIT


# Report -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\nx"])
def test_report_cells_are_formula_safe(text):
    assert imports.formula_safe(text) == "'" + text
    assert imports.formula_safe("Società") == "Società"


def test_the_report_quotes_a_column_name_that_looks_like_a_formula(tmp_path, suppliers, make_profile, run_import):
    profile = make_profile(mapping={"external_id": "id", "order_ref": "order", "stage": "=stage",
                                    "supplier_code": "supplier", "promised_at": "promised"})
    path = write_csv(tmp_path, [["L1", "O1", "teleport", "CAR-1", "2026-03-11 09:00"]],
                     header=["id", "order", "=stage", "supplier", "promised"])
    report = list(csv.reader(io.StringIO(imports.error_report_csv(run_import(path, profile)))))
    assert report[1][:3] == ["2", "'=stage", "error"]


# Command line -------------------------------------------------------------------------------

def test_import_legs_on_the_command_line_prints_progress_and_a_summary(app, tmp_path, suppliers, make_profile):
    make_profile("weekly")
    path = write_csv(tmp_path, VALID_ROWS)
    result = app.test_cli_runner().invoke(args=["import", "legs", str(path), "--profile", "weekly"])
    assert result.exit_code == 0, result.output
    assert "Checked 4 rows" in result.output and "Written 4 of 4 rows (100 %)" in result.output
    assert "complete: 4 rows, 4 legs created, 0 updated, 0 rows set aside." in result.output
    assert leg_count() == 4
    quiet = app.test_cli_runner().invoke(args=["import", "legs", str(path), "--profile", "weekly", "--quiet"])
    assert quiet.exit_code == 0 and "Checked" not in quiet.output and "0 legs created, 4 updated" in quiet.output


def test_import_legs_on_the_command_line_exits_1_listing_the_problems(app, tmp_path, suppliers, make_profile):
    make_profile("weekly")
    path = write_csv(tmp_path, ROWS_WITH_EVERY_ERROR)
    result = app.test_cli_runner().invoke(args=["import", "legs", str(path), "--profile", "weekly"])
    assert result.exit_code == 1
    assert "5 of 6 rows have errors; nothing was written" in result.output
    assert "row 3, Promised time (promised_at): “31/02/2026” is not a date and time. (error)" in result.output
    assert "row 4, Supplier code (supplier_code): No supplier has the code NOPE-9. (error)" in result.output
    assert leg_count() == 0
    valid_only = app.test_cli_runner().invoke(args=["import", "legs", str(path), "--profile", "weekly",
                                                    "--valid-only", "--quiet"])
    assert valid_only.exit_code == 0 and "1 legs created" in valid_only.output and leg_count() == 1


def test_import_legs_on_the_command_line_refuses_a_hostile_file_or_an_unknown_profile(app, tmp_path, make_profile):
    make_profile("weekly")
    program = tmp_path / "x.csv"
    program.write_bytes(b"MZ" + bytes(100))
    result = app.test_cli_runner().invoke(args=["import", "legs", str(program), "--profile", "weekly"])
    assert result.exit_code == 1 and "Refused: This file is a program, not a CSV file." in result.output
    unknown = app.test_cli_runner().invoke(args=["import", "legs", str(program), "--profile", "nope"])
    assert unknown.exit_code == 1 and "No import profile named 'nope'. Saved profiles: weekly." in unknown.output


def test_import_profiles_lists_the_saved_profiles(app, make_profile):
    make_profile("weekly", datetime_format="%d/%m/%Y %H:%M", delimiter=";")
    result = app.test_cli_runner().invoke(args=["import", "profiles"])
    assert result.exit_code == 0
    assert result.output.strip() == "weekly\tEurope/Rome\t%d/%m/%Y %H:%M\t;\t6 columns"
