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


def find_orders(text: str | None = None, supplier_code: str | None = None, *, cursor: str | None = None,
                limit: int = 50) -> Page[Order]:
    """Orders newest first, by reference or customer reference prefix, or handled by a supplier."""
    stmt = select(Order)
    if text:
        prefix = escape_like(text.strip()) + "%"
        stmt = stmt.where(Order.ref.like(prefix, escape="\\") | Order.customer_ref.like(prefix, escape="\\"))
    if supplier_code:
        supplier_id = db.session.scalar(select(Supplier.id).where(Supplier.code == supplier_code.strip().upper()))
        stmt = stmt.where(Order.id.in_(select(Leg.order_id).where(Leg.supplier_id == (supplier_id or -1))))
    stmt = stmt.options(selectinload(Order.legs).selectinload(Leg.supplier))
    return keyset_page(stmt, Order.id, Order.id, descending=True, cursor=cursor, limit=limit)


def get_order(ref: str) -> Order | None:
    return db.session.scalar(select(Order).where(Order.ref == ref)
                             .options(selectinload(Order.legs).selectinload(Leg.supplier)))


def timeline(order: Order, now: dt.datetime) -> list[LegView]:
    return [LegView(leg, leg_state(leg, now)) for leg in order.legs]
