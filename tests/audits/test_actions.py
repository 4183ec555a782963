"""Corrective actions through the services: requesting, the supplier's answer, the review,
effectiveness computed from later SLA periods (numbers worked out by hand), and the daily step."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict

from app.db import db, unit_of_work
from app.errors import Conflict, ValidationFailed
from audits.models import AuditEvent, CorrectiveAction
from audits.services import actions as service
from suppliers.models import StatusChange
from tests.audits.action_fixtures import make_finding, request_action  # noqa: F401  (fixtures)
from tests.audits.action_fixtures import PDF, at, mails, on_time_sla, record_month

TODAY = dt.date(2026, 3, 1)


def answer(**overrides):
    values = {"containment": "Re-sorted every parcel at the hub the same day.", "method": "five_whys",
              "why1": "Parcels left late.", "why2": "The van was loaded late.", "why3": "No shift plan on Mondays.",
              "root_cause": "No Monday shift plan at the hub.", "action_plan": "A shift plan for every day.",
              "action_due_date": "2026-04-15"}
    values.update(overrides)
    return MultiDict(values)


def pdf(name="evidence.pdf"):
    return FileStorage(stream=io.BytesIO(PDF), filename=name, content_type="application/pdf")


def respond(action, values=None, files=None, *, submit=True, today=TODAY):
    with unit_of_work():
        service.respond(action, values or answer(), files or [], set(), submit=submit, today=today, now=at(today))


def accepted_on(action, day: dt.date, actor=None):
    """Accept, then record the acceptance as made on `day` (10:00 in Rome)."""
    with unit_of_work():
        service.accept(action, "Plan accepted.", actor, action.version)
    action.reviewed_at = at(day, 10)
    db.session.commit()


# Requesting --------------------------------------------------------------------------------

def test_only_a_nonconformity_can_have_a_corrective_action(make_finding, request_action):
    observation = make_finding(grade="observation")
    with pytest.raises(ValidationFailed) as refused:
        request_action(observation)
    assert refused.value.code == "not_a_nonconformity"
    assert db.session.scalar(select(CorrectiveAction.id)) is None


def test_request_mails_the_private_link_and_records_the_event(make_finding, request_action):
    finding = make_finding(grade="minor_nc")
    action = request_action(finding, request_text="Please answer within the month.")
    assert (action.status, action.due_date, action.recipient_email) == ("requested", dt.date(2026, 3, 10),
                                                                        "giulia@carrier.example")
    [mail] = mails("action_requested")
    secret = service.portal_url(action).rsplit("/", 1)[1]
    assert mail.recipient == "giulia@carrier.example"
    assert f"/ca/{secret}" in mail.body and "Please answer within the month." in mail.body
    # Only the nonce and the digest are stored, never the secret.
    assert secret not in (action.token_nonce, action.token_hash)
    assert service.action_for_token(secret).id == action.id
    assert [e.kind for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action_id == action.id))] \
        == ["action_requested"]


def test_one_open_action_per_finding(make_finding, request_action):
    finding = make_finding()
    request_action(finding)
    with pytest.raises(Conflict):
        request_action(finding)


def test_sla_method_needs_a_finding_from_an_sla(make_finding, request_action):
    finding = make_finding(series_id=None)
    with pytest.raises(ValidationFailed) as refused:
        request_action(finding, effectiveness_method="sla")
    assert "effectiveness_method" in refused.value.fields


def test_sla_method_takes_the_series_from_the_finding(make_finding, request_action):
    finding = make_finding()
    standard = on_time_sla(finding.audit.supplier)
    finding.series_id = standard.series_id
    db.session.commit()
    action = request_action(finding, effectiveness_periods=3)
    assert (action.effectiveness_method, action.series_id, action.effectiveness_periods) == \
        ("sla", standard.series_id, 3)


# The supplier's answer -------------------------------------------------------------------------

def test_draft_then_submit_with_a_pdf(make_finding, request_action):
    action = request_action(make_finding())
    respond(action, answer(root_cause="", action_plan="", status="closed", supplier_id="999"), submit=False)
    assert action.status == "requested" and action.containment.startswith("Re-sorted")
    assert action.why_analysis == {"method": "five_whys",
                                   "whys": ["Parcels left late.", "The van was loaded late.", "No shift plan on Mondays."]}
    respond(action, files=[pdf()])
    assert action.status == "responded" and action.responded_at is not None
    assert [f.file_name for f in action.files] == ["evidence.pdf"]
    with pytest.raises(service.LinkClosed):
        respond(action)


def test_submit_needs_containment_root_cause_action_and_a_date_not_in_the_past(make_finding, request_action):
    action = request_action(make_finding())
    with pytest.raises(ValidationFailed) as refused:
        respond(action, answer(containment="", root_cause=" ", action_plan="", action_due_date="2026-02-28"))
    assert set(refused.value.fields) == {"containment", "root_cause", "action_plan", "action_due_date"}
    db.session.refresh(action)
    assert (action.status, action.containment) == ("requested", None)


def test_eight_d_fields_replace_the_five_whys(make_finding, request_action):
    action = request_action(make_finding())
    eight_d = {f"d{i}": f"discipline {i}" for i in range(1, 9)}
    respond(action, answer(method="8d", **eight_d), submit=False)
    assert action.why_analysis == {"method": "8d", **eight_d}
    assert service.answer_of(action).method == "8d"


# Review ---------------------------------------------------------------------------------------

def test_send_back_reopens_the_link_and_mails_the_note(make_finding, request_action, factories):
    manager = factories.user(role="quality_manager")
    action = request_action(make_finding(), manager)
    respond(action)
    with pytest.raises(ValidationFailed):
        with unit_of_work():
            service.send_back(action, " ", manager, action.version, today=TODAY)
    with unit_of_work():
        service.send_back(action, "Add the driver training records.", manager, action.version, today=TODAY)
    assert action.status == "returned" and action.is_open_for_supplier(at(TODAY))
    assert "Add the driver training records." in mails("action_sent_back")[0].body
    respond(action)
    assert action.status == "responded"
    with pytest.raises(Conflict):  # a page loaded before the resubmission
        with unit_of_work():
            service.accept(action, None, manager, action.version - 1)
    with unit_of_work():
        service.accept(action, None, manager, action.version)
    assert action.status == "accepted" and action.reviewed_by_id == manager.id
    assert len(mails("action_accepted")) == 1
    kinds = [e.kind for e in service.history_of(action)]
    assert kinds == ["action_requested", "action_responded", "action_sent_back", "action_resubmitted",
                     "action_accepted"]


# Effectiveness ------------------------------------------------------------------------------

@pytest.fixture
def sla_action(make_finding, request_action):
    """A major NC on the on-time SLA (target ≥ 95 %), answered and accepted on 20 March 2026,
    to be met in the 2 periods after: April and May 2026."""
    finding = make_finding()
    supplier = finding.audit.supplier
    finding.series_id = on_time_sla(supplier).series_id
    db.session.commit()
    action = request_action(finding, effectiveness_periods=2)
    respond(action)
    accepted_on(action, dt.date(2026, 3, 20))
    # March, the month of acceptance, is breached (5 of 10) and must not count.
    record_month(supplier, 2026, 3, on_time=5, late=5)
    return action


def test_effective_when_met_in_every_period_after_acceptance(sla_action):
    supplier = sla_action.supplier
    record_month(supplier, 2026, 4, on_time=24, late=1)   # 24/25 = 96.0 %
    record_month(supplier, 2026, 5, on_time=39, late=1)   # 39/40 = 97.5 %
    record_month(supplier, 2026, 6, on_time=1, late=9)    # June is the 3rd period: not checked
    with unit_of_work():
        result = service.verify(sla_action, None, today=dt.date(2026, 6, 1))
    assert [(p.key, p.status) for p in result.periods] == [("2026-04", "met"), ("2026-05", "met")]
    assert sla_action.status == "closed"
    assert sla_action.effectiveness_result == "On-time delivery met in 2026-04 (96.0 %) and 2026-05 (97.5 %)"
    assert len(mails("action_closed")) == 1


def test_ineffective_when_one_period_is_breached(sla_action):
    supplier = sla_action.supplier
    record_month(supplier, 2026, 4, on_time=24, late=1)   # 96.0 %: met
    record_month(supplier, 2026, 5, on_time=18, late=2)   # 18/20 = 90.0 % < 95 %: breached
    with unit_of_work():
        service.verify(sla_action, None, today=dt.date(2026, 6, 1))
    assert sla_action.status == "ineffective"
    assert sla_action.effectiveness_result == "On-time delivery not met in 2026-05 (90.0 %); met in 2026-04 (96.0 %)"


def test_not_yet_while_the_periods_are_not_over(sla_action):
    supplier = sla_action.supplier
    record_month(supplier, 2026, 4, on_time=24, late=1)
    record_month(supplier, 2026, 5, on_time=1, late=9)    # breached, but May is not over on 31 May
    with unit_of_work():
        result = service.verify(sla_action, None, today=dt.date(2026, 5, 31))
    assert result.state == service.NOT_YET and result.known_after == dt.date(2026, 5, 31)
    assert sla_action.status == "accepted" and sla_action.effectiveness_result is None


def test_a_period_without_data_leaves_it_to_a_person(sla_action):
    record_month(sla_action.supplier, 2026, 4, on_time=24, late=1)   # May has no legs
    result = service.effectiveness(sla_action, dt.date(2026, 6, 1))
    assert result.state == service.NO_DATA
    with unit_of_work():
        service.verify(sla_action, None, today=dt.date(2026, 6, 1))
    assert sla_action.status == "accepted"


def test_manual_verification_needs_a_note(make_finding, request_action, factories):
    manager = factories.user(role="quality_manager")
    action = request_action(make_finding(grade="minor_nc"), manager)
    assert action.effectiveness_method == "manual"
    respond(action)
    with unit_of_work():
        service.accept(action, None, manager, action.version)
    with pytest.raises(ValidationFailed) as refused:
        with unit_of_work():
            service.verify_manually(action, True, "  ", [], manager, expected_version=action.version)
    assert refused.value.fields == {"note": "Say how effectiveness was verified."}
    assert action.status == "accepted"
    with unit_of_work():
        service.verify_manually(action, True, "On-site check of the hub on 2 May: shift plan in use.", [pdf()],
                                manager, expected_version=action.version)
    assert action.status == "closed" and action.verified_by_id == manager.id
    assert action.effectiveness_result == "Verified effective: On-site check of the hub on 2 May: shift plan in use."
    assert [e.description for e in action.finding.audit.evidence] == [f"CA-{action.id}: effectiveness evidence"]
    with pytest.raises(Conflict):
        with unit_of_work():
            service.verify_manually(action, False, "again", [], manager)


# The daily step -----------------------------------------------------------------------------

def test_run_daily_twice_reminds_escalates_and_suspends_once(make_finding, request_action, factories, app):
    manager = factories.user(role="quality_manager", email="qm@catena.example")
    factories.user(role="auditor")  # not a quality manager: not mailed
    finding = make_finding(grade="major_nc")
    supplier = finding.audit.supplier
    action = request_action(finding, manager, due_date=dt.date(2026, 3, 10))

    for _ in range(2):
        with unit_of_work():
            service.run_daily(dt.date(2026, 3, 6))      # due in 4 days: no reminder yet
    assert mails("action_due_soon") == []
    runs = []
    for _ in range(2):
        with unit_of_work():
            runs.append(service.run_daily(dt.date(2026, 3, 8)))
    assert [r.reminded for r in runs] == [[action.id], []]
    assert len(mails("action_due_soon")) == 1

    for _ in range(2):
        with unit_of_work():
            runs.append(service.run_daily(dt.date(2026, 3, 11)))
    assert [r.escalated for r in runs[2:]] == [[action.id], []]
    assert [r.consequences for r in runs[2:]] == [[action.id], []]
    assert [m.recipient for m in mails("action_escalated")] == ["qm@catena.example"]
    assert [m.recipient for m in mails("action_overdue")] == ["giulia@carrier.example"]
    db.session.refresh(supplier)
    assert supplier.status == "suspended"
    changes = db.session.scalars(select(StatusChange).where(StatusChange.supplier_id == supplier.id,
                                                            StatusChange.to_status == "suspended")).all()
    assert [c.reason for c in changes] == [
        f"Corrective action CA-{action.id} for major nonconformity F1 of audit #{finding.audit_id} "
        f"overdue since 2026-03-10."]
    # A later day changes nothing more.
    with unit_of_work():
        later = service.run_daily(dt.date(2026, 3, 20))
    assert (later.reminded, later.escalated, later.consequences) == ([], [], [])


def test_consequence_waits_for_the_grace_days_and_spares_minor_findings(make_finding, request_action, app):
    major = make_finding(grade="major_nc")
    minor = make_finding(grade="minor_nc", audit=major.audit)
    supplier = major.audit.supplier
    request_action(major, due_date=dt.date(2026, 3, 10))
    request_action(minor, due_date=dt.date(2026, 3, 10))
    app.config["CORRECTIVE_ACTION_GRACE_DAYS"] = 5
    try:
        with unit_of_work():
            on_15th = service.run_daily(dt.date(2026, 3, 15))   # 10 + 5 = 15: not past yet
        with unit_of_work():
            on_16th = service.run_daily(dt.date(2026, 3, 16))
    finally:
        del app.config["CORRECTIVE_ACTION_GRACE_DAYS"]
    assert len(on_15th.escalated) == 2 and on_15th.consequences == []
    assert len(on_16th.consequences) == 1
    db.session.refresh(supplier)
    assert supplier.status == "suspended"


def test_consequence_is_skipped_when_the_status_does_not_allow_it(make_finding, request_action, factories):
    supplier = factories.supplier(status="in_qualification", chain_roles=["last_mile"])
    from suppliers import services as supplier_services
    supplier_services.add_contact(supplier, {"name": "Ada", "email": "ada@example.test", "is_primary": True}, None)
    db.session.commit()
    action = request_action(make_finding(supplier=supplier), due_date=dt.date(2026, 3, 10))
    for _ in range(2):
        with unit_of_work():
            service.run_daily(dt.date(2026, 3, 12))
    db.session.refresh(supplier)
    assert supplier.status == "in_qualification"
    assert [e.kind for e in service.history_of(action)].count("consequence_skipped") == 1


def test_run_daily_verifies_accepted_sla_actions_whose_periods_are_over(sla_action):
    supplier = sla_action.supplier
    record_month(supplier, 2026, 4, on_time=24, late=1)
    record_month(supplier, 2026, 5, on_time=39, late=1)
    with unit_of_work():
        early = service.run_daily(dt.date(2026, 5, 20))
    assert early.verified == [] and sla_action.status == "accepted"
    with unit_of_work():
        first = service.run_daily(dt.date(2026, 6, 2))
    with unit_of_work():
        second = service.run_daily(dt.date(2026, 6, 3))
    assert (first.verified, second.verified) == ([sla_action.id], [])
    db.session.refresh(sla_action)
    assert sla_action.status == "closed"
    assert len(mails("action_closed")) == 1


def test_actions_daily_job_runs_one_unit(sla_action):
    from audits.jobs import actions_daily

    run = actions_daily(dt.date(2026, 3, 25))
    assert "effectiveness verifications" in run.summary()


def test_a_step_claimed_by_another_run_is_not_done_again(make_finding, request_action):
    """Two runs racing: the second finds the reminder already claimed (its conditional UPDATE
    matches no row) and sends nothing, even though it selected the action as due."""
    action = request_action(make_finding(), due_date=dt.date(2026, 3, 10))
    with unit_of_work():
        assert service._claim(action.id, CorrectiveAction.reminded_due_at) is True
    with unit_of_work():
        run = service.DailyRun()
        service.send_due_reminders(dt.date(2026, 3, 8), run)
        assert service._claim(action.id, CorrectiveAction.reminded_due_at) is False
    assert run.reminded == [] and mails("action_due_soon") == []
