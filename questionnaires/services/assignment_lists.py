"""Lists of assignments for the quality office: the filtered, keyset-paginated worklist and the
assignments of one supplier.

A page is one query: the supplier and the questionnaire (version and template) are many-to-one
and come in the same SELECT through joined eager loads, so the page costs the same whatever
its size. "Overdue" means still waiting for the supplier (sent, in progress or sent back for
clarification) with the due date before today.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import contains_eager, joinedload, lazyload

from app.db import db
from app.pagination import Page, keyset_page
from questionnaires.models import (
    OPEN_FOR_SUPPLIER,
    Assignment,
    AssignmentEvent,
    AssignmentPurpose,
    AssignmentStatus,
    QuestionnaireTemplate,
    TemplateVersion,
    VersionStatus,
)
from suppliers.models import Supplier

#: Sortable columns of the list: name → model column (the index on (status, due_date) and the
#: primary key serve them).
SORT_COLUMNS = {"due": Assignment.due_date, "id": Assignment.id}

#: Most assignments shown on a supplier's page (its newest).
SUPPLIER_PANEL_LIMIT = 20


@dataclass
class AssignmentFilters:
    statuses: list[str] = field(default_factory=list)
    #: A supplier's code, or its numeric id.
    supplier: str | None = None
    template_id: int | None = None
    purpose: str | None = None
    overdue_only: bool = False
    due_before: dt.date | None = None
    due_after: dt.date | None = None


def _with_questionnaire_and_supplier():
    return (joinedload(Assignment.supplier),
            joinedload(Assignment.template_version).joinedload(TemplateVersion.template))


def _supplier_condition(value: str):
    value = value.strip()
    wanted = select(Supplier.id).where(Supplier.code == value.upper())
    if value.isdigit():
        wanted = select(Supplier.id).where(or_(Supplier.code == value.upper(), Supplier.id == int(value)))
    return Assignment.supplier_id.in_(wanted)


def assignment_query(filters: AssignmentFilters, *, today: dt.date):
    """The SELECT of assignments matching `filters` (unordered, no eager loads)."""
    stmt = select(Assignment)
    statuses = [s for s in filters.statuses if s in AssignmentStatus._value2member_map_]
    if statuses:
        stmt = stmt.where(Assignment.status.in_(statuses))
    if filters.supplier and filters.supplier.strip():
        stmt = stmt.where(_supplier_condition(filters.supplier))
    if filters.template_id is not None:
        stmt = stmt.where(Assignment.version_id.in_(
            select(TemplateVersion.id).where(TemplateVersion.template_id == filters.template_id)))
    if filters.purpose in AssignmentPurpose._value2member_map_:
        stmt = stmt.where(Assignment.purpose == filters.purpose)
    if filters.overdue_only:
        stmt = stmt.where(Assignment.status.in_([s.value for s in OPEN_FOR_SUPPLIER]), Assignment.due_date < today)
    if filters.due_before is not None:
        stmt = stmt.where(Assignment.due_date <= filters.due_before)
    if filters.due_after is not None:
        stmt = stmt.where(Assignment.due_date >= filters.due_after)
    return stmt


def list_assignments(filters: AssignmentFilters, *, today: dt.date, sort: str = "id", descending: bool = True,
                     cursor: str | None = None, limit: int = 50) -> Page[Assignment]:
    """One page of assignments ordered by (sort column, id). Raises BadCursor for a cursor
    that was altered or comes from another order."""
    column = SORT_COLUMNS.get(sort, Assignment.id)
    stmt = assignment_query(filters, today=today).options(*_with_questionnaire_and_supplier())
    return keyset_page(stmt, column, Assignment.id, descending=descending, cursor=cursor, limit=limit,
                       key=lambda a: [getattr(a, column.key), a.id])


def stream_assignments(filters: AssignmentFilters, *, today: dt.date, batch_size: int = 500):
    """Every assignment matching `filters`, newest first, streamed in batches (for exports):
    memory stays bounded whatever the count. Supplier and questionnaire come in the same rows."""
    stmt = (assignment_query(filters, today=today)
            .join(Assignment.supplier).join(Assignment.template_version).join(TemplateVersion.template)
            .options(contains_eager(Assignment.supplier).options(lazyload(Supplier.chain_roles)),
                     contains_eager(Assignment.template_version).contains_eager(TemplateVersion.template))
            .order_by(Assignment.id.desc()))
    yield from db.session.scalars(stmt.execution_options(yield_per=batch_size))


def assignments_of_supplier(supplier: Supplier, limit: int = SUPPLIER_PANEL_LIMIT) -> list[Assignment]:
    """The supplier's newest assignments, with their questionnaire, in one query."""
    return list(db.session.scalars(
        select(Assignment).where(Assignment.supplier_id == supplier.id)
        .options(joinedload(Assignment.template_version).joinedload(TemplateVersion.template))
        .order_by(Assignment.id.desc()).limit(limit)))


def is_overdue(assignment: Assignment, today: dt.date) -> bool:
    """Still waiting for the supplier after its due date."""
    return assignment.state in OPEN_FOR_SUPPLIER and assignment.due_date < today


def sendable_versions() -> list[TemplateVersion]:
    """The published version of each template, with its template, for the send form."""
    return list(db.session.scalars(
        select(TemplateVersion).where(TemplateVersion.status == VersionStatus.PUBLISHED.value)
        .join(TemplateVersion.template).options(contains_eager(TemplateVersion.template))
        .order_by(QuestionnaireTemplate.name, TemplateVersion.id)))


def history_of(assignment: Assignment) -> list[AssignmentEvent]:
    """The assignment's events, oldest first, with who acted."""
    return list(db.session.scalars(
        select(AssignmentEvent).where(AssignmentEvent.assignment_id == assignment.id)
        .options(joinedload(AssignmentEvent.actor)).order_by(AssignmentEvent.id)))
