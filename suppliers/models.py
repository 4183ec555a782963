"""Supplier register models and the rules that need no I/O."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.changelog import ChangeLogged
from app.db import UTCDateTime, db, in_list, utcnow


class ChainRole(StrEnum):
    SELLER = "seller"
    WAREHOUSE = "warehouse"
    CARRIER = "carrier"
    LAST_MILE = "last_mile"
    PICKUP_POINT = "pickup_point"
    CONTACT_CENTRE = "contact_centre"
    PACKAGING = "packaging"
    OTHER = "other"


CHAIN_ROLE_LABELS = {
    ChainRole.SELLER: _l("Seller"),
    ChainRole.WAREHOUSE: _l("Warehouse"),
    ChainRole.CARRIER: _l("Carrier"),
    ChainRole.LAST_MILE: _l("Last-mile courier"),
    ChainRole.PICKUP_POINT: _l("Pickup point"),
    ChainRole.CONTACT_CENTRE: _l("Contact centre"),
    ChainRole.PACKAGING: _l("Packaging"),
    ChainRole.OTHER: _l("Other"),
}


class RiskClass(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


RISK_CLASS_LABELS = {
    RiskClass.LOW: _l("Low"),
    RiskClass.MEDIUM: _l("Medium"),
    RiskClass.HIGH: _l("High"),
    RiskClass.CRITICAL: _l("Critical"),
}


class SupplierStatus(StrEnum):
    PROSPECT = "prospect"
    IN_QUALIFICATION = "in_qualification"
    APPROVED = "approved"
    CONDITIONALLY_APPROVED = "conditionally_approved"
    SUSPENDED = "suspended"
    DISQUALIFIED = "disqualified"


STATUS_LABELS = {
    SupplierStatus.PROSPECT: _l("Prospect"),
    SupplierStatus.IN_QUALIFICATION: _l("In qualification"),
    SupplierStatus.APPROVED: _l("Approved"),
    SupplierStatus.CONDITIONALLY_APPROVED: _l("Conditionally approved"),
    SupplierStatus.SUSPENDED: _l("Suspended"),
    SupplierStatus.DISQUALIFIED: _l("Disqualified"),
}

#: Colour of each status badge: green may be used, yellow with care, red not, grey not yet.
STATUS_COLOURS = {
    SupplierStatus.PROSPECT: "secondary",
    SupplierStatus.IN_QUALIFICATION: "info",
    SupplierStatus.APPROVED: "success",
    SupplierStatus.CONDITIONALLY_APPROVED: "warning",
    SupplierStatus.SUSPENDED: "danger",
    SupplierStatus.DISQUALIFIED: "dark",
}

#: Which qualification status may follow which. Re-evaluation (ISO 9001 §8.4) takes an
#: approved supplier back into qualification; a disqualified one can only start over.
STATUS_TRANSITIONS: dict[SupplierStatus, frozenset[SupplierStatus]] = {
    SupplierStatus.PROSPECT: frozenset({SupplierStatus.IN_QUALIFICATION, SupplierStatus.DISQUALIFIED}),
    SupplierStatus.IN_QUALIFICATION: frozenset({
        SupplierStatus.APPROVED, SupplierStatus.CONDITIONALLY_APPROVED,
        SupplierStatus.DISQUALIFIED, SupplierStatus.PROSPECT,
    }),
    SupplierStatus.APPROVED: frozenset({
        SupplierStatus.CONDITIONALLY_APPROVED, SupplierStatus.SUSPENDED,
        SupplierStatus.IN_QUALIFICATION, SupplierStatus.DISQUALIFIED,
    }),
    SupplierStatus.CONDITIONALLY_APPROVED: frozenset({
        SupplierStatus.APPROVED, SupplierStatus.SUSPENDED,
        SupplierStatus.IN_QUALIFICATION, SupplierStatus.DISQUALIFIED,
    }),
    SupplierStatus.SUSPENDED: frozenset({
        SupplierStatus.APPROVED, SupplierStatus.CONDITIONALLY_APPROVED,
        SupplierStatus.IN_QUALIFICATION, SupplierStatus.DISQUALIFIED,
    }),
    SupplierStatus.DISQUALIFIED: frozenset({SupplierStatus.IN_QUALIFICATION}),
}

#: Statuses that mean "qualified": they need a qualified-until date.
QUALIFIED_STATUSES = frozenset({SupplierStatus.APPROVED, SupplierStatus.CONDITIONALLY_APPROVED})

#: Supplier codes: upper-case letters, digits and - _ . ; e.g. CAR-001.
SUPPLIER_CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,31}$")

LEGAL_NAME_MAX = 200
NOTES_MAX = 10_000


class Supplier(ChangeLogged, db.Model):
    __tablename__ = "suppliers"
    __table_args__ = (
        CheckConstraint(in_list("status", SupplierStatus), name="status"),
        CheckConstraint(in_list("risk_class", RiskClass), name="risk_class"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        Index("ix_suppliers_legal_name_id", "legal_name", "id"),
        Index("ix_suppliers_status_id", "status", "id"),
        Index("ix_suppliers_country_id", "country", "id"),
        Index("ix_suppliers_risk_class_id", "risk_class", "id"),
        Index("ix_suppliers_updated_at_id", "updated_at", "id"),
    )
    __changelog_exclude__ = ("updated_at", "version", "search_text", "created_at")
    __changelog_collections__ = ("chain_roles",)
    __changelog_references__ = {"parent_id": "parent"}
    __changelog_kind__ = _l("Supplier")
    __changelog_labels__ = {
        "code": _l("Code"), "legal_name": _l("Legal name"), "vat_id": _l("VAT / tax id"),
        "country": _l("Country"), "address": _l("Address"), "city": _l("City"), "website": _l("Website"),
        "parent_id": _l("Subcontractor of"), "risk_class": _l("Risk class"), "status": _l("Status"),
        "qualified_until": _l("Qualified until"), "notes": _l("Notes"), "archived_at": _l("Archived on"),
        "chain_roles": _l("Chain roles"),
    }
    __changelog_values__ = {"status": STATUS_LABELS, "risk_class": RISK_CLASS_LABELS, "chain_roles": CHAIN_ROLE_LABELS}

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    legal_name: Mapped[str] = mapped_column(String(LEGAL_NAME_MAX))
    #: VAT number or other tax identifier, normalised (no spaces, upper-case).
    vat_id: Mapped[str | None] = mapped_column(String(32))
    #: ISO 3166-1 alpha-2.
    country: Mapped[str] = mapped_column(String(2))
    address: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(120))
    website: Mapped[str | None] = mapped_column(String(300))
    #: The supplier this one is a subcontractor of.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"), index=True)
    risk_class: Mapped[str] = mapped_column(String(16), default=RiskClass.MEDIUM.value)
    status: Mapped[str] = mapped_column(String(32), default=SupplierStatus.PROSPECT.value)
    #: End of the current qualification (inclusive); set with approved statuses only.
    qualified_until: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    #: Set when archived: the supplier is hidden from lists by default but never deleted.
    archived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Lower-case code, name and VAT id, for case-insensitive search on both engines.
    search_text: Mapped[str] = mapped_column(String(400), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    #: Optimistic lock: an edit based on an older version is refused instead of overwriting.
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    # active_history: the change log needs the old main contractor even if it was never loaded.
    parent: Mapped[Supplier | None] = relationship(remote_side=[id], back_populates="subcontractors",
                                                   active_history=True)
    subcontractors: Mapped[list[Supplier]] = relationship(
        back_populates="parent", order_by="Supplier.code"
    )
    chain_roles: Mapped[list[SupplierChainRole]] = relationship(
        cascade="all, delete-orphan", order_by="SupplierChainRole.role", lazy="selectin"
    )
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="supplier", cascade="all, delete-orphan",
        order_by="(Contact.is_primary.desc(), Contact.name)",
    )
    certificates: Mapped[list[Certificate]] = relationship(
        back_populates="supplier", cascade="all, delete-orphan", order_by="Certificate.expires_on"
    )
    status_changes: Mapped[list[StatusChange]] = relationship(
        back_populates="supplier", cascade="all, delete-orphan",
        order_by="StatusChange.id.desc()",
    )

    def __str__(self) -> str:
        return f"{self.code} {self.legal_name}"

    def changelog_label(self) -> str:
        return self.code

    @property
    def role_codes(self) -> list[str]:
        return [r.role for r in self.chain_roles]

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    def can_change_status_to(self, status: SupplierStatus) -> bool:
        return status in STATUS_TRANSITIONS[SupplierStatus(self.status)]

    def is_qualification_expired(self, today: dt.date) -> bool:
        return self.qualified_until is not None and self.qualified_until < today

    def refresh_search_text(self) -> None:
        self.search_text = " ".join(
            part.lower() for part in (self.code, self.legal_name, self.vat_id or "", self.city or "") if part
        )[:400]


class SupplierChainRole(db.Model):
    __tablename__ = "supplier_chain_roles"
    __table_args__ = (
        CheckConstraint(in_list("role", ChainRole), name="role"),
        Index("ix_supplier_chain_roles_role_supplier", "role", "supplier_id"),
    )

    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)

    def __str__(self) -> str:
        return self.role


class Contact(ChangeLogged, db.Model):
    __tablename__ = "supplier_contacts"
    __changelog_owner_key__ = "supplier_id"
    __changelog_kind__ = _l("Contact")
    __changelog_labels__ = {"name": _l("Name"), "job_title": _l("Role at the supplier"), "email": _l("E-mail"),
                            "phone": _l("Phone"), "is_primary": _l("Primary contact")}
    __table_args__ = (
        # One primary contact per supplier, enforced by the database on both engines.
        Index(
            "uq_supplier_contacts_primary", "supplier_id", unique=True,
            sqlite_where=text("is_primary"), postgresql_where=text("is_primary"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    #: The person's job or role at the supplier (e.g. "Quality manager").
    job_title: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)

    supplier: Mapped[Supplier] = relationship(back_populates="contacts")

    def __str__(self) -> str:
        return self.name

    def changelog_owner(self):
        return ("suppliers", self.supplier)


class Certificate(ChangeLogged, db.Model):
    """A certificate held by a supplier (ISO 9001, ISO 14001, AEO…) with its scanned copy."""

    __tablename__ = "supplier_certificates"
    __changelog_owner_key__ = "supplier_id"
    __changelog_exclude__ = ("created_at", "stored_name", "content_type", "size_bytes")
    __changelog_kind__ = _l("Certificate")
    __changelog_labels__ = {"standard": _l("Standard"), "number": _l("Certificate number"), "issuer": _l("Issued by"),
                            "issued_on": _l("Issued on"), "expires_on": _l("Expires on"), "file_name": _l("File")}

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    #: The standard or scheme, e.g. "ISO 9001:2015".
    standard: Mapped[str] = mapped_column(String(120))
    number: Mapped[str | None] = mapped_column(String(120))
    issuer: Mapped[str | None] = mapped_column(String(200))
    issued_on: Mapped[dt.date | None] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    #: Original file name, sanitised; the file itself is stored under a generated name.
    file_name: Mapped[str | None] = mapped_column(String(255))
    stored_name: Mapped[str | None] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    supplier: Mapped[Supplier] = relationship(back_populates="certificates")

    def __str__(self) -> str:
        return f"{self.standard} {self.number or ''}".strip()

    def changelog_owner(self):
        return ("suppliers", self.supplier)

    def expires_within(self, today: dt.date, days: int) -> bool:
        return self.expires_on is not None and today <= self.expires_on <= today + dt.timedelta(days=days)

    def is_expired(self, today: dt.date) -> bool:
        return self.expires_on is not None and self.expires_on < today


class StatusChange(db.Model):
    """One change of qualification status, with its reason: the supplier's status history."""

    __tablename__ = "supplier_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    #: Null for the first status, given when the supplier was registered.
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    qualified_until: Mapped[dt.date | None] = mapped_column(Date)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    supplier: Mapped[Supplier] = relationship(back_populates="status_changes")
    changed_by = relationship("User")


# Service standards (SLAs) ----------------------------------------------------------------

class MeasurementWindow(StrEnum):
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


WINDOW_LABELS = {
    MeasurementWindow.WEEK: _l("Week"),
    MeasurementWindow.MONTH: _l("Month"),
    MeasurementWindow.QUARTER: _l("Quarter"),
}


class Comparator(StrEnum):
    #: Met when the measured value is at least the target (rates of good things).
    AT_LEAST = "gte"
    #: Met when the measured value is at most the target (losses, delays).
    AT_MOST = "lte"


class PenaltyKind(StrEnum):
    NONE = "none"
    #: A fixed amount for each breached period.
    FIXED = "fixed"
    #: An amount per unit beyond the target (percentage point for rates, hour for times), capped.
    PER_UNIT = "per_unit"


class ServiceStandard(ChangeLogged, db.Model):
    """An agreed service standard (SLA), in one version.

    It belongs to one supplier, or to a chain role as the default for every supplier of that
    role; a supplier's own SLA with the same metric and stage overrides the role default.
    Changing an agreed SLA closes this version (valid_to) and opens a new one with the same
    `series_id`, so past periods keep being measured against what was agreed then.
    """

    __tablename__ = "service_standards"
    __table_args__ = (
        CheckConstraint("(supplier_id IS NULL) <> (chain_role IS NULL)", name="one_owner"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="validity"),
        CheckConstraint("min_sample >= 1", name="min_sample"),
        CheckConstraint("tolerance_minutes >= 0", name="tolerance"),
        Index("ix_service_standards_series_version", "series_id", "version", unique=True),
        Index("ix_service_standards_supplier", "supplier_id"),
        Index("ix_service_standards_role", "chain_role"),
    )
    __changelog_exclude__ = ("created_at",)
    __changelog_kind__ = _l("Service standard")

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Versions of one agreement share a series id (the id of its first version).
    series_id: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(200))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"))
    chain_role: Mapped[str | None] = mapped_column(String(32))
    #: A metric code from suppliers.metrics.METRICS.
    metric: Mapped[str] = mapped_column(String(40))
    #: The leg stage measured (leg metrics); empty for incident metrics.
    stage: Mapped[str | None] = mapped_column(String(32))
    comparator: Mapped[str] = mapped_column(String(3))
    #: Rates as fractions 0–1, durations in hours.
    target: Mapped[Decimal] = mapped_column(Numeric(12, 6))
    #: The early-warning level: met but not this good means "warning".
    warning_threshold: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    window: Mapped[str] = mapped_column(String(16), default=MeasurementWindow.MONTH.value)
    #: Below this many legs (or incidents) in a period the result is "not enough data".
    min_sample: Mapped[int] = mapped_column(Integer, default=20)
    #: A leg still counts on time up to this many minutes after its promise.
    tolerance_minutes: Mapped[int] = mapped_column(Integer, default=0)
    #: Leave out legs flagged as force majeure.
    honours_exclusions: Mapped[bool] = mapped_column(Boolean, default=True)
    penalty_kind: Mapped[str] = mapped_column(String(16), default=PenaltyKind.NONE.value)
    penalty_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    penalty_cap: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    #: Weight in the supplier's attainment score on the ranking page.
    weight: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal("1"))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    #: Last day (inclusive) of this version; empty while in force.
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    supplier: Mapped[Supplier | None] = relationship()

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def is_in_force_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)
