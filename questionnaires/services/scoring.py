"""Scoring a questionnaire: per section and overall, weighted and normalised to 0–100.

The rules, in the order a reviewer would check them by hand:

- A question is **shown** when it has no condition, or when the question its condition names
  is shown and answered with one of the listed values. A question that was not shown does not
  count at all: not in the score, not as missing, not as a knock-out.
- A shown question **counts** when its weight is above 0 and its type can score it (a choice
  question whose options all score 0 cannot). It earns `weight × fraction`, where the fraction
  is the chosen option's score over the best option's score (multiple choice: the chosen
  scores over the sum of all scores, at most 1; number: its band's score over the best band's;
  other types: 1 when answered). Unanswered counted questions earn 0.
- A section's score is its earned points over its counted weights × 100; the overall score is
  all earned points over all counted weights × 100 — so a heavy question weighs the same
  wherever it sits. Scores are rounded half up to two decimals.
- A **knock-out** answer fails the questionnaire whatever the score. Otherwise the result is
  `pass` from the pass mark, `conditional` from the conditional mark, else `fail`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from questionnaires.models import Question, TemplateVersion
from questionnaires.services.question_types import kind_of

PASS, CONDITIONAL, FAIL, KNOCKED_OUT = "pass", "conditional", "fail", "knocked_out"
RESULTS = (PASS, CONDITIONAL, FAIL, KNOCKED_OUT)

_CENT = Decimal("0.01")


@dataclass
class QuestionScore:
    question: Question
    shown: bool
    answered: bool
    #: Whether it takes part in the score (shown, weighted and scorable).
    counted: bool = False
    weight: Decimal = Decimal(0)
    points: Decimal = Decimal(0)
    knocked_out: bool = False

    @property
    def missing(self) -> bool:
        """A required question that was shown and left unanswered."""
        return self.shown and self.question.required and not self.answered


@dataclass
class SectionScore:
    section: Any
    questions: list[QuestionScore] = field(default_factory=list)
    points: Decimal = Decimal(0)
    weight: Decimal = Decimal(0)

    @property
    def score(self) -> Decimal | None:
        return _percent(self.points, self.weight)


@dataclass
class Scorecard:
    version: TemplateVersion
    sections: list[SectionScore]
    points: Decimal
    weight: Decimal

    @property
    def score(self) -> Decimal | None:
        return _percent(self.points, self.weight)

    @property
    def knockouts(self) -> list[QuestionScore]:
        return [q for s in self.sections for q in s.questions if q.knocked_out]

    @property
    def missing(self) -> list[QuestionScore]:
        return [q for s in self.sections for q in s.questions if q.missing]

    @property
    def result(self) -> str:
        if self.knockouts:
            return KNOCKED_OUT
        score = self.score
        if score is None:
            return FAIL
        if score >= self.version.pass_mark:
            return PASS
        if score >= self.version.conditional_mark:
            return CONDITIONAL
        return FAIL

    def for_question(self, question_id: int) -> QuestionScore | None:
        return next((q for s in self.sections for q in s.questions if q.question.id == question_id), None)

    def shown_ids(self) -> set[int]:
        return {q.question.id for s in self.sections for q in s.questions if q.shown}


def _percent(points: Decimal, weight: Decimal) -> Decimal | None:
    if weight <= 0:
        return None
    return (points * 100 / weight).quantize(_CENT, rounding=ROUND_HALF_UP)


def shown_questions(version: TemplateVersion, values: dict[int, Any]) -> set[int]:
    """Ids of the questions shown for these answers (`values`: question id → stored value).
    Conditions refer to earlier questions, so one pass in order decides every question."""
    shown: set[int] = set()
    by_key: dict[str, Question] = {}
    for question in version.questions():
        by_key[question.key] = question
        if not question.condition_key:
            shown.add(question.id)
            continue
        target = by_key.get(question.condition_key)
        if target is not None and target.id in shown and \
                kind_of(target).matches(values.get(target.id), list(question.condition_values or ())):
            shown.add(question.id)
    return shown


def score(version: TemplateVersion, values: dict[int, Any], file_counts: dict[int, int] | None = None) -> Scorecard:
    """Score the answers `values` (question id → stored value) given to `version`;
    `file_counts` gives the number of files attached to each file question."""
    file_counts = file_counts or {}
    shown = shown_questions(version, values)
    sections = []
    total_points = total_weight = Decimal(0)
    for section in version.sections:
        section_score = SectionScore(section=section)
        for question in section.questions:
            kind = kind_of(question)
            value = values.get(question.id)
            files = file_counts.get(question.id, 0)
            is_shown = question.id in shown
            item = QuestionScore(question=question, shown=is_shown,
                                 answered=is_shown and kind.is_answered(value, files))
            if is_shown:
                item.knocked_out = item.answered and kind.knocks_out(question, value)
                weight = Decimal(question.weight or 0)
                fraction = kind.fraction(question, value if item.answered else None, files) if weight > 0 else None
                if fraction is not None:
                    item.counted, item.weight = True, weight
                    item.points = weight * Decimal(str(fraction))
                    section_score.points += item.points
                    section_score.weight += weight
            section_score.questions.append(item)
        total_points += section_score.points
        total_weight += section_score.weight
        sections.append(section_score)
    return Scorecard(version=version, sections=sections, points=total_points, weight=total_weight)
