"""Forms of the supplier register. Formats are checked here; business rules in services."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.forms import choices
from app.i18n import country_names
from suppliers.models import CHAIN_ROLE_LABELS, RISK_CLASS_LABELS, STATUS_LABELS


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _country_choices():
    return choices([("", "—"), *country_names().items()])


def _role_choices():
    return choices((code.value, label) for code, label in CHAIN_ROLE_LABELS.items())


def _risk_choices():
    return choices((code.value, label) for code, label in RISK_CLASS_LABELS.items())


def _status_choices():
    return choices((code.value, label) for code, label in STATUS_LABELS.items())


class SupplierForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)],
                       description=_l("Unique, e.g. CAR-001. Capital letters, digits, dots and dashes."))
    legal_name = StringField(_l("Legal name"), validators=[DataRequired(), Length(max=200)])
    vat_id = StringField(_l("VAT / tax id"), validators=[Optional(), Length(max=40)])
    country = SelectField(_l("Country"), choices=_country_choices, validators=[DataRequired()])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=120)])
    website = StringField(_l("Website"), validators=[Optional(), Length(max=300)])
    chain_roles = MultiCheckboxField(_l("Chain roles"), choices=_role_choices)
    parent = StringField(_l("Subcontractor of (supplier code)"), validators=[Optional(), Length(max=32)],
                         description=_l("Leave empty if this supplier works for you directly."))
    risk_class = SelectField(_l("Risk class"), choices=_risk_choices, default="medium")
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=10_000)])
    version = HiddenField()

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in (
            "code", "legal_name", "vat_id", "country", "address", "city", "website",
            "chain_roles", "parent", "risk_class", "notes")}


class StatusForm(FlaskForm):
    status = SelectField(_l("New status"), choices=_status_choices)
    qualified_until = DateField(_l("Qualified until"), validators=[Optional()],
                                description=_l("Required for approved and conditionally approved."))
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])
    version = HiddenField()


class ArchiveForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])


class ContactForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    job_title = StringField(_l("Role at the supplier"), validators=[Optional(), Length(max=120)])
    email = StringField(_l("E-mail"), validators=[Optional(), Length(max=254)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])
    is_primary = BooleanField(_l("Primary contact"))


class CertificateForm(FlaskForm):
    standard = StringField(_l("Standard"), validators=[DataRequired(), Length(max=120)],
                           description=_l("e.g. ISO 9001:2015, ISO 14001, AEO"))
    number = StringField(_l("Certificate number"), validators=[Optional(), Length(max=120)])
    issuer = StringField(_l("Issued by"), validators=[Optional(), Length(max=200)])
    issued_on = DateField(_l("Issued on"), validators=[Optional()])
    expires_on = DateField(_l("Expires on"), validators=[Optional()])
    file = FileField(_l("Scanned certificate (PDF, PNG or JPEG)"))


class ConfirmForm(FlaskForm):
    """Carries only the CSRF token of a one-button action."""


class SupplierFilterForm(FlaskForm):
    """The filters above the supplier list (GET, so no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"))
    role = SelectMultipleField(_l("Chain role"), choices=_role_choices)
    status = SelectMultipleField(_l("Status"), choices=_status_choices)
    risk = SelectMultipleField(_l("Risk class"), choices=_risk_choices)
    #: Choices are set by the view: only the countries suppliers are registered in.
    country = SelectMultipleField(_l("Country"), choices=[])
    archived = SelectField(_l("Archived"), choices=choices([("", _l("Hide archived")), ("include", _l("Include archived")),
                                                            ("only", _l("Archived only"))]))
