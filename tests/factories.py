"""Callables that make valid domain records with defaults for every required field.

They go through the services, as the application does, so records are as real as those a
user would create; each commits, as a request would.
"""
from __future__ import annotations

import datetime as dt
import itertools

from app.auth import services as auth_services
from app.db import db
from suppliers import services as supplier_services

DEFAULT_PASSWORD = "correct horse battery"
_counter = itertools.count(1)


class Factories:
    def user(self, role: str = "viewer", email: str | None = None, password: str = DEFAULT_PASSWORD, **fields):
        n = next(_counter)
        user = auth_services.create_user(
            email or f"{role}{n}@example.test", fields.pop("name", f"{role.title()} {n}"), role, password,
            actor=None, locale=fields.pop("locale", None),
        )
        for key, value in fields.items():
            setattr(user, key, value)
        db.session.commit()
        return user

    def supplier(self, actor=None, status: str | None = None, qualified_until: dt.date | None = None, **overrides):
        n = next(_counter)
        values = {
            "code": f"SUP-{n:04d}",
            "legal_name": f"Fornitore di prova {n} S.r.l.",
            "country": "IT",
            "chain_roles": ["carrier"],
            "risk_class": "medium",
        }
        values.update(overrides)
        supplier = supplier_services.create_supplier(values, actor)
        if status and status != "prospect":
            path = {
                "in_qualification": ["in_qualification"],
                "approved": ["in_qualification", "approved"],
                "conditionally_approved": ["in_qualification", "conditionally_approved"],
                "suspended": ["in_qualification", "approved", "suspended"],
                "disqualified": ["disqualified"],
            }[status]
            until = qualified_until or dt.date.today() + dt.timedelta(days=365)
            for step in path:
                supplier_services.change_status(supplier, step, f"test: to {step}", actor, qualified_until=until)
        db.session.commit()
        return supplier
