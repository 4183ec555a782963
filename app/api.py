"""The JSON API's shared machinery: bearer-token authentication, permission checks, the
error envelope and list pagination. Each domain adds its own flask-smorest blueprint in its
`api.py`; the OpenAPI 3 document is generated from those at /api/v1/openapi.json.
"""
from __future__ import annotations

import functools

import marshmallow as ma
from flask import Flask, abort, g, request
from flask_babel import lazy_gettext as _l
from flask_smorest import Api as SmorestApi
from flask_smorest import Blueprint
from werkzeug.routing import IntegerConverter

from app.errors import ValidationFailed, http_error_response, json_error
from app.extensions import csrf

API_PREFIX = "/api/v1"

# The largest row id: ids are INTEGER columns, 32-bit on PostgreSQL. A larger number would
# make the database (or on SQLite, beyond 2**63 - 1, the driver) fail with an error 500
# instead of finding nothing.
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """The `int` URL converter, bounded to what the database can store: a larger number in a
    URL is a 404, like any id that names nothing."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def id_field(**kwargs) -> ma.fields.Integer:
    """An integer field naming a row by its id."""
    return ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID), **kwargs)


def decimal_as_string2properties(self, field, **kwargs) -> dict:
    """A Decimal field dumped `as_string` is a JSON string in responses; apispec would
    document it as a number."""
    if isinstance(field, ma.fields.Decimal) and field.as_string:
        return {"type": "string", "format": "decimal"}
    return {}


class ErrorDetailSchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "Stable snake_case error code"})
    message = ma.fields.String(required=True, metadata={"description": "Translated, human-readable"})
    fields = ma.fields.Dict(metadata={"description": "Field name → message, for invalid fields"})


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorDetailSchema, required=True)


class Api(SmorestApi):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        # flask-smorest registers this for every HTTP error of the app; pages keep theirs.
        return http_error_response(error)


class ListArgsSchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=500))


def list_response(page) -> dict:
    return {"items": page.items, "next": page.next_cursor}


def invalid_cursor() -> ValidationFailed:
    """The error for a list cursor that was altered or comes from another list."""
    message = _l("The cursor is not valid; start again from the first page.")
    return ValidationFailed(message, code="invalid_cursor", fields={"cursor": message})


def api_permission(permission: str):
    """Require the token's user to hold `permission`; 403 JSON otherwise."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = g.get("api_user")
            if user is None:
                abort(401)
            if not user.can(permission):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator


def _id_converter2paramschema(converter) -> dict:
    return {"type": "integer", "minimum": 0, "maximum": converter.max}


api = Api()
api.register_converter(IdConverter, _id_converter2paramschema)


def _authenticate_api_request():
    if not request.path.startswith(API_PREFIX + "/") or request.path == f"{API_PREFIX}/openapi.json":
        return None
    from app.auth.services import user_for_token
    from app.db import db

    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        # The session cookie is never enough for the API: it would make the API a CSRF target.
        response = json_error(401, "unauthorized", _l("Send an API token as 'Authorization: Bearer TOKEN'."))
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    user = user_for_token(secret.strip())
    if user is None:
        response = json_error(401, "invalid_token", _l("The API token is unknown, revoked or its user is inactive."))
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    # Ends the read transaction (recording the token's last use), so that a write request
    # can then open its own write transaction (see app.db.begin_write).
    db.session.commit()
    g.api_user = user
    return None


def init_app(app: Flask) -> None:
    # The `int` converter is replaced by IdConverter in create_app, before any route is added.
    api.init_app(app)
    if decimal_as_string2properties not in [getattr(f, "__func__", None)
                                            for f in api.ma_plugin.converter.attribute_functions]:
        api.ma_plugin.converter.add_attribute_function(decimal_as_string2properties)
    app.before_request_funcs.setdefault(None, []).insert(0, _authenticate_api_request)


def register(blueprint: Blueprint) -> None:
    csrf.exempt(blueprint)
    api.register_blueprint(blueprint, url_prefix=API_PREFIX + (blueprint.url_prefix or ""))
