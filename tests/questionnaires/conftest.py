"""Fixtures of the questionnaires tests: the carrier questionnaire whose scores the tests
work out by hand, published, and a helper that sends it to a supplier."""
from __future__ import annotations

import datetime as dt

import pytest

from app.db import db, unit_of_work
from questionnaires.services import assignments as assignment_service
from questionnaires.services import templates as template_service
from suppliers import services as supplier_services

#: The carrier questionnaire: (section, [question values]). Weights, scores and the condition
#: are chosen so that the scores in test_scoring.py can be checked with pencil and paper.
CARRIER_QUESTIONNAIRE = [
    ("Company", [
        {"key": "iso9001", "type": "yes_no", "text": "Are you ISO 9001 certified?", "weight": 2, "required": True},
        {"key": "insurance", "type": "single_choice", "text": "Goods-in-transit insurance cover", "weight": 3,
         "required": True, "options": [
             {"value": "none", "label": "None", "score": 0, "knockout": True},
             {"value": "low", "label": "Up to €1M", "score": 1},
             {"value": "high", "label": "Over €1M", "score": 2}]},
        {"key": "on_time", "type": "number", "text": "On-time deliveries last year", "weight": 1, "required": True,
         "unit": "%", "min_value": 0, "max_value": 100,
         "scoring": {"bands": [{"min": None, "max": 90, "score": 0}, {"min": 90, "max": 95, "score": 1},
                               {"min": 95, "max": None, "score": 2}]}},
    ]),
    ("Operations", [
        {"key": "subcontracts", "type": "yes_no", "text": "Do you subcontract deliveries?", "weight": 0,
         "required": True},
        {"key": "controls", "type": "multiple_choice", "text": "How do you control your subcontractors?",
         "weight": 2, "required": True, "condition_key": "subcontracts", "condition_values": ["yes"],
         "options": [{"value": "audit", "label": "Audits", "score": 1},
                     {"value": "contract", "label": "Contract clauses", "score": 1},
                     {"value": "kpi", "label": "KPI reviews", "score": 2}]},
        {"key": "tracking", "type": "scale", "text": "How complete is your parcel tracking?", "weight": 1,
         "required": True},
        {"key": "incidents", "type": "long_text", "text": "Describe how you handle a lost parcel.", "weight": 0,
         "required": False},
        {"key": "certificate", "type": "file", "text": "Attach your ISO 9001 certificate.", "weight": 1,
         "required": False, "max_files": 2},
    ]),
]


def build_questionnaire(actor=None, *, publish: bool = True, name: str = "Carrier qualification"):
    template = template_service.create_template(
        {"name": name, "title": name, "pass_mark": 70, "conditional_mark": 50, "validity_months": 12}, actor)
    version = template.versions[0]
    for title, questions in CARRIER_QUESTIONNAIRE:
        section = template_service.add_section(version, title, None, actor)
        for values in questions:
            template_service.add_question(section, dict(values), actor)
    if publish:
        template_service.publish(version, actor)
    db.session.commit()
    return version


@pytest.fixture
def carrier_questionnaire(app_ctx):
    """The published carrier questionnaire (its TemplateVersion)."""
    return build_questionnaire()


@pytest.fixture
def send_questionnaire(app_ctx, factories):
    """send(version, supplier=None, **kw) → (assignment, secret): sends through the service, as
    the quality office's page does, to a supplier with a contact that has an e-mail address."""

    def send(version, supplier=None, *, due_date=None, actor=None, language="en", message=None):
        if supplier is None:
            supplier = factories.supplier()
            supplier_services.add_contact(supplier, {"name": "Giulia Verdi", "email": "giulia@carrier.example",
                                                     "is_primary": True}, None)
            db.session.commit()
        today = dt.date.today()
        with unit_of_work():
            assignment = assignment_service.send_assignment(
                version, supplier, due_date or today + dt.timedelta(days=14), actor, today=today,
                message=message, language=language)
        secret = assignment_service.portal_url(assignment).rsplit("/", 1)[1]
        return assignment, secret

    return send
