"""Running an audit of SLA compliance and downloading its report, in a real browser."""
from __future__ import annotations

import datetime as dt

from pypdf import PdfReader
from sqlalchemy import select

from app.db import db
from audits.models import Audit
from audits.services import programme
from incidents.services.legs import LegInput, record_legs
from suppliers.services.standards import create_standard
from tests.factories import Factories
from tests.suppliers.test_measurement import ROME


def _month_start(day: dt.date, shift: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 + shift
    return dt.date(index // 12, index % 12 + 1, 1)


def test_an_auditor_runs_the_monthly_audit_and_downloads_its_report(open_journey, seeded):
    today = dt.date.today()
    audited = _month_start(today, -1)  # a monthly plan firing this month audits last month
    with seeded():
        factories = Factories()
        auditor = factories.user("auditor")
        manager = factories.user("quality_manager")
        carrier = factories.supplier(code="CAR-BRW-4", chain_roles=["last_mile"])
        create_standard({"name": "On-time delivery", "metric": "on_time_rate", "stage": "last_mile",
                         "comparator": "gte", "target": "0.95", "window": "month", "min_sample": 1,
                         "valid_from": _month_start(today, -6)}, None, supplier=carrier)
        # 18 of 20 deliveries on time: 0.90, below the 0.95 agreed.
        legs = []
        for n in range(20):
            promised = dt.datetime.combine(audited.replace(day=1 + n), dt.time(12), ROME)
            legs.append(LegInput(external_id=f"BRW-4-{n}", order_ref=f"BRW-4-ORDER-{n}", stage="last_mile",
                                 supplier_code=carrier.code, promised_at=promised,
                                 actual_at=promised + dt.timedelta(hours=5 if n < 2 else 0), outcome="completed"))
        record_legs(legs, {carrier.code: carrier.id}, ROME)
        plan = programme.create_plan({
            "name": "CAR-BRW-4 monthly", "recurrence": "monthly", "day_of_month": 1,
            "period_basis": "previous_month", "supplier_scope": "list", "suppliers": [carrier.code],
            "starts_on": _month_start(today), "lead_time_days": 7, "lead_auditor_id": auditor.id,
            "audit_type": "remote_sla_review"}, manager)
        db.session.commit()

    # The quality manager fires the plan now instead of at 02:00 on the 1st.
    office = open_journey("quality-manager")
    office.sign_in(manager.email)
    office.goto(f"/audits/plans/{plan.id}")
    office.step("audit plan")
    office.page.get_by_role("button", name="Run due now").click()
    office.expect_message("1 audits created")
    office.step("plan fired")
    with seeded():
        audit_id = db.session.scalar(select(Audit.id).where(Audit.plan_id == plan.id))

    # The lead auditor runs it.
    journey = open_journey("auditor")
    page = journey.page
    journey.sign_in(auditor.email)
    journey.goto(f"/audits/{audit_id}")
    journey.step("audit planned")
    page.get_by_role("button", name="Start the audit").click()
    journey.expect_message("The audit is in progress.")
    page.get_by_role("button", name="Compute the SLA snapshot").click()
    journey.expect_message("SLA snapshot computed: revision 1.")
    page.get_by_role("button", name="Propose findings").click()
    journey.expect_message("Findings proposed: 1 added")
    # 0.90 misses 0.95 by less than the plan's margin: a minor nonconformity.
    assert page.get_by_text("Minor nonconformity").first.is_visible()
    journey.step("findings proposed")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Report (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == f"audit-report-{audit_id}-CAR-BRW-4.pdf"
    saved = journey.artefacts / download.suggested_filename
    download.save_as(saved)
    body = saved.read_bytes()
    assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF")
    text = [pdf_page.extract_text() for pdf_page in PdfReader(saved).pages]
    assert "CAR-BRW-4" in text[0] and "Minor nonconformity" in " ".join(text)
