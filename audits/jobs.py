"""What the scheduler runs for audits, through one runner (app/scheduler.py `run_job`).

Job bodies are thin: they call the same service function as the command line, and take
plain values (a date), never ORM objects. Each opens its own units of work.
"""
from __future__ import annotations

import datetime as dt
import logging

log = logging.getLogger(__name__)


def run_due_job(at: dt.date | None = None):
    """Fire every audit plan firing due by `at` (the company's today by default), one unit of
    work per firing; the same step as `flask --app app audits run-due`."""
    from app.db import unit_of_work
    from app.i18n import today
    from audits.services.programme import run_due

    run = run_due(at or today(), unit=unit_of_work)
    log.info("audits: %s", run.summary())
    return run


def actions_daily(today: dt.date | None = None):
    """Corrective actions' daily step for `today` (the company's today by default) as one unit
    of work: reminders, escalations, status consequences and effectiveness verifications; the
    e-mails are sent once it commits. The same step as `flask --app app actions remind`."""
    from app.db import unit_of_work
    from app.i18n import today as company_today
    from audits.services.actions import run_daily

    with unit_of_work():
        run = run_daily(today or company_today())
    log.info("corrective actions: %s", run.summary())
    return run
