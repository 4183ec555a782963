"""The daily questionnaire step: each reminder is sent once, requalification starts once, and the
command line runs it — alone or twice at the same time.

Dates are passed explicitly and counted from `TODAY`. `TODAY` is the real date because the step
checks a link's expiry against the real clock (a reminder must carry a link that still works):
an anchor fixed in the calendar would make these tests fail once it fell far enough behind.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from app import create_app
from app import config as app_config
from app.config import ROOT_DIR, normalise_database_url
from app.db import db, unit_of_work
from app.outbox import OutboxMessage
from questionnaires.models import Assignment, AssignmentEvent, AssignmentStatus, VersionStatus
from questionnaires.services import assignments as service
from questionnaires.services import templates as template_service
from questionnaires.services.reminders import run_daily, start_due_requalifications, start_requalification
from suppliers import services as supplier_services
from tests.factories import Factories
from tests.questionnaires.conftest import build_questionnaire

TODAY = dt.date.today()
DAY = dt.timedelta(days=1)

#: The carrier questionnaire answered in full (63 %, a conditional pass).
FULL = dict(iso9001="yes", insurance="low", on_time="93", subcontracts="yes", controls=["audit", "kpi"], tracking="4")


def _form(version, **answers):
    by_key = {q.key: q.id for q in version.questions()}
    return {by_key[k]: (v if isinstance(v, list) else [v]) for k, v in answers.items()}


def _supplier(factories, email: str, **kw):
    supplier = factories.supplier(**kw)
    supplier_services.add_contact(supplier, {"name": "Giulia Verdi", "email": email, "is_primary": True}, None)
    db.session.commit()
    return supplier


def _send(version, supplier, *, sent_on: dt.date, due: dt.date, actor=None, language="en") -> Assignment:
    with unit_of_work():
        return service.send_assignment(version, supplier, due, actor, today=sent_on, language=language)


def qualify(version, supplier, manager, *, decided_on: dt.date, language="en") -> Assignment:
    """Send, answer and approve a questionnaire: the supplier is qualified through it."""
    assignment = _send(version, supplier, sent_on=TODAY, due=TODAY + 14 * DAY, actor=manager, language=language)
    with unit_of_work():
        service.save_answers(assignment, _form(version, **FULL), submit=True)
    with unit_of_work():
        service.decide(assignment, "approved", "Requisiti verificati.", manager, today=decided_on)
    return assignment


def _remind(day: dt.date):
    with unit_of_work():
        return run_daily(day)


def _mails(kind: str, recipient: str | None = None) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
    if recipient:
        stmt = stmt.where(OutboxMessage.recipient == recipient)
    return list(db.session.scalars(stmt))


def _events(assignment: Assignment, kind: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AssignmentEvent)
                             .where(AssignmentEvent.assignment_id == assignment.id, AssignmentEvent.kind == kind))


# Reminders ---------------------------------------------------------------------------------

def test_an_assignment_due_in_three_days_is_reminded_once(carrier_questionnaire, factories):
    soon = _send(carrier_questionnaire, _supplier(factories, "soon@carrier.example"), sent_on=TODAY - 10 * DAY,
                 due=TODAY + 3 * DAY)
    later = _send(carrier_questionnaire, _supplier(factories, "later@carrier.example"), sent_on=TODAY - 10 * DAY,
                  due=TODAY + 4 * DAY)

    run = _remind(TODAY)
    assert run.reminded_due == [soon.id] and run.reminded_overdue == []
    assert len(_mails("questionnaire_reminder", "soon@carrier.example")) == 1
    assert _mails("questionnaire_reminder", "later@carrier.example") == []   # 4 days: not yet

    # The same day again, and the next day: nothing more for `soon`; `later` is now 3 days off.
    assert _remind(TODAY).reminded_due == []
    assert _remind(TODAY + DAY).reminded_due == [later.id]
    assert len(_mails("questionnaire_reminder", "soon@carrier.example")) == 1
    assert len(_mails("questionnaire_reminder", "later@carrier.example")) == 1
    assert _events(soon, "reminded_due") == 1
    assert _mails("questionnaire_overdue") == []


def test_an_overdue_assignment_gets_exactly_one_overdue_reminder(carrier_questionnaire, factories):
    late = _send(carrier_questionnaire, _supplier(factories, "late@carrier.example"), sent_on=TODAY - 20 * DAY,
                 due=TODAY - DAY)
    # Reminded while due soon, then overdue: one of each.
    soon = _send(carrier_questionnaire, _supplier(factories, "soon@carrier.example"), sent_on=TODAY - 5 * DAY,
                 due=TODAY + 2 * DAY)

    first = _remind(TODAY)
    assert first.reminded_overdue == [late.id] and first.reminded_due == [soon.id]
    assert _remind(TODAY).reminded_overdue == []
    assert _remind(TODAY + 3 * DAY).reminded_overdue == [soon.id]     # due + 1 day
    assert _remind(TODAY + 4 * DAY).reminded_overdue == []
    assert len(_mails("questionnaire_overdue", "late@carrier.example")) == 1
    assert len(_mails("questionnaire_overdue", "soon@carrier.example")) == 1
    assert _mails("questionnaire_reminder", "late@carrier.example") == []   # never "due soon" once late
    assert len(_mails("questionnaire_reminder", "soon@carrier.example")) == 1
    assert (_events(late, "reminded_overdue"), _events(soon, "reminded_due"), _events(soon, "reminded_overdue")) \
        == (1, 1, 1)
    body = _mails("questionnaire_overdue", "late@carrier.example")[0].body
    assert "has not been submitted yet" in body and service.portal_url(late) in body


def test_submitted_cancelled_and_revoked_assignments_get_no_reminder(carrier_questionnaire, factories):
    version = carrier_questionnaire
    sent_on, due = TODAY - 10 * DAY, TODAY + 2 * DAY
    submitted = _send(version, _supplier(factories, "submitted@carrier.example"), sent_on=sent_on, due=due)
    cancelled = _send(version, _supplier(factories, "cancelled@carrier.example"), sent_on=sent_on, due=due)
    revoked = _send(version, _supplier(factories, "revoked@carrier.example"), sent_on=sent_on, due=due)
    drafted = _send(version, _supplier(factories, "drafted@carrier.example"), sent_on=sent_on, due=due)
    with unit_of_work():
        service.save_answers(submitted, _form(version, **FULL), submit=True)
        service.cancel(cancelled, "Inviato al fornitore sbagliato.", None)
        service.revoke_link(revoked, None)
        service.save_answers(drafted, _form(version, iso9001="yes"), submit=False)
    assert drafted.status == AssignmentStatus.IN_PROGRESS

    # Due soon, then overdue: only the one still being answered is reminded, both times.
    assert _remind(TODAY).reminded_due == [drafted.id]
    assert _remind(TODAY + 5 * DAY).reminded_overdue == [drafted.id]
    recipients = {m.recipient for m in _mails("questionnaire_reminder") + _mails("questionnaire_overdue")}
    assert recipients == {"drafted@carrier.example"}


def test_the_reminder_carries_the_link_the_supplier_already_has(app, carrier_questionnaire, factories):
    assignment = _send(carrier_questionnaire, _supplier(factories, "giulia@carrier.example"),
                       sent_on=TODAY - 10 * DAY, due=TODAY + DAY)
    link = service.portal_url(assignment)
    token_hash = assignment.token_hash
    sent = _mails("questionnaire_sent", "giulia@carrier.example")[0]
    assert link in sent.body

    _remind(TODAY)
    reminder = _mails("questionnaire_reminder", "giulia@carrier.example")[0]
    assert link in reminder.body
    assert app.config["CATENA_COMPANY_NAME"] in reminder.subject
    db.session.refresh(assignment)
    assert assignment.token_hash == token_hash        # not a new link: the old one still works
    assert service.assignment_for_token(link.rsplit("/", 1)[1]).id == assignment.id
    # The reminder was delivered after the commit, like every e-mail.
    assert reminder.status == "sent"


# Requalification ---------------------------------------------------------------------------

def _publish_v2(version, manager):
    """A second version of the template, published: v1 is retired."""
    draft = template_service.new_draft(version.template, manager)
    template_service.add_question(draft.sections[0], {
        "key": "fleet_age", "type": "number", "text": "Average age of your vehicles", "weight": 1, "required": True,
        "unit": "years", "scoring": {"bands": [{"min": None, "max": 5, "score": 2}, {"min": 5, "max": None, "score": 0}]},
    }, manager)
    template_service.publish(draft, manager)
    db.session.commit()
    return draft


def test_a_qualification_about_to_expire_starts_one_requalification_with_the_current_version(
        app, carrier_questionnaire, factories):
    manager = factories.user("quality_manager")
    v1 = carrier_questionnaire
    supplier = _supplier(factories, "requal@carrier.example")
    # Approved 350 days ago for 12 months: the qualification ends within REQUALIFICATION_DAYS.
    decided_on = TODAY - 350 * DAY
    first = qualify(v1, supplier, manager, decided_on=decided_on, language="it")
    assert supplier.status == "approved" and supplier.qualified_until == service.add_months(decided_on, 12)
    assert TODAY < supplier.qualified_until <= TODAY + app.config["REQUALIFICATION_DAYS"] * DAY
    v2 = _publish_v2(v1, manager)
    assert (v1.status, v2.status, v2.number) == (VersionStatus.RETIRED, VersionStatus.PUBLISHED, 2)

    run = _remind(TODAY)
    assert len(run.requalifications) == 1 and run.skipped == []
    requal = db.session.get(Assignment, run.requalifications[0])
    assert requal.id != first.id
    assert requal.purpose == "requalification" and requal.status == AssignmentStatus.SENT
    assert requal.version_id == v2.id
    assert requal.due_date == TODAY + app.config["REQUALIFICATION_ANSWER_DAYS"] * DAY
    assert supplier.status == "approved"        # qualified until the decision
    mail = _mails("questionnaire_sent", "requal@carrier.example")
    assert len(mail) == 2 and service.portal_url(requal) in mail[-1].body
    assert requal.language == "it"          # written to as the supplier was before
    assert supplier.qualified_until.isoformat() in requal.message

    # A second run, the same day or the next, starts nothing more.
    assert _remind(TODAY).requalifications == []
    assert _remind(TODAY + DAY).requalifications == []
    assert db.session.scalar(select(func.count()).select_from(Assignment)
                             .where(Assignment.supplier_id == supplier.id)) == 2


def test_requalification_skips_who_cannot_or_need_not_be_asked(app, carrier_questionnaire, factories):
    manager = factories.user("quality_manager")
    version = carrier_questionnaire
    expiring_on = TODAY - 350 * DAY           # qualified until about two weeks from now
    # Approved by hand, never through a questionnaire: nothing to send, so it is reported.
    no_history = _supplier(factories, "nohistory@carrier.example", status="approved",
                           qualified_until=TODAY + 10 * DAY)
    # Already answering another questionnaire.
    busy = _supplier(factories, "busy@carrier.example")
    qualify(version, busy, manager, decided_on=expiring_on)
    other = build_questionnaire(manager, name="Pickup point qualification")
    _send(other, busy, sent_on=TODAY - 2 * DAY, due=TODAY + 20 * DAY)
    # Archived.
    archived = _supplier(factories, "archived@carrier.example")
    qualify(version, archived, manager, decided_on=expiring_on)
    with unit_of_work():
        supplier_services.archive_supplier(archived, "Contratto cessato.", manager)
    # Qualified beyond the horizon.
    later = _supplier(factories, "later@carrier.example")
    qualify(version, later, manager, decided_on=TODAY - 300 * DAY)
    assert later.qualified_until > TODAY + app.config["REQUALIFICATION_DAYS"] * DAY

    run = _remind(TODAY)
    assert run.requalifications == []
    assert run.skipped == [no_history.code]
    assert f"no questionnaire to send to {no_history.code}" in run.summary()
    assert db.session.scalar(select(func.count()).select_from(Assignment)
                             .where(Assignment.purpose == "requalification")) == 0


def test_the_requalification_hook_starts_one_at_once(app, carrier_questionnaire, factories):
    manager = factories.user("quality_manager")
    supplier = _supplier(factories, "hook@carrier.example")
    qualify(carrier_questionnaire, supplier, manager, decided_on=TODAY)      # a year to go
    reason = "Non conformità maggiore nell'audit di novembre: rivalutazione anticipata."

    with unit_of_work():
        started = start_requalification(supplier, reason, manager, today=TODAY)
    assert started is not None
    assert (started.purpose, started.status, started.version_id) == ("requalification", "sent", carrier_questionnaire.id)
    assert started.due_date == TODAY + app.config["REQUALIFICATION_ANSWER_DAYS"] * DAY
    assert started.message == reason and reason in _mails("questionnaire_sent", "hook@carrier.example")[-1].body

    with unit_of_work():
        assert start_requalification(supplier, reason, manager, today=TODAY) is None
    assert db.session.scalar(select(func.count()).select_from(Assignment)
                             .where(Assignment.supplier_id == supplier.id, Assignment.purpose == "requalification")) == 1
    # The daily step leaves it alone too (qualified for another year, and one is open).
    assert start_due_requalifications(TODAY).requalifications == []


# The command line --------------------------------------------------------------------------

SUMMARY = re.compile(r"^\d+ due-date reminders, \d+ overdue reminders, \d+ requalifications started", re.M)


def test_the_remind_command_prints_what_it_did(app, carrier_questionnaire, factories):
    _send(carrier_questionnaire, _supplier(factories, "cli@carrier.example"), sent_on=TODAY, due=TODAY + 5 * DAY)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["questionnaires", "remind", "--at", (TODAY + 2 * DAY).isoformat()])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 due-date reminders, 0 overdue reminders, 0 requalifications started"
    assert len(_mails("questionnaire_reminder", "cli@carrier.example")) == 1

    result = runner.invoke(args=["questionnaires", "remind", "--at", "2026-12-01"])
    assert result.exit_code == 0, result.output
    assert SUMMARY.match(result.output)


@pytest.mark.parametrize("bad", ["01/12/2026", "2026-13-01", "tomorrow"])
def test_the_remind_command_refuses_a_bad_date_cleanly(app, bad):
    result = app.test_cli_runner().invoke(args=["questionnaires", "remind", "--at", bad])
    assert result.exit_code == 1
    assert "Give --at as YYYY-MM-DD." in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


# Two processes at once ---------------------------------------------------------------------

def _own_database(tmp_path: Path):
    """A database of this test's own, outside the per-test transaction of the others: the
    processes it starts must see committed data, and what they commit must not leak.
    SQLite: a file in tmp_path; PostgreSQL: a database created next to TEST_DATABASE_URL's."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        url = f"sqlite:///{tmp_path / 'remind.sqlite'}"
        return url, lambda: None
    admin = create_engine(normalise_database_url(base), isolation_level="AUTOCOMMIT")
    name = admin.url.database + "_remind"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin.url.set(database=name).render_as_string(hide_password=False), drop


@pytest.mark.no_db
@pytest.mark.parametrize("reminders", [12, 0], ids=["reminders", "requalification-only"])
def test_two_processes_reminding_at_once_send_each_reminder_once(tmp_path, reminders):
    from flask_migrate import upgrade

    url, drop = _own_database(tmp_path)
    instance = tmp_path / "instance"
    app = create_app(app_config.TestConfig(database_url=url, instance_dir=instance))
    try:
        with app.app_context():
            upgrade()
            factories = Factories()
            manager = factories.user("quality_manager")
            version = build_questionnaire(manager)
            for n in range(reminders):
                supplier = _supplier(factories, f"soon{n}@carrier.example")
                _send(version, supplier, sent_on=TODAY - 10 * DAY, due=TODAY + 2 * DAY)
            for n in range(reminders):
                supplier = _supplier(factories, f"late{n}@carrier.example")
                _send(version, supplier, sent_on=TODAY - 20 * DAY, due=TODAY - 2 * DAY)
            expiring = _supplier(factories, "requal@carrier.example")
            qualify(version, expiring, manager, decided_on=TODAY - 350 * DAY)
            db.session.remove()
            db.engine.dispose()

        env = {**os.environ, "DATABASE_URL": url, "CATENA_INSTANCE_DIR": str(instance),
               "SECRET_KEY": app.config["SECRET_KEY"], "SMTP_HOST": ""}
        command = [sys.executable, "-m", "flask", "--app", "app", "questionnaires", "remind",
                   "--at", TODAY.isoformat()]
        processes = [subprocess.Popen(command, cwd=ROOT_DIR, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [p.communicate(timeout=120) for p in processes]
        for process, (out, err) in zip(processes, outputs):
            assert process.returncode == 0, err
        summaries = sorted(out.strip().splitlines()[-1] for out, _ in outputs)
        # Between them, every reminder and the requalification once; nobody told "nothing to send".
        started = [int(re.search(r"(\d+) requalifications started", s).group(1)) for s in summaries]
        due = [int(re.search(r"(\d+) due-date reminders", s).group(1)) for s in summaries]
        overdue = [int(re.search(r"(\d+) overdue reminders", s).group(1)) for s in summaries]
        assert (sum(due), sum(overdue), sum(started)) == (reminders, reminders, 1), summaries
        assert not any("no questionnaire" in s for s in summaries), summaries

        with app.app_context():
            def count(stmt):
                return db.session.scalar(select(func.count()).select_from(stmt.subquery()))

            due_soon = select(OutboxMessage.recipient).where(OutboxMessage.kind == "questionnaire_reminder")
            overdues = select(OutboxMessage.recipient).where(OutboxMessage.kind == "questionnaire_overdue")
            assert count(due_soon) == count(due_soon.distinct()) == reminders
            assert count(overdues) == count(overdues.distinct()) == reminders
            assert count(select(AssignmentEvent.id).where(AssignmentEvent.kind == "reminded_due")) == reminders
            assert count(select(AssignmentEvent.id).where(AssignmentEvent.kind == "reminded_overdue")) == reminders
            assert count(select(Assignment.id).where(Assignment.purpose == "requalification")) == 1
            assert count(select(OutboxMessage.id).where(OutboxMessage.status != "sent")) == 0
            db.session.remove()
            db.engine.dispose()
        # Each delivered once, to the mail sink of the processes (no SMTP_HOST).
        sink = instance / "mail"
        assert len(list(sink.glob("*-questionnaire_reminder.eml"))) == reminders
        assert len(list(sink.glob("*-questionnaire_overdue.eml"))) == reminders
    finally:
        drop()
