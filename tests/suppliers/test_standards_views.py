"""SLA pages, scorecard and ranking through the browser, as each role sees them."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.db import db
from suppliers.models import ServiceStandard
from suppliers.services.standards import create_standard
from tests.suppliers.test_scorecards import JAN, MAR, _role_with_four_suppliers, late, on_time, record, sla

TODAY = dt.date(2026, 3, 20)


@pytest.fixture
def fixed_today(monkeypatch):
    """The company's today, as the SLA pages see it."""
    import suppliers.views.standards as pages

    monkeypatch.setattr(pages, "today", lambda: TODAY)
    return TODAY


def _form(**overrides):
    values = {"name": "On-time delivery", "metric": "on_time_rate", "stage": "last_mile", "comparator": "gte",
              "target": "95", "warning_threshold": "", "window": "month", "min_sample": "20",
              "tolerance_minutes": "30", "honours_exclusions": "y", "penalty_kind": "none", "penalty_amount": "",
              "penalty_cap": "", "weight": "1", "valid_from": "2026-01-01", "valid_to": ""}
    values.update(overrides)
    return values


def _standards():
    return db.session.scalars(select(ServiceStandard).order_by(ServiceStandard.id)).all()


def _error_of(page: str, field: str) -> str:
    match = re.search(rf'<div class="invalid-feedback" id="{field}-error">(.*?)</div>', page, re.S)
    return match.group(1).strip() if match else ""


def _value_of(page: str, field: str) -> str | None:
    match = re.search(rf'<input[^>]* name="{field}"[^>]* value="([^"]*)"', page)
    return match.group(1) if match else None


def test_percent_input_is_stored_as_a_fraction(login_as, make_supplier):
    make_supplier(code="LM-1", chain_roles=["last_mile"])
    client = login_as("quality_manager")
    response = client.post_form("/suppliers/LM-1/slas/new", _form(target="95", warning_threshold="97,5"))
    assert response.status_code == 302 and response.location.endswith("/suppliers/LM-1/slas")
    [standard] = _standards()
    assert (standard.target, standard.warning_threshold) == (Decimal("0.95"), Decimal("0.975"))
    assert (standard.version, standard.series_id, standard.tolerance_minutes) == (1, standard.id, 30)
    assert standard.honours_exclusions


def test_hours_are_stored_as_typed(login_as, make_supplier):
    make_supplier(code="LM-1", chain_roles=["last_mile"])
    client = login_as("quality_manager")
    client.post_form("/suppliers/LM-1/slas/new", _form(metric="mean_delay_hours", comparator="lte", target="2,5",
                                                       honours_exclusions=""))
    [standard] = _standards()
    assert standard.target == Decimal("2.5") and not standard.honours_exclusions


def test_warning_level_on_the_wrong_side_is_shown_beside_the_field(login_as, make_supplier):
    make_supplier(code="LM-1", chain_roles=["last_mile"])
    client = login_as("quality_manager")
    response = client.post_form("/suppliers/LM-1/slas/new", _form(target="95", warning_threshold="90"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert _error_of(page, "warning_threshold") == \
        "With “at least”, the warning level must be at or above the target."
    assert _value_of(page, "warning_threshold") == "90"      # kept as typed, in percent
    assert _standards() == []


def test_a_percentage_above_100_is_refused_in_percent(login_as, make_supplier):
    make_supplier(code="LM-1", chain_roles=["last_mile"])
    response = login_as("quality_manager").post_form("/suppliers/LM-1/slas/new", _form(target="120"))
    assert response.status_code == 422
    assert _error_of(response.get_data(as_text=True), "target") == "Enter a percentage from 0 to 100."
    assert _standards() == []


def test_operator_may_read_but_not_agree_slas(login_as, make_supplier):
    make_supplier(code="LM-1", chain_roles=["last_mile"])
    client = login_as("operator")
    assert client.get("/suppliers/LM-1/slas/new").status_code == 403
    assert client.post_form("/suppliers/LM-1/slas/new", _form()).status_code == 403
    assert client.post_form("/suppliers/roles/last_mile/slas/new", _form()).status_code == 403
    assert _standards() == []
    page = client.get("/suppliers/LM-1/slas")
    assert page.status_code == 200 and "Agree an SLA" not in page.get_data(as_text=True)


def test_a_role_default_is_agreed_and_listed_as_inherited(login_as, make_supplier):
    make_supplier(code="LM-1", chain_roles=["last_mile"])
    client = login_as("quality_manager")
    response = client.post_form("/suppliers/roles/last_mile/slas/new", _form(name="Role on time"))
    assert response.status_code == 302 and response.location.endswith("/suppliers/roles/last_mile/slas")
    [default] = _standards()
    assert (default.chain_role, default.supplier_id) == ("last_mile", None)
    client.post_form("/suppliers/LM-1/slas/new", _form(name="Own lost rate", metric="lost_rate", comparator="lte",
                                                       target="1"))
    page = client.get("/suppliers/LM-1/slas").get_data(as_text=True)
    assert "Role on time" in page and "Role default: Last-mile courier" in page
    assert "Own lost rate" in page and "Own SLA" in page
    assert "at least 95.0%" in page and "at most 1.0%" in page
    assert "Role on time" in client.get("/suppliers/roles/last_mile/slas").get_data(as_text=True)


def test_revise_creates_version_2_and_keeps_version_1(login_as, make_supplier):
    supplier = make_supplier(code="LM-1", chain_roles=["last_mile"])
    first = create_standard({**_form(target="0.9", tolerance_minutes=0), "valid_from": dt.date(2026, 1, 1),
                             "valid_to": None}, None, supplier=supplier)
    db.session.commit()
    client = login_as("quality_manager")
    url = f"/suppliers/slas/{first.series_id}/revise"

    page = client.get(url).get_data(as_text=True)
    assert _value_of(page, "target") == "90"      # the agreed 0.9 shown back in percent

    response = client.post_form(url, _form(target="80", valid_from="2026-03-01", reason=""))
    assert response.status_code == 422 and _error_of(response.get_data(as_text=True), "reason")
    # The metric cannot be changed by posting another one: a revision measures the same thing.
    response = client.post_form(url, _form(target="80", metric="lost_rate", valid_from="2026-03-01",
                                           reason="New contract signed"))
    assert response.status_code == 302
    v1, v2 = _standards()
    assert (v1.version, v1.valid_to, v1.target) == (1, dt.date(2026, 2, 28), Decimal("0.9"))
    assert (v2.version, v2.series_id, v2.valid_from, v2.valid_to) == (2, v1.series_id, dt.date(2026, 3, 1), None)
    assert (v2.metric, v2.target) == ("on_time_rate", Decimal("0.8"))
    page = client.get("/suppliers/LM-1/slas").get_data(as_text=True)
    assert "v1" in page and "v2" in page and "2 versions" in page


def test_only_the_version_in_force_can_be_revised(login_as, make_supplier):
    supplier = make_supplier(code="LM-1", chain_roles=["last_mile"])
    ended = create_standard({**_form(target="0.9"), "valid_from": dt.date(2025, 1, 1),
                             "valid_to": dt.date(2025, 12, 31)}, None, supplier=supplier)
    db.session.commit()
    client = login_as("quality_manager")
    page = client.get(f"/suppliers/slas/{ended.series_id}/revise").get_data(as_text=True)
    assert "Only the version in force can be revised" in page and 'name="reason"' not in page
    response = client.post_form(f"/suppliers/slas/{ended.series_id}/revise",
                                _form(target="80", valid_from="2026-03-01", reason="Try"))
    assert response.status_code == 422 and len(_standards()) == 1


def test_scorecard_shows_cells_chart_and_penalties(login_as, make_supplier, fixed_today):
    courier = make_supplier(code="SC-1", chain_roles=["last_mile"])
    sla(courier, name="On time", penalty_kind="fixed", penalty_amount="500")
    record(on_time(courier, JAN), late(courier, MAR))
    response = login_as("viewer").get("/suppliers/SC-1/scorecard?months=6")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    # Six months up to March 2026; October to December before the SLA, January met, February empty.
    headers = re.findall(r'<th scope="col" class="text-nowrap">(\d{4}-\d{2})', page)
    assert headers == ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03"]
    cells = re.findall(r'<td class="sla-cell sla-([a-z-]+) text-bg-(\w+)" title="([^"]+)">', page)
    assert cells == [("not-agreed", "light", "2025-10: No SLA in force"),
                     ("not-agreed", "light", "2025-11: No SLA in force"),
                     ("not-agreed", "light", "2025-12: No SLA in force"),
                     ("met", "success", "2026-01: Met"),
                     ("no-data", "secondary", "2026-02: Not enough data"),
                     ("breached", "danger", "2026-03: Breached")]
    assert '<span class="visually-hidden">Breached:</span>' in page and "100.0%" in page and "0.0%" in page
    assert page.count("€500.00") >= 3           # the March cell, the SLA total and the page total
    assert 'role="img"' in page and "<title>On time: trend over the last 6 periods</title>" in page
    assert 'class="chart-target"' in page and 'class="chart-line"' in page
    assert 'class="chart-point fill-danger"' in page and 'class="chart-point fill-success"' in page
    assert " style=" not in page and "<script>" not in page


def test_scorecard_of_a_supplier_without_slas(login_as, make_supplier):
    make_supplier(code="SC-2")
    page = login_as("viewer").get("/suppliers/SC-2/scorecard").get_data(as_text=True)
    assert "No SLA applies to this supplier in these periods." in page


def test_ranking_page_shows_the_formula_and_scores(login_as, make_supplier, fixed_today):
    _role_with_four_suppliers(make_supplier)
    page = login_as("viewer").get("/suppliers/roles/last_mile/ranking?months=3").get_data(as_text=True)
    assert "Σ(<var>w</var><sub>i</sub> · <var>a</var><sub>i</sub>) / Σ <var>w</var><sub>i</sub>" in page
    order = [page.index(code) for code in ("B-LM", "A-LM", "F-LM", "C-LM")]
    assert order == sorted(order)
    scores = re.findall(r'<strong class="score">([^<]+)</strong>', page)
    assert scores == ["100.0%", "55.6%", "0.0%"]
    assert "(2 × 66.7% + 1 × 33.3%) / 3 = 55.6%" in page
    assert "no data" in page


def test_unknown_role_is_not_found(login_as):
    client = login_as("viewer")
    assert client.get("/suppliers/roles/pirate/slas").status_code == 404
    assert client.get("/suppliers/roles/pirate/ranking").status_code == 404


def test_sla_routes_do_not_collide_with_supplier_codes(app):
    adapter = app.url_map.bind("localhost")
    expected = {
        "/suppliers/ROLES": ("suppliers.detail", {"code": "ROLES"}),
        "/suppliers/SLAS": ("suppliers.detail", {"code": "SLAS"}),
        "/suppliers/CAR-1/slas": ("suppliers.supplier_slas", {"code": "CAR-1"}),
        "/suppliers/CAR-1/slas/new": ("suppliers.new_supplier_sla", {"code": "CAR-1"}),
        "/suppliers/CAR-1/scorecard": ("suppliers.scorecard", {"code": "CAR-1"}),
        "/suppliers/roles/": ("suppliers.roles", {}),
        "/suppliers/roles/carrier/slas": ("suppliers.role_slas", {"role": "carrier"}),
        "/suppliers/roles/carrier/slas/new": ("suppliers.new_role_sla", {"role": "carrier"}),
        "/suppliers/roles/carrier/ranking": ("suppliers.ranking", {"role": "carrier"}),
        "/suppliers/slas/7/revise": ("suppliers.revise_sla", {"series_id": 7}),
        "/suppliers/CAR-1/contacts/new": ("suppliers.add_contact", {"code": "CAR-1"}),
    }
    assert {url: adapter.match(url) for url in expected} == expected


def test_sla_pages_render_in_italian(login_as, make_supplier, fixed_today):
    _role_with_four_suppliers(make_supplier)
    client = login_as("quality_manager", locale="it")
    for url in ("/suppliers/A-LM/slas", "/suppliers/A-LM/slas/new", "/suppliers/A-LM/scorecard",
                "/suppliers/roles/", "/suppliers/roles/last_mile/slas", "/suppliers/roles/last_mile/ranking"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert '<html lang="it">' in response.get_data(as_text=True)
    page = client.get("/suppliers/roles/last_mile/ranking").get_data(as_text=True)
    assert "55,6%" in page
