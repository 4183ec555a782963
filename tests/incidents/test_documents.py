"""The incident attribution dossier and the chargeback statement as PDF: what they say (numbers
worked out by hand), that hostile text stays text and fetches nothing, languages, and who may
download them."""
from __future__ import annotations

import datetime as dt
import io
import itertools
import re
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app.db import db, unit_of_work
from incidents.models import (
    AttributionDecision,
    AttributionDispute,
    AttributionEvidence,
    AttributionShare,
    CostLine,
    Incident,
    IncidentCategory,
    Order,
)
from incidents.services import chargebacks, documents
from incidents.services.legs import LegInput, record_legs
from reports import pdf
from tests.reports.text import pdf_text

UTC = dt.timezone.utc
_refs = itertools.count(1)

HOSTILE = ('=HYPERLINK("http://evil.example/x","click") <script>alert(1)</script> '
           '<img src="file:///etc/passwd"> <link href="http://127.0.0.1:9/x">')


def t(day: int, hour: int = 8) -> dt.datetime:
    """A time in March 2026, UTC (Rome is UTC+1 in early March)."""
    return dt.datetime(2026, 3, day, hour, 0, tzinfo=UTC)


def flat(text: str) -> str:
    """pdftotext's output with every run of white space (no-break spaces too) as one space."""
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ").replace("\u202f", " "))


@pytest.fixture
def fetched(monkeypatch):
    """Every URL WeasyPrint asks the report fetcher for, while the test runs."""
    urls: list[str] = []
    original = pdf.StaticOnlyFetcher.fetch

    def spy(self, url, headers=None):
        urls.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(pdf.StaticOnlyFetcher, "fetch", spy)
    return urls


def assert_only_static(urls: list[str]) -> None:
    assert urls, "the stylesheet at least goes through the fetcher"
    for url in urls:
        assert url.startswith("file://") and "/static/" in url and "passwd" not in url, url


# The dossier ---------------------------------------------------------------------------------

@pytest.fixture
def dossier(make_supplier, factories):
    """Order placed 03-02 08:00 UTC. Seller promised 03-03 08:00, done 03-04 08:00: 24 h late.
    Line haul promised 03-04 08:00, done 03-05 20:00: 36 h late. Last mile promised 03-06 10:00,
    done 03-06 08:00: 2 h early. Revision 1 blames the seller alone; the seller disputes it; the
    quality office revises it: seller 66.6667 %, carrier 33.3333 % (excess 24 h and 12 h)."""
    seller = make_supplier(code="SEL-D", legal_name="Venditore Uno S.r.l.", chain_roles=["seller"])
    carrier = make_supplier(code="CAR-D", legal_name="Trasporti Due S.p.A.", chain_roles=["carrier"])
    courier = make_supplier(code="LM-D", legal_name="Corriere Tre S.r.l.", chain_roles=["last_mile"])
    marta = factories.user("quality_manager", name="Marta Rossi")
    luca = factories.user("operator", name="Luca Bianchi")
    ref = f"ORD-DOS{next(_refs)}"
    rows = [("seller_handover", seller, t(3), t(4)), ("line_haul", carrier, t(4), t(5, 20)),
            ("last_mile", courier, t(6, 10), t(6, 8))]
    record_legs([LegInput(external_id=f"{ref}-{n}", order_ref=ref, stage=stage, supplier_code=s.code,
                          promised_at=promised, actual_at=actual, outcome="completed", sequence=n,
                          order_placed_at=t(2))
                 for n, (stage, s, promised, actual) in enumerate(rows, start=1)],
                {s.code: s.id for s in (seller, carrier, courier)}, UTC)
    order = db.session.scalar(select(Order).where(Order.ref == ref))
    legs = {leg.stage: leg for leg in order.legs}
    category = db.session.scalar(select(IncidentCategory).where(IncidentCategory.code == "late_delivery"))
    incident = Incident(order_id=order.id, category_id=category.id, status="resolved", channel="email",
                        priority="high", reported_at=t(7, 9), respond_by=t(7, 21), first_response_at=t(7, 11),
                        resolved_at=t(9, 15), csat=4, description=HOSTILE)
    incident.cost_lines.append(CostLine(kind="refund", amount=Decimal("30.00"), note="Shipping refunded"))
    incident.cost_lines.append(CostLine(kind="voucher", amount=Decimal("10.00")))
    db.session.add(incident)
    db.session.flush()
    first = AttributionDecision(incident=incident, revision=1, decided_by_id=marta.id, decided_at=t(8, 9),
                                follows_proposal=False, note="Seller handed over a day late.")
    db.session.add(first)
    first.shares.append(AttributionShare(leg_id=legs["seller_handover"].id, supplier_id=seller.id,
                                         share=Decimal("1"), root_cause="late_handover"))
    second = AttributionDecision(incident=incident, revision=2, decided_by_id=luca.id, decided_at=t(10, 9),
                                 follows_proposal=True, note="Revised after the seller's dispute.")
    db.session.add(second)
    second.shares.append(AttributionShare(leg_id=legs["seller_handover"].id, supplier_id=seller.id,
                                          share=Decimal("0.666667"), root_cause="late_handover",
                                          reason="Handed over 24 h late", evidence="WMS log"))
    second.shares.append(AttributionShare(leg_id=legs["line_haul"].id, supplier_id=carrier.id,
                                          share=Decimal("0.333333"), root_cause="transit_delay",
                                          reason="Took 12 h more than planned"))
    db.session.flush()
    db.session.add(AttributionEvidence(decision_id=second.id, file_name="scan-log-CAR-D.csv", stored_name="a" * 32,
                                       content_type="text/csv", size_bytes=2048, uploaded_at=t(10, 9),
                                       uploaded_by_id=luca.id))
    db.session.add(AttributionDispute(
        incident_id=incident.id, supplier_id=seller.id, decision_id=first.id, token_hash="b" * 64,
        token_prefix="abcd", created_at=t(8, 10), created_by_id=marta.id, expires_at=t(22), status="revised",
        supplier_statement="The carrier collected late, not us.", supplier_answered_at=t(9, 8),
        settled_at=t(10, 9), settled_by_id=marta.id, settlement_note="Shared with the carrier.",
        revised_decision_id=second.id))
    db.session.commit()
    return db.session.get(Incident, incident.id)


def test_dossier_shows_incident_chain_decisions_disputes_and_evidence(dossier, fetched):
    text = flat(pdf_text(documents.attribution_dossier_pdf(dossier)))
    for section in ("Incident attribution dossier", "The incident", "Costs", "Delivery chain",
                    "Attribution decisions", "Supplier disputes", "Evidence files"):
        assert section in text
    # The incident: reference, category, channel, priority, times (Rome, UTC+1), costs, CSAT.
    assert f"#{dossier.id}" in text and "Late delivery" in text and "E-mail" in text and "High" in text
    assert "3/7/26, 10:00 AM" in text and "3/7/26, 12:00 PM" in text and "3/9/26, 4:00 PM" in text
    assert "€30.00" in text and "€10.00" in text and "Total cost €40.00" in text
    assert re.search(r"Customer satisfaction 4 ?/ ?5", text)
    assert dossier.order.ref in text
    # The chain, in order, with its delays: 24 h and 36 h late, 2 h early.
    assert text.index("1. Seller handover") < text.index("2. Line haul") < text.index("3. Last mile")
    assert "24.0 h late" in text and "36.0 h late" in text and "2.0 h early" in text
    assert text.count("late") >= 4 and "on time" in text
    # Both revisions, who and when, parties and shares; the current one marked.
    assert "Revision 1" in text and "Revision 2" in text and "current" in text and "superseded" in text
    assert "Marta Rossi" in text and "Luca Bianchi" in text
    assert "100 %" in text and "66.6667 %" in text and "33.3333 %" in text
    assert "Handed over 24 h late" in text and "Took 12 h more than planned" in text and "WMS log" in text
    assert "Late handover" in text and "Transit delay" in text
    # The dispute and its settlement.
    assert "The carrier collected late, not" in text and "Revised" in text  # the cell wraps
    assert "replaced by revision 2" in text and "Shared with the carrier." in text
    # The evidence: named, not included.
    assert "scan-log-CAR-D.csv" in text and "2.0 KB" in text
    assert_only_static(fetched)


def test_hostile_description_is_literal_and_fetches_nothing(dossier, fetched):
    text = flat(pdf_text(documents.attribution_dossier_pdf(dossier)))
    assert '=HYPERLINK("http://evil.example/x","click")' in text
    assert "<script>alert(1)</script>" in text
    assert '<img src="file:///etc/passwd">' in text and '<link href="http://127.0.0.1:9/x">' in text
    assert "root:x:0:0" not in text
    assert_only_static(fetched)
    assert not any("passwd" in url or "127.0.0.1" in url or "evil" in url for url in fetched)


def test_dossier_of_an_incident_without_order_or_decision(make_supplier):
    category = db.session.scalar(select(IncidentCategory).where(IncidentCategory.code == "late_delivery"))
    incident = Incident(category_id=category.id, status="new", channel="web", reported_at=t(7),
                        description="Where is my parcel?", order_ref_given="NOPE-1", needs_follow_up=True)
    db.session.add(incident)
    db.session.commit()
    text = flat(pdf_text(documents.attribution_dossier_pdf(incident)))
    assert "NOPE-1" in text and "No chain data for this order." in text
    assert "No decision yet." in text and "No evidence files." in text and "No costs recorded." in text


def xmp(body: bytes) -> str:
    return PdfReader(io.BytesIO(body)).trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")


def test_dossier_pdf_a(dossier):
    assert 'pdfaid:part="3"' in xmp(documents.attribution_dossier_pdf(dossier, pdf_variant="pdf/a-3b"))


# The chargeback statement --------------------------------------------------------------------

def _incident(day: dt.date, parties, costs, order_ref: str) -> Incident:
    category = db.session.scalar(select(IncidentCategory).where(IncidentCategory.code == "late_delivery"))
    item = Incident(channel="web", category=category, priority="normal", description="x", status="new",
                    order=Order(ref=order_ref), reported_at=dt.datetime(day.year, day.month, day.day, 11, tzinfo=UTC))
    for kind, amount in costs:
        item.cost_lines.append(CostLine(kind=kind, amount=Decimal(amount)))
    db.session.add(item)
    db.session.flush()
    decision = AttributionDecision(incident=item, revision=1)
    db.session.add(decision)
    for supplier, share in parties:
        decision.shares.append(AttributionShare(supplier_id=supplier.id if supplier else None,
                                                is_internal=supplier is None, share=Decimal(share)))
    db.session.flush()
    return item


@pytest.fixture
def statement(make_supplier, factories):
    """March 2026 of CAR-ST: policy 5.00 per incident, costs charged, cap 40.00.
    A: (30 + 10 + 5) × 0.75 = 33.75. B: (19.99 + 5) × 0.333333 = 8.32999… → 8.33.
    Lines total 42.08, capped: 40.00 charged. Sent by Marta Rossi."""
    carrier = make_supplier(code="CAR-ST", legal_name=HOSTILE, chain_roles=["carrier"])
    other = make_supplier(code="WH-ST", chain_roles=["warehouse"])
    a = _incident(dt.date(2026, 3, 5), [(carrier, "0.75"), (other, "0.25")], [("refund", "30.00"), ("voucher", "10.00")],
                  "ORD-STA")
    b = _incident(dt.date(2026, 3, 31), [(carrier, "0.333333"), (None, "0.666667")], [("refund", "19.99")], "ORD-STB")
    marta = factories.user("quality_manager", name="Marta Rossi")
    with unit_of_work():
        chargebacks.set_policy(carrier, {"per_incident_amount": "5.00", "charges_costs": True,
                                         "cap_per_statement": "40.00"}, marta)
        made = chargebacks.prepare_statement(carrier, dt.date(2026, 3, 1), dt.date(2026, 3, 31), marta)
    with unit_of_work():
        chargebacks.send_statement(made, marta)
    return made, carrier, other, a, b


def test_statement_lists_lines_total_cap_status_and_sender(statement, fetched):
    made, carrier, _, a, b = statement
    text = flat(pdf_text(documents.chargeback_statement_pdf(made)))
    assert "Chargeback statement" in text and "CAR-ST" in text and f"CB-{made.id}" in text
    assert "3/1/26 – 3/31/26" in text or "Mar 1, 2026" in text
    assert "The supplier’s own policy: incident costs charged, €5.00 per incident, at most €40.00 per statement" in text
    assert f"#{a.id} ORD-STA" in text and f"#{b.id} ORD-STB" in text
    assert "€40.00 €5.00 75 % €33.75" in text
    assert "€19.99 €5.00 33.3333 % €8.33" in text
    assert "Lines total €42.08" in text and "Cap per statement €40.00" in text and "Charged €40.00" in text
    assert "Sent" in text and "Marta Rossi" in text
    assert_only_static(fetched)


def test_statement_supplier_name_is_literal_and_fetches_nothing(statement, fetched):
    made, *_ = statement
    text = flat(pdf_text(documents.chargeback_statement_pdf(made)))
    assert '=HYPERLINK("http://evil.example/x","click")' in text and "<script>alert(1)</script>" in text
    assert '<img src="file:///etc/passwd">' in text and '<link href="http://127.0.0.1:9/x">' in text
    assert not any("passwd" in url or "127.0.0.1" in url or "evil" in url for url in fetched)


def test_italian_user_gets_an_italian_statement(statement, login_as):
    made, carrier, *_ = statement
    browser = login_as("quality_manager", locale="it")
    response = browser.get(f"/suppliers/{carrier.code}/chargebacks/{made.id}/statement.pdf")
    assert response.status_code == 200
    text = flat(pdf_text(response.data))
    assert "Estratto di addebito" in text and "Totale righe 42,08 €" in text and "Addebitato 40,00 €" in text
    assert "33,75 €" in text and "8,33 €" in text


# Routes ----------------------------------------------------------------------------------------

def test_dossier_route_is_an_attachment_and_takes_pdfa(dossier, login_as, client):
    browser = login_as("viewer")
    response = browser.get(f"/incidents/{dossier.id}/dossier.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert response.headers["Content-Disposition"] == f'attachment; filename="incident-{dossier.id}-dossier.pdf"'
    assert response.headers["Cache-Control"] == "private, no-store"
    pdfa = browser.get(f"/incidents/{dossier.id}/dossier.pdf?pdfa=1")
    assert pdfa.status_code == 200 and 'pdfaid:part="3"' in xmp(pdfa.data)
    assert browser.get("/incidents/999999/dossier.pdf").status_code == 404
    anonymous = client.get(f"/incidents/{dossier.id}/dossier.pdf")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_incident_page_links_to_the_dossier(dossier, login_as):
    page = login_as("operator").get(f"/incidents/{dossier.id}").get_data(as_text=True)
    assert f"/incidents/{dossier.id}/dossier.pdf" in page


def test_statement_route_permissions_and_idor(statement, login_as):
    made, carrier, other, *_ = statement
    url = f"/suppliers/{carrier.code}/chargebacks/{made.id}/statement.pdf"
    viewer = login_as("viewer")
    response = viewer.get(url)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="chargeback-{made.id}-CAR-ST-2026-03.pdf"')
    # The same statement id under another supplier's code is not found.
    assert viewer.get(f"/suppliers/{other.code}/chargebacks/{made.id}/statement.pdf").status_code == 404
    assert viewer.get(f"/suppliers/{carrier.code}/chargebacks/999999/statement.pdf").status_code == 404
    assert viewer.get(f"/suppliers/NO-SUCH/chargebacks/{made.id}/statement.pdf").status_code == 404
    # Operators do not see chargebacks (as the pages).
    operator = login_as("operator")
    assert operator.get(f"/suppliers/{carrier.code}/chargebacks/{made.id}").status_code == 403
    assert operator.get(url).status_code == 403
    page = viewer.get(f"/suppliers/{carrier.code}/chargebacks/{made.id}").get_data(as_text=True)
    assert url in page
