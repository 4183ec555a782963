"""Orders and the legs of their delivery chain."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.changelog import ChangeLogged
from app.db import UTCDateTime, db, in_list, utcnow


class LegStage(StrEnum):
    SELLER_HANDOVER = "seller_handover"
    WAREHOUSE = "warehouse"
    LINE_HAUL = "line_haul"
    HUB = "hub"
    LAST_MILE = "last_mile"
    PICKUP_POINT = "pickup_point"
    RETURN = "return"


STAGE_LABELS = {
    LegStage.SELLER_HANDOVER: _l("Seller handover"),
    LegStage.WAREHOUSE: _l("Warehouse"),
    LegStage.LINE_HAUL: _l("Line haul"),
    LegStage.HUB: _l("Hub"),
    LegStage.LAST_MILE: _l("Last mile"),
    LegStage.PICKUP_POINT: _l("Pickup point"),
    LegStage.RETURN: _l("Return"),
}

#: The usual order of stages in a chain, used when a leg comes without a sequence number.
STAGE_ORDER = {stage: n for n, stage in enumerate(LegStage, start=1)}


class LegOutcome(StrEnum):
    COMPLETED = "completed"
    LOST = "lost"
    DAMAGED = "damaged"
    #: At least one delivery attempt failed; the actual time is when the leg finally ended.
    FAILED_ATTEMPT = "failed_attempt"
    RETURNED = "returned"
    #: The order was cancelled: no SLA counts this leg.
    CANCELLED = "cancelled"


OUTCOME_LABELS = {
    LegOutcome.COMPLETED: _l("Completed"),
    LegOutcome.LOST: _l("Lost"),
    LegOutcome.DAMAGED: _l("Damaged"),
    LegOutcome.FAILED_ATTEMPT: _l("Failed attempt"),
    LegOutcome.RETURNED: _l("Returned"),
    LegOutcome.CANCELLED: _l("Cancelled"),
}


class Order(db.Model):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The order's reference in the shop (external, unique).
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    customer_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    placed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Sales channel (web shop, app, marketplace…), free text from the source.
    channel: Mapped[str | None] = mapped_column(String(40))
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    legs: Mapped[list[Leg]] = relationship(back_populates="order", order_by="(Leg.sequence, Leg.id)")

    def __str__(self) -> str:
        return self.ref


class Leg(db.Model):
    """One link of an order's delivery chain, handled by one supplier.

    A leg belongs to the calendar period (company time zone) that contains its promised time;
    `promised_day` keeps that day so periods group the same way on every database engine.
    """

    __tablename__ = "legs"
    __table_args__ = (
        CheckConstraint(in_list("stage", LegStage), name="stage"),
        CheckConstraint("outcome IS NULL OR " + in_list("outcome", LegOutcome), name="outcome"),
        # The measuring index: an SLA reads one supplier's legs of one stage over a span of days.
        Index("ix_legs_supplier_stage_day", "supplier_id", "stage", "promised_day"),
        Index("ix_legs_order_sequence", "order_id", "sequence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The leg's id in the source system; importing it again updates this leg.
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    #: Position in the order's chain (1 = first).
    sequence: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(32))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    promised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: The day, in the company's time zone, that contains promised_at.
    promised_day: Mapped[dt.date] = mapped_column(Date)
    #: When the leg ended; empty while it is open.
    actual_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))
    #: actual_at − promised_at in whole seconds (negative when early); empty while open.
    delay_seconds: Mapped[int | None] = mapped_column(Integer)
    #: Flagged as force majeure (strike, flood…): SLAs that honour exclusions leave it out.
    is_excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    exclusion_reason: Mapped[str | None] = mapped_column(String(300))
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    order: Mapped[Order] = relationship(back_populates="legs")
    supplier = relationship("Supplier")

    @property
    def is_open(self) -> bool:
        return self.actual_at is None and self.outcome is None

    def is_late(self, now: dt.datetime, tolerance: dt.timedelta = dt.timedelta(0)) -> bool:
        """Late if it ended after promise + tolerance, or is still open past that time."""
        limit = self.promised_at + tolerance
        if self.actual_at is not None:
            return self.actual_at > limit
        if self.outcome in (LegOutcome.LOST, LegOutcome.CANCELLED):
            return self.outcome == LegOutcome.LOST
        return now > limit


class ImportProfile(db.Model):
    """A saved column mapping for files from one source, reusable from the command line."""

    __tablename__ = "import_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    #: What the files hold: "legs" (orders with their legs) or, later, "incidents".
    kind: Mapped[str] = mapped_column(String(32), default="legs")
    #: Catena field → column header in the file.
    mapping: Mapped[dict] = mapped_column(JSON)
    #: Zone of naive times in the file (IANA name, e.g. Europe/Rome).
    timezone: Mapped[str] = mapped_column(String(64))
    #: strptime format of dates in the file; empty means ISO 8601.
    datetime_format: Mapped[str | None] = mapped_column(String(64))
    #: CSV delimiter; empty means detect.
    delimiter: Mapped[str | None] = mapped_column(String(4))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ImportBatch(db.Model):
    """One import run. Rows written by a run point to it, so a run is visible whole or not at all."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    #: "file", "api" or "demo".
    source: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str | None] = mapped_column(String(255))
    profile_id: Mapped[int | None] = mapped_column(ForeignKey("import_profiles.id"))
    #: running, complete, failed.
    status: Mapped[str] = mapped_column(String(16), default="running")
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_created: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    #: The first errors and warnings as [{row, column, message}], for the page and the report.
    problems: Mapped[list | None] = mapped_column(JSON)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    notes: Mapped[str | None] = mapped_column(Text)

    profile = relationship(ImportProfile)
    created_by = relationship("User")


class StagedLeg(db.Model):
    """A checked row of a file import, waiting to become a leg (`incidents.services.imports`).

    An import writes its valid rows here in short committed transactions, invisible to every
    reader of legs, then moves them into `legs` and `orders` in one transaction: a file is
    visible whole or not at all. Rows of a run that died are removed by the next import.
    Values are already what a leg stores (UTC times, supplier id, company day, delay).
    """

    __tablename__ = "staged_legs"

    import_batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id"), primary_key=True)
    #: The row number a spreadsheet shows (header = row 1); the last row of an external id wins.
    row: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    external_id: Mapped[str] = mapped_column(String(100))
    order_ref: Mapped[str] = mapped_column(String(64))
    customer_ref: Mapped[str | None] = mapped_column(String(64))
    order_placed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    order_channel: Mapped[str | None] = mapped_column(String(40))
    order_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    sequence: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(32))
    #: No foreign key: the move into legs checks it, and staging stays cheap to write.
    supplier_id: Mapped[int] = mapped_column(Integer)
    promised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    promised_day: Mapped[dt.date] = mapped_column(Date)
    actual_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))
    delay_seconds: Mapped[int | None] = mapped_column(Integer)
    is_excluded: Mapped[bool] = mapped_column(Boolean)
    exclusion_reason: Mapped[str | None] = mapped_column(String(300))


#: Tolerances (minutes after promise) an SLA may grant. The daily statistics keep an on-time
#: count for each, so measuring any SLA over years reads a few rows per supplier and day.
TOLERANCE_CHOICES = (0, 15, 30, 60, 120, 240, 480, 720, 1440, 2880)


class LegDayStat(db.Model):
    """Exact aggregates of one supplier's legs of one stage promised on one day.

    Kept up to date by `incidents.services.stats` in the transaction of every write of legs;
    measurement reads these for days whose open legs are all decided and the legs themselves
    for the most recent days. Cancelled legs are not in any count.
    """

    __tablename__ = "leg_day_stats"

    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    is_excluded: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    #: Legs not cancelled.
    legs: Mapped[int] = mapped_column(Integer)
    #: Legs with an outcome.
    closed: Mapped[int] = mapped_column(Integer)
    lost: Mapped[int] = mapped_column(Integer)
    damaged: Mapped[int] = mapped_column(Integer)
    completed: Mapped[int] = mapped_column(Integer)
    failed_attempt: Mapped[int] = mapped_column(Integer)
    #: Legs with an actual time, and the sum of their positive delays in seconds.
    with_actual: Mapped[int] = mapped_column(Integer)
    late_seconds: Mapped[int] = mapped_column(BigInteger)
    #: on_time_<m>: legs ended no later than promise + m minutes, not lost (one per TOLERANCE_CHOICES).
    on_time_0: Mapped[int] = mapped_column(Integer)
    on_time_15: Mapped[int] = mapped_column(Integer)
    on_time_30: Mapped[int] = mapped_column(Integer)
    on_time_60: Mapped[int] = mapped_column(Integer)
    on_time_120: Mapped[int] = mapped_column(Integer)
    on_time_240: Mapped[int] = mapped_column(Integer)
    on_time_480: Mapped[int] = mapped_column(Integer)
    on_time_720: Mapped[int] = mapped_column(Integer)
    on_time_1440: Mapped[int] = mapped_column(Integer)
    on_time_2880: Mapped[int] = mapped_column(Integer)


#: Width in seconds of a delay bucket in `LegDelayMonthStat`. Delays are reported in hours to
#: two places, rounded half up: every delay from 18·b to 18·b + 17 seconds shows as the same
#: value (⌊(b + 1) / 2⌋ / 100 h), so counts per 18-second bucket give exactly the percentile
#: a sort of the legs would, as it is shown and judged.
DELAY_BUCKET_SECONDS = 18


class LegDelayMonthStat(db.Model):
    """How many of one supplier's legs of one stage, promised in one month (company time
    zone), ended with each delay: the histogram a percentile is read from.

    Legs with an actual time only, cancelled legs never; delays of early or on-time legs are
    0. Kept by `incidents.services.stats` with the daily statistics, in the same transaction.
    """

    __tablename__ = "leg_delay_month_stats"

    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The first day of the month.
    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    is_excluded: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    #: max(delay, 0) // DELAY_BUCKET_SECONDS.
    delay_bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    legs: Mapped[int] = mapped_column(Integer)


class IncidentShareDayStat(db.Model):
    """What one supplier carries of the incidents reported on one day (company time zone):
    the count and the sum of its shares in each incident's current attribution.

    Kept exact by `incidents.services.share_stats` whenever a decision is recorded, so that
    "incidents per 1,000 legs" over a year reads a few hundred rows per supplier instead of
    finding the latest decision of every incident. Shares are summed in millionths (the
    shares' own precision) as integers: exact on both engines, where SQLite would add floats.
    """

    __tablename__ = "incident_share_day_stats"

    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    #: Shares naming the supplier (one incident may name it for two of its legs).
    shares_count: Mapped[int] = mapped_column(Integer)
    #: Their sum × 1,000,000.
    shares_millionths: Mapped[int] = mapped_column(BigInteger)



# Customer incidents ----------------------------------------------------------------------

class IncidentChannel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    WEB = "web"
    CHAT = "chat"
    SOCIAL = "social"
    STORE = "store"


CHANNEL_LABELS = {
    IncidentChannel.PHONE: _l("Phone"),
    IncidentChannel.EMAIL: _l("E-mail"),
    IncidentChannel.WEB: _l("Web form"),
    IncidentChannel.CHAT: _l("Chat"),
    IncidentChannel.SOCIAL: _l("Social media"),
    IncidentChannel.STORE: _l("Store"),
}


class IncidentStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


INCIDENT_STATUS_LABELS = {
    IncidentStatus.NEW: _l("New"),
    IncidentStatus.IN_PROGRESS: _l("In progress"),
    IncidentStatus.RESOLVED: _l("Resolved"),
    IncidentStatus.CLOSED: _l("Closed"),
}

#: The customer-card colours operators already use: red, yellow, green; closed is grey.
INCIDENT_STATUS_COLOURS = {
    IncidentStatus.NEW: "danger",
    IncidentStatus.IN_PROGRESS: "warning",
    IncidentStatus.RESOLVED: "success",
    IncidentStatus.CLOSED: "secondary",
}

#: Allowed moves; a resolved incident may be reopened, a closed one is final.
INCIDENT_TRANSITIONS = {
    IncidentStatus.NEW: frozenset({IncidentStatus.IN_PROGRESS, IncidentStatus.RESOLVED}),
    IncidentStatus.IN_PROGRESS: frozenset({IncidentStatus.RESOLVED}),
    IncidentStatus.RESOLVED: frozenset({IncidentStatus.IN_PROGRESS, IncidentStatus.CLOSED}),
    IncidentStatus.CLOSED: frozenset(),
}


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_LABELS = {
    Priority.LOW: _l("Low"),
    Priority.NORMAL: _l("Normal"),
    Priority.HIGH: _l("High"),
    Priority.URGENT: _l("Urgent"),
}

#: First-response time allowed, as a share of the category's hours, by priority.
PRIORITY_RESPONSE_FACTOR = {Priority.LOW: 2, Priority.NORMAL: 1, Priority.HIGH: 0.5, Priority.URGENT: 0.25}


class AttributionRule(StrEnum):
    """How Catena proposes the responsible legs for a category (incidents.services.attribution)."""

    LATE_DELIVERY = "late_delivery"
    LOST_PARCEL = "lost_parcel"
    DAMAGED_GOODS = "damaged_goods"
    LABELLING_ERROR = "labelling_error"
    #: No proposal: the operator decides.
    NONE = "none"


class IncidentCategory(ChangeLogged, db.Model):
    """The configurable catalogue of complaint categories; codes are stable, labels translated."""

    __tablename__ = "incident_categories"
    __changelog_kind__ = _l("Incident category")
    __table_args__ = (CheckConstraint(in_list("attribution_rule", AttributionRule), name="attribution_rule"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    label_en: Mapped[str] = mapped_column(String(120))
    label_it: Mapped[str] = mapped_column(String(120))
    attribution_rule: Mapped[str] = mapped_column(String(32), default=AttributionRule.NONE.value)
    #: Hours allowed for the first response at normal priority (see PRIORITY_RESPONSE_FACTOR).
    first_response_hours: Mapped[int] = mapped_column(Integer, default=24)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=100)

    def label(self, locale: str) -> str:
        return self.label_it if str(locale).startswith("it") else self.label_en

    def changelog_label(self) -> str:
        return self.code


class Incident(ChangeLogged, db.Model):
    """A customer's complaint about an order (or about no known order, flagged for follow-up)."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(in_list("channel", IncidentChannel), name="channel"),
        CheckConstraint(in_list("status", IncidentStatus), name="status"),
        CheckConstraint(in_list("priority", Priority), name="priority"),
        CheckConstraint("csat IS NULL OR (csat >= 1 AND csat <= 5)", name="csat"),
        Index("ix_incidents_open_respond_by", "status", "respond_by", "id"),
        Index("ix_incidents_reported_at_id", "reported_at", "id"),
    )
    __changelog_exclude__ = ("updated_at", "version", "created_at")
    __changelog_kind__ = _l("Incident")

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The helpdesk's ticket id: pushing the same ticket again returns this incident.
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    #: The order reference as given, kept when no such order is known (then needs follow-up).
    order_ref_given: Mapped[str | None] = mapped_column(String(64))
    needs_follow_up: Mapped[bool] = mapped_column(Boolean, default=False)
    channel: Mapped[str] = mapped_column(String(16))
    category_id: Mapped[int] = mapped_column(ForeignKey("incident_categories.id"), index=True)
    priority: Mapped[str] = mapped_column(String(16), default=Priority.NORMAL.value)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.NEW.value)
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: The day, in the company's time zone, that contains reported_at: the incident's period.
    reported_day: Mapped[dt.date] = mapped_column(Date, index=True)
    #: When the first response is due (category hours × priority factor after reported_at).
    respond_by: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Seconds from report to first response and to resolution, kept for SQL aggregation.
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    resolution_seconds: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: Customer satisfaction at closing, 1 (very unhappy) to 5.
    csat: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    order: Mapped[Order | None] = relationship()
    category: Mapped[IncidentCategory] = relationship()
    assignee = relationship("User", foreign_keys=[assignee_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    interactions: Mapped[list[Interaction]] = relationship(back_populates="incident", order_by="Interaction.at",
                                                           cascade="all, delete-orphan")
    cost_lines: Mapped[list[CostLine]] = relationship(back_populates="incident", order_by="CostLine.id",
                                                      cascade="all, delete-orphan")
    decisions: Mapped[list[AttributionDecision]] = relationship(
        back_populates="incident", order_by="AttributionDecision.revision", cascade="all, delete-orphan")

    def __str__(self) -> str:
        return f"#{self.id}"

    def changelog_label(self) -> str:
        return f"#{self.id}"

    @property
    def is_open(self) -> bool:
        return self.status in (IncidentStatus.NEW, IncidentStatus.IN_PROGRESS)

    @property
    def current_decision(self) -> AttributionDecision | None:
        return self.decisions[-1] if self.decisions else None

    def can_move_to(self, status: IncidentStatus) -> bool:
        return status in INCIDENT_TRANSITIONS[IncidentStatus(self.status)]


class InteractionDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Interaction(db.Model):
    """One contact with the customer about an incident."""

    __tablename__ = "incident_interactions"
    __table_args__ = (
        CheckConstraint(in_list("channel", IncidentChannel), name="channel"),
        CheckConstraint(in_list("direction", InteractionDirection), name="direction"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    incident: Mapped[Incident] = relationship(back_populates="interactions")
    by = relationship("User")


class CostKind(StrEnum):
    REFUND = "refund"
    RESHIPMENT = "reshipment"
    VOUCHER = "voucher"
    OTHER = "other"


COST_KIND_LABELS = {
    CostKind.REFUND: _l("Refund"),
    CostKind.RESHIPMENT: _l("Reshipment"),
    CostKind.VOUCHER: _l("Voucher"),
    CostKind.OTHER: _l("Other"),
}


class CostLine(db.Model):
    """What the disservice cost the company: a refund, a reshipment, a voucher…"""

    __tablename__ = "incident_cost_lines"
    __table_args__ = (
        CheckConstraint(in_list("kind", CostKind), name="kind"),
        CheckConstraint("amount >= 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="cost_lines")


class AttributionDecision(db.Model):
    """One decision (revision) on who caused an incident. Revisions are kept, never edited:
    the incident's current attribution is its latest revision."""

    __tablename__ = "attribution_decisions"
    __table_args__ = (Index("ix_attribution_decisions_incident_revision", "incident_id", "revision", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    revision: Mapped[int] = mapped_column(Integer)
    #: The proposal Catena made at the time (shares as JSON), kept beside the decision.
    proposal: Mapped[list | None] = mapped_column(JSON)
    #: Whether the decision is Catena's proposal confirmed unchanged.
    follows_proposal: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    incident: Mapped[Incident] = relationship(back_populates="decisions")
    decided_by = relationship("User")
    shares: Mapped[list[AttributionShare]] = relationship(back_populates="decision", order_by="AttributionShare.id",
                                                          cascade="all, delete-orphan")
    evidence_files: Mapped[list[AttributionEvidence]] = relationship(
        back_populates="decision", order_by="AttributionEvidence.id", cascade="all, delete-orphan")


class AttributionShare(db.Model):
    """The share of one incident carried by one party: a leg's supplier, or the company itself."""

    __tablename__ = "attribution_shares"
    __table_args__ = (
        CheckConstraint("share > 0 AND share <= 1", name="share"),
        CheckConstraint("is_internal OR supplier_id IS NOT NULL", name="party"),
        Index("ix_attribution_shares_supplier", "supplier_id"),
        # Deleting a leg checks that no share names it: without this, a scan per leg.
        Index("ix_attribution_shares_leg", "leg_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("attribution_decisions.id"), index=True)
    leg_id: Mapped[int | None] = mapped_column(ForeignKey("legs.id"))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"))
    #: Our own fault (no supplier carries it).
    is_internal: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A fraction 0–1; the shares of one decision sum to 1.
    share: Mapped[Decimal] = mapped_column(Numeric(7, 6))
    root_cause: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)

    decision: Mapped[AttributionDecision] = relationship(back_populates="shares")
    leg: Mapped[Leg | None] = relationship()
    supplier = relationship("Supplier")


@event.listens_for(Incident, "before_insert")
@event.listens_for(Incident, "before_update")
def _set_reported_day(mapper, connection, incident: Incident) -> None:
    # Derived columns kept with their sources, so that periods group and durations add up the
    # same way on every engine (as legs do).
    from app.i18n import company_zone

    reported = incident.reported_at
    if reported is not None:
        incident.reported_day = reported.astimezone(company_zone()).date()
    incident.first_response_seconds = (int((incident.first_response_at - reported).total_seconds())
                                       if reported and incident.first_response_at else None)
    incident.resolution_seconds = (int((incident.resolved_at - reported).total_seconds())
                                   if reported and incident.resolved_at else None)


# Chargebacks ---------------------------------------------------------------------------------

class ChargebackPolicy(db.Model):
    """What a supplier (or every supplier of a chain role) is charged for the incidents
    attributed to it: the incident's cost lines plus a fixed amount per incident, both times
    its share, capped per statement. A supplier's own policy overrides its role's."""

    __tablename__ = "chargeback_policies"
    __table_args__ = (
        CheckConstraint("(supplier_id IS NULL) <> (chain_role IS NULL)", name="one_owner"),
        CheckConstraint("per_incident_amount >= 0", name="per_incident_amount"),
        CheckConstraint("cap_per_statement IS NULL OR cap_per_statement >= 0", name="cap"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"), unique=True)
    chain_role: Mapped[str | None] = mapped_column(String(32), unique=True)
    #: Charged per attributed incident (times the share), on top of its cost lines.
    per_incident_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    #: Whether the incident's cost lines (refunds, reshipments…) are charged back.
    charges_costs: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Most that one statement may charge; empty means no cap.
    cap_per_statement: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChargebackStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    ACCEPTED = "accepted"
    DISPUTED = "disputed"


class ChargebackStatement(ChangeLogged, db.Model):
    """The incidents attributed to one supplier in one period, and what they are charged."""

    __tablename__ = "chargeback_statements"
    __table_args__ = (
        CheckConstraint(in_list("status", ChargebackStatus), name="status"),
        CheckConstraint("period_end >= period_start", name="period"),
        Index("uq_chargeback_statements_supplier_period", "supplier_id", "period_start", "period_end", unique=True),
    )
    __changelog_exclude__ = ("created_at", "version")
    __changelog_kind__ = _l("Chargeback statement")

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=ChargebackStatus.DRAFT.value)
    #: Sum of the lines, before the policy's cap.
    lines_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    #: What is charged: the lines' total, capped.
    total: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The supplier's answer when accepting or disputing.
    response_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    supplier = relationship("Supplier")
    lines: Mapped[list[ChargebackLine]] = relationship(back_populates="statement", order_by="ChargebackLine.id",
                                                       cascade="all, delete-orphan")

    def __str__(self) -> str:
        return f"#{self.id}"


class ChargebackLine(db.Model):
    """One incident on a statement: its cost, the supplier's share and the amount charged."""

    __tablename__ = "chargeback_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("chargeback_statements.id"), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    #: The incident's cost lines at the time, and the fixed amount per incident.
    cost: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    per_incident_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    share: Mapped[Decimal] = mapped_column(Numeric(7, 6))
    #: (cost + per-incident amount) × share, rounded half-up to the cent.
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))

    statement: Mapped[ChargebackStatement] = relationship(back_populates="lines")
    incident: Mapped[Incident] = relationship()


# Attribution disputes --------------------------------------------------------------------

class DisputeStatus(StrEnum):
    #: The link is out; the supplier has not answered.
    OPEN = "open"
    #: The supplier accepted its share: final.
    ACCEPTED = "accepted"
    #: The supplier contests its share; the quality office settles it.
    DISPUTED = "disputed"
    #: Settled: the decision stands.
    UPHELD = "upheld"
    #: Settled: a new revision of the attribution replaced the disputed one.
    REVISED = "revised"


DISPUTE_STATUS_LABELS = {
    DisputeStatus.OPEN: _l("Awaiting the supplier"),
    DisputeStatus.ACCEPTED: _l("Accepted by the supplier"),
    DisputeStatus.DISPUTED: _l("Disputed"),
    DisputeStatus.UPHELD: _l("Upheld"),
    DisputeStatus.REVISED: _l("Revised"),
}

DISPUTE_STATUS_COLOURS = {
    DisputeStatus.OPEN: "warning",
    DisputeStatus.ACCEPTED: "success",
    DisputeStatus.DISPUTED: "danger",
    DisputeStatus.UPHELD: "secondary",
    DisputeStatus.REVISED: "success",
}


class AttributionDispute(db.Model):
    """A private link through which one supplier answers one attribution decision about one incident.

    The row keeps both sides: the decision disputed, the supplier's statement, and the quality
    office's settlement (with the new revision when the attribution was revised). Only the
    SHA-256 digest of the link's secret is stored; the secret is shown once to whoever made it.
    """

    __tablename__ = "attribution_disputes"
    __table_args__ = (CheckConstraint(in_list("status", DisputeStatus), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    #: The decision (revision) the supplier is asked about.
    decision_id: Mapped[int] = mapped_column(ForeignKey("attribution_decisions.id"))
    #: SHA-256 hex digest of the link's secret.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The secret's first characters, so staff can tell links apart without the secret.
    token_prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=DisputeStatus.OPEN.value)
    #: The supplier's own words (at most 5,000 characters); required to dispute.
    supplier_statement: Mapped[str | None] = mapped_column(Text)
    supplier_answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    settled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    settlement_note: Mapped[str | None] = mapped_column(Text)
    #: The revision that replaced the disputed decision, when settled as revised.
    revised_decision_id: Mapped[int | None] = mapped_column(ForeignKey("attribution_decisions.id"))

    incident: Mapped[Incident] = relationship()
    supplier = relationship("Supplier")
    decision: Mapped[AttributionDecision] = relationship(foreign_keys=[decision_id])
    revised_decision: Mapped[AttributionDecision | None] = relationship(foreign_keys=[revised_decision_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    revoked_by = relationship("User", foreign_keys=[revoked_by_id])
    settled_by = relationship("User", foreign_keys=[settled_by_id])

    def is_expired(self, now: dt.datetime) -> bool:
        return now >= self.expires_at

    def is_usable(self, now: dt.datetime) -> bool:
        """Whether the supplier may still answer through the link."""
        return self.revoked_at is None and not self.is_expired(now) and self.status == DisputeStatus.OPEN


class AttributionEvidence(db.Model):
    """A file supporting an attribution decision (a photo of the damage, a carrier's scan log…),
    checked by content and stored outside static/ under a generated name (app.uploads)."""

    __tablename__ = "attribution_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("attribution_decisions.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    decision: Mapped[AttributionDecision] = relationship(back_populates="evidence_files")
