"""Command line of corrective actions: `actions remind` (register `actions_cli` in app/cli.py)."""
from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

actions_cli = AppGroup("actions", help="Corrective actions requested from suppliers.")


@actions_cli.command("remind")
@click.option("--at", "at", default=None, help="Run as on this day, YYYY-MM-DD (default: today in the company's zone).")
def remind(at):
    """Send due-date reminders and overdue escalations, apply status consequences and verify
    effectiveness that is due; safe to repeat."""
    from audits.jobs import actions_daily

    try:
        day = dt.date.fromisoformat(at) if at else None
    except ValueError:
        raise click.ClickException("Give --at as YYYY-MM-DD.") from None
    click.echo(actions_daily(day).summary())
