"""Command line for accounts: `users create`, `users list`, `tokens create`."""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.auth import services
from app.auth.models import User
from app.auth.roles import Role
from app.db import db, unit_of_work
from app.errors import ServiceError

users_cli = AppGroup("users", help="Manage user accounts.")
tokens_cli = AppGroup("tokens", help="Manage API tokens.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", default="", help="Full name (defaults to the e-mail).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(email, role, name, password_stdin):
    """Create a user; the password is asked for, or read from standard input."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with unit_of_work():
            user = services.create_user(email, name or email, role, password, actor=None)
    except ServiceError as exc:
        details = "; ".join(f"{k}: {v}" for k, v in exc.fields.items()) or str(exc.message)
        raise click.ClickException(details) from None
    click.echo(f"Created {user.email} ({user.role}).")


@users_cli.command("list")
def list_users():
    """List users with their role and whether they may sign in."""
    for user in db.session.scalars(select(User).order_by(User.email)):
        state = "active" if user.is_active else "inactive"
        click.echo(f"{user.email}\t{user.role}\t{state}\t{user.name}")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="command line", help="What the token is for.")
def create_token(email, name):
    """Create an API token for a user and print it (it is shown only this once)."""
    user = services.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No user with e-mail {email}.")
    with unit_of_work():
        _, secret = services.create_token(user, name, actor=None)
    click.echo(secret)
