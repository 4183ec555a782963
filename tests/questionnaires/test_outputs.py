"""The completed questionnaire as PDF and .xlsx, and the assignment list as .xlsx: what they
say (scores worked out by hand), how they type their cells, and who may download them."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from python_calamine import CalamineWorkbook
from werkzeug.datastructures import FileStorage

from app.db import unit_of_work
from questionnaires.services import assignments as service
from questionnaires.services import outputs
from questionnaires.services.assignment_lists import AssignmentFilters, stream_assignments

#: Answers to the carrier questionnaire (tests/questionnaires/conftest.py), worked out by hand:
#: Company: iso9001 yes 2 of 2 + insurance "Up to €1M" 1/2 × 3 = 1.5 + on_time 93 % in the
#: 90–95 band 1/2 × 1 = 0.5 → 4 of 6 = 66.67. Operations (subcontracts weighs 0): controls
#: audit + kpi = (1 + 2)/4 × 2 = 1.5 + tracking 4/5 × 1 = 0.8 + no certificate 0 of 1
#: → 2.3 of 4 = 57.50. Overall 6.3 of 10 = 63.00 (conditional: from 50, pass from 70).
FULL = dict(iso9001="yes", insurance="low", on_time="93", subcontracts="yes", controls=["audit", "kpi"], tracking="4")
INJECTION = '=HYPERLINK("http://x")'
REASON = "Insurance below our €1M requirement."
COMMENT = "Tracking covers only the line haul."


def _form(version, **answers):
    by_key = {q.key: q.id for q in version.questions()}
    return {by_key[k]: (v if isinstance(v, list) else [v]) for k, v in answers.items()}


def _question(version, key):
    return next(q for q in version.questions() if q.key == key)


@pytest.fixture
def decided(carrier_questionnaire, send_questionnaire, factories):
    """A carrier questionnaire answered in full (plus a formula typed as the lost-parcel
    answer), commented on and conditionally approved on 2026-11-27."""
    manager = factories.user("quality_manager", name="Marta Rossi")
    supplier = factories.supplier(legal_name="Trasporti Veloci S.p.A.", vat_id="IT00743110157")
    from suppliers import services as supplier_services
    supplier_services.add_contact(supplier, {"name": "Giulia Verdi", "email": "giulia@carrier.example",
                                             "is_primary": True}, None)
    version = carrier_questionnaire
    assignment, _ = send_questionnaire(version, supplier, due_date=dt.date(2026, 12, 15), actor=manager)
    with unit_of_work():
        service.save_answers(assignment, _form(version, **FULL, incidents=INJECTION), submit=True)
    with unit_of_work():
        service.comment(assignment, _question(version, "tracking"), COMMENT, manager)
    with unit_of_work():
        service.decide(assignment, "conditionally_approved", REASON, manager, today=dt.date(2026, 11, 27))
    return service.get_assignment(assignment.id)


def _pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def _xmp(body: bytes) -> str:
    reader = PdfReader(io.BytesIO(body))
    return reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")


def _sheet(body: bytes, name: str) -> list[list]:
    return CalamineWorkbook.from_filelike(io.BytesIO(body)).get_sheet_by_name(name).to_python()


def _table(rows: list[list], first_header: str) -> tuple[list, list[list]]:
    """The header row (found by its first cell) and the rows under it."""
    start = next(i for i, row in enumerate(rows) if row and row[0] == first_header)
    return rows[start], [r for r in rows[start + 1:] if any(c not in ("", None) for c in r)]


def _facts(rows: list[list]) -> dict:
    return {row[0]: row[1] for row in rows if len(row) > 1 and isinstance(row[0], str) and row[0]}


# PDF ------------------------------------------------------------------------------------------

def test_pdf_shows_supplier_scores_decision_and_answers(decided):
    text = _pdf_text(outputs.questionnaire_pdf(decided))
    assert "Trasporti Veloci S.p.A." in text and decided.supplier.code in text and "IT00743110157" in text
    assert "Carrier qualification" in text
    assert f"QA-{decided.id}" in text
    # Overall and per section, as worked out above.
    assert "63.00" in text and "66.67" in text and "57.50" in text
    assert "Conditional pass" in text
    assert "Conditionally approved" in text and REASON in text and "Marta Rossi" in text
    # Qualified until: decided 2026-11-27 + 12 months.
    assert "Nov 27, 2027" in text
    # A question and its answer's label (not its stored value), the number with its unit.
    assert "Goods-in-transit insurance cover" in text and "Up to €1M" in text
    assert "93 %" in text
    assert "Audits; KPI reviews" in text
    assert COMMENT in text
    # User text is printed literally, never interpreted.
    assert INJECTION in text
    # The history: who and what.
    assert "Submitted" in text and "Decided" in text and "Supplier (private link)" in text
    assert "Page 1 of" in text


def test_pdf_marks_questions_not_shown_and_missing(carrier_questionnaire, send_questionnaire):
    version = carrier_questionnaire
    assignment, _ = send_questionnaire(version)
    # No subcontracting: "controls" is not shown. Operations: tracking 0.8 of weights 1 + 1
    # (certificate unanswered) = 40.00; Company 66.67; overall 4.8 of 8 = 60.00.
    with unit_of_work():
        service.save_answers(assignment, _form(version, **{**FULL, "subcontracts": "no"}), submit=True)
    assignment = service.get_assignment(assignment.id)
    text = _pdf_text(outputs.questionnaire_pdf(assignment))
    assert "not shown" in text and "Not shown: its condition was not met." in text
    assert "60.00" in text and "40.00" in text
    assert "No decision has been recorded yet." in text


def test_pdf_lists_knock_outs(carrier_questionnaire, send_questionnaire):
    version = carrier_questionnaire
    assignment, _ = send_questionnaire(version)
    with unit_of_work():
        service.save_answers(assignment, _form(version, **{**FULL, "insurance": "none"}), submit=True)
    text = _pdf_text(outputs.questionnaire_pdf(service.get_assignment(assignment.id)))
    assert "Knock-out answers" in text and "Knocked out" in text


def test_pdf_a_variant_declares_pdf_a_3b(decided):
    body = outputs.questionnaire_pdf(decided, pdf_variant="pdf/a-3b")
    xmp = _xmp(body)
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="B"' in xmp
    reader = PdfReader(io.BytesIO(body))
    assert "/OutputIntents" in reader.trailer["/Root"]
    assert reader.metadata.title.startswith("Qualification questionnaire")
    assert reader.metadata.author == "Catena"


# .xlsx ----------------------------------------------------------------------------------------

def test_questionnaire_xlsx_summary_has_typed_scores_and_decision(decided):
    rows = _sheet(outputs.questionnaire_xlsx(decided), "Summary")
    facts = _facts(rows)
    assert facts["Supplier code"] == decided.supplier.code
    assert facts["Legal name"] == "Trasporti Veloci S.p.A."
    assert facts["Score"] == pytest.approx(63.0) and isinstance(facts["Score"], float)
    assert facts["Result"] == "Conditional pass"
    assert facts["Decision"] == "Conditionally approved" and facts["Reason"] == REASON
    assert facts["Decided by"] == "Marta Rossi"
    assert facts["Due date"] == dt.date(2026, 12, 15)
    assert facts["Qualified until"] == dt.date(2027, 11, 27)
    assert isinstance(facts["Exported at"], dt.datetime)
    header, table = _table(rows, "Section")
    assert header[:2] == ["Section", "Score"]
    scores = {row[0]: row[1] for row in table}
    assert scores == {"Company": pytest.approx(66.67), "Operations": pytest.approx(57.5),
                      "Overall": pytest.approx(63.0)}
    assert all(isinstance(v, float) for v in scores.values())


def test_questionnaire_xlsx_answers_one_row_per_question_typed(decided):
    body = outputs.questionnaire_xlsx(decided)
    header, table = _table(_sheet(body, "Answers"), "Section")
    assert len(table) == 8
    column = {name: i for i, name in enumerate(header)}
    by_key = {row[column["Key"]]: row for row in table}
    on_time = by_key["on_time"]
    assert on_time[column["Answer"]] == "93 %"
    assert on_time[column["Answer value"]] == 93 and isinstance(on_time[column["Answer value"]], (int, float))
    assert on_time[column["Points"]] == pytest.approx(0.5)
    assert by_key["insurance"][column["Answer"]] == "Up to €1M"
    assert by_key["insurance"][column["Type"]] == "Single choice"
    assert by_key["tracking"][column["Reviewer's comment"]] == COMMENT
    assert by_key["controls"][column["Shown"]] == "yes"
    # Typed as an answer, a formula comes back as text, neutralised by a leading apostrophe.
    assert by_key["incidents"][column["Answer"]] == "'" + INJECTION
    sheet = load_workbook(io.BytesIO(body))["Answers"]
    cell = next(c for row in sheet.iter_rows() for c in row if isinstance(c.value, str) and INJECTION in c.value)
    assert cell.data_type == "s" and cell.value.startswith("'=")
    assert sheet.freeze_panes == f"A{cell.row - table.index(by_key['incidents'])}"
    assert sheet.auto_filter.ref.startswith("A")


def test_questionnaire_xlsx_names_evidence_files_and_types_times(carrier_questionnaire, send_questionnaire):
    version = carrier_questionnaire
    assignment, _ = send_questionnaire(version)
    evidence = FileStorage(stream=io.BytesIO(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n"),
                           filename="ISO 9001 certificate.pdf", content_type="application/pdf")
    with unit_of_work():
        service.save_answers(assignment, _form(version, **FULL), {_question(version, "certificate").id: [evidence]},
                             submit=True)
    body = outputs.questionnaire_xlsx(service.get_assignment(assignment.id))
    header, table = _table(_sheet(body, "Answers"), "Section")
    column = {name: i for i, name in enumerate(header)}
    row = next(r for r in table if r[column["Key"]] == "certificate")
    assert row[column["Answer"]] == "ISO 9001 certificate.pdf"
    # The certificate earns its weight: Operations 3.3 of 4 = 82.50, overall 7.3 of 10 = 73.00.
    summary = _facts(_sheet(body, "Summary"))
    assert summary["Score"] == pytest.approx(73.0)
    assert summary["Sent at"] is not None and isinstance(summary["Sent at"], dt.datetime)


def test_assignment_list_xlsx_types_and_filters(decided, carrier_questionnaire, send_questionnaire):
    other, _ = send_questionnaire(carrier_questionnaire, due_date=dt.date(2026, 12, 31))
    filters = AssignmentFilters(statuses=["accepted"], supplier=decided.supplier.code)
    body = outputs.assignments_xlsx(stream_assignments(filters, today=dt.date(2026, 11, 27)), filters)
    rows = _sheet(body, "Assignments")
    facts = _facts(rows)
    assert facts["Filter: Status"] == "Accepted"
    assert facts["Filter: Supplier"] == decided.supplier.code
    header, table = _table(rows, "Assignment")
    assert len(table) == 1
    row = dict(zip(header, table[0]))
    assert row["Supplier"] == "Trasporti Veloci S.p.A." and row["Version"] == 1
    assert isinstance(row["Score"], float) and row["Score"] == pytest.approx(63.0)
    assert row["Due date"] == dt.date(2026, 12, 15)
    assert row["Qualified until"] == dt.date(2027, 11, 27)
    assert isinstance(row["Submitted at"], dt.datetime)
    assert row["Result"] == "Conditional pass" and row["Decision"] == "Conditionally approved"
    # Without filters, both; "overdue" picks the open one past its due date.
    everything = _table(_sheet(outputs.assignments_xlsx(
        stream_assignments(AssignmentFilters(), today=dt.date(2026, 11, 27)), AssignmentFilters()), "Assignments"),
        "Assignment")[1]
    assert {r[0] for r in everything} == {decided.id, other.id}
    overdue = list(stream_assignments(AssignmentFilters(overdue_only=True), today=dt.date(2027, 1, 1)))
    assert [a.id for a in overdue] == [other.id]


# Routes -----------------------------------------------------------------------------------------

def test_operator_downloads_the_questionnaire_as_attachments(decided, login_as):
    browser = login_as("operator")
    response = browser.get(f"/questionnaires/assignments/{decided.id}/questionnaire.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    disposition = response.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="questionnaire-{decided.id}-{decided.supplier.code}.pdf"'
    response = browser.get(f"/questionnaires/assignments/{decided.id}/questionnaire.pdf?pdfa=1")
    assert response.status_code == 200 and 'pdfaid:part="3"' in _xmp(response.data)
    plain = PdfReader(io.BytesIO(browser.get(f"/questionnaires/assignments/{decided.id}/questionnaire.pdf").data))
    assert "/Metadata" not in plain.trailer["/Root"]  # only when asked for PDF/A
    response = browser.get(f"/questionnaires/assignments/{decided.id}/questionnaire.xlsx")
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment;")
    assert _facts(_sheet(response.data, "Summary"))["Score"] == pytest.approx(63.0)
    response = browser.get(f"/questionnaires/assignments.xlsx?status=accepted&status=bogus"
                           f"&supplier={decided.supplier.code}")
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment;")
    facts = _facts(_sheet(response.data, "Assignments"))
    assert facts["Filter: Status"] == "Accepted" and facts["Filter: Supplier"] == decided.supplier.code


def test_unknown_assignment_is_404(login_as):
    browser = login_as("viewer")
    assert browser.get("/questionnaires/assignments/999999/questionnaire.pdf").status_code == 404
    assert browser.get("/questionnaires/assignments/999999/questionnaire.xlsx").status_code == 404


def test_anonymous_is_sent_to_login(decided, client):
    for url in (f"/questionnaires/assignments/{decided.id}/questionnaire.pdf",
                f"/questionnaires/assignments/{decided.id}/questionnaire.xlsx", "/questionnaires/assignments.xlsx"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_download_names_keep_to_a_safe_alphabet(app_ctx):
    # Supplier codes are already restricted to A-Z 0-9 . _ -; the download name does not rely on it.
    from reports.pdf import attachment

    response = attachment(b"x", 'questionnaire-1-A"B/../\\C\r\nX: y\u202egpj.xlsx', "application/octet-stream")
    assert response.headers["Content-Disposition"] == 'attachment; filename="questionnaire-1-A_B_.._C_X_y_gpj.xlsx"'


def test_score_bar_is_clamped():
    assert outputs.bar_width(None) == "0"
    assert outputs.bar_width(Decimal("63")) == "63.00"
    assert outputs.bar_width(Decimal("150")) == "100.00"
