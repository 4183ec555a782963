"""Pages for importing orders and legs from files.

The steps: **upload** (a .csv or .xlsx, and a saved profile or "new mapping") → **mapping**
(the file's columns chosen for each field, saved as a profile) → **confirm** (all or nothing,
or valid rows only) → the import runs → the **batch page** with its counts, its first problems
and the full error report as CSV. The list shows the latest imports.

Decisions:

- No threads in web workers. The import runs inside the confirming POST, for files of up to
  `IMPORT_WEB_MAX_ROWS` data rows (config, 20,000 by default, about ten seconds of work, well
  inside a worker's timeout): the service counts while it checks and refuses a bigger file
  before writing anything. The page then gives the exact command to run instead
  (`flask --app app import legs FILE --profile NAME`), which has no limit and shows its
  progress on the terminal.
- A running batch (one started from the command line) can be followed in the browser: its
  page shows a <progress> bar and asks to be reloaded every few seconds with a `Refresh`
  header, no script needed.
- An uploaded file is checked at once (services.imports.open_table), then kept under a
  generated name in UPLOAD_DIR/imports until its import runs. The user's session lists the
  files it uploaded, with their original names; another session cannot use them. Files left
  behind are removed after a day, at the next upload.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from flask import (
    Response, abort, current_app, flash, make_response, redirect, render_template, request, session, url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.access import permission_required
from app.db import db, unit_of_work
from app.errors import ServiceError
from app.forms import choices, show_service_errors
from app.uploads import sanitise_filename
from incidents.forms import ConfirmImportForm, MappingForm, UploadForm
from incidents.services import imports
from incidents.services.imports import ImportRejected
from incidents.services.legs import FIELD_LABELS, LEG_FIELDS, REQUIRED_LEG_FIELDS
from incidents.views import bp

#: Data rows an import started from a page may have; bigger files go through the command line.
DEFAULT_WEB_MAX_ROWS = 20_000
#: Problems listed on the batch page; the CSV report has all that were kept.
PROBLEMS_ON_PAGE = 200
#: Uploaded files a session remembers; older ones are forgotten (and removed after a day).
FILES_PER_SESSION = 5
#: Seconds after which the page of a running batch reloads itself.
REFRESH_SECONDS = 5

_TOKEN = re.compile(r"[0-9a-f]{32}")
_SESSION_KEY = "import_files"


@bp.record_once
def _share_labels(state):
    state.app.jinja_env.globals.update(FIELD_LABELS=FIELD_LABELS)


@dataclass(frozen=True)
class _Upload:
    token: str
    path: Path
    name: str


def _actor():
    return current_user._get_current_object()


def _import_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / "imports"


def _remember(path: Path, original_name: str) -> str:
    token = path.stem
    files = dict(session.get(_SESSION_KEY) or {})
    files[token] = {"name": sanitise_filename(original_name), "ext": path.suffix}
    session[_SESSION_KEY] = dict(list(files.items())[-FILES_PER_SESSION:])
    return token


def _upload_or_404(token: str) -> _Upload:
    entry = (session.get(_SESSION_KEY) or {}).get(token)
    if not _TOKEN.fullmatch(token or "") or not entry or entry.get("ext") not in imports.ACCEPTED_EXTENSIONS:
        abort(404)
    path = _import_dir() / f"{token}{entry['ext']}"
    if not path.is_file():
        abort(404)
    return _Upload(token, path, entry["name"])


def _forget(upload: _Upload) -> None:
    files = dict(session.get(_SESSION_KEY) or {})
    files.pop(upload.token, None)
    session[_SESSION_KEY] = files
    upload.path.unlink(missing_ok=True)


def _web_max_rows() -> int:
    return int(current_app.config.get("IMPORT_WEB_MAX_ROWS", DEFAULT_WEB_MAX_ROWS))


@bp.route("/imports/")
@permission_required("legs.import")
def imports_index():
    return render_template("incidents/imports/index.html", batches=imports.latest_batches(50))


@bp.route("/imports/new", methods=["GET", "POST"])
@permission_required("legs.import")
def import_upload():
    form = UploadForm()
    form.profile.choices = choices([("", _("New mapping: choose the columns on the next page")),
                                    *((p.name, p.name) for p in imports.list_profiles())])
    status = 200
    if form.validate_on_submit():
        directory = _import_dir()
        imports.discard_stale_files(directory)
        upload = form.file.data
        try:
            path = imports.store_import_file(upload.stream, upload.filename or "", directory)
        except ImportRejected as exc:
            form.file.errors = [*form.file.errors, exc.message]
            status = 422
        else:
            token = _remember(path, upload.filename or path.name)
            if form.profile.data:
                return redirect(url_for(".import_confirm", token=token, profile=form.profile.data))
            return redirect(url_for(".import_mapping", token=token))
    elif form.is_submitted():
        status = 422
    return render_template("incidents/imports/upload.html", form=form), status


@bp.route("/imports/files/<token>/mapping", methods=["GET", "POST"])
@permission_required("legs.import")
def import_mapping(token: str):
    upload = _upload_or_404(token)
    profile = imports.get_profile(request.args.get("profile", "")) if request.args.get("profile") else None
    form = MappingForm()
    delimiter = _chosen_delimiter(form, profile)
    try:
        headers = imports.read_headers(upload.path, delimiter)
    except ImportRejected as exc:
        _forget(upload)
        flash(exc.message, "danger")
        return redirect(url_for(".import_upload"))
    columns = list(dict.fromkeys(h for h in headers if h))
    column_choices = choices([("", _("— not in the file —")), *((h, h) for h in columns)])
    for field in form.mapping_fields():
        field.choices = column_choices
    if request.method == "GET":
        _prefill(form, columns, profile, upload)
    status = 200
    if request.method == "POST" and "reread" in request.form:
        pass  # only read the columns again with the delimiter chosen; keep what was chosen
    elif form.validate_on_submit():
        try:
            with unit_of_work():
                saved = imports.save_profile(form.name.data, form.mapping(), form.timezone.data,
                                             datetime_format=form.datetime_format.data,
                                             delimiter=form.delimiter.data or None)
        except ServiceError as exc:
            show_service_errors(form, exc)
            status = 422
        else:
            flash(_("Import profile “%(name)s” saved.", name=saved.name), "success")
            return redirect(url_for(".import_confirm", token=upload.token, profile=saved.name))
    elif form.is_submitted():
        status = 422
    return render_template("incidents/imports/mapping.html", form=form, upload=upload, columns=columns,
                           required=REQUIRED_LEG_FIELDS), status


def _chosen_delimiter(form: MappingForm, profile) -> str | None:
    """The delimiter to read the columns with: the one on the form, else the profile's."""
    if request.method == "POST":
        return form.delimiter.data if form.delimiter.data in imports.CSV_DELIMITERS else None
    return profile.delimiter if profile else None


def _prefill(form: MappingForm, columns: list[str], profile, upload: _Upload) -> None:
    """Start from the profile's choices, or guess each field from the column names."""
    if profile is not None:
        form.name.data = profile.name
        form.timezone.data = profile.timezone
        form.datetime_format.data = profile.datetime_format or ""
        form.delimiter.data = profile.delimiter or ""
        wanted = profile.mapping or {}
    else:
        form.name.data = Path(upload.name).stem[:80]
        form.timezone.data = current_app.config["CATENA_TIMEZONE"]
        wanted = imports.guess_mapping(columns)
    for name in LEG_FIELDS:
        getattr(form, name).data = imports.find_column(columns, wanted.get(name)) or ""


@bp.route("/imports/files/<token>/run", methods=["GET", "POST"])
@permission_required("legs.import")
def import_confirm(token: str):
    upload = _upload_or_404(token)
    profile = imports.get_profile(request.args.get("profile", ""))
    if profile is None:
        flash(_("Choose the columns of the file first."), "warning")
        return redirect(url_for(".import_mapping", token=upload.token))
    form = ConfirmImportForm()
    column_problems = _column_problems(upload, profile)
    command = None
    status = 200
    if form.validate_on_submit() and not column_problems:
        try:
            batch = imports.import_legs_file(upload.path, profile, _actor(), valid_rows_only=form.valid_rows_only.data,
                                             file_name=upload.name, commit=db.session.commit,
                                             max_rows=_web_max_rows())
        except ImportRejected as exc:
            db.session.rollback()
            status = 422
            if exc.code == "too_many_rows":
                command = _command_line(upload, profile, form.valid_rows_only.data)
                _forget(upload)
            else:
                show_service_errors(form, exc)
        else:
            _forget(upload)
            flash(_batch_message(batch), "success" if batch.status == "complete" else "danger")
            return redirect(url_for(".import_detail", batch_id=batch.id))
    elif form.is_submitted():
        status = 422
    return render_template("incidents/imports/confirm.html", form=form, upload=upload, profile=profile,
                           column_problems=column_problems, command=command, max_rows=_web_max_rows()), status


def _column_problems(upload: _Upload, profile) -> dict:
    """Field → why the profile does not fit the file ({} when it fits)."""
    try:
        imports.match_columns(imports.read_headers(upload.path, profile.delimiter), profile.mapping or {})
    except ImportRejected as exc:
        return exc.fields or {"file": exc.message}
    return {}


def _command_line(upload: _Upload, profile, valid_only: bool) -> str:
    command = f"flask --app app import legs {shlex.quote(upload.name)} --profile {shlex.quote(profile.name)}"
    return command + (" --valid-only" if valid_only else "")


def _batch_message(batch) -> str:
    if batch.status == "complete":
        return _("Import finished: %(created)d legs created, %(updated)d updated, %(rejected)d rows set aside.",
                 created=batch.rows_created, updated=batch.rows_updated, rejected=batch.rows_rejected)
    return _("Nothing was written: %(rejected)d of %(total)d rows have errors.",
             rejected=batch.rows_rejected, total=batch.rows_total)


@bp.route("/imports/<int:batch_id>")
@permission_required("legs.import")
def import_detail(batch_id: int):
    batch = imports.get_batch(batch_id)
    if batch is None:
        abort(404)
    problems = batch.problems or []
    response = make_response(render_template(
        "incidents/imports/detail.html", batch=batch, problems=problems[:PROBLEMS_ON_PAGE],
        problems_total=len(problems)))
    if batch.status == "running":
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@bp.route("/imports/<int:batch_id>/problems.csv")
@permission_required("legs.import")
def import_report(batch_id: int):
    batch = imports.get_batch(batch_id)
    if batch is None:
        abort(404)
    # A byte order mark, so that Excel opens the UTF-8 text with its accents.
    response = Response("\ufeff" + imports.error_report_csv(batch), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="import-{batch.id}-problems.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
