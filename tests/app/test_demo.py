"""`demo load` gives a newcomer every state to look at, once."""
from __future__ import annotations

from sqlalchemy import func, select

from app.auth.models import User
from app.db import db
from suppliers.models import ChainRole, Supplier, SupplierChainRole, SupplierStatus


def test_demo_loads_every_status_and_role_once(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "quality@catena.example" in result.output

    statuses = set(db.session.scalars(select(Supplier.status).distinct()))
    assert statuses == {s.value for s in SupplierStatus}
    roles = set(db.session.scalars(select(SupplierChainRole.role).distinct()))
    assert roles == {r.value for r in ChainRole}
    assert 35 <= db.session.scalar(select(func.count()).select_from(Supplier)) <= 60
    assert db.session.scalar(select(func.count()).select_from(Supplier).where(Supplier.parent_id.is_not(None))) >= 5
    assert set(db.session.scalars(select(User.role))) == {"admin", "quality_manager", "auditor", "operator", "viewer"}

    again = runner.invoke(args=["demo", "load"])
    assert again.exit_code != 0
    assert "already loaded" in again.output
    assert runner.invoke(args=["demo", "load", "--if-empty"]).exit_code == 0
    assert db.session.scalar(select(func.count()).select_from(User)) == 5


def test_demo_user_signs_in_with_the_printed_password(app, client):
    from app.demo import DEMO_PASSWORD

    app.test_cli_runner().invoke(args=["demo", "load"])
    assert client.login("quality@catena.example", DEMO_PASSWORD).status_code == 302
    page = client.get("/suppliers/?status=approved").get_data(as_text=True)
    assert "CAR-001" in page
