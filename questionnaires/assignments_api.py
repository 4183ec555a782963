"""JSON API of questionnaire assignments, over the same services as the pages: send a
template's published version to a supplier (the answer carries the supplier's `portal_url`),
list assignments, and read one with its score, result, decision and section scores."""
from __future__ import annotations

import marshmallow as ma
from flask import abort, g
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from app.api import ListArgsSchema, api_permission, id_field, invalid_cursor, list_response
from app.db import db, unit_of_work
from app.errors import ValidationFailed
from app.i18n import today
from app.pagination import BadCursor
from questionnaires.models import AssignmentPurpose, AssignmentStatus, QuestionnaireTemplate
from questionnaires.services import assignment_lists
from questionnaires.services import assignments as service
from suppliers import services as supplier_services

blp = Blueprint("assignments_api", __name__, url_prefix="/assignments",
                description="Questionnaires sent to suppliers, their scores and decisions.")

_STATUS_CODES = [s.value for s in AssignmentStatus]
_PURPOSE_CODES = [p.value for p in AssignmentPurpose]


def _score(value):
    return float(value) if value is not None else None


class AssignmentSchema(ma.Schema):
    id = ma.fields.Integer()
    template = ma.fields.Function(lambda a: a.template_version.template_id, metadata={"type": "integer"})
    template_name = ma.fields.Function(lambda a: a.template_version.template.name, metadata={"type": "string"})
    version = ma.fields.Function(lambda a: a.template_version.number, metadata={
        "type": "integer", "description": "Number of the questionnaire version sent"})
    title = ma.fields.Function(lambda a: a.template_version.title, metadata={"type": "string"})
    supplier = ma.fields.Function(lambda a: a.supplier.code, metadata={"type": "string", "example": "CAR-001"})
    purpose = ma.fields.String(validate=ma.validate.OneOf(_PURPOSE_CODES))
    status = ma.fields.String(validate=ma.validate.OneOf(_STATUS_CODES))
    round = ma.fields.Integer()
    due_date = ma.fields.Date()
    language = ma.fields.String()
    recipient_email = ma.fields.String(allow_none=True)
    sent_at = ma.fields.DateTime(allow_none=True)
    submitted_at = ma.fields.DateTime(allow_none=True)
    link_expires_at = ma.fields.DateTime(attribute="expires_at")
    link_revoked = ma.fields.Function(lambda a: a.revoked_at is not None, metadata={"type": "boolean"})
    score = ma.fields.Function(lambda a: _score(a.score), allow_none=True, metadata={
        "type": "number", "nullable": True, "description": "0–100 at the last submission"})
    result = ma.fields.String(allow_none=True, metadata={"description": "pass, conditional, fail or knocked_out"})
    decision = ma.fields.String(allow_none=True, metadata={
        "description": "approved, conditionally_approved or rejected"})
    decision_reason = ma.fields.String(allow_none=True)
    decided_at = ma.fields.DateTime(allow_none=True)
    qualified_until = ma.fields.Date(allow_none=True)


class SectionScoreSchema(ma.Schema):
    title = ma.fields.String()
    score = ma.fields.Float(allow_none=True, metadata={"description": "0–100; null when nothing in it is scored"})


class AssignmentDetailSchema(AssignmentSchema):
    sections = ma.fields.List(ma.fields.Nested(SectionScoreSchema))
    knockouts = ma.fields.List(ma.fields.String(), metadata={"description": "Keys of knock-out answers"})
    missing = ma.fields.List(ma.fields.String(), metadata={"description": "Keys of required questions unanswered"})


class AssignmentCreatedSchema(AssignmentSchema):
    portal_url = ma.fields.String(metadata={"description": "The supplier's private link (no account needed)"})


class AssignmentListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AssignmentSchema))
    next = ma.fields.String(allow_none=True)


class AssignmentInputSchema(ma.Schema):
    template = id_field(required=True, metadata={"description": "Template id; its published version is sent"})
    supplier = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40),
                                metadata={"description": "Supplier code"})
    due_date = ma.fields.Date(required=True)
    message = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=5000))
    language = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=5))
    contact_email = ma.fields.Email(load_default=None, allow_none=True,
                                    metadata={"description": "A contact of the supplier; default its primary"})
    purpose = ma.fields.String(load_default=AssignmentPurpose.INITIAL.value,
                               validate=ma.validate.OneOf(_PURPOSE_CODES))


class AssignmentListArgs(ListArgsSchema):
    status = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(_STATUS_CODES)), load_default=list)
    supplier = ma.fields.String(load_default=None, validate=ma.validate.Length(max=40),
                                metadata={"description": "Supplier code"})
    template = id_field(load_default=None)
    purpose = ma.fields.String(load_default=None, validate=ma.validate.OneOf(_PURPOSE_CODES))
    overdue = ma.fields.Boolean(load_default=False)
    due_before = ma.fields.Date(load_default=None)
    due_after = ma.fields.Date(load_default=None)
    sort = ma.fields.String(load_default="id", validate=ma.validate.OneOf(list(assignment_lists.SORT_COLUMNS)))
    dir = ma.fields.String(load_default="desc", validate=ma.validate.OneOf(["asc", "desc"]))


class _WithExtras:
    """An assignment with a few computed attributes for the response schema."""

    def __init__(self, assignment, **extras):
        self._assignment = assignment
        self.__dict__.update(extras)

    def __getattr__(self, name):
        return getattr(self._assignment, name)


def _detail(assignment) -> _WithExtras:
    card = service.scorecard(assignment)
    return _WithExtras(
        assignment,
        sections=[{"title": s.section.title, "score": _score(s.score)} for s in card.sections],
        knockouts=[item.question.key for item in card.knockouts],
        missing=[item.question.key for item in card.missing],
    )


@blp.route("")
@api_permission("questionnaires.view")
@blp.arguments(AssignmentListArgs, location="query")
@blp.response(200, AssignmentListSchema)
def list_assignments(args):
    """List assignments, newest first by default, one page at a time (keyset cursor)."""
    filters = assignment_lists.AssignmentFilters(
        statuses=args["status"], supplier=args["supplier"], template_id=args["template"], purpose=args["purpose"],
        overdue_only=args["overdue"], due_before=args["due_before"], due_after=args["due_after"])
    try:
        page = assignment_lists.list_assignments(filters, today=today(), sort=args["sort"],
                                                 descending=args["dir"] == "desc", cursor=args["cursor"],
                                                 limit=args["limit"])
    except BadCursor:
        raise invalid_cursor() from None
    return list_response(page)


@blp.route("", methods=["POST"])
@api_permission("questionnaires.assign")
@blp.arguments(AssignmentInputSchema)
@blp.response(201, AssignmentCreatedSchema)
def create_assignment(data):
    """Send a template's published version to a supplier; the link is e-mailed to its contact
    and returned as `portal_url`."""
    errors = {}
    template = db.session.get(QuestionnaireTemplate, data["template"])
    if template is None:
        errors["template"] = _l("No questionnaire template has this id.")
    elif template.published is None:
        errors["template"] = _l("This questionnaire has no published version.")
    supplier = supplier_services.get_supplier_by_code(data["supplier"])
    if supplier is None:
        errors["supplier"] = _l("No supplier has this code.")
    contact = None
    if supplier is not None and data["contact_email"]:
        wanted = data["contact_email"].strip().lower()
        contact = next((c for c in supplier.contacts if (c.email or "").lower() == wanted), None)
        if contact is None:
            errors["contact_email"] = _l("The supplier has no contact with this e-mail address.")
    if errors:
        raise ValidationFailed(_l("The questionnaire was not sent."), code="invalid_assignment", fields=errors)
    with unit_of_work():
        assignment = service.send_assignment(
            template.published, supplier, data["due_date"], g.api_user, today=today(), message=data["message"],
            contact=contact, language=data["language"], purpose=data["purpose"])
    return _WithExtras(assignment, portal_url=service.portal_url(assignment))


@blp.route("/<int:assignment_id>")
@api_permission("questionnaires.view")
@blp.response(200, AssignmentDetailSchema)
def get_assignment(assignment_id):
    """One assignment with its score, result, decision and the score of each section."""
    assignment = service.get_assignment(assignment_id)
    if assignment is None:
        abort(404)
    return _detail(assignment)
