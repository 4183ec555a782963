"""Contacts of a supplier through its pages."""
from __future__ import annotations

from sqlalchemy import select

from app.db import db
from suppliers.models import Contact


def test_contacts_are_added_edited_and_removed(login_as, make_supplier):
    make_supplier(code="CAR-1")
    client = login_as("quality_manager")
    response = client.post_form("/suppliers/CAR-1/contacts/new", {
        "name": "Anna Rossi", "job_title": "Responsabile qualità", "email": "anna.rossi@vettore.example",
        "phone": "+39 02 1234 5678"})
    assert response.status_code == 302
    anna = db.session.scalar(select(Contact).where(Contact.name == "Anna Rossi"))
    assert anna.is_primary  # the first contact becomes the primary one

    response = client.post_form("/suppliers/CAR-1/contacts/new", {"name": "Marco Bianchi", "is_primary": "y"})
    marco = db.session.scalar(select(Contact).where(Contact.name == "Marco Bianchi"))
    db.session.refresh(anna)
    assert marco.is_primary and not anna.is_primary

    response = client.post_form(f"/suppliers/CAR-1/contacts/{anna.id}", {"name": "Anna Rossi",
                                                                        "email": "not an address"})
    assert "Enter a valid e-mail address." in response.get_data(as_text=True)

    marco_id = marco.id
    client.post_form(f"/suppliers/CAR-1/contacts/{marco_id}/delete")
    db.session.refresh(anna)
    assert anna.is_primary  # the remaining contact takes over as primary
    assert db.session.get(Contact, marco_id) is None


def test_a_contact_is_reachable_only_through_its_own_supplier(login_as, make_supplier):
    make_supplier(code="CAR-1")
    make_supplier(code="CAR-2")
    client = login_as("quality_manager")
    client.post_form("/suppliers/CAR-1/contacts/new", {"name": "Anna Rossi"})
    anna = db.session.scalar(select(Contact))
    assert client.get(f"/suppliers/CAR-2/contacts/{anna.id}").status_code == 404
    assert client.post_form(f"/suppliers/CAR-2/contacts/{anna.id}/delete").status_code == 404
    assert db.session.get(Contact, anna.id) is not None


def test_type_ahead_finds_suppliers_by_name(login_as, make_supplier):
    make_supplier(code="CAR-1", legal_name="Trasporti Padani S.r.l.")
    make_supplier(code="WH-1", legal_name="Magazzini Emiliani S.p.A.")
    found = login_as("operator").get("/suppliers/suggest?q=padan").json
    assert found == [{"code": "CAR-1", "legal_name": "Trasporti Padani S.r.l."}]
