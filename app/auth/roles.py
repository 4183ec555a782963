"""Roles and permissions: the single table that says who may do what.

Views and API handlers ask for a permission, never for a role, so a new role or a changed
duty is one edit here.
"""
from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l


class Role(StrEnum):
    ADMIN = "admin"
    QUALITY_MANAGER = "quality_manager"
    AUDITOR = "auditor"
    OPERATOR = "operator"
    VIEWER = "viewer"


ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.QUALITY_MANAGER: _l("Quality manager"),
    Role.AUDITOR: _l("Auditor"),
    Role.OPERATOR: _l("Operator (customer care)"),
    Role.VIEWER: _l("Viewer"),
}

_EVERYONE = frozenset(Role)
_QUALITY_OFFICE = frozenset({Role.ADMIN, Role.QUALITY_MANAGER})

PERMISSIONS: dict[str, frozenset[Role]] = {
    "suppliers.view": _EVERYONE,
    "suppliers.edit": _QUALITY_OFFICE,
    "suppliers.change_status": _QUALITY_OFFICE,
    "suppliers.archive": _QUALITY_OFFICE,
    "suppliers.view_certificates": _EVERYONE,
    "changelog.view": frozenset({Role.ADMIN, Role.QUALITY_MANAGER, Role.AUDITOR}),
    "orders.view": _EVERYONE,
    "legs.import": _QUALITY_OFFICE,
    "slas.view": _EVERYONE,
    "slas.edit": _QUALITY_OFFICE,
    "incidents.view": _EVERYONE,
    #: Record complaints, log interactions and costs, move an incident along its life, assign.
    "incidents.handle": frozenset({Role.ADMIN, Role.QUALITY_MANAGER, Role.OPERATOR}),
    #: Confirm or override who caused an incident.
    "incidents.attribute": frozenset({Role.ADMIN, Role.QUALITY_MANAGER, Role.OPERATOR}),
    #: The customer-service dashboard of incident KPIs.
    "service.dashboard": _EVERYONE,
    #: Send a supplier its dispute link and settle disputed attributions.
    "incidents.disputes": _QUALITY_OFFICE,
    "chargebacks.view": frozenset({Role.ADMIN, Role.QUALITY_MANAGER, Role.AUDITOR, Role.VIEWER}),
    #: Prepare, send and settle chargeback statements; set chargeback policies.
    "chargebacks.manage": _QUALITY_OFFICE,
    #: See questionnaire templates, assignments, answers and scores.
    "questionnaires.view": _EVERYONE,
    #: Build, import, publish and version questionnaire templates.
    "questionnaires.design": _QUALITY_OFFICE,
    #: Send a questionnaire to a supplier, renew or withdraw its link.
    "questionnaires.assign": _QUALITY_OFFICE,
    #: Comment on answers and send questions back for clarification.
    "questionnaires.review": frozenset({Role.ADMIN, Role.QUALITY_MANAGER, Role.AUDITOR}),
    #: Accept or reject a questionnaire: sets the supplier's qualification status.
    "questionnaires.decide": _QUALITY_OFFICE,
    #: See the audit programme, audits, findings and corrective actions.
    "audits.view": _EVERYONE,
    #: Create and change audit plans (the programme); fire them by hand.
    "audits.plan": _QUALITY_OFFICE,
    #: Run an audit: snapshot, checklist, notes, evidence, participants, findings.
    "audits.conduct": frozenset({Role.ADMIN, Role.QUALITY_MANAGER, Role.AUDITOR}),
    #: Issue (sign) an audit report and close an audit.
    "audits.issue": _QUALITY_OFFICE,
    #: Request corrective actions from suppliers, review their answers, verify effectiveness.
    "actions.manage": frozenset({Role.ADMIN, Role.QUALITY_MANAGER, Role.AUDITOR}),
    #: Download exports and reports of what one may see (each export also checks the list's
    #: own permission).
    "reports.export": _EVERYONE,
    "users.manage": frozenset({Role.ADMIN}),
}


def role_can(role: str, permission: str) -> bool:
    try:
        allowed = PERMISSIONS[permission]
    except KeyError:
        # A typo in a permission name must not silently open or close a route.
        raise LookupError(f"unknown permission {permission!r}") from None
    return role in allowed
