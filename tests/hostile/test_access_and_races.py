"""Private links used where they do not belong, log-in brute force, open redirects, two users
editing one audit, and one scheduled firing run twice. HOSTILE.md rows 48, 50, 56, 57, 61, 64.

Thorough cases live in the domain tests and are named in each docstring; these run each
catalogue row end to end through the web and check that nothing was written.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from app.db import db, unit_of_work, utcnow
from app.outbox import OutboxMessage
from audits.models import Audit
from audits.services import actions as action_service
from audits.services import programme
from questionnaires.services import assignments as assignment_service
from tests.audits.action_fixtures import secret_of


# Private links ----------------------------------------------------------------------------------

@pytest.fixture
def two_links(carrier_questionnaire, send_questionnaire, make_finding, request_action, factories):
    """{kind: (record, secret)} for a questionnaire and a corrective action of two suppliers."""
    assignment, q_secret = send_questionnaire(carrier_questionnaire)
    action = request_action(make_finding(statement="Only 88 % on time."), today=dt.date.today())
    db.session.commit()
    return {"q": (assignment, q_secret), "ca": (action, secret_of(action))}


def test_a_link_of_one_kind_opens_nothing_of_the_other(client, two_links, snapshot):
    """Each secret is bound to its purpose (app.links): a questionnaire secret on the
    corrective-action portal, or the reverse, is an unknown link."""
    (_, q_secret), (_, ca_secret) = two_links["q"], two_links["ca"]
    before = snapshot()
    assert client.get(f"/ca/{q_secret}").status_code == 404
    assert client.get(f"/q/{ca_secret}").status_code == 404
    assert client.get(f"/dispute/{q_secret}").status_code == 404
    assert snapshot() == before


def test_a_link_shows_its_own_supplier_and_no_other(client, two_links):
    """See also tests/questionnaires/test_portal_hostile.py::test_a_link_reaches_only_its_own_evidence and
    tests/audits/test_action_portal.py::test_a_link_reaches_only_its_own_action (files of another link: 404)."""
    (assignment, q_secret), (action, ca_secret) = two_links["q"], two_links["ca"]
    q_page = client.get(f"/q/{q_secret}").get_data(as_text=True)
    ca_page = client.get(f"/ca/{ca_secret}").get_data(as_text=True)
    assert assignment.supplier.legal_name in q_page and action.supplier.legal_name not in q_page
    assert action.supplier.legal_name in ca_page and assignment.supplier.legal_name not in ca_page


@pytest.mark.parametrize("kind", ["q", "ca"])
@pytest.mark.parametrize("how", ["expired", "revoked"])
def test_an_expired_or_revoked_link_is_410_and_changes_nothing(client, two_links, snapshot, kind, how):
    record, secret = two_links[kind]
    service = assignment_service if kind == "q" else action_service
    with unit_of_work():
        if how == "expired":
            record.expires_at = utcnow() - dt.timedelta(minutes=1)
        else:
            service.revoke_link(record, None)
    before = snapshot()
    assert client.get(f"/{kind}/{secret}").status_code == 410
    posted = client.post(f"/{kind}/{secret}", data={"csrf_token": client.csrf_token("/login"), "action": "submit"})
    assert posted.status_code == 410
    assert snapshot() == before


# Log-in ---------------------------------------------------------------------------------------

def test_a_brute_force_is_throttled_with_the_same_message_and_the_right_password_waits(client, make_user, app):
    """LOGIN_MAX_FAILURES (5) per address in the window; then 429, even with the right password.
    The throttle lives in the database: see tests/auth/test_views.py for the per-account test."""
    user = make_user()
    limit = app.config["LOGIN_MAX_FAILURES"]
    for attempt in range(limit):
        response = client.login(user.email, f"wrong password {attempt}")
        assert response.status_code == 200
        assert "E-mail or password not correct." in response.get_data(as_text=True)
    throttled = client.login(user.email)
    assert throttled.status_code == 429
    assert "Too many failed attempts" in throttled.get_data(as_text=True)
    # An unknown address gets the same first answer as a known one with a wrong password.
    assert "E-mail or password not correct." in client.login("nobody@example.test", "x").get_data(as_text=True)


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "/\\evil.example", "\\\\evil.example", "http:evil.example",
    "javascript:alert(1)", "/\r\nSet-Cookie: x=1", " //evil.example", "https:/evil.example", "/\t/evil.example",
])
def test_next_never_leads_off_the_site(client, make_user, target):
    user = make_user()
    token = client.csrf_token(f"/login?next={target}")
    response = client.raw.post("/login", data={"email": user.email, "password": "correct horse battery",
                                               "csrf_token": token, "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/", (target, response.headers["Location"])


def test_next_keeps_a_local_path(client, make_user):
    user = make_user()
    token = client.csrf_token("/login")
    response = client.raw.post("/login", data={"email": user.email, "password": "correct horse battery",
                                               "csrf_token": token, "next": "/suppliers/?q=x"})
    assert response.headers["Location"] == "/suppliers/?q=x"


# Two users, one audit -------------------------------------------------------------------------

def test_the_second_of_two_users_saving_one_audit_is_told_and_overwrites_nothing(login_as, make_carrier, make_audit):
    """Both load the details form (version 1); the first saves; the second gets 409 with the
    reason and their typing kept, and the first's location stays. See also
    tests/audits/test_conduct.py::test_a_stale_version_is_refused_and_overwrites_nothing."""
    audit = make_audit(make_carrier(), "2026-03")
    first, second = login_as("auditor"), login_as("auditor")
    form = {"version": str(audit.version), "planned_date": "2026-04-07", "scope": "", "notes": "",
            "conclusions": "", "fulfilment": ""}
    saved = first.post_form(f"/audits/{audit.id}/details", form | {"location": "Milano hub"})
    assert saved.status_code == 302
    stale = second.post_form(f"/audits/{audit.id}/details", form | {"location": "Torino depot"})
    assert stale.status_code == 409
    page = stale.get_data(as_text=True)
    assert "Someone else changed this audit meanwhile" in page and "Torino depot" in page
    db.session.refresh(audit)
    assert audit.location == "Milano hub"


# One firing, twice ----------------------------------------------------------------------------

def test_the_same_scheduled_firing_run_twice_creates_each_audit_once(factories):
    """The (plan, day) firing row is inserted with ON CONFLICT DO NOTHING: the second run of the
    same firing finds it taken. See tests/audits/test_programme.py (four racing processes) and
    tests/hostile/test_crash.py (a killed catch-up)."""
    factories.supplier(chain_roles=["carrier"])
    factories.supplier(chain_roles=["carrier"])
    with unit_of_work():
        plan = programme.create_plan({"name": "Carriers monthly", "recurrence": "monthly", "day_of_month": 5,
                                      "period_basis": "previous_month", "supplier_scope": "rule",
                                      "rule": {"chain_roles": ["carrier"]}, "starts_on": dt.date(2026, 3, 1),
                                      "lead_time_days": 7}, None)
    outbox_before = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    with unit_of_work():
        first = programme.fire(plan, dt.date(2026, 3, 5), today=dt.date(2026, 3, 5))
    with unit_of_work():
        second = programme.fire(plan, dt.date(2026, 3, 5), today=dt.date(2026, 3, 5))
    audits = db.session.scalar(select(func.count()).select_from(Audit).where(Audit.plan_id == plan.id))
    assert (first, second, audits) == (2, 0, 2)
    outbox_after_first = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    with unit_of_work():
        assert programme.run_due(dt.date(2026, 3, 5)).audits_created == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == outbox_after_first >= outbox_before


def test_one_address_trying_many_accounts_is_throttled_at_four_times_the_budget(client, make_user, app):
    """A shared office address gets 4 × LOGIN_MAX_FAILURES (20) failures over any accounts,
    then 429 — for every account, the right password included."""
    user = make_user()
    budget = 4 * app.config["LOGIN_MAX_FAILURES"]
    for n in range(budget):
        assert client.login(f"guess{n}@example.test", "wrong").status_code == 200
    assert client.login(user.email).status_code == 429
    other_address = client.raw.post("/login", data={"email": user.email, "password": "correct horse battery",
                                                    "csrf_token": client.csrf_token("/login")},
                                    environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other_address.status_code == 302


def test_an_api_token_in_the_query_string_is_refused(api_client):
    api, headers = api_client("viewer")
    secret = headers["Authorization"].split(" ", 1)[1]
    response = api.get(f"/api/v1/suppliers?token={secret}")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert api.get(f"/api/v1/suppliers?access_token={secret}").status_code == 401
