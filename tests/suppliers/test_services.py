"""Rules of the supplier register, exercised through its services."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.changelog import ChangeLogEntry, history_for
from app.db import db
from app.errors import Conflict, ValidationFailed
from suppliers import services
from suppliers.models import StatusChange, Supplier


def test_code_is_upper_cased_and_must_be_unique(make_supplier):
    make_supplier(code="car-001")
    assert services.get_supplier_by_code("CAR-001") is not None
    with pytest.raises(ValidationFailed) as error:
        services.create_supplier({"code": "Car-001", "legal_name": "Altro", "country": "IT",
                                  "chain_roles": ["carrier"]}, None)
    assert "code" in error.value.fields


def test_every_missing_field_is_reported_at_once(app_ctx):
    with pytest.raises(ValidationFailed) as error:
        services.create_supplier({"code": "", "legal_name": " ", "country": "XX", "chain_roles": []}, None)
    assert set(error.value.fields) == {"code", "legal_name", "country", "chain_roles"}
    assert db.session.scalar(select(Supplier).limit(1)) is None


def test_italian_vat_number_is_checked_with_its_check_digit(app_ctx):
    # 00743110157 is a valid partita IVA; changing its last digit breaks the check digit.
    ok = services.create_supplier({"code": "A1", "legal_name": "A", "country": "IT", "vat_id": "IT 00743110157",
                                   "chain_roles": ["seller"]}, None)
    assert ok.vat_id == "IT00743110157"
    with pytest.raises(ValidationFailed) as error:
        services.create_supplier({"code": "A2", "legal_name": "B", "country": "IT", "vat_id": "00743110158",
                                  "chain_roles": ["seller"]}, None)
    assert "vat_id" in error.value.fields


def test_parent_cycle_is_refused(make_supplier):
    carrier = make_supplier(code="CAR-1")
    courier = make_supplier(code="LM-1", parent="CAR-1")
    pickup = make_supplier(code="PUP-1", parent="LM-1")
    assert services.chain_of(pickup) == [carrier, courier]
    with pytest.raises(ValidationFailed) as error:
        services.update_supplier(carrier, {"parent": "PUP-1"}, None)
    assert "loop" in str(error.value.fields["parent"])
    with pytest.raises(ValidationFailed):
        services.update_supplier(carrier, {"parent": "CAR-1"}, None)
    db.session.rollback()
    assert db.session.get(Supplier, carrier.id).parent_id is None


def test_status_change_needs_a_reason_and_is_kept_in_history(make_supplier):
    supplier = make_supplier()
    with pytest.raises(ValidationFailed) as error:
        services.change_status(supplier, "in_qualification", "   ", None)
    assert "reason" in error.value.fields
    services.change_status(supplier, "in_qualification", "Questionario inviato", None)
    services.change_status(supplier, "approved", "Punteggio 86/100", None,
                           qualified_until=dt.date(2030, 1, 31), today=dt.date(2026, 11, 27))
    db.session.commit()
    history = [(c.from_status, c.to_status, c.reason) for c in reversed(supplier.status_changes)]
    assert history == [
        (None, "prospect", "Registered in the supplier register"),
        ("prospect", "in_qualification", "Questionario inviato"),
        ("in_qualification", "approved", "Punteggio 86/100"),
    ]
    assert supplier.qualified_until == dt.date(2030, 1, 31)


def test_approval_needs_a_future_qualified_until_date(make_supplier):
    supplier = make_supplier(status="in_qualification")
    today = dt.date(2026, 11, 27)
    with pytest.raises(ValidationFailed) as error:
        services.change_status(supplier, "approved", "ok", None, today=today)
    assert "qualified_until" in error.value.fields
    with pytest.raises(ValidationFailed):
        services.change_status(supplier, "approved", "ok", None, qualified_until=today, today=today)


def test_illegal_transition_is_refused(make_supplier):
    supplier = make_supplier()  # prospect
    with pytest.raises(ValidationFailed) as error:
        services.change_status(supplier, "approved", "skip the questionnaire", None,
                               qualified_until=dt.date(2030, 1, 1))
    assert "status" in error.value.fields
    assert supplier.status == "prospect"


def test_suspension_clears_qualified_until(make_supplier):
    supplier = make_supplier(status="approved", qualified_until=dt.date(2030, 6, 30))
    services.change_status(supplier, "suspended", "Three lost parcels in a week", None)
    assert supplier.qualified_until is None


def test_stale_version_is_refused(make_supplier):
    supplier = make_supplier()
    services.update_supplier(supplier, {"legal_name": "First edit"}, None, expected_version=1)
    db.session.commit()
    assert supplier.version == 2
    with pytest.raises(Conflict):
        services.update_supplier(supplier, {"legal_name": "Second edit on an old copy"}, None, expected_version=1)
    assert supplier.legal_name == "First edit"


def test_change_log_records_old_and_new_values(make_supplier, make_user):
    manager = make_user(role="quality_manager")
    supplier = make_supplier(actor=manager, legal_name="Vecchio Nome S.r.l.", chain_roles=["carrier"])
    services.update_supplier(supplier, {"legal_name": "Nuovo Nome S.r.l.", "chain_roles": ["carrier", "last_mile"]},
                             manager)
    db.session.commit()
    entries = history_for("suppliers", supplier.id)
    update = entries[0]
    assert update.action == "update"
    assert update.actor_label == manager.email
    assert update.changes == {
        "legal_name": ["Vecchio Nome S.r.l.", "Nuovo Nome S.r.l."],
        "chain_roles": [["carrier"], ["carrier", "last_mile"]],
    }
    create = entries[-1]
    assert create.action == "create"
    assert create.changes["legal_name"] == [None, "Vecchio Nome S.r.l."]


def test_status_change_reason_is_in_the_change_log(make_supplier):
    supplier = make_supplier()
    services.change_status(supplier, "in_qualification", "Avvio qualifica", None)
    db.session.commit()
    entry = history_for("suppliers", supplier.id)[0]
    assert entry.changes["status"] == ["prospect", "in_qualification"]
    assert entry.reason == "Avvio qualifica"


def test_contacts_log_under_their_supplier_and_keep_one_primary(make_supplier):
    supplier = make_supplier()
    first = services.add_contact(supplier, {"name": "Anna Rossi", "email": "ANNA@example.it"}, None)
    second = services.add_contact(supplier, {"name": "Marco Bianchi", "is_primary": True}, None)
    db.session.commit()
    assert (first.is_primary, second.is_primary) == (False, True)
    assert first.email == "anna@example.it"
    services.remove_contact(second, None)
    db.session.commit()
    assert first.is_primary is True
    fields = {name for entry in history_for("suppliers", supplier.id) for name in entry.changes}
    assert f"supplier_contacts[{first.id}].name" in fields


def test_change_log_cannot_be_altered(make_supplier):
    make_supplier()
    entry = db.session.scalar(select(ChangeLogEntry).limit(1))
    with pytest.raises(Exception):
        db.session.execute(ChangeLogEntry.__table__.update().values(actor_label="someone else"))
        db.session.flush()
    db.session.rollback()
    with pytest.raises(Exception):
        db.session.execute(ChangeLogEntry.__table__.delete().where(ChangeLogEntry.id == entry.id))
        db.session.flush()
    db.session.rollback()


def test_archived_suppliers_are_hidden_from_lists_but_reachable(make_supplier):
    kept = make_supplier(code="KEEP-1")
    gone = make_supplier(code="GONE-1")
    services.archive_supplier(gone, "Contratto cessato", None)
    db.session.commit()
    listed = [s.code for s in services.list_suppliers(services.SupplierFilters()).items]
    assert listed == ["KEEP-1"]
    listed_all = [s.code for s in services.list_suppliers(services.SupplierFilters(include_archived=True)).items]
    assert listed_all == ["GONE-1", "KEEP-1"]
    assert services.get_supplier_by_code("GONE-1") is gone
    assert kept.archived_at is None


def test_a_main_contractor_with_active_subcontractors_cannot_be_archived(make_supplier):
    make_supplier(code="CAR-9")
    make_supplier(code="LM-9", parent="CAR-9")
    with pytest.raises(ValidationFailed):
        services.archive_supplier(services.get_supplier_by_code("CAR-9"), "fine rapporto", None)


def test_search_treats_like_wildcards_literally(make_supplier):
    make_supplier(code="PCT-1", legal_name="Sconto 100% S.p.A.")
    make_supplier(code="PCT-2", legal_name="Sconto 1000 S.p.A.")
    make_supplier(code="UND-1", legal_name="Under_score")
    found = lambda text: [s.code for s in services.list_suppliers(services.SupplierFilters(text=text)).items]
    assert found("100%") == ["PCT-1"]
    assert found("r_s") == ["UND-1"]
    assert found("'; DROP TABLE suppliers;--") == []
    assert found("SCONTO") == ["PCT-1", "PCT-2"]


def test_filters_combine(make_supplier):
    make_supplier(code="C-IT", country="IT", chain_roles=["carrier"], risk_class="high")
    make_supplier(code="C-DE", country="DE", chain_roles=["carrier"], risk_class="high")
    make_supplier(code="W-IT", country="IT", chain_roles=["warehouse"], risk_class="high")
    make_supplier(code="C-IT-LOW", country="IT", chain_roles=["carrier", "last_mile"], risk_class="low")
    page = services.list_suppliers(services.SupplierFilters(roles=["carrier"], countries=["IT"], risk_classes=["high"]))
    assert [s.code for s in page.items] == ["C-IT"]


def test_keyset_pages_walk_forward_and_back_without_gaps(make_supplier):
    for n in range(7):
        make_supplier(code=f"P-{n}", legal_name=f"Nome {n % 3}")
    seen, cursor = [], None
    pages = []
    while True:
        page = services.list_suppliers(services.SupplierFilters(), sort="legal_name", cursor=cursor, limit=3)
        pages.append(page)
        seen += [s.code for s in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    # Sorted by name, ties broken by id (creation order).
    assert seen == ["P-0", "P-3", "P-6", "P-1", "P-4", "P-2", "P-5"]
    assert [len(p.items) for p in pages] == [3, 3, 1]
    back = services.list_suppliers(services.SupplierFilters(), sort="legal_name", cursor=pages[2].prev_cursor, limit=3)
    assert [s.code for s in back.items] == ["P-1", "P-4", "P-2"]
    descending = services.list_suppliers(services.SupplierFilters(), sort="code", descending=True, limit=2)
    assert [s.code for s in descending.items] == ["P-6", "P-5"]


def test_control_characters_are_dropped_from_text(make_supplier):
    supplier = make_supplier(legal_name="Trasporti\x00 Nord\x0b S.r.l.\x1f")
    assert supplier.legal_name == "Trasporti Nord S.r.l."


def test_status_history_rows_are_written_once_per_change(make_supplier):
    supplier = make_supplier(status="suspended")
    count = db.session.scalars(select(StatusChange).where(StatusChange.supplier_id == supplier.id)).all()
    assert [c.to_status for c in sorted(count, key=lambda c: c.id)] == [
        "prospect", "in_qualification", "approved", "suspended"]


def test_main_contractor_is_logged_by_its_code(make_supplier):
    make_supplier(code="CAR-A")
    make_supplier(code="CAR-B")
    courier = make_supplier(code="LM-A", parent="CAR-A")
    services.update_supplier(courier, {"parent": "CAR-B"}, None)
    db.session.commit()
    entries = history_for("suppliers", courier.id)
    assert entries[0].changes == {"parent_id": ["CAR-A", "CAR-B"]}
    assert entries[-1].changes["parent_id"] == [None, "CAR-A"]
