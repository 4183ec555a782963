"""Role × route: every page and API call checks the role, not only the buttons.

The matrix is generated from app.url_map, so a new route without a permission check fails
here.
"""
from __future__ import annotations

import pytest

from app.auth.roles import PERMISSIONS, Role

#: Routes open to anyone, and why.
PUBLIC = {
    "static",                # vendored assets
    "auth.login",            # the way in
    "auth.set_language",     # the language switch works before signing in
    "api-docs.openapi_json", # the API's own description
    "incidents.dispute_portal",  # a supplier's private dispute link; the token is the key
    "questionnaires.portal",       # a supplier's private questionnaire link; the token is the key
    "questionnaires.portal_file",  # evidence behind the same link, looked up within its assignment
    "audits.action_portal",        # a supplier's private corrective-action link; the token is the key
    "audits.action_portal_file",   # evidence behind the same link, looked up within its action
}
#: Routes for any signed-in user, whatever the role.
SIGNED_IN = {"auth.logout", "auth.change_password"}


def _view_functions(app):
    return {rule.endpoint: app.view_functions[rule.endpoint] for rule in app.url_map.iter_rules()}


def test_every_route_declares_a_permission(app):
    unguarded = []
    for endpoint, view in _view_functions(app).items():
        if endpoint in PUBLIC or endpoint in SIGNED_IN:
            continue
        permission = getattr(view, "required_permission", None)
        if permission is None or permission not in PERMISSIONS:
            unguarded.append(endpoint)
    assert unguarded == []


def _fill(rule, supplier_code):
    values = {}
    for argument in rule.arguments:
        values[argument] = supplier_code if argument == "code" else 1
    return values


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_each_role_is_refused_what_its_permissions_exclude(app, login_as, api_client, make_supplier, role):
    supplier = make_supplier(code="MAT-1")
    browser = login_as(role)
    api, headers = api_client(role)
    checked = 0
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        permission = getattr(view, "required_permission", None)
        if permission is None:
            continue
        allowed = role in PERMISSIONS[permission]
        with app.test_request_context():
            from flask import url_for
            url = url_for(rule.endpoint, **_fill(rule, supplier.code))
        is_api = rule.rule.startswith("/api/")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if is_api:
                response = api.open(url, method=method, headers=headers, json={})
            elif method == "GET":
                response = browser.get(url)
            else:
                response = browser.post_form(url, {})
            checked += 1
            if allowed:
                assert response.status_code != 403, (role, method, url)
            else:
                assert response.status_code == 403, (role, method, url, response.status_code)
    assert checked > 20
