"""Pages to import questionnaire templates from .xlsx and to export a version as .xlsx.

Steps: **upload** a workbook → a model-format file is imported at once; a G-Cloud-style file
goes to the **sheets** step (which sheets, one template per sheet or one template with all of
them, the name) → the import. Between the two steps the file is kept in a private folder
under the instance folder (`template_imports/`), named by a random id that the user's session
remembers; no path from the user is ever used. It is removed once imported, and files left
behind are removed after a day, at the next upload.
"""
from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path
from urllib.parse import quote

from flask import Response, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.utils import secure_filename

from app.auth.access import permission_required
from app.db import db, unit_of_work
from app.errors import ServiceError, ValidationFailed
from app.forms import choices
from app.uploads import sanitise_filename
from incidents.services.imports import discard_stale_files
from questionnaires.import_forms import SheetChoiceForm, TemplateUploadForm
from questionnaires.models import TemplateVersion
from questionnaires.services import template_io
from questionnaires.views import bp

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_TOKEN = re.compile(r"[0-9a-f]{32}")
_SESSION_KEY = "template_import_files"
#: Uploaded files a session remembers.
FILES_PER_SESSION = 3


def _actor():
    return current_user._get_current_object()


def _import_dir() -> Path:
    return Path(current_app.config["INSTANCE_DIR"]) / "template_imports"


def _store(stream) -> Path:
    """Keep the upload under a random name; refuse it unless it starts like a zip (.xlsx)."""
    directory = _import_dir()
    directory.mkdir(parents=True, exist_ok=True)
    discard_stale_files(directory)
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=".upload-")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(64 * 1024):
                out.write(chunk)
        with temp.open("rb") as check:
            if check.read(4) != b"PK\x03\x04":
                raise ValidationFailed(
                    _("This file is not an .xlsx workbook."), code="invalid_template_file",
                    fields={"file": _("This file is not an .xlsx workbook.")})
        final = directory / f"{secrets.token_hex(16)}.xlsx"
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return final


def _remember(path: Path, original: str) -> str:
    files = dict(session.get(_SESSION_KEY) or {})
    files[path.stem] = sanitise_filename(original)
    session[_SESSION_KEY] = dict(list(files.items())[-FILES_PER_SESSION:])
    return path.stem


def _stored_or_404(token: str) -> tuple[Path, str]:
    name = (session.get(_SESSION_KEY) or {}).get(token)
    if not _TOKEN.fullmatch(token or "") or name is None:
        abort(404)
    path = _import_dir() / f"{token}.xlsx"
    if not path.is_file():
        abort(404)
    return path, name


def _forget(token: str) -> None:
    files = dict(session.get(_SESSION_KEY) or {})
    files.pop(token, None)
    session[_SESSION_KEY] = files
    (_import_dir() / f"{token}.xlsx").unlink(missing_ok=True)


def _problems(exc: ServiceError) -> list[dict]:
    return list(exc.fields.get("rows") or []) if isinstance(exc.fields, dict) else []


def _done(created, warnings) -> Response:
    """One template: its page, to check and publish it. Several: the list, drafts first."""
    if len(created) == 1:
        template = created[0]
        flash(_("Template “%(name)s” imported with %(n)d questions (draft version 1).", name=template.name,
                n=len(template.versions[0].questions())), "success")
    else:
        flash(_("%(n)d templates imported as drafts, %(q)d questions in all: %(names)s.", n=len(created),
                q=sum(len(t.versions[0].questions()) for t in created),
                names=", ".join(t.name for t in created)), "success")
    if warnings:
        flash(_("%(n)d rows were adjusted while importing: %(first)s", n=len(warnings), first=str(warnings[0])),
              "warning")
    if len(created) == 1:
        return redirect(url_for(".template", template_id=created[0].id))
    return redirect(url_for(".templates", status="draft"))


@bp.route("/questionnaires/import", methods=["GET", "POST"])
@permission_required("questionnaires.design")
def import_template():
    form = TemplateUploadForm()
    status, problems = 200, []
    if form.validate_on_submit():
        upload = form.file.data
        path = None
        try:
            path = _store(upload.stream)
            layout = template_io.detect_layout(template_io.inspect_workbook(path))
            if layout == "gcloud":
                token = _remember(path, upload.filename or path.name)
                path = None  # kept for the next step
                return redirect(url_for(".import_sheets", token=token))
            if layout != "model":
                raise ValidationFailed(
                    _("The columns of this workbook are not recognised: use the model file."),
                    code="invalid_template_file")
            with unit_of_work():
                template = template_io.import_model_workbook(path, _actor(), name=form.name.data or None)
            return _done([template], [])
        except ServiceError as exc:
            problems = _problems(exc)
            form.file.errors = [*form.file.errors, str(exc.message)]
            status = 422
        finally:
            if path is not None:
                path.unlink(missing_ok=True)
    elif form.is_submitted():
        status = 422
    return render_template("questionnaires/imports/upload.html", form=form, problems=problems), status


@bp.route("/questionnaires/import/<token>", methods=["GET", "POST"])
@permission_required("questionnaires.design")
def import_sheets(token: str):
    path, original = _stored_or_404(token)
    try:
        sheets = template_io.inspect_workbook(path)
    except ServiceError as exc:
        _forget(token)
        flash(str(exc.message), "danger")
        return redirect(url_for(".import_template"))
    usable = [s for s in sheets if s.layout == "gcloud"]
    form = SheetChoiceForm()
    form.sheets.choices = choices((s.name, _("%(name)s (%(n)d rows)", name=s.name, n=s.rows)) for s in usable)
    if request.method == "GET":
        form.sheets.data = [s.name for s in usable]
        form.name.data = Path(original).stem[:200]
    status, problems = 200, []
    if form.validate_on_submit():
        try:
            with unit_of_work():
                result = template_io.import_mapped_workbook(
                    path, _actor(), mapping=template_io.GCLOUD_MAPPING, sheets=form.sheets.data,
                    mode=form.mode.data, name=form.name.data or None)
        except ServiceError as exc:
            problems = _problems(exc)
            flash(str(exc.message), "danger")
            status = 422
        else:
            _forget(token)
            return _done(result.templates, result.warnings)
    elif form.is_submitted():
        status = 422
    return render_template("questionnaires/imports/sheets.html", form=form, original=original, sheets=usable,
                           problems=problems, token=token), status


def _attachment(data: bytes, name: str) -> Response:
    display = sanitise_filename(name)
    ascii_name = secure_filename(display) or "questionnaire.xlsx"
    response = Response(data, mimetype=XLSX_CONTENT_TYPE)
    response.headers["Content-Disposition"] = (f'attachment; filename="{ascii_name}"; '
                                               f"filename*=UTF-8''{quote(display, safe='')}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/questionnaires/import/model.xlsx")
@permission_required("questionnaires.view")
def import_model_file():
    return _attachment(template_io.model_workbook(), _("questionnaire-model") + ".xlsx")


@bp.route("/questionnaires/versions/<int:version_id>/export.xlsx")
@permission_required("questionnaires.view")
def export_version(version_id: int):
    version = db.session.get(TemplateVersion, version_id)
    if version is None:
        abort(404)
    return _attachment(template_io.export_model_workbook(version),
                       f"{version.template.name}-v{version.number}.xlsx")
