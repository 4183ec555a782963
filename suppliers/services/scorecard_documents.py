"""A supplier's scorecard as it leaves Catena: a PDF (the page as a document, each SLA's
periods with their status colours and a chart drawn on the server as SVG) and an .xlsx
workbook ("Summary": one row per SLA; then one sheet per SLA with its periods).

Both are built from the same `scorecards.scorecard`, so they never disagree with the page or
with each other. Rates are fractions 0–1 (percent-formatted in the workbook), durations hours.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from flask import current_app
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from app.i18n import company_zone, today
from incidents.models import STAGE_LABELS
from reports import pdf
from reports.xlsx import DATE_FORMAT, Column, TableSheet, XlsxBook, workbook_bytes
from suppliers.models import CHAIN_ROLE_LABELS, STATUS_LABELS, WINDOW_LABELS, Supplier
from suppliers.services import scorecards
from suppliers.services.scorecards import RESULT_STATUS_LABELS, Scorecard, ScorecardCell, ScorecardSla

#: Status colours as SVG/CSS colour values (WeasyPrint's SVG renderer reads no stylesheet).
STATUS_FILLS = {"met": "#1e7b4b", "warning": "#c28a12", "breached": "#b42318", "no_data": "#6b7683",
                "not_agreed": "#c8d0d9"}
#: Statuses shown as counts on every SLA, in this order.
COUNTED_STATUSES = ("met", "warning", "breached", "no_data")


def build_scorecard(supplier: Supplier, until: dt.date | None = None, *, months: int = 12,
                    running_day: dt.date | None = None) -> Scorecard:
    """The scorecard the page shows: each SLA over its last `months` periods up to the period
    that contains `until` (default today); the period containing today is marked running."""
    current = today()
    last_day = min(until or current, current)
    return scorecards.scorecard(supplier, last_day, periods=months, running_day=running_day or current)


def latest_measured(sla: ScorecardSla) -> ScorecardCell | None:
    """The most recent period with a value (the running one included)."""
    return next((c for c in reversed(sla.cells) if c.value is not None), None)


# The chart ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Scale:
    lo: float
    hi: float
    y0: float
    y1: float

    def y(self, value) -> float:
        return round(self.y1 - (float(value) - self.lo) / (self.hi - self.lo) * (self.y1 - self.y0), 1)


def _scale(sla: ScorecardSla, y0: float, y1: float) -> _Scale:
    values = [float(v) for c in sla.cells for v in (c.value, c.target, c.warning) if v is not None]
    if not values:
        return _Scale(0.0, 1.0, y0, y1)
    lo, hi = min(values), max(values)
    if sla.metric.unit == "rate":
        pad = max((hi - lo) * 0.15, 0.01)
        return _Scale(max(lo - pad, 0.0), min(hi + pad, 1.0), y0, y1)
    return _Scale(0.0, hi * 1.15 if hi > 0 else 1.0, y0, y1)


def trend_svg(sla: ScorecardSla, value_text, label: str) -> Markup:
    """One SLA's values over its periods as an inline SVG: the value line, the target (dashed)
    and warning level (dotted) per period, each point filled with its status colour.

    `value_text(value, unit)` formats the axis labels. Colours are attributes, every text is
    escaped: nothing in the drawing comes from a stylesheet or can fetch anything.
    """
    width, height = 640, 190
    x0, x1, y0, y1 = 70.0, 630.0, 10.0, 160.0
    cells = sla.cells
    n = len(cells) or 1
    step = (x1 - x0) / n
    scale = _scale(sla, y0, y1)
    unit = sla.metric.unit
    every = max(1, -(-n // 8))
    parts = [f'<svg class="trend" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="{escape(label)}">']
    for v in (scale.lo, (scale.lo + scale.hi) / 2, scale.hi):
        y = scale.y(v)
        parts.append(f'<line x1="{x0}" x2="{x1}" y1="{y}" y2="{y}" stroke="#dde3ea" stroke-width="1"/>')
        parts.append(f'<text x="{x0 - 6}" y="{y + 4}" text-anchor="end" font-size="11" fill="#55606e" '
                     f'font-family="DejaVu Sans, sans-serif">{escape(value_text(Decimal(str(round(v, 6))), unit))}</text>')
    parts.append(f'<line x1="{x0}" x2="{x1}" y1="{y1}" y2="{y1}" stroke="#9aa5b1" stroke-width="1"/>')
    line, target, warning, points, pen = [], [], [], [], False
    for index, cell in enumerate(cells):
        cx = round(x0 + step * (index + 0.5), 1)
        if (n - 1 - index) % every == 0:
            parts.append(f'<text x="{cx}" y="{y1 + 18}" text-anchor="middle" font-size="11" fill="#55606e" '
                         f'font-family="DejaVu Sans, sans-serif">{escape(cell.label)}</text>')
        for level, path in ((cell.target, target), (cell.warning, warning)):
            if level is not None:
                path.append(f"M{round(cx - step / 2, 1)} {scale.y(level)} H{round(cx + step / 2, 1)}")
        if cell.value is not None:
            cy = scale.y(cell.value)
            line.append(f"{'L' if pen else 'M'}{cx} {cy}")
            points.append(f'<circle cx="{cx}" cy="{cy}" r="5" fill="{STATUS_FILLS.get(cell.status, "#6b7683")}" '
                          f'stroke="#ffffff" stroke-width="1.5"/>')
            pen = True
        else:
            pen = False
    if warning:
        parts.append(f'<path d="{" ".join(warning)}" fill="none" stroke="#c28a12" stroke-width="1.5" '
                     f'stroke-dasharray="2 3"/>')
    if target:
        parts.append(f'<path d="{" ".join(target)}" fill="none" stroke="#1d2733" stroke-width="1.5" '
                     f'stroke-dasharray="7 4"/>')
    if line:
        parts.append(f'<path d="{" ".join(line)}" fill="none" stroke="#1f3a5f" stroke-width="2"/>')
    parts.extend(points)
    parts.append("</svg>")
    return Markup("".join(parts))


# PDF ------------------------------------------------------------------------------------------

def scorecard_pdf(supplier: Supplier, until: dt.date | None = None, *, months: int = 12,
                  pdf_variant: str | None = None, uncompressed: bool = False) -> bytes:
    """The supplier's scorecard as a controlled PDF (document SC-<code>-<YYYY-MM>, issued today)."""
    # The pages' own formatting of SLA values (the `sla_value` template filter).
    sla_value = current_app.jinja_env.filters["sla_value"]
    card = build_scorecard(supplier, until, months=months)
    document = pdf.ReportDocument(
        title=str(_l("Supplier scorecard")), number=f"SC-{supplier.code}-{card.last_day:%Y-%m}", revision="1",
        issued_on=today(), subject=f"{supplier.code} — {supplier.legal_name}")
    charts = [trend_svg(sla, sla_value, str(_l("%(name)s: trend over the last %(count)d periods",
                                               name=sla.latest.name, count=len(sla.cells))))
              for sla in card.slas]
    return pdf.render_pdf(
        "reports/scorecard.html", document, pdf_variant=pdf_variant, uncompressed=uncompressed, card=card,
        supplier=supplier, months=months, provisional=card.last_day >= today(), charts=charts,
        latest_measured=latest_measured, STATUS_FILLS=STATUS_FILLS, COUNTED_STATUSES=COUNTED_STATUSES,
        SUPPLIER_STATUS_LABELS=STATUS_LABELS)


# Workbook -------------------------------------------------------------------------------------

#: Characters a sheet title may not hold.
_BAD_TITLE = re.compile(r"[\[\]:*?/\\\x00-\x1f]")


def _sheet_title(name: str, used: set[str]) -> str:
    """A unique sheet title (at most 31 characters, none Excel forbids) from user text."""
    base = _BAD_TITLE.sub("_", name).strip().strip("'") or "SLA"
    base = base.lstrip("=+-@") or "SLA"
    title, n = base[:31], 2
    while title.lower() in used:
        suffix = f" ({n})"
        title, n = base[:31 - len(suffix)] + suffix, n + 1
    used.add(title.lower())
    return title


def _unit(sla: ScorecardSla) -> str:
    """How the summary's values read: rates as fractions (0.95 = 95 %), durations in hours."""
    return str(_l("rate, 0 to 1")) if sla.metric.unit == "rate" else str(_l("hours"))


def _value_format(unit: str) -> str:
    return "0.0%" if unit == "rate" else "0.00"


def _measure(sla: ScorecardSla) -> str:
    stage = sla.latest.stage
    return str(sla.metric.label) + (f" · {STAGE_LABELS.get(stage, stage)}" if stage else "")


def _owner(sla: ScorecardSla) -> str:
    role = sla.latest.chain_role
    return str(_l("Role default: %(role)s", role=CHAIN_ROLE_LABELS.get(role, role))) if role else str(_l("Own SLA"))


def _comparator(sla: ScorecardSla) -> str:
    return str(_l("at least")) if sla.latest.comparator == "gte" else str(_l("at most"))


def _exported() -> dt.datetime:
    return dt.datetime.now(company_zone()).replace(tzinfo=None, microsecond=0)


def scorecard_workbook(supplier: Supplier, until: dt.date | None = None, *, months: int = 12) -> bytes:
    """The scorecard as .xlsx: "Summary" (one row per SLA) and one sheet per SLA (its periods)."""
    card = build_scorecard(supplier, until, months=months)
    workbook = XlsxBook()
    heading = f"{_l('Scorecard of %(code)s', code=supplier.code)} — {supplier.legal_name}"
    facts = [
        (_l("Exported at"), _exported()),
        (_l("Supplier code"), supplier.code),
        (_l("Legal name"), supplier.legal_name),
        (_l("Status"), str(STATUS_LABELS.get(supplier.status, supplier.status))),
        (_l("Up to the period that contains"), card.last_day),
        (_l("Periods shown"), months),
        (_l("Penalties over the periods shown"), card.penalty_total),
    ]
    summary = TableSheet(
        workbook, str(_l("Summary")),
        [Column(_l("SLA"), 30), Column(_l("Measure"), 28), Column(_l("Owner"), 22), Column(_l("Window"), 12),
         Column(_l("Unit"), 9), Column(_l("Latest period"), 13), Column(_l("Latest value"), 13),
         Column(_l("Comparison"), 11),
         Column(_l("Target"), 11), Column(_l("Status"), 16), Column(_l("Periods met"), 12, "0"),
         Column(_l("Periods with a warning"), 12, "0"), Column(_l("Periods breached"), 12, "0"),
         Column(_l("Periods without enough data"), 14, "0"), Column(_l("Penalty total (EUR)"), 16, "#,##0.00")],
        heading=heading, facts=facts)
    for sla in card.slas:
        latest = latest_measured(sla)
        summary.append([
            sla.latest.name, _measure(sla), _owner(sla), str(WINDOW_LABELS.get(sla.window, sla.window)),
            _unit(sla), latest.label if latest else None, latest.value if latest else None, _comparator(sla),
            latest.target if latest else Decimal(sla.latest.target),
            str(RESULT_STATUS_LABELS.get(latest.status, latest.status)) if latest else
            str(RESULT_STATUS_LABELS["no_data"]),
            sla.count("met"), sla.count("warning"), sla.count("breached"), sla.count("no_data"), sla.penalty_total,
        ])
    if not card.slas:
        summary.append([str(_l("No SLA applies to this supplier in these periods."))])
    summary.close()

    used = {str(_l("Summary")).lower()}
    for sla in card.slas:
        fmt = _value_format(sla.metric.unit)
        sheet = TableSheet(
            workbook, _sheet_title(sla.latest.name, used),
            [Column(_l("Period"), 11), Column(_l("From"), 12, DATE_FORMAT), Column(_l("To"), 12, DATE_FORMAT),
             Column(_l("Value"), 11, fmt), Column(_l("Target"), 11, fmt), Column(_l("Warning level"), 13, fmt),
             Column(_l("Sample size"), 12, "#,##0"), Column(_l("Status"), 18), Column(_l("Penalty (EUR)"), 13, "#,##0.00"),
             Column(_l("SLA version"), 11, "0"), Column(_l("Running"), 10)],
            heading=f"{sla.latest.name} — {supplier.code}",
            facts=[(_l("Exported at"), _exported()), (_l("Measure"), _measure(sla)), (_l("Owner"), _owner(sla)),
                   (_l("Window"), str(WINDOW_LABELS.get(sla.window, sla.window))),
                   (_l("Comparison"), _comparator(sla)), (_l("Penalty total (EUR)"), sla.penalty_total)])
        for cell in sla.cells:
            sheet.append([
                cell.label, cell.period.start, cell.period.end, cell.value, cell.target, cell.warning,
                cell.sample_size if cell.result else None, str(RESULT_STATUS_LABELS.get(cell.status, cell.status)),
                cell.penalty if cell.result else None, cell.version,
                str(_l("yes")) if cell.is_running else str(_l("no")),
            ])
        sheet.close()
    return workbook_bytes(workbook)

