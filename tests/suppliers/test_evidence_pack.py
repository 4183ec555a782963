"""The supplier evidence pack (ISO 9001 §8.4, suppliers.services.evidence_pack): what it
shows over a span (worked out by hand), how it reads the months asked for, and who may
download it."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from app.db import db, unit_of_work
from audits.services import conduct
from suppliers import services as supplier_services
from suppliers.services import evidence_pack
from tests.audits.action_fixtures import request_action  # noqa: F401  (fixture)
from tests.audits.conftest import legs, make_audit, make_carrier, sla  # noqa: F401  (fixtures)
from tests.questionnaires.conftest import carrier_questionnaire, send_questionnaire  # noqa: F401  (fixtures)
from tests.reports.text import pdf_pages, pdf_text

NOW = dt.datetime(2026, 4, 3, 12, 0, tzinfo=dt.timezone.utc)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture
def courier_with_history(make_carrier, sla, legs, make_audit, factories, request_action):  # noqa: F811
    """A courier suspended and re-approved, with an on-time SLA (≥ 95 %): February 19 of 20 on
    time = 95.0 % met, March 17 of 20 = 85.0 % breached; the March audit with a proposed major
    nonconformity and a corrective action."""
    manager = factories.user("quality_manager", name="Marta Rossi")
    courier = make_carrier(legal_name="Corriere Rapido S.r.l.", status="approved")
    supplier_services.change_status(courier, "suspended", "Lost parcels above the contract limit.", manager)
    supplier_services.change_status(courier, "approved", "Corrective action verified on site.", manager,
                                    qualified_until=dt.date(2027, 3, 31))
    db.session.commit()
    sla(courier, target="0.95")
    legs(courier, "2026-02", on_time=19, late=1)
    legs(courier, "2026-03", on_time=17, late=3)
    audit = make_audit(courier, "2026-03", status="in_progress")
    with unit_of_work():
        conduct.compute_snapshot(audit, manager, now=NOW)
    with unit_of_work():
        conduct.propose_findings(audit, manager)
    request_action(audit.findings[0], manager, today=dt.date(2026, 4, 3), due_date=dt.date(2026, 4, 20))
    return courier


def test_pack_shows_status_history_sla_numbers_audits_and_actions(courier_with_history):
    courier = courier_with_history
    body = evidence_pack.evidence_pack_pdf(courier, dt.date(2026, 2, 1), dt.date(2026, 3, 31))
    text = pdf_text(body)
    flat = _flat(text)
    for heading in ("1. Supplier", "2. Evaluation criteria", "3. Questionnaire results and decisions",
                    "4. Status history", "5. SLA results", "6. Audits and findings",
                    "7. Corrective actions and their effectiveness", "8. Certificates"):
        assert heading in flat, heading
    assert f"EP-{courier.code}-202602-202603" in flat and "Page 1 of" in flat
    assert "Lost parcels above the contract limit." in flat and "Corrective action verified on site." in flat
    assert "Marta Rossi" in flat and "Suspended" in flat
    assert re.search(r"2026-02 +95(\.0)?% +≥ 95(\.0)?% +Met +20", text), text
    assert re.search(r"2026-03 +85(\.0)?% +≥ 95(\.0)?% +Breached +20", text), text
    assert "Major nonconformity" in flat and "Requested" in flat and "CA-" in flat


def test_pack_shows_questionnaire_results_and_decisions(carrier_questionnaire, send_questionnaire,  # noqa: F811
                                                         factories):
    from questionnaires.services import assignments as q_service
    from tests.questionnaires.test_outputs import FULL, REASON, _form

    manager = factories.user("quality_manager", name="Marta Rossi")
    supplier = factories.supplier(legal_name="Trasporti Veloci S.p.A.")
    supplier_services.add_contact(supplier, {"name": "Giulia Verdi", "email": "giulia@carrier.example",
                                             "is_primary": True}, None)
    assignment, _ = send_questionnaire(carrier_questionnaire, supplier, due_date=dt.date(2026, 12, 15),
                                       actor=manager)
    with unit_of_work():
        q_service.save_answers(assignment, _form(carrier_questionnaire, **FULL, incidents="none"), submit=True)
    with unit_of_work():
        q_service.decide(assignment, "conditionally_approved", REASON, manager, today=dt.date(2026, 11, 27))
    today = dt.date.today()
    flat = _flat(pdf_text(evidence_pack.evidence_pack_pdf(supplier, today.replace(day=1), today)))
    assert carrier_questionnaire.title in flat and "63.00" in flat
    # Narrow table columns wrap the decision and its reason over lines that -layout interleaves.
    assert "Conditionally" in flat and "Insurance below" in flat and "requirement." in flat


def test_span_reading():
    assert evidence_pack.default_span(dt.date(2026, 4, 15)) == (dt.date(2025, 4, 1), dt.date(2026, 3, 31))
    assert evidence_pack.default_span(dt.date(2026, 1, 1)) == (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert evidence_pack.parse_span("2026-02", "2026-03") == (dt.date(2026, 2, 1), dt.date(2026, 3, 31))
    for bad in (("2026-13", None), ("March", None), ("2026-3", None), ("2026-04", "2026-03"), ("2020-01", "2026-01")):
        with pytest.raises(evidence_pack.BadSpan):
            evidence_pack.parse_span(*bad)


def test_viewer_downloads_the_pack_and_bad_months_are_400(courier_with_history, login_as, client):
    code = courier_with_history.code
    browser = login_as("viewer")
    response = browser.get(f"/suppliers/{code}/evidence-pack.pdf?from=2026-02&to=2026-03")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="evidence-pack-{code}-2026-02-2026-03.pdf"')
    assert browser.get(f"/suppliers/{code}/evidence-pack.pdf").status_code == 200  # the last 12 months
    for query in ("from=2026-13", "from=garbage&to=2026-03", "from=2026-04&to=2026-03"):
        response = browser.get(f"/suppliers/{code}/evidence-pack.pdf?{query}")
        assert response.status_code == 400 and "YYYY-MM" in response.get_data(as_text=True) \
            or "must not come after" in response.get_data(as_text=True)
    assert browser.get("/suppliers/NOPE-1/evidence-pack.pdf").status_code == 404
    assert f"/suppliers/{code}/evidence-pack.pdf" in browser.get(f"/suppliers/{code}").get_data(as_text=True)
    response = client.get(f"/suppliers/{code}/evidence-pack.pdf")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_long_history_renders_hundreds_of_pages(make_carrier, factories):  # noqa: F811
    """Scale: 2,200 status changes, each with a long reason, fill over 200 pages and still render."""
    from suppliers.models import StatusChange

    courier = make_carrier()
    start = dt.datetime(2026, 1, 1, 8, tzinfo=dt.timezone.utc)
    reason = "Periodic re-evaluation after the quarterly review of punctuality and lost parcels. " * 3
    db.session.add_all([StatusChange(supplier_id=courier.id, from_status="approved", to_status="approved",
                                     reason=f"{i}: {reason}", changed_at=start + dt.timedelta(minutes=i))
                        for i in range(2200)])
    db.session.commit()
    body = evidence_pack.evidence_pack_pdf(courier, dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert pdf_pages(body) >= 200
