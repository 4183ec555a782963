"""Export jobs: large exports that run in the background instead of holding a request.

A job is queued by a request (who, which list, the filters as given), run by a worker process
(`flask exports run`), reports its progress as rows written, and ends with a file under the
instance folder that only its owner can download. The file is written to a temporary name and
renamed into place, so a crash never leaves a partial file that looks finished.
"""
from __future__ import annotations

import datetime as dt
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import UTCDateTime, db, in_list, utcnow


class ExportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


EXPORT_STATUS_LABELS = {
    ExportStatus.QUEUED: _l("Queued"),
    ExportStatus.RUNNING: _l("Running"),
    ExportStatus.DONE: _l("Ready"),
    ExportStatus.FAILED: _l("Failed"),
}


class ExportJob(db.Model):
    __tablename__ = "export_jobs"
    __table_args__ = (
        CheckConstraint(in_list("status", ExportStatus), name="status"),
        Index("ix_export_jobs_user_created", "user_id", "created_at"),
        Index("ix_export_jobs_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: Which export (a code of the exports registry, e.g. "incidents").
    kind: Mapped[str] = mapped_column(String(40))
    #: The list's filters as the user gave them (query-string pairs), re-read by the worker.
    params: Mapped[dict | None] = mapped_column(JSON)
    #: The language the file is written in (the user's at the time of the request).
    locale: Mapped[str] = mapped_column(String(5), default="en")
    status: Mapped[str] = mapped_column(String(10), default=ExportStatus.QUEUED.value)
    #: Rows written so far, and the total when known (for the progress bar).
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_total: Mapped[int | None] = mapped_column(Integer)
    #: Generated name of the finished file under the instance's exports folder.
    stored_name: Mapped[str | None] = mapped_column(String(64))
    #: The name offered for download.
    file_name: Mapped[str | None] = mapped_column(String(200))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    #: Attempts to run it (a crashed worker's job is picked up again, up to a limit).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Updated as rows are written: a running job whose heartbeat is old was left by a dead worker.
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User")

    @property
    def state(self) -> ExportStatus:
        return ExportStatus(self.status)

    @property
    def percent(self) -> int | None:
        if not self.rows_total:
            return None
        return min(100, round(100 * self.rows_done / self.rows_total))
