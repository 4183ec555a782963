"""Registers every domain's command group on the `flask --app app` command line."""
from __future__ import annotations

from flask import Flask


def register_commands(app: Flask) -> None:
    from app.auth.commands import tokens_cli, users_cli
    from app.demo import demo_cli
    from incidents.commands import import_cli
    from suppliers.commands import sla_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(import_cli)
    app.cli.add_command(sla_cli)
    app.cli.add_command(_outbox_commands())


def _outbox_commands():
    import click
    from flask.cli import AppGroup

    group = AppGroup("outbox", help="E-mails waiting to be sent.")

    @group.command("deliver")
    @click.option("--limit", default=500, show_default=True)
    def deliver(limit):
        """Send the pending e-mails (those whose first delivery failed)."""
        from app.outbox import deliver as deliver_pending

        click.echo(f"{deliver_pending(limit=limit)} sent.")

    return group
