"""Incident intake, life and backlog, at the service layer."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.db import db, utcnow
from app.errors import ValidationFailed
from incidents.models import IncidentCategory, IncidentStatus
from incidents.services import incidents as svc
from incidents.services.legs import LegInput, record_legs
from tests.suppliers.test_measurement import ROME, at

UTC = dt.timezone.utc


def make_order(ref, *suppliers, customer_ref=None):
    legs = [LegInput(external_id=f"{ref}-{n}", order_ref=ref, stage="last_mile", supplier_code=s.code,
                     promised_at=at("2026-03-10", "12:00"), sequence=n, customer_ref=customer_ref)
            for n, s in enumerate(suppliers, start=1)]
    record_legs(legs, {s.code: s.id for s in suppliers}, ROME)
    db.session.commit()


def category(code):
    return db.session.scalar(select(IncidentCategory).where(IncidentCategory.code == code))


def new_incident(actor=None, **overrides):
    values = {"category": "late_delivery", "channel": "phone", "priority": "normal",
              "description": "Il pacco non è arrivato", "reported_at": utcnow() - dt.timedelta(hours=1)}
    values.update(overrides)
    incident = svc.create_incident(values, actor)
    db.session.commit()
    return incident


@pytest.mark.parametrize("priority, hours", [("low", 48), ("normal", 24), ("high", 12), ("urgent", 6)])
def test_respond_by_scales_the_category_hours_by_priority(app_ctx, priority, hours):
    # late_delivery allows 24 h at normal priority; factors 2, 1, 0.5, 0.25.
    reported = dt.datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert svc.respond_by_for(category("late_delivery"), priority, reported) == reported + dt.timedelta(hours=hours)


def test_intake_sets_respond_by_and_links_the_known_order(app_ctx, make_supplier):
    courier = make_supplier(code="LM-1")
    make_order("ORD-1", courier)
    reported = dt.datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    incident = new_incident(order_ref="ORD-1", priority="urgent", reported_at=reported,
                            description="ok\x00 text\x07")
    assert incident.order.ref == "ORD-1" and incident.needs_follow_up is False
    # lost_parcel is 8 h; this one is late_delivery 24 h × 0.25 = 6 h.
    assert incident.respond_by == dt.datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    assert incident.status == "new" and incident.description == "ok text"


def test_unknown_order_is_kept_and_flagged_for_follow_up(app_ctx):
    incident = new_incident(order_ref="NOPE-9")
    assert incident.order is None and incident.order_ref_given == "NOPE-9" and incident.needs_follow_up is True


@pytest.mark.parametrize("field, value", [
    ("category", "no_such_code"), ("channel", "pigeon"), ("priority", "asap"), ("description", "  "),
    ("description", "x" * 10_001), ("reported_at", dt.datetime(2026, 3, 1, 9, 30)),
    ("reported_at", "tomorrow"),
])
def test_intake_refuses_bad_fields(app_ctx, field, value):
    with pytest.raises(ValidationFailed) as error:
        new_incident(**{field: value})
    assert field in error.value.fields


def test_intake_refuses_a_future_time_beyond_five_minutes(app_ctx):
    new_incident(reported_at=utcnow() + dt.timedelta(minutes=4))
    with pytest.raises(ValidationFailed) as error:
        new_incident(reported_at=utcnow() + dt.timedelta(minutes=6))
    assert "reported_at" in error.value.fields


def test_inactive_category_is_refused(app_ctx):
    category("billing").is_active = False
    db.session.commit()
    with pytest.raises(ValidationFailed) as error:
        new_incident(category="billing")
    assert "category" in error.value.fields


def test_same_external_id_returns_the_existing_incident_unchanged(app_ctx):
    first, created = svc.record_incident_from_api({"category": "lost_parcel", "channel": "email",
                                                   "description": "A", "external_id": "ZD-1"}, None)
    db.session.commit()
    again, created_again = svc.record_incident_from_api({"category": "billing", "channel": "chat",
                                                         "description": "B", "external_id": "ZD-1"}, None)
    assert created is True and created_again is False
    assert again.id == first.id and again.description == "A" and again.category.code == "lost_parcel"


def test_status_moves_follow_the_transitions(app_ctx):
    incident = new_incident()
    with pytest.raises(ValidationFailed):
        svc.change_status(incident, "closed", None)
    svc.change_status(incident, "in_progress", None)
    assert incident.first_response_at is not None
    with pytest.raises(ValidationFailed):
        svc.change_status(incident, "new", None)
    svc.change_status(incident, "resolved", None)
    assert incident.resolved_at is not None
    svc.change_status(incident, "in_progress", None, note="customer called back")
    assert incident.resolved_at is None and incident.status == "in_progress"
    svc.change_status(incident, "resolved", None)
    svc.change_status(incident, "closed", None, csat=4)
    db.session.commit()
    assert incident.status == "closed" and incident.csat == 4 and incident.closed_at is not None
    with pytest.raises(ValidationFailed):
        svc.change_status(incident, "in_progress", None)


@pytest.mark.parametrize("csat", [0, 6, True, "5"])
def test_csat_is_only_one_to_five(app_ctx, csat):
    incident = new_incident()
    svc.change_status(incident, "resolved", None)
    with pytest.raises(ValidationFailed) as error:
        svc.change_status(incident, "closed", None, csat=csat)
    assert "csat" in error.value.fields


def test_csat_is_refused_before_closing(app_ctx):
    incident = new_incident()
    with pytest.raises(ValidationFailed):
        svc.change_status(incident, "resolved", None, csat=5)


def test_first_response_is_the_first_outbound_interaction(app_ctx):
    incident = new_incident(reported_at=dt.datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    svc.add_interaction(incident, {"channel": "phone", "direction": "inbound", "note": "chiama di nuovo",
                                   "at": dt.datetime(2026, 3, 1, 10, 0, tzinfo=UTC)}, None)
    assert incident.first_response_at is None
    svc.add_interaction(incident, {"channel": "email", "direction": "outbound",
                                   "at": dt.datetime(2026, 3, 1, 11, 0, tzinfo=UTC)}, None)
    svc.add_interaction(incident, {"channel": "email", "direction": "outbound",
                                   "at": dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)}, None)
    # Moving to in progress later does not overwrite the first response.
    svc.change_status(incident, "in_progress", None)
    db.session.commit()
    assert incident.first_response_at == dt.datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    assert svc.interaction_counts([incident]) == {incident.id: 3}


def test_cost_lines_add_up_as_decimal(app_ctx):
    incident = new_incident()
    svc.add_cost_line(incident, {"kind": "refund", "amount": "19.90"}, None)
    svc.add_cost_line(incident, {"kind": "voucher", "amount": Decimal("5.1")}, None)
    svc.add_cost_line(incident, {"kind": "reshipment", "amount": "0"}, None)
    db.session.commit()
    total = svc.cost_total(svc.get_incident(incident.id))
    assert total == Decimal("25.00") and isinstance(total, Decimal)
    for bad in ("-1", "1.234", "NaN", "Infinity", "abc", ""):
        with pytest.raises(ValidationFailed) as error:
            svc.add_cost_line(incident, {"kind": "refund", "amount": bad}, None)
        assert "amount" in error.value.fields
    with pytest.raises(ValidationFailed):
        svc.add_cost_line(incident, {"kind": "bribe", "amount": "1"}, None)


def test_backlog_puts_overdue_first_and_filters(app_ctx, make_supplier, make_user):
    lm1, lm2 = make_supplier(code="LM-1"), make_supplier(code="LM-2")
    make_order("ORD-1", lm1)
    make_order("ORD-2", lm2)
    now = utcnow()
    # respond_by: a = now+23 h (normal 24 h), b = now−2 h (urgent 6 h, reported 8 h ago: overdue),
    # c = now+40 h (low 48 h).
    a = new_incident(order_ref="ORD-1", reported_at=now - dt.timedelta(hours=1))
    b = new_incident(order_ref="ORD-2", priority="urgent", reported_at=now - dt.timedelta(hours=8))
    c = new_incident(category="lost_parcel", priority="low", reported_at=now - dt.timedelta(hours=-0) - dt.timedelta(hours=0))
    closed = new_incident(priority="urgent", reported_at=now - dt.timedelta(days=3))
    svc.change_status(closed, "resolved", None)
    db.session.commit()
    # lost_parcel 8 h × 2 = 16 h after now.
    assert c.respond_by - now == dt.timedelta(hours=16)
    ids = [i.id for i in svc.backlog(svc.BacklogFilters()).items]
    assert ids == [b.id, c.id, a.id]
    assert [i.id for i in svc.backlog(svc.BacklogFilters(supplier="lm-1")).items] == [a.id]
    assert [i.id for i in svc.backlog(svc.BacklogFilters(category="lost_parcel")).items] == [c.id]
    operator = make_user(role="operator")
    assert svc.assign([a, c], operator, None) == 2
    db.session.commit()
    assert [i.id for i in svc.backlog(svc.BacklogFilters(assignee_id=operator.id)).items] == [c.id, a.id]
    assert [i.id for i in svc.backlog(svc.BacklogFilters(unassigned=True)).items] == [b.id]


def test_backlog_pages_by_keyset(app_ctx):
    now = utcnow()
    made = [new_incident(reported_at=now - dt.timedelta(hours=h)) for h in (5, 4, 3, 2, 1)]
    first = svc.backlog(svc.BacklogFilters(), limit=2)
    second = svc.backlog(svc.BacklogFilters(), cursor=first.next_cursor, limit=2)
    third = svc.backlog(svc.BacklogFilters(), cursor=second.next_cursor, limit=2)
    seen = [i.id for page in (first, second, third) for i in page.items]
    assert seen == [i.id for i in made] and third.next_cursor is None


def test_backlog_pages_merge_the_statuses_in_order_both_ways(app_ctx):
    # Each status is read from its own index range (keyset_page's partitions); the pages must
    # still interleave them by respond_by as one list would, forwards and back.
    now = utcnow()
    made = [new_incident(reported_at=now - dt.timedelta(hours=h)) for h in (7, 6, 5, 4, 3, 2, 1)]
    for incident in made[1::2]:  # the 2nd, 4th and 6th most urgent are in progress
        svc.change_status(incident, "in_progress", None)
    svc.change_status(made[2], "resolved", None)  # closed: not in the open backlog
    db.session.commit()
    open_ids = [i.id for i in made if i is not made[2]]
    pages = [svc.backlog(svc.BacklogFilters(), limit=2)]
    while pages[-1].next_cursor:
        pages.append(svc.backlog(svc.BacklogFilters(), cursor=pages[-1].next_cursor, limit=2))
    assert [[i.id for i in p.items] for p in pages] == [open_ids[0:2], open_ids[2:4], open_ids[4:6]]
    back = svc.backlog(svc.BacklogFilters(), cursor=pages[-1].prev_cursor, limit=2)
    assert [i.id for i in back.items] == open_ids[2:4]
    every = svc.backlog(svc.BacklogFilters(include_closed=True), cursor=pages[0].next_cursor, limit=3)
    assert [i.id for i in every.items] == [made[2].id, made[3].id, made[4].id]


def test_a_viewer_cannot_be_assigned(app_ctx, make_user):
    incident = new_incident()
    with pytest.raises(ValidationFailed):
        svc.assign([incident], make_user(role="viewer"), None)


def test_order_suggestions_match_reference_or_customer(app_ctx, make_supplier):
    courier = make_supplier(code="LM-1")
    make_order("ORD-77", courier, customer_ref="CUST-5")
    assert [o.ref for o in svc.suggest_orders("ORD-7")] == ["ORD-77"]
    assert [o.ref for o in svc.suggest_orders("CUST")] == ["ORD-77"]
    assert svc.suggest_orders("O") == [] and svc.suggest_orders("%%") == []
