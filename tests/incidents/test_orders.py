"""Orders and their chain on the page."""
from __future__ import annotations

import datetime as dt
import re

from app.db import db
from incidents.services.legs import LegInput, record_legs
from tests.suppliers.test_measurement import ROME, at


def _chain(seller, courier):
    record_legs([
        LegInput(external_id="O1-1", order_ref="ORD-1", stage="seller_handover", supplier_code=seller.code,
                 promised_at=at("2026-03-10", "12:00"), actual_at=at("2026-03-10", "11:00"), outcome="completed",
                 sequence=1, customer_ref="CUST-9"),
        LegInput(external_id="O1-2", order_ref="ORD-1", stage="last_mile", supplier_code=courier.code,
                 promised_at=at("2026-03-12", "18:00"), actual_at=at("2026-03-13", "10:30"), outcome="completed",
                 sequence=2),
    ], {seller.code: seller.id, courier.code: courier.id}, ROME)
    db.session.commit()


def test_order_page_shows_the_chain_with_late_legs_red(login_as, make_supplier):
    seller = make_supplier(code="SEL-1", chain_roles=["seller"])
    courier = make_supplier(code="LM-1", chain_roles=["last_mile"])
    _chain(seller, courier)
    page = login_as("operator").get("/orders/ORD-1").get_data(as_text=True)
    steps = re.findall(r'<li class="chain-step border-start border-4 border-(\w+)', page)
    assert steps == ["success", "danger"]
    assert "16.5 h late" in page and "1.0 h early" in page
    assert page.index("SEL-1") < page.index("LM-1")


def test_orders_are_found_by_reference_customer_or_supplier(login_as, make_supplier):
    seller = make_supplier(code="SEL-1", chain_roles=["seller"])
    courier = make_supplier(code="LM-1", chain_roles=["last_mile"])
    _chain(seller, courier)
    client = login_as("viewer")
    assert "ORD-1" in client.get("/orders/?q=ORD").get_data(as_text=True)
    assert "ORD-1" in client.get("/orders/?q=CUST-9").get_data(as_text=True)
    assert "/orders/ORD-1" in client.get("/orders/?supplier=lm-1").get_data(as_text=True)
    assert "/orders/ORD-1" not in client.get("/orders/?supplier=NOBODY").get_data(as_text=True)
    assert client.get("/orders/NOPE").status_code == 404


def test_sla_measure_command_prints_the_results(app, make_supplier):
    from suppliers.services.standards import create_standard

    courier = make_supplier(code="LM-1", chain_roles=["last_mile"])
    seller = make_supplier(code="SEL-1", chain_roles=["seller"])
    _chain(seller, courier)
    create_standard({"name": "Consegna puntuale", "metric": "on_time_rate", "stage": "last_mile", "target": "0.9",
                     "min_sample": 1, "valid_from": dt.date(2026, 1, 1)}, None, supplier=courier)
    db.session.commit()
    runner = app.test_cli_runner()
    text = runner.invoke(args=["sla", "measure", "--supplier", "LM-1", "--from", "2026-03", "--to", "2026-03"]).output
    assert "Consegna puntuale" in text and "2026-03" in text and "0.0%" in text and "breached" in text
    result = runner.invoke(args=["sla", "measure", "--supplier", "LM-1", "--from", "2026-03", "--to", "2026-03",
                                 "--json"])
    import json
    items = json.loads(result.output)["items"]
    assert [(i["period"], i["value"], i["sample_size"], i["status"]) for i in items] == [("2026-03", 0.0, 1, "breached")]
    bad = runner.invoke(args=["sla", "measure", "--supplier", "LM-1", "--from", "2026-04", "--to", "2026-03"])
    assert bad.exit_code != 0
