"""A page issues a bounded number of queries, whatever the number of rows it shows."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from app.db import db


@contextmanager
def count_queries(app):
    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_supplier_list_queries_do_not_grow_with_the_page(app, login_as, make_supplier):
    client = login_as("viewer")
    parent = make_supplier(code="PARENT")
    for n in range(3):
        make_supplier(code=f"A-{n}", parent="PARENT", chain_roles=["carrier", "last_mile"])
    with count_queries(app) as few:
        assert client.get("/suppliers/").status_code == 200
    for n in range(30):
        make_supplier(code=f"B-{n}", parent=parent.code, chain_roles=["warehouse"])
    with count_queries(app) as many:
        assert client.get("/suppliers/").status_code == 200
    assert len(many) == len(few)
    assert len(many) <= 10
