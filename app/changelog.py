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
import re
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, event, insert, inspect, select
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


#: Change-logged models by table name, to present their entries (labels, value formats).
LOGGED_MODELS: dict[str, type] = {}


class ChangeLogged:
    """Mixin: changes to this model's columns are written to the change log.

    `__changelog_exclude__` names columns not worth logging (timestamps, version counters);
    primary keys and `__changelog_owner_key__` are never logged. `__changelog_collections__`
    names relationships whose membership is logged as a list of the members' `str()`;
    `changelog_owner()` lets a child record (a contact) log under its parent (the supplier) so
    that the parent's page shows the whole story. `__changelog_labels__` gives readers the
    field names in their language, `__changelog_values__` the labels of coded values, and
    `__changelog_kind__` the name of the record kind (e.g. "Contact").
    """

    __changelog_exclude__: tuple[str, ...] = ()
    __changelog_collections__: tuple[str, ...] = ()
    __changelog_owner_key__: str | None = None
    #: Foreign-key column → relationship: logged as the related record's label, not its id.
    __changelog_references__: dict[str, str] = {}
    __changelog_kind__ = None
    __changelog_labels__: dict = {}
    __changelog_values__: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__tablename__" in cls.__dict__:
            LOGGED_MODELS[cls.__tablename__] = cls

    def changelog_label(self) -> str:
        return str(self)

    def changelog_owner(self) -> tuple[str, Any] | None:
        return None


_ACTOR_KEY = "changelog_actor"
_REASON_KEY = "changelog_reason"


def attribute_changes(actor, reason: str | None = None) -> None:
    """Name who is making the changes flushed from now on, and why.

    `actor` is a User or None for the system. The reason applies to the next flush only; a
    lazily translated reason is stored in the language of the moment.
    """
    db.session.info[_ACTOR_KEY] = actor
    db.session.info[_REASON_KEY] = None if reason is None else str(reason)


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
    exclude = set(obj.__changelog_exclude__) | {c.key for c in state.mapper.primary_key}
    if obj.__changelog_owner_key__:
        exclude.add(obj.__changelog_owner_key__)
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
    for key, relationship_name in obj.__changelog_references__.items():
        if key not in changes:
            continue
        history = state.attrs[relationship_name].history
        label = lambda related: related.changelog_label() if related is not None else None  # noqa: E731
        if action == "create":
            changes[key] = [None, label(getattr(obj, relationship_name))]
        elif action == "delete":
            changes[key] = [label((history.deleted or history.unchanged or [None])[0]), None]
        else:
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            changes[key] = [label(old), label(new)]
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


# Reading the log --------------------------------------------------------------------------

_CHILD_FIELD = re.compile(r"^(\w+)\[([^\]]+)\]\.(\w+)$")


def _field_order(model, field: str) -> int:
    if model is None:
        return 10_000
    keys = [c.key for c in model.__mapper__.column_attrs] + list(model.__changelog_collections__)
    return keys.index(field) if field in keys else 10_000


def _format_value(model, field: str, value) -> str:
    """A logged value as a reader wants it: labels for codes, dates in their language."""
    from flask_babel import format_date, format_datetime
    from flask_babel import gettext as _

    if value is None or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(_format_value(model, field, item) for item in value)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    labels = (model.__changelog_values__ if model is not None else {}).get(field)
    if labels and value in labels:
        return str(labels[value])
    column = model.__table__.c.get(field) if model is not None else None
    if column is not None and isinstance(value, str):
        try:
            if isinstance(column.type, UTCDateTime):
                return format_datetime(dt.datetime.fromisoformat(value), "short")
            if isinstance(column.type, Date):
                return format_date(dt.date.fromisoformat(value))
        except ValueError:
            pass
    return str(value)


def _field_label(model, field: str) -> str:
    labels = model.__changelog_labels__ if model is not None else {}
    return str(labels.get(field, field.replace("_", " ")))


def readable_changes(entry: ChangeLogEntry) -> list[tuple[str, str, str]]:
    """(field, before, after) rows of one entry, in the record's field order, for pages."""
    model = LOGGED_MODELS.get(entry.entity_type)
    rows = []
    for key, (old, new) in entry.changes.items():
        child = _CHILD_FIELD.match(key)
        if child:
            child_model = LOGGED_MODELS.get(child.group(1))
            kind = str(child_model.__changelog_kind__ or child.group(1)) if child_model else child.group(1)
            field = child.group(3)
            label = f"{kind} #{child.group(2)} · {_field_label(child_model, field)}"
            order = (1, int(child.group(2)) if child.group(2).isdigit() else 0, _field_order(child_model, field))
            target = child_model
        else:
            field, label, target = key, _field_label(model, key), model
            order = (0, 0, _field_order(model, key))
        rows.append((order, label, _format_value(target, field, old), _format_value(target, field, new)))
    return [row[1:] for row in sorted(rows, key=lambda row: row[0])]
