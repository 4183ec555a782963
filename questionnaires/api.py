"""JSON API of questionnaire templates, over the same services as the builder pages.

    GET  /api/v1/questionnaire-templates               list ({"items", "next"}; status, limit, cursor)
    POST /api/v1/questionnaire-templates               create with sections and questions, all or nothing
    GET  /api/v1/questionnaire-templates/<id>          the template, its versions, and the content of
                                                       its latest and published versions
    POST /api/v1/questionnaire-templates/<id>/publish  publish the template's draft
"""
from __future__ import annotations

from decimal import Decimal

import marshmallow as ma
from flask import abort, g
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from app.api import ListArgsSchema, api_permission, invalid_cursor, list_response
from app.db import db, unit_of_work
from app.errors import Conflict, ValidationFailed
from app.pagination import BadCursor
from questionnaires.models import QuestionnaireTemplate, QuestionType, VersionStatus
from questionnaires.services import templates as services

blp = Blueprint("questionnaire_templates_api", __name__, url_prefix="/questionnaire-templates",
                description="Qualification questionnaire templates and their versions.")

#: The pass mark of a template created without one (as on the new-template page).
DEFAULT_PASS_MARK = Decimal(70)
_TYPES = [t.value for t in QuestionType]
_STATUSES = [s.value for s in VersionStatus]


class OptionSchema(ma.Schema):
    value = ma.fields.String(metadata={"description": "Stable code of the answer; defaults to the label"})
    label = ma.fields.String()
    score = ma.fields.Float(allow_none=True)
    knockout = ma.fields.Boolean(metadata={"description": "Choosing it fails the questionnaire"})


class BandSchema(ma.Schema):
    min = ma.fields.Float(allow_none=True, metadata={"description": "Inclusive; null = no lower bound"})
    max = ma.fields.Float(allow_none=True, metadata={"description": "Exclusive; null = no upper bound"})
    score = ma.fields.Float()
    knockout = ma.fields.Boolean()


class ScoringSchema(ma.Schema):
    bands = ma.fields.List(ma.fields.Nested(BandSchema))


class QuestionSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    position = ma.fields.Integer(dump_only=True)
    key = ma.fields.String(allow_none=True, metadata={"example": "Q7"})
    type = ma.fields.String(validate=ma.validate.OneOf(_TYPES))
    text = ma.fields.String()
    help_text = ma.fields.String(allow_none=True)
    required = ma.fields.Boolean()
    weight = ma.fields.Decimal(allow_none=True, as_string=True)
    options = ma.fields.List(ma.fields.Nested(OptionSchema), allow_none=True)
    scoring = ma.fields.Nested(ScoringSchema, allow_none=True)
    unit = ma.fields.String(allow_none=True)
    min_value = ma.fields.Decimal(allow_none=True, as_string=True)
    max_value = ma.fields.Decimal(allow_none=True, as_string=True)
    max_files = ma.fields.Integer(allow_none=True)
    condition_key = ma.fields.String(allow_none=True, metadata={"description": "Key of the earlier question deciding"})
    condition_values = ma.fields.List(ma.fields.String(), allow_none=True)
    knockout = ma.fields.Boolean(attribute="is_knockout", dump_only=True)


class SectionSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    position = ma.fields.Integer(dump_only=True)
    title = ma.fields.String()
    description = ma.fields.String(allow_none=True)
    questions = ma.fields.List(ma.fields.Nested(QuestionSchema))


class VersionSummarySchema(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.Integer()
    status = ma.fields.String(validate=ma.validate.OneOf(_STATUSES))
    title = ma.fields.String()
    introduction = ma.fields.String(allow_none=True)
    pass_mark = ma.fields.Decimal(as_string=True)
    conditional_mark = ma.fields.Decimal(as_string=True)
    validity_months = ma.fields.Integer()
    created_at = ma.fields.DateTime()
    published_at = ma.fields.DateTime(allow_none=True)


class VersionSchema(VersionSummarySchema):
    sections = ma.fields.List(ma.fields.Nested(SectionSchema))


class TemplateSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    description = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    versions = ma.fields.List(ma.fields.Nested(VersionSummarySchema))
    published_version = ma.fields.Function(lambda t: t.published.number if t.published else None, allow_none=True,
                                           metadata={"type": "integer", "nullable": True,
                                                     "description": "Number of the version assignments are sent with"})


class TemplateDetailSchema(TemplateSchema):
    latest = ma.fields.Nested(VersionSchema, allow_none=True)
    published = ma.fields.Nested(VersionSchema, allow_none=True)


class TemplateListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(TemplateSchema))
    next = ma.fields.String(allow_none=True)


class TemplateListArgs(ListArgsSchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(["published", "draft"]),
                              metadata={"description": "Only templates with a version in this status"})


# Input: shapes are checked here, values (texts, numbers, conditions) by the service, which
# answers with the same messages as the builder pages.

class OptionInput(ma.Schema):
    value = ma.fields.String(allow_none=True)
    label = ma.fields.String(required=True)
    score = ma.fields.Decimal(allow_none=True, allow_nan=False)
    knockout = ma.fields.Boolean(load_default=False)


class BandInput(ma.Schema):
    min = ma.fields.Decimal(allow_none=True, allow_nan=False)
    max = ma.fields.Decimal(allow_none=True, allow_nan=False)
    score = ma.fields.Decimal(required=True, allow_nan=False)
    knockout = ma.fields.Boolean(load_default=False)


class ScoringInput(ma.Schema):
    bands = ma.fields.List(ma.fields.Nested(BandInput), required=True)


class QuestionInput(ma.Schema):
    key = ma.fields.String(allow_none=True)
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(_TYPES))
    text = ma.fields.String(required=True)
    help_text = ma.fields.String(allow_none=True)
    required = ma.fields.Boolean(load_default=True)
    weight = ma.fields.Decimal(load_default=None, allow_none=True, allow_nan=False)
    options = ma.fields.List(ma.fields.Nested(OptionInput), allow_none=True)
    scoring = ma.fields.Nested(ScoringInput, allow_none=True)
    unit = ma.fields.String(allow_none=True)
    min_value = ma.fields.Decimal(allow_none=True, allow_nan=False)
    max_value = ma.fields.Decimal(allow_none=True, allow_nan=False)
    max_files = ma.fields.Integer(allow_none=True)
    condition_key = ma.fields.String(allow_none=True)
    condition_values = ma.fields.List(ma.fields.String(), allow_none=True)


class SectionInput(ma.Schema):
    title = ma.fields.String(required=True)
    description = ma.fields.String(allow_none=True)
    questions = ma.fields.List(ma.fields.Nested(QuestionInput), load_default=list)


class TemplateInput(ma.Schema):
    name = ma.fields.String(required=True)
    description = ma.fields.String(allow_none=True)
    title = ma.fields.String(allow_none=True, metadata={"description": "Shown to the supplier; defaults to the name"})
    introduction = ma.fields.String(allow_none=True)
    pass_mark = ma.fields.Decimal(allow_nan=False, metadata={"description": "0–100; 70 when not given"})
    conditional_mark = ma.fields.Decimal(load_default=None, allow_none=True, allow_nan=False)
    validity_months = ma.fields.Integer(load_default=12)
    sections = ma.fields.List(ma.fields.Nested(SectionInput), load_default=list)


def _template_or_404(template_id: int) -> QuestionnaireTemplate:
    template = db.session.get(QuestionnaireTemplate, template_id)
    if template is None:
        abort(404)
    return template


@blp.route("")
@api_permission("questionnaires.view")
@blp.arguments(TemplateListArgs, location="query")
@blp.response(200, TemplateListSchema)
def list_templates(args):
    """Templates by name, one page at a time (keyset cursor); `status=published` for those
    that can be sent."""
    try:
        page = services.templates_page(args["status"], args["cursor"], args["limit"])
    except BadCursor:
        raise invalid_cursor() from None
    return list_response(page)


@blp.route("", methods=["POST"])
@api_permission("questionnaires.design")
@blp.arguments(TemplateInput)
@blp.response(201, TemplateDetailSchema)
def create_template(data):
    """Create a template and its draft version 1 with its sections and questions, all or
    nothing. An invalid question is named in `fields` as `sections.<i>.questions.<j>.<field>`
    (counted from 0)."""
    data.setdefault("pass_mark", DEFAULT_PASS_MARK)
    with unit_of_work():
        template = services.build_template(data, g.api_user)
    return template


@blp.route("/<int:template_id>")
@api_permission("questionnaires.view")
@blp.response(200, TemplateDetailSchema)
def get_template(template_id):
    """A template with every version, and the sections and questions of its latest and its
    published version (the same version when nothing is being edited)."""
    return _template_or_404(template_id)


@blp.route("/<int:template_id>/publish", methods=["POST"])
@api_permission("questionnaires.design")
@blp.response(200, TemplateDetailSchema)
def publish_template(template_id):
    """Publish the template's draft: it becomes the version new assignments are sent with and
    the previously published one is retired. 409 `no_draft` when there is nothing to publish;
    422 `not_publishable` with the reasons in `fields.version`."""
    template = _template_or_404(template_id)
    draft = template.draft
    if draft is None:
        raise Conflict(_l("The template has no draft to publish."), code="no_draft")
    try:
        with unit_of_work():
            services.publish(draft, g.api_user)
    except ValidationFailed as exc:
        problems = exc.fields.get("version") or []
        raise ValidationFailed(exc.message, code=exc.code,
                               fields={"version": " ".join(str(p) for p in problems)}) from None
    return template

