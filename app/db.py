"""Database foundations shared by every domain.

- the declarative base with a constraint naming convention, so Alembic can name, compare and
  drop constraints the same way on SQLite and PostgreSQL;
- `UTCDateTime`, which stores timezone-aware UTC and gives it back aware on both engines;
- SQLite connection set-up: foreign keys, WAL, a busy timeout, and write transactions opened
  with BEGIN IMMEDIATE so that concurrent writers queue instead of failing;
- `unit_of_work()`, the one place where a view, an API call, a job or a command commits;
- `dialect_insert()` and `adding_upsert()`, INSERT … ON CONFLICT in the session's own dialect.
"""
from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Milliseconds a SQLite connection waits for a lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 10_000

#: Execution option that asks for a write transaction (BEGIN IMMEDIATE on SQLite).
WRITE_TRANSACTION = {"catena_write": True}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def in_list(column: str, values) -> str:
    """SQL of a CHECK constraint keeping a column to an enum's values: "status IN ('a', 'b')"."""
    return f"{column} IN (" + ", ".join(f"'{v.value}'" for v in values) + ")"


def dialect_insert(model):
    """An INSERT of `model` that can take ON CONFLICT clauses, in the session's dialect
    (SQLAlchemy has no dialect-neutral form of them)."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql_insert if dialect == "postgresql" else sqlite_insert)(model)


def adding_upsert(model, key: list[str], counters: list[str], *, from_select=None):
    """An INSERT of `model` rows that, where a row with the same `key` exists, adds each of
    the `counters` to the stored value instead: how the maintained statistics take deltas.
    Rows come as parameters to execute, or from `from_select` (a SELECT giving the key
    columns then the counters, in that order)."""
    statement = dialect_insert(model)
    if from_select is not None:
        statement = statement.from_select([*key, *counters], from_select)
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_={name: getattr(model, name) + getattr(statement.excluded, name) for name in counters})


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """A point in time, stored in UTC, always returned timezone-aware.

    Naive datetimes are refused: a time without a zone is ambiguous, and the edges (forms,
    imports, the API) are where a zone gets attached.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(dt.timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    # Let SQLAlchemy, not pysqlite, emit BEGIN: pysqlite's own transaction handling breaks
    # SAVEPOINT and cannot open BEGIN IMMEDIATE (SQLAlchemy's documented workaround).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_sqlite(conn):
    if conn.dialect.name != "sqlite":
        return
    # A deferred transaction that reads and then writes fails at once with "database is
    # locked" if another writer committed in between; BEGIN IMMEDIATE takes the write lock
    # up front and waits up to busy_timeout for it instead.
    if conn.get_execution_options().get("catena_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def begin_write() -> None:
    """Open the session's transaction as a write transaction, if none is open yet."""
    if db.session().get_transaction() is None:
        db.session.connection(execution_options=WRITE_TRANSACTION)


@contextlib.contextmanager
def unit_of_work() -> Iterator[None]:
    """Run the enclosed service calls as one unit: commit if they succeed, roll back if not.

    Services only flush; the view, API handler, job or command around them opens this once.
    """
    from app import outbox, uploads

    begin_write()
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        outbox.forget_pending()
        uploads.settle_files(committed=False)
        raise
    uploads.settle_files(committed=True)
    # Only now that the change is committed may anybody be told about it.
    outbox.deliver_committed()
