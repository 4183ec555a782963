"""Demo accounts: one user per role, all with the same published password.

`make run` prints these logins after loading the demo, so the list and the password live here
as constants rather than inside the command.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.auth import services
from app.auth.models import User
from app.auth.roles import Role
from app.changelog import attribute_changes

#: The password of every demo account. Public on purpose: the demo is for trying Catena out.
DEMO_PASSWORD = "catena-demo-2026"


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: Role
    locale: str


#: One account per role, in the order they are created and printed.
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin@catena.example", "Alessandra Conti", Role.ADMIN, "en"),
    DemoUser("quality@catena.example", "Giulia Ferraris", Role.QUALITY_MANAGER, "it"),
    DemoUser("auditor@catena.example", "Marco Bellini", Role.AUDITOR, "it"),
    DemoUser("operator@catena.example", "Chiara Esposito", Role.OPERATOR, "it"),
    DemoUser("viewer@catena.example", "Luca Moretti", Role.VIEWER, "it"),
)

DEMO_EMAILS = tuple(user.email for user in DEMO_USERS)


def load_users() -> dict[Role, User]:
    """Create the demo accounts and return them by role."""
    # Accounts are created by the system, not by one of the accounts being created.
    attribute_changes(None)
    return {
        demo.role: services.create_user(demo.email, demo.name, demo.role.value, DEMO_PASSWORD,
                                        actor=None, locale=demo.locale)
        for demo in DEMO_USERS
    }
