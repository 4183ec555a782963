"""Benchmark: a CSV of legs imported end to end, beside the engine's raw bulk load of the same rows.

    .venv/bin/python -m bench.ops.legs_import --database-url URL [--legs 200000] [--repeats 3]

The database is one `bench.generate` filled (suppliers, a year of legs and their daily
statistics); the CSV names the generated suppliers by their codes, read from the database.

- `catena`: `incidents.services.imports.import_legs_file`, what `flask --app app import legs`
  and the import page run: file checks, every row parsed and validated with its row number,
  suppliers looked up, valid rows staged in committed chunks, then one transaction that
  creates the orders, writes the legs and keeps the daily statistics exact. Timed in a child
  process of its own (its peak RSS is the import's), from the call to its return.
- ceiling, `executemany` on SQLite / `COPY` on PostgreSQL: the same orders and legs, already
  converted to what the tables store (UTC times, supplier ids, days, delays: work Catena's
  import does and the ceiling does not), written by the engine's raw bulk path in one
  transaction: `sqlite3` executemany, psycopg COPY. Orders are part of it because every row
  of the file carries its order (three legs per order), and a leg cannot exist without one.

Each sample writes new legs (a fresh external-id prefix); what a sample wrote is deleted
afterwards (untimed, with the statistics taken back out for Catena's), and on PostgreSQL the
touched tables are vacuumed (untimed), so the database the other operations measure is left as
it was.

Rows: 200,000 in quick mode (the size of the issue's measured 52 s import), 500,000 otherwise,
at most two samples: a large company's daily feed is around 30,000–100,000 legs (10 million a
year), so half a million is a back-load of a week; the import's cost is linear in the rows
(chunked staging, set-based move), and a million rows, three samples, two engines would take
a third of the full run's 30-minute budget on a 2-core machine. A benchmark, never a test.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.core import BenchContext, Measurement, Size, in_child  # noqa: E402

OPERATION = "legs import (CSV)"
PROFILE = "bench-legs-import"
HEADER = ["external_id", "order_ref", "stage", "supplier_code", "promised_at", "actual_at", "outcome",
          "customer_ref", "order_channel"]
STAGES = ["warehouse", "line_haul", "last_mile"]
ZONE = ZoneInfo("Europe/Rome")
UTC = dt.timezone.utc
YEAR_START = dt.datetime(2025, 1, 1, 6, 0)


def legs_for(ctx: BenchContext) -> int:
    return 200_000 if ctx.quick else 500_000


def samples_for(ctx: BenchContext) -> int:
    return max(1, min(ctx.repeats, 2))


def _make_app(database_url: str, instance_dir: Path):
    from app import create_app
    from app.config import TestConfig

    return create_app(TestConfig(database_url=database_url, instance_dir=instance_dir))


def _records(n: int, suppliers: list[tuple[str, int]], prefix: str, seed: int):
    """The file's rows as Python values: (external id, order ref, stage, supplier code,
    supplier id, naive local promised time, naive local actual time or None, outcome or None,
    customer ref, channel). The same seed gives the same rows for Catena and the ceiling."""
    rng = random.Random(seed)
    for i in range(n):
        code, supplier_id = suppliers[rng.randrange(len(suppliers))]
        promised = YEAR_START + dt.timedelta(minutes=rng.randrange(0, 364 * 24 * 60))
        lost = rng.random() < 0.004
        actual = None if lost else promised + dt.timedelta(minutes=int(rng.gauss(-30, 120)))
        outcome = "lost" if lost else ("completed" if rng.random() < 0.97 else "failed_attempt")
        yield (f"{prefix}-{i}", f"{prefix}-O{i // 3}", STAGES[i % 3], code, supplier_id, promised, actual, outcome,
               f"C{(i // 3) % 50_000}", "web" if i % 2 else "app")


def write_csv(path: Path, n: int, suppliers, prefix: str, seed: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for ext, ref, stage, code, _sid, promised, actual, outcome, customer, channel in _records(
                n, suppliers, prefix, seed):
            writer.writerow([ext, ref, stage, code, promised.strftime("%Y-%m-%d %H:%M"),
                             actual.strftime("%Y-%m-%d %H:%M") if actual else "", outcome, customer, channel])
    return path


def _utc(local: dt.datetime) -> dt.datetime:
    return local.replace(tzinfo=ZONE).astimezone(UTC)


def ceiling_rows(n: int, suppliers, prefix: str, seed: int, first_order_id: int, now: dt.datetime):
    """(orders, legs) as the tables store them, for the raw bulk load."""
    orders, legs = [], []
    for ext, ref, stage, _code, supplier_id, promised, actual, outcome, customer, channel in _records(
            n, suppliers, prefix, seed):
        if not orders or orders[-1][1] != ref:
            orders.append((first_order_id + len(orders), ref, customer, channel, now, now))
        order_id = orders[-1][0]
        promised_utc, actual_utc = _utc(promised), (_utc(actual) if actual else None)
        delay = int((actual_utc - promised_utc).total_seconds()) if actual_utc else None
        legs.append((ext, order_id, STAGES.index(stage) + 2, stage, supplier_id, promised_utc,
                     promised_utc.astimezone(ZONE).date(), actual_utc, outcome, delay, False, now, now))
    return orders, legs


ORDER_COLUMNS = ["id", "ref", "customer_ref", "channel", "created_at", "updated_at"]
LEG_COLUMNS = ["external_id", "order_id", "sequence", "stage", "supplier_id", "promised_at", "promised_day",
               "actual_at", "outcome", "delay_seconds", "is_excluded", "created_at", "updated_at"]


def _sqlite_text(value):
    """What SQLAlchemy stores in SQLite for the value (its own formats)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _raw_load_sqlite(path: str, orders: list[tuple], legs: list[tuple]) -> float:
    import sqlite3

    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
            connection.execute(f"PRAGMA {pragma}")
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES "
                               f"({', '.join('?' * len(ORDER_COLUMNS))})", orders)
        connection.executemany(f"INSERT INTO legs ({', '.join(LEG_COLUMNS)}) VALUES "
                               f"({', '.join('?' * len(LEG_COLUMNS))})", legs)
        connection.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        connection.close()


def _raw_load_postgresql(url: str, orders: list[tuple], legs: list[tuple]) -> float:
    import psycopg

    with psycopg.connect(url) as connection:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY orders ({', '.join(ORDER_COLUMNS)}) FROM STDIN") as copy:
                for row in orders:
                    copy.write_row(row)
            with cursor.copy(f"COPY legs ({', '.join(LEG_COLUMNS)}) FROM STDIN") as copy:
                for row in legs:
                    copy.write_row(row)
        connection.commit()
        return time.perf_counter() - started


def _catena_once(database_url: str, instance_dir: str, csv_path: str) -> dict:
    """In a child: the import of `csv_path`, timed from the call to its return."""
    from app.db import db
    from incidents.services import imports

    app = _make_app(database_url, Path(instance_dir))
    marks: dict[str, float] = {}
    with app.app_context(), app.test_request_context():
        profile = imports.get_profile(PROFILE)
        db.session.commit()
        started = time.perf_counter()
        batch = imports.import_legs_file(
            Path(csv_path), profile, None, commit=db.session.commit,
            check_progress=lambda rows: marks.__setitem__("checked", time.perf_counter()),
            progress=lambda rows: marks.__setitem__("written", time.perf_counter()))
        elapsed = time.perf_counter() - started
        result = {"seconds": elapsed, "batch_id": batch.id, "status": batch.status, "created": batch.rows_created,
                  "updated": batch.rows_updated, "read_and_stage_s": marks.get("checked", started) - started,
                  "move_s": marks.get("written", started) - marks.get("checked", started)}
        db.session.remove()
        db.engine.dispose()
    return result


def _forget_catena(batch_id: int, first_leg_id: int, first_order_id: int) -> None:
    """Delete what an import wrote: its legs (statistics taken back out), orders, batch. The
    legs are found by their id range (primary key), which every engine reads fast."""
    from sqlalchemy import delete

    from app.db import db
    from incidents.models import ImportBatch, Leg, Order
    from incidents.services.stats import subtract_legs_where

    subtract_legs_where(Leg.id >= first_leg_id)
    db.session.execute(delete(Leg).where(Leg.id >= first_leg_id))
    db.session.execute(delete(Order).where(Order.id >= first_order_id))
    db.session.execute(delete(ImportBatch).where(ImportBatch.id == batch_id))
    db.session.commit()


def _forget_ceiling(first_leg_id: int, first_order_id: int) -> None:
    from sqlalchemy import delete

    from app.db import db
    from incidents.models import Leg, Order

    db.session.execute(delete(Leg).where(Leg.id >= first_leg_id))
    db.session.execute(delete(Order).where(Order.id >= first_order_id))
    db.session.commit()


def _next_ids() -> tuple[int, int]:
    from sqlalchemy import func, select

    from app.db import db
    from incidents.models import Leg, Order

    return ((db.session.scalar(select(func.max(Leg.id))) or 0) + 1,
            (db.session.scalar(select(func.max(Order.id))) or 0) + 1)


def run(ctx: BenchContext) -> list[Measurement]:
    from sqlalchemy import select, text

    from app.config import normalise_database_url
    from app.db import db
    from incidents.services import imports
    from suppliers.models import Supplier

    n = legs_for(ctx)
    workdir = Path(ctx.workdir) / "legs_import"
    workdir.mkdir(parents=True, exist_ok=True)
    instance_dir = workdir / "instance"
    app = _make_app(ctx.database_url, instance_dir)
    url = normalise_database_url(ctx.database_url)
    with app.app_context():
        suppliers = [tuple(row) for row in db.session.execute(select(Supplier.code, Supplier.id)
                                                                .order_by(Supplier.id))]
        if not suppliers:
            raise RuntimeError("no suppliers: fill the database with bench.generate first")
        imports.save_profile(PROFILE, {name: name for name in HEADER}, "Europe/Rome")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()

    catena, ceiling, peaks, phases = [], [], [], []
    for sample in range(samples_for(ctx)):
        prefix = f"BI{ctx.seed}-{sample}"
        path = write_csv(workdir / f"{prefix}.csv", n, suppliers, prefix, ctx.seed + sample)
        with app.app_context():
            first_leg, first_order = _next_ids()
            db.session.remove()
            db.engine.dispose()
        _elapsed, peak, result = in_child(_catena_once, ctx.database_url, str(instance_dir), str(path))
        if result["status"] != "complete" or result["created"] != n:
            raise RuntimeError(f"the import did not write every leg: {result}")
        catena.append(result["seconds"])
        peaks.append(peak)
        phases.append(result)
        with app.app_context():
            _forget_catena(result["batch_id"], first_leg, first_order)
            first_leg, first_order = _next_ids()
            now = dt.datetime.now(UTC)
            orders, legs = ceiling_rows(n, suppliers, prefix + "c", ctx.seed + sample, first_order, now)
            db.session.remove()
            db.engine.dispose()
        if url.startswith("sqlite"):
            seconds = _raw_load_sqlite(url.split("///", 1)[1], [tuple(map(_sqlite_text, r)) for r in orders],
                                       [tuple(map(_sqlite_text, r)) for r in legs])
        else:
            seconds = _raw_load_postgresql(url.replace("postgresql+psycopg://", "postgresql://"), orders, legs)
        ceiling.append(seconds)
        with app.app_context():
            _forget_ceiling(first_leg, first_order)
            if not url.startswith("sqlite"):
                db.session.execute(text("ANALYZE legs"))
                db.session.commit()
            db.session.remove()
            db.engine.dispose()
        path.unlink()
    if not url.startswith("sqlite"):
        _vacuum(url)

    stage_s = sorted(p["read_and_stage_s"] for p in phases)[len(phases) // 2]
    move_s = sorted(p["move_s"] for p in phases)[len(phases) // 2]
    raw = "executemany, one transaction" if url.startswith("sqlite") else "COPY, one transaction"
    return [
        Measurement(OPERATION, "catena: checked, staged, one move", ctx.engine, n, catena, unit="legs",
                    peak_rss_mib=max(peaks), extra={"read_check_stage_s": round(stage_s, 2),
                                                    "move_and_clean_s": round(move_s, 2)},
                    note="file checks, every row validated, orders and daily statistics included"),
        Measurement(OPERATION, raw, ctx.engine, n, ceiling, ceiling=True, unit="legs",
                    note="the same orders and legs, pre-converted, no statistics"),
    ]


def _vacuum(url: str) -> None:
    """Untimed, on PostgreSQL: clear what the samples' writes and deletions left behind. Each
    sample's import and its removal rewrite the statistics rows they touch; without this the
    daily statistics hold six dead row versions to each live one when the next operation
    measures them (SLA measurement read 0.89 s before, 1.54 s after), where a deployment's
    autovacuum would have cleared them between imports."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) legs, orders, leg_day_stats, leg_delay_month_stats, staged_legs")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--legs", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    engine = "sqlite" if args.database_url.startswith("sqlite") else "postgresql"
    with tempfile.TemporaryDirectory(prefix="bench-legs-import-") as workdir:
        ctx = BenchContext(engine=engine, database_url=args.database_url,
                           size=Size("given", 0, 0, 0, 0), quick=args.legs <= 200_000, repeats=args.repeats,
                           workdir=Path(workdir))
        global legs_for
        legs_for = lambda ctx: args.legs  # noqa: E731
        for measurement in run(ctx):
            print(f"{measurement.engine:10} {measurement.variant:38} {measurement.items:>9,} "
                  f"median {measurement.median_s:7.2f} s  {measurement.per_second:>9,.0f}/s  "
                  f"{measurement.samples_s}  {measurement.extra}")


if __name__ == "__main__":
    main()
