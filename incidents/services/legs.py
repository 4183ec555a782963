"""Recording orders and legs, from a file, the API or a converter.

Rows arrive as text (a CSV cell, a JSON value). `parse_leg_row` turns one into a checked
`LegInput` or a list of `RowProblem`s naming the column and the reason; `record_legs` then
writes a batch of checked inputs in a few set-based statements, updating the legs whose
external id is already known instead of duplicating them.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select, update

from app.db import db, utcnow
from app.errors import ValidationFailed
from app.i18n import company_zone
from incidents.models import STAGE_ORDER, ImportBatch, Leg, LegOutcome, LegStage, Order
from incidents.services.stats import add_legs, subtract_legs
from suppliers.models import Supplier

#: Fields of Catena's leg format, in the order of its CSV template. Required ones first.
LEG_FIELDS = (
    "external_id", "order_ref", "stage", "supplier_code", "promised_at",
    "actual_at", "outcome", "sequence", "customer_ref", "order_placed_at", "order_channel",
    "order_value", "excluded", "exclusion_reason",
)
REQUIRED_LEG_FIELDS = ("external_id", "order_ref", "stage", "supplier_code", "promised_at")

FIELD_LABELS = {
    "external_id": _l("Leg id"),
    "order_ref": _l("Order reference"),
    "stage": _l("Stage"),
    "supplier_code": _l("Supplier code"),
    "promised_at": _l("Promised time"),
    "actual_at": _l("Actual time"),
    "outcome": _l("Outcome"),
    "sequence": _l("Position in the chain"),
    "customer_ref": _l("Customer reference"),
    "order_placed_at": _l("Order placed at"),
    "order_channel": _l("Sales channel"),
    "order_value": _l("Order value"),
    "excluded": _l("Force majeure"),
    "exclusion_reason": _l("Force majeure reason"),
}

#: A promise and an actual time further apart than this are a typing error, not a delay.
MAX_PLAUSIBLE_GAP = dt.timedelta(days=365)

_TRUE = {"1", "true", "yes", "y", "si", "sì", "x", "vero"}
_FALSE = {"", "0", "false", "no", "n", "falso"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class RowProblem:
    """One problem with one row: an error stops the row, a warning only informs."""

    row: int
    column: str | None
    message: str
    is_error: bool = True

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": str(self.message),
                "severity": "error" if self.is_error else "warning"}


@dataclass
class LegInput:
    external_id: str
    order_ref: str
    stage: str
    supplier_code: str
    promised_at: dt.datetime
    actual_at: dt.datetime | None = None
    outcome: str | None = None
    sequence: int | None = None
    customer_ref: str | None = None
    order_placed_at: dt.datetime | None = None
    order_channel: str | None = None
    order_value: Decimal | None = None
    is_excluded: bool = False
    exclusion_reason: str | None = None
    #: Row number in the source, for messages.
    row: int = 0
    warnings: list[RowProblem] = field(default_factory=list)


def _text(value, limit: int) -> str | None:
    if value is None:
        return None
    text = _CONTROL.sub("", str(value)).strip()
    if text.startswith("'") and len(text) > 1 and text[1] in "=+-@":
        text = text[1:]  # the quote our own exports add against formula injection
    return text[:limit] if text else None


def parse_datetime(value, zone: ZoneInfo, fmt: str | None = None) -> dt.datetime | None:
    """A time from a cell: ISO 8601 (with or without offset) or `fmt`; naive means `zone`.

    Raises ValueError for text that is not a time. Naive times that fall in a DST gap are
    moved forward, as clocks do; in the repeated hour the first (summer-time) one is taken.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime.combine(value, dt.time())
    else:
        text = str(value).strip()
        if not text:
            return None
        if fmt:
            parsed = dt.datetime.strptime(text, fmt)
        else:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
        # Round-trip through UTC: a nonexistent local time (spring gap) comes back moved.
        parsed = parsed.astimezone(dt.timezone.utc).astimezone(zone)
    if not 1900 <= parsed.year <= 2200:
        raise ValueError("year out of range")
    return parsed.astimezone(dt.timezone.utc)


_STAGE_SYNONYMS = {s.value: s.value for s in LegStage} | {
    "seller": "seller_handover", "handover": "seller_handover", "line-haul": "line_haul",
    "linehaul": "line_haul", "last-mile": "last_mile", "lastmile": "last_mile", "pickup": "pickup_point",
    "pick-up point": "pickup_point", "returns": "return",
}


def parse_leg_row(raw: dict, row: int, zone: ZoneInfo, datetime_format: str | None = None
                  ) -> tuple[LegInput | None, list[RowProblem]]:
    """Check one row of Catena's leg format (field name → text). Suppliers are checked later,
    in bulk, by `check_suppliers`."""
    problems: list[RowProblem] = []

    def error(column, message):
        problems.append(RowProblem(row, column, message))

    values = {name: _text(raw.get(name), 300) for name in LEG_FIELDS if name not in
              ("promised_at", "actual_at", "order_placed_at")}
    for name in REQUIRED_LEG_FIELDS:
        if name in values and not values[name]:
            error(name, _l("Required, but empty."))
    if values.get("external_id") and len(values["external_id"]) > 100:
        error("external_id", _l("At most %(n)d characters.", n=100))
    for name, limit in (("order_ref", 64), ("customer_ref", 64), ("order_channel", 40), ("supplier_code", 32)):
        if values.get(name) and len(values[name]) > limit:
            error(name, _l("At most %(n)d characters.", n=limit))

    stage = None
    if values.get("stage"):
        stage = _STAGE_SYNONYMS.get(values["stage"].lower().replace(" ", "_"))
        if stage is None:
            error("stage", _l("Unknown stage “%(value)s”; use one of %(codes)s.", value=values["stage"][:40],
                              codes=", ".join(s.value for s in LegStage)))

    times = {}
    for name in ("promised_at", "actual_at", "order_placed_at"):
        try:
            times[name] = parse_datetime(raw.get(name), zone, datetime_format)
        except (ValueError, TypeError, OverflowError):
            times[name] = None
            error(name, _l("“%(value)s” is not a date and time.", value=str(raw.get(name))[:40]))
    if not times["promised_at"] and not any(p.column == "promised_at" for p in problems):
        error("promised_at", _l("Required, but empty."))

    outcome = None
    if values.get("outcome"):
        outcome = values["outcome"].lower().replace(" ", "_").replace("-", "_")
        if outcome not in {o.value for o in LegOutcome}:
            error("outcome", _l("Unknown outcome “%(value)s”; use one of %(codes)s.", value=values["outcome"][:40],
                                codes=", ".join(o.value for o in LegOutcome)))
    elif times.get("actual_at"):
        outcome = LegOutcome.COMPLETED.value

    sequence = None
    if values.get("sequence"):
        try:
            sequence = int(values["sequence"])
            if not 1 <= sequence <= 99:
                raise ValueError
        except ValueError:
            error("sequence", _l("Use a whole number from 1 to 99."))

    order_value = None
    if values.get("order_value"):
        try:
            order_value = Decimal(values["order_value"].replace(",", "."))
            if not order_value.is_finite() or order_value < 0 or order_value >= Decimal("1e12"):
                raise InvalidOperation
            order_value = order_value.quantize(Decimal("0.01"))
        except InvalidOperation:
            error("order_value", _l("Use a non-negative amount, e.g. 129.90."))

    excluded_text = (values.get("excluded") or "").lower()
    if excluded_text not in _TRUE | _FALSE:
        error("excluded", _l("Use yes or no."))

    promised, actual = times.get("promised_at"), times.get("actual_at")
    if promised and actual and abs(actual - promised) > MAX_PLAUSIBLE_GAP:
        error("actual_at", _l("More than a year from the promised time: check the dates."))

    if any(p.is_error for p in problems):
        return None, problems

    leg = LegInput(
        external_id=values["external_id"], order_ref=values["order_ref"], stage=stage,
        supplier_code=values["supplier_code"].upper(), promised_at=promised, actual_at=actual,
        outcome=outcome, sequence=sequence, customer_ref=values.get("customer_ref"),
        order_placed_at=times.get("order_placed_at"), order_channel=(values.get("order_channel") or None),
        order_value=order_value, is_excluded=excluded_text in _TRUE,
        exclusion_reason=values.get("exclusion_reason"), row=row,
    )
    placed = times.get("order_placed_at")
    if placed and actual and actual < placed:
        leg.warnings.append(RowProblem(row, "actual_at", _l("Ends before the order was placed."), is_error=False))
    return leg, problems


def check_suppliers(legs: list[LegInput]) -> tuple[dict[str, int], list[RowProblem]]:
    """Supplier ids of the codes used, and an error for each row naming an unknown code."""
    codes = {leg.supplier_code for leg in legs}
    known: dict[str, int] = {}
    code_list = sorted(codes)
    for start in range(0, len(code_list), 500):
        chunk = code_list[start:start + 500]
        known.update(db.session.execute(select(Supplier.code, Supplier.id).where(Supplier.code.in_(chunk))).all())
    problems = [RowProblem(leg.row, "supplier_code", _l("No supplier has the code %(code)s.", code=leg.supplier_code))
                for leg in legs if leg.supplier_code not in known]
    return known, problems


def company_day(moment: dt.datetime, zone: ZoneInfo) -> dt.date:
    """The calendar day, in the company's time zone, that contains `moment`."""
    return moment.astimezone(zone).date()


def record_legs(legs: list[LegInput], supplier_ids: dict[str, int], zone: ZoneInfo,
                batch: ImportBatch | None = None) -> tuple[int, int]:
    """Write checked legs and their orders; return (created, updated) leg counts.

    Legs whose external id exists are updated in place; a leg listed twice in one call keeps
    its last row. Orders are found by reference and created when new; their details are
    updated from the last row that gives them.
    """
    if not legs:
        return 0, 0
    by_external_id = {leg.external_id: leg for leg in legs}
    legs = list(by_external_id.values())

    orders = _orders_for(legs)
    # Only what an update needs: the id, and the old key of its daily statistics.
    existing: dict[str, tuple[int, int, str, dt.date]] = {}
    ids = list(by_external_id)
    for start in range(0, len(ids), 500):
        rows = db.session.execute(
            select(Leg.external_id, Leg.id, Leg.supplier_id, Leg.stage, Leg.promised_day)
            .where(Leg.external_id.in_(ids[start:start + 500])))
        for external_id, *rest in rows:
            existing[external_id] = tuple(rest)

    now = utcnow()
    new_rows, changed_rows = [], []
    touched_suppliers: set[int] = set()
    for item in legs:
        order = orders[item.order_ref]
        values = {
            "order_id": order.id,
            "sequence": item.sequence or STAGE_ORDER[LegStage(item.stage)],
            "stage": item.stage,
            "supplier_id": supplier_ids[item.supplier_code],
            "promised_at": item.promised_at,
            "promised_day": company_day(item.promised_at, zone),
            "actual_at": item.actual_at,
            "outcome": item.outcome,
            "delay_seconds": int((item.actual_at - item.promised_at).total_seconds()) if item.actual_at else None,
            "is_excluded": item.is_excluded,
            "exclusion_reason": item.exclusion_reason,
            "updated_at": now,
        }
        if batch is not None:
            # A leg points to the batch that wrote it last: rerunning an interrupted import
            # completes it.
            values["import_batch_id"] = batch.id
        touched_suppliers.add(values["supplier_id"])
        known = existing.get(item.external_id)
        if known is None:
            new_rows.append({"external_id": item.external_id, "import_batch_id": None,
                             "created_at": now, **values})
        else:
            leg_id, old_supplier, _old_stage, _old_day = known
            touched_suppliers.add(old_supplier)
            changed_rows.append({"id": leg_id, **values})
    if changed_rows:
        subtract_legs([row["id"] for row in changed_rows])
        db.session.execute(update(Leg), changed_rows)  # bulk UPDATE by primary key
    if new_rows:
        db.session.execute(insert(Leg.__table__), new_rows)
    add_legs(list(by_external_id), touched_suppliers)
    db.session.flush()
    return len(new_rows), len(changed_rows)


def _orders_for(legs: list[LegInput]) -> dict[str, Order]:
    refs = sorted({leg.order_ref for leg in legs})
    orders: dict[str, Order] = {}
    for start in range(0, len(refs), 500):
        for order in db.session.scalars(select(Order).where(Order.ref.in_(refs[start:start + 500]))):
            orders[order.ref] = order
    for leg in legs:
        order = orders.get(leg.order_ref)
        if order is None:
            order = Order(ref=leg.order_ref)
            db.session.add(order)
            orders[leg.order_ref] = order
        if leg.customer_ref:
            order.customer_ref = leg.customer_ref
        if leg.order_placed_at:
            order.placed_at = leg.order_placed_at
        if leg.order_channel:
            order.channel = leg.order_channel
        if leg.order_value is not None:
            order.value = leg.order_value
    db.session.flush()
    return orders


def ingest_leg_rows(rows: list[dict], zone: ZoneInfo, batch: ImportBatch | None = None,
                    datetime_format: str | None = None, first_row: int = 1) -> tuple[int, int, list[RowProblem]]:
    """Check and record a list of rows all or nothing (the API's bulk call).

    Raises ValidationFailed listing every row's errors if any row is bad; nothing is written.
    """
    parsed, problems = [], []
    for offset, raw in enumerate(rows):
        leg, row_problems = parse_leg_row(raw, first_row + offset, zone, datetime_format)
        problems.extend(row_problems)
        if leg is not None:
            parsed.append(leg)
            problems.extend(leg.warnings)
    supplier_ids, supplier_problems = check_suppliers(parsed)
    problems.extend(supplier_problems)
    errors = [p for p in problems if p.is_error]
    if errors:
        raise LegRowsRejected(errors)
    # Times were read in the caller's zone; the day a leg belongs to is the company's.
    created, updated = record_legs(parsed, supplier_ids, company_zone(), batch)
    return created, updated, [p for p in problems if not p.is_error]


class LegRowsRejected(ValidationFailed):
    code = "rows_invalid"

    def __init__(self, problems: list[RowProblem]):
        super().__init__(_l("%(n)d rows have errors; nothing was written.", n=len({p.row for p in problems})))
        self.problems = problems
