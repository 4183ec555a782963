"""Attribution disputes: the supplier's private link reaches one incident only, answers once,
and the quality office's settlement keeps both sides."""
from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from sqlalchemy import select, text

from app.db import db
from app.errors import Conflict, ValidationFailed
from incidents.models import AttributionDecision, AttributionDispute
from incidents.services import attribution, disputes
from tests.incidents.test_attribution import make_incident, suppliers, two_late_legs  # noqa: F401


def decided(s, actor=None):
    """An incident on two_late_legs decided as Catena proposes: seller 0.666667, carrier 0.333333."""
    incident = make_incident(two_late_legs(s))
    attribution.decide(incident, attribution.proposal_parties(attribution.propose(incident)), actor)
    db.session.commit()
    return incident


def link(incident, supplier, actor=None, **kwargs):
    dispute, secret = disputes.open_dispute_link(incident, supplier, actor, **kwargs)
    db.session.commit()
    return dispute, secret


def answer(client, secret, **data):
    return client.post_form(f"/dispute/{secret}", data)


def test_a_link_is_only_for_a_supplier_of_the_current_decision(suppliers):
    incident = decided(suppliers)
    with pytest.raises(ValidationFailed):
        disputes.open_dispute_link(incident, suppliers["courier"], None)  # last mile: no share
    dispute, _ = link(incident, suppliers["carrier"])
    assert dispute.decision_id == incident.current_decision.id


def test_no_link_before_any_decision(suppliers):
    incident = make_incident(two_late_legs(suppliers))
    with pytest.raises(ValidationFailed):
        disputes.open_dispute_link(incident, suppliers["seller"], None)


def test_the_secret_is_stored_only_as_its_digest(suppliers):
    dispute, secret = link(decided(suppliers), suppliers["seller"])
    row = db.session.execute(text("SELECT * FROM attribution_disputes WHERE id = :id"), {"id": dispute.id}).one()
    assert secret not in " ".join(str(v) for v in row)
    assert dispute.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert disputes.dispute_for_token(secret).id == dispute.id
    assert disputes.dispute_for_token(secret + "x") is None


def test_the_page_shows_only_its_own_incident(client, suppliers):
    mine = decided(suppliers)
    other = decided(suppliers)
    _, secret = link(mine, suppliers["carrier"])
    page = client.get(f"/dispute/{secret}").get_data(as_text=True)
    assert mine.order.ref in page
    assert other.order.ref not in page
    assert "33.3333 %" in page  # the carrier's own share
    assert "66.6667 %" not in page  # the seller's share is not shown
    assert suppliers["seller"].code not in page  # nor who the others are
    # No URL leads from the token to another incident.
    assert client.get(f"/dispute/{secret}/incidents/{other.id}").status_code == 404


def test_an_unknown_token_is_404(client):
    assert client.get("/dispute/not-a-token").status_code == 404
    assert client.get("/dispute/" + "x" * 500).status_code == 404


def test_another_incidents_id_in_the_body_is_ignored(client, suppliers):
    mine = decided(suppliers)
    other = decided(suppliers)
    other_dispute, _ = link(other, suppliers["carrier"])
    dispute, secret = link(mine, suppliers["carrier"])
    response = answer(client, secret, answer="dispute", statement="Hub delay, not ours",
                      incident_id=str(other.id), dispute_id=str(other_dispute.id),
                      supplier_id=str(suppliers["seller"].id), status="upheld")
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(AttributionDispute, dispute.id).status == "disputed"
    assert db.session.get(AttributionDispute, dispute.id).supplier_id == suppliers["carrier"].id
    untouched = db.session.get(AttributionDispute, other_dispute.id)
    assert (untouched.status, untouched.supplier_statement) == ("open", None)


def test_the_supplier_accepts(client, suppliers):
    dispute, secret = link(decided(suppliers), suppliers["seller"])
    response = answer(client, secret, answer="accept", statement="")
    assert response.status_code == 200
    db.session.expire_all()
    row = db.session.get(AttributionDispute, dispute.id)
    assert row.status == "accepted" and row.supplier_answered_at is not None


def test_disputing_needs_a_statement_of_at_most_5000_characters(client, suppliers):
    dispute, secret = link(decided(suppliers), suppliers["seller"])
    assert answer(client, secret, answer="dispute", statement="  ").status_code == 422
    assert answer(client, secret, answer="dispute", statement="x" * 5001).status_code == 422
    db.session.expire_all()
    assert db.session.get(AttributionDispute, dispute.id).status == "open"
    assert answer(client, secret, answer="dispute", statement="x" * 5000).status_code == 200


def test_a_second_answer_is_refused(client, suppliers):
    dispute, secret = link(decided(suppliers), suppliers["seller"])
    csrf = client.csrf_token(f"/dispute/{secret}")
    first = client.raw.post(f"/dispute/{secret}", data={"answer": "dispute", "statement": "Not us", "csrf_token": csrf})
    assert first.status_code == 200
    second = client.raw.post(f"/dispute/{secret}", data={"answer": "accept", "csrf_token": csrf})
    assert second.status_code == 410
    db.session.expire_all()
    row = db.session.get(AttributionDispute, dispute.id)
    assert (row.status, row.supplier_statement) == ("disputed", "Not us")
    with pytest.raises(disputes.LinkGone):
        disputes.supplier_responds(row, True, None)


def test_an_expired_link_is_410_with_the_contact_and_no_data(client, suppliers, make_user):
    sender = make_user(role="quality_manager", name="Giulia Verdi")
    incident = decided(suppliers)
    dispute, secret = link(incident, suppliers["seller"], actor=sender)
    dispute.expires_at = dispute.created_at - dt.timedelta(seconds=1)
    db.session.commit()
    response = client.get(f"/dispute/{secret}")
    page = response.get_data(as_text=True)
    assert response.status_code == 410
    assert "Giulia Verdi" in page
    assert incident.order.ref not in page
    assert answer(client, secret, answer="accept").status_code == 410
    db.session.expire_all()
    assert db.session.get(AttributionDispute, dispute.id).status == "open"


def test_a_revoked_link_is_410(client, suppliers):
    dispute, secret = link(decided(suppliers), suppliers["seller"])
    disputes.revoke(dispute, None)
    db.session.commit()
    assert client.get(f"/dispute/{secret}").status_code == 410
    with pytest.raises(disputes.LinkGone):
        disputes.supplier_responds(dispute, True, None)


def test_an_answer_without_csrf_is_400(client, suppliers):
    dispute, secret = link(decided(suppliers), suppliers["seller"])
    assert client.raw.post(f"/dispute/{secret}", data={"answer": "accept"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(AttributionDispute, dispute.id).status == "open"


def _disputed(s, statement="The hub held it two days"):
    incident = decided(s)
    dispute, _ = link(incident, s["carrier"])
    disputes.supplier_responds(dispute, False, statement)
    db.session.commit()
    return incident, dispute


def test_settling_upheld_keeps_the_decision(suppliers, make_user):
    manager = make_user(role="quality_manager")
    incident, dispute = _disputed(suppliers)
    disputes.settle(dispute, True, manager, "Chain data is clear")
    db.session.commit()
    assert dispute.status == "upheld" and dispute.revised_decision_id is None
    assert [d.revision for d in attribution.decision_history(incident)] == [1]
    with pytest.raises(Conflict):
        disputes.settle(dispute, True, manager, None)


def test_settling_revised_records_a_new_revision_and_keeps_the_statement(suppliers, make_user):
    manager = make_user(role="quality_manager")
    incident, dispute = _disputed(suppliers)
    legs = attribution.chain_legs(incident.order)
    parties = [{"leg_id": legs[0].id, "share": "1", "root_cause": "late_handover"}]
    disputes.settle(dispute, False, manager, "The hub data proves it", parties=parties)
    db.session.commit()
    history = attribution.decision_history(incident)
    assert [d.revision for d in history] == [2, 1]
    assert dispute.status == "revised" and dispute.revised_decision_id == history[0].id
    assert "dispute" in history[0].note and "The hub data proves it" in history[0].note
    db.session.expire_all()
    row = db.session.get(AttributionDispute, dispute.id)
    assert row.supplier_statement == "The hub held it two days"
    assert row.decision.revision == 1


def test_settling_revised_without_a_new_revision_is_refused(suppliers, make_user):
    _, dispute = _disputed(suppliers)
    with pytest.raises(ValidationFailed):
        disputes.settle(dispute, False, make_user(role="quality_manager"), None)


def test_the_quality_manager_creates_a_link_and_sees_it_once(login_as, suppliers, app):
    incident = decided(suppliers)
    qm = login_as("quality_manager")
    response = qm.post_form(f"/incidents/{incident.id}/dispute-links",
                            {"supplier_id": str(suppliers["carrier"].id), "days_valid": "14"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    match = re.search(re.escape(app.config["CATENA_BASE_URL"].rstrip("/")) + r"/dispute/([A-Za-z0-9_-]{40,})", page)
    assert match
    dispute = disputes.dispute_for_token(match.group(1))
    assert dispute.incident_id == incident.id and dispute.supplier_id == suppliers["carrier"].id
    listing = qm.get(f"/incidents/{incident.id}/disputes").get_data(as_text=True)
    assert match.group(1) not in listing and dispute.token_prefix in listing


def test_a_link_for_a_supplier_outside_the_decision_is_refused(login_as, suppliers):
    incident = decided(suppliers)
    qm = login_as("quality_manager")
    qm.post_form(f"/incidents/{incident.id}/dispute-links", {"supplier_id": str(suppliers["courier"].id)})
    assert db.session.scalar(select(AttributionDispute.id)) is None


def test_a_viewer_cannot_create_links_or_settle(login_as, suppliers):
    incident, dispute = _disputed(suppliers)
    viewer = login_as("viewer")
    assert viewer.post_form(f"/incidents/{incident.id}/dispute-links",
                            {"supplier_id": str(suppliers["seller"].id)}).status_code == 403
    assert viewer.post_form(f"/incidents/{incident.id}/disputes/{dispute.id}/settle",
                            {"outcome": "upheld"}).status_code == 403


def test_the_quality_manager_settles_through_the_page(login_as, suppliers):
    incident, dispute = _disputed(suppliers)
    qm = login_as("quality_manager")
    page = qm.get(f"/incidents/{incident.id}/disputes").get_data(as_text=True)
    assert "The hub held it two days" in page
    response = qm.post_form(f"/incidents/{incident.id}/disputes/{dispute.id}/settle",
                            {"outcome": "upheld", "note": "Stands"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(AttributionDispute, dispute.id).status == "upheld"


def test_a_dispute_of_another_incident_is_404_on_the_staff_side(login_as, suppliers):
    _, dispute = _disputed(suppliers)
    other = decided(suppliers)
    qm = login_as("quality_manager")
    assert qm.post_form(f"/incidents/{other.id}/disputes/{dispute.id}/settle",
                        {"outcome": "upheld"}).status_code == 404


def test_the_panel_renders_for_the_incident_page(app, suppliers, login_as):
    incident, _ = _disputed(suppliers)
    with app.test_request_context():
        html = str(app.jinja_env.globals["dispute_panel"](incident))
    assert "The hub held it two days" in html
    assert db.session.scalar(select(AttributionDecision.id)) is not None


def test_line_breaks_count_as_one_character(suppliers):
    dispute, _ = link(decided(suppliers), suppliers["seller"])
    disputes.supplier_responds(dispute, False, "ab\r\n" * 1250)  # 5,000 characters as the browser counts
    assert dispute.supplier_statement == ("ab\n" * 1250).strip()


def test_the_link_is_emailed_to_the_primary_contact_after_commit(login_as, suppliers, app):
    from pathlib import Path

    from app.outbox import OutboxMessage
    from suppliers.services import add_contact

    add_contact(suppliers["carrier"], {"name": "Paola Bianchi", "email": "qualita@vettore.example",
                                       "is_primary": True}, None)
    db.session.commit()
    incident = decided(suppliers)
    qm = login_as("quality_manager")
    page = qm.post_form(f"/incidents/{incident.id}/dispute-links",
                        {"supplier_id": str(suppliers["carrier"].id), "days_valid": "14"}).get_data(as_text=True)
    url = re.search(re.escape(app.config["CATENA_BASE_URL"].rstrip("/")) + r"/dispute/[A-Za-z0-9_-]{40,}", page).group(0)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "dispute_link"))
    assert message.recipient == "qualita@vettore.example" and message.status == "sent"
    assert url in message.body and "Paola Bianchi" in message.body
    assert url in (Path(app.instance_path) / "mail" / f"{message.id:08d}-dispute_link.eml").read_text()
