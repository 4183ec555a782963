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
