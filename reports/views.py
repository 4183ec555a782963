"""Pages of list exports: download a list as .xlsx with its filters, follow a background export.

Routes (no prefix):

    /exports/<kind>.xlsx                 the list `kind` with the page's filters (query string);
                                         streamed when small, else queued → redirect to its job
    /exports/jobs                        the user's recent exports
    /exports/jobs/<id>                   one export's progress (reload-safe), then its link
    /exports/jobs/<id>.json              its progress, for static/js/export-progress.js
    /exports/jobs/<id>/download          the finished file (its owner only)

Every route needs "reports.export" and, for a list, the list page's own permission: nobody
exports what they could not see on the page.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_login import current_user

from app.auth.access import permission_required
from app.config import ROOT_DIR
from app.db import unit_of_work
from reports import exports
from reports.xlsx import XLSX_MIMETYPE
from reports.models import EXPORT_STATUS_LABELS, ExportStatus

bp = Blueprint("reports", __name__)

CHUNK = 64 * 1024


def _kind_or_404(code: str) -> exports.ExportKind:
    kind = exports.ensure_registered().get(code)
    if kind is None:
        abort(404)
    if not current_user.can(kind.permission):
        abort(403)
    return kind


def attachment_headers(response: Response, filename: str) -> Response:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).strip("._") or "export.xlsx"
    response.headers["Content-Disposition"] = f'attachment; filename="{safe[:120]}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def stream_file(path: str, *, remove: bool) -> Response:
    """The file at `path` sent in chunks (removed afterwards when `remove`)."""
    size = os.path.getsize(path)

    def chunks():
        try:
            with open(path, "rb") as handle:
                while block := handle.read(CHUNK):
                    yield block
        finally:
            if remove:
                os.unlink(path)

    response = Response(chunks(), mimetype=XLSX_MIMETYPE, direct_passthrough=True)
    response.content_length = size
    return response


def export_file_response(kind: exports.ExportKind, args, user) -> Response:
    """Write the workbook to a temporary file (bounded memory), then stream it."""
    handle = tempfile.NamedTemporaryFile(prefix="catena-export-", suffix=".xlsx", delete=False)
    try:
        with handle:
            exports.write_export(kind, args, handle, user=user)
    except BaseException:
        os.unlink(handle.name)
        raise
    return attachment_headers(stream_file(handle.name, remove=True), exports.file_name(kind))


def spawn_worker() -> bool:
    """Start `flask exports run --once` in its own session, so the queued job starts now
    rather than at the scheduler's next minute. Off with EXPORT_SPAWN_WORKER=0 (and in tests,
    unless switched on): the scheduler's safety net, or `flask exports run`, then takes it."""
    setting = current_app.config.get("EXPORT_SPAWN_WORKER", os.environ.get("EXPORT_SPAWN_WORKER"))
    if setting is None:
        setting = not current_app.testing
    if str(setting).lower() in ("0", "false", "no", "off", ""):
        return False
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", current_app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "exports", "run", "--once"],
                         cwd=str(ROOT_DIR), env=env, start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
    except OSError:
        current_app.logger.exception("could not start the export worker; the scheduler will run the job")
        return False
    return True


def queue_export(kind: exports.ExportKind, args, rows_total: int):
    """Create the job (committed before the worker looks for it) and start a worker."""
    locale = get_locale()
    with unit_of_work():
        job = exports.create_job(kind, args, current_user._get_current_object(),
                                 locale=locale.language if locale else "en", rows_total=rows_total)
    spawn_worker()
    return job


@bp.get("/exports/<kind>.xlsx")
@permission_required("reports.export")
def export_list(kind: str):
    found = _kind_or_404(kind)
    total = exports.count_rows(found, request.args)
    if total <= exports.sync_max_rows():
        return export_file_response(found, request.args, current_user._get_current_object())
    job = queue_export(found, request.args, total)
    return redirect(url_for("reports.export_job", job_id=job.id), 303)


def _own_job_or_404(job_id: int):
    job = exports.job_of(current_user, job_id)
    if job is None:
        abort(404)
    return job


def job_status(job) -> dict:
    return {"id": job.id, "kind": job.kind, "status": job.status,
            "label": str(EXPORT_STATUS_LABELS[job.state]), "rows_done": job.rows_done,
            "rows_total": job.rows_total, "percent": job.percent, "error": job.error,
            "download_url": url_for("reports.export_job_download", job_id=job.id)
            if job.status == ExportStatus.DONE.value else None}


@bp.get("/exports/jobs")
@permission_required("reports.export")
def export_jobs():
    return render_template("reports/exports/jobs.html", jobs=exports.recent_jobs(current_user),
                           kinds=exports.ensure_registered(), labels=EXPORT_STATUS_LABELS)


@bp.get("/exports/jobs/<int:job_id>")
@permission_required("reports.export")
def export_job(job_id: int):
    job = _own_job_or_404(job_id)
    kind = exports.ensure_registered().get(job.kind)
    return render_template("reports/exports/job.html", job=job, kind=kind, labels=EXPORT_STATUS_LABELS,
                           finished=job.status in (ExportStatus.DONE.value, ExportStatus.FAILED.value),
                           file_missing=job.status == ExportStatus.DONE.value and exports.job_file(job) is None)


@bp.get("/exports/jobs/<int:job_id>.json")
@permission_required("reports.export")
def export_job_status(job_id: int):
    response = jsonify(job_status(_own_job_or_404(job_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/exports/jobs/<int:job_id>/download")
@permission_required("reports.export")
def export_job_download(job_id: int):
    job = _own_job_or_404(job_id)
    kind = exports.ensure_registered().get(job.kind)
    if kind is not None and not current_user.can(kind.permission):
        abort(403)
    path = exports.job_file(job)
    if path is None:
        abort(404)
    return attachment_headers(stream_file(str(path), remove=False), job.file_name or "export.xlsx")
