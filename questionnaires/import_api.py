"""JSON API: import questionnaire templates from .xlsx workbooks (the model format, or a
G-Cloud-style question export), over the same service as the import page."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import marshmallow as ma
from flask import g, request
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from app.api import api_permission
from app.db import unit_of_work
from app.errors import ServiceError, json_error
from questionnaires.services import template_io

blp = Blueprint("questionnaire_import_api", __name__, url_prefix="/questionnaire-templates",
                description="Import questionnaire templates from .xlsx workbooks.")


class ImportFormSchema(ma.Schema):
    mode = ma.fields.String(load_default="templates", validate=ma.validate.OneOf(["templates", "sections"]),
                            metadata={"description": "G-Cloud layout: one template per sheet, or one template "
                                                     "whose sections are every sheet's sections"})
    sheets = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=31)), load_default=list,
                            metadata={"description": "G-Cloud layout: the sheets to import (default: all)"})
    name = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))


class ImportFileSchema(ImportFormSchema):
    """The multipart body: the workbook and the form fields (read from the form, documented
    here so the OpenAPI document shows one multipart/form-data body)."""

    file = ma.fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class ImportWarningSchema(ma.Schema):
    sheet = ma.fields.String()
    row = ma.fields.Integer()
    column = ma.fields.String()
    message = ma.fields.String()


class ImportedTemplateSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    version_id = ma.fields.Integer()
    questions = ma.fields.Integer()


class ImportResultSchema(ma.Schema):
    templates = ma.fields.List(ma.fields.Nested(ImportedTemplateSchema))
    warnings = ma.fields.List(ma.fields.Nested(ImportWarningSchema))


@blp.route("/import", methods=["POST"])
@api_permission("questionnaires.design")
@blp.arguments(ImportFileSchema, location="files")
@blp.response(201, ImportResultSchema)
def import_templates(files):
    """Import a workbook: the model format makes one template; a G-Cloud-style export makes one
    template per chosen sheet, or one template (`mode=sections`). All or nothing: errors come
    back as `invalid_template_file` with `fields.rows` listing sheet, row, column and message."""
    upload = files["file"]
    try:
        form = ImportFormSchema().load({"mode": request.form.get("mode") or "templates",
                                        "sheets": request.form.getlist("sheets"),
                                        "name": request.form.get("name") or None})
    except ma.ValidationError as exc:
        fields = {k: " ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in exc.messages.items()}
        return json_error(422, "validation_failed", _l("Some of the data is not valid"), fields)
    fd, temp_name = tempfile.mkstemp(prefix=".api-upload-", suffix=".xlsx")
    path = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := upload.stream.read(64 * 1024):
                out.write(chunk)
        with unit_of_work():
            result = template_io.import_workbook(path, g.api_user, name=form["name"], sheets=form["sheets"] or None,
                                                 mode=form["mode"])
    except ServiceError as exc:
        fields = exc.fields if isinstance(exc.fields, dict) else {}
        fields = {k: (v if isinstance(v, list) else str(v)) for k, v in fields.items()}
        return json_error(exc.status, exc.code or "invalid_template_file", exc.message, fields)
    finally:
        path.unlink(missing_ok=True)
    return {
        "templates": [{"id": t.id, "name": t.name, "version_id": t.versions[0].id,
                       "questions": len(t.versions[0].questions())} for t in result.templates],
        "warnings": [w.as_dict() for w in result.warnings],
    }


