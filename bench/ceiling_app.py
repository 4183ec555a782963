"""The list pages' ceiling: a minimal Flask app that returns a page of the same rows, by the
same keyset, from the same tables as Catena's incident and supplier lists, with nothing else
(no session, no permission check, no ORM, no template, no form).

    DATABASE_URL=postgresql+psycopg://... gunicorn 'bench.ceiling_app:create_app()'

- `/incidents?after=<respond_by ISO>,<id>&status=new,in_progress`: open incidents by (respond_by,
  id), one index range per status as Catena reads them (app.pagination.keyset_page);
- `/suppliers?after=<code>,<id>`: suppliers not archived, by (code, id);
- `/ping`: a fixed answer, the server's own ceiling.

Both lists answer JSON, or with `&format=html` a minimal HTML page of the same rows: a table
rendered by Jinja with autoescaping and a "Next" link, still without session, permission,
ORM, translations or layout. It separates what rendering any HTML page of 50 rows costs from
what Catena adds to it.

`bench/ops/http_pages.py` serves it with the same gunicorn settings as Catena and asks for the
page at the same cursor, so the two differ only by what Catena does around the query.
"""
from __future__ import annotations

import datetime as dt
import os

from flask import Flask, current_app, jsonify, request
from sqlalchemy import Date, bindparam, create_engine, text

from app.db import UTCDateTime

PAGE_SIZE = 50

_INCIDENT_PART = """
    SELECT id, respond_by, status, priority, category_id, order_id, assignee_id FROM incidents
    WHERE status = :status {after}
    ORDER BY respond_by, id LIMIT :n
"""

_SUPPLIERS = """
    SELECT id, code, legal_name, country, status, risk_class, qualified_until FROM suppliers
    WHERE archived_at IS NULL {after}
    ORDER BY code, id LIMIT :n
"""


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><h1>{{ title }}</h1><table><thead><tr>{% for h in header %}<th scope="col">{{ h }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in rows %}<tr>{% for value in row %}<td>{{ value if value is not none else "" }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>{% if next %}<a rel="next" href="?after={{ next|urlencode }}">Next</a>{% endif %}</body></html>"""


def _answer(title: str, header: list[str], rows: list[list], next_key: str | None):
    if request.args.get("format") == "html":
        # Compiled once per process, as Flask's loader caches Catena's templates.
        page = current_app.extensions.setdefault("ceiling_page", current_app.jinja_env.from_string(_PAGE))
        return page.render(title=title, header=header, rows=rows, next=next_key)
    return jsonify(items=rows, next=next_key)


def _after(value: str | None) -> tuple[str | None, int | None]:
    if not value:
        return None, None
    key, _, row_id = value.rpartition(",")
    return key, int(row_id)


def create_app() -> Flask:
    app = Flask(__name__)
    engine = create_engine(os.environ["DATABASE_URL"], pool_size=2, max_overflow=0, pool_pre_ping=False)

    @app.get("/ping")
    def ping():
        return "ok"

    @app.get("/incidents")
    def incidents():
        at, after_id = _after(request.args.get("after"))
        after_at = dt.datetime.fromisoformat(at) if at else None
        statuses = (request.args.get("status") or "new,in_progress").split(",")
        part = _INCIDENT_PART.format(after="AND (respond_by, id) > (:after_at, :after_id)" if after_id else "")
        sql = " UNION ALL ".join(f"SELECT * FROM ({part.replace(':status', f':s{i}')}) AS p{i}"
                                 for i in range(len(statuses)))
        sql = f"SELECT * FROM ({sql}) AS parts ORDER BY respond_by, id LIMIT :n"
        params = {f"s{i}": status for i, status in enumerate(statuses)}
        # Typed as Catena types them: aware UTC on PostgreSQL, naive UTC text on SQLite.
        statement = text(sql)
        if after_id:
            statement = statement.bindparams(bindparam("after_at", type_=UTCDateTime()))
        statement = statement.columns(respond_by=UTCDateTime())
        with engine.connect() as connection:
            rows = connection.execute(statement, {**params, "after_at": after_at, "after_id": after_id,
                                                  "n": PAGE_SIZE + 1}).all()
        return _answer("Incidents", ["Incident", "Respond by", "Status", "Priority", "Category", "Order", "Operator"],
                       [[r.id, r.respond_by.isoformat(), r.status, r.priority, r.category_id, r.order_id,
                         r.assignee_id] for r in rows[:PAGE_SIZE]],
                       f"{rows[PAGE_SIZE - 1].respond_by.isoformat()},{rows[PAGE_SIZE - 1].id}"
                       if len(rows) > PAGE_SIZE else None)

    @app.get("/suppliers")
    def suppliers():
        code, after_id = _after(request.args.get("after"))
        with engine.connect() as connection:
            sql = _SUPPLIERS.format(after="AND (code, id) > (:after_code, :after_id)" if after_id else "")
            rows = connection.execute(text(sql).columns(qualified_until=Date()), {"after_code": code, "after_id": after_id,
                                                         "n": PAGE_SIZE + 1}).all()
        return _answer("Suppliers", ["Id", "Code", "Legal name", "Country", "Status", "Risk class", "Qualified until"],
                       [[r.id, r.code, r.legal_name, r.country, r.status, r.risk_class,
                         r.qualified_until.isoformat() if r.qualified_until else None] for r in rows[:PAGE_SIZE]],
                       f"{rows[PAGE_SIZE - 1].code},{rows[PAGE_SIZE - 1].id}" if len(rows) > PAGE_SIZE else None)

    return app

