"""SLA measurement of every SLA of every supplier over the 12 months of the data set's year.

Catena: `suppliers.services.measurement.measure_many` (what a ranking, the dashboard and a
supplier's results call) for every SLA series and every supplier it applies to (a supplier's
own SLA replaces its role's default for the same metric and stage), 12 monthly periods, as a
ranking or a year of audits needs. Timed in two groups:

- `count/sum metrics`: on-time, lost, damage, first-attempt rates, mean delay (read from the
  daily leg statistics) and incidents per 1,000 legs (the daily statistics of attributed
  shares over the daily leg statistics);
- `percentile metrics`: the p95 delay SLAs (read from the monthly delay histograms: the
  series here are monthly with versions from a month's first day).

Ceilings, on the same rows: one plain SQL GROUP BY (supplier, stage, month) over the legs
on the same engine computing every count and sum those metrics need; for percentiles the
engine's own way (PostgreSQL percentile_disc, SQLite a row_number window); and DuckDB running
the same statements over the same rows, loaded into it untimed through Arrow (no extension).
The run also checks that Catena's lost rates equal the plain GROUP BY's, value for value.
"""
from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from bench.core import BenchContext, Measurement

YEAR = 2025
FIRST, LAST = dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31)
#: Measured as of a day long after the year: every day is settled (as a ranking made today).
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
COUNT_METRICS = ("on_time_rate", "lost_rate", "damage_rate", "first_attempt_rate", "mean_delay_hours",
                 "incidents_per_1000")
PERCENTILE_METRICS = ("p95_delay_hours",)

_COUNTS = """
    COUNT(*) AS legs,
    SUM(CASE WHEN outcome IS NOT NULL THEN 1 ELSE 0 END) AS closed,
    SUM(CASE WHEN outcome = 'lost' THEN 1 ELSE 0 END) AS lost,
    SUM(CASE WHEN outcome = 'damaged' THEN 1 ELSE 0 END) AS damaged,
    SUM(CASE WHEN outcome = 'completed' THEN 1 ELSE 0 END) AS completed,
    SUM(CASE WHEN outcome = 'failed_attempt' THEN 1 ELSE 0 END) AS failed_attempt,
    SUM(CASE WHEN actual_at IS NOT NULL THEN 1 ELSE 0 END) AS with_actual,
    SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds > 0 THEN delay_seconds ELSE 0 END) AS late_seconds,
    SUM(CASE WHEN actual_at IS NOT NULL AND delay_seconds <= 3600 AND outcome <> 'lost' THEN 1 ELSE 0 END) AS on_time_60
"""
_WHERE = ("promised_day BETWEEN DATE '2025-01-01' AND DATE '2025-12-31' "
          "AND (outcome IS NULL OR outcome <> 'cancelled') AND NOT is_excluded")
MONTH = {"sqlite": "strftime('%Y-%m', promised_day)", "postgresql": "date_trunc('month', promised_day)",
         "duckdb": "date_trunc('month', promised_day)"}


def group_by_sql(engine: str) -> str:
    where = _WHERE.replace("DATE ", "") if engine == "sqlite" else _WHERE
    return (f"SELECT supplier_id, stage, {MONTH[engine]} AS month, {_COUNTS} FROM legs WHERE {where} "
            "GROUP BY 1, 2, 3")


def percentile_sql(engine: str) -> str:
    where = _WHERE.replace("DATE ", "") if engine == "sqlite" else _WHERE
    late = "CASE WHEN delay_seconds > 0 THEN delay_seconds ELSE 0 END"
    if engine == "postgresql":
        return (f"SELECT supplier_id, stage, {MONTH[engine]}, percentile_disc(0.95) WITHIN GROUP (ORDER BY {late}), "
                f"COUNT(*) FROM legs WHERE {where} AND actual_at IS NOT NULL GROUP BY 1, 2, 3")
    if engine == "duckdb":
        return (f"SELECT supplier_id, stage, {MONTH[engine]}, quantile_disc({late}, 0.95), COUNT(*) FROM legs "
                f"WHERE {where} AND actual_at IS NOT NULL GROUP BY 1, 2, 3")
    return (f"SELECT supplier_id, stage, month, late, n FROM (SELECT supplier_id, stage, {MONTH[engine]} AS month, "
            f"{late} AS late, row_number() OVER (PARTITION BY supplier_id, stage, {MONTH[engine]} ORDER BY {late}) AS "
            f"position, COUNT(*) OVER (PARTITION BY supplier_id, stage, {MONTH[engine]}) AS n FROM legs WHERE {where} "
            "AND actual_at IS NOT NULL) WHERE position = (n * 95 + 99) / 100")


def sampled(fn, repeats: int, budget_s: float = 30.0) -> list[float]:
    """Up to `repeats` timed runs (after an untimed warm-up when a run is cheap); a slow
    statement stops once `budget_s` is spent, with at least one sample."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    if first > 2:
        samples = [first]
    else:
        samples = []
    while len(samples) < repeats and (not samples or sum(samples) + samples[-1] < budget_s):
        mark = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - mark)
    return samples


# Catena -----------------------------------------------------------------------------------

def series_and_suppliers(metrics: tuple[str, ...]):
    """[(versions, supplier ids)] for every SLA series of `metrics`, each applied to the
    suppliers it covers (a supplier's own SLA wins over its role's default)."""
    from sqlalchemy import select

    from app.db import db
    from suppliers.models import ServiceStandard, SupplierChainRole

    series = defaultdict(list)
    for standard in db.session.scalars(select(ServiceStandard).where(ServiceStandard.metric.in_(metrics))):
        series[standard.series_id].append(standard)
    own = {(v[0].supplier_id, v[0].metric, v[0].stage) for v in series.values() if v[0].supplier_id}
    roles = defaultdict(list)
    for supplier_id, role in db.session.execute(select(SupplierChainRole.supplier_id, SupplierChainRole.role)):
        roles[role].append(supplier_id)
    plan = []
    for versions in series.values():
        head = versions[0]
        ids = [head.supplier_id] if head.supplier_id else [
            s for s in roles[head.chain_role] if (s, head.metric, head.stage) not in own]
        if ids:
            plan.append((versions, ids))
    return plan


def measure_all(metrics: tuple[str, ...]) -> list:
    from app.db import db
    from suppliers.services.measurement import measure_many

    results = measure_many(series_and_suppliers(metrics), FIRST, LAST, now=NOW)
    db.session.remove()
    return results


# DuckDB over the same rows ------------------------------------------------------------------

LEG_COLUMNS = "supplier_id, stage, promised_day, actual_at IS NOT NULL AS has_actual, delay_seconds, outcome, is_excluded"


def legs_as_arrow(ctx: BenchContext):
    """The legs' columns the statements read, as an Arrow table (cached per data set: the
    generator writes the same rows on every engine)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cache = Path(ctx.workdir).parent / f"legs-{ctx.size.name}-{ctx.seed}.parquet"
    if cache.exists():
        return pq.read_table(cache)
    from sqlalchemy import create_engine

    from app.config import normalise_database_url

    engine = create_engine(normalise_database_url(ctx.database_url))
    batches = []
    raw = engine.raw_connection()
    try:
        # A server-side cursor on PostgreSQL, so 10 million rows never sit in memory at once.
        cursor = raw.dbapi_connection.cursor(name="bench_legs") if ctx.engine == "postgresql" else raw.cursor()
        cursor.execute(f"SELECT {LEG_COLUMNS} FROM legs")
        while True:
            part = cursor.fetchmany(500_000)
            if not part:
                break
            values = list(zip(*part))
            days = pa.array(values[2])
            batches.append(pa.table({
                "supplier_id": pa.array(values[0], pa.int32()), "stage": pa.array(values[1], pa.string()),
                "promised_day": days if days.type == pa.date32() else days.cast(pa.date32()),
                "has_actual": pa.array(values[3]).cast(pa.bool_()),
                "delay_seconds": pa.array(values[4], pa.int64()), "outcome": pa.array(values[5], pa.string()),
                "is_excluded": pa.array(values[6]).cast(pa.bool_())}))
        cursor.close()
    finally:
        raw.close()
    engine.dispose()
    table = pa.concat_tables(batches)
    pq.write_table(table, cache)
    return table


def duckdb_connection(ctx: BenchContext):
    import duckdb

    table = legs_as_arrow(ctx)
    con = duckdb.connect()
    con.register("legs_arrow", table)
    # actual_at only matters as present or not; keep the statements the same text as on the engines.
    con.execute("CREATE TABLE legs AS SELECT supplier_id, stage, promised_day, "
                "CASE WHEN has_actual THEN TIMESTAMP '2000-01-01' END AS actual_at, delay_seconds, outcome, "
                "is_excluded FROM legs_arrow")
    con.unregister("legs_arrow")
    return con, table.num_rows


# The check -------------------------------------------------------------------------------------

def lost_rates_match(results, group_rows) -> tuple[int, int]:
    """(results compared, mismatches): Catena's lost rates against lost / closed from the GROUP BY."""
    totals = defaultdict(lambda: [0, 0])
    for row in group_rows:
        supplier_id, stage, month = row[0], row[1], row[2]
        key = (supplier_id, stage, f"{month:%Y-%m}" if hasattr(month, "strftime") else str(month)[:7])
        totals[key][0] += int(row[5] or 0)
        totals[key][1] += int(row[4] or 0)
    compared = mismatches = 0
    for r in results:
        if r.metric != "lost_rate":
            continue
        lost, closed = totals.get((r.supplier_id, r.standard.stage, r.period.key), (0, 0))
        expected = (Decimal(lost) / Decimal(closed)).quantize(Decimal("0.000001"), ROUND_HALF_UP) if closed else None
        compared += 1
        mismatches += expected != r.value
    return compared, mismatches


def percentiles_match(results, percentile_rows) -> tuple[int, int]:
    """(results compared, mismatches): Catena's p95 delays against the plain SQL's, both in
    hours to two places, rounded half up, as SLA results are shown and judged."""
    plain = {}
    for supplier_id, stage, month, late, _n in percentile_rows:
        key = (supplier_id, stage, f"{month:%Y-%m}" if hasattr(month, "strftime") else str(month)[:7])
        plain[key] = (Decimal(int(late)) / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP)
    compared = mismatches = 0
    for r in results:
        if r.metric != "p95_delay_hours" or r.value is None or not r.standard.honours_exclusions:
            continue
        compared += 1
        mismatches += plain.get((r.supplier_id, r.standard.stage, r.period.key)) != r.value
    return compared, mismatches


# The operation -----------------------------------------------------------------------------

def run(ctx: BenchContext) -> list[Measurement]:
    from sqlalchemy import text

    from app.db import db
    from bench.generate import make_app

    app = make_app(ctx.database_url, Path(ctx.workdir) / "instance-sla")
    out: list[Measurement] = []
    legs = ctx.size.legs
    with app.app_context():
        counted = measure_all(COUNT_METRICS)
        samples = sampled(lambda: measure_all(COUNT_METRICS), ctx.repeats)
        by_metric = defaultdict(int)
        for r in counted:
            by_metric[r.metric] += 1
        legs_only = sampled(lambda: measure_all(COUNT_METRICS[:-1]), ctx.repeats)
        out.append(Measurement(
            "SLA measurement: count/sum metrics", "Catena measure_many (monthly sums of the daily statistics)", ctx.engine, len(counted),
            samples, unit="results", extra={"results_by_metric": dict(by_metric), "legs": legs,
                                             "legs_metrics_only_s": min(legs_only)},
            note=f"{len(counted):,} results (every count/sum SLA × supplier × 12 months); the leg metrics alone "
                 f"take {min(legs_only):.3f} s, the rest is incidents per 1,000 legs"))
        percentile = measure_all(PERCENTILE_METRICS)
        p_samples = sampled(lambda: measure_all(PERCENTILE_METRICS), ctx.repeats, budget_s=60)
        out.append(Measurement(
            "SLA measurement: percentile metrics", "Catena measure_many (p95 delay, monthly delay histograms)",
            ctx.engine, len(percentile), p_samples, unit="results", extra={"legs": legs}))

        rows = []

        def plain():
            with db.engine.connect() as conn:
                rows[:] = conn.execute(text(group_by_sql(ctx.engine))).fetchall()

        g_samples = sampled(plain, ctx.repeats)
        compared, mismatches = lost_rates_match(counted, rows)
        out[0].extra.update(lost_rates_compared=compared, lost_rate_mismatches=mismatches)
        out[0].note += f"; lost rates equal to the plain GROUP BY's: {compared - mismatches:,} of {compared:,}"
        out.append(Measurement("SLA measurement: count/sum metrics", f"plain GROUP BY over legs ({ctx.engine})",
                               ctx.engine, len(rows), g_samples, ceiling=True, unit="groups",
                               extra={"legs": legs}, note="one statement: every count and sum, per supplier, "
                                                          "stage and month"))

        p_rows = []

        def plain_percentile():
            with db.engine.connect() as conn:
                p_rows[:] = conn.execute(text(percentile_sql(ctx.engine))).fetchall()

        pp_samples = sampled(plain_percentile, ctx.repeats, budget_s=60)
        compared, mismatches = percentiles_match(percentile, p_rows)
        out[1].extra.update(percentiles_compared=compared, percentile_mismatches=mismatches)
        out[1].note = (f"{len(percentile):,} results; p95 equal to the plain SQL's, in the hours to two places "
                       f"they are shown in: {compared - mismatches:,} of {compared:,}")
        out.append(Measurement("SLA measurement: percentile metrics",
                               "plain SQL p95 per supplier, stage, month (" +
                               ("percentile_disc" if ctx.engine == "postgresql" else "row_number window") + ")",
                               ctx.engine, len(p_rows), pp_samples, ceiling=True, unit="groups", extra={"legs": legs}))
        db.session.remove()
        db.engine.dispose()

    mark = time.perf_counter()
    con, loaded = duckdb_connection(ctx)
    load_s = time.perf_counter() - mark
    d_rows = []

    def duck():
        d_rows[:] = con.execute(group_by_sql("duckdb")).fetchall()

    d_samples = sampled(duck, ctx.repeats)
    out.append(Measurement("SLA measurement: count/sum metrics", "DuckDB: the same GROUP BY over the same rows",
                           ctx.engine, len(d_rows), d_samples, ceiling=True, unit="groups",
                           extra={"legs": loaded, "load_untimed_s": load_s},
                           note=f"{loaded:,} legs loaded into DuckDB through Arrow in {load_s:.1f} s (untimed)"))
    dp_rows = []

    def duck_percentile():
        dp_rows[:] = con.execute(percentile_sql("duckdb")).fetchall()

    dp_samples = sampled(duck_percentile, ctx.repeats)
    out.append(Measurement("SLA measurement: percentile metrics", "DuckDB quantile_disc over the same rows",
                           ctx.engine, len(dp_rows), dp_samples, ceiling=True, unit="groups", extra={"legs": loaded}))
    con.close()
    return out
