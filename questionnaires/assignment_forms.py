"""Forms of the quality office's side of assignments: sending, the list's filters, and the
review (comment, clarification, decision, link). Formats are checked here; rules in
questionnaires.services.assignments.

Every form that changes an assignment carries its `version` (optimistic lock): the view
passes it to the service as `expected_version`, so a second reviewer is told, not overwritten.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.forms import choices
from questionnaires.models import ASSIGNMENT_STATUS_LABELS, DECISION_LABELS, PURPOSE_LABELS


def _status_choices():
    return choices((s.value, label) for s, label in ASSIGNMENT_STATUS_LABELS.items())


def _purpose_choices():
    return choices([("", _l("Any")), *((p.value, label) for p, label in PURPOSE_LABELS.items())])


def _decision_choices():
    return choices((d.value, label) for d, label in DECISION_LABELS.items())


def version_of(form) -> int | None:
    """The assignment version the form was rendered with (None when absent or garbled)."""
    try:
        return int(form.version.data)
    except (TypeError, ValueError):
        return None


class AssignmentFilterForm(FlaskForm):
    """The list's filters: a GET form, hence no CSRF token."""

    class Meta:
        csrf = False

    status = SelectMultipleField(_l("Status"), choices=_status_choices, validators=[Optional()])
    supplier = StringField(_l("Supplier"), validators=[Optional(), Length(max=40)])
    template = SelectField(_l("Questionnaire"), choices=[], validate_choice=False, validators=[Optional()])
    purpose = SelectField(_l("Purpose"), choices=_purpose_choices, validators=[Optional()])
    overdue = BooleanField(_l("Overdue only"))
    due_after = DateField(_l("Due from"), validators=[Optional()])
    due_before = DateField(_l("Due until"), validators=[Optional()])


class SendForm(FlaskForm):
    template = SelectField(_l("Questionnaire"), choices=[], validators=[InputRequired()],
                           description=_l("Only published questionnaires can be sent; the current published "
                                          "version is sent."))
    supplier = StringField(_l("Supplier (code)"), validators=[DataRequired(), Length(max=40)])
    contact = SelectField(_l("Send the link to"), choices=[], validators=[Optional()],
                          description=_l("A contact of the supplier with an e-mail address; by default the "
                                         "primary contact."))
    due_date = DateField(_l("Due date"), validators=[InputRequired()])
    purpose = SelectField(_l("Purpose"), choices=lambda: choices((p.value, label) for p, label
                                                                  in PURPOSE_LABELS.items()),
                          validators=[InputRequired()])
    language = SelectField(_l("Language of the e-mail and the questionnaire"), choices=[],
                           validators=[InputRequired()])
    message = TextAreaField(_l("Message to the supplier"), validators=[Optional(), Length(max=5000)],
                            description=_l("Optional; added to the e-mail above the link."))


class CommentForm(FlaskForm):
    version = HiddenField()
    comment = TextAreaField(_l("Reviewer's comment"), validators=[Optional(), Length(max=5000)])


class ClarifyForm(FlaskForm):
    """The questions to send back come as `clarify` checkboxes (question ids) and one
    `request-<question id>` text each; the view reads them, the service checks them."""

    version = HiddenField()


class DecideForm(FlaskForm):
    version = HiddenField()
    decision = RadioField(_l("Decision"), choices=_decision_choices, validators=[InputRequired()])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)],
                           description=_l("Kept in the supplier's history as qualification evidence."))


class RenewForm(FlaskForm):
    version = HiddenField()
    due_date = DateField(_l("New due date"), validators=[Optional()],
                         description=_l("Leave empty to keep the current due date."))


class RevokeForm(FlaskForm):
    version = HiddenField()


class CancelForm(FlaskForm):
    version = HiddenField()
    reason = TextAreaField(_l("Reason for cancelling"), validators=[DataRequired(), Length(max=2000)])
