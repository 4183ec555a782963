"""Helpers for the export tests: incidents to export, and a workbook read back with calamine."""
from __future__ import annotations

import datetime as dt
import io

from python_calamine import CalamineWorkbook
from sqlalchemy import select

from app.db import db
from incidents.models import Incident, IncidentCategory

UTC = dt.timezone.utc


def make_incident(reported: dt.datetime, description: str = "Parcel late", **fields) -> Incident:
    category = db.session.scalar(select(IncidentCategory).where(IncidentCategory.code == "late_delivery"))
    incident = Incident(channel=fields.pop("channel", "web"), category=category, priority="normal",
                        description=description, status=fields.pop("status", "new"), reported_at=reported,
                        respond_by=reported + dt.timedelta(hours=24), **fields)
    db.session.add(incident)
    db.session.flush()
    return incident


def sheet_rows(body: bytes) -> list[list]:
    workbook = CalamineWorkbook.from_filelike(io.BytesIO(body))
    return workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)


def table(body: bytes) -> tuple[list, list[list], dict]:
    """(header, rows, facts): the facts are the label → value lines above the table."""
    rows = sheet_rows(body)
    facts, header_at = {}, None
    for index, row in enumerate(rows):
        if index and row and row[0] in ("Incident", "Code", "Leg", "Audit", "Finding", "Action", "Statement"):
            header_at = index
            break
        if len(row) > 1 and row[0]:
            facts[row[0]] = row[1]
    assert header_at is not None, rows[:10]
    return rows[header_at], [r for r in rows[header_at + 1:] if any(c not in ("", None) for c in r)], facts
