"""Conducting an audit (audits.services.conduct): lifecycle, the frozen SLA snapshot, proposed
and manual findings, auditee responses, details, checklist. Expected values worked out by hand."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app.db import db, unit_of_work
from app.errors import Conflict, ValidationFailed
from app.outbox import OutboxMessage
from audits.models import AuditSlaResult, AuditStatus, CorrectiveAction, Finding
from audits.services import conduct
from questionnaires.models import Assignment
from tests.questionnaires.conftest import build_questionnaire
from tests.questionnaires.test_reminders import qualify

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)


def _snapshot(audit, actor=None):
    with unit_of_work():
        return conduct.compute_snapshot(audit, actor, now=NOW)


def _ready_to_issue(audit):
    audit.conclusions = "The courier misses its on-time target."
    audit.fulfilment = "Criteria partly fulfilled."
    db.session.commit()


# The snapshot ---------------------------------------------------------------------------------

def test_snapshot_measures_each_sla_over_the_audit_period(make_carrier, sla, legs, make_audit):
    courier = make_carrier()
    standard = sla(courier, target="0.95")
    legs(courier, "2026-03", on_time=17, late=3)   # 17 / 20 = 0.85 < 0.95
    legs(courier, "2026-04", on_time=1, late=9)    # another month: not in the audit
    audit = make_audit(courier, "2026-03")

    assert _snapshot(audit) == 1
    [result] = audit.current_results()
    assert (result.value, result.sample_size, result.status) == (Decimal("0.85"), 20, "breached")
    assert (result.period_key, result.metric, result.stage) == ("2026-03", "on_time_rate", "last_mile")
    assert (result.series_id, result.standard_id, result.target) == (standard.series_id, standard.id, Decimal("0.95"))
    assert audit.snapshot_revision == 1


def test_snapshot_keeps_only_the_plans_metrics(make_carrier, sla, legs, make_audit, make_plan):
    courier = make_carrier()
    sla(courier, target="0.95")
    sla(courier, name="Lost parcels", metric="lost_rate", comparator="lte", target="0.01")
    legs(courier, "2026-03", on_time=20)
    audit = make_audit(courier, "2026-03", plan=make_plan(metrics=["lost_rate"]))
    _snapshot(audit)
    assert [r.metric for r in audit.current_results()] == ["lost_rate"]
    # Without a plan list, every SLA in force.
    other = make_audit(courier, "2026-03")
    _snapshot(other)
    assert sorted(r.metric for r in other.current_results()) == ["lost_rate", "on_time_rate"]


def test_recompute_before_issue_makes_a_new_revision_and_shows_the_difference(
        make_carrier, sla, legs, correct_legs, make_audit):
    courier = make_carrier()
    sla(courier, target="0.95")
    ids = legs(courier, "2026-03", on_time=17, late=3)
    audit = make_audit(courier, "2026-03")
    _snapshot(audit)
    assert conduct.snapshot_differences(audit) == []

    correct_legs(courier, ids[17:], "2026-03")     # the 3 late legs were on time after all: 20 / 20
    assert _snapshot(audit) == 2

    revisions = sorted((r.revision, r.value, r.status) for r in audit.results)
    assert revisions == [(1, Decimal("0.85"), "breached"), (2, Decimal("1"), "met")]
    [difference] = conduct.snapshot_differences(audit)
    assert (difference.before.value, difference.before.status) == (Decimal("0.85"), "breached")
    assert (difference.after.value, difference.after.status) == (Decimal("1"), "met")
    assert difference.period_key == "2026-03"


def test_issued_snapshot_does_not_change_when_legs_change(make_carrier, sla, legs, correct_legs, make_audit, factories):
    manager = factories.user(role="quality_manager")
    courier = make_carrier()
    sla(courier, target="0.95")
    ids = legs(courier, "2026-03", on_time=17, late=3)
    audit = make_audit(courier, "2026-03", status=AuditStatus.IN_PROGRESS.value)
    _snapshot(audit)
    _ready_to_issue(audit)
    with unit_of_work():
        conduct.issue_report(audit, manager, audit.version)

    correct_legs(courier, ids[17:], "2026-03")
    with pytest.raises(Conflict) as refused:
        _snapshot(audit)
    assert refused.value.code == "snapshot_frozen"
    db.session.expire_all()
    [result] = audit.current_results()
    assert (audit.snapshot_revision, result.value, result.status) == (1, Decimal("0.85"), "breached")
    assert len(audit.results) == 1


# Proposed findings -----------------------------------------------------------------------------

def _crafted(audit, standard, value, status, *, comparator="gte", target="0.95", warning=None, revision=None):
    """A snapshot row written by hand: the proposal reads only the snapshot."""
    revision = revision or audit.snapshot_revision + 1
    audit.results.append(AuditSlaResult(
        revision=revision, standard_id=standard.id, series_id=standard.series_id, name=standard.name,
        metric=standard.metric, stage=standard.stage, period_key=f"{audit.period_start:%Y-%m}",
        period_start=audit.period_start, period_end=audit.period_end,
        value=Decimal(value) if value is not None else None, sample_size=20, comparator=comparator,
        target=Decimal(target), warning_threshold=Decimal(warning) if warning else None, status=status))
    audit.snapshot_revision = revision
    db.session.commit()


def _propose(audit, actor=None):
    with unit_of_work():
        return conduct.propose_findings(audit, actor)


@pytest.mark.parametrize("value, status, comparator, target, expected", [
    ("0.99", "met", "gte", "0.95", []),
    (None, "no_data", "gte", "0.95", []),
    ("0.96", "warning", "gte", "0.95", ["observation"]),
    # ≥ 0.95 with a 10 % margin: major below 0.95 × 0.9 = 0.855.
    ("0.86", "breached", "gte", "0.95", ["minor_nc"]),
    ("0.855", "breached", "gte", "0.95", ["minor_nc"]),     # exactly at the margin: not beyond it
    ("0.85", "breached", "gte", "0.95", ["major_nc"]),
    # ≤ 4 h with a 10 % margin: major above 4 × 1.1 = 4.4 h.
    ("4.40", "breached", "lte", "4", ["minor_nc"]),
    ("4.41", "breached", "lte", "4", ["major_nc"]),
])
def test_each_result_proposes_its_grade(make_carrier, sla, make_audit, make_plan,
                                        value, status, comparator, target, expected):
    courier = make_carrier()
    standard = sla(courier, target=target, comparator=comparator,
                   **({"metric": "mean_delay_hours", "name": "Mean delay"} if comparator == "lte" else {}))
    audit = make_audit(courier, "2026-03", plan=make_plan())
    _crafted(audit, standard, value, status, comparator=comparator, target=target, warning="0.97")
    _propose(audit)
    assert [f.grade for f in audit.findings] == expected
    for finding in audit.findings:
        assert finding.proposed and finding.series_id == standard.series_id


def test_breached_in_two_consecutive_audits_is_major(make_carrier, sla, make_audit, make_plan):
    courier = make_carrier()
    standard = sla(courier, target="0.95")
    plan = make_plan()
    february = make_audit(courier, "2026-02", plan=plan)
    _crafted(february, standard, "0.90", "breached")
    march = make_audit(courier, "2026-03", plan=plan)
    _crafted(march, standard, "0.90", "breached")   # within the margin: minor on its own
    _propose(february)
    _propose(march)
    assert [f.grade for f in february.findings] == ["minor_nc"]
    assert [f.grade for f in march.findings] == ["major_nc"]
    assert f"#{february.id}" in march.findings[0].statement
    # Another plan's audit of the same supplier is not "the previous audit".
    other = make_audit(courier, "2026-03", plan=make_plan("Another plan"))
    _crafted(other, standard, "0.90", "breached")
    _propose(other)
    assert [f.grade for f in other.findings] == ["minor_nc"]


def test_proposed_finding_texts_name_the_sla_value_sample_period_and_revision(
        make_carrier, sla, legs, make_audit, app):
    courier = make_carrier()
    sla(courier, target="0.95")
    legs(courier, "2026-03", on_time=17, late=3)
    audit = make_audit(courier, "2026-03")
    _snapshot(audit)
    _propose(audit)
    [finding] = audit.findings
    assert finding.grade == "major_nc"       # 0.85 < 0.855
    assert finding.criterion == f"SLA “On-time delivery” ≥ 95.0% ({courier.code}, last_mile)"
    assert "2026-03: 85.0% over 20 measured" in finding.statement
    assert "revision 1" in finding.evidence and "2026-03-01 – 2026-03-31" in finding.evidence


def test_proposing_again_is_idempotent_and_keeps_manual_and_edited_findings(
        make_carrier, sla, make_audit, factories):
    auditor = factories.user(role="auditor")
    courier = make_carrier()
    on_time = sla(courier, target="0.95")
    lost = sla(courier, name="Lost", metric="lost_rate", comparator="lte", target="0.01")
    audit = make_audit(courier, "2026-03")
    _crafted(audit, on_time, "0.90", "breached")
    _crafted(audit, lost, "0.02", "breached", comparator="lte", target="0.01", revision=1)
    assert _propose(audit) == {"added": 2, "updated": 0, "removed": 0}
    first = sorted((f.number, f.grade, f.series_id) for f in audit.findings)
    assert _propose(audit) == {"added": 0, "updated": 0, "removed": 0}
    assert sorted((f.number, f.grade, f.series_id) for f in audit.findings) == first

    with unit_of_work():
        conduct.add_finding(audit, {"grade": "improvement", "criterion": "Contract §4.2",
                                    "statement": "Share tracking data daily."}, auditor)
    edited = next(f for f in audit.findings if f.series_id == lost.series_id)
    with unit_of_work():
        conduct.update_finding(edited, {"grade": "observation", "criterion": edited.criterion,
                                        "statement": "Only two parcels; watch it."}, auditor)
    assert edited.proposed is False
    _propose(audit)
    grades = sorted((f.series_id or 0, f.grade, f.proposed) for f in audit.findings)
    assert grades == sorted([(0, "improvement", False), (lost.series_id, "observation", False),
                             (on_time.series_id, "minor_nc", True)])

    # The next revision has everything met: the untouched proposal goes, the others stay.
    _crafted(audit, on_time, "0.99", "met")
    _crafted(audit, lost, "0.00", "met", comparator="lte", target="0.01", revision=audit.snapshot_revision)
    assert _propose(audit) == {"added": 0, "updated": 0, "removed": 1}
    assert sorted(f.grade for f in audit.findings) == ["improvement", "observation"]


def test_a_proposed_finding_with_an_auditee_response_is_not_replaced(make_carrier, sla, make_audit):
    courier = make_carrier()
    standard = sla(courier, target="0.95")
    audit = make_audit(courier, "2026-03")
    _crafted(audit, standard, "0.90", "breached")
    _propose(audit)
    [finding] = audit.findings
    with unit_of_work():
        conduct.record_auditee_response(finding, "acknowledged", None, None)
    _crafted(audit, standard, "0.99", "met")
    assert _propose(audit) == {"added": 0, "updated": 0, "removed": 0}
    assert [f.id for f in audit.findings] == [finding.id]


# Findings by hand, responses -------------------------------------------------------------------

def test_a_diverging_opinion_needs_a_comment(make_carrier, make_audit):
    audit = make_audit(make_carrier())
    with unit_of_work():
        finding = conduct.add_finding(audit, {"grade": "minor_nc", "criterion": "Contract §3",
                                              "statement": "Missing POD."}, None)
    with pytest.raises(ValidationFailed) as refused:
        with unit_of_work():
            conduct.record_auditee_response(finding, "diverging", "  ", None)
    assert "comment" in refused.value.fields
    db.session.refresh(finding)
    assert finding.auditee_response is None
    with unit_of_work():
        conduct.record_auditee_response(finding, "diverging", "The PODs are in our portal.", None)
    assert [f.id for f in conduct.diverging_opinions(audit)] == [finding.id]


def test_a_finding_needs_grade_criterion_and_statement(make_carrier, make_audit):
    audit = make_audit(make_carrier())
    with pytest.raises(ValidationFailed) as refused:
        conduct.add_finding(audit, {"grade": "critical", "criterion": "", "statement": ""}, None)
    assert set(refused.value.fields) == {"grade", "criterion", "statement"}


# Lifecycle ---------------------------------------------------------------------------------------

def test_illegal_transitions_are_refused(make_carrier, make_audit):
    audit = make_audit(make_carrier())
    for step in (lambda: conduct.issue_report(audit, None, None), lambda: conduct.close(audit, None, None)):
        with pytest.raises(Conflict) as refused:
            step()
        assert refused.value.code == "illegal_transition"
    conduct.start(audit, None, today=dt.date(2026, 4, 7))
    assert (audit.status, audit.started_on) == ("in_progress", dt.date(2026, 4, 7))
    with pytest.raises(Conflict):
        conduct.start(audit, None)


def test_issuing_needs_a_snapshot_conclusions_and_fulfilment(make_carrier, make_audit):
    audit = make_audit(make_carrier(), status="in_progress")
    with pytest.raises(ValidationFailed) as refused:
        conduct.issue_report(audit, None, audit.version)
    assert set(refused.value.fields) == {"conclusions", "fulfilment", "snapshot"}
    assert audit.status == "in_progress"


def test_issuing_freezes_the_audit_and_mails_the_supplier_and_lead_auditor(
        make_carrier, sla, legs, make_audit, factories):
    lead = factories.user(role="auditor", email="lead@catena.example")
    courier = make_carrier()
    sla(courier, target="0.95")
    legs(courier, "2026-03", on_time=17, late=3)
    audit = make_audit(courier, status="in_progress", lead_auditor_id=lead.id)
    _snapshot(audit)
    _propose(audit)
    _ready_to_issue(audit)
    with unit_of_work():
        conduct.issue_report(audit, lead, audit.version)
    assert audit.status == "report_issued" and audit.report_issued_by_id == lead.id
    mails = db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.kind == "audit_report_issued")).all()
    assert sorted(m.recipient for m in mails) == ["giulia@courier.example", "lead@catena.example"]
    body = next(m.body for m in mails if m.recipient == "lead@catena.example")
    assert "major nonconformities: 1" in body and "Criteria partly fulfilled." in body
    for frozen in (lambda: conduct.add_finding(audit, {"grade": "observation", "criterion": "x", "statement": "y"}, None),
                   lambda: conduct.propose_findings(audit, None),
                   lambda: conduct.update_details(audit, {"planned_date": dt.date(2026, 4, 1)}, None, None),
                   lambda: conduct.add_participant(audit, {"name": "A", "role": "auditor"}, None)):
        with pytest.raises(Conflict):
            frozen()


def _issue_with(courier, factories, make_audit, legs, on_time, late):
    legs(courier, "2026-03", on_time=on_time, late=late)
    lead = factories.user(role="auditor")
    audit = make_audit(courier, status="in_progress", lead_auditor_id=lead.id)
    _snapshot(audit)
    _propose(audit)
    _ready_to_issue(audit)
    with unit_of_work():
        conduct.issue_report(audit, lead, audit.version)
    return audit


def _qualified_courier(factories, make_carrier, sla):
    """A courier qualified through the carrier questionnaire, with a 95 % on-time SLA."""
    manager = factories.user("quality_manager")
    questionnaire = build_questionnaire(manager)
    courier = make_carrier()
    qualify(questionnaire, courier, manager, decided_on=dt.date.today())
    sla(courier, target="0.95")
    return courier, questionnaire


def test_a_major_nonconformity_sends_the_requalification_questionnaire(
        make_carrier, sla, legs, make_audit, factories):
    courier, carrier_questionnaire = _qualified_courier(factories, make_carrier, sla)
    # 17 of 20 on time = 0.85, below 0.95 × (1 − 10 %) = 0.855: a major nonconformity.
    audit = _issue_with(courier, factories, make_audit, legs, on_time=17, late=3)

    started = db.session.scalars(db.select(Assignment).where(Assignment.supplier_id == courier.id,
                                                             Assignment.purpose == "requalification")).all()
    assert [(a.status, a.version_id) for a in started] == [("sent", carrier_questionnaire.id)]
    assert f"Audit #{audit.id}, for 2026-03-01 to 2026-03-31, found a major nonconformity" in started[0].message
    assert [e.note for e in conduct.history_of(audit) if e.kind == "requalification_started"] == [f"#{started[0].id}"]


def test_a_minor_nonconformity_leaves_the_qualification_alone(
        make_carrier, sla, legs, make_audit, factories):
    courier, carrier_questionnaire = _qualified_courier(factories, make_carrier, sla)
    # 18 of 20 = 0.90: breached, but within the margin (≥ 0.855): minor.
    audit = _issue_with(courier, factories, make_audit, legs, on_time=18, late=2)

    assert [f.grade for f in audit.findings] == ["minor_nc"]
    assert db.session.scalar(db.select(db.func.count()).select_from(Assignment)
                             .where(Assignment.purpose == "requalification")) == 0


def _action(finding, status):
    action = CorrectiveAction(finding=finding, supplier=finding.audit.supplier, status=status,
                              due_date=dt.date(2026, 5, 1), token_nonce=f"n{finding.id}{status}",
                              token_hash=f"h{finding.id}{status}", token_prefix="p",
                              expires_at=NOW + dt.timedelta(days=30))
    db.session.add(action)
    db.session.commit()
    return action


def test_closing_waits_for_every_nonconformity_to_have_an_effective_action(make_carrier, make_audit):
    audit = make_audit(make_carrier(), status="report_issued")
    nc = Finding(audit=audit, number=1, grade="minor_nc", criterion="c", statement="s")
    observation = Finding(audit=audit, number=2, grade="observation", criterion="c", statement="s")
    db.session.add_all([nc, observation])
    db.session.commit()

    def refused():
        with pytest.raises(Conflict) as error:
            conduct.close(audit, None, audit.version)
        assert error.value.code == "nonconformities_open"
        db.session.expire_all()

    refused()                               # no action at all
    _action(nc, "accepted")
    refused()                               # an action not final
    db.session.query(CorrectiveAction).update({"status": "ineffective"})
    db.session.commit()
    refused()                               # ineffective and not replaced
    _action(nc, "closed")
    with unit_of_work():
        conduct.close(audit, None, audit.version)
    assert audit.status == "closed"


def test_a_stale_version_is_refused_and_overwrites_nothing(make_carrier, make_audit):
    audit = make_audit(make_carrier())
    loaded = audit.version
    with unit_of_work():
        conduct.update_details(audit, {"planned_date": audit.planned_date, "location": "Hub Milano"}, None, loaded)
    with pytest.raises(Conflict) as refused:
        with unit_of_work():
            conduct.update_details(audit, {"planned_date": audit.planned_date, "location": "Remote"}, None, loaded)
    assert refused.value.code == "stale"
    db.session.expire_all()
    assert audit.location == "Hub Milano"


def test_details_refuse_an_end_before_the_start(make_carrier, make_audit):
    audit = make_audit(make_carrier())
    with pytest.raises(ValidationFailed) as refused:
        conduct.update_details(audit, {"planned_date": audit.planned_date, "started_on": dt.date(2026, 4, 8),
                                       "ended_on": dt.date(2026, 4, 7)}, None, None)
    assert "ended_on" in refused.value.fields


# The checklist -----------------------------------------------------------------------------------

def test_checklist_answers_are_parsed_stored_and_scored(make_carrier, make_audit):
    version = build_questionnaire()
    audit = make_audit(make_carrier(), audit_type="on_site", checklist_version_id=version.id)
    q = {question.key: question for question in version.questions()}
    with pytest.raises(ValidationFailed) as refused:
        conduct.save_checklist(audit, {q["insurance"].id: ["platinum"], q["on_time"].id: ["lots"]}, {}, None)
    assert set(refused.value.fields) == {f"q{q['insurance'].id}", f"q{q['on_time'].id}"}
    assert audit.checklist_answers == []

    with unit_of_work():
        conduct.save_checklist(audit, {q["iso9001"].id: ["yes"], q["insurance"].id: ["high"],
                                       q["on_time"].id: ["96"], q["subcontracts"].id: ["no"],
                                       q["tracking"].id: ["5"]},
                               {q["iso9001"].id: "Certificate seen on site."}, None)
    answers = {a.question_id: (a.value, a.note) for a in audit.checklist_answers}
    assert answers[q["iso9001"].id] == ("yes", "Certificate seen on site.")
    assert answers[q["on_time"].id] == ("96", None)
    card = conduct.checklist_scorecard(audit)
    # Weights: iso 2 (full), insurance 3 (full), on_time 1 (band 95+: full), tracking 1 (5 of 5),
    # certificate 1 (file, unanswered here): 7 of 8 points = 87.5.
    assert card.score == Decimal("87.50")


def test_an_audit_without_checklist_refuses_answers(make_carrier, make_audit):
    audit = make_audit(make_carrier())
    with pytest.raises(Conflict):
        conduct.save_checklist(audit, {}, {}, None)
