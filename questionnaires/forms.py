"""Forms of the questionnaire builder. They check formats and carry what was typed; every rule
about what a valid template or question is lives in `questionnaires.services.templates`, whose
messages the views put beside these fields (the field names are the service's value keys)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, Length, Optional
from wtforms.fields.choices import SelectChoice

from app.forms import choices
from questionnaires.models import OPTION_TYPES, QUESTION_TYPE_LABELS, QuestionType
from questionnaires.services.templates import MAX_OPTIONS

#: Blank option and band rows offered below the filled ones (more with the builder script).
SPARE_ROWS = 2
NEW_QUESTION_ROWS = 4

_DECIMAL = {"inputmode": "decimal", "autocomplete": "off"}
_INTEGER = {"inputmode": "numeric", "autocomplete": "off"}


def _text(value) -> str:
    return (value or "").strip()


class _VersionFields:
    """Fields a template's first version shares with the settings of any draft."""

    title = StringField(_l("Title shown to the supplier"), validators=[Length(max=200)])
    introduction = TextAreaField(_l("Introduction"), validators=[Optional(), Length(max=10_000)],
                                 description=_l("Shown to the supplier above the first section."))
    pass_mark = StringField(_l("Pass mark (0–100)"), default="70", render_kw=_DECIMAL,
                            description=_l("The overall score from which the questionnaire passes."))
    conditional_mark = StringField(_l("Conditional pass from"), default="50", render_kw=_DECIMAL,
                                   description=_l("Scores from here up to the pass mark pass conditionally."))
    validity_months = StringField(_l("Validity (months)"), default="12", render_kw=_INTEGER,
                                  description=_l("How long a qualification decided on this version holds."))

    def load_version(self, version) -> None:
        """Fill the fields from a version (on GET)."""
        self.title.data, self.introduction.data = version.title, version.introduction
        self.pass_mark.data = _number(version.pass_mark)
        self.conditional_mark.data = _number(version.conditional_mark)
        self.validity_months.data = str(version.validity_months)

    def version_values(self) -> dict:
        return {name: getattr(self, name).data for name in (
            "title", "introduction", "pass_mark", "conditional_mark", "validity_months")}


class TemplateForm(_VersionFields, FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=200)],
                       description=_l("How the quality office calls it, e.g. “Carrier qualification”."))
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=10_000)])
    title = StringField(_l("Title shown to the supplier"), validators=[Length(max=200)],
                        description=_l("Leave empty to use the name."))

    def values(self) -> dict:
        return {"name": self.name.data, "description": self.description.data, **self.version_values()}


class VersionForm(_VersionFields, FlaskForm):
    def values(self) -> dict:
        return self.version_values()


class SectionForm(FlaskForm):
    title = StringField(_l("Title"), validators=[Length(max=300)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=10_000)],
                                description=_l("Shown to the supplier under the section title."))


class OptionRow(Form):
    """One answer of a choice question (a row of the options editor)."""

    label = StringField(_l("Answer"), validators=[Length(max=500)])
    value = StringField(_l("Value"), validators=[Length(max=120)])
    score = StringField(_l("Score"), render_kw=_DECIMAL)
    knockout = BooleanField(_l("Knock-out"))

    def is_blank(self) -> bool:
        return not (_text(self.label.data) or _text(self.value.data) or _text(self.score.data) or self.knockout.data)


class BandRow(Form):
    """One scoring band of a number question: from `min` (inclusive) to `max` (exclusive)."""

    min = StringField(_l("From"), render_kw=_DECIMAL)
    max = StringField(_l("Below"), render_kw=_DECIMAL)
    score = StringField(_l("Score"), render_kw=_DECIMAL)
    knockout = BooleanField(_l("Knock-out"))

    def is_blank(self) -> bool:
        return not (_text(self.min.data) or _text(self.max.data) or _text(self.score.data) or self.knockout.data)


def _type_choices():
    return choices((kind.value, label) for kind, label in QUESTION_TYPE_LABELS.items())


class QuestionForm(FlaskForm):
    type = SelectField(_l("Type"), choices=_type_choices, validate_choice=False)
    key = StringField(_l("Key"), validators=[Length(max=60)],
                      description=_l("A short reference such as Q7, used by conditions and imports. "
                                     "Leave empty to number it automatically."))
    text = TextAreaField(_l("Question"), render_kw={"rows": 3})
    help_text = TextAreaField(_l("Help for the supplier"), render_kw={"rows": 2})
    required = BooleanField(_l("An answer is required"), default=True)
    weight = StringField(_l("Weight"), default="1", render_kw=_DECIMAL,
                         description=_l("Relative weight in the score; 0 = asked but not scored."))
    options = FieldList(FormField(OptionRow), label=_l("Answers"), min_entries=NEW_QUESTION_ROWS,
                        max_entries=MAX_OPTIONS + 1,
                        description=_l("Yes / no and scale questions get their standard answers when you "
                                       "leave these rows empty. The value is what conditions and imports "
                                       "refer to; it defaults to the answer's text."))
    unit = StringField(_l("Unit"), validators=[Length(max=40)], description=_l("e.g. EUR, %, days"))
    min_value = StringField(_l("Lowest accepted"), render_kw=_DECIMAL)
    max_value = StringField(_l("Highest accepted"), render_kw=_DECIMAL)
    scoring = FieldList(FormField(BandRow), label=_l("Scoring bands"), min_entries=SPARE_ROWS + 1,
                        max_entries=MAX_OPTIONS + 1,
                        description=_l("Each band scores the answers from its lower bound up to, not "
                                       "including, its upper bound; leave a bound empty for no limit."))
    max_files = StringField(_l("Files allowed"), default="1", render_kw=_INTEGER)
    condition_key = SelectField(_l("Show only when question"), validate_choice=False,
                                description=_l("Only earlier yes / no, choice and scale questions can decide."))
    condition_values = SelectMultipleField(_l("has one of the answers"), validate_choice=False)

    def set_condition_choices(self, questions) -> None:
        """Offer the given (earlier) questions as conditions, and their answers as values."""
        candidates = [q for q in questions if q.kind in OPTION_TYPES]
        self.condition_key.choices = [SelectChoice("", _l("Always shown")),
                                      *(SelectChoice(q.key, f"{q.key} — {q.text[:80]}") for q in candidates)]
        self.condition_values.choices = [
            SelectChoice(o["value"], f"{q.key}: {o['label']}", render_kw={"data-condition-key": q.key})
            for q in candidates for o in q.options or ()]

    def fill_rows(self) -> None:
        """Offer blank rows below the filled ones, so that answers and bands can be added."""
        for rows in (self.options, self.scoring):
            filled = len([row for row in rows if not row.form.is_blank()])
            while len(rows) < max(filled + SPARE_ROWS, rows.min_entries):
                rows.append_entry()

    def load(self, question) -> None:
        """Fill the form from a question (on GET)."""
        for name in ("type", "key", "text", "help_text", "required", "unit"):
            getattr(self, name).data = getattr(question, name)
        self.weight.data = _number(question.weight)
        self.min_value.data = _number(question.min_value)
        self.max_value.data = _number(question.max_value)
        self.max_files.data = str(question.max_files or 1)
        self.condition_key.data = question.condition_key or ""
        self.condition_values.data = list(question.condition_values or [])
        _load_rows(self.options, [{"label": o.get("label"), "value": o.get("value"), "score": _number(o.get("score")),
                                   "knockout": bool(o.get("knockout"))} for o in question.options or ()])
        _load_rows(self.scoring, [{"min": _number(b.get("min")), "max": _number(b.get("max")),
                                   "score": _number(b.get("score")), "knockout": bool(b.get("knockout"))}
                                  for b in (question.scoring or {}).get("bands", ())])

    def values(self) -> dict:
        """The question as the service takes it; blank option and band rows are left out."""
        values = {name: getattr(self, name).data for name in (
            "type", "key", "text", "help_text", "required", "weight", "unit", "min_value", "max_value",
            "max_files", "condition_key", "condition_values")}
        values["options"] = [{"label": row.label.data, "value": row.value.data, "score": row.score.data,
                              "knockout": row.knockout.data}
                             for row in (entry.form for entry in self.options) if not row.is_blank()]
        bands = [{"min": row.min.data, "max": row.max.data, "score": row.score.data, "knockout": row.knockout.data}
                 for row in (entry.form for entry in self.scoring) if not row.is_blank()]
        values["scoring"] = {"bands": bands} if bands else None
        if values["type"] != QuestionType.FILE:
            values["max_files"] = None
        return values


def _number(value) -> str:
    """A stored number as typed: 2 not 2.00, 0.5 not 0.50."""
    if value is None:
        return ""
    text = format(value, "f") if not isinstance(value, float) else repr(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _load_rows(rows: FieldList, items: list[dict]) -> None:
    while len(rows):
        rows.pop_entry()
    for item in items:
        rows.append_entry(item)


class ActionForm(FlaskForm):
    """Carries only the CSRF token of a one-button action (publish, delete, new draft, discard)."""


class MoveForm(FlaskForm):
    direction = HiddenField(validators=[AnyOf(["up", "down"])])


class TemplateFilterForm(FlaskForm):
    """The filter above the template list (GET, so no CSRF token)."""

    class Meta:
        csrf = False

    status = SelectField(_l("Show"), validate_choice=False, choices=lambda: choices([
        ("", _l("All templates")), ("published", _l("With a published version")),
        ("draft", _l("With a draft being edited"))]))
