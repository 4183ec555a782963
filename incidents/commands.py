"""Command line of the incidents domain: `import legs FILE --profile NAME`, `import profiles`,
`import incidents FILE [--timezone ZONE] [--valid-only]`.

An import from the command line runs the same service as the web page, with no row limit:
it streams the file once (check and stage), makes the legs visible in one transaction and shows its
progress on stderr. It exits with status 1, listing the problems, when the file is refused.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import lazy_gettext as _l

from app.db import db
from incidents.services import imports, incident_imports
from incidents.services.legs import FIELD_LABELS

import_cli = AppGroup("import", help="Import orders and legs from files.")

#: Problems printed when a file is refused; the rest are in the batch's error report.
PROBLEMS_SHOWN = 50


@import_cli.command("legs")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--profile", "profile_name", required=True,
              help="Name of a saved import profile (see `import profiles`).")
@click.option("--valid-only", is_flag=True,
              help="Write the valid rows and report the others, instead of all or nothing.")
@click.option("--quiet", is_flag=True, help="Print only the summary.")
def import_legs(file: Path, profile_name: str, valid_only: bool, quiet: bool):
    """Import orders and legs from FILE (.csv or .xlsx) through a saved import profile."""
    profile = imports.get_profile(profile_name)
    if profile is None:
        names = ", ".join(p.name for p in imports.list_profiles()) or "none yet; save one on the import page"
        raise click.ClickException(f"No import profile named {profile_name!r}. Saved profiles: {names}.")
    report = _ProgressReport(quiet)
    try:
        batch = imports.import_legs_file(
            file, profile, None, valid_rows_only=valid_only, file_name=file.name, commit=db.session.commit,
            check_progress=report.checked, progress=report.written)
    except imports.ImportRejected as exc:
        report.done()
        click.echo(f"Refused: {exc.message}", err=True)
        for name, message in exc.fields.items():
            click.echo(f"  {_column(name, profile.mapping.get(name))}: {message}", err=True)
        raise click.exceptions.Exit(1) from None
    report.done()
    _print_summary(batch)
    if batch.status != "complete":
        raise click.exceptions.Exit(1)


@import_cli.command("profiles")
def list_profiles():
    """List saved import profiles: name, time zone, date format, delimiter, columns mapped."""
    for profile in imports.list_profiles():
        delimiter = {"\t": "tab", None: "detect"}.get(profile.delimiter, profile.delimiter)
        click.echo(f"{profile.name}\t{profile.timezone}\t{profile.datetime_format or 'ISO 8601'}\t{delimiter}\t"
                   f"{len(profile.mapping or {})} columns")


def _column(field: str | None, header: str | None) -> str:
    label = str(FIELD_LABELS[field]) if field in FIELD_LABELS else (field or "file")
    return f"{label} ({header})" if header else label


def _print_summary(batch) -> None:
    if batch.status == "failed" and not batch.rows_created and not batch.rows_updated:
        click.echo(f"Refused: {batch.rows_rejected} of {batch.rows_total} rows have errors; nothing was written "
                   f"(import {batch.id}).", err=True)
    else:
        click.echo(f"Import {batch.id} {batch.status}: {batch.rows_total} rows, {batch.rows_created} legs created, "
                   f"{batch.rows_updated} updated, {batch.rows_rejected} rows set aside.")
    if batch.notes:
        click.echo(batch.notes, err=batch.status != "complete")
    problems = batch.problems or []
    for problem in problems[:PROBLEMS_SHOWN]:
        where = f"row {problem['row']}" if problem.get("row") else "file"
        click.echo(f"  {where}, {_column(problem.get('column'), problem.get('header'))}: "
                   f"{problem['message']} ({problem.get('severity', 'error')})", err=batch.status != "complete")
    if len(problems) > PROBLEMS_SHOWN:
        click.echo(f"  … and more: see the error report of import {batch.id} on the import page.",
                   err=batch.status != "complete")


class _ProgressReport:
    """Progress on stderr: one line per pass rewritten in place on a terminal; otherwise a
    line every `step` rows and the final count of each pass (a log should not get a line per
    chunk)."""

    def __init__(self, quiet: bool, step: int = 100_000):
        self.quiet = quiet
        self.step = step
        self.is_terminal = sys.stderr.isatty()
        self.rows_checked = 0
        self.phase = None
        self.last_shown = 0
        self.unshown: str | None = None

    def checked(self, rows: int) -> None:
        self.rows_checked = rows
        self._show("check", rows, f"Checked {rows:,} rows")

    def written(self, rows: int) -> None:
        share = f" ({rows * 100 // self.rows_checked} %)" if self.rows_checked else ""
        self._show("write", rows, f"Written {rows:,} of {self.rows_checked:,} rows{share}")

    def _show(self, phase: str, rows: int, text: str) -> None:
        if self.quiet:
            return
        if phase != self.phase:
            self._end_phase()
            self.phase, self.last_shown = phase, 0
        if self.is_terminal:
            click.echo(f"\r{text}\x1b[K", nl=False, err=True)
            self.unshown = None
        elif rows == self.last_shown:
            self.unshown = None  # the final call of a pass repeats the last count shown
        elif rows - self.last_shown >= self.step:
            click.echo(text, err=True)
            self.last_shown, self.unshown = rows, None
        else:
            self.unshown = text

    def _end_phase(self) -> None:
        if self.phase is None:
            return
        if self.is_terminal:
            click.echo("", err=True)
        elif self.unshown:
            click.echo(self.unshown, err=True)
        self.unshown = None

    def done(self) -> None:
        self._end_phase()
        self.phase = None


@import_cli.command("incidents")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--timezone", "timezone", default=None,
              help="Time zone of the file's times without offset (default: CATENA_TIMEZONE).")
@click.option("--valid-only", is_flag=True,
              help="Write the valid rows and report the others, instead of all or nothing.")
@click.option("--profile", "profile_name", default=None,
              help="Accepted for symmetry with `import legs` and ignored: incident files use fixed column names.")
def import_incidents(file: Path, timezone: str | None, valid_only: bool, profile_name: str | None):
    """Import incidents from FILE (.csv or .xlsx) whose columns are named external_id,
    order_ref, category, channel, priority, description, reported_at. A ticket already
    recorded (same external_id) is left unchanged."""
    if profile_name:
        click.echo(str(_l("Note: --profile is ignored; incident files use the fixed column names %(names)s.",
                          names=", ".join(incident_imports.INCIDENT_FIELDS))), err=True)
    zone = timezone or current_app.config["CATENA_TIMEZONE"]
    try:
        batch = incident_imports.import_incidents_file(file, None, timezone=zone, valid_rows_only=valid_only,
                                                       commit=db.session.commit, file_name=file.name)
    except imports.ImportRejected as exc:
        click.echo(str(_l("Refused: %(message)s", message=exc.message)), err=True)
        for name, message in exc.fields.items():
            click.echo(f"  {name}: {message}", err=True)
        raise click.exceptions.Exit(1) from None
    failed = batch.status != "complete"
    if failed and not batch.rows_created and not batch.rows_updated:
        click.echo(str(_l("Refused: %(rejected)d of %(total)d rows have errors; nothing was written (import %(id)d).",
                          rejected=batch.rows_rejected, total=batch.rows_total, id=batch.id)), err=True)
    else:
        click.echo(str(_l("Import %(id)d %(status)s: %(total)d rows, %(created)d incidents created, "
                          "%(recorded)d already recorded, %(rejected)d rows set aside.",
                          id=batch.id, status=batch.status, total=batch.rows_total, created=batch.rows_created,
                          recorded=batch.rows_updated, rejected=batch.rows_rejected)))
    if batch.notes:
        click.echo(batch.notes, err=failed)
    problems = batch.problems or []
    for problem in problems[:PROBLEMS_SHOWN]:
        where = str(_l("row %(n)d", n=problem["row"])) if problem.get("row") else str(_l("file"))
        column = problem.get("column") or ""
        if problem.get("header") and problem["header"] != column:
            column = f"{problem['header']} ({column})"
        click.echo(f"  {where}, {column}: {problem['message']} ({problem.get('severity', 'error')})", err=failed)
    if len(problems) > PROBLEMS_SHOWN:
        click.echo(str(_l("  … and more: see the error report of import %(id)d.", id=batch.id)), err=failed)
    if failed:
        raise click.exceptions.Exit(1)
