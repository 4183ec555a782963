"""Benchmark: every SLA of every supplier over 12 months, beside a plain GROUP BY.

    .venv/bin/python bench/sla_measure.py [--legs 10000000] [--suppliers 500] [--database-url URL]

Fills a scratch database (a temporary SQLite file, or the PostgreSQL database given, which is
emptied) through the migrations: suppliers in four chain roles, one role-default on-time SLA
per role plus 50 suppliers with an SLA of their own, and legs over 2025 written by the
engine's bulk path (one executemany transaction on SQLite, COPY on PostgreSQL), then the
daily statistics rebuilt in one statement. It then times, median of --runs:

- `catena`: suppliers.services.measurement.measure_series for every SLA series, every
  supplier it applies to, 12 monthly periods (what a ranking or a year of audits needs);
- `group by`: the plain SQL a hand-written report would run over the legs: on-time count and
  count per supplier and month (the ceiling the issue names).

A benchmark, never a test.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text  # noqa: E402

ROLES = ["carrier", "last_mile", "warehouse", "seller"]
STAGE_OF_ROLE = {"carrier": "line_haul", "last_mile": "last_mile", "warehouse": "warehouse",
                 "seller": "seller_handover"}
YEAR_START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def fill(n_suppliers: int, n_legs: int, seed: int = 2026) -> None:
    from app.db import db
    from incidents.models import Leg, Order
    from incidents.services.stats import rebuild_day_stats
    from suppliers.models import Supplier, SupplierChainRole
    from suppliers.services.standards import create_standard
    from zoneinfo import ZoneInfo

    rng = random.Random(seed)
    zone = ZoneInfo("Europe/Rome")
    now = dt.datetime.now(dt.timezone.utc)
    suppliers = [{"id": i, "code": f"B-{i:04d}", "legal_name": f"Bench {i}", "country": "IT", "risk_class": "medium",
                  "status": "approved", "search_text": f"b-{i:04d}", "created_at": now, "updated_at": now,
                  "version": 1} for i in range(1, n_suppliers + 1)]
    db.session.execute(insert(Supplier.__table__), suppliers)
    db.session.execute(insert(SupplierChainRole.__table__),
                       [{"supplier_id": s["id"], "role": ROLES[s["id"] % len(ROLES)]} for s in suppliers])
    db.session.execute(insert(Order.__table__), [{"id": 1, "ref": "BENCH", "created_at": now, "updated_at": now}])
    for role in ROLES:
        create_standard({"name": f"{role} on time", "metric": "on_time_rate", "stage": STAGE_OF_ROLE[role],
                         "target": "0.92", "warning_threshold": "0.95", "tolerance_minutes": 60, "min_sample": 20,
                         "valid_from": dt.date(2024, 1, 1)}, None, chain_role=role)
    for supplier_id in range(1, min(n_suppliers, 50) + 1):
        role = ROLES[supplier_id % len(ROLES)]
        create_standard({"name": "own", "metric": "on_time_rate", "stage": STAGE_OF_ROLE[role], "target": "0.9",
                         "tolerance_minutes": 120, "min_sample": 20, "valid_from": dt.date(2024, 1, 1)}, None,
                        supplier=db.session.get(Supplier, supplier_id))
    db.session.commit()

    columns = ["id", "external_id", "order_id", "sequence", "stage", "supplier_id", "promised_at", "promised_day",
               "actual_at", "outcome", "delay_seconds", "is_excluded", "created_at", "updated_at"]
    dialect = db.engine.dialect.name

    def rows():
        for i in range(1, n_legs + 1):
            supplier_id = rng.randint(1, n_suppliers)
            promised = YEAR_START + dt.timedelta(seconds=rng.randrange(0, 365 * 86400))
            delay = int(rng.gauss(-1800, 7200))
            lost = rng.random() < 0.004
            actual = None if lost else promised + dt.timedelta(seconds=delay)
            yield (i, f"b{i}", 1, 1, STAGE_OF_ROLE[ROLES[supplier_id % len(ROLES)]], supplier_id, promised,
                   promised.astimezone(zone).date(), actual, "lost" if lost else "completed",
                   None if lost else delay, False, now, now)

    started = time.perf_counter()
    if dialect == "postgresql":
        raw = db.session.connection().connection.dbapi_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY legs ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows():
                copy.write_row(row)
    else:
        batch = []
        for row in rows():
            batch.append(dict(zip(columns, row)))
            if len(batch) == 50_000:
                db.session.execute(insert(Leg.__table__), batch)
                batch = []
        if batch:
            db.session.execute(insert(Leg.__table__), batch)
    db.session.commit()
    print(f"wrote {n_legs:,} legs in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    rebuild_day_stats()
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    print(f"built daily statistics in {time.perf_counter() - started:.1f} s", flush=True)


def measure_everything() -> int:
    from collections import defaultdict

    from sqlalchemy import select

    from app.db import db
    from suppliers.models import ServiceStandard, SupplierChainRole
    from suppliers.services.measurement import measure_series, periods_between

    periods = periods_between("month", dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    series = defaultdict(list)
    for standard in db.session.scalars(select(ServiceStandard)):
        series[standard.series_id].append(standard)
    own = {(v[0].supplier_id, v[0].metric, v[0].stage) for v in series.values() if v[0].supplier_id}
    results = 0
    for versions in series.values():
        head = versions[0]
        if head.supplier_id:
            ids = [head.supplier_id]
        else:
            ids = [sid for sid in db.session.scalars(select(SupplierChainRole.supplier_id)
                                                     .where(SupplierChainRole.role == head.chain_role))
                   if (sid, head.metric, head.stage) not in own]
        results += len(measure_series(versions, ids, periods, now=dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)))
    return results


PLAIN_GROUP_BY = {
    "sqlite": "SELECT supplier_id, strftime('%Y-%m', promised_day), "
              "SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds <= 3600 THEN 1 ELSE 0 END), COUNT(*) "
              "FROM legs WHERE promised_day BETWEEN '2025-01-01' AND '2025-12-31' GROUP BY 1, 2",
    "postgresql": "SELECT supplier_id, date_trunc('month', promised_day), "
                  "SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds <= 3600 THEN 1 ELSE 0 END), COUNT(*) "
                  "FROM legs WHERE promised_day BETWEEN '2025-01-01' AND '2025-12-31' GROUP BY 1, 2",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--legs", type=int, default=1_000_000)
    parser.add_argument("--suppliers", type=int, default=500)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app
    from app.config import TestConfig
    from app.db import db

    workdir = Path(tempfile.mkdtemp(prefix="catena-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite'}"
    if args.database_url:
        from tests.conftest import _reset_postgresql
        _reset_postgresql(url)
    app = create_app(TestConfig(database_url=url, instance_dir=workdir))
    with app.app_context():
        upgrade()
        fill(args.suppliers, args.legs)
        dialect = db.engine.dialect.name

        def catena():
            measure_everything()
            db.session.remove()

        def plain():
            with db.engine.connect() as conn:
                conn.execute(text(PLAIN_GROUP_BY[dialect])).fetchall()

        timings = {}
        for name, fn in (("catena: every SLA × supplier × 12 months", catena), ("plain GROUP BY over legs", plain)):
            fn()
            samples = []
            for _ in range(args.runs):
                start = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - start)
            timings[name] = statistics.median(samples)
        print(f"\n{dialect}, {args.legs:,} legs, {args.suppliers} suppliers, results: {measure_everything():,}")
        print("| operation | median s |\n| --- | ---: |")
        for name, seconds in timings.items():
            print(f"| {name} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
