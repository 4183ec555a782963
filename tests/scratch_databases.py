"""Databases of their own for tests that cannot run inside the suite's rolled-back transaction
(a server in another thread, a generator that empties its database): a SQLite file in the
test's scratch folder, or on PostgreSQL a database `<test database>_<purpose>` on
TEST_DATABASE_URL's server, created empty and dropped after use.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import normalise_database_url


def _postgresql_admin(url: str):
    """An autocommit engine on the server of `url` (CREATE/DROP DATABASE run outside a transaction)."""
    return create_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")


def create_scratch_database(test_database_url: str | None, scratch: Path, purpose: str) -> str:
    """Make an empty database for `purpose`; return its URL."""
    if not test_database_url:
        return f"sqlite:///{scratch / f'{purpose}.sqlite'}"
    url = make_url(normalise_database_url(test_database_url))
    name = f"{url.database}_{purpose}"
    engine = _postgresql_admin(test_database_url)
    with engine.connect() as conn:
        # A run that was killed leaves its database behind; start from nothing.
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_scratch_database(test_database_url: str | None, scratch_url: str) -> None:
    if not test_database_url:
        return
    engine = _postgresql_admin(test_database_url)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(scratch_url).database}" WITH (FORCE)'))
    engine.dispose()
