"""The audit programme: recurrence and periods worked out by hand, the rule read at every
firing, exactly once (in one process and raced by four), and the catch-up after downtime."""
from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from app import config as app_config
from app import create_app
from app.config import ROOT_DIR, normalise_database_url
from app.db import db, unit_of_work
from app.errors import Conflict, ValidationFailed
from app.outbox import OutboxMessage
from audits.models import Audit, AuditEvent, AuditPlan, AuditPlanFiring
from audits.services import programme
from suppliers import services as supplier_services
from tests.factories import Factories

D = dt.date


def make_plan(actor=None, **overrides) -> AuditPlan:
    values = {"name": "Carriers monthly", "recurrence": "monthly", "day_of_month": 5,
              "period_basis": "previous_month", "supplier_scope": "rule",
              "rule": {"chain_roles": ["carrier"]}, "starts_on": D(2026, 1, 1), "lead_time_days": 7}
    values.update(overrides)
    with unit_of_work():
        return programme.create_plan(values, actor)


def with_contact(supplier, email):
    supplier_services.add_contact(supplier, {"name": "Giulia Verdi", "email": email, "is_primary": True}, None)
    db.session.commit()
    return supplier


def audits_of(plan) -> list[Audit]:
    return list(db.session.scalars(select(Audit).where(Audit.plan_id == plan.id)
                                   .order_by(Audit.period_start, Audit.supplier_id)))


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _plan_object(**fields) -> AuditPlan:
    """A plan not saved: recurrence arithmetic needs no database."""
    base = dict(recurrence="monthly", day_of_month=1, month=None, cron=None, risk_recurrence=None,
                period_basis="previous_month", starts_on=D(2000, 1, 1))
    base.update(fields)
    return AuditPlan(**base)


# Recurrence, by hand -------------------------------------------------------------------------

def test_a_monthly_plan_fires_on_its_day_of_each_month():
    plan = _plan_object(day_of_month=5)
    assert programme.firing_days(plan, D(2026, 1, 1), D(2026, 4, 30)) == [
        D(2026, 1, 5), D(2026, 2, 5), D(2026, 3, 5), D(2026, 4, 5)]
    # The span is inclusive at both ends, and nothing fires before starts_on.
    assert programme.firing_days(plan, D(2026, 1, 5), D(2026, 2, 5)) == [D(2026, 1, 5), D(2026, 2, 5)]
    plan.starts_on = D(2026, 2, 6)
    assert programme.firing_days(plan, D(2026, 1, 1), D(2026, 4, 30)) == [D(2026, 3, 5), D(2026, 4, 5)]


def test_a_quarterly_plan_fires_in_the_first_month_of_each_quarter():
    plan = _plan_object(recurrence="quarterly", day_of_month=10)
    assert programme.firing_days(plan, D(2026, 2, 1), D(2027, 1, 31)) == [
        D(2026, 4, 10), D(2026, 7, 10), D(2026, 10, 10), D(2027, 1, 10)]


def test_a_yearly_plan_fires_once_a_year_in_its_month():
    plan = _plan_object(recurrence="yearly", day_of_month=28, month=2)
    assert programme.firing_days(plan, D(2026, 1, 1), D(2028, 12, 31)) == [
        D(2026, 2, 28), D(2027, 2, 28), D(2028, 2, 28)]


def test_a_cron_plan_fires_on_the_days_of_its_expression():
    # Day 1 of every other month (January, March, …); the hour is ignored.
    plan = _plan_object(recurrence="cron", cron="0 2 1 */2 *")
    assert programme.firing_days(plan, D(2026, 1, 1), D(2026, 12, 31)) == [
        D(2026, 1, 1), D(2026, 3, 1), D(2026, 5, 1), D(2026, 7, 1), D(2026, 9, 1), D(2026, 11, 1)]


def test_cron_weekdays_count_from_sunday_as_in_crontab():
    # "1" is Monday in crontab (APScheduler 3 alone would read Tuesday). March 2026: Mondays
    # are the 2nd, 9th, 16th, 23rd, 30th; "0" and "7" are both Sunday.
    plan = _plan_object(recurrence="cron", cron="30 6 * 3 1")
    assert programme.firing_days(plan, D(2026, 3, 1), D(2026, 3, 31)) == [
        D(2026, 3, 2), D(2026, 3, 9), D(2026, 3, 16), D(2026, 3, 23), D(2026, 3, 30)]
    plan.cron = "0 0 * 3 7"
    assert programme.firing_days(plan, D(2026, 3, 1), D(2026, 3, 10)) == [D(2026, 3, 1), D(2026, 3, 8)]


def test_a_daily_cron_fires_once_a_day_across_both_dst_changes():
    # Europe/Rome changes clock on 2026-03-29 and 2026-10-25: still one firing per day.
    plan = _plan_object(recurrence="cron", cron="30 2 * * *")
    for first in (D(2026, 3, 28), D(2026, 10, 24), D(2027, 3, 27), D(2027, 10, 30)):
        days = programme.firing_days(plan, first, first + dt.timedelta(days=2))
        assert days == [first, first + dt.timedelta(days=1), first + dt.timedelta(days=2)]


def test_a_risk_class_can_shorten_the_recurrence():
    # Quarterly on the 5th; critical suppliers monthly: the plan fires every month, and a
    # critical supplier's audit covers the previous month, the others' the previous quarter.
    plan = _plan_object(recurrence="quarterly", day_of_month=5, period_basis="previous_quarter",
                        risk_recurrence={"critical": "monthly"})
    assert programme.firing_days(plan, D(2026, 1, 1), D(2026, 4, 30)) == [
        D(2026, 1, 5), D(2026, 2, 5), D(2026, 3, 5), D(2026, 4, 5)]
    assert programme.period_for(plan, D(2026, 2, 5), "monthly") == (D(2026, 1, 1), D(2026, 1, 31))
    assert programme.period_for(plan, D(2026, 4, 5), "quarterly") == (D(2026, 1, 1), D(2026, 3, 31))


def test_period_for_is_the_previous_calendar_month_quarter_or_year():
    firing = D(2026, 3, 5)
    assert programme.period_for(_plan_object(), firing) == (D(2026, 2, 1), D(2026, 2, 28))
    assert programme.period_for(_plan_object(period_basis="previous_quarter"), firing) == (
        D(2025, 10, 1), D(2025, 12, 31))
    assert programme.period_for(_plan_object(period_basis="previous_year"), firing) == (
        D(2025, 1, 1), D(2025, 12, 31))
    # January closes December of the year before; a leap February has 29 days.
    assert programme.period_for(_plan_object(), D(2026, 1, 5)) == (D(2025, 12, 1), D(2025, 12, 31))
    assert programme.period_for(_plan_object(), D(2028, 3, 1)) == (D(2028, 2, 1), D(2028, 2, 29))
    assert programme.period_for(_plan_object(period_basis="previous_quarter"), D(2026, 7, 1)) == (
        D(2026, 4, 1), D(2026, 6, 30))


def test_the_next_twelve_firings_of_a_yearly_plan_reach_twelve_years_ahead():
    plan = _plan_object(recurrence="yearly", month=6, day_of_month=1, starts_on=D(2026, 1, 1))
    days = programme.next_firing_days(plan, D(2026, 6, 2))
    assert days[0] == D(2027, 6, 1) and days[-1] == D(2038, 6, 1) and len(days) == 12


# Validation ----------------------------------------------------------------------------------

def test_plan_validation_names_each_field(factories):
    viewer = factories.user("viewer")
    with pytest.raises(ValidationFailed) as error:
        programme.create_plan({"name": "", "recurrence": "cron", "cron": "61 * * * *", "day_of_month": 31,
                               "supplier_scope": "list", "suppliers": [], "lead_auditor_id": viewer.id,
                               "lead_time_days": 91, "starts_on": "2026-02-30",
                               "rule": {"chain_roles": ["pirate"]}, "audit_type": "on_site"}, None)
    fields = error.value.fields
    assert set(fields) >= {"name", "cron", "day_of_month", "suppliers", "lead_auditor_id", "lead_time_days",
                           "starts_on", "checklist_template_id"}
    with pytest.raises(ValidationFailed) as error:
        programme.create_plan({"name": "Yearly", "recurrence": "yearly", "starts_on": D(2026, 1, 1),
                               "rule": {"chain_roles": ["pirate"], "statuses": ["nice"], "risk_classes": ["huge"]},
                               "risk_recurrence": {"critical": "yearly"}}, None)
    assert set(error.value.fields) == {"month", "rule_chain_roles", "rule_statuses", "rule_risk_classes",
                                       "risk_recurrence"}
    assert count(AuditPlan) == 0


def test_a_lead_auditor_must_be_active_and_allowed_to_conduct(factories):
    auditor = factories.user("auditor")
    plan = make_plan(lead_auditor_id=auditor.id)
    assert plan.lead_auditor_id == auditor.id
    auditor.is_active = False
    db.session.commit()
    with pytest.raises(ValidationFailed) as error:
        programme.update_plan(plan, {"lead_auditor_id": auditor.id}, None)
    assert "lead_auditor_id" in error.value.fields


def test_an_edit_on_a_stale_copy_is_refused(factories):
    plan = make_plan()
    with unit_of_work():
        programme.update_plan(plan, {"name": "Renamed"}, None, expected_version=plan.version)
    with pytest.raises(Conflict):
        programme.update_plan(plan, {"name": "Older"}, None, expected_version=plan.version - 1)


# Firing ----------------------------------------------------------------------------------------

def test_a_firing_creates_one_audit_per_matching_supplier_with_its_dates(app, factories):
    auditor = factories.user("auditor", email="lead@example.test")
    carrier = with_contact(factories.supplier(chain_roles=["carrier"]), "carrier@example.test")
    factories.supplier(chain_roles=["warehouse"])
    plan = make_plan(lead_auditor_id=auditor.id, lead_time_days=10)

    with unit_of_work():
        assert programme.fire(plan, D(2026, 3, 5)) == 1
    (audit,) = audits_of(plan)
    assert (audit.supplier_id, audit.period_start, audit.period_end) == (carrier.id, D(2026, 2, 1), D(2026, 2, 28))
    assert (audit.planned_date, audit.scheduled_for, audit.status) == (D(2026, 3, 15), D(2026, 3, 5), "planned")
    assert audit.lead_auditor_id == auditor.id and audit.audit_type == "remote_sla_review"
    assert count(AuditEvent, AuditEvent.audit_id == audit.id, AuditEvent.kind == "created") == 1
    mails = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "audit_planned")
                               .order_by(OutboxMessage.recipient)).all()
    assert [m.recipient for m in mails] == ["carrier@example.test", "lead@example.test"]
    assert app.config["CATENA_COMPANY_NAME"] in mails[0].subject and "2026-03-15" in mails[0].subject
    assert "Dear Giulia Verdi," in mails[0].body and carrier.legal_name in mails[0].body
    assert f"/audits/plans/{plan.id}" in mails[1].body

    # The same day again: nothing new, no e-mail.
    with unit_of_work():
        assert programme.fire(plan, D(2026, 3, 5)) == 0
    assert len(audits_of(plan)) == 1 and count(OutboxMessage) == 2
    assert count(AuditPlanFiring, AuditPlanFiring.plan_id == plan.id) == 1


def test_the_rule_is_evaluated_again_at_each_firing(factories):
    carrier = factories.supplier(chain_roles=["carrier"])
    seller = factories.supplier(chain_roles=["seller"])
    plan = make_plan()
    with unit_of_work():
        programme.fire(plan, D(2026, 2, 5))
    # Between the firings the seller becomes a carrier too, and the carrier is archived.
    with unit_of_work():
        supplier_services.update_supplier(seller, {"chain_roles": ["seller", "carrier"]}, None)
        supplier_services.archive_supplier(carrier, "Contratto cessato.", None)
    with unit_of_work():
        programme.fire(plan, D(2026, 3, 5))
    assert [(a.supplier_id, a.period_start) for a in audits_of(plan)] == [
        (carrier.id, D(2026, 1, 1)), (seller.id, D(2026, 2, 1))]


def test_a_list_plan_audits_its_suppliers_but_never_an_archived_one(factories):
    kept = factories.supplier(chain_roles=["seller"])
    gone = factories.supplier(chain_roles=["seller"])
    plan = make_plan(supplier_scope="list", suppliers=[kept.code, gone.code.lower()])
    assert {s.code for s in plan.suppliers} == {kept.code, gone.code}
    with unit_of_work():
        supplier_services.archive_supplier(gone, "Chiuso.", None)
    with unit_of_work():
        assert programme.fire(plan, D(2026, 3, 5)) == 1
    assert [a.supplier_id for a in audits_of(plan)] == [kept.id]


def test_risk_shortening_audits_critical_suppliers_in_the_months_between(factories):
    critical = factories.supplier(chain_roles=["carrier"], risk_class="critical")
    medium = factories.supplier(chain_roles=["carrier"], risk_class="medium")
    plan = make_plan(recurrence="quarterly", period_basis="previous_quarter", risk_recurrence={"critical": "monthly"})
    with unit_of_work():
        run = programme.run_due(D(2026, 4, 30))
    assert [d for _, d, _ in run.firings] == [D(2026, 1, 5), D(2026, 2, 5), D(2026, 3, 5), D(2026, 4, 5)]
    got = {(a.supplier_id, a.period_start, a.period_end) for a in audits_of(plan)}
    assert got == {
        (critical.id, D(2025, 12, 1), D(2025, 12, 31)), (critical.id, D(2026, 1, 1), D(2026, 1, 31)),
        (critical.id, D(2026, 2, 1), D(2026, 2, 28)), (critical.id, D(2026, 3, 1), D(2026, 3, 31)),
        (medium.id, D(2025, 10, 1), D(2025, 12, 31)), (medium.id, D(2026, 1, 1), D(2026, 3, 31)),
    }


def test_an_on_site_plan_gives_its_audits_the_published_checklist(factories):
    from tests.questionnaires.conftest import build_questionnaire

    manager = factories.user("quality_manager")
    version = build_questionnaire(manager)
    factories.supplier(chain_roles=["carrier"])
    plan = make_plan(audit_type="on_site", checklist_template_id=version.template_id)
    with unit_of_work():
        programme.fire(plan, D(2026, 3, 5))
    (audit,) = audits_of(plan)
    assert (audit.audit_type, audit.checklist_version_id) == ("on_site", version.id)


# run-due: twice, and after downtime ----------------------------------------------------------

def test_run_due_twice_creates_nothing_the_second_time(app, factories):
    factories.supplier(chain_roles=["carrier"])
    plan = make_plan()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["audits", "run-due", "--at", "2026-03-05"])
    assert first.exit_code == 0, first.output
    assert first.output.strip() == ("3 firings, 3 audits created (2 late firings caught up) as of 2026-03-05")
    second = runner.invoke(args=["audits", "run-due", "--at", "2026-03-05"])
    assert second.output.strip() == "0 firings, 0 audits created (0 late firings caught up) as of 2026-03-05"
    assert len(audits_of(plan)) == 3


@pytest.mark.parametrize("bad", ["05/03/2026", "2026-02-30", "yesterday"])
def test_run_due_refuses_a_bad_date_cleanly(app, bad):
    result = app.test_cli_runner().invoke(args=["audits", "run-due", "--at", bad])
    assert result.exit_code == 1 and "Give --at as YYYY-MM-DD." in result.output
    assert "Traceback" not in result.output


def test_the_catch_up_fires_each_missed_day_once_in_order(factories):
    supplier = factories.supplier(chain_roles=["carrier"])
    plan = make_plan()
    with unit_of_work():
        programme.run_due(D(2026, 1, 20))              # January's firing, then "downtime"
    assert [a.period_start for a in audits_of(plan)] == [D(2025, 12, 1)]

    run = programme.run_due(D(2026, 4, 10), unit=unit_of_work)
    assert [(p, d, n) for p, d, n in run.firings] == [
        (plan.id, D(2026, 2, 5), 1), (plan.id, D(2026, 3, 5), 1), (plan.id, D(2026, 4, 5), 1)]
    assert run.late == 3       # all before April 10
    assert [(a.period_start, a.scheduled_for) for a in audits_of(plan)] == [
        (D(2025, 12, 1), D(2026, 1, 5)), (D(2026, 1, 1), D(2026, 2, 5)),
        (D(2026, 2, 1), D(2026, 3, 5)), (D(2026, 3, 1), D(2026, 4, 5))]
    # Oldest first: the firings were recorded in date order.
    firings = db.session.scalars(select(AuditPlanFiring).where(AuditPlanFiring.plan_id == plan.id)
                                 .order_by(AuditPlanFiring.id)).all()
    assert [f.scheduled_for for f in firings] == [D(2026, 1, 5), D(2026, 2, 5), D(2026, 3, 5), D(2026, 4, 5)]
    late = db.session.scalar(select(AuditEvent.note).join(Audit, Audit.id == AuditEvent.audit_id)
                             .where(Audit.supplier_id == supplier.id, Audit.scheduled_for == D(2026, 2, 5)))
    assert "late" in late and "2026-04-10" in late
    assert programme.run_due(D(2026, 4, 10), unit=unit_of_work).firings == []


def test_a_deactivated_plan_does_not_catch_up_its_pause(factories):
    factories.supplier(chain_roles=["carrier"])
    plan = make_plan()
    with unit_of_work():
        programme.run_due(D(2026, 1, 10))
        programme.deactivate_plan(plan, None)
    assert programme.run_due(D(2026, 3, 10), unit=unit_of_work).firings == []
    with unit_of_work():
        programme.activate_plan(plan, None, today=D(2026, 4, 1))
    run = programme.run_due(D(2026, 4, 10), unit=unit_of_work)
    assert [(d, n) for _, d, n in run.firings] == [(D(2026, 4, 5), 1)]
    assert [a.scheduled_for for a in audits_of(plan)] == [D(2026, 1, 5), D(2026, 4, 5)]


def test_one_failing_firing_does_not_stop_the_others(factories, monkeypatch):
    factories.supplier(chain_roles=["carrier"])
    plan = make_plan()
    real = programme._fire

    def flaky(plan, day, today):
        if day == D(2026, 2, 5):
            raise RuntimeError("boom")
        return real(plan, day, today)

    monkeypatch.setattr(programme, "_fire", flaky)
    run = programme.run_due(D(2026, 3, 10), unit=unit_of_work)
    assert [d for _, d, _ in run.firings] == [D(2026, 1, 5), D(2026, 3, 5)]
    assert run.failed == [(plan.id, D(2026, 2, 5), "RuntimeError")]
    assert "failed: plan" in run.summary()
    monkeypatch.setattr(programme, "_fire", real)
    # The failed day is before the latest firing: the catch-up rule moves on from there.
    assert [a.scheduled_for for a in audits_of(plan)] == [D(2026, 1, 5), D(2026, 3, 5)]


# Four processes racing over 1,000 firings ----------------------------------------------------

def _own_database(tmp_path: Path, suffix: str):
    """A database of this test's own (see tests/questionnaires/test_reminders.py)."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{tmp_path / 'race.sqlite'}", lambda: None
    admin = create_engine(normalise_database_url(base), isolation_level="AUTOCOMMIT")
    name = admin.url.database + suffix
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin.url.set(database=name).render_as_string(hide_password=False), drop


PLANS, MONTHS = 10, 100       # 10 plans × 100 monthly firings = 1,000 firings, one supplier each


@pytest.mark.no_db
def test_four_processes_racing_over_1000_firings_create_each_audit_once(tmp_path):
    from flask_migrate import upgrade

    url, drop = _own_database(tmp_path, "_audit_race")
    instance = tmp_path / "instance"
    app = create_app(app_config.TestConfig(database_url=url, instance_dir=instance))
    at = D(2026, 4, 30)
    starts_on = D(2018, 1, 1)           # Jan 2018 … Apr 2026: exactly 100 monthly firings
    try:
        with app.app_context():
            upgrade()
            factories = Factories()
            for n in range(PLANS):
                supplier = with_contact(factories.supplier(chain_roles=["carrier"], code=f"RACE-{n:02d}"),
                                        f"race{n}@carrier.example")
                make_plan(name=f"Plan {n}", supplier_scope="list", suppliers=[supplier.code], starts_on=starts_on,
                          day_of_month=1 + n)
            assert sum(len(programme.firing_days(p, starts_on, at))
                       for p in db.session.scalars(select(AuditPlan))) == PLANS * MONTHS
            db.session.remove()
            db.engine.dispose()

        env = {**os.environ, "DATABASE_URL": url, "CATENA_INSTANCE_DIR": str(instance),
               "SECRET_KEY": app.config["SECRET_KEY"], "SMTP_HOST": ""}
        command = [sys.executable, "-m", "flask", "--app", "app", "audits", "run-due", "--at", at.isoformat()]
        processes = [subprocess.Popen(command, cwd=ROOT_DIR, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for _ in range(4)]
        outputs = [p.communicate(timeout=300) for p in processes]
        for process, (out, err) in zip(processes, outputs):
            assert process.returncode == 0, err
            assert "IntegrityError" not in err and "Traceback" not in err, err
        summaries = [out.strip().splitlines()[-1] for out, _ in outputs]
        created = [int(re.search(r"(\d+) audits created", s).group(1)) for s in summaries]
        fired = [int(re.match(r"(\d+) firings", s).group(1)) for s in summaries]
        assert (sum(fired), sum(created)) == (PLANS * MONTHS, PLANS * MONTHS), summaries

        with app.app_context():
            def n(stmt):
                return db.session.scalar(select(func.count()).select_from(stmt.subquery()))

            keys = select(Audit.plan_id, Audit.supplier_id, Audit.period_start)
            assert n(keys) == n(keys.distinct()) == PLANS * MONTHS
            assert n(select(AuditPlanFiring.id)) == PLANS * MONTHS
            assert n(select(AuditEvent.id).where(AuditEvent.kind == "created")) == PLANS * MONTHS
            mails = select(OutboxMessage.id).where(OutboxMessage.kind == "audit_planned")
            assert n(mails) == PLANS * MONTHS
            assert n(select(OutboxMessage.id).where(OutboxMessage.status != "sent")) == 0
            db.session.remove()
            db.engine.dispose()
        assert len(list((instance / "mail").glob("*-audit_planned.eml"))) == PLANS * MONTHS
    finally:
        drop()
