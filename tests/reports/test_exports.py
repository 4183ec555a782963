"""List exports: what the page shows, with its filters, as a workbook an independent reader
(python-calamine) sees with real dates and numbers, and with no text that could run as a formula."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from werkzeug.datastructures import MultiDict

from app.db import db
from incidents.forms import backlog_filters_from_args
from incidents.services.incidents import backlog
from incidents.services.legs import LegInput, record_legs
from reports.xlsx import XLSX_MIMETYPE
from suppliers.forms import supplier_filters_from_args
from suppliers.services import list_suppliers
from tests.reports.export_fixtures import UTC, make_incident, sheet_rows, table

ALL_KINDS = ["suppliers", "incidents", "legs", "audits", "findings", "corrective-actions", "chargebacks"]
FORMULAS = ['=HYPERLINK("x")', "+cmd|' /C calc'!A0", "@SUM(1)", "\t=1+1"]


def test_every_list_exports_a_workbook_with_its_header_and_filters(login_as):
    client = login_as("admin")
    for kind in ALL_KINDS:
        param, param_label = ("stage", "Stage") if kind == "legs" else ("status", "Status")
        response = client.get(f"/exports/{kind}.xlsx?{param}=zz_none")
        assert response.status_code == 200, kind
        assert response.mimetype == XLSX_MIMETYPE
        assert response.headers["Cache-Control"] == "private, no-store"
        assert response.headers["Content-Disposition"].startswith(f'attachment; filename="{kind}-')
        header, rows, facts = table(response.data)
        assert header[0] and all(isinstance(h, str) for h in header if h), kind
        assert facts[f"Filter: {param_label}"] == "zz_none", kind
        assert isinstance(facts["Exported at"], dt.datetime)
        assert client.user.email in facts["Exported by"]


def test_the_incident_export_holds_the_backlogs_rows_with_dates_and_numbers(login_as, make_supplier):
    client = login_as("operator")
    march = make_incident(dt.datetime(2026, 3, 10, 9, 0, tzinfo=UTC), first_response_seconds=5400, csat=4,
                          first_response_at=dt.datetime(2026, 3, 10, 10, 30, tzinfo=UTC))
    closed = make_incident(dt.datetime(2026, 3, 11, 9, 0, tzinfo=UTC), status="closed", channel="phone")
    april = make_incident(dt.datetime(2026, 4, 2, 9, 0, tzinfo=UTC))
    db.session.commit()
    query = "from=2026-03-01&to=2026-03-31&status=all"
    header, rows, facts = table(client.get(f"/exports/incidents.xlsx?{query}").data)
    # The same filters as the page give the same rows, in the page's order.
    filters, _ = backlog_filters_from_args(MultiDict([("from", "2026-03-01"), ("to", "2026-03-31"), ("status", "all")]))
    assert [r[0] for r in rows] == [i.id for i in backlog(filters, limit=500).items] == [march.id, closed.id]
    assert april.id not in [r[0] for r in rows]
    row = dict(zip(header, rows[0]))
    assert isinstance(row["Incident"], (int, float)) and row["Incident"] == march.id
    assert row["Reported at"] == dt.datetime(2026, 3, 10, 10, 0)          # 09:00 UTC = 10:00 in Rome
    assert row["Reported on"] == dt.date(2026, 3, 10)
    assert row["First response (hours)"] == 1.5
    assert row["CSAT"] == 4
    assert row["Channel"] == "Web form"
    assert facts["Filter: Reported from"] == "2026-03-01" and facts["Filter: Status"] == "all"
    # The page without "every status" leaves the closed one out, and so does the export.
    _, open_rows, _ = table(client.get("/exports/incidents.xlsx?from=2026-03-01&to=2026-03-31").data)
    assert [r[0] for r in open_rows] == [march.id]


def test_a_late_evening_incident_keeps_its_company_day(login_as):
    client = login_as("viewer")
    late = make_incident(dt.datetime(2026, 1, 31, 23, 30, tzinfo=UTC))
    db.session.commit()
    header, rows, _ = table(client.get("/exports/incidents.xlsx?from=2026-02-01&to=2026-02-01").data)
    row = dict(zip(header, rows[0]))
    assert row["Incident"] == late.id
    assert row["Reported at"] == dt.datetime(2026, 2, 1, 0, 30)
    assert row["Reported on"] == dt.date(2026, 2, 1)     # as the backlog's day filter counts it
    page = client.get("/incidents/?from=2026-02-01&to=2026-02-01").get_data(as_text=True)
    assert f"/incidents/{late.id}" in page


@pytest.mark.parametrize("text", FORMULAS)
def test_formula_text_comes_out_inert(login_as, make_supplier, text):
    client = login_as("viewer")
    supplier = make_supplier(code="EVIL-1", legal_name=f"{text} Srl")
    incident = make_incident(dt.datetime(2026, 3, 10, 9, 0, tzinfo=UTC), description=text)
    db.session.commit()
    for kind, query, column in (("suppliers", "q=evil-1", 2), ("incidents", "status=all", 16)):
        body = client.get(f"/exports/{kind}.xlsx?{query}").data
        sheet = load_workbook(io.BytesIO(body)).active
        # The register cleans names on input (a leading tab goes); what is stored is what must be inert.
        expected = supplier.legal_name if kind == "suppliers" else text
        assert expected.startswith(("=", "+", "@", "\t"))
        cells = [row[column - 1] for row in sheet.iter_rows() if row[column - 1].value == "'" + expected]
        assert len(cells) == 1, kind
        assert cells[0].data_type == "s"
    assert supplier.id and incident.id


def test_the_supplier_export_equals_the_register_page(login_as, make_supplier):
    client = login_as("viewer")
    carrier = make_supplier(code="CAR-X1", legal_name="Carrier One", chain_roles=["carrier"],
                            status="approved", qualified_until=dt.date(2027, 6, 30))
    make_supplier(code="SEL-X1", legal_name="Seller One", chain_roles=["seller"])
    db.session.commit()
    header, rows, facts = table(client.get("/exports/suppliers.xlsx?role=carrier&q=x1").data)
    _, filters = supplier_filters_from_args(MultiDict([("role", "carrier"), ("q", "x1")]))
    assert [r[0] for r in rows] == [s.code for s in list_suppliers(filters, limit=500).items] == ["CAR-X1"]
    row = dict(zip(header, rows[0]))
    assert row["Legal name"] == "Carrier One" and row["Qualified until"] == dt.date(2027, 6, 30)
    assert facts["Filter: Chain role"] == "carrier" and facts["Filter: Search"] == "x1"
    assert carrier.id


def test_the_legs_export_holds_the_legs_of_the_listed_orders(login_as, make_supplier):
    from zoneinfo import ZoneInfo

    client = login_as("viewer")
    carrier = make_supplier(code="CAR-L1")
    promised = dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    record_legs([LegInput(external_id=f"LX{n}", order_ref=f"OX{n}", stage="line_haul", supplier_code="CAR-L1",
                          promised_at=promised, actual_at=promised + dt.timedelta(hours=3), outcome="completed")
                 for n in range(3)], {"CAR-L1": carrier.id}, ZoneInfo("Europe/Rome"))
    db.session.commit()
    header, rows, _ = table(client.get("/exports/legs.xlsx?supplier=car-l1&stage=line_haul").data)
    assert sorted(r[1] for r in rows) == ["LX0", "LX1", "LX2"]
    row = dict(zip(header, rows[0]))
    assert row["Promised at"] == dt.datetime(2026, 3, 10, 13, 0) and row["Promised on"] == dt.date(2026, 3, 10)
    assert row["Delay (hours)"] == 3.0
    _, none, _ = table(client.get("/exports/legs.xlsx?supplier=car-l1&stage=hub").data)
    assert none == []


def test_an_operator_cannot_export_chargebacks_and_anonymous_users_sign_in(client, login_as):
    operator = login_as("operator")
    assert operator.get("/exports/chargebacks.xlsx").status_code == 403
    assert operator.get("/exports/incidents.xlsx").status_code == 200
    assert operator.get("/exports/nothing.xlsx").status_code == 404
    response = client.get("/exports/incidents.xlsx")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_every_list_page_offers_the_export_with_its_filters(login_as, make_supplier):
    client = login_as("admin")
    supplier = make_supplier(code="PAGE-1")
    db.session.commit()
    pages = {"/suppliers/?q=abc": "/exports/suppliers.xlsx?q=abc", "/incidents/?channel=web": "/exports/incidents.xlsx?channel=web",
             "/orders/?supplier=PAGE-1": "/exports/legs.xlsx?supplier=PAGE-1", "/audits?period=2026-03": "/exports/audits.xlsx?period=2026-03",
             "/audits/actions?overdue=y": "/exports/corrective-actions.xlsx?overdue=y",
             f"/suppliers/{supplier.code}/chargebacks": "/exports/chargebacks.xlsx?supplier=PAGE-1"}
    for page, link in pages.items():
        html = client.get(page).get_data(as_text=True)
        assert f'href="{link}"' in html, page


def test_the_api_exports_with_the_lists_filters(api_client):
    http, headers = api_client("viewer")
    make_incident(dt.datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    db.session.commit()
    response = http.get("/api/v1/exports/incidents.xlsx?status=all", headers=headers)
    assert response.status_code == 200 and response.mimetype == XLSX_MIMETYPE
    assert len(table(response.data)[1]) == 1
    assert http.get("/api/v1/exports/incidents.xlsx").status_code == 401
    missing = http.get("/api/v1/exports/nothing.xlsx", headers=headers)
    assert missing.status_code == 404 and missing.json["error"]["code"]


def test_an_export_writes_labels_in_its_own_language_and_the_next_export_in_its_own(app_ctx):
    # Labels are translated once per export (reports.exports.row_context); one export's
    # translations must not reach the next, made in another language.
    from flask_babel import force_locale

    from reports.exports import write_export

    web = make_incident(dt.datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    phone = make_incident(dt.datetime(2026, 3, 11, 9, 0, tzinfo=UTC), status="closed", channel="phone")
    db.session.commit()
    args = {"status": ["all"], "from": ["2026-03-01"], "to": ["2026-03-31"]}
    written = {}
    for language in ("it", "en", "it"):
        out = io.BytesIO()
        with force_locale(language):
            assert write_export("incidents", args, out) == 2
        rows = {r[0]: r for r in sheet_rows(out.getvalue()) if r and r[0] in (web.id, phone.id)}
        # Channel, category, priority and status, as the sheet's columns 4-7 hold them.
        written.setdefault(language, []).append({i: rows[i][3:7] for i in rows})
    assert written["it"][0] == written["it"][1] == {
        web.id: ["Modulo web", "Consegna in ritardo", "Normale", "Nuovo"],
        phone.id: ["Telefono", "Consegna in ritardo", "Normale", "Chiuso"]}
    assert written["en"][0] == {web.id: ["Web form", "Late delivery", "Normal", "New"],
                                phone.id: ["Phone", "Late delivery", "Normal", "Closed"]}


def test_the_incident_export_names_the_order_or_the_reference_given_and_the_assignee(app_ctx, make_user):
    # The export reads incidents as plain values joined to their order and assignee
    # (ExportKind.values): an incident with neither still has its row.
    from incidents.models import Order
    from reports.exports import write_export

    order = Order(ref="ORD-77")
    db.session.add(order)
    db.session.flush()
    agent = make_user(role="operator", name="Giulia Neri")
    linked = make_incident(dt.datetime(2026, 3, 10, 9, 0, tzinfo=UTC), order_id=order.id, assignee_id=agent.id)
    given = make_incident(dt.datetime(2026, 3, 11, 9, 0, tzinfo=UTC), order_ref_given="ORD-UNKNOWN-9")
    bare = make_incident(dt.datetime(2026, 3, 12, 9, 0, tzinfo=UTC))
    db.session.commit()
    out = io.BytesIO()
    assert write_export("incidents", {"status": ["all"], "from": ["2026-03-01"]}, out) == 3
    header, rows, _ = table(out.getvalue())
    by_id = {row[0]: dict(zip(header, row)) for row in rows}
    assert (by_id[linked.id]["Order"], by_id[linked.id]["Assignee"]) == ("ORD-77", "Giulia Neri")
    assert (by_id[given.id]["Order"], by_id[given.id]["Assignee"]) == ("ORD-UNKNOWN-9", "")
    assert (by_id[bare.id]["Order"], by_id[bare.id]["Assignee"]) == ("", "")
    assert [row[0] for row in rows] == [linked.id, given.id, bare.id]     # the backlog's order: respond by
