"""Fixtures of the audits tests: a supplier with SLAs and legs whose results are worked out by
hand, and audits built directly with the model (a plan is optional).

    supplier = make_carrier()                        # a last-mile courier with a primary contact
    sla(supplier, target="0.95", warning="0.97")      # on-time rate, last_mile, monthly, min sample 1
    legs(supplier, "2026-03", on_time=17, late=3)     # 20 legs, 17 on time → 0.85
    audit = make_audit(supplier, "2026-03")           # the March audit, planned
"""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.db import db
from audits.models import Audit, AuditPlan
from incidents.services.legs import LegInput, record_legs
from suppliers import services as supplier_services
from suppliers.services.measurement import month_span
from suppliers.services.standards import create_standard

ROME = ZoneInfo("Europe/Rome")
UTC = dt.timezone.utc
_n = itertools.count(1)


def _promise(month: str, day: int = 10) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{month}-{day:02d}T12:00").replace(tzinfo=ROME).astimezone(UTC)


@pytest.fixture
def make_carrier(factories):
    def make(code: str | None = None, **overrides):
        values = {"chain_roles": ["last_mile"], **overrides}
        if code:
            values["code"] = code
        supplier = factories.supplier(**values)
        supplier_services.add_contact(supplier, {"name": "Giulia Verdi", "email": "giulia@courier.example",
                                                 "is_primary": True}, None)
        db.session.commit()
        return supplier

    return make


@pytest.fixture
def sla(app_ctx):
    """sla(supplier, target=…, warning=…, **values) → an on-time SLA agreed with the supplier."""

    def make(supplier, target="0.95", warning=None, **values):
        base = {"name": "On-time delivery", "metric": "on_time_rate", "stage": "last_mile", "comparator": "gte",
                "target": target, "warning_threshold": warning, "window": "month", "min_sample": 1,
                "valid_from": dt.date(2025, 1, 1)}
        base.update(values)
        standard = create_standard(base, None, supplier=supplier)
        db.session.commit()
        return standard

    return make


@pytest.fixture
def legs(app_ctx):
    """legs(supplier, "YYYY-MM", on_time=n, late=m) → the external ids of the legs recorded:
    on-time legs delivered at their promise, late ones five hours after it (tolerance 0)."""

    def make(supplier, month: str, *, on_time: int = 0, late: int = 0, stage: str = "last_mile") -> list[str]:
        items = []
        for i in range(on_time + late):
            n = next(_n)
            promised = _promise(month, 1 + i % 27)
            actual = promised if i < on_time else promised + dt.timedelta(hours=5)
            items.append(LegInput(external_id=f"AUD-L{n}", order_ref=f"AUD-O{n}", stage=stage,
                                  supplier_code=supplier.code, promised_at=promised, actual_at=actual,
                                  outcome="completed", row=n))
        record_legs(items, {supplier.code: supplier.id}, ROME)
        db.session.commit()
        return [item.external_id for item in items]

    return make


@pytest.fixture
def correct_legs(app_ctx):
    """correct_legs(supplier, external_ids, month) → mark those legs delivered on time (a data correction)."""

    def correct(supplier, external_ids: list[str], month: str):
        items = []
        for external_id in external_ids:
            n = next(_n)
            promised = _promise(month, 10)
            items.append(LegInput(external_id=external_id, order_ref=f"AUD-C{n}", stage="last_mile",
                                  supplier_code=supplier.code, promised_at=promised, actual_at=promised,
                                  outcome="completed", row=n))
        record_legs(items, {supplier.code: supplier.id}, ROME)
        db.session.commit()

    return correct


@pytest.fixture
def make_plan(app_ctx):
    def make(name: str = "Monthly carrier review", **values) -> AuditPlan:
        plan = AuditPlan(name=name, starts_on=dt.date(2025, 1, 1), major_margin=Decimal("0.10"), **values)
        db.session.add(plan)
        db.session.commit()
        return plan

    return make


@pytest.fixture
def make_audit(app_ctx):
    """make_audit(supplier, "YYYY-MM", plan=None, **fields) → an audit of that month, planned."""

    def make(supplier, month: str = "2026-03", *, plan: AuditPlan | None = None, **fields) -> Audit:
        start, end = month_span(month, month)
        values = {"audit_type": "remote_sla_review", "period_start": start, "period_end": end,
                  "planned_date": end + dt.timedelta(days=7)}
        values.update(fields)
        audit = Audit(supplier=supplier, plan=plan, **values)
        db.session.add(audit)
        db.session.commit()
        return audit

    return make
