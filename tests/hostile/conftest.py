"""Fixtures of the hostile suite: the domain fixtures it builds on, an upload folder of its own
per test, and `snapshot()` — the row count of every table, to prove that refused input wrote
nothing.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from app.db import db
from audits.models import Audit, AuditPlan, CorrectiveAction, Finding
from incidents.models import ChargebackStatement, Incident, Leg, Order
from questionnaires.models import Question
from suppliers import services as supplier_services
from suppliers.models import Supplier
from tests.audits.action_fixtures import make_finding, request_action  # noqa: F401 (fixtures)
from tests.audits.conftest import legs, make_audit, make_carrier, sla  # noqa: F401 (fixtures)
from tests.questionnaires.conftest import carrier_questionnaire, send_questionnaire  # noqa: F401 (fixtures)
from tests.reports.export_fixtures import UTC, make_incident

#: Markup of every kind a page or a PDF could be tricked into running or fetching.
MARKUP = ('<script>alert(1)</script><img src="file:///etc/passwd" onerror=alert(2)>'
          '<link rel=attachment href="http://127.0.0.1:9/leak">')

#: Tables that a refused request may still write to, and why.
BOOKKEEPING = {
    "login_attempts",   # failed log-ins and unknown private links are counted (the throttle)
    "alembic_version",
}


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path, monkeypatch):
    """Uploads of each test in a folder of its own, so that leftovers can be counted."""
    monkeypatch.setitem(app.config, "UPLOAD_DIR", tmp_path / "uploads")
    return tmp_path / "uploads"


def stored_files(directory) -> list[str]:
    """Every file under the upload folder, temporary ones included."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()) \
        if directory.exists() else []


@pytest.fixture
def snapshot(app_ctx):
    """snapshot() → {table: rows} for every table but the bookkeeping ones, in one query."""

    def take() -> dict[str, int]:
        tables = [t.name for t in db.metadata.sorted_tables if t.name not in BOOKKEEPING]
        counts = ", ".join(f'(SELECT count(*) FROM "{name}")' for name in tables)
        row = db.session.execute(text(f"SELECT {counts}")).one()
        return dict(zip(tables, row))

    return take


def _fit(text: str, length: int) -> str:
    return text[:length]


@pytest.fixture
def hostile_scene(make_supplier, make_finding, request_action, factories):
    """scene(payload) → {export kind: stored hostile values that its one row must show}."""

    def build(payload: str) -> dict[str, set[str]]:
        supplier = make_supplier(chain_roles=["last_mile"])
        supplier_services.add_contact(supplier, {"name": "Giulia Verdi", "email": "giulia@carrier.example",
                                                 "is_primary": True}, None)
        parent = make_supplier()
        # Straight into the columns, past the register's own cleaning: the export is the last lock.
        supplier.code, supplier.legal_name, supplier.vat_id = _fit(payload, 32), payload, _fit(payload, 32)
        parent.code = _fit(payload, 30) + "-P"
        supplier.parent = parent
        assignee = factories.user(role="operator", name=_fit(payload, 120))
        order = Order(ref=_fit(payload, 64))
        db.session.add(order)
        db.session.flush()
        promised = dt.datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
        leg = Leg(order=order, sequence=1, stage="last_mile", supplier=supplier, external_id=_fit(payload, 100),
                  promised_at=promised, promised_day=dt.date(2026, 3, 10), actual_at=promised, delay_seconds=0,
                  outcome="completed", is_excluded=True,
                  exclusion_reason=payload)
        db.session.add(leg)
        make_incident(promised, description=payload, order_ref_given=_fit(payload, 64), assignee=assignee)
        plan = AuditPlan(name=payload, starts_on=dt.date(2025, 1, 1))
        audit = Audit(supplier=supplier, plan=plan, audit_type="remote_sla_review", period_start=dt.date(2026, 3, 1),
                      period_end=dt.date(2026, 3, 31), planned_date=dt.date(2026, 4, 7), location=payload,
                      status="in_progress")
        db.session.add_all([plan, audit])
        db.session.flush()
        finding = make_finding("major_nc", audit=audit, criterion=payload, statement=payload, evidence=payload)
        action = request_action(finding)
        action.recipient_name, action.root_cause = payload, payload
        db.session.add(ChargebackStatement(supplier=supplier, period_start=dt.date(2026, 3, 1),
                                           period_end=dt.date(2026, 3, 31), version=1))
        db.session.commit()
        code, name = supplier.code, supplier.legal_name
        return {
            "suppliers": {code, name, supplier.vat_id, parent.code},
            "incidents": {payload, _fit(payload, 64), assignee.name},
            "legs": {payload, leg.external_id, order.ref, code, name},
            "audits": {code, name, payload},
            "findings": {code, payload},
            "corrective-actions": {code, name, payload},
            "chargebacks": {code, name},
        }

    return build


@pytest.fixture
def markup_scene(hostile_scene, carrier_questionnaire, send_questionnaire):
    """The hostile records with MARKUP, and {route argument: value} naming each of them."""
    hostile_scene(MARKUP)
    supplier = db.session.scalar(select(Supplier).where(Supplier.legal_name == MARKUP))
    supplier.code = "HTML-1"  # codes and order refs are URL parts here; their text is in the exports test
    order = db.session.scalar(select(Order))
    order.ref = "ORDER-HTML-1"
    question = db.session.scalar(select(Question).where(Question.section.has(version_id=carrier_questionnaire.id)))
    question.text = MARKUP
    assignment, _ = send_questionnaire(carrier_questionnaire, supplier=supplier)
    db.session.commit()
    audit = db.session.scalar(select(Audit).where(Audit.location == MARKUP))
    return {
        "code": supplier.code, "ref": order.ref, "role": "last_mile", "kind": "suppliers",
        "audit_id": audit.id, "plan_id": db.session.scalar(select(AuditPlan.id).where(AuditPlan.name == MARKUP)),
        "finding_id": db.session.scalar(select(Finding.id).where(Finding.audit_id == audit.id)),
        "action_id": db.session.scalar(select(CorrectiveAction.id)),
        "incident_id": db.session.scalar(select(Incident.id).where(Incident.description == MARKUP)),
        "statement_id": db.session.scalar(select(ChargebackStatement.id)),
        "version_id": carrier_questionnaire.id, "template_id": carrier_questionnaire.template_id,
        "assignment_id": assignment.id, "section_id": question.section_id, "question_id": question.id,
    }
