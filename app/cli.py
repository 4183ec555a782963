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
