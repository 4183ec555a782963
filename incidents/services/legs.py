"""Recording orders and legs, from a file, the API or a converter.

Rows arrive as text (a CSV cell, a JSON value). `parse_leg_row` turns one into a checked
`LegInput` or a list of `RowProblem`s naming the column and the reason; `record_legs` then
writes a batch of checked inputs in a few set-based statements, updating the legs whose
external id is already known instead of duplicating them. A file import stages its rows
first (`incidents.models.StagedLeg`) and moves them with `record_staged_legs`, which follows
the same rules in SQL. `delete_legs` removes legs no attribution names. All three keep the
daily statistics exact (`incidents.services.stats`).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, exists, func, insert, literal, select, update

from app.db import UTCDateTime, db, dialect_insert, utcnow
from app.errors import ValidationFailed
from app.i18n import company_zone
from incidents.models import STAGE_ORDER, AttributionShare, ImportBatch, Leg, LegOutcome, LegStage, Order, StagedLeg
from incidents.services.stats import (
    add_legs,
    add_staged_legs,
    lock_leg_writers,
    subtract_legs,
    subtract_legs_where,
)
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
    text = str(value)
    if not text.isprintable():  # a quick test that almost every cell passes
        text = _CONTROL.sub("", text)
    text = text.strip()
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
    if not 1900 <= parsed.year <= 2200:
        raise ValueError("year out of range")
    if parsed.tzinfo is None:
        # zoneinfo reads a nonexistent local time (spring gap, fold 0) with the offset before
        # the jump, i.e. moved forward, and the repeated hour's fold 0 as the first one.
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(dt.timezone.utc)


_STAGE_SYNONYMS = {s.value: s.value for s in LegStage} | {
    "seller": "seller_handover", "handover": "seller_handover", "line-haul": "line_haul",
    "linehaul": "line_haul", "last-mile": "last_mile", "lastmile": "last_mile", "pickup": "pickup_point",
    "pick-up point": "pickup_point", "returns": "return",
}


_TIME_FIELDS = ("promised_at", "actual_at", "order_placed_at")
_TEXT_FIELDS = tuple(name for name in LEG_FIELDS if name not in _TIME_FIELDS)
_OUTCOMES = frozenset(o.value for o in LegOutcome)


def parse_leg_row(raw: dict, row: int, zone: ZoneInfo, datetime_format: str | None = None
                  ) -> tuple[LegInput | None, list[RowProblem]]:
    """Check one row of Catena's leg format (field name → text). Suppliers are checked later,
    in bulk, by `check_suppliers`."""
    problems: list[RowProblem] = []

    def error(column, message):
        problems.append(RowProblem(row, column, message))

    values = {name: _text(raw.get(name), 300) for name in _TEXT_FIELDS}
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
        if outcome not in _OUTCOMES:
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
    known = supplier_ids_for({leg.supplier_code for leg in legs})
    problems = [RowProblem(leg.row, "supplier_code", _l("No supplier has the code %(code)s.", code=leg.supplier_code))
                for leg in legs if leg.supplier_code not in known]
    return known, problems


def supplier_ids_for(codes) -> dict[str, int]:
    """Supplier code → id, for the codes that name a supplier."""
    known: dict[str, int] = {}
    code_list = sorted(codes)
    for start in range(0, len(code_list), 500):
        chunk = code_list[start:start + 500]
        known.update(db.session.execute(select(Supplier.code, Supplier.id).where(Supplier.code.in_(chunk))).all())
    return known


def company_day(moment: dt.datetime, zone: ZoneInfo) -> dt.date:
    """The calendar day, in the company's time zone, that contains `moment`."""
    return moment.astimezone(zone).date()


_SEQUENCE_OF_STAGE = {stage.value: n for stage, n in STAGE_ORDER.items()}


def leg_values(item: LegInput, supplier_id: int, zone: ZoneInfo) -> dict:
    """The columns a leg stores for a checked input, apart from its order, batch and times of
    writing; `zone` is the company's (it decides the leg's day)."""
    return {
        "sequence": item.sequence or _SEQUENCE_OF_STAGE[item.stage],
        "stage": item.stage,
        "supplier_id": supplier_id,
        "promised_at": item.promised_at,
        "promised_day": company_day(item.promised_at, zone),
        "actual_at": item.actual_at,
        "outcome": item.outcome,
        "delay_seconds": int((item.actual_at - item.promised_at).total_seconds()) if item.actual_at else None,
        "is_excluded": item.is_excluded,
        "exclusion_reason": item.exclusion_reason,
    }


def record_legs(legs: list[LegInput], supplier_ids: dict[str, int], zone: ZoneInfo,
                batch: ImportBatch | None = None) -> tuple[int, int]:
    """Write checked legs and their orders; return (created, updated) leg counts.

    Legs whose external id exists are updated in place; a leg listed twice in one call keeps
    its last row. Orders are found by reference and created when new; their details are
    updated from the last row that gives them.
    """
    if not legs:
        return 0, 0
    lock_leg_writers()
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
        values = {"order_id": order.id, **leg_values(item, supplier_ids[item.supplier_code], zone), "updated_at": now}
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


#: Order columns a staged row may give, and the staged column each comes from.
_ORDER_DETAILS = {"customer_ref": "customer_ref", "placed_at": "order_placed_at", "channel": "order_channel",
                  "value": "order_value"}
#: Leg columns copied from a staged row (the order id is looked up by reference).
_STAGED_LEG_COLUMNS = ("external_id", "sequence", "stage", "supplier_id", "promised_at", "promised_day",
                       "actual_at", "outcome", "delay_seconds", "is_excluded", "exclusion_reason")


def record_staged_legs(batch_id: int) -> tuple[int, int]:
    """Move the staged rows of import `batch_id` into orders and legs; (created, updated).

    The same rules as `record_legs`, in a fixed number of set-based statements whatever the
    number of rows: orders are found by reference or created, their details updated from the
    last row that gives each; a leg whose external id exists is updated in place (its
    creation time kept), any other is inserted; every leg written points to the batch; the
    daily statistics lose the old legs' aggregates and gain the new ones. The staged external
    ids must be unique (the import keeps the last row of each). The staged rows stay; the
    caller removes them.
    """
    lock_leg_writers()
    staged = StagedLeg.import_batch_id == batch_id
    now = utcnow()
    at_now = literal(now, UTCDateTime())

    # New orders take their details from their last row; usually every row of an order gives
    # the same ones, and the updates below then find nothing to change.
    last_rows = (select(StagedLeg.order_ref, *(getattr(StagedLeg, source) for source in _ORDER_DETAILS.values()),
                        func.row_number().over(partition_by=StagedLeg.order_ref,
                                               order_by=StagedLeg.row.desc()).label("rank"))
                 .where(staged, ~exists().where(Order.ref == StagedLeg.order_ref)).subquery())
    db.session.execute(insert(Order).from_select(
        ["ref", *_ORDER_DETAILS, "created_at", "updated_at"],
        select(last_rows.c.order_ref, *(last_rows.c[source] for source in _ORDER_DETAILS.values()), at_now, at_now)
        .where(last_rows.c.rank == 1)))
    # Each detail comes from the last row that gives it (a later row may leave it empty).
    for target, source in _ORDER_DETAILS.items():
        column = getattr(StagedLeg, source)
        ranked = (select(StagedLeg.order_ref, column.label("value"),
                         func.row_number().over(partition_by=StagedLeg.order_ref,
                                                order_by=StagedLeg.row.desc()).label("rank"))
                  .where(staged, column.is_not(None)).subquery())
        latest = select(ranked.c.order_ref, ranked.c.value).where(ranked.c.rank == 1).subquery()
        db.session.execute(update(Order).where(Order.ref == latest.c.order_ref,
                                               getattr(Order, target).is_distinct_from(latest.c.value))
                           .values({target: latest.c.value, "updated_at": now})
                           .execution_options(synchronize_session=False))

    staged_ids = select(StagedLeg.external_id).where(staged)
    total = db.session.scalar(select(func.count()).select_from(StagedLeg).where(staged))
    updated = db.session.scalar(select(func.count()).select_from(Leg).where(Leg.external_id.in_(staged_ids)))
    if updated:
        subtract_legs_where(Leg.external_id.in_(staged_ids))
    rows = (select(*(getattr(StagedLeg, name) for name in _STAGED_LEG_COLUMNS), Order.id,
                   literal(batch_id), at_now, at_now)
            .select_from(StagedLeg).join(Order, Order.ref == StagedLeg.order_ref).where(staged))
    upsert = dialect_insert(Leg).from_select(
        [*_STAGED_LEG_COLUMNS, "order_id", "import_batch_id", "created_at", "updated_at"], rows)
    kept = ("external_id", "created_at")
    db.session.execute(upsert.on_conflict_do_update(
        index_elements=["external_id"],
        set_={name: getattr(upsert.excluded, name) for name in
              [*_STAGED_LEG_COLUMNS, "order_id", "import_batch_id", "updated_at"] if name not in kept}))
    add_staged_legs(batch_id)
    db.session.flush()
    return total - updated, updated


class LegsInUse(ValidationFailed):
    code = "legs_in_use"


def delete_legs(external_ids: list[str]) -> int:
    """Delete the legs with these external ids; how many there were. Refused, deleting
    nothing, if an attribution names one of them: the decision is evidence and keeps its legs.
    Their orders stay."""
    lock_leg_writers()
    ids = sorted(set(external_ids))
    named = []
    for start in range(0, len(ids), 500):
        chunk = Leg.external_id.in_(ids[start:start + 500])
        named += db.session.scalars(select(Leg.external_id).join(AttributionShare, AttributionShare.leg_id == Leg.id)
                                    .where(chunk).distinct())
    if named:
        raise LegsInUse(_l("An attribution names these legs, so they stay: %(ids)s.",
                           ids=", ".join(sorted(named)[:20])))
    deleted = 0
    for start in range(0, len(ids), 500):
        chunk = Leg.external_id.in_(ids[start:start + 500])
        subtract_legs_where(chunk)
        deleted += db.session.execute(delete(Leg).where(chunk).execution_options(synchronize_session=False)).rowcount
    db.session.flush()
    return deleted


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
