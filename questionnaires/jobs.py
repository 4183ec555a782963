"""What the scheduler runs for questionnaires. The audits issue's scheduler registers
`daily` as a daily job; until then `flask --app app questionnaires remind` runs the same step."""
from __future__ import annotations

import datetime as dt
import logging

from app.db import unit_of_work

log = logging.getLogger(__name__)


def daily(today: dt.date | None = None):
    """Reminders and requalification for `today` (the company's today by default), as one
    unit of work: the e-mails are sent once it commits."""
    from app.i18n import today as company_today
    from questionnaires.services.reminders import run_daily

    with unit_of_work():
        run = run_daily(today or company_today())
    log.info("questionnaires: %s", run.summary())
    return run
