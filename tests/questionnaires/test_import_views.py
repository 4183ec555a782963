"""Import and export pages and the import API for questionnaire templates."""
from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl

from app.db import db
from questionnaires.services import template_io as tio
from questionnaires.services import templates as svc
from tests.questionnaires.test_template_io import GCLOUD, table_counts


def _upload(data: bytes, name="file.xlsx"):
    return (io.BytesIO(data), name)


def test_viewer_cannot_import_but_can_download_the_model(login_as):
    client = login_as("viewer")
    assert client.get("/questionnaires/import").status_code == 403
    response = client.post_form("/questionnaires/import", {"file": _upload(tio.model_workbook())},
                                content_type="multipart/form-data")
    assert response.status_code == 403
    model = client.get("/questionnaires/import/model.xlsx")
    assert model.status_code == 200
    assert model.headers["Content-Disposition"].startswith('attachment; filename="questionnaire-model.xlsx"')
    assert openpyxl.load_workbook(io.BytesIO(model.data)).sheetnames == ["Questions", "Template", "Instructions"]


def test_model_file_imports_directly(login_as, app_ctx):
    client = login_as("quality_manager")
    before = table_counts()
    response = client.post_form("/questionnaires/import", {"file": _upload(tio.model_workbook()), "name": "Mine"},
                                content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert table_counts()[0] == before[0] + 1 and table_counts()[3] == before[3] + 9


def test_bad_rows_are_shown_as_a_table_and_nothing_is_written(login_as, app_ctx):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Questions"
    sheet.append(["section", "question", "type", "weight"])
    sheet.append(["A", "Fine", "date", 0])
    sheet.append(["A", "Weighty", "date", "heavy"])
    stream = io.BytesIO()
    workbook.save(stream)
    client = login_as("quality_manager")
    before = table_counts()
    response = client.post_form("/questionnaires/import", {"file": _upload(stream.getvalue()), "name": "X"},
                                content_type="multipart/form-data")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r"<td>3</td><td>weight</td><td>Enter a number.</td>", page)
    assert table_counts() == before


def test_not_an_xlsx_is_refused_with_a_message(login_as, app_ctx, app):
    client = login_as("quality_manager")
    before = table_counts()
    response = client.post_form("/questionnaires/import", {"file": _upload(b"MZ\x90\x00 a program", "evil.xlsx")},
                                content_type="multipart/form-data")
    assert response.status_code == 422
    assert "not an .xlsx workbook" in response.get_data(as_text=True)
    assert table_counts() == before
    assert not [p for p in (Path(app.config["INSTANCE_DIR"]) / "template_imports").iterdir()
                if p.name.startswith(".upload-")]


def test_gcloud_file_goes_through_the_sheet_step(login_as, app_ctx, app):
    client = login_as("quality_manager")
    response = client.post_form("/questionnaires/import", {"file": _upload(GCLOUD.read_bytes(), "g.xlsx")},
                                content_type="multipart/form-data")
    assert response.status_code == 302
    step = response.headers["Location"]
    token = step.rsplit("/", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    stored = Path(app.config["INSTANCE_DIR"]) / "template_imports" / f"{token}.xlsx"
    assert stored.is_file()
    page = client.get(step)
    assert page.status_code == 200 and "Supplier Declaration (191 rows)" in page.get_data(as_text=True)
    before = table_counts()
    response = client.post_form(step, {"sheets": ["lot questions cloud software", "lot questions cloud support"],
                                       "mode": "sections", "name": "Lots"})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert table_counts()[0] == before[0] + 1 and table_counts()[3] == before[3] + 72
    assert not stored.exists()
    # Another user's session cannot use the id, nor can anybody after the import.
    assert login_as("quality_manager").get(step).status_code == 404
    assert client.get(step).status_code == 404


def test_export_of_a_version_is_an_attachment(login_as, app_ctx):
    template = svc.create_template({"name": "Evil/../name\u202e", "pass_mark": 70, "validity_months": 12}, None)
    version = template.versions[0]
    section = svc.add_section(version, "S", None, None)
    svc.add_question(section, {"type": "short_text", "text": '=HYPERLINK("x")', "weight": 0}, None)
    db.session.commit()
    response = login_as("viewer").get(f"/questionnaires/versions/{version.id}/export.xlsx")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "/" not in disposition.split("filename*")[0]
    sheet = openpyxl.load_workbook(io.BytesIO(response.data))["Questions"]
    assert sheet["D2"].value == "'=HYPERLINK(\"x\")"
    assert login_as("viewer").get("/questionnaires/versions/999999/export.xlsx").status_code == 404


def test_api_imports_a_model_file(api_client, app_ctx):
    client, headers = api_client("quality_manager")
    response = client.post("/api/v1/questionnaire-templates/import", headers=headers,
                           data={"file": _upload(tio.model_workbook()), "name": "From API"},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    (created,) = response.get_json()["templates"]
    assert created["name"] == "From API" and created["questions"] == 9


def test_api_imports_gcloud_sheets_as_templates(api_client, app_ctx):
    client, headers = api_client("quality_manager")
    response = client.post("/api/v1/questionnaire-templates/import", headers=headers,
                           data={"file": _upload(GCLOUD.read_bytes()), "mode": "templates",
                                 "sheets": ["Services cloud support", "lot questions cloud hosting"]},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert [(t["name"], t["questions"]) for t in body["templates"]] == [
        ("Services cloud support", 28), ("lot questions cloud hosting", 62)]
    assert body["warnings"]


def test_api_errors_have_codes(api_client, app_ctx):
    client, headers = api_client("quality_manager")
    url = "/api/v1/questionnaire-templates/import"
    before = table_counts()
    not_xlsx = client.post(url, headers=headers, data={"file": _upload(b"%PDF-1.4")},
                           content_type="multipart/form-data")
    assert not_xlsx.status_code == 422 and not_xlsx.get_json()["error"]["code"] == "file_type"
    workbook = openpyxl.Workbook()
    workbook.active.title = "Questions"
    workbook.active.append(["section", "question", "type"])
    workbook.active.append(["A", "Q", "teleport"])
    stream = io.BytesIO()
    workbook.save(stream)
    bad = client.post(url, headers=headers, data={"file": _upload(stream.getvalue()), "name": "X"},
                      content_type="multipart/form-data")
    error = bad.get_json()["error"]
    assert bad.status_code == 422 and error["code"] == "invalid_template_file"
    assert error["fields"]["rows"][0]["row"] == 2 and error["fields"]["rows"][0]["column"] == "type"
    missing = client.post(url, headers=headers, data={}, content_type="multipart/form-data")
    assert missing.status_code == 422 and missing.get_json()["error"]["code"] == "validation_failed"
    viewer, viewer_headers = api_client("viewer")
    forbidden = viewer.post(url, headers=viewer_headers, data={"file": _upload(tio.model_workbook())},
                            content_type="multipart/form-data")
    assert forbidden.status_code == 403 and forbidden.get_json()["error"]["code"] == "forbidden"
    assert table_counts() == before
