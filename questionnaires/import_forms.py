"""Forms of the template import: the upload, and the choice of sheets and mode for a
G-Cloud-style workbook. What a valid file is lives in questionnaires.services.template_io."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import RadioField, StringField
from wtforms.validators import DataRequired, Length, Optional

from app.forms import choices
from suppliers.forms import MultiCheckboxField


class TemplateUploadForm(FlaskForm):
    file = FileField(_l("Workbook (.xlsx)"), validators=[FileRequired(_l("Choose a file to import."))],
                     description=_l("The model file (download it below) imports at once; a G-Cloud-style "
                                    "question export asks next which sheets to import."))
    name = StringField(_l("Template name"), validators=[Optional(), Length(max=200)],
                       description=_l("Leave empty to use the name in the file."))


class SheetChoiceForm(FlaskForm):
    #: The view sets the choices to the workbook's sheets.
    sheets = MultiCheckboxField(_l("Sheets to import"), choices=[],
                                validators=[DataRequired(_l("Choose at least one sheet."))])
    mode = RadioField(_l("Import as"), default="templates", choices=lambda: choices([
        ("templates", _l("One template per sheet, named after the sheet")),
        ("sections", _l("One template: every sheet's sections become its sections")),
    ]))
    name = StringField(_l("Template name (one template)"), validators=[Optional(), Length(max=200)])
