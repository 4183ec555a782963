"""The supplier's corrective-action page behind its private link, over HTTP."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest

from app.db import db, unit_of_work
from app.i18n import today as company_today
from audits.services import actions as service
from tests.audits.action_fixtures import make_finding, request_action  # noqa: F401  (fixtures)
from tests.audits.action_fixtures import PDF, secret_of

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def portal_action(make_finding, request_action, factories):
    """(action, secret, other finding's statement): a major NC action requested today by a
    quality manager; the same audit has another finding the supplier must not see."""
    manager = factories.user(role="quality_manager", name="Marta Rossi", email="marta@catena.example")
    finding = make_finding(statement="Only 88 % of parcels were delivered on time in February.")
    make_finding(grade="minor_nc", audit=finding.audit, statement="Secret: the damage rate of another lane.")
    action = request_action(finding, manager, today=company_today(), request_text="Answer by the due date, please.")
    return action, secret_of(action)


def token_of(client, url):
    return CSRF_RE.search(client.get(url).get_data(as_text=True)).group(1)


def form(**overrides):
    values = {"containment": "Parcels re-sorted.", "method": "five_whys", "why1": "Late loading.",
              "root_cause": "No Monday shift plan.", "action_plan": "Shift plan every day.",
              "action_due_date": (company_today() + dt.timedelta(days=20)).isoformat(), "action": "save"}
    values.update(overrides)
    return values


def test_the_page_shows_the_company_its_finding_and_no_other(client, portal_action):
    action, secret = portal_action
    response = client.get(f"/ca/{secret}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Catena" in page and action.supplier.legal_name in page
    assert "Only 88 % of parcels were delivered on time in February." in page
    assert "Answer by the due date, please." in page
    assert "Secret: the damage rate" not in page
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_unknown_token_is_404(client, portal_action):
    assert client.get("/ca/not-a-real-secret").status_code == 404


def test_post_without_csrf_is_400_and_changes_nothing(client, portal_action):
    action, secret = portal_action
    response = client.post(f"/ca/{secret}", data=form())
    assert response.status_code == 400
    db.session.refresh(action)
    assert action.containment is None


def test_draft_then_submit_with_a_pdf_then_read_only(client, portal_action):
    action, secret = portal_action
    url = f"/ca/{secret}"
    csrf = token_of(client, url)
    # Extra fields (a status, another supplier) are ignored.
    response = client.post(url, data=form(csrf_token=csrf, status="closed", supplier_id="1",
                                          effectiveness_result="done"))
    assert response.status_code == 303
    db.session.refresh(action)
    assert (action.status, action.containment, action.effectiveness_result) == ("requested", "Parcels re-sorted.", None)
    # Submitting without a root cause is refused, with the field marked; nothing changes.
    response = client.post(url, data=form(csrf_token=csrf, root_cause="", action="submit"))
    assert response.status_code == 422 and 'id="root_cause-error"' in response.get_data(as_text=True)
    db.session.refresh(action)
    assert action.root_cause == "No Monday shift plan."
    data = form(csrf_token=csrf, action="submit")
    data["files"] = (io.BytesIO(PDF), "containment-report.pdf")
    response = client.post(url, data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    db.session.refresh(action)
    assert action.status == "responded"
    [stored] = action.files
    page = client.get(url).get_data(as_text=True)
    assert 'name="containment"' not in page and "containment-report.pdf" in page
    download = client.get(f"{url}/files/{stored.id}")
    assert download.status_code == 200 and download.data == PDF
    assert "attachment" in download.headers["Content-Disposition"]
    again = client.post(url, data=form(csrf_token=csrf, containment="changed", action="submit"))
    assert again.status_code == 409
    db.session.refresh(action)
    assert action.containment == "Parcels re-sorted."


def test_a_link_reaches_only_its_own_action(client, portal_action, make_finding, request_action, factories):
    action, secret = portal_action
    other = request_action(make_finding(statement="Finding of another carrier."), today=company_today())
    other_secret = secret_of(other)
    with unit_of_work():
        service.respond(other, form(), [_pdf()], set(), submit=False)
    [other_file] = other.files
    assert client.get(f"/ca/{secret}/files/{other_file.id}").status_code == 404
    page = client.get(f"/ca/{other_secret}").get_data(as_text=True)
    assert "Finding of another carrier." in page and "Only 88 %" not in page


def _pdf():
    from werkzeug.datastructures import FileStorage
    return FileStorage(stream=io.BytesIO(PDF), filename="x.pdf", content_type="application/pdf")


@pytest.mark.parametrize("how", ["expired", "revoked", "closed"])
def test_expired_revoked_or_closed_link_is_410_naming_the_contact(client, portal_action, how):
    action, secret = portal_action
    if how == "expired":
        action.expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    elif how == "revoked":
        with unit_of_work():
            service.revoke_link(action, None)
    else:
        action.status = "closed"
    db.session.commit()
    response = client.get(f"/ca/{secret}")
    page = response.get_data(as_text=True)
    assert response.status_code == 410
    assert "Marta Rossi" in page and "marta@catena.example" in page
    assert "Only 88 %" not in page and "Answer by the due date" not in page
    assert client.post(f"/ca/{secret}", data=form(csrf_token=token_of(client, "/login"))).status_code == 410


def test_eight_d_choice_is_kept(client, portal_action):
    action, secret = portal_action
    csrf = token_of(client, f"/ca/{secret}")
    eight_d = {f"d{i}": f"D{i} text" for i in range(1, 9)}
    assert client.post(f"/ca/{secret}", data=form(csrf_token=csrf, method="8d", **eight_d)).status_code == 303
    db.session.refresh(action)
    assert action.why_analysis == {"method": "8d", **eight_d}
    page = client.get(f"/ca/{secret}").get_data(as_text=True)
    assert 'value="8d" checked' in page and "D4 text" in page


def test_unknown_links_are_throttled_per_address(app, client, portal_action):
    action, secret = portal_action
    app.config["PRIVATE_LINK_PROBE_LIMIT"] = 2
    try:
        assert [client.get(f"/ca/guess-{i}").status_code for i in range(2)] == [404, 404]
        # Over the budget even a real link is answered 429: guessing learns nothing.
        assert client.get(f"/ca/{secret}").status_code == 429
    finally:
        del app.config["PRIVATE_LINK_PROBE_LIMIT"]
