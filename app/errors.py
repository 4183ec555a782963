"""Errors raised by services, and the error pages and JSON errors users see instead of a trace.

A service raises `ServiceError` (or a subclass) with a stable snake_case `code`, a translated
message and, when the problem belongs to a field, `fields` mapping the field name to its
message. Views put those messages beside the form fields; the API returns them as
`{"error": {"code", "message", "fields"}}`.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

log = logging.getLogger(__name__)


class ServiceError(Exception):
    status = 422
    code = "invalid"

    def __init__(self, message, *, code: str | None = None, fields: dict | None = None):
        super().__init__(str(message))
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class ValidationFailed(ServiceError):
    code = "validation_failed"


class Conflict(ServiceError):
    """The record changed since the user loaded it, or the operation collides with another."""

    status = 409
    code = "conflict"


class PermissionDenied(ServiceError):
    status = 403
    code = "forbidden"


#: Stable codes for HTTP errors raised outside services.
HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal_error",
}

HTTP_ERROR_TITLES = {
    400: _l("The request could not be understood"),
    401: _l("Please sign in"),
    403: _l("You do not have permission to do this"),
    404: _l("Page not found"),
    405: _l("This action is not allowed here"),
    409: _l("The record was changed by someone else"),
    410: _l("This link is no longer valid"),
    413: _l("The file is too large"),
    415: _l("This type of file is not accepted"),
    422: _l("Some of the data is not valid"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong on our side"),
}

HTTP_ERROR_HINTS = {
    403: _l("Your role does not include this action. Ask an administrator if you need it."),
    404: _l("The address may be mistyped, or the record may have been removed."),
    413: _l("Uploads are limited in size. Make the file smaller and try again."),
    429: _l("Wait a few minutes and try again."),
    500: _l("The error has been logged. Try again, and tell an administrator if it happens again."),
}


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, code: str, message, fields: dict | None = None):
    body = {"error": {"code": code, "message": str(message), "fields": fields or {}}}
    response = jsonify(body)
    response.status_code = status
    return response


def http_error_response(error: HTTPException):
    status = error.code or 500
    if isinstance(error, SecurityError):
        # An untrusted Host header: no URL can be built for this request, so no page either.
        return Response("400 Bad Request: unknown host\n", status=400, mimetype="text/plain")
    if is_api_request():
        data = getattr(error, "data", None) or {}
        fields = {}
        messages = data.get("messages") if isinstance(data, dict) else None
        if messages:
            # webargs nests messages by location (json, query); callers want field names.
            for location_messages in messages.values():
                if isinstance(location_messages, dict):
                    for name, value in location_messages.items():
                        fields[name] = _flatten_messages(value)
        code = HTTP_ERROR_CODES.get(status, "http_error")
        message = HTTP_ERROR_TITLES.get(status, error.name)
        if fields:
            message = _l("Some of the data is not valid")
        elif error.description and status not in (404, 500):
            message = error.description
        return json_error(status, code, message, fields)
    return (
        render_template(
            "errors/error.html",
            status=status,
            title=HTTP_ERROR_TITLES.get(status, error.name),
            hint=HTTP_ERROR_HINTS.get(status),
        ),
        status,
    )


def _flatten_messages(value):
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return {k: _flatten_messages(v) for k, v in value.items()}
    return str(value)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException):
        return http_error_response(error)

    @app.errorhandler(ServiceError)
    def handle_service_error(error: ServiceError):
        # Views catch service errors to show them beside fields; one that escapes is still a
        # clean answer, never a trace.
        if is_api_request():
            return json_error(error.status, error.code, error.message, _stringify(error.fields))
        return (
            render_template("errors/error.html", status=error.status, title=error.message, hint=None),
            error.status,
        )

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        from app.db import db

        db.session.rollback()
        return http_error_response(InternalServerError())


def _stringify(fields: dict) -> dict:
    return {k: str(v) for k, v in fields.items()}
