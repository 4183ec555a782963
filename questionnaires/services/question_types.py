"""What each question type means for an answer: how the portal's form values become the stored
value, when a question counts as answered, how it scores, when it knocks the questionnaire out,
and how a condition on it is met. One small class per type in one registry (STYLE: pluggable
kinds), so the portal, the scoring and the exports never disagree about a type.

Stored values (Answer.value, JSON): yes_no, single_choice and scale hold the option's value
("yes"/"no" for yes_no); multiple_choice a list of option values; number a decimal string;
date an ISO date; the texts their text; file questions hold nothing (their files are rows).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l

from questionnaires.models import Question, QuestionType
from suppliers.services import clean_text

SHORT_TEXT_MAX = 500
LONG_TEXT_MAX = 10_000


class AnswerError(ValueError):
    """The supplier's input for one question cannot be stored; the message says why."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


class QuestionKind:
    code: QuestionType

    def parse(self, question: Question, raw: list[str]) -> Any:
        """Form values → stored value; None when left empty. Raises AnswerError."""
        text = clean_text(raw[0]) if raw else None
        return text

    def is_answered(self, value: Any, file_count: int = 0) -> bool:
        return value not in (None, "", [])

    def fraction(self, question: Question, value: Any, file_count: int = 0) -> float | None:
        """The share (0–1) of the question's weight earned; None when the type cannot score
        this question (it then does not count towards the total). Types without options earn
        the full weight for an answer: a weighted text or file question rewards giving it."""
        return 1.0 if self.is_answered(value, file_count) else 0.0

    def knocks_out(self, question: Question, value: Any) -> bool:
        return False

    def matches(self, value: Any, wanted: list[str]) -> bool:
        """Whether this answer meets a condition listing `wanted` values."""
        return False

    def display(self, question: Question, value: Any) -> str:
        return "" if value is None else str(value)


def _option(question: Question, value: Any) -> dict | None:
    return next((o for o in question.options or () if o.get("value") == value), None)


def _max_score(question: Question) -> float:
    return max((float(o.get("score") or 0) for o in question.options or ()), default=0.0)


class SingleOption(QuestionKind):
    """yes_no, single_choice and scale: one option."""

    def __init__(self, code: QuestionType):
        self.code = code

    def parse(self, question, raw):
        value = (raw[0] if raw else "").strip()
        if not value:
            return None
        if _option(question, value) is None:
            raise AnswerError(_l("Choose one of the listed answers."))
        return value

    def fraction(self, question, value, file_count=0):
        top = _max_score(question)
        if top <= 0:
            return None
        option = _option(question, value) if value is not None else None
        return float(option.get("score") or 0) / top if option else 0.0

    def knocks_out(self, question, value):
        option = _option(question, value) if value is not None else None
        return bool(option and option.get("knockout"))

    def matches(self, value, wanted):
        return value is not None and str(value) in wanted

    def display(self, question, value):
        return "" if value is None else question.option_label(value)


class MultipleOptions(QuestionKind):
    code = QuestionType.MULTIPLE_CHOICE

    def parse(self, question, raw):
        chosen = []
        for value in raw:
            value = value.strip()
            if not value or value in chosen:
                continue
            if _option(question, value) is None:
                raise AnswerError(_l("Choose among the listed answers."))
            chosen.append(value)
        # Kept in the options' order, whatever order the browser sent.
        order = [o["value"] for o in question.options or ()]
        return sorted(chosen, key=order.index) or None

    def fraction(self, question, value, file_count=0):
        total = sum(float(o.get("score") or 0) for o in question.options or ())
        if total <= 0:
            return None
        earned = sum(float((_option(question, v) or {}).get("score") or 0) for v in value or ())
        return min(earned / total, 1.0)

    def knocks_out(self, question, value):
        return any((_option(question, v) or {}).get("knockout") for v in value or ())

    def matches(self, value, wanted):
        return any(str(v) in wanted for v in value or ())

    def display(self, question, value):
        return "; ".join(question.option_label(v) for v in value or ())


class NumberKind(QuestionKind):
    code = QuestionType.NUMBER

    def parse(self, question, raw):
        text = (raw[0] if raw else "").strip().replace(" ", "")
        if not text:
            return None
        # Italian users write 1.234,5 and English ones 1,234.5: the last separator is the decimal one.
        if "," in text and "." in text:
            text = text.replace(".", "").replace(",", ".") if text.rfind(",") > text.rfind(".") \
                else text.replace(",", "")
        else:
            text = text.replace(",", ".")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise AnswerError(_l("Enter a number.")) from None
        if not number.is_finite() or abs(number) >= Decimal("1e15"):
            raise AnswerError(_l("Enter a number."))
        if question.min_value is not None and number < question.min_value:
            raise AnswerError(_l("Enter a number of at least %(n)s.", n=_plain(question.min_value)))
        if question.max_value is not None and number > question.max_value:
            raise AnswerError(_l("Enter a number of at most %(n)s.", n=_plain(question.max_value)))
        return _plain(number)

    def _band(self, question, value) -> dict | None:
        if value is None:
            return None
        number = float(Decimal(value))
        for band in (question.scoring or {}).get("bands", ()):
            if (band.get("min") is None or number >= band["min"]) and (band.get("max") is None or number < band["max"]):
                return band
        return None

    def fraction(self, question, value, file_count=0):
        bands = (question.scoring or {}).get("bands")
        if not bands:
            return super().fraction(question, value, file_count)
        top = max(float(b.get("score") or 0) for b in bands)
        if top <= 0:
            return None
        band = self._band(question, value)
        return float(band.get("score") or 0) / top if band else 0.0

    def knocks_out(self, question, value):
        band = self._band(question, value)
        return bool(band and band.get("knockout"))

    def display(self, question, value):
        if value is None:
            return ""
        return f"{value} {question.unit}" if question.unit else str(value)


def _plain(number: Decimal) -> str:
    text = format(Decimal(number).normalize(), "f")
    return text


class TextKind(QuestionKind):
    def __init__(self, code: QuestionType, limit: int, multiline: bool):
        self.code, self.limit, self.multiline = code, limit, multiline

    def parse(self, question, raw):
        text = clean_text(raw[0] if raw else None, multiline=self.multiline)
        if text and len(text) > self.limit:
            raise AnswerError(_l("Use at most %(n)d characters.", n=self.limit))
        return text


class DateKind(QuestionKind):
    code = QuestionType.DATE

    def parse(self, question, raw):
        text = (raw[0] if raw else "").strip()
        if not text:
            return None
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise AnswerError(_l("Enter a date as YYYY-MM-DD.")) from None
        if not 1900 <= day.year <= 2200:
            raise AnswerError(_l("Enter a date between 1900 and 2200."))
        return day.isoformat()


class FileKind(QuestionKind):
    """Answered by its uploaded files; the stored value stays empty."""

    code = QuestionType.FILE

    def parse(self, question, raw):
        return None

    def is_answered(self, value, file_count=0):
        return file_count > 0


KINDS: dict[QuestionType, QuestionKind] = {}


def register(kind: QuestionKind) -> None:
    if kind.code in KINDS:
        raise RuntimeError(f"question type {kind.code} registered twice")
    KINDS[kind.code] = kind


for _kind in (SingleOption(QuestionType.YES_NO), SingleOption(QuestionType.SINGLE_CHOICE),
              SingleOption(QuestionType.SCALE), MultipleOptions(), NumberKind(),
              TextKind(QuestionType.SHORT_TEXT, SHORT_TEXT_MAX, multiline=False),
              TextKind(QuestionType.LONG_TEXT, LONG_TEXT_MAX, multiline=True), DateKind(), FileKind()):
    register(_kind)

if set(KINDS) != set(QuestionType):  # every type needs its behaviour
    raise RuntimeError("question types without a kind: " + ", ".join(sorted(set(QuestionType) - set(KINDS))))


def kind_of(question: Question) -> QuestionKind:
    return KINDS[QuestionType(question.type)]
