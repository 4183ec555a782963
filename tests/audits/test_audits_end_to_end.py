"""Issue 6's "done when": a quality manager plans a monthly audit of all carriers; the daily step
(what the scheduler process runs) creates the month's audits once; an auditor runs one and the
proposed findings appear; a corrective action goes to the supplier through its link and comes
back; the next periods' data decide its effectiveness.

Dates follow the real calendar (the supplier's link expires in real time): the audited month is
the one before last, the acceptance is today, and the effectiveness periods are the two months
after it — their legs are recorded ahead, and the daily step is run as on the day they end."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from click.testing import Result
from sqlalchemy import func, select

from app.db import db, unit_of_work
from app.outbox import OutboxMessage
from audits.models import Audit, CorrectiveAction
from audits.services import actions as action_service
from audits.services import conduct
from audits.services import programme
from suppliers.models import Supplier

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _month_start(day: dt.date, shift: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 + shift
    return dt.date(index // 12, index % 12 + 1, 1)


def _cli(app, *args) -> Result:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


def test_plan_fire_audit_find_correct_and_verify(app, make_carrier, sla, legs, login_as, client, factories):
    today = dt.date.today()
    audited = _month_start(today, -1)  # the previous month: the period of this month's firing
    firing_day = _month_start(today).replace(day=1)
    carriers = [make_carrier(chain_roles=["carrier"]) for _ in range(2)]
    make_carrier(chain_roles=["warehouse"])  # not a carrier: not audited
    late_one, fine_one = carriers
    for supplier in carriers:
        sla(supplier, target="0.95", valid_from=_month_start(today, -6))
    legs(late_one, audited.strftime("%Y-%m"), on_time=18, late=2)   # 0.90 < 0.95, within the 10 % margin
    legs(fine_one, audited.strftime("%Y-%m"), on_time=20)           # 1.00: met
    manager = factories.user("quality_manager")
    auditor = factories.user("auditor")

    # 1. A monthly plan over every carrier, firing on the 1st.
    with unit_of_work():
        plan = programme.create_plan({
            "name": "Carriers monthly", "recurrence": "monthly", "day_of_month": 1,
            "period_basis": "previous_month", "supplier_scope": "rule", "rule": {"chain_roles": ["carrier"]},
            "starts_on": firing_day, "lead_time_days": 7, "lead_auditor_id": auditor.id,
            "audit_type": "remote_sla_review"}, manager)

    # 2. The daily step creates the month's audits, once however often it runs.
    _cli(app, "audits", "run-due", "--at", today.isoformat())
    _cli(app, "audits", "run-due", "--at", today.isoformat())
    audits = db.session.scalars(select(Audit).where(Audit.plan_id == plan.id).order_by(Audit.supplier_id)).all()
    assert {a.supplier_id for a in audits} == {s.id for s in carriers}
    assert all((a.period_start, a.status) == (audited, "planned") for a in audits)
    audit = next(a for a in audits if a.supplier_id == late_one.id)

    # 3. The auditor runs it: snapshot, proposed findings — on the audit page.
    with unit_of_work():
        conduct.start(audit, auditor)
        conduct.compute_snapshot(audit, auditor)
        conduct.propose_findings(audit, auditor)
    [result] = audit.current_results()
    assert (result.value, result.sample_size, result.status) == (Decimal("0.90"), 20, "breached")
    [finding] = audit.findings
    # 0.90 is below the target but above 0.95 × (1 − 10 %) = 0.855: a minor nonconformity.
    assert finding.grade == "minor_nc" and finding.proposed
    page = login_as("auditor").get(f"/audits/{audit.id}").get_data(as_text=True)
    assert "Minor nonconformity" in page and "90" in page

    # 4. A corrective action goes to the supplier; its link comes by e-mail.
    with unit_of_work():
        action = action_service.request_action(finding, auditor, due_date=today + dt.timedelta(days=14), today=today,
                                               effectiveness_method="sla", effectiveness_periods=2)
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == "giulia@courier.example")
                              .order_by(OutboxMessage.id.desc())).first()
    link = re.search(r"https?://\S+(/ca/\S+)", mail.body).group(1)

    # 5. The supplier answers through the link, with no account, and submits.
    page = client.get(link).get_data(as_text=True)
    assert finding.statement.split(".")[0] in page
    token = CSRF_RE.search(page).group(1)
    response = client.post(link, data={
        "csrf_token": token, "action": "submit", "containment": "Parcels of the late route re-sorted the same day.",
        "method": "five_whys", "why1": "Parcels left the hub late.", "why2": "Vans were loaded late.",
        "why3": "No loading plan on Mondays.", "root_cause": "No Monday loading plan at the hub.",
        "action_plan": "A loading plan for every day, checked by the shift lead.",
        "action_due_date": (today + dt.timedelta(days=10)).isoformat()}, content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)[:1500]
    db.session.refresh(action)
    assert action.status == "responded"

    # 6. The quality manager accepts it.
    with unit_of_work():
        action_service.accept(action, "A sound plan.", manager, action.version)

    # 7. The two months after acceptance decide: on time in both → closed as effective, by the
    #    daily step run on the first day after them; a second run changes nothing.
    first, second = _month_start(today, 1), _month_start(today, 2)
    legs(late_one, first.strftime("%Y-%m"), on_time=24, late=1)    # 96.0 %
    legs(late_one, second.strftime("%Y-%m"), on_time=39, late=1)   # 97.5 %
    after = _month_start(today, 3)
    _cli(app, "actions", "remind", "--at", (after - dt.timedelta(days=1)).isoformat())
    db.session.refresh(action)
    assert action.status == "accepted"  # the second month is not over yet
    _cli(app, "actions", "remind", "--at", after.isoformat())
    _cli(app, "actions", "remind", "--at", after.isoformat())
    db.session.refresh(action)
    assert action.status == "closed"
    assert action.effectiveness_result == (f"On-time delivery met in {first:%Y-%m} (96.0 %) "
                                           f"and {second:%Y-%m} (97.5 %)")
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.kind == "action_closed")) == 1
    # The supplier was never suspended: the action was answered in time.
    assert db.session.get(Supplier, late_one.id).status != "suspended"
    assert db.session.scalar(select(func.count()).select_from(CorrectiveAction)) == 1
