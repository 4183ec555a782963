"""The dashboard's figures open exactly the incidents behind them."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from incidents.services.incidents import BacklogFilters, backlog
from tests.suppliers.test_incident_metrics import at, incident


def test_list_filters_by_span_channel_status_and_attributed_supplier(make_supplier):
    carrier = make_supplier(code="CAR-F")
    seller = make_supplier(code="SEL-F")
    march = incident(at("2026-03-10"), shares=[(carrier, Decimal(1))])
    shared = incident(at("2026-03-20"), shares=[(carrier, Decimal("0.5")), (seller, Decimal("0.5"))])
    april = incident(at("2026-04-02"), shares=[(carrier, Decimal(1))])             # outside the span
    moved = incident(at("2026-03-12"), shares=[(seller, Decimal(1))], revisions=2)  # revision 1 blamed nobody
    shared.status, shared.channel = "closed", "phone"

    def found(**filters):
        return {i.id for i in backlog(BacklogFilters(include_closed=True, reported_from=dt.date(2026, 3, 1),
                                                     reported_to=dt.date(2026, 3, 31), **filters)).items}

    assert found() == {march.id, shared.id, moved.id}
    assert found(attributed_to="car-f") == {march.id, shared.id}
    assert found(attributed_to="SEL-F") == {shared.id, moved.id}
    assert found(channel="phone") == {shared.id}
    # The open backlog (no "every status") leaves the closed one out.
    assert {i.id for i in backlog(BacklogFilters(reported_from=dt.date(2026, 3, 1))).items} == {
        march.id, moved.id, april.id}


def test_a_dashboard_figure_links_to_its_incidents(login_as, make_supplier):
    carrier = make_supplier(code="CAR-G")
    incident(at("2026-03-10"), shares=[(carrier, Decimal(1))])
    incident(at("2026-03-11"), shares=[(carrier, Decimal(1))])
    incident(at("2026-05-01"), shares=[(carrier, Decimal(1))])
    from app.db import db
    db.session.commit()
    client = login_as("viewer")
    page = client.get("/service/dashboard?from=2026-03&to=2026-03").get_data(as_text=True)
    link = re.search(r'href="(/incidents/\?[^"]*attributed=CAR-G[^"]*)"', page).group(1).replace("&amp;", "&")
    listed = client.get(link).get_data(as_text=True)
    assert listed.count('href="/incidents/') - listed.count('href="/incidents/?') >= 2
    assert "attributed to CAR-G" in listed
