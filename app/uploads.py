"""Uploaded files: type checked by content, size bounded, stored outside static/ under a
generated name, and served back only as attachments.
"""
from __future__ import annotations

import os
import re
import secrets
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l

from app.errors import ValidationFailed

#: Accepted kinds: magic bytes at the start of the file → (content type, extension).
FILE_SIGNATURES = {
    "pdf": (b"%PDF-", "application/pdf", ".pdf"),
    "png": (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    "jpeg": (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
}

_EXTENSION_KINDS = {".pdf": "pdf", ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}


@dataclass(frozen=True)
class StoredFile:
    stored_name: str
    original_name: str
    content_type: str
    size_bytes: int


def upload_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def sanitise_filename(name: str, max_length: int = 120) -> str:
    """A display name safe for headers and pages: no path, no control or bidi characters."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip(" .")
    if len(name) > max_length:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: max_length - len(ext) - 1] + "." + ext) if dot and len(ext) <= 8 else name[:max_length]
    return name or "file"


def store_upload(file_storage, kinds: tuple[str, ...], max_bytes: int, field: str = "file") -> StoredFile:
    """Check and store an uploaded file; raise ValidationFailed naming `field` if refused.

    The file is written to a temporary name and renamed into place, so a crash never leaves
    a half-written file under a real name.
    """
    original = sanitise_filename(file_storage.filename or "")
    extension = os.path.splitext(original)[1].lower()
    head = file_storage.stream.read(16)
    file_storage.stream.seek(0)
    kind = next((k for k in kinds if head.startswith(FILE_SIGNATURES[k][0])), None)
    allowed = ", ".join(FILE_SIGNATURES[k][2].lstrip(".").upper() for k in kinds)
    if kind is None or _EXTENSION_KINDS.get(extension) != kind:
        message = _l("This file is not a valid %(kinds)s file.", kinds=allowed)
        raise ValidationFailed(message, code="file_type_mismatch", fields={field: message})
    _, content_type, stored_extension = FILE_SIGNATURES[kind]
    directory = upload_dir()
    stored_name = secrets.token_hex(16) + stored_extension
    size = 0
    fd, temp_path = tempfile.mkstemp(dir=directory, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := file_storage.stream.read(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    message = _l("The file is larger than %(mb)s MB.", mb=round(max_bytes / 1024 / 1024, 1))
                    raise ValidationFailed(message, code="file_too_large", fields={field: message})
                out.write(chunk)
        if size == 0:
            message = _l("The file is empty.")
            raise ValidationFailed(message, code="file_empty", fields={field: message})
        os.replace(temp_path, directory / stored_name)
    except BaseException:
        Path(temp_path).unlink(missing_ok=True)
        raise
    return StoredFile(stored_name, original, content_type, size)


def stored_path(stored_name: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}\.(pdf|png|jpg)", stored_name or ""):
        raise FileNotFoundError(stored_name)
    return upload_dir() / stored_name


def send_stored(stored_name: str | None, content_type: str, download_name: str | None):
    """A stored file as a download, or 404 when it is not (or no longer) there.

    Always an attachment with the content type checked at upload: never rendered inline by
    the browser, whatever the file holds."""
    from flask import abort, send_file

    try:
        path = stored_path(stored_name or "")
    except FileNotFoundError:
        abort(404)
    if not path.exists():
        abort(404)
    return send_file(path, mimetype=content_type, as_attachment=True, download_name=download_name or path.name,
                     max_age=0)


def discard(stored_name: str | None) -> None:
    """Remove a stored file, e.g. when the transaction that referenced it was rolled back."""
    if stored_name:
        try:
            stored_path(stored_name).unlink(missing_ok=True)
        except FileNotFoundError:
            pass


_STORED_KEY = "uploads_stored_in_unit"
_DROPPED_KEY = "uploads_dropped_in_unit"


def remember_stored(stored_name: str) -> None:
    """A file stored for the current unit of work: removed again if the unit rolls back."""
    from app.db import db
    db.session.info.setdefault(_STORED_KEY, []).append(stored_name)


def discard_after_commit(stored_name: str) -> None:
    """A file whose record the current unit deletes: removed only once the deletion commits."""
    from app.db import db
    db.session.info.setdefault(_DROPPED_KEY, []).append(stored_name)


def settle_files(committed: bool) -> None:
    """Called by `unit_of_work` at its end: no file outlives a rolled-back record, and no
    record loses its file to a deletion that did not commit."""
    from app.db import db
    stored = db.session.info.pop(_STORED_KEY, [])
    dropped = db.session.info.pop(_DROPPED_KEY, [])
    for name in (dropped if committed else stored):
        discard(name)

