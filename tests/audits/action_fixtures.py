"""Fixtures of the corrective-action tests: a nonconformity on an audit (built with the models),
an on-time SLA with legs recorded through the services, and a helper that requests an action
through the service, as the quality office's page does.

Import the fixtures into a test module: `from tests.audits.action_fixtures import *`.
"""
from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.db import db, unit_of_work
from app.outbox import OutboxMessage
from audits.models import Audit, Finding
from audits.services import actions as action_service
from incidents.services.legs import LegInput, record_legs
from suppliers import services as supplier_services
from suppliers.services.standards import create_standard



ROME = ZoneInfo("Europe/Rome")
UTC = dt.timezone.utc
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
_n = itertools.count(1)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=ROME).astimezone(UTC)


def secret_of(action) -> str:
    return action_service.portal_url(action).rsplit("/", 1)[1]


def mails(kind: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)))


@pytest.fixture
def make_finding(app_ctx, factories):
    """make_finding(grade="major_nc", supplier=None, series_id=None, **fields) → a finding of a
    new audit of `supplier` (by default an approved carrier with a contact that has an e-mail)."""

    def make(grade: str = "major_nc", supplier=None, series_id: int | None = None, audit=None, **fields):
        if supplier is None and audit is None:
            supplier = factories.supplier(status="approved", chain_roles=["last_mile"])
            supplier_services.add_contact(supplier, {"name": "Giulia Verdi", "email": "giulia@carrier.example",
                                                     "is_primary": True}, None)
        if audit is None:
            audit = Audit(supplier_id=supplier.id, audit_type="remote_sla_review", period_start=dt.date(2026, 2, 1),
                          period_end=dt.date(2026, 2, 28), planned_date=dt.date(2026, 3, 5), status="in_progress")
            audit.supplier = supplier
            db.session.add(audit)
            db.session.flush()
        number = fields.pop("number", None) or (len(audit.findings) + 1)
        finding = Finding(audit_id=audit.id, number=number, grade=grade,
                          criterion=fields.pop("criterion", "SLA On-time delivery ≥ 95 %"),
                          statement=fields.pop("statement", "On-time delivery was 88.0 % in February 2026."),
                          evidence=fields.pop("evidence", "SLA snapshot, revision 1"), series_id=series_id, **fields)
        finding.audit = audit
        db.session.add(finding)
        db.session.commit()
        return finding

    return make


@pytest.fixture
def request_action(app_ctx):
    """request_action(finding, actor=None, today=..., **kw) → the action, requested through the service."""

    def send(finding, actor=None, *, today: dt.date = dt.date(2026, 3, 1), due_date: dt.date | None = None, **kw):
        if "effectiveness_method" not in kw:
            kw["effectiveness_method"] = "sla" if finding.series_id is not None else "manual"
        with unit_of_work():
            action = action_service.request_action(finding, actor, due_date=due_date or today + dt.timedelta(days=9),
                                                   today=today, **kw)
        return action

    return send


def on_time_sla(supplier, target: str = "0.95", name: str = "On-time delivery"):
    standard = create_standard({"name": name, "metric": "on_time_rate", "stage": "last_mile", "comparator": "gte",
                                "target": target, "window": "month", "min_sample": 1,
                                "valid_from": dt.date(2026, 1, 1)}, None, supplier=supplier)
    db.session.commit()
    return standard


def record_month(supplier, year: int, month: int, on_time: int, late: int) -> None:
    """`on_time` legs delivered at their promise and `late` legs five hours late, on the 10th."""
    promise = at(dt.date(year, month, 10))
    legs = []
    for i in range(on_time + late):
        n = next(_n)
        actual = promise if i < on_time else promise + dt.timedelta(hours=5)
        legs.append(LegInput(external_id=f"CA-L{n}", order_ref=f"CA-O{n}", stage="last_mile",
                             supplier_code=supplier.code, promised_at=promise, actual_at=actual,
                             outcome="completed", row=n))
    record_legs(legs, {supplier.code: supplier.id}, ROME)
    db.session.commit()
