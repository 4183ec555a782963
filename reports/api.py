"""JSON API of list exports (DESIGN fixed point: `exports/{list}.xlsx` with the list's filters
as query parameters). Small lists come back as the workbook; above EXPORT_SYNC_MAX_ROWS the
answer is 202 with the queued job, whose status is at `exports/jobs/{id}` and whose file, once
done, at `exports/jobs/{id}/download`. The same registry, filters and writer as the pages."""
from __future__ import annotations

import marshmallow as ma
from flask import abort, g, request, url_for
from flask_babel import get_locale
from flask_smorest import Blueprint

from app.api import api_permission
from app.db import unit_of_work
from reports import exports
from reports.xlsx import XLSX_MIMETYPE
from reports.models import ExportStatus
from reports.views import attachment_headers, export_file_response, spawn_worker, stream_file

blp = Blueprint("exports_api", __name__, url_prefix="/exports",
                description="Lists as .xlsx workbooks, with the list's filters as query parameters.")

_STATUS_CODES = [s.value for s in ExportStatus]


class ExportJobSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"example": "incidents"})
    status = ma.fields.String(validate=ma.validate.OneOf(_STATUS_CODES))
    rows_done = ma.fields.Integer()
    rows_total = ma.fields.Integer(allow_none=True)
    error = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    finished_at = ma.fields.DateTime(allow_none=True)
    status_url = ma.fields.Function(
        lambda job: url_for("exports_api.job_status", job_id=job.id), metadata={"type": "string"})
    download_url = ma.fields.Function(
        lambda job: url_for("exports_api.job_download", job_id=job.id)
        if job.status == ExportStatus.DONE.value else None, allow_none=True,
        metadata={"type": "string", "nullable": True})


def _kind_or_404(code: str) -> exports.ExportKind:
    kind = exports.ensure_registered().get(code)
    if kind is None:
        abort(404)
    if not g.api_user.can(kind.permission):
        abort(403)
    return kind


def _language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else "en"


def _own_job_or_404(job_id: int):
    job = exports.job_of(g.api_user, job_id)
    if job is None:
        abort(404)
    return job


@blp.route("/<kind>.xlsx")
@api_permission("reports.export")
@blp.response(202, ExportJobSchema, description="Too many rows to answer at once: the export is queued.")
@blp.alt_response(200, content_type=XLSX_MIMETYPE,
                  description="The workbook, when the list is within the synchronous limit.")
def export_list(kind: str):
    """Export a list (suppliers, incidents, legs, audits, findings, corrective-actions,
    chargebacks) with the list page's filters given as query parameters."""
    found = _kind_or_404(kind)
    total = exports.count_rows(found, request.args)
    if total <= exports.sync_max_rows():
        return export_file_response(found, request.args, g.api_user)
    with unit_of_work():
        job = exports.create_job(found, request.args, g.api_user, locale=_language(), rows_total=total)
    spawn_worker()
    return job


@blp.route("/jobs/<int:job_id>")
@api_permission("reports.export")
@blp.response(200, ExportJobSchema)
def job_status(job_id: int):
    """A background export's progress (own jobs only)."""
    return _own_job_or_404(job_id)


@blp.route("/jobs/<int:job_id>/download")
@api_permission("reports.export")
@blp.response(200, content_type=XLSX_MIMETYPE,
              description="The finished workbook.")
def job_download(job_id: int):
    """A finished background export's file (own jobs only; 404 until done)."""
    job = _own_job_or_404(job_id)
    path = exports.job_file(job)
    if path is None:
        abort(404)
    return attachment_headers(stream_file(str(path), remove=False), job.file_name or "export.xlsx")
