"""Forms of attribution disputes: the supplier's answer on the public page, and the quality
office's link, settlement and revocation forms on the incident."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.forms import choices
from incidents.services.disputes import MAX_STATEMENT_LENGTH


class SupplierAnswerForm(FlaskForm):
    """What the supplier may send: accept or dispute, and its statement. Nothing else in the
    body is read (an incident or supplier id there is ignored)."""

    answer = RadioField(_l("Your answer"), choices=choices([("accept", _l("I accept this attribution")),
                                                             ("dispute", _l("I dispute this attribution"))]),
                        validators=[InputRequired(_l("Choose whether you accept or dispute."))])
    # The service enforces MAX_STATEMENT_LENGTH after turning CRLF into LF; this only bounds the body.
    statement = TextAreaField(_l("Your statement (required to dispute)"),
                              validators=[Optional(), Length(max=2 * MAX_STATEMENT_LENGTH)])


class DisputeLinkForm(FlaskForm):
    supplier_id = SelectField(_l("Supplier"), coerce=int, choices=[],
                              validators=[DataRequired(_l("Choose a supplier."))])
    days_valid = IntegerField(_l("Valid for (days)"), default=14, validators=[NumberRange(min=1, max=90)])


class SettleForm(FlaskForm):
    outcome = RadioField(_l("Outcome"), choices=choices([
        ("upheld", _l("Upheld: the decision stands")),
        ("revised", _l("Revised: the latest revision, recorded in the attribution panel, replaces it")),
    ]), validators=[InputRequired(_l("Choose an outcome."))])
    note = TextAreaField(_l("Note to the record"), validators=[Optional(), Length(max=MAX_STATEMENT_LENGTH)])


class RevokeForm(FlaskForm):
    """Only the CSRF token: revoking needs no data."""
