"""The supplier scorecard as PDF and .xlsx: values worked out by hand, typed cells read back by an
independent reader (python-calamine), hostile text kept inert, languages and permissions."""
from __future__ import annotations

import datetime as dt
import io
import re
from zoneinfo import ZoneInfo

import pytest
from python_calamine import CalamineWorkbook

from app.db import db
from incidents.services.legs import LegInput, record_legs
from reports import pdf
from suppliers.models import Supplier
from suppliers.services import scorecard_documents
from suppliers.services.standards import create_standard
from tests.reports.text import pdf_text

ROME = ZoneInfo("Europe/Rome")
UTC = dt.timezone.utc
HOSTILE = ('=HYPERLINK("http://evil.example/x","click") <script>alert(1)</script> '
           '<img src="file:///etc/passwd"> <link href="http://127.0.0.1:9/x">')
MARCH_END = dt.date(2026, 3, 31)
_n = iter(range(1, 100_000))


def xmp(body: bytes) -> str:
    from pypdf import PdfReader

    return PdfReader(io.BytesIO(body)).trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ").replace("\u202f", " "))


def _leg(supplier, day: str, late_hours: int = 0) -> LegInput:
    n = next(_n)
    promised = dt.datetime.fromisoformat(f"{day}T12:00").replace(tzinfo=ROME).astimezone(UTC)
    return LegInput(external_id=f"SCD{n}", order_ref=f"OSCD{n}", stage="last_mile", supplier_code=supplier.code,
                    promised_at=promised, actual_at=promised + dt.timedelta(hours=late_hours),
                    outcome="completed", row=n)


@pytest.fixture
def supplier(make_supplier):
    """Two SLAs from 2026-01-01, both on last-mile legs, measured monthly.

    On time (at least 90 %, warning below 95 %, 10 € per percentage point short):
      Jan 2 of 2 on time = 100.0 % met; Feb 1 of 2 = 50.0 % breached, (90 − 50) × 10 = 400.00 €;
      Mar 11 of 12 = 91.666…% → 91.7 %, warning.
    "=SUM(A1) delay" (mean delay at most 1 h, 50 € per breached month):
      Jan 0 h met; Feb 3 h / 2 legs = 1.5 h breached, 50.00 €; Mar 3 h / 12 legs = 0.25 h met.
    Penalties 450.00 €.
    """
    s = make_supplier(code="LM-SCD", legal_name=HOSTILE, chain_roles=["last_mile"])
    base = {"metric": "on_time_rate", "stage": "last_mile", "window": "month", "min_sample": 1,
            "valid_from": dt.date(2026, 1, 1)}
    create_standard({**base, "name": "On time delivery", "comparator": "gte", "target": "0.9",
                     "warning_threshold": "0.95", "penalty_kind": "per_unit", "penalty_amount": "10"},
                    None, supplier=s)
    create_standard({**base, "name": "=SUM(A1) delay", "metric": "mean_delay_hours", "comparator": "lte",
                     "target": "1", "penalty_kind": "fixed", "penalty_amount": "50"}, None, supplier=s)
    legs = [_leg(s, "2026-01-05"), _leg(s, "2026-01-06"), _leg(s, "2026-02-05"), _leg(s, "2026-02-06", 3)]
    legs += [_leg(s, f"2026-03-{day:02d}") for day in range(2, 13)] + [_leg(s, "2026-03-13", 3)]
    record_legs(legs, {s.code: s.id}, ROME)
    db.session.commit()
    return db.session.get(Supplier, s.id)


@pytest.fixture
def fetched(monkeypatch):
    urls: list[str] = []
    original = pdf.StaticOnlyFetcher.fetch

    def spy(self, url, headers=None):
        urls.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(pdf.StaticOnlyFetcher, "fetch", spy)
    return urls


def test_scorecard_pdf_shows_each_sla_period_status_and_penalty(supplier, fetched):
    text = flat(pdf_text(scorecard_documents.scorecard_pdf(supplier, MARCH_END, months=3)))
    assert "Supplier scorecard" in text and "LM-SCD" in text and "SC-LM-SCD-2026-03" in text
    assert "Penalties over the" in text and "€450.00" in text
    for name in ("On time delivery", "=SUM(A1) delay"):
        assert text.count(name) >= 2      # in the summary and as its own section
    # On time: the three months, their values, target, sample, status and penalty.
    assert "2026-01 100.0% 90.0% 2 Met" in text
    assert "2026-02 50.0% 90.0% 2 Breached €400.00" in text
    assert "2026-03 91.7% 90.0% 12 Warning" in text
    # Mean delay: 1.5 h in February, breached, 50 €.
    assert "2026-02 1.5 h 1.0 h 2 Breached €50.00" in text
    assert "at least 90.0%" in text and "warning below 95.0%" in text and "at most 1.0 h" in text
    assert "€10.00 per percentage point beyond the target" in text and "€50.00 per breached period" in text
    # Summary counts: on time 1 met, 1 warning, 1 breached; delay 2 met, 1 breached.
    assert "Met: 1 · Warning: 1 · Breached: 1 · Not enough data: 0" in text
    assert "Met: 2 · Warning: 0 · Breached: 1 · Not enough data: 0" in text
    # The supplier's name is text: nothing it names is fetched.
    assert '=HYPERLINK("http://evil.example/x","click")' in text and "<script>alert(1)</script>" in text
    assert '<img src="file:///etc/passwd">' in text and '<link href="http://127.0.0.1:9/x">' in text
    assert fetched and all(u.startswith("file://") and "/static/" in u for u in fetched), fetched


def test_scorecard_chart_is_inline_svg_with_status_colours(supplier):
    card = scorecard_documents.build_scorecard(supplier, MARCH_END, months=3)
    from suppliers.views.standards import sla_value

    on_time = next(s for s in card.slas if s.latest.name == "On time delivery")
    svg = str(scorecard_documents.trend_svg(on_time, sla_value, "<b>label</b>"))
    assert svg.startswith("<svg") and 'aria-label="&lt;b&gt;label&lt;/b&gt;"' in svg
    fills = re.findall(r'<circle [^>]*fill="(#[0-9a-f]{6})"', svg)
    assert fills == ["#1e7b4b", "#b42318", "#c28a12"]          # met, breached, warning
    assert "stroke-dasharray" in svg and "href" not in svg


def test_scorecard_workbook_has_typed_summary_and_one_sheet_per_sla(supplier):
    body = scorecard_documents.scorecard_workbook(supplier, MARCH_END, months=3)
    book = CalamineWorkbook.from_filelike(io.BytesIO(body))
    assert book.sheet_names == ["Summary", "On time delivery", "SUM(A1) delay"]
    rows = book.get_sheet_by_name("Summary").to_python()
    facts = {r[0]: r[1] for r in rows if r and len(r) > 1 and isinstance(r[0], str)}
    assert facts["Legal name"] == "'" + HOSTILE                  # neutralised, not a formula
    assert facts["Up to the period that contains"] == MARCH_END    # a real date
    assert isinstance(facts["Exported at"], dt.datetime)
    assert facts["Penalties over the periods shown"] == pytest.approx(450.0)
    header = next(i for i, r in enumerate(rows) if r and r[0] == "SLA")
    assert rows[header][:9] == ["SLA", "Measure", "Owner", "Window", "Unit", "Latest period", "Latest value",
                                "Comparison", "Target"]
    table = {r[0]: r for r in rows[header + 1:] if r and r[0]}
    on_time, delay = table["On time delivery"], table["'=SUM(A1) delay"]
    assert on_time[5] == "2026-03" and isinstance(on_time[6], float) and on_time[6] == pytest.approx(11 / 12, abs=1e-6)
    assert on_time[8] == pytest.approx(0.9) and on_time[9] == "Warning"
    assert on_time[10:15] == [1, 1, 1, 0, pytest.approx(400.0)]
    assert delay[6] == pytest.approx(0.25) and delay[9] == "Met" and delay[10:15] == [2, 0, 1, 0, pytest.approx(50.0)]

    periods = book.get_sheet_by_name("On time delivery").to_python()
    start = next(i for i, r in enumerate(periods) if r and r[0] == "Period")
    assert periods[start][:9] == ["Period", "From", "To", "Value", "Target", "Warning level", "Sample size",
                                  "Status", "Penalty (EUR)"]
    body_rows = [r for r in periods[start + 1:] if r and r[0]]
    assert [r[0] for r in body_rows] == ["2026-01", "2026-02", "2026-03"]
    feb = body_rows[1]
    assert feb[1] == dt.date(2026, 2, 1) and feb[2] == dt.date(2026, 2, 28)
    assert feb[3] == pytest.approx(0.5) and isinstance(feb[3], float)
    assert feb[4] == pytest.approx(0.9) and feb[5] == pytest.approx(0.95) and feb[6] == 2
    assert feb[7] == "Breached" and feb[8] == pytest.approx(400.0)
    delay_rows = book.get_sheet_by_name("SUM(A1) delay").to_python()
    assert delay_rows[0][0].startswith("'=SUM(A1) delay")       # the heading is inert too


# Routes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_scorecard_downloads_follow_the_page(supplier, login_as, role):
    browser = login_as(role)
    page = browser.get("/suppliers/LM-SCD/scorecard?months=6&until=2026-03")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/suppliers/LM-SCD/scorecard.pdf?" in html and "/suppliers/LM-SCD/scorecard.xlsx?" in html
    response = browser.get("/suppliers/LM-SCD/scorecard.pdf?months=6&until=2026-03")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="scorecard-LM-SCD-2026-03.pdf"'
    text = flat(pdf_text(response.data))
    # Six months up to March 2026, as the page: October to March, nothing before.
    assert "2026-02 50.0%" in text and "2025-10 — — — No SLA in force" in text and "2025-09" not in text
    response = browser.get("/suppliers/LM-SCD/scorecard.xlsx?months=6&until=2026-03")
    assert response.status_code == 200 and response.headers["Content-Disposition"] == (
        'attachment; filename="scorecard-LM-SCD-2026-03.xlsx"')
    assert CalamineWorkbook.from_filelike(io.BytesIO(response.data)).sheet_names[0] == "Summary"
    pdfa = browser.get("/suppliers/LM-SCD/scorecard.pdf?months=6&until=2026-03&pdfa=1")
    assert pdfa.status_code == 200 and 'pdfaid:part="3"' in xmp(pdfa.data)


def test_scorecard_routes_need_a_login_and_a_known_supplier(supplier, client, login_as):
    for url in ("/suppliers/LM-SCD/scorecard.pdf", "/suppliers/LM-SCD/scorecard.xlsx"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    viewer = login_as("viewer")
    assert viewer.get("/suppliers/NO-SUCH/scorecard.pdf").status_code == 404
    assert viewer.get("/suppliers/NO-SUCH/scorecard.xlsx").status_code == 404


def test_italian_user_gets_an_italian_scorecard(supplier, login_as):
    browser = login_as("viewer", locale="it")
    text = flat(pdf_text(browser.get("/suppliers/LM-SCD/scorecard.pdf?months=6&until=2026-03").data))
    assert "Riepilogo" in text and "Rispettato" in text and "Violato" in text
    assert "91,7%" in text and "400,00 €" in text and "450,00 €" in text
    book = CalamineWorkbook.from_filelike(io.BytesIO(
        browser.get("/suppliers/LM-SCD/scorecard.xlsx?months=6&until=2026-03").data))
    assert book.sheet_names[0] == "Riepilogo"
