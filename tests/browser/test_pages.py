"""Every page of the main navigation, and the pages of one supplier, pass the accessibility
check (tests/browser/accessibility.py) for an administrator, who sees them all."""
from __future__ import annotations

import datetime as dt

from app.db import db
from suppliers import services as supplier_services
from suppliers.services.standards import create_standard
from tests.factories import Factories
from tests.questionnaires.conftest import build_questionnaire


def test_every_page_of_the_main_navigation_passes_the_accessibility_check(journey, seeded):
    with seeded():
        factories = Factories()
        admin = factories.user("admin")
        supplier = factories.supplier(code="CAR-BRW-5", chain_roles=["carrier"], status="approved")
        supplier_services.add_contact(supplier, {"name": "Lia Neri", "email": "lia@brw5.example",
                                                 "is_primary": True}, None)
        create_standard({"name": "On-time delivery", "metric": "on_time_rate", "stage": "last_mile",
                         "comparator": "gte", "target": "0.95", "window": "month", "min_sample": 1,
                         "valid_from": dt.date(2026, 1, 1)}, None, supplier=supplier)
        template_id = build_questionnaire(name="Carrier qualification (pages)").template_id
        db.session.commit()
    page = journey.page
    journey.sign_in(admin.email)

    navigation = page.get_by_role("navigation", name="Main navigation")
    links = navigation.locator("a[href^='/']").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    paths = list(dict.fromkeys(links))
    assert len(paths) >= 12, paths  # the whole menu: an administrator may open every page
    paths += ["/suppliers/CAR-BRW-5/scorecard", "/suppliers/CAR-BRW-5/slas", "/suppliers/CAR-BRW-5/edit",
              f"/questionnaires/templates/{template_id}"]
    for path in paths:
        response = journey.goto(path)
        assert response.status == 200, path
        journey.step(path.strip("/") or "overview")
