"""Olist's public e-commerce sample → one CSV in Catena's leg import format.

    .venv/bin/python -m examples.olist.convert DATA_DIR OUT.csv

Reads `olist_order_items_dataset.csv` and `olist_orders_dataset.csv` from DATA_DIR with the
csv module and writes one row per leg, under the header `incidents.services.legs.LEG_FIELDS`:

- **seller handover**, one per (order, seller): supplier = the seller id in capitals (Catena's
  supplier codes are upper case); promised = the earliest `shipping_limit_date` of that seller's
  items in the order; actual = `order_delivered_carrier_date`; position 1 in the chain.
- **last mile**, one per order, handled by `OLIST-CARRIER` (Olist does not name its carriers):
  promised = the end of the day `order_estimated_delivery_date`, i.e. 23:59:59 local time of
  that date: Olist promises a day, not a moment, and writes it as that day's midnight, so an
  order delivered at 14:00 on the estimated day is on time; actual =
  `order_delivered_customer_date`; position 2.
- Orders whose status is `canceled` or `unavailable` give legs with the outcome `cancelled`,
  which no SLA counts. Any other leg is `completed` when its actual time is known and open
  (outcome empty) when it is not.
- Every leg carries its order: reference = `order_id`, customer = `customer_id`, placed at =
  `order_purchase_timestamp`, value = the sum of `price` + `freight_value` of the order's items
  (empty for an order without items), channel `olist`. Leg ids are
  `olist:{order_id}:handover:{seller_id}` and `olist:{order_id}:last_mile`, so converting and
  importing again updates the same legs.

Times are Brazil local time as Olist writes them, and are written as naive ISO times
("2017-10-02 10:56:33"): the import profile that reads the file says America/Sao_Paulo.

Nothing is repaired here. The data's errors go into the file as they are, for the import to
report row by row (a handover before the purchase is a warning; a missing or unreadable promise,
or a promise more than a year from the actual time, rejects the row), and are counted in the
summary. An order marked `delivered` without a delivery date keeps an open last-mile leg: it is
what the data says, and an open leg past its promise counts as late, which is the honest reading
of a delivery nobody recorded.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path

from incidents.services.legs import LEG_FIELDS, MAX_PLAUSIBLE_GAP

ORDERS_FILE = "olist_orders_dataset.csv"
ITEMS_FILE = "olist_order_items_dataset.csv"
SELLERS_FILE = "olist_sellers_dataset.csv"

#: The one supplier that stands for every carrier: Olist does not say who delivered.
CARRIER_CODE = "OLIST-CARRIER"
CARRIER = {
    "code": CARRIER_CODE,
    "legal_name": "Olist carrier network (unnamed carriers)",
    "country": "BR",
    "chain_roles": ["carrier", "last_mile"],
}

#: Order statuses that mean the order never went through: its legs are cancelled.
CANCELLED_STATUSES = frozenset({"canceled", "unavailable"})
CHANNEL = "olist"
TIMEZONE = "America/Sao_Paulo"

#: A promised day ends at its last second (local time).
END_OF_DAY = dt.time(23, 59, 59)


@dataclass
class ConversionSummary:
    """What a conversion wrote, and the data problems it passed on to the import."""

    orders: int = 0
    sellers: int = 0
    handover_legs: int = 0
    last_mile_legs: int = 0
    cancelled_legs: int = 0
    #: Legs without an actual time that are not cancelled.
    open_legs: int = 0
    #: Orders with no item lines (mostly `unavailable` ones): a last-mile leg only.
    orders_without_items: int = 0

    # Data problems; the import reports each affected row.
    #: Status `delivered` but no `order_delivered_customer_date`: the last mile stays open.
    delivered_without_delivery_date: int = 0
    #: `order_delivered_carrier_date` before `order_purchase_timestamp`.
    handover_before_purchase: int = 0
    #: Legs without a promised time (empty or unreadable): the import rejects them.
    legs_without_promise: int = 0
    #: Legs whose promise and actual time are more than a year apart: the import rejects them.
    implausible_gaps: int = 0
    #: Cells that should hold a time or an amount and do not (besides missing promises).
    unreadable_values: int = 0
    #: Item lines whose order is not in the orders file: skipped.
    items_without_order: int = 0

    PROBLEMS = ("delivered_without_delivery_date", "handover_before_purchase", "legs_without_promise",
                "implausible_gaps", "unreadable_values", "items_without_order")

    @property
    def legs(self) -> int:
        return self.handover_legs + self.last_mile_legs

    def problems(self) -> dict[str, int]:
        """The data problems found, by kind, leaving out kinds that did not occur."""
        return {name: getattr(self, name) for name in self.PROBLEMS if getattr(self, name)}

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class _OrderItems:
    """What the item lines of one order say: each seller's earliest shipping limit, the value."""

    #: seller id → earliest shipping limit (or the raw text when none of its limits is readable).
    limits: dict[str, dt.datetime | str]
    value: Decimal | None = Decimal("0.00")


def _open(path: Path):
    return path.open(newline="", encoding="utf-8")


def _local_time(text: str | None) -> dt.datetime | None:
    """A naive local time from Olist's `YYYY-MM-DD HH:MM:SS`; None when empty.

    Raises ValueError for text that is not a time.
    """
    text = (text or "").strip()
    return dt.datetime.fromisoformat(text) if text else None


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(sep=" ")


def _read_items(path: Path, summary: ConversionSummary) -> dict[str, _OrderItems]:
    orders: dict[str, _OrderItems] = {}
    sellers = set()
    with _open(path) as f:
        for row in csv.DictReader(f):
            order_id, seller_id = row["order_id"].strip(), row["seller_id"].strip()
            items = orders.setdefault(order_id, _OrderItems(limits={}))
            sellers.add(seller_id)
            raw_limit = row["shipping_limit_date"]
            try:
                limit = _local_time(raw_limit)
            except ValueError:
                summary.unreadable_values += 1
                limit = None
            known = items.limits.get(seller_id)
            if limit is not None and (not isinstance(known, dt.datetime) or limit < known):
                items.limits[seller_id] = limit
            elif known is None:
                # No readable limit yet: keep the text, for the import to name it.
                items.limits[seller_id] = (raw_limit or "").strip()
            if items.value is not None:
                try:
                    items.value += Decimal(row["price"]) + Decimal(row["freight_value"])
                except (InvalidOperation, TypeError):
                    summary.unreadable_values += 1
                    items.value = None
    summary.sellers = len(sellers)
    return orders


def _time_or_text(text: str | None, summary: ConversionSummary) -> tuple[dt.datetime | None, str]:
    """The parsed time and what to write: the ISO time, or the source text if unreadable."""
    try:
        moment = _local_time(text)
    except ValueError:
        summary.unreadable_values += 1
        return None, (text or "").strip()
    return moment, _iso(moment) if moment else ""


def _is_implausible(promised, actual) -> bool:
    return (isinstance(promised, dt.datetime) and actual is not None
            and abs(actual - promised) > MAX_PLAUSIBLE_GAP)


def convert(data_dir: Path, out_csv: Path) -> ConversionSummary:
    """Write Olist's orders in `data_dir` as legs to `out_csv` (see the module docstring)."""
    data_dir, out_csv = Path(data_dir), Path(out_csv)
    summary = ConversionSummary()
    items_by_order = _read_items(data_dir / ITEMS_FILE, summary)
    seen_orders = set()

    with _open(data_dir / ORDERS_FILE) as source, out_csv.open("w", newline="", encoding="utf-8") as target:
        writer = csv.DictWriter(target, fieldnames=LEG_FIELDS, lineterminator="\n")
        writer.writeheader()
        for order in csv.DictReader(source):
            order_id = order["order_id"].strip()
            seen_orders.add(order_id)
            summary.orders += 1
            status = (order["order_status"] or "").strip().lower()
            is_cancelled = status in CANCELLED_STATUSES
            placed, placed_text = _time_or_text(order["order_purchase_timestamp"], summary)
            handed_over, handed_over_text = _time_or_text(order["order_delivered_carrier_date"], summary)
            delivered, delivered_text = _time_or_text(order["order_delivered_customer_date"], summary)
            items = items_by_order.get(order_id)
            if items is None:
                summary.orders_without_items += 1
            if placed and handed_over and handed_over < placed:
                summary.handover_before_purchase += 1
            common = {
                "order_ref": order_id,
                "customer_ref": (order["customer_id"] or "").strip(),
                "order_placed_at": placed_text,
                "order_channel": CHANNEL,
                "order_value": f"{items.value:.2f}" if items and items.value is not None else "",
            }

            def write(leg: dict, promised, actual_text: str) -> None:
                if is_cancelled:
                    outcome = "cancelled"
                    summary.cancelled_legs += 1
                elif actual_text:
                    outcome = "completed"
                else:
                    outcome = ""
                    summary.open_legs += 1
                if not isinstance(promised, dt.datetime):
                    summary.legs_without_promise += 1
                writer.writerow({**common, **leg, "actual_at": actual_text, "outcome": outcome})

            for seller_id, limit in sorted((items.limits if items else {}).items()):
                summary.handover_legs += 1
                if _is_implausible(limit, handed_over):
                    summary.implausible_gaps += 1
                write({
                    "external_id": f"olist:{order_id}:handover:{seller_id}",
                    "stage": "seller_handover",
                    "supplier_code": seller_id.upper(),
                    "promised_at": _iso(limit) if isinstance(limit, dt.datetime) else limit,
                    "sequence": "1",
                }, limit, handed_over_text)

            estimated, estimated_text = _time_or_text(order["order_estimated_delivery_date"], summary)
            promised = dt.datetime.combine(estimated.date(), END_OF_DAY) if estimated else None
            summary.last_mile_legs += 1
            if _is_implausible(promised, delivered):
                summary.implausible_gaps += 1
            if status == "delivered" and not delivered_text:
                summary.delivered_without_delivery_date += 1
            write({
                "external_id": f"olist:{order_id}:last_mile",
                "stage": "last_mile",
                "supplier_code": CARRIER_CODE,
                "promised_at": _iso(promised) if promised else estimated_text,
                "sequence": "2",
            }, promised, delivered_text)

    summary.items_without_order = sum(1 for order_id in items_by_order if order_id not in seen_orders)
    return summary


def sellers(data_dir: Path) -> Iterator[dict]:
    """The Olist sellers as supplier fields for `suppliers.services.create_supplier`."""
    with _open(Path(data_dir) / SELLERS_FILE) as f:
        for row in csv.DictReader(f):
            seller_id = row["seller_id"].strip()
            city, state = (row["seller_city"] or "").strip(), (row["seller_state"] or "").strip()
            place = ", ".join(part for part in (city, state) if part)
            yield {
                "code": seller_id.upper(),
                "legal_name": f"Olist seller {seller_id[:8]}" + (f" ({place})" if place else ""),
                "country": "BR",
                "city": city or None,
                "chain_roles": ["seller"],
            }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.olist.convert",
                                     description="Convert the Olist sample into Catena's leg import format.")
    parser.add_argument("data_dir", type=Path, help="folder holding the olist_*_dataset.csv files")
    parser.add_argument("out_csv", type=Path, help="the CSV file to write")
    args = parser.parse_args(argv)
    summary = convert(args.data_dir, args.out_csv)
    print(f"{summary.legs} legs ({summary.handover_legs} seller handovers, {summary.last_mile_legs} last mile) "
          f"for {summary.orders} orders and {summary.sellers} sellers → {args.out_csv}")
    print(f"  cancelled {summary.cancelled_legs}, open {summary.open_legs}, "
          f"orders without items {summary.orders_without_items}")
    for name, count in summary.problems().items():
        print(f"  data problem: {name.replace('_', ' ')}: {count}")
    print(f"Import it with a profile whose time zone is {TIMEZONE}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
