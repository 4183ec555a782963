"""Forms of corrective actions on the quality office's side: requesting one from a finding,
the list's filters, the review (accept, send back), verification and the link. Formats are
checked here; rules in audits.services.actions.

Every form that changes an action carries its `version` (optimistic lock), passed to the
service as `expected_version`: a second reviewer is told, not overwritten.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.forms import choices
from audits.models import ACTION_STATUS_LABELS, EffectivenessMethod
from audits.services.actions import MAX_PERIODS, MAX_TEXT_LENGTH, MIN_PERIODS

METHOD_LABELS = {
    EffectivenessMethod.SLA: _l("The linked SLA is met in the next periods (computed from the data)"),
    EffectivenessMethod.MANUAL: _l("Verified by a person, with evidence"),
}


def version_of(form) -> int | None:
    """The action version the form was rendered with (None when absent or garbled)."""
    try:
        return int(form.version.data)
    except (TypeError, ValueError):
        return None


class ActionFilterForm(FlaskForm):
    """The list's filters: a GET form, hence no CSRF token."""

    class Meta:
        csrf = False

    status = SelectMultipleField(_l("Status"), choices=lambda: choices(
        (s.value, label) for s, label in ACTION_STATUS_LABELS.items()), validators=[Optional()])
    supplier = StringField(_l("Supplier"), validators=[Optional(), Length(max=40)])
    overdue = BooleanField(_l("Overdue only"))



def action_filters_from_args(args):
    """The corrective-action list's filter form bound to `args` and the `ActionFilters` it
    means; shared by the list page and its export."""
    from audits.services.actions import ActionFilters

    form = ActionFilterForm(args)
    form.validate()
    filters = ActionFilters(
        statuses=[s for s in form.status.data or [] if s in ACTION_STATUS_LABELS],
        supplier=(form.supplier.data or "").strip()[:40] or None, overdue_only=bool(form.overdue.data))
    return form, filters

class RequestActionForm(FlaskForm):
    finding_id = HiddenField(validators=[DataRequired()])
    due_date = DateField(_l("Answer due by"), validators=[InputRequired()],
                         description=_l("When the supplier's containment, root cause and plan are due."))
    effectiveness_method = RadioField(_l("Effectiveness check"), default=EffectivenessMethod.SLA.value,
                                      choices=lambda: choices((m.value, label) for m, label in METHOD_LABELS.items()),
                                      validators=[InputRequired()])
    effectiveness_periods = IntegerField(_l("Periods the SLA must be met"), default=2,
                                         validators=[Optional(), NumberRange(MIN_PERIODS, MAX_PERIODS)])
    language = SelectField(_l("Language of the e-mail and the page"), choices=[], validators=[InputRequired()])
    request_text = TextAreaField(_l("Message to the supplier"), validators=[Optional(), Length(max=MAX_TEXT_LENGTH)],
                                 description=_l("Optional; added to the e-mail and shown on the supplier's page."))


class AcceptForm(FlaskForm):
    version = HiddenField()
    note = TextAreaField(_l("Note to the supplier"), validators=[Optional(), Length(max=MAX_TEXT_LENGTH)])


class SendBackForm(FlaskForm):
    version = HiddenField()
    note = TextAreaField(_l("What needs to change"), validators=[DataRequired(), Length(max=MAX_TEXT_LENGTH)])


class VerifyForm(FlaskForm):
    version = HiddenField()


class ManualVerifyForm(FlaskForm):
    version = HiddenField()
    effective = RadioField(_l("Verdict"), choices=lambda: choices([("yes", _l("Effective")),
                                                                   ("no", _l("Not effective"))]),
                           validators=[InputRequired()])
    note = TextAreaField(_l("How it was verified"), validators=[DataRequired(), Length(max=MAX_TEXT_LENGTH)])
    evidence = MultipleFileField(_l("Evidence (PDF, PNG or JPEG)"), validators=[Optional()])


class RenewForm(FlaskForm):
    version = HiddenField()
    due_date = DateField(_l("New due date"), validators=[Optional()],
                         description=_l("Leave empty to keep the current due date."))


class RevokeForm(FlaskForm):
    version = HiddenField()
