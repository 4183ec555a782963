""".xlsx export of incident rows: Catena's real export path beside the plain writers.

Catena: `reports.exports.write_export("incidents", …)` — what the background export worker runs
— over the generated database: the backlog's filtered query (every status, reported between two
days chosen so that about 100,000 rows match; all 1,000,000 for the large case) read as
plain values joined to category, order and assignee (`ExportKind.values`), the row function
(company-zone times, labels, hours), and `reports.xlsx.TableSheet` on an XlsxWriter
constant_memory workbook (`reports.xlsx.XlsxBook`).

Ceilings, over the same rows (one plain SQL statement with the same joins, order and filter,
streamed from the DB-API cursor, and the same values: local times, labels, hours, formula
neutralisation through `reports.xlsx.cell_value`):

- XlsxWriter in `constant_memory` mode, the same formats, frozen header and autofilter;
- the fastest writer found on PyPI that installs here: rustpy-xlsxwriter (Rust; rows streamed
  from a generator) and PyExcelerate (holds the sheet in memory, so only at 100,000 rows).

Every writer runs in a forked child of its own (`bench.core.in_child`): its seconds and its own
peak RSS. For the 100,000-row case the run also times the parts of Catena's export — the plain
query alone, Catena's query and row function alone (no writer) — so the writer's share is known.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.core import BenchContext, Measurement, in_child

HEADER = ["Incident", "Reported at", "Reported on", "Channel", "Category", "Priority", "Status", "Order",
          "Respond by", "First response at", "Resolved at", "First response (hours)", "Resolution (hours)",
          "CSAT", "Assignee", "Description"]
DATETIME_COLUMNS = (1, 8, 9, 10)
PLAIN_SQL = (
    "SELECT i.id, i.reported_at, i.reported_day, i.channel, c.label_en, i.priority, i.status, "
    "COALESCE(o.ref, i.order_ref_given), i.respond_by, i.first_response_at, i.resolved_at, "
    "i.first_response_seconds, i.resolution_seconds, i.csat, u.name, i.description "
    "FROM incidents i JOIN incident_categories c ON c.id = i.category_id "
    "LEFT JOIN orders o ON o.id = i.order_id LEFT JOIN users u ON u.id = i.assignee_id "
    "WHERE i.reported_day BETWEEN {first} AND {last} ORDER BY i.respond_by, i.id")


_APPS: dict[str, object] = {}


def rss_mib() -> float:
    """This process's resident memory now (a forked child starts with its parent's)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def own_memory(export):
    """`export` returning (rows, RSS when it started, CPU seconds): the child's peak minus that
    RSS is what the export itself added, whatever the runner held when it forked; the CPU time
    (this process only, not the database server's) does not count waiting for a busy CPU."""
    def wrapped(ctx, first, last, path):
        start, cpu = rss_mib(), time.process_time()
        rows = export(ctx, first, last, path)
        return rows, start, time.process_time() - cpu
    wrapped.__name__ = export.__name__
    return wrapped


def _app(ctx: BenchContext):
    """One application per database, made in the runner before the children fork (so a child's
    time is the export's, not Catena's imports and start-up); it connects only in the children."""
    from bench.generate import make_app

    if ctx.database_url not in _APPS:
        _APPS[ctx.database_url] = make_app(ctx.database_url, Path(ctx.workdir) / "instance-xlsx")
    return _APPS[ctx.database_url]


def span_for(ctx: BenchContext, rows: int) -> tuple[str, str, int]:
    """(from, to, matching rows): the first days of the year holding at least `rows` incidents."""
    from sqlalchemy import create_engine, text

    from app.config import normalise_database_url

    engine = create_engine(normalise_database_url(ctx.database_url))
    with engine.connect() as conn:
        days = conn.execute(text("SELECT reported_day, COUNT(*) FROM incidents GROUP BY reported_day "
                                 "ORDER BY reported_day")).all()
    engine.dispose()
    total = 0
    for day, count in days:
        total += count
        if total >= rows:
            return str(days[0][0])[:10], str(day)[:10], total
    return str(days[0][0])[:10], str(days[-1][0])[:10], total


# Catena's export ------------------------------------------------------------------------------

def catena_export(ctx: BenchContext, first: str, last: str, path: str) -> int:
    from flask_babel import force_locale

    from reports.exports import write_export

    app = _app(ctx)
    with app.app_context(), force_locale("en"):
        return write_export("incidents", {"status": ["all"], "from": [first], "to": [last]}, path)


def catena_rows_only(ctx: BenchContext, first: str, last: str) -> int:
    """Catena's query and row function, no writer: what the export costs before writing."""
    from flask_babel import force_locale

    from reports.exports import ensure_registered, row_context, stream_rows

    app = _app(ctx)
    kind = ensure_registered()["incidents"]
    count = 0
    with app.app_context(), force_locale("en"), row_context():
        for item in stream_rows(kind, {"status": ["all"], "from": [first], "to": [last]}):
            kind.row(item)
            count += 1
    return count


# The plain rows -------------------------------------------------------------------------------

def plain_rows(ctx: BenchContext, first: str, last: str, *, convert: bool = True):
    """The same rows and values as Catena's export, from one SQL statement on the DB-API cursor."""
    from sqlalchemy import create_engine

    from app.config import normalise_database_url
    from incidents.models import CHANNEL_LABELS, INCIDENT_STATUS_LABELS, PRIORITY_LABELS
    from reports.xlsx import cell_value

    zone = ZoneInfo(os.environ.get("CATENA_TIMEZONE", "Europe/Rome"))
    utc = dt.timezone.utc
    labels = {3: {k.value: str(v) for k, v in CHANNEL_LABELS.items()},
              5: {k.value: str(v) for k, v in PRIORITY_LABELS.items()},
              6: {k.value: str(v) for k, v in INCIDENT_STATUS_LABELS.items()}}
    engine = create_engine(normalise_database_url(ctx.database_url))
    raw = engine.raw_connection()
    sqlite = ctx.engine == "sqlite"
    try:
        cursor = raw.dbapi_connection.cursor(name="bench_export") if not sqlite else raw.cursor()
        cursor.execute(PLAIN_SQL.format(first=f"'{first}'", last=f"'{last}'"))
        while True:
            part = cursor.fetchmany(5000)
            if not part:
                break
            if not convert:
                yield from part
                continue
            for row in part:
                row = list(row)
                for c in DATETIME_COLUMNS:
                    value = row[c]
                    if value is not None:
                        if sqlite:
                            value = dt.datetime.fromisoformat(value).replace(tzinfo=utc)
                        row[c] = value.astimezone(zone).replace(tzinfo=None)
                if sqlite:
                    row[2] = dt.date.fromisoformat(row[2])
                for c, table in labels.items():
                    row[c] = table.get(row[c], row[c])
                row[11] = None if row[11] is None else round(row[11] / 3600, 2)
                row[12] = None if row[12] is None else round(row[12] / 3600, 2)
                yield [cell_value(v) for v in row]
        cursor.close()
    finally:
        raw.close()
        engine.dispose()


def plain_query_only(ctx: BenchContext, first: str, last: str) -> int:
    return sum(1 for _ in plain_rows(ctx, first, last, convert=False))


def xlsxwriter_export(ctx: BenchContext, first: str, last: str, path: str) -> int:
    import xlsxwriter

    workbook = xlsxwriter.Workbook(path, {"constant_memory": True})
    sheet = workbook.add_worksheet("Incidents")
    bold = workbook.add_format({"bold": True})
    header = workbook.add_format({"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F3A5F"})
    date_f = workbook.add_format({"num_format": "yyyy-mm-dd"})
    datetime_f = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    hours_f, int_f = workbook.add_format({"num_format": "0.00"}), workbook.add_format({"num_format": "0"})
    wrap_f = workbook.add_format({"text_wrap": True, "valign": "top"})
    formats = {1: datetime_f, 2: date_f, 8: datetime_f, 9: datetime_f, 10: datetime_f, 11: hours_f, 12: hours_f,
               13: int_f, 15: wrap_f}
    for index, width in enumerate([10, 17, 12, 10, 22, 10, 14, 16, 17, 17, 17, 12, 12, 7, 20, 60]):
        sheet.set_column(index, index, width)
    sheet.write_string(0, 0, "Incidents", bold)
    sheet.write_string(1, 0, "Exported at", bold)
    sheet.write_datetime(1, 1, dt.datetime.now(), datetime_f)
    sheet.write_string(2, 0, "Filter", bold)
    sheet.write_string(2, 1, f"{first} – {last}")
    top = 4
    for index, label in enumerate(HEADER):
        sheet.write_string(top, index, label, header)
    sheet.freeze_panes(top + 1, 0)
    r = top
    for r, row in enumerate(plain_rows(ctx, first, last), start=top + 1):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, str):
                sheet.write_string(r, c, value, formats.get(c))
            elif isinstance(value, dt.date):
                sheet.write_datetime(r, c, value, formats.get(c))
            else:
                sheet.write_number(r, c, value, formats.get(c))
    sheet.autofilter(top, 0, r, len(HEADER) - 1)
    workbook.close()
    return r - top


def rustpy_export(ctx: BenchContext, first: str, last: str, path: str) -> int:
    from rustpy_xlsxwriter import FastExcel

    count = 0

    def records():
        nonlocal count
        for row in plain_rows(ctx, first, last):
            count += 1
            yield dict(zip(HEADER, row))

    FastExcel(path).format(bold_headers=True, float_format="0.00").freeze(row=1, col=0).sheet(
        "Incidents", records()).save()
    return count


def pyexcelerate_export(ctx: BenchContext, first: str, last: str, path: str) -> int:
    from pyexcelerate import Workbook

    data = [HEADER] + list(plain_rows(ctx, first, last))
    workbook = Workbook()
    workbook.new_sheet("Incidents", data=data)
    workbook.save(path)
    return len(data) - 1


# The operation ----------------------------------------------------------------------------------

def _measure(ctx, target, first, last, name, repeats):
    """Seconds per sample, the largest peak RSS, rows, file size: each sample in a child of its own."""
    samples, peaks, growths, cpus, rows, size = [], [], [], [], 0, 0
    for n in range(repeats):
        path = str(Path(ctx.workdir) / f"{name}-{n}.xlsx")
        elapsed, peak, (rows, start, cpu) = in_child(own_memory(target), ctx, first, last, path)
        samples.append(elapsed)
        cpus.append(cpu)
        peaks.append(peak)
        growths.append(peak - start)
        size = os.path.getsize(path)
        os.remove(path)
    return samples, max(peaks), rows, {"file_mib": size / 2**20, "own_peak_mib": max(growths),
                                       "rss_at_start_mib": start, "cpu_s": sorted(cpus)[len(cpus) // 2]}


def run(ctx: BenchContext) -> list[Measurement]:
    import reports.exports  # noqa: F401 - imported before the children fork, like the app
    import xlsxwriter  # noqa: F401

    _app(ctx)
    out: list[Measurement] = []
    full = not ctx.quick
    cases = [("100k", 100_000 if full else 5_000), ("1M", 1_000_000 if full else ctx.size.incidents)]
    large_engines = os.environ.get("BENCH_XLSX_LARGE_ENGINES", "postgresql" if full else "sqlite,postgresql")
    for label, wanted in cases:
        if label == "1M" and ctx.engine not in large_engines.split(","):
            continue
        first, last, rows = span_for(ctx, wanted)
        operation = f"xlsx export, {label} incident rows" if full else f"xlsx export ({label} case: {rows:,} rows)"
        repeats = 1 if label == "1M" and full else min(ctx.repeats, 2 if full else ctx.repeats)
        samples, peak, written, extra = _measure(ctx, catena_export, first, last, "catena", repeats)
        catena = Measurement(operation, "Catena write_export (XlsxWriter constant_memory, TableSheet)", ctx.engine,
                             written, samples, unit="rows", peak_rss_mib=peak, extra={**extra, "from": first, "to": last})
        out.append(catena)
        if label == "100k":
            query_s, _, _ = in_child(plain_query_only, ctx, first, last)
            orm_s, _, _ = in_child(catena_rows_only, ctx, first, last)
            writer_s = catena.median_s - orm_s
            catena.extra.update(query_only_s=query_s, orm_rows_s=orm_s, writer_s=writer_s)
            catena.note = (f"own memory (peak RSS above the process's RSS at start) {extra['own_peak_mib']:.0f} MiB; "
                           f"parts: plain query {query_s:.2f} s; Catena's query and row function, no writer, "
                           f"{orm_s:.2f} s; so the writer (XlsxWriter, TableSheet) ≈ {writer_s:.2f} s "
                           f"({writer_s / catena.median_s:.0%})")
        if label == "1M":
            catena.note = f"own memory (peak RSS above the process's RSS at start) {extra['own_peak_mib']:.0f} MiB"
        s, p, w, extra = _measure(ctx, xlsxwriter_export, first, last, "xlsxwriter", repeats)
        out.append(Measurement(operation, "XlsxWriter constant_memory, plain SQL rows", ctx.engine, w, s,
                               ceiling=True, peak_rss_mib=p, extra=extra))
        try:
            s, p, w, extra = _measure(ctx, rustpy_export, first, last, "rustpy", repeats)
            out.append(Measurement(operation, "rustpy-xlsxwriter (Rust), plain SQL rows", ctx.engine, w, s,
                                   ceiling=True, peak_rss_mib=p, extra=extra))
        except Exception as exc:  # noqa: BLE001 - a third-party writer failing is a finding, not a crash
            catena.note += f"; rustpy-xlsxwriter failed: {exc!r}"
        if label == "100k":
            try:
                s, p, w, extra = _measure(ctx, pyexcelerate_export, first, last, "pyexcelerate", repeats)
                out.append(Measurement(operation, "PyExcelerate (sheet in memory), plain SQL rows", ctx.engine, w, s,
                                       ceiling=True, peak_rss_mib=p, extra=extra))
            except Exception as exc:  # noqa: BLE001
                catena.note += f"; PyExcelerate failed: {exc!r}"
        # CPU seconds of the writing process (the database server's not counted): a comparison
        # that waiting for a busy machine does not blur.
        ceilings = [m for m in out if m.operation == operation and m.ceiling and m.extra.get("cpu_s")]
        catena.extra["cpu_ratios"] = {m.variant: catena.extra["cpu_s"] / m.extra["cpu_s"] for m in ceilings}
        catena.note += "; CPU time " + ", ".join(
            [f"Catena {catena.extra['cpu_s']:.2f} s"] + [f"{m.variant.split(',')[0]} {m.extra['cpu_s']:.2f} s"
                                                         for m in ceilings])
    return out
