"""`flask --app app backup PATH` / `restore PATH`: a populated database and its uploaded files
go out and come back whole; a bad archive or an existing PATH is refused and nothing changes.

Every test works on a database of its own (a SQLite file under tmp_path, or `<db>_backup`
next to TEST_DATABASE_URL's for the round trip on PostgreSQL), never the suite's shared one.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from app import backup, create_app
from app import config as app_config
from app.config import normalise_database_url
from app.db import db
from suppliers.models import Certificate, Supplier
from tests.factories import Factories

pytestmark = pytest.mark.no_db

PDF = b"%PDF-1.4\n% a scanned ISO 9001 certificate\n" + bytes(range(256)) * 40


def _own_database(tmp_path: Path, engine: str):
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / 'own.sqlite'}", lambda: None
    admin = create_engine(normalise_database_url(os.environ["TEST_DATABASE_URL"]), isolation_level="AUTOCOMMIT")
    name = admin.url.database + "_backup"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin.url.set(database=name).render_as_string(hide_password=False), drop


def _pg_tools_skip_reason() -> str | None:
    """pg_dump must exist and be of the server's major version (an older one refuses to dump)."""
    if not shutil.which("pg_dump") or not shutil.which("pg_restore"):
        return "pg_dump/pg_restore are not installed (apt install postgresql-client)"
    out = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True).stdout
    client = re.search(r"\)\s*(\d+)", out)  # "pg_dump (PostgreSQL) 15.20 (Debian …)"
    engine = create_engine(normalise_database_url(os.environ["TEST_DATABASE_URL"]))
    with engine.connect() as conn:
        server = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    engine.dispose()
    if not client or int(client.group(1)) != server:
        return f"pg_dump is {out.strip()!r} but the server is PostgreSQL {server}: versions must match"
    return None


def _make_app(tmp_path: Path, engine: str):
    url, drop = _own_database(tmp_path, engine)
    app = create_app(app_config.TestConfig(database_url=url, instance_dir=tmp_path / "instance"))
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    app.drop_database = drop
    return app


@pytest.fixture
def own_app(tmp_path):
    """On the suite's engine: PostgreSQL when TEST_DATABASE_URL is set, SQLite otherwise."""
    engine = "postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite"
    if engine == "postgresql" and (reason := _pg_tools_skip_reason()):
        pytest.skip(reason)
    app = _make_app(tmp_path, engine)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.drop_database()


@pytest.fixture
def sqlite_app(tmp_path):
    app = _make_app(tmp_path, "sqlite")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _add_certificate(app, content: bytes = PDF) -> str:
    """A supplier with a certificate whose scanned copy is an uploaded file; its stored name."""
    with app.app_context():
        supplier = Factories().supplier()
        stored = hashlib.md5(content).hexdigest() + ".pdf"
        folder = Path(app.config["UPLOAD_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / stored).write_bytes(content)
        db.session.add(Certificate(supplier=supplier, standard="ISO 9001:2015", file_name="iso9001.pdf",
                                   stored_name=stored, content_type="application/pdf", size_bytes=len(content)))
        db.session.commit()
        db.session.remove()
    return stored


def _counts(app) -> dict[str, int]:
    with app.app_context():
        counts = {table.name: db.session.scalar(select(func.count()).select_from(table))
                  for table in db.metadata.sorted_tables}
        counts["alembic_version"] = db.session.scalar(text("SELECT count(*) FROM alembic_version"))
        db.session.remove()
        return counts


def _uploads(app) -> dict[str, bytes]:
    folder = Path(app.config["UPLOAD_DIR"])
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}


def _invoke(app, *args, input=None):
    result = app.test_cli_runner().invoke(args=list(args), input=input)
    with app.app_context():
        db.session.remove()
    return result


def test_round_trip_restores_every_table_and_uploaded_file(own_app, tmp_path):
    app = own_app
    loaded = _invoke(app, "demo", "load")
    assert loaded.exit_code == 0, loaded.output
    stored = _add_certificate(app)
    before_counts, before_files = _counts(app), _uploads(app)
    assert before_counts["suppliers"] > 40 and before_counts["legs"] > 1000 and stored in before_files

    archive = tmp_path / "catena-backup.tar.gz"
    made = _invoke(app, "backup", str(archive))
    assert made.exit_code == 0, made.output
    assert "Backup written" in made.output
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert f"uploads/{stored}" in names
    assert manifest["engine"] == ("postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite")
    assert manifest["counts"]["suppliers"] == before_counts["suppliers"]
    assert manifest["revision"] and manifest["uploads"]["files"] == len(before_files)

    # Change, add and delete data and files after the backup.
    with app.app_context():
        first = db.session.scalars(select(Supplier).order_by(Supplier.id)).first()
        original_name, first_id = first.legal_name, first.id
        first.legal_name = "Renamed after the backup"
        db.session.execute(text("DELETE FROM supplier_certificates WHERE stored_name = :s"), {"s": stored})
        db.session.commit()
        db.session.remove()
    (Path(app.config["UPLOAD_DIR"]) / stored).unlink()
    late = _add_certificate(app, b"%PDF-1.4 uploaded after the backup")
    assert _counts(app) != before_counts

    restored = _invoke(app, "restore", str(archive), "--yes")
    assert restored.exit_code == 0, restored.output
    assert "Restored from" in restored.output
    assert _counts(app) == before_counts
    files = _uploads(app)
    assert files == before_files and late not in files
    assert files[stored] == PDF
    with app.app_context():
        assert db.session.get(Supplier, first_id).legal_name == original_name
        db.session.remove()
    # The restored database is fully usable: the app writes to it again.
    _add_certificate(app, b"%PDF-1.4 after the restore")
    assert _counts(app)["supplier_certificates"] == before_counts["supplier_certificates"] + 1


def _repack(archive: Path, target: Path, change) -> Path:
    """Copy a backup archive, letting `change(name, bytes)` alter (or drop: None) each member."""
    with tarfile.open(archive) as src, tarfile.open(target, "w:gz") as out:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if data is not None:
                data = change(member.name, data)
                if data is None:
                    continue
                member.size = len(data)
                out.addfile(member, io.BytesIO(data))
            else:
                out.addfile(member)
    return target


def _corrupt_database(name, data):
    if name != "database.sqlite":
        return data
    middle = len(data) // 2
    return data[:middle] + b"\x00garbage" * 2000 + data[middle + 16000:]


def _newer_revision(tmp_path):
    def change(name, data):
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["revision"] = "ffffffffffff"
            return json.dumps(manifest).encode()
        if name == "database.sqlite":
            copy = tmp_path / "newer.sqlite"
            copy.write_bytes(data)
            conn = sqlite3.connect(copy)
            conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
            conn.commit()
            conn.close()
            return copy.read_bytes()
        return data
    return change


def _foreign_sqlite(tmp_path):
    def change(name, data):
        if name != "database.sqlite":
            return data
        other = tmp_path / "foreign.sqlite"
        conn = sqlite3.connect(other)
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.commit()
        conn.close()
        return other.read_bytes()
    return change


def _raw_tar(members: dict[str, bytes], target: Path) -> Path:
    with tarfile.open(target, "w:gz") as out:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return target


@pytest.mark.parametrize("case, expected", [
    ("not an archive", "not a readable .tar.gz"),
    ("someone else's archive", "has no manifest.json"),
    ("path escaping the folder", "unsafe path"),
    ("no database", "holds no database"),
    ("damaged database", "damaged"),
    ("foreign database", "has no alembic_version table"),
    ("newer schema", "newer than this version of Catena"),
    ("altered manifest", "does not match its manifest"),
])
def test_a_bad_archive_is_refused_and_nothing_changes(sqlite_app, tmp_path, case, expected):
    app = sqlite_app
    stored = _add_certificate(app)
    good = tmp_path / "good.tar.gz"
    assert _invoke(app, "backup", str(good)).exit_code == 0
    # What the restore must not touch: a change made after the backup.
    _add_certificate(app, b"%PDF-1.4 made after the backup")
    before_counts, before_files = _counts(app), _uploads(app)

    bad = tmp_path / "bad.tar.gz"
    if case == "not an archive":
        bad.write_bytes(b"PK\x03\x04 this is a zip, or anything but a Catena backup" * 50)
    elif case == "someone else's archive":
        _raw_tar({"README": b"hello", "data.csv": b"a,b\n1,2\n"}, bad)
    elif case == "path escaping the folder":
        with tarfile.open(good) as src:
            members = {m.name: src.extractfile(m).read() for m in src.getmembers() if m.isfile()}
        members["uploads/../../escaped.pdf"] = b"%PDF-1.4 evil"
        _raw_tar(members, bad)
    elif case == "no database":
        _repack(good, bad, lambda n, d: None if n == "database.sqlite" else d)
    elif case == "damaged database":
        _repack(good, bad, _corrupt_database)
    elif case == "foreign database":
        _repack(good, bad, _foreign_sqlite(tmp_path))
    elif case == "newer schema":
        _repack(good, bad, _newer_revision(tmp_path))
    elif case == "altered manifest":
        def inflate(name, data):
            if name != "manifest.json":
                return data
            manifest = json.loads(data)
            manifest["counts"]["suppliers"] += 1
            return json.dumps(manifest).encode()
        _repack(good, bad, inflate)

    result = _invoke(app, "restore", str(bad), "--yes")
    assert result.exit_code == 1, result.output
    assert expected in result.output and "Nothing was changed." in result.output
    assert "Traceback" not in result.output
    assert _counts(app) == before_counts
    assert _uploads(app) == before_files and stored in before_files
    assert not (tmp_path.parent / "escaped.pdf").exists() and not (tmp_path / "escaped.pdf").exists()
    # No leftovers of the attempt beside the database or the uploads.
    instance = tmp_path / "instance"
    assert not [p for p in list(tmp_path.iterdir()) + list(instance.iterdir()) if ".catena-restore-" in p.name
                or "-restore-" in p.name]


def test_backup_refuses_an_existing_path_unless_forced(sqlite_app, tmp_path):
    _add_certificate(sqlite_app)
    archive = tmp_path / "existing.tar.gz"
    archive.write_bytes(b"an earlier backup, to keep")

    refused = _invoke(sqlite_app, "backup", str(archive))
    assert refused.exit_code == 1
    assert "already exists; give --force" in refused.output
    assert archive.read_bytes() == b"an earlier backup, to keep"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    forced = _invoke(sqlite_app, "backup", str(archive), "--force")
    assert forced.exit_code == 0, forced.output
    with tarfile.open(archive) as tar:
        assert {"manifest.json", "database.sqlite"} <= set(tar.getnames())


def test_restore_asks_before_replacing_anything(sqlite_app, tmp_path):
    _add_certificate(sqlite_app)
    archive = tmp_path / "b.tar.gz"
    assert _invoke(sqlite_app, "backup", str(archive)).exit_code == 0
    _add_certificate(sqlite_app, b"%PDF-1.4 newer")
    before = _counts(sqlite_app), _uploads(sqlite_app)

    declined = _invoke(sqlite_app, "restore", str(archive), input="n\n")
    assert declined.exit_code == 1
    assert "replaces ALL the current data" in declined.output
    assert (_counts(sqlite_app), _uploads(sqlite_app)) == before

    accepted = _invoke(sqlite_app, "restore", str(archive), input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert _counts(sqlite_app)["supplier_certificates"] == before[0]["supplier_certificates"] - 1


def test_sqlite_backup_is_consistent_while_another_process_writes(sqlite_app, tmp_path):
    """The online backup API copies a snapshot while writers keep committing (WAL)."""
    database = Path(sqlite_app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    conn = sqlite3.connect(database)
    conn.execute("CREATE TABLE probe (n INTEGER NOT NULL)")
    conn.commit()
    stop = threading.Event()
    written = []

    def write():
        writer = sqlite3.connect(database, timeout=10)
        n = 0
        while not stop.is_set():
            n += 1
            writer.execute("INSERT INTO probe (n) VALUES (?)", (n,))
            writer.commit()
            written.append(n)
        writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while len(written) < 50:
            pass
        archive = tmp_path / "online.tar.gz"
        result = _invoke(sqlite_app, "backup", str(archive))
        during = len(written)
    finally:
        stop.set()
        thread.join()
        conn.close()
    assert result.exit_code == 0, result.output
    with tarfile.open(archive) as tar:
        (tmp_path / "copy.sqlite").write_bytes(tar.extractfile("database.sqlite").read())
    copy = sqlite3.connect(tmp_path / "copy.sqlite")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows, top = copy.execute("SELECT count(*), max(n) FROM probe").fetchone()
    copy.close()
    assert 50 <= rows <= during and rows == top  # a prefix of the writes, no gap


def test_missing_postgresql_tools_are_named(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(backup.BackupError, match="pg_dump was not found on PATH"):
        backup._pg_tool("pg_dump")


def test_postgresql_connection_goes_through_the_environment():
    from sqlalchemy.engine import make_url

    env = backup._pg_env(make_url("postgresql+psycopg://alice:s3cret@db.example:5433/catena?sslmode=require"))
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGPASSWORD"], env["PGDATABASE"], env["PGSSLMODE"]) == (
        "db.example", "5433", "alice", "s3cret", "catena", "require")
