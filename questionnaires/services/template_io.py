"""Questionnaire templates to and from .xlsx workbooks.

Two layouts are read:

**The model format** (Catena's own; `export_model_workbook` writes it, `model_workbook` gives a
blank one). Sheet "Questions": one row per question, columns `MODEL_COLUMNS`; sheet "Template":
label/value rows (`TEMPLATE_FIELDS`); sheet "Instructions": the syntax, in the user's
language. Cell syntax:

- `type`: a type code (`yes_no`, `single_choice`, …) or its English (or current-language)
  label, any case.
- `options`: the option labels separated by `|`. An option whose stored value differs from its
  label is written `Label {value}`. Yes/no options are the labels of *yes* then *no*; a scale
  may leave them empty (1–5).
- `scores`: numbers separated by `|`, one per option in the same order. For a number question,
  the scoring bands `min-max:score` separated by `|`, each bound optional (`-10:0 | 10-50:1 |
  50-:3`); the lower bound counts, the upper one does not.
- `knockout`: the labels of the options that knock the questionnaire out, separated by `|`;
  for a number question the bands (`min-max`) that do.
- `required`: yes/no, sì/no, true/false, 1/0 (empty: yes).
- `condition`: `KEY = value | value` — shown only when the earlier question KEY has one of
  these answers (option values).

**A G-Cloud-style export** (the UK Crown Commercial Service's question export, one sheet per
lot; `GCLOUD_MAPPING`). Its rows are mapped as follows:

- Each run of rows with the same "Section name" becomes a section (its "Section description"
  the section's description). `mode="templates"`: every chosen sheet becomes its own template
  named after the sheet. `mode="sections"`: the chosen sheets make ONE template, and since a
  section has no sub-sections, each sheet's sections become sections titled
  "sheet — section".
- A group row ("Grouped and related questions", "List of grouped and related questions") asks
  nothing: its heading (Question, else Summary text) becomes the first paragraph of the help
  text of the questions under it, until the next group row or the end of the section.
- Text field / List of text fields → short text; Textarea → long text; Number field → number;
  Date → date; Upload → file; Yes/No radio buttons → yes/no; Radio buttons → single choice;
  Checkboxes / Grouped checkboxes → multiple choice (a single checkbox, "tick to confirm",
  becomes yes/no). Help text is "Question advice" and "Question hint" joined.
- Answer cells of the form `'Follow-up' [row N] if answer is any of 'A', 'B'` are rules, not
  options: the question at row N (or every question of the group at row N) is shown only when
  this one is answered A or B. A question already conditional on another keeps the first rule.
- Weights: 1 for yes/no and choice questions, 0 for the others; yes scores 1, no 0, the
  options of choice questions 0 (to be set in the builder). Required unless the mapping names
  a column that says otherwise. Keys are Q1, Q2, … in the order of the template.
- Repairs, each reported as a warning: repeated option labels are dropped; a label over 500
  characters is shortened; a choice with more than the builder's limit of options becomes a
  long-text question listing them in its help. Mojibake (UTF-8 read as Windows-1252, `â€™`
  for `’`) is repaired and whitespace is tidied in every cell.

Every import checks the file first (`incidents.services.imports.check_workbook`: zip limits,
macros, XML entities), then checks every row, and writes only if no row has an error: the
whole import is refused with `ValidationFailed(code="invalid_template_file")`, whose
`fields["rows"]` lists `{"sheet", "row", "column", "message"}`, otherwise. Services flush only;
the caller's unit of work commits.
"""
from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from flask_babel import gettext, lazy_gettext as _l
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from app.errors import ValidationFailed
from incidents.services.imports import check_workbook
from questionnaires.models import (
    OPTION_TYPES,
    QUESTION_TYPE_LABELS,
    Question,
    QuestionnaireTemplate,
    QuestionType,
    Section,
    TemplateVersion,
)
from questionnaires.services import templates
from reports.xlsx import safe_cell, unquote_imported

#: Most questions one import may create, all sheets together.
MAX_QUESTION_ROWS = 5_000
#: Most row problems kept in detail (all are counted).
PROBLEM_LIMIT = 500

QUESTIONS_SHEET = "Questions"
TEMPLATE_SHEET = "Template"
INSTRUCTIONS_SHEET = "Instructions"

MODEL_COLUMNS = ("section", "section_description", "key", "question", "help", "type", "options", "scores",
                 "knockout", "weight", "required", "unit", "min", "max", "max_files", "condition")
#: Columns a model file must have; the others may be left out.
REQUIRED_MODEL_COLUMNS = ("section", "question", "type")
#: Template sheet: field code → label shown beside it (any of both is accepted on import).
TEMPLATE_FIELDS = {
    "name": _l("Name"),
    "description": _l("Description"),
    "title": _l("Title"),
    "introduction": _l("Introduction"),
    "pass_mark": _l("Pass mark"),
    "conditional_mark": _l("Conditional pass from"),
    "validity_months": _l("Validity (months)"),
}
#: The model column a field of `clean_question` is reported under.
_FIELD_COLUMNS = {"text": "question", "help_text": "help", "type": "type", "key": "key", "weight": "weight",
                  "options": "options", "scoring": "scores", "unit": "unit", "min_value": "min",
                  "max_value": "max", "max_files": "max_files", "condition_key": "condition",
                  "condition_values": "condition", "required": "required"}
_ENGLISH_TYPE_LABELS = {
    "yes / no": QuestionType.YES_NO, "yes/no": QuestionType.YES_NO, "yes no": QuestionType.YES_NO,
    "single choice": QuestionType.SINGLE_CHOICE, "multiple choice": QuestionType.MULTIPLE_CHOICE,
    "scale 1–5": QuestionType.SCALE, "scale 1-5": QuestionType.SCALE, "scale": QuestionType.SCALE,
    "number": QuestionType.NUMBER, "short text": QuestionType.SHORT_TEXT, "long text": QuestionType.LONG_TEXT,
    "date": QuestionType.DATE, "file evidence": QuestionType.FILE, "file": QuestionType.FILE,
}
_TRUE = {"yes", "y", "sì", "si", "true", "1", "x", "vero"}
_FALSE = {"no", "n", "false", "0", "falso"}

GCLOUD_MAPPING: dict[str, Any] = {
    "columns": {
        "section": "Section name",
        "section_description": "Section description",
        "summary": "Summary text",
        "question": "Question",
        "advice": "Question advice",
        "hint": "Question hint",
        "type": "Question type",
        #: A column that says whether a question must be answered; the G-Cloud export has none.
        "required": None,
    },
    #: Answer columns: every column whose name starts with this.
    "answer_prefix": "Answer",
    #: Follow-up rule columns ("'X' [row N] if answer is any of 'A', 'B'").
    "rule_prefix": "Follow up question",
    "types": {
        "text field": QuestionType.SHORT_TEXT,
        "list of text fields": QuestionType.SHORT_TEXT,
        "textarea": QuestionType.LONG_TEXT,
        "number field": QuestionType.NUMBER,
        "date": QuestionType.DATE,
        "upload": QuestionType.FILE,
        "yes/no radio buttons": QuestionType.YES_NO,
        "radio buttons": QuestionType.SINGLE_CHOICE,
        "checkboxes": QuestionType.MULTIPLE_CHOICE,
        "grouped checkboxes": QuestionType.MULTIPLE_CHOICE,
    },
    #: Rows that ask nothing and head the questions below them.
    "group_types": ("grouped and related questions", "list of grouped and related questions"),
}

_RULE = re.compile(r"^'(?P<target>.*)'\s*\[row (?P<row>\d+)\]\s*if answer is any of\s*(?P<values>.*)$", re.S)
#: Characters Windows-1252 decodes bytes 0x80–0xBF to: the tail of a UTF-8 sequence read as 1252.
_CP1252_TAIL = ("\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014"
                "\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122")
_MOJIBAKE = re.compile(f"[\u00c2-\u00f4][{_CP1252_TAIL}]{{1,3}}")
_BAND = re.compile(r"^\s*(?P<min>-?\d+(?:[.,]\d+)?)?\s*(?:\.\.|–|-)\s*(?P<max>-?\d+(?:[.,]\d+)?)?\s*$")
_OPTION_VALUE = re.compile(r"^(?P<label>.*?)\s*\{(?P<value>[^{}]+)\}$", re.S)


@dataclass
class RowProblem:
    sheet: str
    row: int
    column: str
    message: str
    is_warning: bool = False

    def as_dict(self) -> dict:
        return {"sheet": self.sheet, "row": self.row, "column": self.column, "message": str(self.message)}

    def __str__(self) -> str:
        return gettext("%(sheet)s, row %(row)d, %(column)s: %(message)s", sheet=self.sheet, row=self.row,
                       column=self.column, message=str(self.message))


@dataclass
class SheetInfo:
    name: str
    rows: int
    layout: str  # "model", "gcloud" or "unknown"
    columns: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    templates: list[QuestionnaireTemplate]
    warnings: list[RowProblem]


def _refuse(problems: list[RowProblem], message=None) -> ValidationFailed:
    errors = [p for p in problems if not p.is_warning]
    exc = ValidationFailed(
        message or _l("The file was not imported: %(n)d problems, listed by row. Nothing was saved.", n=len(errors)),
        code="invalid_template_file", fields={"rows": [p.as_dict() for p in errors[:PROBLEM_LIMIT]]})
    exc.problems = errors
    return exc


def _file_error(message) -> ValidationFailed:
    return ValidationFailed(message, code="invalid_template_file", fields={"file": message})


# Text repair -------------------------------------------------------------------------------

def _to_cp1252_bytes(text: str) -> bytes | None:
    out = bytearray()
    for ch in text:
        try:
            out += ch.encode("cp1252")
        except UnicodeEncodeError:
            if ord(ch) < 256:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: undefined in 1252, kept as Latin-1
                out.append(ord(ch))
            else:
                return None
    return bytes(out)


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 text that was decoded as Windows-1252 (`â€™` → `’`, `Â£` → `£`).

    Only sequences that decode as valid UTF-8 are replaced, so correct accented text
    (`Società`) is left alone.
    """
    def fix(match: re.Match) -> str:
        raw = _to_cp1252_bytes(match.group(0))
        if raw is None:
            return match.group(0)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return match.group(0)

    return _MOJIBAKE.sub(fix, text) if text else text


def tidy_text(value: Any, *, multiline: bool = False) -> str | None:
    """A cell's text repaired and with its whitespace tidied; empty becomes None."""
    if value is None:
        return None
    text = repair_mojibake(str(value)).replace("\u00a0", " ").replace("\r\n", "\n").replace("\r", "\n")
    if multiline:
        lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    else:
        text = " ".join(text.split())
    return text.strip() or None


# Reading -------------------------------------------------------------------------------------

def _open(path: Path):
    path = Path(path)
    check_workbook(path)
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception:  # a zip that passed the gate but is not a workbook openpyxl understands
        raise _file_error(_l("This file is not an .xlsx workbook openpyxl can read.")) from None


def _rows(sheet) -> Iterable[tuple[int, tuple]]:
    sheet.reset_dimensions()
    for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        yield number, tuple(unquote_imported(v) for v in row)


def _header_names(row: tuple) -> list[str]:
    return [" ".join(str(v).split()).lower() if v is not None else "" for v in row]


def _layout(header: list[str]) -> str:
    names = set(header)
    if {"section", "question", "type"} <= names:
        return "model"
    if {"question", "question type", "section name"} <= names:
        return "gcloud"
    return "unknown"


def inspect_workbook(path: Path) -> list[SheetInfo]:
    """The sheets of a workbook: name, data rows (non-empty rows below the header) and layout."""
    workbook = _open(path)
    try:
        sheets = []
        for sheet in workbook.worksheets:
            header: list[str] = []
            count = 0
            for number, row in _rows(sheet):
                if number == 1:
                    header = _header_names(row)
                elif any(v not in (None, "") for v in row):
                    count += 1
            sheets.append(SheetInfo(sheet.title, count, _layout(header), [h for h in header if h]))
        return sheets
    finally:
        workbook.close()


def detect_layout(sheets: list[SheetInfo]) -> str:
    layouts = {s.layout for s in sheets}
    if any(s.layout == "model" and s.name == QUESTIONS_SHEET for s in sheets) or layouts == {"model"}:
        return "model"
    if "gcloud" in layouts:
        return "gcloud"
    return "model" if "model" in layouts else "unknown"


# The model format: reading -----------------------------------------------------------------

def _split(value: Any) -> list[str]:
    if value is None:
        return []
    return [part.strip() for part in str(value).split("|") if part.strip()]


def _type_from_cell(value: Any) -> QuestionType | None:
    text = " ".join(str(value or "").split()).lower()
    if not text:
        return None
    try:
        return QuestionType(text)
    except ValueError:
        pass
    if text in _ENGLISH_TYPE_LABELS:
        return _ENGLISH_TYPE_LABELS[text]
    for kind, label in QUESTION_TYPE_LABELS.items():
        if str(label).lower() == text:
            return kind
    return None


def _boolean(value: Any) -> bool | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if isinstance(value, (int, float)):
        text = "1" if value == 1 else "0" if value == 0 else text
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _number_text(value: Any) -> str:
    """A number as the model file writes it: no exponent, no trailing zeros."""
    number = Decimal(str(value))
    text = format(number.normalize(), "f")
    return text


def _parse_decimal(text: str) -> Decimal:
    number = Decimal(text.strip().replace(",", "."))
    if not number.is_finite():
        raise InvalidOperation
    return number


def _parse_band(text: str) -> tuple[Decimal | None, Decimal | None] | None:
    match = _BAND.match(text)
    if not match or (match.group("min") is None and match.group("max") is None):
        return None
    low, high = match.group("min"), match.group("max")
    return (_parse_decimal(low) if low else None, _parse_decimal(high) if high else None)


def _parse_options(kind: QuestionType, cells: dict, problems: list[RowProblem], sheet: str, row: int) -> list | None:
    def problem(column, message):
        problems.append(RowProblem(sheet, row, column, message))

    labels = _split(cells.get("options"))
    scores_raw = _split(cells.get("scores"))
    knockouts = {k.lower() for k in _split(cells.get("knockout"))}
    if not labels:
        if kind == QuestionType.YES_NO:
            labels = [o["label"] for o in templates.YES_NO_OPTIONS]
        elif kind == QuestionType.SCALE:
            labels = [o["label"] for o in templates.SCALE_OPTIONS]
        else:
            return []  # clean_question says what is missing
    scores: list[Decimal | None] = []
    for text in scores_raw:
        try:
            scores.append(_parse_decimal(text))
        except (InvalidOperation, ValueError):
            problem("scores", _l("“%(text)s” is not a number.", text=text))
            return None
    if scores_raw and len(scores) != len(labels):
        problem("scores", _l("Give one score per option (%(n)d options).", n=len(labels)))
        return None
    options = []
    for position, label in enumerate(labels):
        value = None
        match = _OPTION_VALUE.match(label)
        if match:
            label, value = match.group("label").strip(), match.group("value").strip()
        if value is None:
            if kind == QuestionType.YES_NO and position < 2:
                value = ("yes", "no")[position]
            elif kind == QuestionType.SCALE and not cells.get("options"):
                value = templates.SCALE_OPTIONS[position]["value"]
            else:
                value = label
        default_score = None
        if not scores_raw:
            default_score = next((o["score"] for o in templates.YES_NO_OPTIONS if o["value"] == value), None) \
                if kind == QuestionType.YES_NO else (position + 1 if kind == QuestionType.SCALE else 0)
        options.append({"value": value, "label": label,
                        "score": scores[position] if scores_raw else default_score,
                        "knockout": label.lower() in knockouts or value.lower() in knockouts})
    unknown = knockouts - {o["label"].lower() for o in options} - {o["value"].lower() for o in options}
    if unknown:
        problem("knockout", _l("Not an option of this question: %(values)s.", values=", ".join(sorted(unknown))))
        return None
    return options


def _parse_bands(cells: dict, problems: list[RowProblem], sheet: str, row: int) -> dict | None:
    scores = _split(cells.get("scores"))
    knockouts = _split(cells.get("knockout"))
    if not scores:
        if knockouts:
            problems.append(RowProblem(sheet, row, "knockout",
                                       _l("Write the bands in the scores column first.")))
        return None
    bands = []
    for text in scores:
        band_text, colon, score_text = text.rpartition(":")
        try:
            bounds = _parse_band(band_text) if colon else None
            score = _parse_decimal(score_text) if colon else None
        except (InvalidOperation, ValueError):
            bounds = None
        if bounds is None or score is None:
            problems.append(RowProblem(sheet, row, "scores",
                                       _l("Write each band as min-max:score, e.g. %(example)s.",
                                          example="0-10:1 | 10-:5")))
            return None
        bands.append({"min": bounds[0], "max": bounds[1], "score": score, "knockout": False})
    for text in knockouts:
        try:
            bounds = _parse_band(text)
        except (InvalidOperation, ValueError):
            bounds = None
        match = next((b for b in bands if bounds is not None and (b["min"], b["max"]) == bounds), None)
        if match is None:
            problems.append(RowProblem(sheet, row, "knockout",
                                       _l("“%(text)s” is not one of the bands in the scores column.", text=text)))
            return None
        match["knockout"] = True
    return {"bands": bands}


def _parse_condition(value: Any, problems: list[RowProblem], sheet: str, row: int) -> tuple[str | None, list[str]]:
    text = tidy_text(value)
    if not text:
        return None, []
    key, equals, values = text.partition("=")
    if not equals or not key.strip() or not _split(values):
        problems.append(RowProblem(sheet, row, "condition", _l("Write the condition as KEY = value | value.")))
        return None, []
    return key.strip(), _split(values)


def _model_question_values(cells: dict, problems: list[RowProblem], sheet: str, row: int) -> dict | None:
    """The row's cells as the values `clean_question` takes; None if a cell cannot be read."""
    before = len(problems)
    kind = _type_from_cell(cells.get("type"))
    if kind is None:
        problems.append(RowProblem(sheet, row, "type", _l("Choose a question type, e.g. %(codes)s.",
                                                          codes=", ".join(t.value for t in QuestionType))))
        return None
    required = _boolean(cells.get("required"))
    if required is None:
        problems.append(RowProblem(sheet, row, "required", _l("Write yes or no.")))
    values: dict[str, Any] = {
        "type": kind.value, "text": cells.get("question"), "help_text": cells.get("help"),
        "key": _text(cells.get("key")), "weight": cells.get("weight"), "required": required,
        "unit": _text(cells.get("unit")), "min_value": cells.get("min"), "max_value": cells.get("max"),
        "max_files": cells.get("max_files"),
    }
    if kind in OPTION_TYPES:
        values["options"] = _parse_options(kind, cells, problems, sheet, row)
    elif kind == QuestionType.NUMBER:
        values["scoring"] = _parse_bands(cells, problems, sheet, row)
    else:
        for column in ("options", "scores", "knockout"):
            if _text(cells.get(column)):
                problems.append(RowProblem(sheet, row, column,
                                           _l("Only choice, scale, yes/no and number questions take this.")))
    if kind == QuestionType.FILE and isinstance(cells.get("max_files"), float):
        values["max_files"] = int(cells["max_files"]) if cells["max_files"].is_integer() else "x"
    values["condition_key"], values["condition_values"] = _parse_condition(cells.get("condition"), problems,
                                                                           sheet, row)
    return None if len(problems) > before else values


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def _read_template_sheet(workbook, problems: list[RowProblem]) -> tuple[dict, dict]:
    """The Template sheet's values by field code, and the row each was found on."""
    values: dict[str, Any] = {}
    rows: dict[str, int] = {}
    if TEMPLATE_SHEET not in workbook.sheetnames:
        return values, rows
    by_label = {code: code for code in TEMPLATE_FIELDS}
    by_label.update({str(label).lower(): code for code, label in TEMPLATE_FIELDS.items()})
    with_english = {"name": "name", "description": "description", "title": "title", "introduction": "introduction",
                    "pass mark": "pass_mark", "conditional pass from": "conditional_mark",
                    "validity (months)": "validity_months"}
    by_label.update(with_english)
    for number, row in _rows(workbook[TEMPLATE_SHEET]):
        if not row or row[0] is None:
            continue
        label = " ".join(str(row[0]).split()).lower()
        code = by_label.get(label)
        if code is None:
            if number > 1:  # the first row may be a heading
                problems.append(RowProblem(TEMPLATE_SHEET, number, "A", _l("Unknown field: %(name)s.",
                                                                           name=str(row[0])[:60])))
            continue
        value = row[1] if len(row) > 1 else None
        if value not in (None, ""):
            values[code], rows[code] = value, number
    return values, rows


#: Marks and validity of a template whose file does not give them.
TEMPLATE_DEFAULTS = {"pass_mark": 70, "conditional_mark": 50, "validity_months": 12}


def _template_problems(values: dict, rows: dict | None = None) -> list[RowProblem]:
    """What `create_template` would refuse in the template's values (reused, not repeated:
    the version fields go through the same check)."""
    rows = rows or {}
    problems = []
    name = tidy_text(values.get("name"))
    if not name:
        problems.append(RowProblem(TEMPLATE_SHEET, rows.get("name", 0), "name", _l("Give the template a name.")))
    elif len(name) > 200:
        problems.append(RowProblem(TEMPLATE_SHEET, rows.get("name", 0), "name",
                                   _l("Use at most %(n)d characters.", n=200)))
    try:
        templates._clean_version_fields({**values, "title": values.get("title") or values.get("name")})
    except ValidationFailed as exc:
        problems.extend(RowProblem(TEMPLATE_SHEET, rows.get(key, 0), key, message) for key, message in exc.fields.items())
    return problems


@dataclass
class _PlannedQuestion:
    sheet: str
    row: int
    values: dict
    #: G-Cloud follow-up rules of this row: (target row, answer labels).
    rules: list = field(default_factory=list)


@dataclass
class _PlannedSection:
    title: str
    description: str | None
    questions: list[_PlannedQuestion] = field(default_factory=list)


@dataclass
class _PlannedTemplate:
    values: dict
    sections: list[_PlannedSection] = field(default_factory=list)
    #: Template sheet: field code → row number, for the problems.
    rows: dict = field(default_factory=dict)

    def question_count(self) -> int:
        return sum(len(s.questions) for s in self.sections)


def _check_plan(plan: _PlannedTemplate, problems: list[RowProblem]) -> None:
    """Run every question through `clean_question` against a version built in memory only
    (never added to the session), so that conditions see the questions before them."""
    shadow = TemplateVersion(title="check", number=1)
    keys: dict[str, int] = {}
    for planned_section in plan.sections:
        section = Section(title=planned_section.title, position=len(shadow.sections) + 1)
        shadow.sections.append(section)
        if not planned_section.title or len(planned_section.title) > 300:
            row = planned_section.questions[0].row if planned_section.questions else 0
            sheet = planned_section.questions[0].sheet if planned_section.questions else QUESTIONS_SHEET
            problems.append(RowProblem(sheet, row, "section",
                                       _l("Give the section a title of at most %(n)d characters.", n=300)))
        for planned in planned_section.questions:
            try:
                cleaned = templates.clean_question(planned.values, shadow)
            except ValidationFailed as exc:
                for name, message in exc.fields.items():
                    problems.append(RowProblem(planned.sheet, planned.row, _FIELD_COLUMNS.get(name, name), message))
                continue
            if cleaned["key"]:
                if cleaned["key"] in keys:
                    problems.append(RowProblem(planned.sheet, planned.row, "key",
                                               _l("Row %(row)d already has this key.", row=keys[cleaned["key"]])))
                    continue
                keys[cleaned["key"]] = planned.row
            section.questions.append(Question(position=len(section.questions) + 1, **cleaned))


def _write_plan(plan: _PlannedTemplate, actor) -> QuestionnaireTemplate:
    template = templates.create_template(plan.values, actor)
    version = template.versions[0]
    for planned_section in plan.sections:
        section = templates.add_section(version, planned_section.title, planned_section.description, actor)
        for planned in planned_section.questions:
            templates.add_question(section, planned.values, actor)
    return template


def _read_model_plan(workbook, problems: list[RowProblem], name: str | None) -> _PlannedTemplate:
    if QUESTIONS_SHEET in workbook.sheetnames:
        sheet = workbook[QUESTIONS_SHEET]
    else:
        sheet = next((s for s in workbook.worksheets if s.title not in (TEMPLATE_SHEET, INSTRUCTIONS_SHEET)), None)
    if sheet is None:
        raise _file_error(_l("The workbook has no sheet of questions."))
    template_values, template_rows = _read_template_sheet(workbook, problems)
    if name:
        template_values["name"] = name
    plan = _PlannedTemplate({**TEMPLATE_DEFAULTS, **template_values})
    plan.rows = template_rows
    columns: dict[str, int] = {}
    current: _PlannedSection | None = None
    count = 0
    for number, row in _rows(sheet):
        if number == 1:
            header = _header_names(row)
            duplicates = sorted({h for h in header if h and header.count(h) > 1})
            if duplicates:
                raise _file_error(_l("These columns appear twice: %(names)s.", names=", ".join(duplicates)))
            columns = {h: i for i, h in enumerate(header) if h in MODEL_COLUMNS}
            missing = [c for c in REQUIRED_MODEL_COLUMNS if c not in columns]
            if missing:
                raise _file_error(_l("The first row of sheet %(sheet)s must name the columns; missing: %(names)s.",
                                     sheet=sheet.title, names=", ".join(missing)))
            continue
        if not any(v not in (None, "") for v in row):
            continue
        count += 1
        if count > MAX_QUESTION_ROWS:
            raise _file_error(_l("The file has more than %(n)d questions; split it.", n=MAX_QUESTION_ROWS))
        cells = {name: (row[i] if i < len(row) else None) for name, i in columns.items()}
        for column in ("section", "question", "help", "section_description"):
            if isinstance(cells.get(column), str):
                cells[column] = cells[column].replace("\r\n", "\n")
        title = tidy_text(cells.get("section"))
        if current is None or (title and title != current.title):
            if not title:
                problems.append(RowProblem(sheet.title, number, "section", _l("Name the section of the first row.")))
                title = ""
            current = _PlannedSection(title, _text(cells.get("section_description")))
            plan.sections.append(current)
        values = _model_question_values(cells, problems, sheet.title, number)
        if values is not None:
            current.questions.append(_PlannedQuestion(sheet.title, number, values))
    if count == 0:
        raise _file_error(_l("The sheet %(sheet)s has no questions under its header.", sheet=sheet.title))
    return plan


def import_model_workbook(path: Path, actor, *, name: str | None = None) -> QuestionnaireTemplate:
    """Create a template (draft version 1) from a model-format workbook; all or nothing."""
    workbook = _open(path)
    try:
        problems: list[RowProblem] = []
        plan = _read_model_plan(workbook, problems, name)
    finally:
        workbook.close()
    problems.extend(_template_problems(plan.values, plan.rows))
    _check_plan(plan, problems)
    if any(not p.is_warning for p in problems):
        raise _refuse(problems)
    return _write_plan(plan, actor)


# G-Cloud-style files -------------------------------------------------------------------------

@dataclass
class _MappedRow:
    sheet: str
    row: int
    section: str | None
    section_description: str | None
    text: str | None
    help: str | None
    kind: QuestionType | None
    is_group: bool
    options: list[str]
    rules: list[tuple[int, list[str]]]
    required: bool


def _mapped_rows(sheet, mapping: dict, problems: list[RowProblem]) -> list[_MappedRow]:
    columns = {field_: (header.lower() if header else None) for field_, header in mapping["columns"].items()}
    prefix = mapping["answer_prefix"].lower()
    rule_prefix = (mapping.get("rule_prefix") or "").lower() or None
    types = {k.lower(): QuestionType(v) for k, v in mapping["types"].items()}
    groups = {g.lower() for g in mapping["group_types"]}
    index: dict[str, int] = {}
    answers: list[int] = []
    rows = []
    for number, row in _rows(sheet):
        if number == 1:
            header = _header_names(row)
            index = {f: header.index(h) for f, h in columns.items() if h and h in header}
            answers = [i for i, h in enumerate(header)
                       if h.startswith(prefix) or (rule_prefix and h.startswith(rule_prefix))]
            missing = [mapping["columns"][f] for f in ("question", "type") if f not in index]
            if missing:
                raise _file_error(_l("Sheet %(sheet)s has no column %(names)s.", sheet=sheet.title,
                                     names=", ".join(missing)))
            continue

        def cell(name, multiline=False):
            i = index.get(name)
            return tidy_text(row[i], multiline=multiline) if i is not None and i < len(row) else None

        if not any(v not in (None, "") for v in row):
            continue
        type_word = (cell("type") or "").lower()
        is_group = type_word in groups
        kind = types.get(type_word)
        if kind is None and not is_group:
            problems.append(RowProblem(sheet.title, number, mapping["columns"]["type"],
                                       _l("Unknown question type “%(word)s”.", word=cell("type") or "")))
        options, rules = [], []
        for i in answers:
            value = row[i] if i < len(row) else None
            text = tidy_text(value)
            if not text:
                continue
            rule = _RULE.match(text)
            if rule:
                targets = [v.strip() for v in re.findall(r"'((?:[^']|'(?!,\s*'|$))*)'", rule.group("values"))]
                rules.append((int(rule.group("row")), [t for t in targets if t]))
            else:
                options.append(text)
        required = True
        if "required" in index:
            required = _boolean(row[index["required"]] if index["required"] < len(row) else None) is not False
        help_parts = [cell("advice", True), cell("hint", True)]
        text, summary = cell("question", True) or cell("summary", True), cell("summary")
        if text and len(text) > templates.MAX_QUESTION_TEXT:
            # Too long for a question: the summary asks it and the full text explains it.
            help_parts.insert(0, text)
            text = summary if summary and len(summary) <= templates.MAX_QUESTION_TEXT else text[:200] + "…"
            problems.append(RowProblem(sheet.title, number, mapping["columns"]["question"],
                                       _l("The question is longer than %(n)d characters: its summary is the "
                                          "question and its text the help.", n=templates.MAX_QUESTION_TEXT),
                                       is_warning=True))
        help_text = "\n\n".join(p for p in help_parts if p) or None
        if help_text and len(help_text) > templates.MAX_HELP_TEXT:
            help_text = help_text[:templates.MAX_HELP_TEXT - 1] + "…"
            problems.append(RowProblem(sheet.title, number, mapping["columns"]["advice"],
                                       _l("The help was shortened to %(n)d characters.", n=templates.MAX_HELP_TEXT),
                                       is_warning=True))
        rows.append(_MappedRow(sheet.title, number, cell("section"), cell("section_description", True), text,
                               help_text, kind, is_group, options, rules, required))
    return rows


def _option_list(row: _MappedRow, warnings: list[RowProblem]) -> list[dict]:
    seen, labels, dropped = set(), [], []
    for label in row.options:
        if len(label) > 500:
            label = label[:499] + "…"
            warnings.append(RowProblem(row.sheet, row.row, "answers", _l("An answer was shortened to 500 characters."),
                                       is_warning=True))
        if label.lower() in seen:
            dropped.append(label)
            continue
        seen.add(label.lower())
        labels.append(label)
    if dropped:
        warnings.append(RowProblem(row.sheet, row.row, "answers",
                                   _l("Repeated answers removed: %(labels)s.",
                                      labels="; ".join(d[:60] for d in dropped)), is_warning=True))
    options, values = [], set()
    for label in labels:
        value = label if len(label) <= 120 else label[:115].rstrip()
        n = 1
        while value.lower() in values:
            n += 1
            value = f"{label[:110].rstrip()} #{n}"
        values.add(value.lower())
        options.append({"value": value, "label": label, "score": 0, "knockout": False})
    return options


def _plan_sheet_questions(rows: list[_MappedRow], sheet_title: str | None, plan: _PlannedTemplate,
                          counter: list[int], problems: list[RowProblem]) -> None:
    """Add the questions of one sheet's rows to `plan`, keyed Q1, Q2… across the plan."""
    by_row: dict[int, list[_PlannedQuestion]] = {}
    section: _PlannedSection | None = None
    current_title = None
    # Group rows heading the questions below; a group row straight after another (no question
    # between) opens a group inside it, and its questions belong to both.
    groups: list[_MappedRow] = []
    group_has_questions = False
    for row in rows:
        title = row.section or (current_title or gettext("Questions"))
        if section is None or title != current_title:
            current_title = title
            full = f"{sheet_title} — {title}" if sheet_title else title
            section = _PlannedSection(full[:300], row.section_description)
            plan.sections.append(section)
            groups, group_has_questions = [], False
        if row.is_group:
            groups = [*groups, row] if groups and not group_has_questions else [row]
            group_has_questions = False
            by_row.setdefault(row.row, [])
            if row.rules or row.options:
                problems.append(RowProblem(row.sheet, row.row, "answers",
                                           _l("A group row has no answers of its own; they were ignored."),
                                           is_warning=True))
            continue
        if row.kind is None:
            continue
        if not row.text:
            problems.append(RowProblem(row.sheet, row.row, "question", _l("No question text: the row was skipped."),
                                       is_warning=True))
            continue
        kind = row.kind
        help_text = "\n\n".join(p for p in (*(g.text for g in groups), row.help) if p) or None
        options = _option_list(row, problems) if kind in OPTION_TYPES else None
        if kind == QuestionType.YES_NO:
            options = [dict(o) for o in templates.YES_NO_OPTIONS]
            labels = [o for o in row.options if o.lower() not in ("yes", "no")]
            if labels:
                problems.append(RowProblem(row.sheet, row.row, "answers", _l("Yes/no answers other than yes and no "
                                           "were ignored: %(labels)s.", labels="; ".join(labels)), is_warning=True))
        elif kind == QuestionType.MULTIPLE_CHOICE and len(options) == 1:
            kind, options = QuestionType.YES_NO, [dict(o) for o in templates.YES_NO_OPTIONS]
            problems.append(RowProblem(row.sheet, row.row, "answers",
                                       _l("A single checkbox became a yes/no question."), is_warning=True))
        elif kind in OPTION_TYPES and (len(options) > templates.MAX_OPTIONS or len(options) < 2):
            listed = "\n".join(f"- {o['label']}" for o in options)
            help_text = "\n\n".join(p for p in (help_text, listed) if p)
            if len(help_text) > templates.MAX_HELP_TEXT:
                help_text = help_text[:templates.MAX_HELP_TEXT - 1] + "…"
            problems.append(RowProblem(row.sheet, row.row, "answers",
                                       _l("%(n)d answers cannot be a choice (2 to %(max)d): imported as long "
                                          "text with the answers in its help.", n=len(options),
                                          max=templates.MAX_OPTIONS), is_warning=True))
            kind, options = QuestionType.LONG_TEXT, None
        elif kind not in OPTION_TYPES and row.options:
            help_text = "\n\n".join(p for p in (help_text, "\n".join(row.options)) if p)
        if help_text and len(help_text) > templates.MAX_HELP_TEXT:
            help_text = help_text[:templates.MAX_HELP_TEXT - 1] + "…"
        counter[0] += 1
        values = {"key": f"Q{counter[0]}", "text": row.text, "help_text": help_text, "type": kind.value,
                  "required": row.required, "weight": 1 if kind in OPTION_TYPES else 0, "options": options,
                  "max_files": 1 if kind == QuestionType.FILE else None}
        planned = _PlannedQuestion(row.sheet, row.row, values, row.rules if kind in OPTION_TYPES else [])
        if row.rules and kind not in OPTION_TYPES:
            problems.append(RowProblem(row.sheet, row.row, "answers", _l("Its follow-up rules were dropped."),
                                       is_warning=True))
        section.questions.append(planned)
        by_row[row.row] = [planned]
        group_has_questions = True
        for group in groups:
            by_row[group.row].append(planned)
    _apply_rules(by_row, problems)


def _apply_rules(by_row: dict[int, list[_PlannedQuestion]], problems: list[RowProblem]) -> None:
    """Turn "'X' [row N] if answer is any of 'A'" rules into conditions on the questions of row N."""
    for source_row, planned in sorted(by_row.items()):
        if not planned or planned[0].row != source_row or not planned[0].rules:
            continue
        source = planned[0]
        by_label = {o["label"].lower(): o["value"] for o in source.values["options"] or ()}
        for target_row, labels in source.rules:
            wanted = [by_label.get(label.lower()) for label in labels]
            targets = [t for t in by_row.get(target_row, []) if t.row > source.row]
            if None in wanted or not targets:
                problems.append(RowProblem(source.sheet, source.row, "answers",
                                           _l("The follow-up rule for row %(row)d could not be kept.", row=target_row),
                                           is_warning=True))
                continue
            for target in targets:
                if target.values.get("condition_key") == source.values["key"]:
                    # Several rules of one question onto the same follow-up: any of their answers.
                    merged = target.values["condition_values"] + wanted
                    target.values["condition_values"] = list(dict.fromkeys(merged))
                    continue
                if target.values.get("condition_key"):
                    problems.append(RowProblem(target.sheet, target.row, "answers",
                                               _l("Already shown depending on %(key)s; the rule of row %(row)d was "
                                                  "not added.", key=target.values["condition_key"], row=source.row),
                                               is_warning=True))
                    continue
                target.values["condition_key"] = source.values["key"]
                target.values["condition_values"] = wanted


def import_mapped_workbook(path: Path, actor, *, mapping: dict | None = None, sheets: list[str] | None = None,
                           mode: str = "templates", name: str | None = None) -> ImportResult:
    """Create templates from a G-Cloud-style workbook: one per chosen sheet (`mode="templates"`)
    or one with every chosen sheet's sections (`mode="sections"`, named `name`)."""
    mapping = mapping or GCLOUD_MAPPING
    if mode not in ("sections", "templates"):
        raise _file_error(_l("Choose how to import the sheets."))
    workbook = _open(path)
    problems: list[RowProblem] = []
    try:
        available = workbook.sheetnames
        chosen = list(sheets) if sheets else list(available)
        unknown = [s for s in chosen if s not in available]
        if unknown:
            raise ValidationFailed(_l("The workbook has no sheet %(names)s.", names=", ".join(unknown)),
                                   code="invalid_template_file", fields={"sheets": _l("Choose sheets of the file.")})
        read = [(s, _mapped_rows(workbook[s], mapping, problems)) for s in chosen]
    finally:
        workbook.close()
    if sum(1 for _, rows in read for r in rows if not r.is_group) > MAX_QUESTION_ROWS:
        raise _file_error(_l("The file has more than %(n)d questions; split it.", n=MAX_QUESTION_ROWS))
    defaults = TEMPLATE_DEFAULTS
    plans = []
    if mode == "sections":
        plan = _PlannedTemplate({"name": tidy_text(name) or chosen[0], **defaults})
        counter = [0]
        for sheet, rows in read:
            _plan_sheet_questions(rows, sheet if len(read) > 1 else None, plan, counter, problems)
        plans.append(plan)
    else:
        for sheet, rows in read:
            plan = _PlannedTemplate({"name": tidy_text(sheet), **defaults})
            _plan_sheet_questions(rows, None, plan, [0], problems)
            plans.append(plan)
    for plan in plans:
        if plan.question_count() == 0:
            problems.append(RowProblem(str(plan.values["name"]), 0, "question", _l("No questions to import.")))
        problems.extend(_template_problems(plan.values))
        _check_plan(plan, problems)
    if any(not p.is_warning for p in problems):
        raise _refuse(problems)
    created = [_write_plan(plan, actor) for plan in plans]
    return ImportResult(created, [p for p in problems if p.is_warning])


def import_workbook(path: Path, actor, *, name: str | None = None, sheets: list[str] | None = None,
                    mode: str = "templates") -> ImportResult:
    """Import a workbook of either layout (for the API): the model format, or G-Cloud-style."""
    layout = detect_layout(inspect_workbook(path))
    if layout == "model":
        return ImportResult([import_model_workbook(path, actor, name=name)], [])
    if layout == "gcloud":
        return import_mapped_workbook(path, actor, mapping=GCLOUD_MAPPING, sheets=sheets, mode=mode, name=name)
    raise _file_error(_l("The columns of this workbook are not recognised: use the model file."))


# Writing the model format ------------------------------------------------------------------

_HEADER_FILL = PatternFill("solid", fgColor="1F3A5F")
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_WIDTHS = {"section": 28, "section_description": 30, "key": 12, "question": 50, "help": 36, "type": 16,
           "options": 36, "scores": 20, "knockout": 18, "weight": 8, "required": 9, "unit": 8, "min": 8,
           "max": 8, "max_files": 9, "condition": 22}


def _header(sheet, names: list[str], widths: dict[str, int]) -> None:
    sheet.append(names)
    for i, name in enumerate(names, start=1):
        cell = sheet.cell(row=1, column=i)
        cell.fill, cell.font = _HEADER_FILL, _HEADER_FONT
        sheet.column_dimensions[get_column_letter(i)].width = widths.get(name, 14)
    sheet.freeze_panes = "A2"


def _option_text(kind: QuestionType, option: dict, position: int) -> str:
    label, value = str(option.get("label") or ""), str(option.get("value"))
    implied = label
    if kind == QuestionType.YES_NO and position < 2:
        implied = ("yes", "no")[position]
    return label if value == implied else f"{label} {{{value}}}"


def _band_text(band: dict) -> str:
    low = "" if band.get("min") is None else _number_text(band["min"])
    high = "" if band.get("max") is None else _number_text(band["max"])
    return f"{low}-{high}"


def _question_cells(question: Question) -> list:
    kind = question.kind
    options = scores = knockout = None
    if kind in OPTION_TYPES and question.options:
        options = " | ".join(_option_text(kind, o, i) for i, o in enumerate(question.options))
        scores = " | ".join(_number_text(o.get("score") or 0) for o in question.options)
        knockout = " | ".join(o["label"] for o in question.options if o.get("knockout")) or None
    elif kind == QuestionType.NUMBER and question.scoring:
        bands = question.scoring.get("bands", [])
        scores = " | ".join(f"{_band_text(b)}:{_number_text(b['score'])}" for b in bands)
        knockout = " | ".join(_band_text(b) for b in bands if b.get("knockout")) or None
    condition = None
    if question.condition_key:
        condition = f"{question.condition_key} = {' | '.join(question.condition_values or [])}"

    def number(value):
        return None if value is None else float(value) if Decimal(value) % 1 else int(value)

    return [question.key, question.text, question.help_text, kind.value, options, scores, knockout,
            number(question.weight), "yes" if question.required else "no", question.unit,
            number(question.min_value), number(question.max_value), question.max_files, condition]


def _write_template_sheet(workbook, values: dict) -> None:
    sheet = workbook.create_sheet(TEMPLATE_SHEET)
    _header(sheet, ["field", "value", "label"], {"field": 20, "value": 50, "label": 30})
    for code, label in TEMPLATE_FIELDS.items():
        value = values.get(code)
        if isinstance(value, Decimal):
            value = float(value) if value % 1 else int(value)
        sheet.append([code, safe_cell(value), safe_cell(str(label))])


def _write_instructions(workbook) -> None:
    sheet = workbook.create_sheet(INSTRUCTIONS_SHEET)
    sheet.column_dimensions["A"].width = 20
    sheet.column_dimensions["B"].width = 100
    lines = [
        ("", gettext("One row per question, in the order the supplier sees them. Rows with the same "
                     "section name in a row make one section. The sheet Template holds the name, the "
                     "marks and the validity.")),
        ("section", gettext("Section title (required). The description is taken from the first row of the "
                            "section.")),
        ("key", gettext("Short stable reference (letters, digits, . _ -), unique in the file. Empty: Q1, Q2…")),
        ("question", gettext("The question (required).")),
        ("type", gettext("One of: %(codes)s (or their names, e.g. Yes / no, Single choice).",
                         codes=", ".join(t.value for t in QuestionType))),
        ("options", gettext("Choice questions: the answers separated by |, e.g. Yes | No | Partly. Yes/no: the "
                            "labels of yes and no. Scale: leave empty for 1–5. An answer whose stored value "
                            "differs from its text is written Text {value}.")),
        ("scores", gettext("One number per answer, separated by |, in the same order (e.g. 1 | 0 | 0.5). "
                           "Number questions: scoring bands min-max:score separated by |, each bound optional, "
                           "the lower bound included and the upper one not, e.g. -10:0 | 10-50:2 | 50-:5.")),
        ("knockout", gettext("The answers (texts) that knock the questionnaire out, separated by |. Number "
                             "questions: the bands that do, written as in scores without the score, e.g. -10.")),
        ("weight", gettext("Weight in the score, 0 to 1000 (0: asked, not scored). Empty: 1.")),
        ("required", gettext("yes or no (also sì/no, true/false, 1/0). Empty: yes.")),
        ("unit, min, max", gettext("Number questions: the unit and the accepted range.")),
        ("max_files", gettext("File questions: how many files may be attached (1 to 10).")),
        ("condition", gettext("Shown only when an earlier question has one of these answers: KEY = value | "
                              "value (the answers' values, e.g. Q1 = yes).")),
    ]
    sheet.append([gettext("Column"), gettext("How to fill it in")])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column, text in lines:
        sheet.append([column, safe_cell(text)])
    for row in sheet.iter_rows(min_row=2):
        row[1].alignment = Alignment(wrap_text=True, vertical="top")


def _model_workbook(rows: list[list], template_values: dict) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = QUESTIONS_SHEET
    _header(sheet, list(MODEL_COLUMNS), _WIDTHS)
    for row in rows:
        sheet.append([safe_cell(v) for v in row])
    _write_template_sheet(workbook, template_values)
    _write_instructions(workbook)
    stream = io.BytesIO()
    workbook.save(stream)
    return stream.getvalue()


def export_model_workbook(version: TemplateVersion) -> bytes:
    """The version in the model format: importing the file gives the same template."""
    rows = []
    for section in version.sections:
        for position, question in enumerate(section.questions):
            rows.append([section.title, section.description if position == 0 else None,
                         *_question_cells(question)])
        if not section.questions:
            rows.append([section.title, section.description, *[None] * (len(MODEL_COLUMNS) - 2)])
    template = version.template
    values = {"name": template.name, "description": template.description, "title": version.title,
              "introduction": version.introduction, "pass_mark": version.pass_mark,
              "conditional_mark": version.conditional_mark, "validity_months": version.validity_months}
    return _model_workbook(rows, values)


def model_workbook() -> bytes:
    """A blank model file: the header, one example row per type, the Template sheet and the
    instructions in the current language. It imports as it is."""
    section_a, section_b = gettext("General information"), gettext("Quality and evidence")
    rows = [
        [section_a, gettext("About the company."), "Q1", gettext("Is the company ISO 9001 certified?"), None,
         "yes_no", "Yes | No", "1 | 0", None, 2, "yes", None, None, None, None, None],
        [section_a, None, "Q2", gettext("What kind of company are you?"), None, "single_choice",
         gettext("Carrier | Freight forwarder | Warehouse"), "1 | 1 | 0.5", None, 1, "yes", None, None, None, None,
         None],
        [section_a, None, "Q3", gettext("Which services do you offer?"), gettext("Tick all that apply."),
         "multiple_choice", gettext("Road | Rail | Sea | Air"), "1 | 1 | 1 | 1", None, 1, "no", None, None, None,
         None, None],
        [section_a, None, "Q4", gettext("Company name"), None, "short_text", None, None, None, 0, "yes", None, None,
         None, None, None],
        [section_b, gettext("How quality is managed."), "Q5", gettext("How do you rate your complaint handling?"),
         gettext("1 = poor, 5 = excellent."), "scale", None, None, None, 1, "yes", None, None, None, None, None],
        [section_b, None, "Q6", gettext("Lost shipments per 1,000 last year"), None, "number", None,
         "0-1:5 | 1-5:2 | 5-:0", "5-", 3, "yes", "‰", 0, 1000, None, None],
        [section_b, None, "Q7", gettext("Describe your corrective action process."), None, "long_text", None,
         None, None, 0, "no", None, None, None, None, None],
        [section_b, None, "Q8", gettext("Expiry date of the certificate"), None, "date", None, None, None, 0, "yes",
         None, None, None, None, "Q1 = yes"],
        [section_b, None, "Q9", gettext("Upload the ISO 9001 certificate"), None, "file", None, None, None, 0,
         "yes", None, None, None, 2, "Q1 = yes"],
    ]
    values = {"name": gettext("Supplier qualification"), "title": gettext("Supplier qualification"),
              "pass_mark": 70, "conditional_mark": 50, "validity_months": 12}
    return _model_workbook(rows, values)
