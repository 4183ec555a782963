"""Registering a supplier and finding it again, in a real browser."""
from __future__ import annotations

from tests.factories import Factories


def test_a_quality_manager_registers_a_supplier_and_finds_it_by_name(journey, seeded):
    with seeded():
        manager = Factories().user("quality_manager")
    page = journey.page
    journey.sign_in(manager.email)
    journey.step("overview")

    page.get_by_role("link", name="New supplier").click()
    page.get_by_label("Code", exact=True).fill("CAR-BRW-1")
    page.get_by_label("Legal name").fill("Corrieri Lagunari S.p.A.")
    page.get_by_label("Country").select_option("IT")
    page.get_by_label("City").fill("Venezia")
    page.get_by_role("checkbox", name="Carrier").check()
    page.get_by_label("Risk class").select_option("high")
    journey.step("new supplier form filled")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(journey.url("/suppliers/CAR-BRW-1"))
    journey.expect_message("Supplier CAR-BRW-1 registered.")
    assert page.get_by_role("heading", level=1).inner_text().startswith("CAR-BRW-1")
    journey.step("supplier page")

    # A second supplier works for the first: its code comes from the type-ahead.
    journey.goto("/suppliers/new")
    page.get_by_label("Code", exact=True).fill("SUB-BRW-1")
    page.get_by_label("Legal name").fill("Pony Express Mestre")
    page.get_by_label("Country").select_option("IT")
    page.get_by_label("Subcontractor of (supplier code)").press_sequentially("Lagun")
    suggestion = page.locator("#supplier-codes option[value='CAR-BRW-1']")
    suggestion.wait_for(state="attached")
    assert suggestion.get_attribute("label") == "CAR-BRW-1 — Corrieri Lagunari S.p.A."
    page.get_by_label("Subcontractor of (supplier code)").fill("CAR-BRW-1")
    page.get_by_role("button", name="Save").click()
    # Forgot its role: the form comes back with the error next to the field, nothing saved.
    page.get_by_text("Choose at least one chain role.").wait_for()
    assert page.get_by_label("Legal name").input_value() == "Pony Express Mestre"
    journey.step("validation error")
    page.get_by_role("checkbox", name="Last-mile courier").check()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(journey.url("/suppliers/SUB-BRW-1"))
    journey.step("subcontractor page")

    # Found from the register by part of its name.
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Suppliers").click()
    search = page.get_by_role("search", name="Filter suppliers")
    search.get_by_label("Search").fill("lagunari")
    search.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/suppliers/?q=lagunari**")
    rows = page.locator("table tbody tr")
    assert rows.count() == 1 and "CAR-BRW-1" in rows.first.inner_text()
    journey.step("register filtered")
    rows.first.get_by_role("link", name="CAR-BRW-1").click()
    page.wait_for_url(journey.url("/suppliers/CAR-BRW-1"))
    assert page.get_by_text("SUB-BRW-1").count() >= 1  # its subcontractor is shown in its chain
    journey.step("found supplier page")
