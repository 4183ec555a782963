"""Pages of the suppliers domain, one module per concern, all on one blueprint:
`register` (suppliers, contacts, certificates, status), `standards` (SLAs), `scorecards`."""
from flask import Blueprint

bp = Blueprint("suppliers", __name__, url_prefix="/suppliers")

from suppliers.views import register  # noqa: E402,F401  (routes register on import)
from suppliers.views import standards  # noqa: E402,F401
from suppliers.views import chargebacks  # noqa: E402,F401
from suppliers.views import evidence  # noqa: E402,F401
from suppliers.views import documents  # noqa: E402,F401
