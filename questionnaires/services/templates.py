"""Templates and their versions: build, reorder, publish, and make a new draft from a published
version. Every rule about what a valid question is lives here (`clean_question`), so the
builder pages, the .xlsx import and the API refuse the same things with the same words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.changelog import attribute_changes
from app.db import db, utcnow
from app.errors import Conflict, ValidationFailed
from app.pagination import Page, keyset_page
from questionnaires.models import (
    OPTION_TYPES,
    Assignment,
    Question,
    QuestionnaireTemplate,
    QuestionType,
    Section,
    TemplateVersion,
    VersionStatus,
)
from suppliers.services import clean_text

MAX_QUESTION_TEXT = 4000
MAX_HELP_TEXT = 4000
MAX_OPTIONS = 60
MAX_FILES_LIMIT = 10
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,59}$")

#: Default options of the types whose options are fixed.
YES_NO_OPTIONS = [
    {"value": "yes", "label": "Yes", "score": 1, "knockout": False},
    {"value": "no", "label": "No", "score": 0, "knockout": False},
]
SCALE_OPTIONS = [{"value": str(n), "label": str(n), "score": n, "knockout": False} for n in range(1, 6)]


def _decimal(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise InvalidOperation
    number = Decimal(str(value).strip().replace(",", ".")) if isinstance(value, str) else Decimal(str(value))
    if not number.is_finite():
        raise InvalidOperation
    return number


def _number_or_error(values: dict, name: str, errors: dict, *, minimum: Decimal | None = None,
                     maximum: Decimal | None = None) -> Decimal | None:
    try:
        number = _decimal(values.get(name))
    except (InvalidOperation, ValueError):
        errors[name] = _l("Enter a number.")
        return None
    if number is None:
        return None
    if minimum is not None and number < minimum:
        errors[name] = _l("Enter a number of at least %(n)s.", n=minimum)
    elif maximum is not None and number > maximum:
        errors[name] = _l("Enter a number of at most %(n)s.", n=maximum)
    return number


def _clean_options(kind: QuestionType, raw: Any, errors: dict) -> list[dict] | None:
    """Options as stored: value (unique), label, score (≥ 0), knockout."""
    if kind not in OPTION_TYPES:
        return None
    if raw in (None, "", []) and kind == QuestionType.YES_NO:
        return [dict(o) for o in YES_NO_OPTIONS]
    if raw in (None, "", []) and kind == QuestionType.SCALE:
        return [dict(o) for o in SCALE_OPTIONS]
    if not isinstance(raw, list) or not raw:
        errors["options"] = _l("Give at least two options.")
        return None
    options: list[dict] = []
    seen: set[str] = set()
    for position, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            errors["options"] = _l("Option %(n)d is not valid.", n=position)
            return None
        label = clean_text(item.get("label"))
        value = clean_text(item.get("value")) or label
        if not label:
            errors["options"] = _l("Option %(n)d has no text.", n=position)
            return None
        if len(label) > 500 or len(value) > 120:
            errors["options"] = _l("Option %(n)d is too long.", n=position)
            return None
        if value.lower() in seen:
            errors["options"] = _l("Two options are the same: %(value)s.", value=value)
            return None
        seen.add(value.lower())
        try:
            score = _decimal(item.get("score"))
        except (InvalidOperation, ValueError):
            errors["options"] = _l("The score of option %(n)d is not a number.", n=position)
            return None
        if score is not None and score < 0:
            errors["options"] = _l("The score of option %(n)d may not be negative.", n=position)
            return None
        options.append({"value": value, "label": label, "score": float(score or 0),
                        "knockout": bool(item.get("knockout"))})
    if len(options) < 2:
        errors["options"] = _l("Give at least two options.")
    elif len(options) > MAX_OPTIONS:
        errors["options"] = _l("Use at most %(n)d options.", n=MAX_OPTIONS)
    if kind == QuestionType.YES_NO and {o["value"] for o in options} != {"yes", "no"}:
        errors["options"] = _l("A yes/no question has exactly the options yes and no.")
    return options


def _clean_scoring(kind: QuestionType, raw: Any, errors: dict) -> dict | None:
    """Number bands: min inclusive, max exclusive, either may be open; scores ≥ 0."""
    if kind != QuestionType.NUMBER or not raw:
        return None
    bands_raw = raw.get("bands") if isinstance(raw, dict) else None
    if not isinstance(bands_raw, list) or not bands_raw:
        errors["scoring"] = _l("Give at least one scoring band.")
        return None
    bands = []
    for position, band in enumerate(bands_raw, start=1):
        try:
            low, high, score = _decimal(band.get("min")), _decimal(band.get("max")), _decimal(band.get("score"))
        except (InvalidOperation, ValueError, AttributeError):
            errors["scoring"] = _l("Band %(n)d is not valid.", n=position)
            return None
        if low is not None and high is not None and low >= high:
            errors["scoring"] = _l("Band %(n)d: the lower bound must be below the upper one.", n=position)
            return None
        if score is None or score < 0:
            errors["scoring"] = _l("Band %(n)d needs a score of at least 0.", n=position)
            return None
        bands.append({"min": None if low is None else float(low), "max": None if high is None else float(high),
                      "score": float(score), "knockout": bool(band.get("knockout"))})
    return {"bands": bands}


def clean_question(values: dict, version: TemplateVersion, question: Question | None = None,
                   section: Section | None = None) -> dict:
    """Check a question's fields; return them ready to set, or raise ValidationFailed naming
    the fields at fault. `values` keys are the Question column names.

    `question` is the question being changed; `section` the one a new question is added to
    (at its end). A condition may only refer to a question before that place; with neither,
    every question already in the version counts as before (an import adds in order)."""
    errors: dict[str, Any] = {}
    cleaned: dict[str, Any] = {}
    try:
        kind = QuestionType(values.get("type"))
    except ValueError:
        kind = None
        errors["type"] = _l("Choose a question type.")
    text = clean_text(values.get("text"), multiline=True)
    if not text:
        errors["text"] = _l("Write the question.")
    elif len(text) > MAX_QUESTION_TEXT:
        errors["text"] = _l("Use at most %(n)d characters.", n=MAX_QUESTION_TEXT)
    help_text = clean_text(values.get("help_text"), multiline=True)
    if help_text and len(help_text) > MAX_HELP_TEXT:
        errors["help_text"] = _l("Use at most %(n)d characters.", n=MAX_HELP_TEXT)
    key = clean_text(values.get("key"))
    if key and not _KEY.match(key):
        errors["key"] = _l("Use letters, digits, dots, dashes and underscores (at most 60).")
    weight = _number_or_error(values, "weight", errors, minimum=Decimal(0), maximum=Decimal(1000))
    cleaned.update(text=text, help_text=help_text, key=key, required=bool(values.get("required")),
                   weight=Decimal(1) if weight is None and "weight" not in errors else weight)
    if kind is not None:
        cleaned["type"] = kind.value
        cleaned["options"] = _clean_options(kind, values.get("options"), errors)
        cleaned["scoring"] = _clean_scoring(kind, values.get("scoring"), errors)
        cleaned["unit"] = cleaned["min_value"] = cleaned["max_value"] = cleaned["max_files"] = None
        if kind == QuestionType.NUMBER:
            unit = clean_text(values.get("unit"))
            if unit and len(unit) > 40:
                errors["unit"] = _l("Use at most %(n)d characters.", n=40)
            low = _number_or_error(values, "min_value", errors)
            high = _number_or_error(values, "max_value", errors)
            if low is not None and high is not None and low > high:
                errors["max_value"] = _l("The maximum must not be below the minimum.")
            cleaned.update(unit=unit, min_value=low, max_value=high)
        if kind == QuestionType.FILE:
            try:
                max_files = int(values.get("max_files") or 1)
            except (TypeError, ValueError):
                max_files = 0
            if not 1 <= max_files <= MAX_FILES_LIMIT:
                errors["max_files"] = _l("Allow 1 to %(n)d files.", n=MAX_FILES_LIMIT)
            cleaned["max_files"] = max_files
    # A condition refers to an option question before this one in the same version.
    condition_key = clean_text(values.get("condition_key"))
    condition_values = values.get("condition_values") or []
    if isinstance(condition_values, str):
        condition_values = [v.strip() for v in condition_values.split("|") if v.strip()]
    cleaned["condition_key"] = condition_key
    cleaned["condition_values"] = [str(v) for v in condition_values] if condition_key else None
    if condition_key:
        target = next((q for q in questions_before(version, question, section) if q.key == condition_key), None)
        if target is None:
            errors["condition_key"] = _l("No earlier question has the key %(key)s.", key=condition_key)
        elif target.kind not in OPTION_TYPES:
            errors["condition_key"] = _l("A condition must refer to a yes/no, choice or scale question.")
        elif not cleaned["condition_values"]:
            errors["condition_values"] = _l("Give the answers that show this question.")
        else:
            known = {o["value"] for o in target.options or ()}
            unknown = [v for v in cleaned["condition_values"] if v not in known]
            if unknown:
                errors["condition_values"] = _l("Not an answer of %(key)s: %(values)s.", key=condition_key,
                                                values=", ".join(unknown))
    if errors:
        raise ValidationFailed(_l("The question was not saved."), code="invalid_question", fields=errors)
    return cleaned


def questions_before(version: TemplateVersion, question: Question | None, section: Section | None) -> list[Question]:
    """The questions a supplier sees before `question`, or before the end of `section`."""
    ordered = version.questions()
    if question is not None and question in ordered:
        return ordered[:ordered.index(question)]
    if section is not None:
        return [q for s in version.sections if s.position <= section.position for q in s.questions]
    return ordered


def _question_by_key(version: TemplateVersion, key: str) -> Question | None:
    return next((q for q in version.questions() if q.key == key), None)


def _require_draft(version: TemplateVersion) -> None:
    if version.is_frozen:
        raise Conflict(_l("This version is published and frozen: edit a new draft instead."), code="version_frozen")


def _clean_version_fields(values: dict) -> dict:
    errors: dict[str, Any] = {}
    title = clean_text(values.get("title"))
    if not title:
        errors["title"] = _l("Give the questionnaire a title.")
    elif len(title) > 200:
        errors["title"] = _l("Use at most %(n)d characters.", n=200)
    pass_mark = _number_or_error(values, "pass_mark", errors, minimum=Decimal(0), maximum=Decimal(100))
    conditional = _number_or_error(values, "conditional_mark", errors, minimum=Decimal(0), maximum=Decimal(100))
    if pass_mark is None and "pass_mark" not in errors:
        errors["pass_mark"] = _l("Give the pass mark.")
    if conditional is None and "conditional_mark" not in errors:
        conditional = pass_mark
    if pass_mark is not None and conditional is not None and conditional > pass_mark:
        errors["conditional_mark"] = _l("The conditional pass must start at or below the pass mark.")
    try:
        validity = int(values.get("validity_months") or 0)
    except (TypeError, ValueError):
        validity = 0
    if not 1 <= validity <= 120:
        errors["validity_months"] = _l("A qualification holds for 1 to 120 months.")
    if errors:
        raise ValidationFailed(_l("The questionnaire was not saved."), code="invalid_template", fields=errors)
    return {"title": title, "introduction": clean_text(values.get("introduction"), multiline=True),
            "pass_mark": pass_mark, "conditional_mark": conditional, "validity_months": validity}


def create_template(values: dict, actor) -> QuestionnaireTemplate:
    """A new template with its first (draft) version. `values`: name, description and the
    version fields (title defaults to the name, pass_mark, conditional_mark, validity_months)."""
    name = clean_text(values.get("name"))
    version_values = {"title": values.get("title") or name, **{k: v for k, v in values.items() if k != "title"}}
    errors: dict[str, Any] = {}
    if not name:
        errors["name"] = _l("Give the template a name.")
    elif len(name) > 200:
        errors["name"] = _l("Use at most %(n)d characters.", n=200)
    try:
        fields = _clean_version_fields(version_values)
    except ValidationFailed as exc:
        errors.update(exc.fields)
        fields = {}
    if errors:
        raise ValidationFailed(_l("The questionnaire was not saved."), code="invalid_template", fields=errors)
    attribute_changes(actor)
    template = QuestionnaireTemplate(name=name, description=clean_text(values.get("description"), multiline=True),
                                     created_by_id=getattr(actor, "id", None))
    template.versions.append(TemplateVersion(number=1, created_by_id=getattr(actor, "id", None), **fields))
    db.session.add(template)
    db.session.flush()
    return template


def build_template(values: dict, actor) -> QuestionnaireTemplate:
    """A new template whose draft version 1 holds `values["sections"]`, each with its
    `questions` (the values of add_section and add_question). Every part is checked; if any is
    invalid, ValidationFailed names them all, as `sections.<i>.title` or
    `sections.<i>.questions.<j>.<field>` (counted from 0), and the caller's unit of work
    rolls back whatever was flushed: all or nothing."""
    template = create_template({k: v for k, v in values.items() if k != "sections"}, actor)
    version = template.versions[0]
    errors: dict[str, Any] = {}
    for i, section_values in enumerate(values.get("sections") or []):
        try:
            section = add_section(version, section_values.get("title"), section_values.get("description"), actor)
        except ValidationFailed as exc:
            errors.update({f"sections.{i}.{name}": message for name, message in exc.fields.items()})
            continue
        for j, question_values in enumerate(section_values.get("questions") or []):
            try:
                add_question(section, question_values, actor)
            except ValidationFailed as exc:
                errors.update({f"sections.{i}.questions.{j}.{name}": message for name, message in exc.fields.items()})
    if errors:
        raise ValidationFailed(_l("The questionnaire was not saved."), code="invalid_template", fields=errors)
    return template


def update_version(version: TemplateVersion, values: dict, actor) -> TemplateVersion:
    _require_draft(version)
    fields = _clean_version_fields(values)
    attribute_changes(actor)
    for name, value in fields.items():
        setattr(version, name, value)
    db.session.flush()
    return version


def add_section(version: TemplateVersion, title: str, description: str | None, actor) -> Section:
    _require_draft(version)
    title = clean_text(title)
    if not title or len(title) > 300:
        raise ValidationFailed(_l("The section was not saved."), code="invalid_section",
                               fields={"title": _l("Give the section a title of at most %(n)d characters.", n=300)})
    section = Section(title=title, description=clean_text(description, multiline=True),
                      position=len(version.sections) + 1)
    version.sections.append(section)
    db.session.flush()
    return section


def update_section(section: Section, title: str, description: str | None, actor) -> Section:
    _require_draft(section.version)
    title = clean_text(title)
    if not title or len(title) > 300:
        raise ValidationFailed(_l("The section was not saved."), code="invalid_section",
                               fields={"title": _l("Give the section a title of at most %(n)d characters.", n=300)})
    section.title, section.description = title, clean_text(description, multiline=True)
    db.session.flush()
    return section


def _next_key(version: TemplateVersion) -> str:
    taken = {q.key for q in version.questions()}
    n = len(taken) + 1
    while f"Q{n}" in taken:
        n += 1
    return f"Q{n}"


def add_question(section: Section, values: dict, actor) -> Question:
    version = section.version
    _require_draft(version)
    cleaned = clean_question(values, version, section=section)
    if not cleaned["key"]:
        cleaned["key"] = _next_key(version)
    elif _question_by_key(version, cleaned["key"]) is not None:
        raise ValidationFailed(_l("The question was not saved."), code="invalid_question",
                               fields={"key": _l("Another question already has this key.")})
    question = Question(version_id=version.id, position=len(section.questions) + 1, **cleaned)
    section.questions.append(question)
    db.session.flush()
    return question


def update_question(question: Question, values: dict, actor) -> Question:
    version = question.section.version
    _require_draft(version)
    cleaned = clean_question(values, version, question)
    if not cleaned["key"]:
        cleaned["key"] = question.key
    other = _question_by_key(version, cleaned["key"])
    if other is not None and other.id != question.id:
        raise ValidationFailed(_l("The question was not saved."), code="invalid_question",
                               fields={"key": _l("Another question already has this key.")})
    dependants = [q for q in version.questions() if q.condition_key == question.key and q.id != question.id]
    if dependants and cleaned["key"] != question.key:
        for dependant in dependants:
            dependant.condition_key = cleaned["key"]
    for name, value in cleaned.items():
        setattr(question, name, value)
    db.session.flush()
    return question


def remove_question(question: Question, actor) -> None:
    section = question.section
    _require_draft(section.version)
    dependants = [q.key for q in section.version.questions() if q.condition_key == question.key]
    if dependants:
        raise Conflict(_l("Questions %(keys)s are shown depending on this one: change them first.",
                          keys=", ".join(dependants)), code="question_in_use")
    section.questions.remove(question)
    db.session.flush()
    _renumber(section.questions)


def remove_section(section: Section, actor) -> None:
    version = section.version
    _require_draft(version)
    keys = {q.key for q in section.questions}
    dependants = [q.key for q in version.questions() if q.condition_key in keys and q.key not in keys]
    if dependants:
        raise Conflict(_l("Questions %(keys)s are shown depending on this section: change them first.",
                          keys=", ".join(dependants)), code="section_in_use")
    version.sections.remove(section)
    db.session.flush()
    _renumber(version.sections)


def _renumber(items: list) -> None:
    """Give `items` positions 1..n in their list order without tripping the unique
    (parent, position) constraint midway: first move them out of the way, then in place."""
    for offset, item in enumerate(items, start=1):
        item.position = -offset
    db.session.flush()
    for position, item in enumerate(items, start=1):
        item.position = position
    db.session.flush()


def move_section(section: Section, direction: int, actor) -> None:
    """Move a section one place up (-1) or down (+1)."""
    version = section.version
    _require_draft(version)
    sections = list(version.sections)
    index = sections.index(section)
    target = index + (1 if direction > 0 else -1)
    if not 0 <= target < len(sections):
        return
    sections[index], sections[target] = sections[target], sections[index]
    _renumber(sections)
    db.session.expire(version, ["sections"])


def move_question(question: Question, direction: int, actor) -> None:
    """Move a question one place up or down; past a section's edge it moves into the next section.

    A question may not move above the question its condition refers to, nor a question that
    depends on it below it: the supplier must see the answer that decides before the question.
    """
    section = question.section
    version = section.version
    _require_draft(version)
    questions = list(section.questions)
    position = questions.index(question)
    sections = list(version.sections)
    section_index = sections.index(section)
    direction = 1 if direction > 0 else -1
    # Only a swap inside the section changes the order the supplier sees; crossing into the
    # neighbouring section keeps every question where it was relative to the others.
    if 0 <= position + direction < len(questions):
        other = questions[position + direction]
        if (direction < 0 and question.condition_key == other.key) or (direction > 0 and other.condition_key == question.key):
            raise Conflict(_l("A question cannot come before the question that decides whether it is shown."),
                           code="condition_order")
    if 0 <= position + direction < len(questions):
        questions[position], questions[position + direction] = questions[position + direction], questions[position]
        _renumber(questions)
    elif 0 <= section_index + direction < len(sections):
        # Cross into the neighbouring section: last of the one above, first of the one below.
        neighbour = sections[section_index + direction]
        others = list(neighbour.questions)
        # Park the question at 0, a position neither section uses (nor _renumber's -1..-n
        # placeholders), so that no step trips the unique (section, position) constraint.
        question.position = 0
        db.session.flush()
        questions.remove(question)
        _renumber(questions)
        question.section = neighbour
        db.session.flush()
        others = others + [question] if direction < 0 else [question] + others
        _renumber(others)
    db.session.expire(version)


def check_publishable(version: TemplateVersion) -> list[str]:
    """What stops a version from being published, in words; empty when it can be."""
    problems = []
    questions = version.questions()
    if not questions:
        problems.append(str(_l("The questionnaire has no questions.")))
    for section in version.sections:
        if not section.questions:
            problems.append(str(_l("Section “%(title)s” has no questions.", title=section.title)))
    if questions and not any(q.weight and q.weight > 0 for q in questions):
        problems.append(str(_l("No question carries a weight, so nothing would be scored.")))
    order = {q.key: i for i, q in enumerate(questions)}
    for question in questions:
        if question.condition_key and order.get(question.condition_key, len(questions)) >= order[question.key]:
            problems.append(str(_l("Question %(key)s is shown depending on a later question.", key=question.key)))
    return problems


def publish(version: TemplateVersion, actor) -> TemplateVersion:
    """Freeze a draft: it becomes the version new assignments are sent with. The previously
    published version is retired (assignments sent with it keep it)."""
    _require_draft(version)
    problems = check_publishable(version)
    if problems:
        raise ValidationFailed(_l("The questionnaire cannot be published yet."), code="not_publishable",
                               fields={"version": problems})
    attribute_changes(actor, str(_l("Published")))
    for other in version.template.versions:
        if other.status == VersionStatus.PUBLISHED:
            other.status = VersionStatus.RETIRED.value
    version.status = VersionStatus.PUBLISHED.value
    version.published_at = utcnow()
    version.published_by_id = getattr(actor, "id", None)
    db.session.flush()
    return version


def copy_version_content(source: TemplateVersion, target: TemplateVersion) -> None:
    """Copy sections and questions of `source` into the (empty, flushed) version `target`."""
    for section in source.sections:
        copy = Section(position=section.position, title=section.title, description=section.description)
        target.sections.append(copy)
        for question in section.questions:
            copy.questions.append(Question(
                version_id=target.id, position=question.position, key=question.key, text=question.text,
                help_text=question.help_text, type=question.type, required=question.required,
                weight=question.weight, options=[dict(o) for o in question.options] if question.options else None,
                scoring={"bands": [dict(b) for b in question.scoring["bands"]]} if question.scoring else None,
                unit=question.unit, min_value=question.min_value, max_value=question.max_value,
                max_files=question.max_files, condition_key=question.condition_key,
                condition_values=list(question.condition_values) if question.condition_values else None))


def new_draft(template: QuestionnaireTemplate, actor) -> TemplateVersion:
    """The draft to edit: the existing one, or a copy of the latest version numbered next."""
    existing = template.draft
    if existing is not None:
        return existing
    source = template.latest
    attribute_changes(actor, str(_l("New draft version")))
    number = (db.session.scalar(select(func.max(TemplateVersion.number))
                                .where(TemplateVersion.template_id == template.id)) or 0) + 1
    draft = TemplateVersion(
        number=number, title=source.title, introduction=source.introduction, pass_mark=source.pass_mark,
        conditional_mark=source.conditional_mark, validity_months=source.validity_months,
        created_by_id=getattr(actor, "id", None))
    template.versions.append(draft)
    db.session.flush()
    copy_version_content(source, draft)
    db.session.flush()
    return draft


def discard_draft(version: TemplateVersion, actor) -> None:
    """Drop a draft that was never published. A template's only version stays."""
    _require_draft(version)
    template = version.template
    if len(template.versions) == 1:
        raise Conflict(_l("This is the template's only version."), code="only_version")
    template.versions.remove(version)
    db.session.flush()


def templates_list(status: str | None = None) -> list[QuestionnaireTemplate]:
    stmt = select(QuestionnaireTemplate).order_by(QuestionnaireTemplate.name, QuestionnaireTemplate.id)
    if status == VersionStatus.PUBLISHED:
        stmt = stmt.where(QuestionnaireTemplate.versions.any(TemplateVersion.status == VersionStatus.PUBLISHED.value))
    return list(db.session.scalars(stmt))


@dataclass
class TemplateSummary:
    """A line of the template list: the template, its latest and published versions, how many
    questions the latest has and how many assignments were sent with any of its versions."""

    template: QuestionnaireTemplate
    questions: int
    assignments: int

    @property
    def latest(self) -> TemplateVersion | None:
        return self.template.latest

    @property
    def published(self) -> TemplateVersion | None:
        return self.template.published


def _templates_stmt(status: str | None):
    stmt = select(QuestionnaireTemplate).options(selectinload(QuestionnaireTemplate.versions))
    if status in (VersionStatus.PUBLISHED, VersionStatus.DRAFT):
        stmt = stmt.where(QuestionnaireTemplate.versions.any(TemplateVersion.status == str(status)))
    return stmt


def template_summaries(status: str | None = None) -> list[TemplateSummary]:
    """Every template (those with a version in `status`, draft or published, if given), by
    name, in three queries whatever their number."""
    templates = list(db.session.scalars(_templates_stmt(status).order_by(QuestionnaireTemplate.name,
                                                                         QuestionnaireTemplate.id)))
    latest_ids = [t.latest.id for t in templates if t.latest is not None]
    questions = dict(db.session.execute(
        select(Question.version_id, func.count()).where(Question.version_id.in_(latest_ids))
        .group_by(Question.version_id)).all()) if latest_ids else {}
    sent = assignments_by_version([v for t in templates for v in t.versions])
    return [TemplateSummary(t, questions.get(t.latest.id, 0) if t.latest else 0,
                            sum(sent.get(v.id, 0) for v in t.versions)) for t in templates]


def templates_page(status: str | None, cursor: str | None, limit: int) -> Page:
    """One page of templates by name (keyset); raises app.pagination.BadCursor."""
    return keyset_page(_templates_stmt(status), QuestionnaireTemplate.name, QuestionnaireTemplate.id,
                       descending=False, cursor=cursor, limit=limit)


def assignments_by_version(versions: list[TemplateVersion]) -> dict[int, int]:
    """version id → number of assignments sent with it (absent when none), in one query."""
    ids = [v.id for v in versions]
    if not ids:
        return {}
    return dict(db.session.execute(
        select(Assignment.version_id, func.count()).where(Assignment.version_id.in_(ids))
        .group_by(Assignment.version_id)).all())


def published_versions() -> list[TemplateVersion]:
    """Versions an assignment can be sent with, one per template."""
    return list(db.session.scalars(
        select(TemplateVersion).where(TemplateVersion.status == VersionStatus.PUBLISHED.value)
        .join(TemplateVersion.template).order_by(QuestionnaireTemplate.name)))


def assignments_count(version: TemplateVersion) -> int:
    return db.session.scalar(select(func.count()).select_from(Assignment)
                             .where(Assignment.version_id == version.id)) or 0
