"""The accounts command line."""
from __future__ import annotations

from app.auth.models import User
from app.auth.services import find_user_by_email, user_for_token
from app.db import db


def test_users_create_reads_the_password_from_stdin_and_lists_it(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "Auditor@Example.com", "--role", "auditor", "--password-stdin"],
                           input="a long enough password\n")
    assert result.exit_code == 0, result.output
    user = find_user_by_email("auditor@example.com")
    assert user.role == "auditor"
    listing = runner.invoke(args=["users", "list"]).output
    assert "auditor@example.com\tauditor\tactive" in listing


def test_users_create_refuses_a_short_password_and_an_unknown_role(app):
    runner = app.test_cli_runner()
    short = runner.invoke(args=["users", "create", "x@example.com", "--role", "viewer", "--password-stdin"],
                          input="short\n")
    assert short.exit_code != 0 and "at least 10 characters" in short.output
    unknown = runner.invoke(args=["users", "create", "x@example.com", "--role", "boss", "--password-stdin"],
                            input="a long enough password\n")
    assert unknown.exit_code != 0
    assert db.session.query(User).count() == 0


def test_users_create_prompts_for_the_password(app):
    result = app.test_cli_runner().invoke(args=["users", "create", "p@example.com", "--role", "viewer"],
                                          input="a long enough password\na long enough password\n")
    assert result.exit_code == 0, result.output


def test_tokens_create_prints_a_working_token(app, make_user):
    user = make_user(role="operator")
    result = app.test_cli_runner().invoke(args=["tokens", "create", user.email])
    assert result.exit_code == 0
    secret = result.output.strip()
    assert user_for_token(secret).id == user.id
