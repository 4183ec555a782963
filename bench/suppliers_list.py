"""Benchmark: the supplier list at 100,000 suppliers, beside the plain query it wraps.

    .venv/bin/python bench/suppliers_list.py [--suppliers 100000] [--database-url URL]

Fills a scratch database (a temporary SQLite file, or the PostgreSQL database given, which is
emptied) through the migrations and one bulk insert, then times, for each list request a user
makes (first page, a deep page reached by cursor, each sort, a text search, filters):

- `page`: the whole HTTP request through the test client (routing, session, permission check,
  query, template), as a signed-in viewer;
- `service`: `suppliers.services.list_suppliers` alone;
- `ceiling`: the same keyset query as plain SQL on the driver connection, fetching the rows.

It reports the median of several runs in milliseconds. A benchmark, never a test: numbers vary
by machine; the ratios are what to watch.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text  # noqa: E402

ROLES = ["seller", "warehouse", "carrier", "last_mile", "pickup_point", "contact_centre", "packaging", "other"]
STATUSES = ["prospect", "in_qualification", "approved", "approved", "approved", "conditionally_approved",
            "suspended", "disqualified"]
COUNTRIES = ["IT"] * 8 + ["DE", "FR", "ES", "NL", "AT", "PL"]
WORDS = ["Trasporti", "Logistica", "Magazzini", "Corrieri", "Spedizioni", "Servizi", "Punto", "Ritiro",
         "Express", "Nord", "Sud", "Adriatica", "Tirrenica", "Padana", "Alpina", "Veloci", "Rapidi"]


def fill(n: int) -> None:
    import datetime as dt

    from app.db import db
    from suppliers.models import Supplier, SupplierChainRole

    rng = random.Random(2026)
    now = dt.datetime.now(dt.timezone.utc)
    rows, roles = [], []
    for i in range(1, n + 1):
        name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i} S.r.l."
        code = f"S-{i:07d}"
        status = rng.choice(STATUSES)
        rows.append({
            "id": i, "code": code, "legal_name": name, "country": rng.choice(COUNTRIES),
            "risk_class": rng.choice(["low", "medium", "high", "critical"]), "status": status,
            "search_text": f"{code.lower()} {name.lower()}", "created_at": now,
            "updated_at": now - dt.timedelta(minutes=rng.randint(0, 500_000)), "version": 1,
            "archived_at": now if rng.random() < 0.02 else None,
            "qualified_until": dt.date(2027, 6, 30) if status in ("approved", "conditionally_approved") else None,
        })
        for role in rng.sample(ROLES, rng.choice([1, 1, 1, 2])):
            roles.append({"supplier_id": i, "role": role})
    for chunk in range(0, n, 10_000):
        db.session.execute(insert(Supplier.__table__), rows[chunk:chunk + 10_000])
    for chunk in range(0, len(roles), 10_000):
        db.session.execute(insert(SupplierChainRole.__table__), roles[chunk:chunk + 10_000])
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def median_ms(fn, runs: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


CASES = [
    # (name, query string, plain SQL of the same page)
    ("first page by code", "", "SELECT * FROM suppliers WHERE archived_at IS NULL ORDER BY code, id LIMIT 51"),
    ("page 1,000 by code (cursor)", None,
     "SELECT * FROM suppliers WHERE archived_at IS NULL AND (code, id) > ('S-0050000', 50000) ORDER BY code, id LIMIT 51"),
    ("sort by legal name", "sort=legal_name",
     "SELECT * FROM suppliers WHERE archived_at IS NULL ORDER BY legal_name, id LIMIT 51"),
    ("sort by last change, newest first", "sort=updated_at&dir=desc",
     "SELECT * FROM suppliers WHERE archived_at IS NULL ORDER BY updated_at DESC, id DESC LIMIT 51"),
    ("search 'adriatica 77'", "q=adriatica+77",
     "SELECT * FROM suppliers WHERE archived_at IS NULL AND search_text LIKE '%adriatica 77%' ORDER BY code, id LIMIT 51"),
    ("filter carrier + approved + IT", "role=carrier&status=approved&country=IT",
     "SELECT * FROM suppliers s WHERE archived_at IS NULL AND status IN ('approved') AND country IN ('IT') AND "
     "EXISTS (SELECT 1 FROM supplier_chain_roles r WHERE r.supplier_id = s.id AND r.role IN ('carrier')) "
     "ORDER BY code, id LIMIT 51"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suppliers", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app
    from app.config import TestConfig
    from app.db import db
    from app.pagination import _encode
    from suppliers import services

    workdir = Path(tempfile.mkdtemp(prefix="catena-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite'}"
    if args.database_url:
        from tests.conftest import _reset_postgresql
        _reset_postgresql(url)
    app = create_app(TestConfig(database_url=url, instance_dir=workdir))
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        fill(args.suppliers)
        print(f"filled {args.suppliers:,} suppliers in {time.perf_counter() - started:.1f} s on {db.engine.dialect.name}")
        from app.auth.services import create_user
        create_user("bench@example.com", "Bench", "viewer", "bench password 1", None)
        db.session.commit()

    client = app.test_client()
    client.post("/login", data={"email": "bench@example.com", "password": "bench password 1"})
    deep_cursor = _encode(["S-0050000", 50000], False)

    print(f"\n| request | page ms | service ms | plain SQL ms | page / SQL |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, query, sql in CASES:
        query = f"cursor={deep_cursor}" if query is None else query
        url_path = f"/suppliers/?{query}"

        def page():
            response = client.get(url_path)
            assert response.status_code == 200, response.status_code

        def service():
            with app.test_request_context(url_path):
                params = dict(p.split("=", 1) for p in query.split("&") if p)
                filters = services.SupplierFilters(
                    text=params.get("q", "").replace("+", " ") or None,
                    roles=[params["role"]] if "role" in params else [],
                    statuses=[params["status"]] if "status" in params else [],
                    countries=[params["country"]] if "country" in params else [])
                services.list_suppliers(filters, sort=params.get("sort", "code"),
                                        descending=params.get("dir") == "desc",
                                        cursor=params.get("cursor"), limit=50)
                db.session.remove()

        def plain():
            with app.app_context():
                with db.engine.connect() as conn:
                    conn.execute(text(sql)).fetchall()

        p, s, c = (median_ms(f, args.runs) for f in (page, service, plain))
        print(f"| {name} | {p:.1f} | {s:.1f} | {c:.1f} | {p / c:.1f}× |")


if __name__ == "__main__":
    main()
