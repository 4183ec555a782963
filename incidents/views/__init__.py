"""Pages of the incidents domain on one blueprint: `orders` (orders and their chain),
`imports` (leg imports from files), `incidents` (intake, life, backlog), `attribution`."""
from flask import Blueprint

bp = Blueprint("incidents", __name__)

from incidents.views import attribution  # noqa: E402,F401  (routes register on import)
from incidents.views import disputes  # noqa: E402,F401
from incidents.views import imports  # noqa: E402,F401
from incidents.views import incidents  # noqa: E402,F401
from incidents.views import orders  # noqa: E402,F401
from incidents.views import dashboard  # noqa: E402,F401
from incidents.views import documents  # noqa: E402,F401
