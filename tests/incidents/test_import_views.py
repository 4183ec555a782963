"""The import pages: upload → mapping → confirm → batch page, and who may use them."""
from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import func, select

from app.db import db
from incidents.models import ImportBatch, ImportProfile, Leg
from incidents.services import imports
from tests.incidents.test_imports import HEADER, ROWS_WITH_EVERY_ERROR, VALID_ROWS, csv_text

LOCATION_TOKEN = re.compile(r"/imports/files/([0-9a-f]{32})/")


@pytest.fixture
def suppliers(make_supplier):
    return make_supplier(code="CAR-1"), make_supplier(code="SEL-1", chain_roles=["seller"])


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path, monkeypatch):
    """Uploads of each test in a directory of its own, so that leftovers can be counted."""
    monkeypatch.setitem(app.config, "UPLOAD_DIR", tmp_path / "uploads")


@pytest.fixture
def manager(login_as):
    return login_as("quality_manager")


def upload(client, content: bytes, name: str = "June legs.csv", profile: str = ""):
    return client.post_form("/imports/new", {"file": (io.BytesIO(content), name), "profile": profile},
                            content_type="multipart/form-data")


def stored_files(app) -> list:
    directory = app.config["UPLOAD_DIR"] / "imports"
    return sorted(directory.iterdir()) if directory.exists() else []


def leg_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Leg))


def mapping_form(**overrides) -> dict:
    data = {name: name for name in HEADER} | {"name": "weekly", "timezone": "Europe/Rome",
                                              "datetime_format": "", "delimiter": ""}
    return data | overrides


def test_a_quality_manager_imports_a_file_through_a_new_mapping(app, manager, suppliers):
    assert manager.get("/imports/").status_code == 200
    assert manager.get("/imports/new").status_code == 200

    uploaded = upload(manager, csv_text(VALID_ROWS).encode())
    assert uploaded.status_code == 302
    token = LOCATION_TOKEN.search(uploaded.headers["Location"]).group(1)
    assert [path.name for path in stored_files(app)] == [f"{token}.csv"]  # a generated name, not the user's

    page = manager.get(f"/imports/files/{token}/mapping").get_data(as_text=True)
    # Columns named like Catena's fields are chosen already; the zone defaults to the company's.
    assert '<option selected value="promised_at">promised_at</option>' in page
    assert '<option selected value="Europe/Rome">Europe/Rome</option>' in page
    assert 'value="June legs"' in page

    saved = manager.post_form(f"/imports/files/{token}/mapping", mapping_form())
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"/imports/files/{token}/run?profile=weekly")
    assert imports.get_profile("weekly").mapping == {name: name for name in HEADER}

    assert "June legs.csv" in manager.get(f"/imports/files/{token}/run?profile=weekly").get_data(as_text=True)
    done = manager.post_form(f"/imports/files/{token}/run?profile=weekly", {})
    assert done.status_code == 302
    batch = db.session.scalar(select(ImportBatch))
    assert done.headers["Location"].endswith(f"/imports/{batch.id}")
    assert (batch.status, batch.rows_created, batch.file_name, batch.created_by_id) == \
        ("complete", 4, "June legs.csv", manager.user.id)
    assert leg_count() == 4
    assert stored_files(app) == []  # the upload is gone once imported

    detail = manager.get(f"/imports/{batch.id}")
    assert detail.status_code == 200 and "Refresh" not in detail.headers
    assert "June legs.csv" in manager.get("/imports/").get_data(as_text=True)


def test_a_saved_profile_skips_the_mapping_and_errors_are_listed_with_a_report(app, manager, suppliers):
    imports.save_profile("weekly", {name: name for name in HEADER}, "Europe/Rome")
    db.session.commit()
    uploaded = upload(manager, csv_text(ROWS_WITH_EVERY_ERROR).encode(), profile="weekly")
    assert "/run?profile=weekly" in uploaded.headers["Location"]
    token = LOCATION_TOKEN.search(uploaded.headers["Location"]).group(1)

    done = manager.post_form(f"/imports/files/{token}/run?profile=weekly", {}, follow_redirects=True)
    page = done.get_data(as_text=True)
    assert "Nothing was written: 5 of 6 rows have errors." in page
    assert "“31/02/2026” is not a date and time." in page and "Promised time" in page
    assert leg_count() == 0
    batch = db.session.scalar(select(ImportBatch))

    report = manager.get(f"/imports/{batch.id}/problems.csv")
    assert report.headers["Content-Disposition"] == f'attachment; filename="import-{batch.id}-problems.csv"'
    assert report.headers["Cache-Control"] == "no-store" and report.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(report.get_data(as_text=True).lstrip("\ufeff"))))
    assert [row[0] for row in rows[1:6]] == ["3", "4", "5", "6", "7"]


def test_valid_rows_only_is_chosen_on_the_confirm_page(manager, suppliers):
    imports.save_profile("weekly", {name: name for name in HEADER}, "Europe/Rome")
    db.session.commit()
    token = LOCATION_TOKEN.search(upload(manager, csv_text(ROWS_WITH_EVERY_ERROR).encode(),
                                         profile="weekly").headers["Location"]).group(1)
    done = manager.post_form(f"/imports/files/{token}/run?profile=weekly", {"valid_rows_only": "y"})
    assert done.status_code == 302 and leg_count() == 1


def test_a_hostile_upload_is_refused_with_a_message_and_leaves_no_file(app, manager):
    for content, name in ((b"MZ\x90\x00" + bytes(300), "legs.csv"), (b"MZ\x90\x00" + bytes(300), "legs.xlsx"),
                          (b"", "empty.csv"), (b"a,b\n1,2\n", "../../etc/cron.d/x.txt")):
        response = upload(manager, content, name)
        assert response.status_code == 422, name
        assert 'class="invalid-feedback"' in response.get_data(as_text=True)
    assert stored_files(app) == []
    assert db.session.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_an_upload_over_the_request_limit_gets_413_and_leaves_no_file(app, manager, monkeypatch):
    token = manager.csrf_token()  # fetched before the limit applies to the page itself
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    response = manager.post_form("/imports/new", {"file": (io.BytesIO(b"a,b\n" * 5000), "big.csv"),
                                                  "csrf_token": token}, content_type="multipart/form-data")
    assert response.status_code == 413
    assert stored_files(app) == []


def test_a_file_name_with_a_path_is_stored_under_a_generated_name(app, manager, suppliers):
    uploaded = upload(manager, csv_text(VALID_ROWS).encode(), name="../../etc/cron.d/x.csv")
    token = LOCATION_TOKEN.search(uploaded.headers["Location"]).group(1)
    assert [path.name for path in stored_files(app)] == [f"{token}.csv"]
    assert "x.csv" in manager.get(f"/imports/files/{token}/mapping").get_data(as_text=True)


def test_a_mapping_without_a_required_field_is_shown_beside_it(manager, suppliers):
    token = LOCATION_TOKEN.search(upload(manager, csv_text(VALID_ROWS).encode()).headers["Location"]).group(1)
    response = manager.post_form(f"/imports/files/{token}/mapping", mapping_form(promised_at="", timezone="Mars/Base"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Required: choose the column that holds it." in page and "Not a valid choice" in page
    assert db.session.scalar(select(func.count()).select_from(ImportProfile)) == 0


def test_a_semicolon_file_can_be_read_again_with_its_delimiter(manager, suppliers):
    content = csv_text(VALID_ROWS, delimiter=";").encode()
    token = LOCATION_TOKEN.search(upload(manager, content).headers["Location"]).group(1)
    page = manager.get(f"/imports/files/{token}/mapping").get_data(as_text=True)
    assert '<option selected value="stage">stage</option>' in page  # detected
    reread = manager.post_form(f"/imports/files/{token}/mapping", mapping_form(delimiter=",", reread="1"))
    assert reread.status_code == 200
    assert "external_id;order_ref;stage" in reread.get_data(as_text=True)  # one column with a comma


def test_a_file_too_large_for_the_page_gets_the_command_to_run(app, manager, suppliers, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_WEB_MAX_ROWS", 3)
    imports.save_profile("weekly", {name: name for name in HEADER}, "Europe/Rome")
    db.session.commit()
    token = LOCATION_TOKEN.search(upload(manager, csv_text(VALID_ROWS).encode(), name="big file.csv",
                                         profile="weekly").headers["Location"]).group(1)
    response = manager.post_form(f"/imports/files/{token}/run?profile=weekly", {})
    assert response.status_code == 422
    assert "flask --app app import legs &#39;big file.csv&#39; --profile weekly" in response.get_data(as_text=True)
    assert leg_count() == 0 and db.session.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_a_profile_that_does_not_fit_the_file_is_explained_before_running(manager, suppliers):
    imports.save_profile("other", {name: f"{name} (local)" for name in HEADER}, "Europe/Rome")
    db.session.commit()
    token = LOCATION_TOKEN.search(upload(manager, csv_text(VALID_ROWS).encode(), profile="other")
                                  .headers["Location"]).group(1)
    page = manager.get(f"/imports/files/{token}/run?profile=other").get_data(as_text=True)
    assert "Promised time: The column “promised_at (local)” is not in the file." in page
    assert manager.post_form(f"/imports/files/{token}/run?profile=other", {}).status_code == 422
    assert leg_count() == 0


def test_a_running_batch_page_shows_progress_and_reloads_itself(manager):
    batch = ImportBatch(kind="legs", source="file", file_name="big.csv", status="running", rows_total=1000,
                        rows_created=250, rows_updated=50)
    db.session.add(batch)
    db.session.commit()
    response = manager.get(f"/imports/{batch.id}")
    assert response.headers["Refresh"] == "5"
    assert '<progress id="import-progress" class="w-100" max="1000" value="300">' in response.get_data(as_text=True)


def test_another_session_cannot_use_an_uploaded_file(login_as, manager, suppliers):
    token = LOCATION_TOKEN.search(upload(manager, csv_text(VALID_ROWS).encode()).headers["Location"]).group(1)
    other = login_as("quality_manager")
    assert other.get(f"/imports/files/{token}/mapping").status_code == 404
    assert other.post_form(f"/imports/files/{token}/run?profile=x", {}).status_code == 404
    assert manager.get("/imports/files/not-a-token/mapping").status_code == 404
    assert manager.get("/imports/999999").status_code == 404


@pytest.mark.parametrize("url", ["/imports/", "/imports/new", "/imports/1", "/imports/1/problems.csv"])
def test_an_operator_is_refused_the_import_pages(login_as, url):
    operator = login_as("operator")
    assert operator.get(url).status_code == 403


def test_an_operator_cannot_upload(app, login_as):
    operator = login_as("operator")
    assert upload(operator, csv_text(VALID_ROWS).encode()).status_code == 403
    assert stored_files(app) == []
