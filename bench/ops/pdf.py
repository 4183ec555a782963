"""PDF reports: the audit report (~20 pages) and a supplier evidence pack (~200 pages).

Catena: `audits.services.report.audit_report_pdf` for the generated year-long audit, and
`suppliers.services.evidence_pack.evidence_pack_pdf` for the supplier with a long history over
the year (bench.generate writes both): gathering the record from the database, rendering the
template, and `reports.pdf.html_to_pdf` (WeasyPrint with the static-only URL fetcher and the
page and size bounds).

Ceiling: WeasyPrint alone rendering the same HTML string (rendered once, untimed, by
`reports.pdf.render_html`) with its default URL fetcher: `HTML(string=…).write_pdf()`.

Each sample runs in a forked child of its own (`bench.core.in_child`): seconds, pages per
second and the child's peak RSS.
"""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from bench.core import BenchContext, Measurement, in_child
from bench.ops.xlsx import rss_mib

_APPS: dict[str, object] = {}
YEAR_FIRST, YEAR_LAST = dt.date(2025, 1, 1), dt.date(2025, 12, 31)


def _app(ctx: BenchContext):
    from bench.generate import make_app

    if ctx.database_url not in _APPS:
        _APPS[ctx.database_url] = make_app(ctx.database_url, Path(ctx.workdir) / "instance-pdf")
    return _APPS[ctx.database_url]


def _report_audit_id() -> int:
    from sqlalchemy import func, select

    from app.db import db
    from audits.models import Audit, Finding

    # The generator's long audit: the one with the most findings.
    return db.session.execute(select(Finding.audit_id, func.count()).group_by(Finding.audit_id)
                              .order_by(func.count().desc(), Finding.audit_id).limit(1)).first()[0] or \
        db.session.scalar(select(func.min(Audit.id)))


def catena_audit_report(ctx: BenchContext) -> int:
    from audits.services.conduct import get_audit
    from audits.services.report import audit_report_pdf

    with _app(ctx).app_context():
        body = audit_report_pdf(get_audit(_report_audit_id()), locale="en")
    return len(body)


def catena_evidence_pack(ctx: BenchContext) -> int:
    from app.db import db
    from bench.generate import EVIDENCE_SUPPLIER_ID
    from suppliers.models import Supplier
    from suppliers.services.evidence_pack import evidence_pack_pdf

    with _app(ctx).app_context():
        body = evidence_pack_pdf(db.session.get(Supplier, EVIDENCE_SUPPLIER_ID), YEAR_FIRST, YEAR_LAST, locale="en")
    return len(body)


def report_html(ctx: BenchContext, which: str) -> str:
    """The HTML Catena hands to WeasyPrint for `which` ("audit" or "pack"), rendered untimed."""
    from flask_babel import force_locale

    from app.db import db
    from reports import pdf

    captured = {}
    original = pdf.html_to_pdf

    def capture(html, **kwargs):
        captured["html"] = html
        return b""

    pdf.html_to_pdf = capture
    try:
        with _app(ctx).app_context(), force_locale("en"):
            if which == "audit":
                from audits.services.conduct import get_audit
                from audits.services.report import audit_report_pdf

                audit_report_pdf(get_audit(_report_audit_id()), locale="en")
            else:
                from bench.generate import EVIDENCE_SUPPLIER_ID
                from suppliers.models import Supplier
                from suppliers.services.evidence_pack import evidence_pack_pdf

                evidence_pack_pdf(db.session.get(Supplier, EVIDENCE_SUPPLIER_ID), YEAR_FIRST, YEAR_LAST, locale="en")
            db.session.remove()
    finally:
        pdf.html_to_pdf = original
    return captured["html"]


def weasyprint_alone(html: str, base_url: str) -> tuple[int, float]:
    """WeasyPrint on the HTML string with its default fetcher: (pages, RSS when it started)."""
    from weasyprint import HTML

    start, cpu = rss_mib(), time.process_time()
    document = HTML(string=html, base_url=base_url).render()
    document.write_pdf()
    return len(document.pages), start, time.process_time() - cpu


def with_start_rss(target):
    def wrapped(ctx):
        start, cpu = rss_mib(), time.process_time()
        return target(ctx), start, time.process_time() - cpu
    wrapped.__name__ = target.__name__
    return wrapped


def run(ctx: BenchContext) -> list[Measurement]:
    import weasyprint  # noqa: F401 - imported before the children fork

    import audits.services.report  # noqa: F401
    import suppliers.services.evidence_pack  # noqa: F401

    app = _app(ctx)
    static = Path(app.static_folder).resolve().as_uri() + "/"
    out: list[Measurement] = []
    repeats = min(ctx.repeats, 2)
    for which, operation, target in (("audit", "PDF audit report", catena_audit_report),
                                     ("pack", "PDF evidence pack", catena_evidence_pack)):
        html = report_html(ctx, which)
        # The ceiling first: its child also says how many pages the document has.
        samples, peaks, own, cpus, pages = [], [], [], [], 0
        for _ in range(repeats):
            elapsed, peak, (pages, start, cpu) = in_child(weasyprint_alone, html, static)
            samples.append(elapsed)
            cpus.append(cpu)
            peaks.append(peak)
            own.append(peak - start)
        ceiling = Measurement(operation, "WeasyPrint alone, same HTML string", ctx.engine, pages, samples,
                              ceiling=True, unit="pages", peak_rss_mib=max(peaks),
                              extra={"html_kib": len(html.encode()) / 1024, "own_peak_mib": max(own),
                                     "cpu_s": min(cpus)})
        samples, peaks, own, cpus = [], [], [], []
        for _ in range(repeats):
            elapsed, peak, (size, start, cpu) = in_child(with_start_rss(target), ctx)
            samples.append(elapsed)
            cpus.append(cpu)
            peaks.append(peak)
            own.append(peak - start)
        operation_name = f"{operation} ({pages} pages)"
        ceiling.operation = operation_name
        out.append(Measurement(operation_name, "Catena (record, template, html_to_pdf with the static-only fetcher)",
                               ctx.engine, pages, samples, unit="pages", peak_rss_mib=max(peaks),
                               extra={"pdf_kib": size / 1024, "own_peak_mib": max(own), "cpu_s": min(cpus),
                                      "cpu_ratio": min(cpus) / ceiling.extra["cpu_s"]},
                               note=f"CPU time {min(cpus):.2f} s vs WeasyPrint alone {ceiling.extra['cpu_s']:.2f} s "
                                    f"({min(cpus) / ceiling.extra['cpu_s']:.2f}×); own memory (peak RSS above the process's at start) {max(own):.0f} MiB, "
                                    f"WeasyPrint alone {ceiling.extra['own_peak_mib']:.0f} MiB; "
                                    f"{len(html.encode()) / 1024:.0f} KiB of HTML"))
        out.append(ceiling)
    return out
