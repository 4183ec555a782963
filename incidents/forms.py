"""Forms of the incidents domain: the steps of a file import. Formats are checked here;
the rules of a profile (required fields, a real time zone) in incidents.services.imports."""
from __future__ import annotations

from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from app.forms import choices
from incidents.services.legs import FIELD_LABELS, LEG_FIELDS, REQUIRED_LEG_FIELDS

DELIMITER_LABELS = {
    "": _l("Detect it"),
    ",": _l("Comma ,"),
    ";": _l("Semicolon ;"),
    "\t": _l("Tab"),
    "|": _l("Vertical bar |"),
}


def _zone_choices():
    return choices((zone, zone) for zone in sorted(available_timezones()))


def _delimiter_choices():
    return choices(DELIMITER_LABELS.items())


class UploadForm(FlaskForm):
    file = FileField(_l("File (.csv or .xlsx)"), validators=[FileRequired(_l("Choose a file to import."))],
                     description=_l("The first row holds the column names; the first sheet of a workbook is read."))
    #: A saved profile's name, or "" for a new mapping; the view sets the choices.
    profile = SelectField(_l("Column mapping"), choices=[], default="", validate_choice=True)


class MappingForm(FlaskForm):
    """Which column of the file holds each field; one select per field of the leg format is
    added below. The view sets their choices to the file's column names."""

    name = StringField(_l("Profile name"), validators=[DataRequired(), Length(max=80)],
                       description=_l("Files from the same source reuse it, also from the command line. "
                                      "Saving under an existing name replaces that profile."))
    timezone = SelectField(_l("Time zone of the file's times"), choices=_zone_choices,
                           description=_l("Times without a zone (e.g. 2026-03-29 14:30) are read in this zone. "
                                          "A time that does not exist (the hour skipped in spring) moves forward "
                                          "by the hour; a repeated one (autumn) is read as the first."))
    datetime_format = StringField(_l("Date format"), validators=[Optional(), Length(max=64)],
                                  description=_l("Leave empty for ISO 8601 (2026-03-29 14:30). Otherwise write it "
                                                 "as in Python, e.g. %(example)s.", example="%d/%m/%Y %H:%M"))
    delimiter = SelectField(_l("CSV delimiter"), choices=_delimiter_choices, default="",
                            description=_l("Ignored for .xlsx workbooks."))

    def mapping(self) -> dict[str, str]:
        """Catena field → the column chosen for it (fields left unmapped are omitted)."""
        return {name: getattr(self, name).data for name in LEG_FIELDS if getattr(self, name).data}

    def mapping_fields(self):
        return [getattr(self, name) for name in LEG_FIELDS]


for _name in LEG_FIELDS:
    _validators = ([DataRequired(_l("Required: choose the column that holds it."))]
                   if _name in REQUIRED_LEG_FIELDS else [Optional()])
    setattr(MappingForm, _name, SelectField(FIELD_LABELS[_name], choices=[], validators=_validators))


class ConfirmImportForm(FlaskForm):
    valid_rows_only = BooleanField(
        _l("Write the valid rows and set the others aside"),
        description=_l("Without this, nothing is written if any row has an error."))


# Incidents -------------------------------------------------------------------------------

from flask_babel import get_locale  # noqa: E402
from wtforms import DateTimeLocalField, DecimalField, IntegerField, SelectMultipleField, TextAreaField  # noqa: E402
from wtforms.validators import NumberRange  # noqa: E402

from app.i18n import company_zone  # noqa: E402
from incidents.models import (  # noqa: E402
    CHANNEL_LABELS,
    INCIDENT_STATUS_LABELS,
    PRIORITY_LABELS,
    COST_KIND_LABELS,
    InteractionDirection,
    Priority,
)

DIRECTION_LABELS = {
    InteractionDirection.INBOUND: _l("From the customer"),
    InteractionDirection.OUTBOUND: _l("To the customer"),
}


def _now_in_company_zone():
    """The current minute as a naive wall-clock time of the company zone (the form's default)."""
    import datetime as _dt

    return _dt.datetime.now(company_zone()).replace(tzinfo=None, second=0, microsecond=0)


def _category_choices():
    from incidents.services.incidents import active_categories

    locale = str(get_locale())
    return choices((c.code, c.label(locale)) for c in active_categories())


class IncidentForm(FlaskForm):
    """Intake of a complaint. reported_at is a wall-clock time of the company zone; the view
    attaches the zone before calling the service."""

    order_ref = StringField(
        _l("Order"), validators=[Optional(), Length(max=64)],
        description=_l("Order or customer reference; type two characters for suggestions. "
                       "An unknown order is kept and flagged for follow-up."),
        render_kw={"list": "order-suggestions", "data-order-suggest": "/incidents/orders/suggest",
                   "autocomplete": "off", "autofocus": True})
    channel = SelectField(_l("Channel"), choices=choices(CHANNEL_LABELS.items()), validators=[DataRequired()])
    category = SelectField(_l("Category"), choices=_category_choices, validators=[DataRequired()])
    priority = SelectField(_l("Priority"), choices=choices(PRIORITY_LABELS.items()), default=Priority.NORMAL.value)
    description = TextAreaField(_l("Description"), validators=[DataRequired(), Length(max=10_000)],
                                render_kw={"rows": 4})
    reported_at = DateTimeLocalField(_l("Reported at"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
                                     default=_now_in_company_zone, validators=[DataRequired()],
                                     description=_l("Company time zone."))


class InteractionForm(FlaskForm):
    channel = SelectField(_l("Channel"), choices=choices(CHANNEL_LABELS.items()), validators=[DataRequired()])
    direction = SelectField(_l("Direction"), choices=choices(DIRECTION_LABELS.items()),
                            default=InteractionDirection.OUTBOUND.value, validators=[DataRequired()])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=10_000)], render_kw={"rows": 2})


class CostLineForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=choices(COST_KIND_LABELS.items()), validators=[DataRequired()])
    amount = DecimalField(_l("Amount (€)"), places=2, validators=[DataRequired()],
                          render_kw={"inputmode": "decimal"})
    note = StringField(_l("Note"), validators=[Optional(), Length(max=300)])


class StatusForm(FlaskForm):
    status = SelectField(_l("New status"), choices=choices(INCIDENT_STATUS_LABELS.items()),
                         validators=[DataRequired()])
    csat = IntegerField(_l("Customer satisfaction (1–5)"), validators=[Optional(), NumberRange(min=1, max=5)],
                        description=_l("Only when closing; leave empty if the customer did not answer."))
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=10_000)], render_kw={"rows": 2},
                         description=_l("Kept in the change log as the reason."))


class AssignForm(FlaskForm):
    """Bulk assignment from the backlog: the checked incidents go to one operator ("" = nobody)."""

    incident_ids = SelectMultipleField(_l("Incidents"), coerce=int, validate_choice=False,
                                       validators=[DataRequired(_l("Tick at least one incident."))])
    assignee = SelectField(_l("Assign to"), choices=[], validate_choice=True)


def backlog_filters_from_args(args) -> tuple:
    """The backlog's filters from a query string (`args`: a MultiDict), as the backlog page and
    its export read them, and what the page shows of them (`assignee`, `traceable`).

    Category, supplier (in the order's chain), assignee (a user id or "none"), and the filters
    the service dashboard links with, so each of its numbers opens exactly the incidents behind
    it: reported from/to (YYYY-MM-DD), channel, attributed supplier, and status=all (every
    status, not only the open ones) or one status."""
    import datetime as dt

    from incidents.models import IncidentChannel, IncidentStatus
    from incidents.services.incidents import BacklogFilters

    def day(name):
        try:
            return dt.date.fromisoformat(args.get(name, ""))
        except ValueError:
            return None

    status = args.get("status") or ""
    channel = args.get("channel") or ""
    traceable = {
        "reported_from": day("from"), "reported_to": day("to"),
        "channel": channel if channel in {c.value for c in IncidentChannel} else None,
        "attributed_to": (args.get("attributed") or "").strip()[:32] or None,
        "include_closed": status == "all",
        "status": status if status in {s.value for s in IncidentStatus} else None,
    }
    assignee = (args.get("assignee") or "").strip()
    filters = BacklogFilters(category=(args.get("category") or "").strip()[:40] or None,
                             supplier=(args.get("supplier") or "").strip()[:32] or None,
                             assignee_id=int(assignee) if assignee.isdigit() else None,
                             unassigned=assignee == "none", **traceable)
    return filters, {"assignee": assignee, "traceable": {k: v for k, v in traceable.items() if v}}


def leg_filters_from_args(args) -> object:
    """The orders page's filters from a query string: `q` (order or customer reference prefix)
    and `supplier` (a code in the chain), as the page reads them; for the legs export also
    `stage` and `from`/`to` (YYYY-MM-DD, the days legs were promised for)."""
    import datetime as dt

    from incidents.models import LegStage
    from incidents.services.orders import LegFilters

    def day(name):
        try:
            return dt.date.fromisoformat(args.get(name, ""))
        except ValueError:
            return None

    stage = args.get("stage") or ""
    return LegFilters(text=(args.get("q") or "").strip()[:64] or None,
                      supplier=(args.get("supplier") or "").strip()[:32] or None,
                      stage=stage if stage in {s.value for s in LegStage} else None,
                      promised_from=day("from"), promised_to=day("to"))
