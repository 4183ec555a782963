"""`demo load` gives a newcomer every state to look at, once."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from app.auth.models import User
from app.db import db
from app.i18n import company_zone, today
from app.outbox import OutboxMessage
from questionnaires.models import Assignment, AssignmentPurpose, AssignmentStatus, TemplateVersion, VersionStatus
from questionnaires.services import assignments as assignment_service
from suppliers.models import ChainRole, Supplier, SupplierChainRole, SupplierStatus


def test_demo_loads_every_status_and_role_once(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "quality@catena.example" in result.output

    statuses = set(db.session.scalars(select(Supplier.status).distinct()))
    assert statuses == {s.value for s in SupplierStatus}
    roles = set(db.session.scalars(select(SupplierChainRole.role).distinct()))
    assert roles == {r.value for r in ChainRole}
    assert 40 <= db.session.scalar(select(func.count()).select_from(Supplier)) <= 60
    assert db.session.scalar(select(func.count()).select_from(Supplier).where(Supplier.parent_id.is_not(None))) >= 5
    assert set(db.session.scalars(select(User.role))) == {"admin", "quality_manager", "auditor", "operator", "viewer"}

    again = runner.invoke(args=["demo", "load"])
    assert again.exit_code != 0
    assert "already loaded" in again.output
    assert runner.invoke(args=["demo", "load", "--if-empty"]).exit_code == 0
    assert db.session.scalar(select(func.count()).select_from(User)) == 5


def test_demo_user_signs_in_with_the_printed_password(app, client):
    from app.demo import DEMO_PASSWORD

    app.test_cli_runner().invoke(args=["demo", "load"])
    assert client.login("quality@catena.example", DEMO_PASSWORD).status_code == 302
    page = client.get("/suppliers/?status=approved").get_data(as_text=True)
    assert "CAR-001" in page


def test_demo_has_questionnaires_in_every_state_as_the_services_make_them(app):
    assert app.test_cli_runner().invoke(args=["demo", "load"]).exit_code == 0

    versions = db.session.scalars(select(TemplateVersion)).all()
    assert sum(v.status == VersionStatus.PUBLISHED for v in versions) >= 2
    assert any(v.status == VersionStatus.DRAFT and v.number == 2 for v in versions)   # versioning visible
    assignments = db.session.scalars(select(Assignment).order_by(Assignment.id)).all()
    assert {a.status for a in assignments} == {s.value for s in AssignmentStatus}
    assert {a.purpose for a in assignments} == {p.value for p in AssignmentPurpose}
    # Overdue and still waiting for the supplier, already reminded.
    overdue = [a for a in assignments if a.state in (AssignmentStatus.SENT, AssignmentStatus.IN_PROGRESS)
               and a.due_date < today()]
    assert overdue and all(a.reminded_overdue_at is not None for a in overdue)
    for assignment in assignments:
        kinds = [e.kind for e in assignment.events]
        assert kinds[0] == "sent"
        if assignment.submitted_at is not None:
            # The score is the scoring service's, for the answers stored.
            card = assignment_service.scorecard(assignment)
            assert (assignment.score, assignment.result) == (card.score, card.result)
            assert "submitted" in kinds
        if assignment.state == AssignmentStatus.ACCEPTED:
            decided_on = assignment.decided_at.astimezone(company_zone()).date()
            months = assignment.template_version.validity_months
            assert assignment.qualified_until == assignment_service.add_months(decided_on, months)
            assert assignment.supplier.qualified_until == assignment.qualified_until
            assert assignment.supplier.status == assignment.decision
        if assignment.state == AssignmentStatus.REJECTED:
            assert assignment.supplier.status == SupplierStatus.DISQUALIFIED
    # Every e-mail went through the outbox and was delivered to the sink.
    mails = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind.like("questionnaire_%"))).all()
    assert {m.kind for m in mails} >= {"questionnaire_sent", "questionnaire_submitted", "questionnaire_clarification",
                                       "questionnaire_decided", "questionnaire_overdue"}
    assert all(m.status == "sent" for m in mails)
    assert {m.recipient.rsplit(".", 1)[1] for m in mails} == {"example"}


def test_demo_has_an_audit_programme_in_every_state_as_the_services_make_them(app, client):
    from app.demo import DEMO_PASSWORD
    from audits.models import (
        ActionStatus,
        Audit,
        AuditEvent,
        AuditPlan,
        AuditPlanFiring,
        AuditStatus,
        CorrectiveAction,
        Finding,
        FindingGrade,
    )
    from audits.services.conduct import unclosed_nonconformities

    assert app.test_cli_runner().invoke(args=["demo", "load"]).exit_code == 0
    now = today()

    plans = db.session.scalars(select(AuditPlan)).all()
    assert {p.recurrence for p in plans} == {"monthly", "quarterly", "yearly"}
    assert {p.audit_type for p in plans} == {"remote_sla_review", "on_site"}
    assert any(p.risk_recurrence == {"critical": "monthly"} for p in plans)
    assert all(p.starts_on <= now - dt.timedelta(days=300) for p in plans)
    # Fired on their days, not all at once: no audit says it was created late by a catch-up.
    assert db.session.scalar(select(func.count()).select_from(AuditPlanFiring)) >= 12
    assert not db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "created",
                                                           AuditEvent.note.like("%late%"))).all()

    audits = db.session.scalars(select(Audit)).all()
    assert 20 <= len(audits) <= 80   # a few dozen, not hundreds
    assert {a.status for a in audits} == {s.value for s in AuditStatus}
    for audit in audits:
        assert audit.created_at.astimezone(company_zone()).date() <= now
        if audit.is_issued:
            assert audit.snapshot_revision >= 1 and audit.conclusions and audit.fulfilment
            assert audit.report_issued_at.astimezone(company_zone()).date() <= now
        if audit.state == AuditStatus.CLOSED:
            assert not unclosed_nonconformities(audit)
    on_site = [a for a in audits if a.audit_type == "on_site" and a.is_issued]
    assert on_site and all(a.location and a.participants and a.checklist_answers for a in on_site)
    statuses = {r.status for a in audits for r in a.current_results()}
    assert {"met", "warning", "breached"} <= statuses

    findings = db.session.scalars(select(Finding)).all()
    assert {f.grade for f in findings} == {g.value for g in FindingGrade}
    assert {f.auditee_response for f in findings} >= {"acknowledged", "diverging"}
    assert any(f.proposed for f in findings) and any(not f.proposed for f in findings)

    actions = db.session.scalars(select(CorrectiveAction)).all()
    assert {a.status for a in actions} == {s.value for s in ActionStatus}
    overdue = [a for a in actions if a.is_overdue(now)]
    assert overdue and all(a.escalated_at is not None for a in overdue)
    # The overdue action is a minor nonconformity's: the daily step suspended nobody.
    assert all(a.finding.grade == FindingGrade.MINOR_NC.value for a in overdue)
    assert any(a.state == ActionStatus.REQUESTED and not a.is_overdue(now) for a in actions)
    for action in actions:
        assert action.created_at.astimezone(company_zone()).date() <= now
        if action.state in (ActionStatus.CLOSED, ActionStatus.INEFFECTIVE):
            assert action.verified_at >= action.reviewed_at >= action.responded_at >= action.created_at
    assert all(m.status == "sent" for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind.like("a%"))))

    assert client.login("quality@catena.example", DEMO_PASSWORD).status_code == 302
    assert client.get(f"/audits/calendar?month={now:%Y-%m}").status_code == 200
    assert client.get("/audits/calendar?view=list").status_code == 200
    assert client.get(f"/audits/{audits[0].id}").status_code == 200
    assert client.get(f"/audits/actions/{overdue[0].id}").status_code == 200
