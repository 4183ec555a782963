"""Reading orders and their chains for pages."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.db import db
from app.pagination import Page, keyset_page
from incidents.models import Leg, LegOutcome, Order
from suppliers.models import Supplier
from suppliers.services import escape_like


@dataclass
class LegView:
    """A leg as the order timeline shows it."""

    leg: Leg
    #: on_time, late, open (promise not passed), overdue (open, promise passed), cancelled, lost
    state: str

    @property
    def delay_hours(self) -> float | None:
        return None if self.leg.delay_seconds is None else self.leg.delay_seconds / 3600


def leg_state(leg: Leg, now: dt.datetime) -> str:
    if leg.outcome == LegOutcome.CANCELLED:
        return "cancelled"
    if leg.outcome == LegOutcome.LOST:
        return "lost"
    if leg.actual_at is None:
        return "overdue" if now > leg.promised_at else "open"
    return "late" if leg.actual_at > leg.promised_at else "on_time"


def order_query(text: str | None = None, supplier_code: str | None = None):
    """Orders by reference or customer reference prefix, or handled by a supplier; unordered."""
    stmt = select(Order)
    if text:
        prefix = escape_like(text.strip()) + "%"
        stmt = stmt.where(Order.ref.like(prefix, escape="\\") | Order.customer_ref.like(prefix, escape="\\"))
    if supplier_code:
        supplier_id = db.session.scalar(select(Supplier.id).where(Supplier.code == supplier_code.strip().upper()))
        stmt = stmt.where(Order.id.in_(select(Leg.order_id).where(Leg.supplier_id == (supplier_id or -1))))
    return stmt


def find_orders(text: str | None = None, supplier_code: str | None = None, *, cursor: str | None = None,
                limit: int = 50) -> Page[Order]:
    """Orders newest first, by reference or customer reference prefix, or handled by a supplier."""
    stmt = order_query(text, supplier_code).options(selectinload(Order.legs).selectinload(Leg.supplier))
    return keyset_page(stmt, Order.id, Order.id, descending=True, cursor=cursor, limit=limit)


@dataclass(frozen=True)
class LegFilters:
    """The orders page's filters (order reference prefix, a supplier in the chain), narrowed
    for the legs export by stage and by the company-zone days the legs were promised for."""

    text: str | None = None
    supplier: str | None = None
    stage: str | None = None
    promised_from: dt.date | None = None
    promised_to: dt.date | None = None


def leg_query(filters: LegFilters):
    """The legs of the orders the orders page lists for the same text and supplier, of the
    given stage and promised in the given span; unordered."""
    stmt = select(Leg).where(Leg.order_id.in_(order_query(filters.text, filters.supplier).with_only_columns(Order.id)))
    if filters.stage:
        stmt = stmt.where(Leg.stage == filters.stage)
    if filters.promised_from:
        stmt = stmt.where(Leg.promised_day >= filters.promised_from)
    if filters.promised_to:
        stmt = stmt.where(Leg.promised_day <= filters.promised_to)
    return stmt


def get_order(ref: str) -> Order | None:
    return db.session.scalar(select(Order).where(Order.ref == ref)
                             .options(selectinload(Order.legs).selectinload(Leg.supplier)))


def timeline(order: Order, now: dt.datetime) -> list[LegView]:
    return [LegView(leg, leg_state(leg, now)) for leg in order.legs]
