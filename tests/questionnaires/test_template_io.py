"""Questionnaire templates to and from .xlsx: the model format's round trip, refusals with row
numbers that write nothing, and the real G-Cloud 15 question export."""
from __future__ import annotations

import io
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from app.db import db
from app.errors import ValidationFailed
from questionnaires.models import Question, QuestionnaireTemplate, Section, TemplateVersion
from questionnaires.services import template_io as tio
from questionnaires.services import templates as svc

GCLOUD = Path("/work/shared/data/questionnaires/uk-gcloud15-question-export/RM1557.15-G-Cloud-question-export.xlsx")
FORMULA = '=HYPERLINK("x")'

#: Worked out from the file with a throwaway script: a section per run of equal "Section
#: name" values; a question per row whose "Question type" is not a group row ("Grouped and
#: related questions", "List of grouped and related questions"). E.g. Supplier Declaration has
#: 191 rows, 31 + 3 of them group rows: 157 questions.
GCLOUD_COUNTS = {
    "Supplier Declaration": (17, 157),
    "lot questions cloud hosting": (6, 62),
    "lot questions cloud software": (2, 36),
    "lot questions cloud support": (2, 36),
    "Services cloud support": (10, 28),
    "Services Iaas and Paas": (25, 131),
    "Service above official": (25, 131),
    "Services Iaas": (24, 126),
    "Service Saas": (24, 126),
}


def table_counts() -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (QuestionnaireTemplate, TemplateVersion, Section, Question))


def build_every_type() -> TemplateVersion:
    template = svc.create_template({"name": "Carrier qualification", "description": "For carriers",
                                    "title": "Carrier questionnaire", "introduction": "Please answer all.",
                                    "pass_mark": "75", "conditional_mark": "55.5", "validity_months": "24"}, None)
    version = template.versions[0]
    a = svc.add_section(version, "Organisation", "Who you are", None)
    b = svc.add_section(version, FORMULA, None, None)
    svc.add_question(a, {"type": "yes_no", "key": "iso", "text": "ISO 9001 certified?", "weight": "2",
                         "required": True, "options": [
                             {"value": "yes", "label": "Yes", "score": 1},
                             {"value": "no", "label": "No", "score": 0, "knockout": True}]}, None)
    svc.add_question(a, {"type": "single_choice", "text": FORMULA, "help_text": "-2+3 is help", "weight": "1.5",
                         "required": False, "options": [
                             {"label": "Carrier", "score": 1}, {"label": "Forwarder", "score": 0.5},
                             {"label": "@SUM(A1)", "score": 0, "knockout": True}]}, None)
    svc.add_question(a, {"type": "multiple_choice", "text": "Modes", "weight": "1", "required": True,
                         "options": [{"label": "Road", "score": 1}, {"label": "Rail", "score": 2}]}, None)
    svc.add_question(a, {"type": "scale", "text": "Rate us", "weight": "1", "required": True}, None)
    svc.add_question(b, {"type": "number", "key": "cover", "text": "Cover", "weight": "3", "required": True,
                         "unit": "EUR", "min_value": "-5", "max_value": "1000000.5",
                         "scoring": {"bands": [{"min": None, "max": 0, "score": 0, "knockout": True},
                                               {"min": 0, "max": 10, "score": 1},
                                               {"min": 10, "max": None, "score": 5}]}}, None)
    svc.add_question(b, {"type": "short_text", "text": "Name", "weight": "0", "required": True,
                         "condition_key": "iso", "condition_values": ["yes"]}, None)
    svc.add_question(b, {"type": "long_text", "text": "Describe\nin lines", "weight": "0", "required": False}, None)
    svc.add_question(b, {"type": "date", "text": "Since when?", "weight": "0", "required": True}, None)
    svc.add_question(b, {"type": "file", "text": "Certificate", "weight": "0", "required": True, "max_files": 3,
                         "condition_key": "Q2", "condition_values": ["Carrier", "Forwarder"]}, None)
    db.session.flush()
    return version


def snapshot(version: TemplateVersion) -> dict:
    """Everything an import must restore, numbers as Decimals so 1 == 1.00."""
    def number(v):
        return None if v is None else Decimal(str(v))

    return {
        "template": (version.template.description, version.title, version.introduction, number(version.pass_mark),
                     number(version.conditional_mark), version.validity_months),
        "sections": [(s.title, s.description, [
            (q.key, q.text, q.help_text, q.type, q.required, number(q.weight), q.unit, number(q.min_value),
             number(q.max_value), q.max_files, q.condition_key, q.condition_values,
             [(o["value"], o["label"], number(o["score"]), o["knockout"]) for o in q.options or []],
             [(number(b["min"]), number(b["max"]), number(b["score"]), b["knockout"])
              for b in (q.scoring or {}).get("bands", [])])
            for q in s.questions]) for s in version.sections],
    }


def write(tmp_path, data: bytes, name="file.xlsx") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_export_then_import_gives_the_same_template(app_ctx, tmp_path):
    version = build_every_type()
    path = write(tmp_path, tio.export_model_workbook(version))
    copy = tio.import_model_workbook(path, None)
    assert copy.name == "Carrier qualification"
    assert snapshot(copy.versions[0]) == snapshot(version)
    # The knock-outs, the number band rule and the condition are there (not just equal).
    questions = {q.key: q for q in copy.versions[0].questions()}
    assert questions["iso"].is_knockout and questions["cover"].is_knockout
    assert questions["cover"].scoring["bands"][0] == {"min": None, "max": 0.0, "score": 0.0, "knockout": True}
    assert questions["Q9"].condition_key == "Q2" and questions["Q9"].condition_values == ["Carrier", "Forwarder"]


def test_formula_text_is_neutralised_in_the_file_and_restored_exactly(app_ctx, tmp_path):
    version = build_every_type()
    data = tio.export_model_workbook(version)
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Questions"]
    header = [c.value for c in sheet[1]]
    texts = [row[header.index("question")].value for row in sheet.iter_rows(min_row=2)]
    assert "'" + FORMULA in texts
    cells = [c for row in sheet.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    copy = tio.import_model_workbook(write(tmp_path, data), None, name="Copy")
    assert [q.text for q in copy.versions[0].questions()][1] == FORMULA
    assert copy.versions[0].sections[1].title == FORMULA
    assert copy.versions[0].questions()[1].options[2]["label"] == "@SUM(A1)"


def test_the_blank_model_file_imports_one_question_of_each_type(app_ctx, tmp_path):
    template = tio.import_model_workbook(write(tmp_path, tio.model_workbook()), None)
    questions = template.versions[0].questions()
    assert sorted(q.type for q in questions) == sorted(t.value for t in tio.QuestionType)
    number = next(q for q in questions if q.type == "number")
    assert [b["knockout"] for b in number.scoring["bands"]] == [False, False, True]
    workbook = openpyxl.load_workbook(io.BytesIO(tio.model_workbook()))
    assert workbook.sheetnames == ["Questions", "Template", "Instructions"]
    assert workbook["Questions"].freeze_panes == "A2"


def _model_file(tmp_path, rows, template_rows=(("name", "Bad file"),)) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Questions"
    sheet.append(list(tio.MODEL_COLUMNS))
    for row in rows:
        sheet.append([row.get(c) for c in tio.MODEL_COLUMNS])
    extra = workbook.create_sheet("Template")
    for row in template_rows:
        extra.append(list(row))
    path = tmp_path / "bad.xlsx"
    workbook.save(path)
    return path


def test_a_file_with_bad_rows_is_refused_with_row_and_column_and_writes_nothing(app_ctx, tmp_path):
    before = table_counts()
    path = _model_file(tmp_path, [
        {"section": "A", "key": "Q1", "question": "Fine", "type": "Yes / no"},
        {"section": "A", "key": "Q2", "question": "Weight?", "type": "short_text", "weight": "heavy"},
        {"section": "A", "key": "Q3", "question": "Kind", "type": "teleport"},
        {"section": "A", "key": "Q1", "question": "Same key", "type": "date"},
        {"section": "B", "key": "Q5", "question": "Bands", "type": "number", "scores": "0-10:1 | ten"},
        {"section": "B", "key": "Q6", "question": "Cond", "type": "date", "condition": "Q9 = yes"},
        {"section": "B", "key": "Q7", "question": "Pick", "type": "single_choice", "options": "A | B",
         "knockout": "C"},
        {"section": "B", "key": "Q8", "question": "Must?", "type": "date", "required": "perhaps"},
    ])
    with pytest.raises(ValidationFailed) as caught:
        tio.import_model_workbook(path, None)
    assert caught.value.code == "invalid_template_file"
    found = {(p["row"], p["column"]): p["message"] for p in caught.value.fields["rows"]}
    assert found[(3, "weight")] == "Enter a number."
    assert (4, "type") in found and (5, "key") in found and (6, "scores") in found
    assert found[(7, "condition")] == "No earlier question has the key Q9."
    assert (8, "knockout") in found and (9, "required") in found
    assert len(found) == 7
    assert table_counts() == before


def test_template_sheet_values_are_checked_like_the_builder(app_ctx, tmp_path):
    path = _model_file(tmp_path, [{"section": "A", "question": "Fine", "type": "date"}],
                       template_rows=[("name", "X"), ("pass_mark", 150)])
    with pytest.raises(ValidationFailed) as caught:
        tio.import_model_workbook(path, None)
    assert caught.value.fields["rows"] == [{"sheet": "Template", "row": 2, "column": "pass_mark",
                                            "message": "Enter a number of at most 100."}]


def test_more_questions_than_the_cap_are_refused(app_ctx, tmp_path, monkeypatch):
    monkeypatch.setattr(tio, "MAX_QUESTION_ROWS", 2)
    path = _model_file(tmp_path, [{"section": "A", "question": f"Q {n}", "type": "date"} for n in range(3)])
    with pytest.raises(ValidationFailed, match="more than 2 questions"):
        tio.import_model_workbook(path, None)


def test_an_xxe_workbook_is_refused_before_parsing(app_ctx, tmp_path):
    source = io.BytesIO(tio.model_workbook())
    target = io.BytesIO()
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                doctype = b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                data = data.replace(b"?>", b"?>" + doctype, 1) if data.startswith(b"<?xml") else doctype + data
            zout.writestr(item, data)
    before = table_counts()
    with pytest.raises(ValidationFailed) as caught:
        tio.import_model_workbook(write(tmp_path, target.getvalue()), None)
    assert "root:" not in str(caught.value.message)
    assert table_counts() == before


def test_a_pdf_renamed_to_xlsx_is_refused(app_ctx, tmp_path):
    with pytest.raises(ValidationFailed, match="not an .xlsx workbook"):
        tio.inspect_workbook(write(tmp_path, b"%PDF-1.7 not a workbook"))


@pytest.mark.parametrize(("broken", "repaired"), [
    ("Iâ€™m a reseller", "I’m a reseller"),
    ("â€˜Noâ€™ to any", "‘No’ to any"),
    ("Â£5 million", "£5 million"),
    ("elementsÂ\xa0you", "elements\xa0you"),
    ("Società e caffè", "Società e caffè"),  # correct text stays as it is
    ("â‰¥ 99%", "≥ 99%"),
])
def test_mojibake_is_repaired_and_correct_text_left_alone(broken, repaired):
    assert tio.repair_mojibake(broken) == repaired


def test_gcloud_file_is_recognised_with_its_nine_sheets(app_ctx):
    sheets = tio.inspect_workbook(GCLOUD)
    assert [(s.name, s.rows, s.layout) for s in sheets] == [
        ("Supplier Declaration", 191, "gcloud"), ("lot questions cloud hosting", 72, "gcloud"),
        ("lot questions cloud software", 47, "gcloud"), ("lot questions cloud support", 47, "gcloud"),
        ("Services cloud support", 33, "gcloud"), ("Services Iaas and Paas", 157, "gcloud"),
        ("Service above official", 157, "gcloud"), ("Services Iaas", 156, "gcloud"),
        ("Service Saas", 156, "gcloud")]
    assert tio.detect_layout(sheets) == "gcloud"


def test_gcloud_file_imports_one_template_per_sheet_with_the_expected_counts(app_ctx):
    result = tio.import_mapped_workbook(GCLOUD, None, mapping=tio.GCLOUD_MAPPING, sheets=None, mode="templates")
    counts = {t.name: (len(t.versions[0].sections), len(t.versions[0].questions())) for t in result.templates}
    assert counts == GCLOUD_COUNTS
    questions = [q for t in result.templates for q in t.versions[0].questions()]
    # Mojibake repaired in a real question: Services cloud support, row 11.
    reseller = next(q for t in result.templates if t.name == "Services cloud support"
                    for q in t.versions[0].questions() if q.type == "single_choice" and "reseller" in
                    " ".join(o["label"] for o in q.options))
    assert "I’m a reseller providing extra support" in [o["label"] for o in reseller.options]
    assert not any("â€" in (q.text + (q.help_text or "")) for q in questions)
    # No leading newlines or spaces stay behind ("\n  Building and street\n").
    assert any(q.text == "Building and street" for q in questions)
    assert all(q.text == q.text.strip() for q in questions)
    # Weights and yes/no scores by default; duplicate answers reported, not fatal.
    yes_no = next(q for q in questions if q.type == "yes_no")
    assert yes_no.weight == 1 and [o["score"] for o in yes_no.options] == [1, 0]
    assert all(q.weight == 0 for q in questions if q.type in ("short_text", "long_text", "date", "file"))
    assert any("Repeated answers removed" in str(w) and w.row == 5 for w in result.warnings)
    # "'Ultimate parent company details' [row 4] if answer is any of 'Yes'" → a condition.
    declaration = next(t for t in result.templates if t.name == "Supplier Declaration").versions[0]
    full_name = next(q for q in declaration.questions() if q.text == "Full name of ultimate parent company")
    assert (full_name.condition_key, full_name.condition_values) == ("Q1", ["yes"])


def test_gcloud_file_imports_as_sections_of_one_template(app_ctx):
    before = table_counts()
    result = tio.import_mapped_workbook(GCLOUD, None, mapping=tio.GCLOUD_MAPPING,
                                        sheets=["lot questions cloud software", "Services cloud support"],
                                        mode="sections", name="G-Cloud 15 lots")
    (template,) = result.templates
    version = template.versions[0]
    assert template.name == "G-Cloud 15 lots"
    assert len(version.sections) == 2 + 10 and len(version.questions()) == 36 + 28
    assert version.sections[0].title.startswith("lot questions cloud software — ")
    assert [q.key for q in version.questions()][:3] == ["Q1", "Q2", "Q3"]
    assert table_counts()[3] == before[3] + 64


def test_whole_gcloud_file_as_one_template_has_every_question(app_ctx):
    result = tio.import_mapped_workbook(GCLOUD, None, sheets=None, mode="sections", name="All")
    version = result.templates[0].versions[0]
    assert len(version.sections) == sum(s for s, _ in GCLOUD_COUNTS.values()) == 135
    assert len(version.questions()) == sum(q for _, q in GCLOUD_COUNTS.values()) == 833
