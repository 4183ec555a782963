"""Olist customer reviews → Catena incidents: real complaints on real chains.

    .venv/bin/python -m examples.olist.reviews DATA_DIR

A review becomes an incident when it scores 1 or 2 stars and its title or comment speaks of
the delivery (Portuguese words listed in DELIVERY_WORDS, matched without accents and case).
The incident is on the review's order, channel `web`, reported at `review_creation_date`
(Brazil local time), with the review's text as description and its score as CSAT. The
category comes from the text where it is clear (CATEGORY_WORDS, first match wins: damage,
then wrong item, then "never arrived" on an order with no delivery date = lost parcel);
otherwise it is a late delivery. Olist's answer to the review (`review_answer_timestamp`) is
the incident's first response and resolution. The incident's ticket id is
`olist-review:{review_id}`, so loading again finds the same incidents.
"""
from __future__ import annotations

import csv
import datetime as dt
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REVIEWS_FILE = "olist_order_reviews_dataset.csv"
ORDERS_FILE = "olist_orders_dataset.csv"

#: Words (accents removed, lower case) that make a complaint one about the delivery.
DELIVERY_WORDS = ("entrega", "entregue", "recebi", "chegou", "prazo", "atraso", "atrasad", "correio",
                  "transportadora", "frete", "rastreio", "rastreamento")
#: Category by words, tried in this order; `lost_parcel` also needs an order never delivered.
CATEGORY_WORDS = (
    ("damaged_goods", ("quebrad", "danificad", "avariad", "amassad", "rasgad", "estragad")),
    ("wrong_item", ("errad", "diferente do", "trocad", "nao era o")),
    ("lost_parcel", ("nao recebi", "nao chegou", "nunca chegou", "extraviad", "nao foi entregue")),
)


@dataclass(frozen=True)
class ReviewComplaint:
    external_id: str
    order_ref: str
    category: str
    description: str
    reported_at: dt.datetime  # naive, Brazil local time
    #: When Olist answered the review (naive, Brazil local time), if it did.
    answered_at: dt.datetime | None
    csat: int


def plain(text: str) -> str:
    """Lower case without accents, for matching Portuguese words however they are typed."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _undelivered_orders(data_dir: Path) -> set[str]:
    with open(data_dir / ORDERS_FILE, newline="", encoding="utf-8-sig") as handle:
        return {row["order_id"] for row in csv.DictReader(handle)
                if not (row.get("order_delivered_customer_date") or "").strip()}


def category_of(text: str, is_undelivered: bool) -> str:
    words = plain(text)
    for category, markers in CATEGORY_WORDS:
        if any(marker in words for marker in markers):
            if category == "lost_parcel" and not is_undelivered:
                continue
            return category
    return "late_delivery"


def complaints(data_dir: Path) -> Iterator[ReviewComplaint]:
    """The delivery complaints among the reviews, in file order."""
    undelivered = _undelivered_orders(data_dir)
    with open(data_dir / REVIEWS_FILE, newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            try:
                score = int(row["review_score"])
            except (TypeError, ValueError):
                continue
            text = " — ".join(part.strip() for part in (row.get("review_comment_title") or "",
                                                        row.get("review_comment_message") or "") if part.strip())
            if score > 2 or not text or not any(word in plain(text) for word in DELIVERY_WORDS):
                continue
            try:
                reported = dt.datetime.fromisoformat(row["review_creation_date"].strip())
            except (KeyError, ValueError):
                continue
            try:
                answered = dt.datetime.fromisoformat((row.get("review_answer_timestamp") or "").strip())
            except ValueError:
                answered = None
            yield ReviewComplaint(
                external_id=f"olist-review:{row['review_id']}", order_ref=row["order_id"],
                category=category_of(text, row["order_id"] in undelivered),
                description=re.sub(r"\s+", " ", text)[:2000], reported_at=reported, answered_at=answered,
                csat=score,
            )


def main(argv: list[str] | None = None) -> int:
    data_dir = Path((argv or sys.argv[1:])[0])
    counts: dict[str, int] = {}
    for complaint in complaints(data_dir):
        counts[complaint.category] = counts.get(complaint.category, 0) + 1
    print(", ".join(f"{category} {n}" for category, n in sorted(counts.items())) or "no complaints")
    return 0


if __name__ == "__main__":
    sys.exit(main())
