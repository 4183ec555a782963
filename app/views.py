"""Pages that belong to no single domain: the home page."""
from __future__ import annotations

from flask import Blueprint, render_template

from app.auth.access import permission_required
from app.i18n import today
from suppliers import services as supplier_services

bp = Blueprint("core", __name__)


@bp.route("/")
@permission_required("suppliers.view")
def home():
    return render_template("home.html", overview=supplier_services.register_overview(today()), today=today())
