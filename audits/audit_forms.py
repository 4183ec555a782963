"""Forms of the audit pages: the list's filters, the lifecycle buttons, details, findings,
auditee responses, participants and evidence. Formats are checked here; rules in
audits.services.conduct.

Forms that change the audit record carry its `version` (optimistic lock): the view passes it
to the service as `expected_version`, so a second auditor is told, not overwritten.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, HiddenField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from app.forms import choices
from audits.models import AUDIT_STATUS_LABELS, AUDITEE_RESPONSE_LABELS, FINDING_GRADE_LABELS

PARTICIPANT_ROLE_LABELS = {
    "auditor": _l("Auditor"),
    "auditee": _l("Auditee"),
    "observer": _l("Observer"),
}


def version_of(form) -> int | None:
    """The audit version the form was rendered with (None when absent or garbled)."""
    try:
        return int(form.version.data)
    except (TypeError, ValueError, AttributeError):
        return None


class AuditFilterForm(FlaskForm):
    """The list's filters: a GET form, hence no CSRF token."""

    class Meta:
        csrf = False

    plan = SelectField(_l("Plan"), choices=[], validate_choice=False, validators=[Optional()])
    supplier = StringField(_l("Supplier (code)"), validators=[Optional(), Length(max=40)])
    status = SelectMultipleField(_l("Status"), validators=[Optional()],
                                 choices=lambda: choices((s.value, label) for s, label in AUDIT_STATUS_LABELS.items()))
    period = StringField(_l("Period (month)"), validators=[Optional(), Regexp(r"^\d{4}-\d{2}$",
                                                                             message=_l("Use YYYY-MM."))],
                         description=_l("The month in which the audited period starts, as YYYY-MM."))



def audit_filters_from_args(args):
    """The audit list's filter form bound to `args` (a query string's MultiDict) and the
    `AuditFilters` it means; shared by the list page and its exports (audits, findings)."""
    from flask_babel import gettext as _

    from audits.models import AuditStatus
    from audits.services.conduct import AuditFilters, plans_for_filter
    from suppliers.services.measurement import parse_month

    form = AuditFilterForm(args)
    form.plan.choices = choices([("", _("Any")), *((str(i), name) for i, name in plans_for_filter())])
    form.validate()
    plan = form.plan.data
    month = None
    if form.period.data and not form.period.errors:
        try:
            month = parse_month(form.period.data)
        except ValueError:
            form.period.errors = list(form.period.errors) + [_("Use YYYY-MM.")]
    filters = AuditFilters(
        plan_id=int(plan) if plan and str(plan).isdigit() else None,
        supplier_code=(form.supplier.data or "").strip()[:40] or None,
        statuses=tuple(s for s in form.status.data or () if s in {x.value for x in AuditStatus}),
        period_month=month)
    return form, filters

class VersionForm(FlaskForm):
    """A button that changes the audit: start, snapshot, propose, issue, close."""

    version = HiddenField()


class DeleteForm(FlaskForm):
    """A removal button (finding, participant)."""


class DetailsForm(FlaskForm):
    version = HiddenField()
    scope = TextAreaField(_l("Scope"), validators=[Optional(), Length(max=10_000)])
    location = StringField(_l("Location"), validators=[Optional(), Length(max=300)],
                           description=_l("Where the audit takes place (a site, or “remote”)."))
    planned_date = DateField(_l("Planned date"), validators=[InputRequired()])
    started_on = DateField(_l("Started on"), validators=[Optional()])
    ended_on = DateField(_l("Ended on"), validators=[Optional()])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=10_000)])
    conclusions = TextAreaField(_l("Conclusions"), validators=[Optional(), Length(max=10_000)],
                                description=_l("Required to issue the report."))
    fulfilment = TextAreaField(_l("Degree of fulfilment of the audit criteria"),
                               validators=[Optional(), Length(max=10_000)],
                               description=_l("Required to issue the report (ISO 19011 §6.5.1)."))

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in
                ("scope", "location", "planned_date", "started_on", "ended_on", "notes", "conclusions", "fulfilment")}


class FindingForm(FlaskForm):
    grade = SelectField(_l("Grade"), validators=[InputRequired()],
                        choices=lambda: choices((g.value, label) for g, label in FINDING_GRADE_LABELS.items()))
    criterion = StringField(_l("Criterion"), validators=[DataRequired(), Length(max=500)],
                            description=_l("What the finding is measured against: an SLA, a contract clause, "
                                           "a checklist question."))
    statement = TextAreaField(_l("Finding"), validators=[DataRequired(), Length(max=10_000)])
    evidence = TextAreaField(_l("Evidence"), validators=[Optional(), Length(max=10_000)])

    def values(self) -> dict:
        return {"grade": self.grade.data, "criterion": self.criterion.data, "statement": self.statement.data,
                "evidence": self.evidence.data}


class ResponseForm(FlaskForm):
    response = RadioField(_l("Auditee's response"), validators=[InputRequired()],
                          choices=lambda: choices((r.value, label) for r, label in AUDITEE_RESPONSE_LABELS.items()))
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=10_000)],
                            description=_l("Required for a diverging opinion."))


class ParticipantForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    organisation = StringField(_l("Organisation"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Role"), validators=[InputRequired()],
                       choices=lambda: choices(PARTICIPANT_ROLE_LABELS.items()))
    email = StringField(_l("E-mail"), validators=[Optional(), Length(max=254)])

    def values(self) -> dict:
        return {"name": self.name.data, "organisation": self.organisation.data, "role": self.role.data,
                "email": self.email.data}


class EvidenceForm(FlaskForm):
    file = FileField(_l("File (PDF, PNG or JPEG)"))
    description = StringField(_l("Description"), validators=[Optional(), Length(max=500)])


class ChecklistForm(FlaskForm):
    """The answers come as `q<question id>` values and `note<question id>` texts; the view
    reads them, the service parses them."""
