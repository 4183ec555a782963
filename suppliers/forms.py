"""Forms of the supplier register. Formats are checked here; business rules in services."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.forms import choices
from app.i18n import country_names, today
from incidents.models import STAGE_LABELS
from suppliers.metrics import METRICS
from suppliers.models import CHAIN_ROLE_LABELS, RISK_CLASS_LABELS, STATUS_LABELS, WINDOW_LABELS


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



def supplier_filters_from_args(args) -> tuple:
    """The supplier list's filter form bound to `args` (a query string's MultiDict) and the
    filters it means; shared by the list page and its export, so both select the same rows."""
    from suppliers import services

    form = SupplierFilterForm(args)
    names = country_names()
    form.country.choices = choices(sorted(((code, names.get(code, code)) for code in services.countries_in_use()),
                                          key=lambda pair: pair[1]))
    form.validate()
    filters = services.SupplierFilters(
        text=(form.q.data or "").strip()[:100] or None,
        roles=[r for r in form.role.data or [] if r in CHAIN_ROLE_LABELS],
        statuses=[s for s in form.status.data or [] if s in STATUS_LABELS],
        risk_classes=[r for r in form.risk.data or [] if r in RISK_CLASS_LABELS],
        countries=[c for c in form.country.data or [] if len(c) == 2],
        include_archived=form.archived.data == "include",
        archived_only=form.archived.data == "only",
    )
    return form, filters

# Service standards (SLAs) -----------------------------------------------------------------

def _metric_choices():
    return choices((m.code, m.label) for m in METRICS.values() if m.is_available)


def _stage_choices():
    return choices([("", "—"), *((stage.value, label) for stage, label in STAGE_LABELS.items())])


def _comparator_choices():
    return choices([("", _l("As usual for the metric")), ("gte", _l("At least")), ("lte", _l("At most"))])


def _window_choices():
    return choices((window.value, label) for window, label in WINDOW_LABELS.items())


def _penalty_choices():
    return choices([
        ("none", _l("No penalty")),
        ("fixed", _l("Fixed amount per breached period")),
        ("per_unit", _l("Amount per unit beyond the target (percentage point or hour)")),
    ])


def _decimal_or_none(text):
    """A number typed with a dot or a comma, or None if it is not one."""
    if text is None or not str(text).strip():
        return None
    try:
        number = Decimal(str(text).strip().replace(",", "."))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _plain(number) -> str:
    """A Decimal as people type it: 95, 97.5 — no exponent, no trailing zeros."""
    if number is None:
        return ""
    return format(number.normalize(), "f")


class ServiceStandardForm(FlaskForm):
    """An SLA's terms. Rate levels are typed in percent (95 means 95 %) and durations in
    hours; `values()` gives the service fractions 0–1 for rates, as it stores them."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)],
                       description=_l("e.g. “On-time delivery, last mile”"))
    metric = SelectField(_l("Metric"), choices=_metric_choices, validators=[DataRequired()])
    stage = SelectField(_l("Stage measured"), choices=_stage_choices,
                        description=_l("For leg metrics: the stage whose legs are measured."))
    comparator = SelectField(_l("The value must be"), choices=_comparator_choices)
    target = StringField(_l("Target"), validators=[DataRequired(), Length(max=30)],
                         description=_l("Percent for rates (95 means 95 %), hours for times."))
    warning_threshold = StringField(
        _l("Warning level"), validators=[Optional(), Length(max=30)],
        description=_l("Optional early alarm, in the same unit: a period that meets the target but not this "
                       "level shows as warning. With “at least” it is at or above the target."))
    window = SelectField(_l("Measurement window"), choices=_window_choices, default="month")
    min_sample = IntegerField(_l("Minimum sample size"), default=20, validators=[Optional()],
                              description=_l("With fewer legs in a period the result is “not enough data”."))
    tolerance_minutes = IntegerField(_l("Tolerance (minutes)"), default=0, validators=[Optional()],
                                     description=_l("A leg still counts on time up to this many minutes after "
                                                    "its promise."))
    honours_exclusions = BooleanField(_l("Leave out legs flagged force majeure"), default=True)
    penalty_kind = SelectField(_l("Penalty rule"), choices=_penalty_choices, default="none")
    penalty_amount = StringField(_l("Penalty amount (EUR)"), validators=[Optional(), Length(max=30)])
    penalty_cap = StringField(_l("Penalty cap per period (EUR)"), validators=[Optional(), Length(max=30)],
                              description=_l("Optional upper limit of one period's penalty."))
    weight = StringField(_l("Weight in the ranking"), default="1", validators=[Optional(), Length(max=12)],
                         description=_l("From 0.1 to 100; 1 unless this SLA matters more or less than others."))
    valid_from = DateField(_l("Valid from"), validators=[DataRequired()], default=today)
    valid_to = DateField(_l("Valid to"), validators=[Optional()],
                         description=_l("Last day, inclusive. Leave empty while the SLA is in force."))

    def is_rate(self) -> bool:
        metric = METRICS.get(self.metric.data or "")
        return metric is not None and metric.unit == "rate"

    def _check_level(self, field) -> None:
        if not field.data or not str(field.data).strip():
            return
        number = _decimal_or_none(field.data)
        if number is None:
            raise ValidationError(_l("Enter a number."))
        if self.is_rate() and not 0 <= number <= 100:
            raise ValidationError(_l("Enter a percentage from 0 to 100."))

    def validate_target(self, field) -> None:
        self._check_level(field)

    def validate_warning_threshold(self, field) -> None:
        self._check_level(field)

    def _level(self, text):
        """Percent → fraction for rate metrics; anything else goes to the service as typed."""
        number = _decimal_or_none(text)
        if number is None or not self.is_rate():
            return text
        return number / 100

    def values(self) -> dict:
        """The fields as the service takes them (`suppliers.services.standards.validate_standard`)."""
        return {
            "name": self.name.data, "metric": self.metric.data, "stage": self.stage.data or None,
            "comparator": self.comparator.data or None,
            "target": self._level(self.target.data), "warning_threshold": self._level(self.warning_threshold.data),
            "window": self.window.data, "min_sample": self.min_sample.data,
            "tolerance_minutes": self.tolerance_minutes.data, "honours_exclusions": self.honours_exclusions.data,
            "penalty_kind": self.penalty_kind.data, "penalty_amount": self.penalty_amount.data,
            "penalty_cap": self.penalty_cap.data, "weight": self.weight.data,
            "valid_from": self.valid_from.data, "valid_to": self.valid_to.data,
        }

    @staticmethod
    def initial_from(standard, valid_from) -> dict:
        """Form data repeating `standard`'s terms (rate levels back in percent), from `valid_from`."""
        metric = METRICS.get(standard.metric)
        factor = 100 if metric is not None and metric.unit == "rate" else 1

        def level(value):
            return _plain(value * factor) if value is not None else ""

        return {
            "name": standard.name, "metric": standard.metric, "stage": standard.stage or "",
            "comparator": standard.comparator, "target": level(standard.target),
            "warning_threshold": level(standard.warning_threshold), "window": standard.window,
            "min_sample": standard.min_sample, "tolerance_minutes": standard.tolerance_minutes,
            "honours_exclusions": standard.honours_exclusions, "penalty_kind": standard.penalty_kind,
            "penalty_amount": _plain(standard.penalty_amount), "penalty_cap": _plain(standard.penalty_cap),
            "weight": _plain(standard.weight), "valid_from": valid_from, "valid_to": None,
        }


class ReviseStandardForm(ServiceStandardForm):
    """A new version of an SLA: the same terms, from a later date, with the reason."""

    reason = TextAreaField(_l("Reason for the change"), validators=[DataRequired(), Length(max=2000)],
                           description=_l("Kept in the change log, e.g. “New contract signed on 3 March”."))

    def keep_measure(self, standard) -> None:
        """A revision measures what the SLA measured: metric and stage are not taken from the post."""
        self.metric.data = standard.metric
        self.stage.data = standard.stage or ""
