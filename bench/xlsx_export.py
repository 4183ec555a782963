"""Benchmark: writing 100,000 incident rows as .xlsx, our writer beside XlsxWriter.

    .venv/bin/python bench/xlsx_export.py [--rows 100000]

`ours` is what an incident export runs: `reports.xlsx.TableSheet` over an openpyxl write-only
workbook, every value through `cell_value` (formula neutralisation), the same 16 columns, number
formats, frozen header and autofilter. `xlsxwriter` writes the same rows with XlsxWriter in
`constant_memory` mode (rows streamed to disk), the fastest mature writer, with the same
neutralisation so the comparison is like for like. The rows are made in memory (no database):
this measures the writers. Each writer runs in a child process of its own, so peak RSS is its
own. XlsxWriter is a bench-only dependency (bench/requirements.txt).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HEADER = ["Incident", "Reported at", "Reported on", "Channel", "Category", "Priority", "Status", "Order",
          "Respond by", "First response at", "Resolved at", "First response (hours)", "Resolution (hours)",
          "CSAT", "Assignee", "Description"]


def rows(count: int):
    rng = random.Random(7)
    start = dt.datetime(2026, 1, 1, 8, 0)
    for n in range(count):
        reported = start + dt.timedelta(minutes=7 * n)
        yield [n + 1, reported, reported.date(), "Web form", "Late delivery", "Normal", "Open", f"ORD-{n:07d}",
               reported + dt.timedelta(hours=24), reported + dt.timedelta(hours=2), None,
               round(rng.random() * 30, 2), None, rng.randint(1, 5), "Operator 1",
               "=HYPERLINK(\"x\")" if n % 1000 == 0 else f"Parcel {n} arrived two days late, box dented."]


def write_ours(count: int, path: str) -> None:
    from openpyxl import Workbook

    from reports.xlsx import DATE_FORMAT, DATETIME_FORMAT, Column, TableSheet

    formats = {1: DATETIME_FORMAT, 2: DATE_FORMAT, 8: DATETIME_FORMAT, 9: DATETIME_FORMAT, 10: DATETIME_FORMAT,
               11: "0.00", 12: "0.00", 13: "0"}
    columns = [Column(h, 60 if i == 15 else 14, formats.get(i), wrap=i == 15) for i, h in enumerate(HEADER)]
    workbook = Workbook(write_only=True)
    sheet = TableSheet(workbook, "Incidents", columns, heading="Incidents",
                       facts=[("Exported at", dt.datetime.now()), ("Filter", "none")])
    for row in rows(count):
        sheet.append(row)
    sheet.close()
    workbook.save(path)


def write_xlsxwriter(count: int, path: str) -> None:
    import xlsxwriter

    from reports.xlsx import cell_value

    workbook = xlsxwriter.Workbook(path, {"constant_memory": True})
    sheet = workbook.add_worksheet("Incidents")
    bold = workbook.add_format({"bold": True})
    header = workbook.add_format({"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F3A5F"})
    date_f, datetime_f = workbook.add_format({"num_format": "yyyy-mm-dd"}), workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    number_f, wrap_f = workbook.add_format({"num_format": "0.00"}), workbook.add_format({"text_wrap": True})
    formats = {1: datetime_f, 2: date_f, 8: datetime_f, 9: datetime_f, 10: datetime_f, 11: number_f, 12: number_f,
               15: wrap_f}
    for index in range(len(HEADER)):
        sheet.set_column(index, index, 60 if index == 15 else 14)
    sheet.write_string(0, 0, "Incidents", bold)
    sheet.write_string(1, 0, "Exported at", bold)
    sheet.write_datetime(1, 1, dt.datetime.now(), datetime_f)
    sheet.write_string(2, 0, "Filter", bold)
    sheet.write_string(2, 1, "none")
    first = 4
    for index, label in enumerate(HEADER):
        sheet.write_string(first, index, label, header)
    sheet.freeze_panes(first + 1, 0)
    r = first
    for r, row in enumerate(rows(count), start=first + 1):
        for c, value in enumerate(row):
            value = cell_value(value)
            if value is None:
                continue
            if isinstance(value, str):
                sheet.write_string(r, c, value, formats.get(c))
            elif isinstance(value, (dt.date, dt.datetime)):
                sheet.write_datetime(r, c, value, formats.get(c))
            else:
                sheet.write_number(r, c, value, formats.get(c))
    sheet.autofilter(first, 0, r, len(HEADER) - 1)
    workbook.close()


def child(writer: str, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "out.xlsx")
        started = time.perf_counter()
        (write_ours if writer == "ours" else write_xlsxwriter)(count, path)
        seconds = time.perf_counter() - started
        size = os.path.getsize(path)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"writer": writer, "seconds": seconds, "rows_per_s": count / seconds,
                      "peak_rss_mib": peak_kib / 1024, "size_mib": size / 2**20}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--child", choices=["ours", "xlsxwriter"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows)
        return
    print(f"{args.rows:,} incident rows")
    print(f"{'writer':<12}{'seconds':>10}{'rows/s':>12}{'peak RSS':>12}{'file':>10}")
    for writer in ("ours", "xlsxwriter"):
        out = subprocess.run([sys.executable, __file__, "--child", writer, "--rows", str(args.rows)],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"{writer:<12}{r['seconds']:>10.1f}{r['rows_per_s']:>12,.0f}{r['peak_rss_mib']:>9.0f} MiB"
              f"{r['size_mib']:>7.1f} MiB")


if __name__ == "__main__":
    main()
