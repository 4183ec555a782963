"""Test fixtures: an application per run, a database isolated per test, clients per role.

The schema is built by the Alembic migrations (never create_all), on SQLite by default or on
PostgreSQL when TEST_DATABASE_URL is set. Each test runs inside one outer transaction with
the session joined in savepoint mode, so code under test may commit and nothing leaks into
the next test.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import create_engine, text

from app import create_app
from app.config import TestConfig, normalise_database_url
from app.db import db
from tests.factories import DEFAULT_PASSWORD, Factories


def _reset_postgresql(url: str) -> None:
    engine = create_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        _reset_postgresql(url)
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"


class FreshContextClient(FlaskClient):
    """Gives every request its own application context, as in production.

    A test holds an app context open for its own queries; Flask would reuse it for the
    requests the test sends, sharing `g` (the signed-in user, the locale) between them.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        # The request worked in its own session; what the test holds may now be stale.
        db.session.expire_all()
        return response


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    from flask_migrate import upgrade

    application = create_app(TestConfig(database_url=database_url,
                                        instance_dir=tmp_path_factory.mktemp("instance")))
    application.test_client_class = FreshContextClient
    with application.app_context():
        upgrade()
    return application


class _ConnectionBoundSession(FlaskSession):
    """Flask-SQLAlchemy picks the engine by model; in tests every query must use the
    test's connection, inside its outer transaction."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        return self.bind


@pytest.fixture(autouse=True)
def _isolated_database(request, app):
    if "no_db" in request.keywords:
        yield
        return
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = db._make_scoped_session({
            "bind": connection, "join_transaction_mode": "create_savepoint", "class_": _ConnectionBoundSession,
        })
        try:
            yield
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def factories(app_ctx) -> Factories:
    return Factories()


@pytest.fixture
def make_supplier(factories):
    return factories.supplier


@pytest.fixture
def make_user(factories):
    return factories.user


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Client:
    """A test client that knows how to sign in and to send forms with their CSRF token."""

    def __init__(self, flask_client):
        self.raw = flask_client

    def __getattr__(self, name):
        return getattr(self.raw, name)

    def csrf_token(self, url: str = "/login") -> str:
        # Every page carries a token (the language switch is a form); /login leads to one
        # whether or not the client is signed in.
        page = self.raw.get(url, follow_redirects=True).get_data(as_text=True)
        match = CSRF_RE.search(page)
        assert match, f"no CSRF token on {url}"
        return match.group(1)

    def login(self, email: str, password: str = DEFAULT_PASSWORD):
        token = self.csrf_token("/login")
        return self.raw.post("/login", data={"email": email, "password": password, "csrf_token": token})

    def post_form(self, url: str, data: dict | None = None, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf_token())
        return self.raw.post(url, data=data, **kwargs)


@pytest.fixture
def client(app) -> Client:
    return Client(app.test_client())


@pytest.fixture
def login_as(app, factories):
    """login_as(role) → a client signed in as a new user with that role."""

    def login(role: str, **user_fields) -> Client:
        user = factories.user(role=role, **user_fields)
        c = Client(app.test_client())
        response = c.login(user.email)
        assert response.status_code == 302, response.get_data(as_text=True)
        c.user = user
        return c

    return login


@pytest.fixture
def api_client(app, factories):
    """api_client(role) → (client, headers) carrying a bearer token of a user with that role."""

    def make(role: str):
        from app.auth.services import create_token

        user = factories.user(role=role)
        _, secret = create_token(user, "tests", actor=None)
        db.session.commit()
        return app.test_client(), {"Authorization": f"Bearer {secret}"}

    return make


def pytest_configure(config):
    config.addinivalue_line("markers", "no_db: the test needs no database isolation")
