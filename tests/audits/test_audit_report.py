"""The audit report (ISO 19011 §6.5.1) and the audit workbook (audits.services.report): every
element of §6.5.1 under its heading, the numbers of the frozen snapshot (worked out by hand),
English and Italian, hostile user text printed as text and fetching nothing, typed cells in the
workbook, and who may download them."""
from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook

from app.db import db, unit_of_work
from audits.services import conduct
from audits.services import report as report_service
from reports import pdf
from tests.audits.action_fixtures import request_action  # noqa: F401  (fixture)
from tests.reports.text import pdf_text

NOW = dt.datetime(2026, 4, 3, 12, 0, tzinfo=dt.timezone.utc)
HOSTILE = ('<script>alert(1)</script> <img src="file:///etc/passwd"> '
           '<link rel="stylesheet" href="http://127.0.0.1:9/x">')

#: The eleven elements of ISO 19011 §6.5.1, as the English report heads them.
HEADINGS_EN = [
    "1. Objectives", "2. Scope", "3. Audit client", "4. Audit team and auditee participants",
    "5. Dates and locations", "6. Criteria", "7. Findings and evidence", "8. Conclusions",
    "9. Degree of fulfilment", "10. Unresolved diverging opinions",
    "11. Sampling and representativeness",
]


def _flat(text: str) -> str:
    """pdftotext -layout pads columns with spaces and wraps lines: one space between words."""
    return re.sub(r"\s+", " ", text)


@pytest.fixture
def issued_audit(make_carrier, sla, legs, make_plan, make_audit, factories, request_action):  # noqa: F811
    """The March 2026 audit of a courier, worked out by hand: on-time 17 of 20 legs = 85.0 %
    against ≥ 95 % (beyond the 10 % margin: 85 < 85.5 → F1 major nonconformity, proposed);
    F2 minor (hostile HTML in its statement, diverging opinion), F3 observation,
    F4 opportunity for improvement, F5 good practice; a corrective action on F1; issued."""
    lead = factories.user("auditor", name="Anna Bianchi")
    manager = factories.user("quality_manager", name="Marta Rossi")
    courier = make_carrier(legal_name="Corriere Rapido S.r.l.", vat_id="IT00743110157",
                           address="Via Roma 1", city="Milano")
    sla(courier, target="0.95", warning="0.97")
    legs(courier, "2026-03", on_time=17, late=3)
    plan = make_plan(objectives="Verify last-mile punctuality against the contract.",
                     criteria="Contract LM-2025 §4 and the SLAs agreed.", lead_auditor_id=lead.id)
    audit = make_audit(courier, "2026-03", plan=plan, location="Milano hub, Via Roma 1",
                       started_on=dt.date(2026, 4, 2), lead_auditor_id=lead.id)
    with unit_of_work():
        conduct.start(audit, lead, today=dt.date(2026, 4, 2))
    with unit_of_work():
        conduct.compute_snapshot(audit, lead, now=NOW)
    with unit_of_work():
        conduct.propose_findings(audit, lead)
    with unit_of_work():
        minor = conduct.add_finding(audit, {"grade": "minor_nc", "criterion": "Contract LM-2025 §4.2",
                                            "statement": "Proof of delivery missing on 2 of 10 parcels. " + HOSTILE,
                                            "evidence": "Parcels AUD-O1 and AUD-O2"}, lead)
        conduct.add_finding(audit, {"grade": "observation", "criterion": "Contract LM-2025 §5",
                                    "statement": "Delivery slots are announced late."}, lead)
        conduct.add_finding(audit, {"grade": "improvement", "criterion": "Contract LM-2025 §6",
                                    "statement": "Route planning could use live traffic."}, lead)
        conduct.add_finding(audit, {"grade": "good_practice", "criterion": "Contract LM-2025 §7",
                                    "statement": "Drivers photograph every parcel at the door."}, lead)
        conduct.add_participant(audit, {"name": "Paolo Neri", "organisation": "Catena Quality", "role": "auditor",
                                        "email": "paolo@example.test"}, lead)
        conduct.add_participant(audit, {"name": "Giulia Verdi", "organisation": "Corriere Rapido",
                                        "role": "auditee", "email": None}, lead)
    with unit_of_work():
        conduct.record_auditee_response(minor, "diverging", "The proofs exist on paper.", lead)
    major = next(f for f in audit.findings if f.grade == "major_nc")
    request_action(major, manager, today=dt.date(2026, 4, 3), due_date=dt.date(2026, 4, 20))
    audit.conclusions = "The courier misses its on-time target by ten points."
    audit.fulfilment = "Criteria partly fulfilled: punctuality not met."
    db.session.commit()
    with unit_of_work():
        conduct.issue_report(audit, manager, audit.version)
    db.session.expire_all()
    return conduct.get_audit(audit.id)


def test_report_holds_every_element_of_iso_19011_6_5_1_and_the_snapshot_numbers(issued_audit):
    body = report_service.audit_report_pdf(issued_audit)
    text = pdf_text(body)
    flat = _flat(text)
    positions = [flat.find(h) for h in HEADINGS_EN]
    assert -1 not in positions, [h for h, p in zip(HEADINGS_EN, positions) if p == -1]
    assert positions == sorted(positions)  # in the standard's order
    # Document control: number, revision (snapshot 1), page x of y, approval.
    assert f"AR-{issued_audit.id}" in flat and "Revision 1" in flat and "Page 1 of" in flat
    assert "Marta Rossi" in flat and "DRAFT" not in flat
    # Scope, client, team, places.
    for expected in ("Corriere Rapido S.r.l.", "IT00743110157", "Via Roma 1", "Verify last-mile punctuality",
                     "Contract LM-2025 §4 and the SLAs agreed.", "Catena", "Anna Bianchi", "Paolo Neri",
                     "Giulia Verdi", "Milano hub"):
        assert expected in flat, expected
    # The SLA: 17 / 20 = 85.0 % against ≥ 95.0 %, breached, in the table and the chart.
    assert re.search(r"2026-03 +85(\.0)?% +≥ 95(\.0)?% +Breached +20", text), text
    assert flat.count("85%") + flat.count("85.0%") >= 2
    # Findings by grade, good practice apart, the diverging opinion, the action plan.
    for expected in ("Major nonconformity (1)", "Minor nonconformity (1)", "Observation (1)",
                     "Opportunity for improvement (1)", "Good practices", "Proof of delivery missing",
                     "Delivery slots are announced late.", "Drivers photograph every parcel",
                     "The proofs exist on paper.", "Follow-up action plan", "Requested", "Confidentiality",
                     "The courier misses its on-time target by ten points.",
                     "Criteria partly fulfilled: punctuality not met."):
        assert expected in flat, expected
    action = issued_audit.findings[0].actions[0]
    assert f"CA-{action.id}" in flat


def test_a_report_not_issued_says_draft(make_carrier, sla, legs, make_audit):
    courier = make_carrier()
    sla(courier)
    legs(courier, "2026-03", on_time=20)
    audit = make_audit(courier, "2026-03")
    flat = _flat(pdf_text(report_service.audit_report_pdf(conduct.get_audit(audit.id))))
    assert "Draft: this report has not been issued." in flat and "Audit report (draft)" in flat
    assert "None: the auditee raised no diverging opinion" in flat
    assert "11. Sampling and representativeness" in flat


def test_italian_report_has_italian_headings(issued_audit, login_as):
    browser = login_as("viewer", locale="it")
    response = browser.get(f"/audits/{issued_audit.id}/report.pdf")
    assert response.status_code == 200
    flat = _flat(pdf_text(response.data))
    # The headings whose Italian is in translations/ (the new ones fall back to English until
    # translated; test_i18n lists them).
    for expected in ("1. Obiettivi", "2. Campo di applicazione", "6. Criteri", "8. Conclusioni",
                     "9. Grado di soddisfacimento", "Pagina 1 di", "Documento",
                     "Efficacia", "Rilievo"):
        assert expected in flat, expected
    assert "Page 1 of" not in flat and "1. Objectives" not in flat
    # The same report forced to English for a command or a test.
    assert "Page 1 of" in _flat(pdf_text(report_service.audit_report_pdf(issued_audit, locale="en")))


def test_hostile_text_is_printed_and_fetches_nothing(issued_audit, monkeypatch):
    asked: list[str] = []
    original = pdf.StaticOnlyFetcher.fetch

    def spy(self, url, headers=None):
        asked.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(pdf.StaticOnlyFetcher, "fetch", spy)
    flat = _flat(pdf_text(report_service.audit_report_pdf(issued_audit)))
    assert "<script>alert(1)</script>" in flat
    assert '<img src="file:///etc/passwd">' in flat
    assert '<link rel="stylesheet" href="http://127.0.0.1:9/x">' in flat
    assert "root:x:0:0" not in flat
    static = pdf.StaticOnlyFetcher(pdf.static_root()).static_root.as_uri()
    assert asked and all(u.startswith(static + "/") or u.startswith("data:") for u in asked), asked
    assert not any("passwd" in u or "127.0.0.1" in u for u in asked)


def _xmp(body: bytes) -> str:
    from pypdf import PdfReader

    return PdfReader(io.BytesIO(body)).trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")


def test_pdf_a_variant_declares_pdf_a_3b(issued_audit):
    from pypdf import PdfReader

    assert 'pdfaid:part="3"' in _xmp(report_service.audit_report_pdf(issued_audit, pdf_variant="pdf/a-3b"))
    plain = PdfReader(io.BytesIO(report_service.audit_report_pdf(issued_audit)))
    assert "/Metadata" not in plain.trailer["/Root"]  # only when asked for PDF/A


# The workbook ------------------------------------------------------------------------------------

def _rows(body: bytes, name: str) -> list[list]:
    return CalamineWorkbook.from_filelike(io.BytesIO(body)).get_sheet_by_name(name).to_python()


def _table(rows: list[list], first_header: str) -> tuple[list, list[list]]:
    start = next(i for i, row in enumerate(rows) if row and row[0] == first_header)
    return rows[start], [r for r in rows[start + 1:] if any(c not in ("", None) for c in r)]


def _facts(rows: list[list]) -> dict:
    return {row[0]: row[1] for row in rows if len(row) > 1 and isinstance(row[0], str) and row[0]}


def test_workbook_has_summary_one_sheet_per_sla_and_findings_typed(issued_audit):
    body = report_service.audit_workbook(issued_audit)
    book = CalamineWorkbook.from_filelike(io.BytesIO(body))
    assert book.sheet_names == ["Summary", "1 On-time delivery", "Findings"]
    summary = _rows(body, "Summary")
    facts = _facts(summary)
    assert facts["Document"] == f"AR-{issued_audit.id}" and facts["Revision"] == 1
    assert facts["Period from"] == dt.date(2026, 3, 1) and facts["Period to"] == dt.date(2026, 3, 31)
    assert facts["Legal name"] == "Corriere Rapido S.r.l." and facts["Periods breached"] == 1
    counts = dict(_table(summary, "Grade")[1])
    assert counts == {"Major nonconformity": 1, "Minor nonconformity": 1, "Observation": 1,
                      "Opportunity for improvement": 1, "Good practice": 1, "Total": 5}
    header, [period] = _table(_rows(body, "1 On-time delivery"), "Period")
    row = dict(zip(header, period))
    assert row["Period"] == "2026-03" and row["From"] == dt.date(2026, 3, 1)
    assert isinstance(row["Value"], float) and row["Value"] == pytest.approx(0.85)
    assert row["Target"] == pytest.approx(0.95) and row["Warning threshold"] == pytest.approx(0.97)
    assert row["Status"] == "Breached" and row["Sample"] == 20 and row["Penalty"] == 0
    header, findings = _table(_rows(body, "Findings"), "Finding")
    assert [f[0] for f in findings] == ["F1", "F2", "F3", "F4", "F5"]
    f2 = dict(zip(header, findings[1]))
    assert f2["Auditee's response"] == "Diverging opinion" and f2["What was found"].startswith("Proof of delivery")


def test_formula_looking_supplier_name_is_neutralised(make_carrier, sla, legs, make_audit):
    courier = make_carrier(legal_name='=HYPERLINK("http://x","y")')
    sla(courier)
    legs(courier, "2026-03", on_time=19, late=1)
    audit = make_audit(courier, "2026-03")
    with unit_of_work():
        conduct.compute_snapshot(audit, None, now=NOW)
    body = report_service.audit_workbook(conduct.get_audit(audit.id))
    assert _facts(_rows(body, "Summary"))["Legal name"] == '\'=HYPERLINK("http://x","y")'
    sheet = load_workbook(io.BytesIO(body))["Summary"]
    cell = next(c for row in sheet.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("'="))
    assert cell.data_type == "s" and cell.value.startswith("'=")
    value = _table(_rows(body, "1 On-time delivery"), "Period")[1][0][3]
    assert isinstance(value, float) and value == pytest.approx(0.95)


# Routes ---------------------------------------------------------------------------------------------

def test_viewer_downloads_report_pdf_a_and_workbook(issued_audit, login_as):
    browser = login_as("viewer")
    response = browser.get(f"/audits/{issued_audit.id}/report.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="audit-report-{issued_audit.id}-{issued_audit.supplier.code}.pdf"')
    assert response.data.startswith(b"%PDF-")
    response = browser.get(f"/audits/{issued_audit.id}/report.pdf?pdfa=1")
    assert response.status_code == 200 and 'pdfaid:part="3"' in _xmp(response.data)
    response = browser.get(f"/audits/{issued_audit.id}/audit.xlsx")
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment;")
    assert _facts(_rows(response.data, "Summary"))["Document"] == f"AR-{issued_audit.id}"
    page = browser.get(f"/audits/{issued_audit.id}").get_data(as_text=True)
    assert f"/audits/{issued_audit.id}/report.pdf" in page and f"/audits/{issued_audit.id}/audit.xlsx" in page


def test_anonymous_is_sent_to_login_and_unknown_audit_is_404(issued_audit, client, login_as):
    for url in (f"/audits/{issued_audit.id}/report.pdf", f"/audits/{issued_audit.id}/audit.xlsx"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    browser = login_as("viewer")
    assert browser.get("/audits/999999/report.pdf").status_code == 404
    assert browser.get("/audits/999999/audit.xlsx").status_code == 404


def test_api_serves_the_report_pdf(issued_audit, api_client):
    api, headers = api_client("viewer")
    response = api.get(f"/api/v1/audits/{issued_audit.id}/report.pdf", headers=headers)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert f"AR-{issued_audit.id}" in _flat(pdf_text(response.data))
    assert 'pdfaid:part="3"' in _xmp(api.get(f"/api/v1/audits/{issued_audit.id}/report.pdf?pdfa=true",
                                             headers=headers).data)
    missing = api.get("/api/v1/audits/999999/report.pdf", headers=headers)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    assert api.get(f"/api/v1/audits/{issued_audit.id}/report.pdf").status_code == 401


def test_chart_bars_scale_rates_and_hours(app_ctx):
    from audits.models import AuditSlaResult

    rate = report_service.SlaCriterion(1, "On time", "on_time_rate", None, "gte", Decimal("0.95"), None, "X")
    rate.results = [AuditSlaResult(period_key="2026-03", value=Decimal("0.85"), target=Decimal("0.95"),
                                   metric="on_time_rate", status="breached")]
    [bar] = report_service.chart_bars(rate)
    assert (bar.width, bar.target_at, bar.tone) == ("85.00", "95.00", "danger")
    hours = report_service.SlaCriterion(2, "Delay", "mean_delay_hours", None, "lte", Decimal("4"), None, "X")
    hours.results = [AuditSlaResult(period_key="2026-03", value=Decimal("8"), target=Decimal("4"),
                                    metric="mean_delay_hours", status="breached")]
    [bar] = report_service.chart_bars(hours)
    assert (bar.width, bar.target_at) == ("80.00", "40.00")  # scale 8 × 1.25 = 10 h
