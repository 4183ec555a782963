"""Registers every domain's command group on the `flask --app app` command line."""
from __future__ import annotations

from flask import Flask


def register_commands(app: Flask) -> None:
    from app.auth.commands import tokens_cli, users_cli
    from app.backup import backup_command, restore_command
    from app.demo import demo_cli
    from app.scheduler import scheduler_cli
    from audits.action_commands import actions_cli
    from audits.commands import audits_cli
    from incidents.commands import import_cli
    from questionnaires.commands import questionnaires_cli
    from reports.commands import exports_cli, reports_cli
    from suppliers.commands import sla_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(import_cli)
    app.cli.add_command(sla_cli)
    app.cli.add_command(questionnaires_cli)
    app.cli.add_command(audits_cli)
    app.cli.add_command(actions_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(exports_cli)
    app.cli.add_command(reports_cli)
    app.cli.add_command(_outbox_commands())
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)


def _outbox_commands():
    import click
    from flask.cli import AppGroup

    group = AppGroup("outbox", help="E-mails waiting to be sent.")

    @group.command("deliver")
    @click.option("--limit", default=500, show_default=True)
    def deliver(limit):
        """Send the pending e-mails (those whose first delivery failed); list those given up."""
        from app import outbox

        click.echo(f"{outbox.deliver(limit=limit)} sent.")
        pending = outbox.pending_count()
        if pending:
            click.echo(f"{pending} still pending, to be tried again.")
        total, failed = outbox.failed_messages()
        if total:
            click.echo(f"{total} given up after {outbox.MAX_ATTEMPTS} attempts"
                       + (f" (the latest {len(failed)})" if total > len(failed) else "") + ":")
            for message in failed:
                click.echo(f"  #{message.id} {message.kind} to {message.recipient}: {message.last_error}")

    return group
