"""Scores of the carrier questionnaire (tests/questionnaires/conftest.py), worked out by hand.

Weights: Company — iso9001 2, insurance 3, on_time 1 (6 in all); Operations — controls 2
(only when subcontracts = yes), tracking 1, certificate 1; subcontracts and incidents weigh 0.
"""
from decimal import Decimal

from questionnaires.services import scoring


def _values(version, **answers):
    by_key = {q.key: q.id for q in version.questions()}
    return {by_key[key]: value for key, value in answers.items()}


def _files(version, **counts):
    by_key = {q.key: q.id for q in version.questions()}
    return {by_key[key]: n for key, n in counts.items()}


def test_conditional_question_shown_counts_with_its_weight(carrier_questionnaire):
    version = carrier_questionnaire
    card = scoring.score(version, _values(version, iso9001="yes", insurance="low", on_time="93",
                                          subcontracts="yes", controls=["audit", "kpi"], tracking="4"))
    company, operations = card.sections
    # Company: yes 2×1 + low 3×(1/2) + 93 % in the 90–95 band 1×(1/2) = 4 of 6.
    assert company.points == Decimal("4") and company.weight == Decimal("6")
    assert company.score == Decimal("66.67")
    # Operations: audit+kpi 2×(3/4) = 1.5 + tracking 4 of 5 = 0.8 + no certificate 0 → 2.3 of 4.
    assert operations.score == Decimal("57.50")
    # Overall 6.3 of 10.
    assert card.score == Decimal("63.00")
    assert card.result == scoring.CONDITIONAL
    assert card.knockouts == [] and card.missing == []


def test_hidden_conditional_question_does_not_count(carrier_questionnaire):
    version = carrier_questionnaire
    card = scoring.score(version, _values(version, iso9001="yes", insurance="low", on_time="93",
                                          subcontracts="no", controls=["audit"], tracking="4"),
                         _files(version, certificate=1))
    controls = card.for_question(next(q.id for q in version.questions() if q.key == "controls"))
    assert not controls.shown and not controls.counted and not controls.missing
    # Operations: tracking 0.8 + certificate 1 = 1.8 of 2; overall 5.8 of 8.
    assert card.sections[1].score == Decimal("90.00")
    assert card.score == Decimal("72.50")
    assert card.result == scoring.PASS


def test_knock_out_fails_whatever_the_score(carrier_questionnaire):
    version = carrier_questionnaire
    card = scoring.score(version, _values(version, iso9001="yes", insurance="none", on_time="99",
                                          subcontracts="no", tracking="5"), _files(version, certificate=1))
    # 2 + 0 + 1 + 1 + 1 = 5 of 8 = 62.5, but "no insurance" is a knock-out.
    assert card.score == Decimal("62.50")
    assert [q.question.key for q in card.knockouts] == ["insurance"]
    assert card.result == scoring.KNOCKED_OUT


def test_unanswered_required_questions_are_missing_and_score_zero(carrier_questionnaire):
    version = carrier_questionnaire
    card = scoring.score(version, _values(version, iso9001="no", subcontracts="yes"))
    assert sorted(q.question.key for q in card.missing) == ["controls", "insurance", "on_time", "tracking"]
    assert card.score == Decimal("0.00")
    assert card.result == scoring.FAIL


def test_number_below_every_band_and_multiple_choice_capped(carrier_questionnaire):
    version = carrier_questionnaire
    card = scoring.score(version, _values(version, iso9001="no", insurance="high", on_time="80",
                                          subcontracts="yes", controls=["audit", "contract", "kpi"], tracking="1"))
    # Company: 0 + 3 + 0 = 3 of 6; Operations: 2×(4/4) + 1×(1/5) = 2.2 of 4; overall 5.2 of 10.
    assert card.sections[0].score == Decimal("50.00")
    assert card.sections[1].score == Decimal("55.00")
    assert card.score == Decimal("52.00")
    assert card.result == scoring.CONDITIONAL
