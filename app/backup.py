"""Backups: `flask --app app backup PATH` and `flask --app app restore PATH`.

A backup is one `.tar.gz` archive holding

- `manifest.json`: when it was made, the engine, the Alembic revision, counts of key tables
  and of the uploaded files;
- the database: `database.sqlite` (a consistent copy made with SQLite's online backup API,
  safe while the application writes) or `database.dump` (`pg_dump --format=custom`, taken in
  the same snapshot as the manifest's counts);
- `uploads/`: the uploaded files (certificates, evidence), which are records as much as the
  rows that point at them.

Nothing is half-written: the archive is written under a temporary name and renamed into
place; a restore checks the whole archive first (a Catena manifest, a sound database of this
application, a schema revision this code knows), prepares the new database and uploads next
to the current ones, and only then swaps them in. A restore that fails leaves the database
and the uploads as they were.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

#: Changes only if the archive's layout changes incompatibly.
FORMAT_VERSION = 1
APPLICATION = "catena"
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite"
PG_MEMBER = "database.dump"
UPLOADS = "uploads"

#: Tables counted in the manifest (those that exist in the backed-up schema).
KEY_TABLES = ("users", "suppliers", "supplier_certificates", "orders", "legs", "incidents",
              "questionnaire_assignments", "audits", "audit_findings", "corrective_actions",
              "alembic_version")


class BackupError(Exception):
    """A backup or restore refused or failed; the message says why, for the command line."""


@dataclass
class Manifest:
    created_at: str
    engine: str
    revision: str
    counts: dict[str, int]
    uploads: dict[str, int] = field(default_factory=lambda: {"files": 0, "bytes": 0})
    application: str = APPLICATION
    format: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, raw: bytes) -> "Manifest":
        try:
            data = json.loads(raw)
            if data.get("application") != APPLICATION:
                raise ValueError
            manifest = cls(created_at=str(data["created_at"]), engine=str(data["engine"]),
                           revision=str(data["revision"]),
                           counts={str(k): int(v) for k, v in dict(data["counts"]).items()},
                           uploads={str(k): int(v) for k, v in dict(data.get("uploads", {})).items()},
                           format=int(data["format"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BackupError("This archive is not a Catena backup (its manifest is missing or unreadable).") from None
        if manifest.format != FORMAT_VERSION:
            raise BackupError(f"This backup has format {manifest.format}; this version of Catena reads format "
                              f"{FORMAT_VERSION}.")
        return manifest


# Where things are ------------------------------------------------------------------------------

def _database_url() -> URL:
    return make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def _engine_name(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return "sqlite"
    if url.get_backend_name() == "postgresql":
        return "postgresql"
    raise BackupError(f"Backups support SQLite and PostgreSQL, not {url.get_backend_name()}.")


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError("An in-memory SQLite database cannot be backed up or restored.")
    return Path(url.database).resolve()


def _upload_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]).resolve()


def _release_connections() -> None:
    """Close this process's connections, so nothing of ours holds the database during a swap."""
    from app.db import db
    with contextlib.suppress(Exception):
        db.session.remove()
    db.engine.dispose()


def code_revisions() -> tuple[set[str], set[str]]:
    """(every revision this code knows, its heads)."""
    from alembic.script import ScriptDirectory
    config = current_app.extensions["migrate"].migrate.get_config()
    script = ScriptDirectory.from_config(config)
    return {r.revision for r in script.walk_revisions()}, set(script.get_heads())


def _check_revision(revision: str) -> None:
    known, heads = code_revisions()
    if revision not in known:
        raise BackupError(
            f"The backup's schema revision {revision} is newer than this version of Catena "
            f"(which knows up to {', '.join(sorted(heads))}): it was made by a newer version. "
            "Install that version (or a later one) before restoring it.")


# Backup ----------------------------------------------------------------------------------------

def create_backup(path: Path, *, force: bool = False) -> Manifest:
    """Write the backup archive to `path` (refused if it exists, unless `force`)."""
    path = Path(path)
    if path.exists() and not force:
        raise BackupError(f"{path} already exists; give --force to overwrite it.")
    if path.is_dir():
        raise BackupError(f"{path} is a folder; give the path of the archive to write.")
    if not path.parent.is_dir():
        raise BackupError(f"The folder {path.parent} does not exist.")
    url = _database_url()
    engine = _engine_name(url)
    uploads = _upload_dir()
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".catena-backup-") as staging_name:
        staging = Path(staging_name)
        staged_uploads = staging / UPLOADS
        # Uploaded files are never changed, only added and removed. Copying them before and
        # after the database snapshot catches every file a record of the snapshot points at.
        _stage_uploads(uploads, staged_uploads)
        if engine == "sqlite":
            member = SQLITE_MEMBER
            revision, counts = _sqlite_snapshot(_sqlite_path(url), staging / member)
        else:
            member = PG_MEMBER
            revision, counts = _pg_snapshot(url, staging / member)
        _stage_uploads(uploads, staged_uploads)
        files = [p for p in staged_uploads.rglob("*") if p.is_file()]
        manifest = Manifest(created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                            engine=engine, revision=revision, counts=counts,
                            uploads={"files": len(files), "bytes": sum(p.stat().st_size for p in files)})
        (staging / MANIFEST).write_text(manifest.to_json())

        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as out:
                with tarfile.open(fileobj=out, mode="w:gz") as archive:
                    archive.add(staging / MANIFEST, arcname=MANIFEST)
                    archive.add(staging / member, arcname=member)
                    archive.add(staged_uploads, arcname=UPLOADS)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(partial, 0o600)
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
    return manifest


def _stage_uploads(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        return
    for item in source.rglob("*"):
        if not item.is_file() or item.is_symlink() or item.name.startswith(".upload-"):
            continue  # a file still being uploaded is not part of any record yet
        copy = target / item.relative_to(source)
        if copy.exists():
            continue
        copy.parent.mkdir(parents=True, exist_ok=True)
        try:
            try:
                os.link(item, copy)  # cheap, and keeps the bytes even if the original is removed
            except OSError:
                shutil.copy2(item, copy)
        except FileNotFoundError:
            continue  # removed meanwhile: its record was deleted too


def _sqlite_snapshot(database: Path, target: Path) -> tuple[str, dict[str, int]]:
    if not database.exists():
        raise BackupError(f"The database {database} does not exist.")
    source = sqlite3.connect(database, timeout=30)
    try:
        dest = sqlite3.connect(target)
        try:
            # One step (pages=-1): the copy is one read transaction, a consistent snapshot; in
            # WAL mode the application keeps writing meanwhile.
            source.backup(dest)
            dest.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        finally:
            dest.close()
    except sqlite3.Error as exc:
        raise BackupError(f"The SQLite backup failed: {exc}") from exc
    finally:
        source.close()
    return _inspect_sqlite(target)


def _inspect_sqlite(database: Path) -> tuple[str, dict[str, int]]:
    """(revision, counts) of a SQLite file that must be a sound Catena database."""
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"The backup's database cannot be opened ({exc}).") from exc
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            raise BackupError("The backup's database is damaged (integrity check: "
                              + "; ".join(map(str, result[:5])) + ").")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "alembic_version" not in tables:
            raise BackupError("The backup's database is not a Catena database (it has no alembic_version table).")
        revisions = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
        if len(revisions) != 1:
            raise BackupError("The backup's database has no single schema revision.")
        counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in KEY_TABLES if t in tables}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"The backup's database is damaged or not a SQLite database ({exc}).") from exc
    finally:
        conn.close()
    return revisions[0], counts


# PostgreSQL ------------------------------------------------------------------------------------

def _pg_env(url: URL) -> dict[str, str]:
    """The connection for pg_dump/pg_restore, through libpq's environment, not the command line."""
    env = dict(os.environ)
    for name in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE", "PGSERVICE"):
        env.pop(name, None)
    values = {"PGHOST": url.host, "PGPORT": url.port, "PGUSER": url.username, "PGPASSWORD": url.password,
              "PGDATABASE": url.database}
    query_names = {"host": "PGHOST", "port": "PGPORT", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
                   "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "application_name": "PGAPPNAME",
                   "connect_timeout": "PGCONNECT_TIMEOUT"}
    for key, name in query_names.items():
        value = url.query.get(key)
        if isinstance(value, tuple):
            value = value[0] if value else None
        if value:
            values[name] = value
    env.update({k: str(v) for k, v in values.items() if v not in (None, "")})
    if not env.get("PGDATABASE"):
        raise BackupError("DATABASE_URL names no database.")
    return env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} was not found on PATH: install the PostgreSQL client tools "
                          f"(Debian: apt install postgresql-client) in the version of the server.")
    return found


def _run(command: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    except OSError as exc:
        raise BackupError(f"{what} could not be started: {exc}") from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise BackupError(f"{what} failed: {detail}.")
    return result


def _pg_snapshot(url: URL, target: Path) -> tuple[str, dict[str, int]]:
    pg_dump = _pg_tool("pg_dump")
    env = _pg_env(url)
    from app.db import db
    # The counts and the dump see the same snapshot: pg_dump joins the one exported here.
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            tables = set(conn.execute(text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )).scalars())
            if "alembic_version" not in tables:
                raise BackupError("The database has no alembic_version table: run `flask --app app db upgrade` "
                                  "first.")
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            counts = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()
                      for t in KEY_TABLES if t in tables}
            _run([pg_dump, "--format=custom", "--no-owner", f"--snapshot={snapshot}", f"--file={target}"],
                 env, "pg_dump")
    return revision, counts


def _pg_dump_contents(dump: Path, env: dict[str, str]) -> tuple[str, set[str]]:
    """(alembic revision, tables) of a pg_dump custom archive, read with pg_restore."""
    pg_restore = _pg_tool("pg_restore")
    listing = _run([pg_restore, "--list", str(dump)], env, "Reading the backup's database dump").stdout
    tables = set(re.findall(r"^\d+;\s*\d+\s+\d+\s+TABLE\s+\S+\s+(\S+)\s", listing, flags=re.MULTILINE))
    if "alembic_version" not in tables:
        raise BackupError("The backup's database is not a Catena database (it has no alembic_version table).")
    data = _run([pg_restore, "--data-only", "--table=alembic_version", "--file=-", str(dump)], env,
                "Reading the backup's schema revision").stdout
    match = re.search(r"^COPY \S*alembic_version \(version_num\) FROM stdin;\n([^\n\\]+)\n\\\.", data,
                      flags=re.MULTILINE)
    if not match:
        raise BackupError("The backup's database has no schema revision.")
    return match.group(1).strip(), tables


# Restore ---------------------------------------------------------------------------------------

@dataclass
class PreparedRestore:
    """An archive checked and unpacked next to what it replaces, ready to be swapped in."""

    manifest: Manifest
    staging: Path
    database: Path
    uploads: Path
    engine: str
    pg_tables: set[str] = field(default_factory=set)


@contextlib.contextmanager
def prepare_restore(path: Path) -> Iterator[PreparedRestore]:
    """Check the archive and unpack it beside the current database and uploads; yield what to
    swap in. Everything unpacked is removed on leaving, whatever happened."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} does not exist or is not a file.")
    url = _database_url()
    engine = _engine_name(url)
    database_dir = _sqlite_path(url).parent if engine == "sqlite" else None
    uploads = _upload_dir()
    uploads.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=database_dir or uploads.parent, prefix=".catena-restore-"))
    new_uploads = Path(tempfile.mkdtemp(dir=uploads.parent, prefix=f".{uploads.name}-restore-"))
    try:
        manifest = _unpack(path, staging, new_uploads)
        if manifest.engine != engine:
            raise BackupError(f"This backup was made from {manifest.engine}; this installation uses {engine}. "
                              "Backups restore into the same kind of database only.")
        member = staging / (SQLITE_MEMBER if engine == "sqlite" else PG_MEMBER)
        if not member.is_file():
            raise BackupError("The archive holds no database: it is not a complete Catena backup.")
        pg_tables: set[str] = set()
        if engine == "sqlite":
            revision, counts = _inspect_sqlite(member)
            if counts != manifest.counts:
                raise BackupError("The backup's database does not match its manifest (table counts differ).")
        else:
            revision, pg_tables = _pg_dump_contents(member, _pg_env(url))
        if revision != manifest.revision:
            raise BackupError(f"The backup's database is at revision {revision} but its manifest says "
                              f"{manifest.revision}: the archive was altered.")
        _check_revision(revision)
        yield PreparedRestore(manifest, staging, member, new_uploads, engine, pg_tables)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(new_uploads, ignore_errors=True)


def _unpack(path: Path, staging: Path, new_uploads: Path) -> Manifest:
    """Unpack only what a Catena backup holds: regular files, under known names."""
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            members = archive.getmembers()
            names = {m.name for m in members}
            if MANIFEST not in names:
                raise BackupError(f"{path} is not a Catena backup (it has no {MANIFEST}).")
            needed = sum(m.size for m in members if m.isfile())
            free = min(shutil.disk_usage(staging).free, shutil.disk_usage(new_uploads).free)
            if needed > free:
                raise BackupError(f"The backup needs {needed} bytes unpacked; only {free} are free.")
            for member in members:
                target = _member_target(member, staging, new_uploads)
                if target is None:
                    continue
                source = archive.extractfile(member)
                target.parent.mkdir(parents=True, exist_ok=True)
                with source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out, 1024 * 1024)
                    out.flush()
                    os.fsync(out.fileno())
            manifest = Manifest.from_json((staging / MANIFEST).read_bytes())
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise BackupError(f"{path} is not a Catena backup (not a readable .tar.gz archive: {exc}).") from exc
    except OSError as exc:
        raise BackupError(f"The backup could not be unpacked: {exc}") from exc
    return manifest


def _member_target(member: tarfile.TarInfo, staging: Path, new_uploads: Path) -> Path | None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or not name.parts:
        raise BackupError(f"The archive holds an unsafe path ({member.name}): refused.")
    if member.isdir() and (name.parts[0] == UPLOADS):
        return None
    if not member.isfile():
        raise BackupError(f"The archive holds something other than files ({member.name}): refused.")
    if str(name) in (MANIFEST, SQLITE_MEMBER, PG_MEMBER):
        return staging / str(name)
    if name.parts[0] == UPLOADS and len(name.parts) > 1:
        return new_uploads.joinpath(*name.parts[1:])
    raise BackupError(f"The archive holds an unexpected file ({member.name}): it is not a Catena backup.")


def apply_restore(prepared: PreparedRestore) -> None:
    """Swap the prepared database and uploads in. The uploads go first and come back if the
    database cannot be replaced, so a failure leaves both as they were."""
    url = _database_url()
    if prepared.engine == "postgresql":
        _check_pg_target(url, prepared.pg_tables)
    _release_connections()
    uploads = _upload_dir()
    old_uploads = uploads.parent / f".{uploads.name}-old-{os.getpid()}-{dt.datetime.now().strftime('%Y%m%d%H%M%S%f')}"
    had_uploads = uploads.exists()
    mode = uploads.stat().st_mode & 0o7777 if had_uploads else 0o777 & ~_umask()
    os.chmod(prepared.uploads, mode)
    if had_uploads:
        os.replace(uploads, old_uploads)
    os.replace(prepared.uploads, uploads)
    try:
        if prepared.engine == "sqlite":
            _replace_sqlite(prepared.database, _sqlite_path(url))
        else:
            _restore_pg(prepared.database, url)
    except BaseException:
        os.replace(uploads, prepared.uploads)  # removed with the staging
        if had_uploads:
            os.replace(old_uploads, uploads)
        raise
    _fsync_dir(uploads.parent)
    if had_uploads:
        shutil.rmtree(old_uploads, ignore_errors=True)


def _replace_sqlite(new: Path, database: Path) -> None:
    # The prepared copy is a rollback-journal file (made so by the backup); make sure of it
    # and of its bytes on disk before it takes the database's name.
    conn = sqlite3.connect(new)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
    with open(new, "rb") as handle:
        os.fsync(handle.fileno())
    if database.exists():
        # Fold the current write-ahead log into the file: its frames belong to the old database
        # and must not be replayed onto the new one.
        conn = sqlite3.connect(database, timeout=30)
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            raise BackupError(f"The current database could not be checkpointed: {exc}") from exc
        finally:
            conn.close()
        if busy:
            raise BackupError("The database is in use: stop the application (web server, scheduler) and try again.")
    os.replace(new, database)
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    _fsync_dir(database.parent)


def _check_pg_target(url: URL, dump_tables: set[str]) -> None:
    """pg_restore --clean drops only what the dump holds; tables it does not hold would stay
    behind (from a newer schema) and block the drops. Refuse before anything changes."""
    from app.db import db
    with db.engine.connect() as conn:
        present = set(conn.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE'")).scalars())
    extra = sorted(present - dump_tables)
    if extra:
        raise BackupError(
            "The database has tables the backup does not (" + ", ".join(extra[:10])
            + (", …" if len(extra) > 10 else "") + "), so it cannot be replaced in place. "
            "Restore into an empty database: drop and create it again (dropdb/createdb), then restore.")


def _restore_pg(dump: Path, url: URL) -> None:
    pg_restore = _pg_tool("pg_restore")
    _run([pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error",
          f"--dbname={_pg_env(url)['PGDATABASE']}", str(dump)], _pg_env(url),
         "pg_restore (nothing was changed: it runs as one transaction)")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# Command line ----------------------------------------------------------------------------------

def _describe(manifest: Manifest) -> str:
    counts = ", ".join(f"{n} {t}" for t, n in sorted(manifest.counts.items()) if t != "alembic_version")
    return (f"made {manifest.created_at} from {manifest.engine}, schema revision {manifest.revision}; "
            f"{counts}; {manifest.uploads.get('files', 0)} uploaded files "
            f"({manifest.uploads.get('bytes', 0)} bytes)")


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@with_appcontext
def backup_command(path: Path, force: bool):
    """Write a consistent backup of the database and the uploaded files to PATH (.tar.gz).

    Safe while the application runs."""
    try:
        manifest = create_backup(path, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Backup written to {path}: {_describe(manifest)}.")


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def restore_command(path: Path, yes: bool):
    """Replace the whole database and the uploaded files with the backup at PATH.

    Stop the application (web server, scheduler) first."""
    try:
        with prepare_restore(path) as prepared:
            click.echo(f"Backup {path}: {_describe(prepared.manifest)}.")
            if not yes:
                click.confirm("Restoring replaces ALL the current data and uploaded files with this backup. "
                              "Continue?", abort=True)
            apply_restore(prepared)
            manifest = prepared.manifest
    except BackupError as exc:
        message = str(exc).rstrip()
        raise click.ClickException(message + ("" if message.endswith(".") else ".") + " Nothing was changed.") from exc
    except OSError as exc:
        raise click.ClickException(f"The restore failed: {exc}") from exc
    click.echo(f"Restored from {path}.")
    _, heads = code_revisions()
    if manifest.revision not in heads:
        click.echo("The backup's schema is older than this code: run `flask --app app db upgrade` now.")
