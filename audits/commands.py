"""Command line of the audits domain: `audits run-due`."""
from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

audits_cli = AppGroup("audits", help="The audit programme, audits and corrective actions.")


@audits_cli.command("run-due")
@click.option("--at", "at", default=None, help="Run as on this day, YYYY-MM-DD (default: today in the company's zone).")
def run_due(at):
    """Fire every audit plan firing due by that day, catching up missed days; safe to repeat."""
    from audits.jobs import run_due_job

    try:
        day = dt.date.fromisoformat(at) if at else None
    except ValueError:
        raise click.ClickException("Give --at as YYYY-MM-DD.") from None
    run = run_due_job(day)
    click.echo(run.summary())
    if run.failed:
        raise SystemExit(1)
