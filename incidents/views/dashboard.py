"""The customer-service dashboard page: incident KPIs over a span of months, with their trend
and breakdowns; every figure links to the incidents behind it (incidents.services.dashboard).

    /service/dashboard?from=YYYY-MM&to=YYYY-MM&supplier=<code>&category=<code>&channel=<channel>
"""
from __future__ import annotations

import datetime as dt

from flask import render_template, request

from app.auth.access import permission_required
from app.i18n import today
from incidents.models import CHANNEL_LABELS, IncidentChannel
from incidents.services import dashboard as service
from incidents.services.incidents import all_categories
from incidents.views import bp
from suppliers.services import get_supplier_by_code
from suppliers.services.measurement import month_span, parse_month

#: Months shown when none are asked for, ending with the current month.
DEFAULT_MONTHS = 3
#: Longest span a user may ask for, in months (the trend stays readable and the SLAs few).
MAX_MONTHS = 36


def _span() -> tuple[str, str]:
    """The asked months as YYYY-MM, or the last DEFAULT_MONTHS ending this month."""
    current = today().replace(day=1)
    start = current
    for _ in range(DEFAULT_MONTHS - 1):
        start = (start - dt.timedelta(days=1)).replace(day=1)
    default = (f"{start:%Y-%m}", f"{current:%Y-%m}")
    try:
        first = parse_month(request.args.get("from", ""))
        last = parse_month(request.args.get("to", ""))
    except ValueError:
        return default
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    if not 1 <= months <= MAX_MONTHS:
        return default
    return f"{first:%Y-%m}", f"{last:%Y-%m}"


@bp.route("/service/dashboard")
@permission_required("service.dashboard")
def service_dashboard():
    from_month, to_month = _span()
    first, last = month_span(from_month, to_month)
    categories = all_categories()
    category_code = (request.args.get("category") or "").strip()[:40]
    category = next((c for c in categories if c.code == category_code), None)
    supplier_code = (request.args.get("supplier") or "").strip()[:32].upper()
    supplier = get_supplier_by_code(supplier_code) if supplier_code else None
    channel = request.args.get("channel") or ""
    channel = channel if channel in {c.value for c in IncidentChannel} else ""
    result = service.service_dashboard(first, last, supplier_id=supplier.id if supplier else None,
                                       category_id=category.id if category else None, channel=channel or None)
    # The incident list behind every figure: the same span, filters and every status.
    base_args = {k: v for k, v in (("category", category and category.code),
                                   ("attributed", supplier and supplier.code),
                                   ("channel", channel), ("from", first.isoformat()), ("to", last.isoformat()),
                                   ("status", "all")) if v}
    return render_template(
        "incidents/dashboard.html", d=result, base_args=base_args, from_month=from_month, to_month=to_month,
        categories=categories, category_labels={c.code: c for c in categories}, category=category,
        supplier=supplier, supplier_code=supplier_code, channel=channel, channel_labels=CHANNEL_LABELS,
        unknown_supplier=bool(supplier_code and supplier is None))
