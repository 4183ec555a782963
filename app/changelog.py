"""The change log: who changed which record, when, from what to what, and why.

It is the ISO 9001 §7.5.3 record trail. Every model that mixes in `ChangeLogged` is recorded
automatically when the session flushes, so no service can forget it; the service names the
actor (and, where the rule asks for one, the reason) with `attribute_changes()`. The table is
append-only: the migration installs triggers that make the database refuse UPDATE and DELETE.
"""
from __future__ import annotations

import datetime as dt
import decimal
import enum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, JSON, event, inspect, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.db import UTCDateTime, db, utcnow


class ChangeLogEntry(db.Model):
    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_entity", "entity_type", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Null when the change was made by the system (a scheduled job, the demo loader).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The actor's e-mail at the time, or "system"; kept so the log reads the same forever.
    actor_label: Mapped[str] = mapped_column(String(254))
    #: "create", "update" or "delete".
    action: Mapped[str] = mapped_column(String(16))
    #: The record's kind (its table name) and primary key.
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    #: A human label of the record at the time (e.g. the supplier code).
    entity_label: Mapped[str] = mapped_column(String(255))
    #: {field: [old, new]} for every field that changed.
    changes: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)

    actor = relationship("User", foreign_keys=[actor_id])


class ChangeLogged:
    """Mixin: changes to this model's columns are written to the change log.

    `__changelog_exclude__` names columns not worth logging (timestamps, version counters);
    `__changelog_collections__` names relationships whose membership is logged as a list of
    the members' `str()`; `changelog_owner()` lets a child record (a contact) log under its
    parent (the supplier) so that the parent's page shows the whole story.
    """

    __changelog_exclude__: tuple[str, ...] = ()
    __changelog_collections__: tuple[str, ...] = ()

    def changelog_label(self) -> str:
        return str(self)

    def changelog_owner(self) -> tuple[str, Any] | None:
        return None


_ACTOR_KEY = "changelog_actor"
_REASON_KEY = "changelog_reason"


def attribute_changes(actor, reason: str | None = None) -> None:
    """Name who is making the changes flushed from now on, and why.

    `actor` is a User or None for the system. The reason applies to the next flush only.
    """
    db.session.info[_ACTOR_KEY] = actor
    db.session.info[_REASON_KEY] = reason


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)


def _column_changes(obj, state, action: str) -> dict[str, list]:
    exclude = set(obj.__changelog_exclude__)
    changes: dict[str, list] = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in exclude:
            continue
        history = state.attrs[key].history
        if action == "create":
            new = history.added[0] if history.added else getattr(obj, key)
            if new is not None:
                changes[key] = [None, _plain(new)]
        elif action == "delete":
            old = (history.deleted or history.unchanged or [None])[0]
            if old is not None:
                changes[key] = [_plain(old), None]
        elif history.has_changes():
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if _plain(old) != _plain(new):
                changes[key] = [_plain(old), _plain(new)]
    for key in obj.__changelog_collections__:
        history = state.attrs[key].history
        if action == "update" and not history.has_changes():
            continue
        before = sorted(str(m) for m in [*history.unchanged, *history.deleted])
        after = sorted(str(m) for m in [*history.unchanged, *history.added])
        if action == "create":
            before = []
        if action == "delete":
            after = []
        if before != after:
            changes[key] = [before, after]
    return changes


@event.listens_for(Session, "after_flush")
def _record_changes(session: Session, flush_context) -> None:
    rows = []
    actor = session.info.get(_ACTOR_KEY)
    reason = session.info.pop(_REASON_KEY, None)
    now = utcnow()
    for action, objects in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objects:
            if not isinstance(obj, ChangeLogged):
                continue
            state = inspect(obj)
            if action == "update" and not session.is_modified(obj):
                continue
            changes = _column_changes(obj, state, action)
            if action == "update" and not changes:
                continue
            owner = obj.changelog_owner()
            if owner is not None:
                # A child record logs under its owner, naming itself in each field.
                entity_type, owner_obj = owner
                prefix = f"{obj.__tablename__}[{_primary_key(obj)}]."
                changes = {prefix + k: v for k, v in changes.items()}
                target_id, label = _primary_key(owner_obj), owner_obj.changelog_label()
            else:
                entity_type = obj.__tablename__
                target_id, label = _primary_key(obj), obj.changelog_label()
            rows.append(
                {
                    "changed_at": now,
                    "actor_id": getattr(actor, "id", None),
                    "actor_label": getattr(actor, "email", None) or "system",
                    "action": action,
                    "entity_type": entity_type,
                    "entity_id": str(target_id),
                    "entity_label": label[:255],
                    "changes": changes,
                    "reason": reason,
                }
            )
    if rows:
        # Core insert on the flush's own connection: the ORM is mid-flush here.
        session.connection().execute(insert(ChangeLogEntry.__table__), rows)


def _primary_key(obj) -> Any:
    # The identity key is only assigned after the flush completes; the mapper reads the
    # primary key straight from the freshly inserted object.
    return inspect(obj).mapper.primary_key_from_instance(obj)[0]


def history_for(entity_type: str, entity_id, limit: int = 200) -> list[ChangeLogEntry]:
    """The newest `limit` change-log entries of one record, newest first."""
    stmt = (
        select(ChangeLogEntry)
        .where(ChangeLogEntry.entity_type == entity_type, ChangeLogEntry.entity_id == str(entity_id))
        .order_by(ChangeLogEntry.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))
