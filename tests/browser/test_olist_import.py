"""Importing a slice of the real Olist sample through the import pages, in a real browser.

The slice is the first orders of the shared sample, their item lines and their sellers, put
through the converter in examples/olist/ as `make olist` does; the expected number of legs is
counted here from the raw files, never through the converter.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db import db
from app.demo.olist import DEFAULT_DATA_DIR
from examples.olist import convert as olist
from incidents.models import ImportBatch, Leg
from suppliers.services import create_supplier
from tests.factories import Factories

ORDERS_IN_SLICE = 20

pytestmark = pytest.mark.skipif(not (DEFAULT_DATA_DIR / olist.ORDERS_FILE).is_file(),
                                reason=f"the shared Olist sample is not at {DEFAULT_DATA_DIR}")


def _slice(source: Path, target: Path, keep) -> list[dict]:
    """Copy the rows of an Olist file that `keep` accepts; return them."""
    with source.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = [row for row in reader if keep(row)]
        fields = reader.fieldnames
    with target.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return rows


@pytest.fixture
def olist_slice(tmp_path) -> tuple[Path, int, Path]:
    """(the legs file converted from the first orders, the legs expected, the slice's folder)."""
    data = tmp_path / "olist-slice"
    data.mkdir()
    with (DEFAULT_DATA_DIR / olist.ORDERS_FILE).open(newline="", encoding="utf-8") as f:
        order_ids = {row["order_id"] for _, row in zip(range(ORDERS_IN_SLICE), csv.DictReader(f))}
    orders = _slice(DEFAULT_DATA_DIR / olist.ORDERS_FILE, data / olist.ORDERS_FILE,
                    lambda row: row["order_id"] in order_ids)
    items = _slice(DEFAULT_DATA_DIR / olist.ITEMS_FILE, data / olist.ITEMS_FILE,
                   lambda row: row["order_id"] in order_ids)
    seller_ids = {row["seller_id"] for row in items}
    _slice(DEFAULT_DATA_DIR / olist.SELLERS_FILE, data / olist.SELLERS_FILE, lambda row: row["seller_id"] in seller_ids)
    # One handover per order and seller, one last mile per order.
    expected = len({(row["order_id"], row["seller_id"]) for row in items}) + len(orders)
    legs_csv = tmp_path / "olist-legs.csv"
    olist.convert(data, legs_csv)
    return legs_csv, expected, data


def test_a_quality_manager_imports_the_olist_sample_through_a_new_mapping(journey, seeded, olist_slice):
    legs_csv, expected_legs, data = olist_slice
    with seeded():
        manager = Factories().user("quality_manager")
        for values in [olist.CARRIER, *olist.sellers(data)]:
            create_supplier(values, actor=None)
        db.session.commit()
    page = journey.page
    journey.sign_in(manager.email)

    page.get_by_role("link", name="Imports").click()
    journey.step("past imports")
    journey.goto("/imports/new")
    page.get_by_label("File (.csv or .xlsx)").set_input_files(str(legs_csv))
    journey.step("upload")
    page.get_by_role("button", name="Upload and continue").click()
    page.wait_for_url(re.compile(r".*/imports/files/[0-9a-f]{32}/mapping$"))
    # Catena's column names are recognised; the zone and the profile's name are the user's.
    assert page.get_by_label("Promised time").input_value() == "promised_at"
    page.get_by_label("Profile name").fill("olist-browser")
    page.get_by_label("Time zone of the file's times").select_option(olist.TIMEZONE)
    journey.step("mapping")
    page.get_by_role("button", name="Save the profile and continue").click()
    page.wait_for_url(re.compile(r".*/run\?profile=olist-browser$"))
    journey.step("confirm")
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_url(re.compile(r".*/imports/\d+$"))
    journey.expect_message(f"Import finished: {expected_legs} legs created, 0 updated, 0 rows set aside.")
    journey.step("batch page")

    batch_id = int(page.url.rsplit("/", 1)[1])
    with seeded():
        batch = db.session.get(ImportBatch, batch_id)
        assert (batch.status, batch.rows_created, batch.file_name) == ("complete", expected_legs, "olist-legs.csv")
        assert db.session.scalar(select(func.count()).select_from(Leg).where(
            Leg.external_id.like("olist:%"))) == expected_legs
