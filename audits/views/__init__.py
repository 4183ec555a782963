"""Pages of the audits domain on one blueprint: `plans` (the programme and its calendar),
`audits` (an audit, its snapshot, checklist, findings and report), `actions` (corrective
actions, the quality office's side) and `portal` (the supplier's private link to its action)."""
from flask import Blueprint

bp = Blueprint("audits", __name__)

from audits.views import plans  # noqa: E402,F401  (routes register on import)
from audits.views import audits  # noqa: E402,F401
from audits.views import actions  # noqa: E402,F401
from audits.views import portal  # noqa: E402,F401
from audits.views import reports  # noqa: E402,F401
