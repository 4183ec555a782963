"""Pages for orders and the chain of legs they passed through."""
from __future__ import annotations

from flask import abort, current_app, render_template, request

from app.auth.access import permission_required
from app.db import utcnow
from app.pagination import BadCursor
from incidents.forms import leg_filters_from_args
from incidents.models import OUTCOME_LABELS, STAGE_LABELS
from incidents.services import orders as order_services
from incidents.views import bp

#: Badge colour and label of each leg state on the timeline (red = late, as operators know it).
LEG_STATES = {
    "on_time": "success",
    "late": "danger",
    "overdue": "danger",
    "lost": "danger",
    "open": "secondary",
    "cancelled": "light",
}


@bp.record_once
def _share_labels(state):
    state.app.jinja_env.globals.update(STAGE_LABELS=STAGE_LABELS, OUTCOME_LABELS=OUTCOME_LABELS,
                                       LEG_STATE_COLOURS=LEG_STATES)


@bp.route("/orders/")
@permission_required("orders.view")
def orders():
    filters = leg_filters_from_args(request.args)
    text, supplier = filters.text, filters.supplier
    try:
        page = order_services.find_orders(text, supplier, cursor=request.args.get("cursor"),
                                          limit=current_app.config["PAGE_SIZE"])
    except BadCursor:
        abort(400)
    args = {k: v for k, v in request.args.items() if k != "cursor"}
    return render_template("incidents/orders.html", page=page, q=text or "", supplier=supplier or "", args=args,
                           now=utcnow(), leg_state=order_services.leg_state)


@bp.route("/orders/<path:ref>")
@permission_required("orders.view")
def order(ref: str):
    found = order_services.get_order(ref)
    if found is None:
        abort(404)
    return render_template("incidents/order.html", order=found, timeline=order_services.timeline(found, utcnow()))
