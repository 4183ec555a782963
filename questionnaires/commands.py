"""Command line of the questionnaires domain: `questionnaires remind`."""
from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

questionnaires_cli = AppGroup("questionnaires", help="Qualification questionnaires.")


@questionnaires_cli.command("remind")
@click.option("--at", "at", default=None, help="Run as on this day, YYYY-MM-DD (default: today in the company's zone).")
def remind(at):
    """Send due and overdue reminders and start requalifications that are due; safe to repeat."""
    from questionnaires.jobs import daily

    try:
        day = dt.date.fromisoformat(at) if at else None
    except ValueError:
        raise click.ClickException("Give --at as YYYY-MM-DD.") from None
    click.echo(daily(day).summary())
