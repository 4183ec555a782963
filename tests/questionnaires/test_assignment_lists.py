"""The assignment list: filters, keyset pages, and a bounded number of queries per page."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from app.db import db, unit_of_work
from app.pagination import BadCursor
from questionnaires.services import assignments as service
from questionnaires.services.assignment_lists import AssignmentFilters, assignments_of_supplier, list_assignments
from tests.app.test_queries import count_queries
from tests.questionnaires.conftest import build_questionnaire
from tests.questionnaires.test_assignments_service import FULL, _form

TODAY = dt.date.today()


@pytest.fixture
def rows(carrier_questionnaire, send_questionnaire):
    """Four assignments: waiting (due in 10 days), overdue (due 3 days ago, still open),
    submitted (also past its due date, but answered: not overdue), and one of another
    questionnaire for requalification, due in 40 days."""
    waiting, _ = send_questionnaire(carrier_questionnaire, due_date=TODAY + dt.timedelta(days=10))
    overdue, _ = send_questionnaire(carrier_questionnaire, due_date=TODAY + dt.timedelta(days=5))
    submitted, _ = send_questionnaire(carrier_questionnaire, due_date=TODAY + dt.timedelta(days=5))
    with unit_of_work():
        service.save_answers(submitted, _form(carrier_questionnaire, **FULL), submit=True)
    # Time passes: the due dates of the two are now behind us (the service refuses past ones).
    overdue.due_date = TODAY - dt.timedelta(days=3)
    submitted.due_date = TODAY - dt.timedelta(days=3)
    db.session.commit()
    other_version = build_questionnaire(name="Warehouse qualification")
    other, _ = send_questionnaire(other_version, due_date=TODAY + dt.timedelta(days=40))
    other.purpose = "requalification"
    db.session.commit()
    return {"waiting": waiting, "overdue": overdue, "submitted": submitted, "other": other}


def _ids(page):
    return [a.id for a in page.items]


def _names(rows, page):
    by_id = {a.id: name for name, a in rows.items()}
    return [by_id[i] for i in _ids(page)]


def test_filters_give_the_expected_rows(rows):
    everything = list_assignments(AssignmentFilters(), today=TODAY)
    assert _names(rows, everything) == ["other", "submitted", "overdue", "waiting"]  # newest first
    assert _names(rows, list_assignments(AssignmentFilters(statuses=["submitted"]), today=TODAY)) == ["submitted"]
    assert _names(rows, list_assignments(AssignmentFilters(statuses=["sent", "submitted"]), today=TODAY)) == \
        ["other", "submitted", "overdue", "waiting"]
    assert _names(rows, list_assignments(AssignmentFilters(overdue_only=True), today=TODAY)) == ["overdue"]
    code = rows["overdue"].supplier.code
    assert _names(rows, list_assignments(AssignmentFilters(supplier=code.lower()), today=TODAY)) == ["overdue"]
    by_id = AssignmentFilters(supplier=str(rows["waiting"].supplier_id))
    assert _names(rows, list_assignments(by_id, today=TODAY)) == ["waiting"]
    template_id = rows["other"].template_version.template_id
    assert _names(rows, list_assignments(AssignmentFilters(template_id=template_id), today=TODAY)) == ["other"]
    assert _names(rows, list_assignments(AssignmentFilters(purpose="requalification"), today=TODAY)) == ["other"]
    assert _names(rows, list_assignments(AssignmentFilters(purpose="initial"), today=TODAY)) == \
        ["submitted", "overdue", "waiting"]
    due_soon = AssignmentFilters(due_after=TODAY, due_before=TODAY + dt.timedelta(days=10))
    assert _names(rows, list_assignments(due_soon, today=TODAY)) == ["waiting"]
    assert _names(rows, list_assignments(AssignmentFilters(supplier="NOBODY"), today=TODAY)) == []


def test_pages_follow_the_cursor_by_due_date(rows):
    first = list_assignments(AssignmentFilters(), today=TODAY, sort="due", descending=False, limit=2)
    # Due dates: overdue and submitted (−3 days, by id), waiting (+10), other (+40).
    assert _names(rows, first) == ["overdue", "submitted"] and first.next_cursor
    second = list_assignments(AssignmentFilters(), today=TODAY, sort="due", descending=False, limit=2,
                              cursor=first.next_cursor)
    assert _names(rows, second) == ["waiting", "other"] and second.next_cursor is None
    with pytest.raises(BadCursor):
        list_assignments(AssignmentFilters(), today=TODAY, sort="due", cursor="garbage!")


def test_assignments_of_a_supplier(rows):
    supplier = rows["waiting"].supplier
    assert [a.id for a in assignments_of_supplier(supplier)] == [rows["waiting"].id]


def test_list_page_shows_the_filtered_rows(rows, login_as):
    client = login_as("viewer")
    html = client.get("/questionnaires/assignments?overdue=y").get_data(as_text=True)
    assert re.findall(r'data-assignment="(\d+)"', html) == [str(rows["overdue"].id)]
    row = re.search(r'data-assignment="\d+">.*?</tr>', html, re.S).group(0)
    assert "text-danger" in row and "overdue" in row and rows["overdue"].supplier.code in row
    html = client.get("/questionnaires/assignments?status=submitted").get_data(as_text=True)
    assert re.findall(r'data-assignment="(\d+)"', html) == [str(rows["submitted"].id)]
    row = re.search(r'data-assignment="\d+">.*?</tr>', html, re.S).group(0)
    assert "63.00" in row and "Conditional" in row and "score-conditional" in row
    # A garbled cursor or date is a clean answer, never a 500.
    assert client.get("/questionnaires/assignments?cursor=xyz").status_code == 400
    assert client.get("/questionnaires/assignments?due_before=notadate").status_code == 200


def test_list_queries_do_not_grow_with_the_page(app, carrier_questionnaire, send_questionnaire, login_as):
    client = login_as("viewer")
    for _ in range(2):
        send_questionnaire(carrier_questionnaire)
    with count_queries(app) as few:
        assert client.get("/questionnaires/assignments").status_code == 200
    for _ in range(8):
        send_questionnaire(carrier_questionnaire)
    with count_queries(app) as many:
        assert client.get("/questionnaires/assignments").status_code == 200
    assert len(many) == len(few)
