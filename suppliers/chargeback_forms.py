"""Forms of the chargeback pages. Formats are checked here; the rules in
incidents.services.chargebacks."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, HiddenField, MonthField, RadioField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.forms import choices


class PrepareForm(FlaskForm):
    """Prepare (or refresh) the statement of one calendar month."""

    month = MonthField(_l("Month"), validators=[DataRequired()],
                       description=_l("Incidents reported in this month whose current attribution names the supplier."))


class PolicyForm(FlaskForm):
    per_incident_amount = DecimalField(_l("Amount per incident (€)"), places=2,
                                       validators=[InputRequired(), NumberRange(min=0)],
                                       description=_l("Charged for each attributed incident, times the share."))
    charges_costs = BooleanField(_l("Charge the incident costs (refunds, reshipments, vouchers…)"), default=True)
    cap_per_statement = DecimalField(_l("Cap per statement (€)"), places=2,
                                     validators=[Optional(), NumberRange(min=0)],
                                     description=_l("The most one statement may charge. Leave empty for no cap."))

    def values(self) -> dict:
        return {"per_incident_amount": self.per_incident_amount.data, "charges_costs": self.charges_costs.data,
                "cap_per_statement": self.cap_per_statement.data}


class RespondForm(FlaskForm):
    """The supplier's answer to a sent statement."""

    outcome = RadioField(_l("Supplier's answer"), validators=[DataRequired()],
                         choices=choices([("accepted", _l("Accepted")), ("disputed", _l("Disputed"))]))
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)],
                         description=_l("Required for a dispute: what the supplier contests and why."))
    version = HiddenField()


class ConfirmForm(FlaskForm):
    """Carries the CSRF token (and the version seen) of a one-button action."""

    version = HiddenField()
