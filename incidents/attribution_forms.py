"""Forms of the attribution panel and of the rules page.

Operators type shares as percentages (up to 4 decimals, "," or "." as separator); the form
turns them into the fractions `incidents.services.attribution.decide` takes.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import Form, FieldList, FormField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from app.forms import choices

INTERNAL = "internal"


class PartyRowForm(Form):
    """One candidate party: a leg of the order ("leg:<id>") or "internal"."""

    party = HiddenField()
    share = StringField(_l("Share %"), validators=[Optional(), Length(max=12)])
    root_cause = SelectField(_l("Root cause"), choices=[], validate_choice=False)
    evidence = StringField(_l("Evidence"), validators=[Optional(), Length(max=2000)])


class AttributionForm(FlaskForm):
    rows = FieldList(FormField(PartyRowForm))
    note = TextAreaField(_l("Note (why this decision)"), validators=[Optional(), Length(max=2000)])
    evidence_files = MultipleFileField(_l("Evidence files (PDF, PNG or JPEG)"))

    def set_root_causes(self, pairs) -> None:
        for row in self.rows:
            row.form.root_cause.choices = choices([("", "—"), *pairs])

    def parties(self) -> tuple[list[dict], list[int]]:
        """The rows with a share, as parties for `decide`, and the index of each party's row.

        A share that is not a number gets its error here (the service never sees it).
        """
        parties, positions = [], []
        for n, row in enumerate(self.rows):
            sub = row.form
            text = (sub.share.data or "").strip().replace(",", ".").rstrip("%").strip()
            if not text:
                continue
            try:
                percent = Decimal(text)
                if not percent.is_finite():
                    raise InvalidOperation
            except InvalidOperation:
                sub.share.errors = list(sub.share.errors) + [_l("Enter the share as a percentage, e.g. 40 or 33.33.")]
                continue
            party: dict = {"share": percent / 100, "root_cause": sub.root_cause.data,
                           "evidence": sub.evidence.data}
            value = sub.party.data or ""
            if value == INTERNAL:
                party["internal"] = True
            elif value.startswith("leg:"):
                party["leg_id"] = value[4:]
            parties.append(party)
            positions.append(n)
        return parties, positions

    @property
    def has_share_errors(self) -> bool:
        return any(row.form.share.errors for row in self.rows)


class ConfirmProposalForm(FlaskForm):
    """One click: record Catena's current proposal unchanged as the decision."""

    confirm = HiddenField(default="1")
    note = StringField(_l("Note"), validators=[Optional(), Length(max=2000)])


class RuleForm(FlaskForm):
    rule = SelectField(_l("Rule"), choices=[])
