"""Pages of the questionnaires domain on one blueprint: `builder` (templates, versions,
sections, questions), `imports` (.xlsx import and export of templates), `assignments`
(sending, the review and the decision), `outputs` (the completed questionnaire as PDF and
.xlsx, the assignment list as .xlsx) and `portal` (the supplier's private link, no account)."""
from flask import Blueprint

bp = Blueprint("questionnaires", __name__)

from questionnaires.views import builder  # noqa: E402,F401  (routes register on import)
from questionnaires.views import imports  # noqa: E402,F401
from questionnaires.views import assignments  # noqa: E402,F401
from questionnaires.views import portal  # noqa: E402,F401
from questionnaires.views import outputs  # noqa: E402,F401
