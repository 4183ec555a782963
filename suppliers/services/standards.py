"""Agreeing service standards (SLAs) and finding those that apply to a supplier.

An SLA belongs to a supplier or to a chain role (the default for its suppliers). Changing an
agreed SLA never edits it: `revise_standard` closes the version in force the day before the
change takes effect and opens the next one, so past periods keep their agreed terms.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from app.changelog import attribute_changes
from app.db import db
from app.errors import ValidationFailed
from incidents.models import TOLERANCE_CHOICES, LegStage
from suppliers.metrics import METRICS
from suppliers.models import (
    ChainRole,
    Comparator,
    MeasurementWindow,
    PenaltyKind,
    ServiceStandard,
    Supplier,
)

#: Fields a user sets on an SLA.
STANDARD_FIELDS = ("name", "metric", "stage", "comparator", "target", "warning_threshold", "window",
                   "min_sample", "tolerance_minutes", "honours_exclusions", "penalty_kind", "penalty_amount",
                   "penalty_cap", "weight", "valid_from", "valid_to")


def _decimal(value, field: str, errors: dict, *, minimum=None, maximum=None, required=False) -> Decimal | None:
    if value is None or value == "":
        if required:
            errors[field] = _l("Required.")
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        errors[field] = _l("Enter a number.")
        return None
    if not number.is_finite():
        errors[field] = _l("Must be a finite number.")
        return None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        errors[field] = _l("Must be between %(low)s and %(high)s.", low=minimum, high=maximum)
        return None
    return number


def validate_standard(values: dict) -> dict:
    """Check SLA fields, combinations included; raise ValidationFailed naming the fields.

    Rate targets and warning levels are fractions 0–1 (forms convert from percent).
    """
    errors: dict[str, Any] = {}
    cleaned: dict[str, Any] = {}
    name = (values.get("name") or "").strip()
    if not name:
        errors["name"] = _l("Give the SLA a name.")
    cleaned["name"] = name[:200]

    metric = METRICS.get(values.get("metric") or "")
    if metric is None:
        errors["metric"] = _l("Choose a metric.")
    elif not metric.is_available:
        errors["metric"] = _l("This metric is measured over incidents, which are not recorded yet.")
    cleaned["metric"] = values.get("metric")

    stage = values.get("stage") or None
    if metric is not None and metric.source == "legs":
        if stage not in {s.value for s in LegStage}:
            errors["stage"] = _l("Choose the stage whose legs are measured.")
    elif stage:
        stage = None
    cleaned["stage"] = stage

    comparator = values.get("comparator") or (metric.comparator.value if metric else None)
    if comparator not in {c.value for c in Comparator}:
        errors["comparator"] = _l("Choose at least or at most.")
    cleaned["comparator"] = comparator

    is_rate = metric is not None and metric.unit == "rate"
    high = Decimal(1) if is_rate else Decimal(100_000)
    target = _decimal(values.get("target"), "target", errors, minimum=Decimal(0), maximum=high, required=True)
    warning = _decimal(values.get("warning_threshold"), "warning_threshold", errors, minimum=Decimal(0), maximum=high)
    if target is not None and warning is not None and comparator in {c.value for c in Comparator}:
        # The warning level is the early alarm: stricter than the target.
        if comparator == Comparator.AT_LEAST and warning < target:
            errors["warning_threshold"] = _l("With “at least”, the warning level must be at or above the target.")
        if comparator == Comparator.AT_MOST and warning > target:
            errors["warning_threshold"] = _l("With “at most”, the warning level must be at or below the target.")
    cleaned["target"], cleaned["warning_threshold"] = target, warning

    window = values.get("window") or MeasurementWindow.MONTH.value
    if window not in {w.value for w in MeasurementWindow}:
        errors["window"] = _l("Choose week, month or quarter.")
    cleaned["window"] = window

    for field, default, low, high_int in (("min_sample", 20, 1, 1_000_000),
                                          ("tolerance_minutes", 0, 0, max(TOLERANCE_CHOICES))):
        raw = values.get(field)
        try:
            number = default if raw in (None, "") else int(raw)
            if isinstance(raw, float) and not float(raw).is_integer():
                raise ValueError
            if not low <= number <= high_int:
                raise ValueError
        except (TypeError, ValueError):
            errors[field] = _l("Use a whole number from %(low)d to %(high)d.", low=low, high=high_int)
            number = default
        cleaned[field] = number
    if "tolerance_minutes" not in errors and cleaned["tolerance_minutes"] not in TOLERANCE_CHOICES:
        # The daily statistics keep an on-time count for these tolerances only.
        errors["tolerance_minutes"] = _l("Use one of %(values)s minutes.",
                                         values=", ".join(str(m) for m in TOLERANCE_CHOICES))
    cleaned["honours_exclusions"] = bool(values.get("honours_exclusions", True))

    kind = values.get("penalty_kind") or PenaltyKind.NONE.value
    if kind not in {k.value for k in PenaltyKind}:
        errors["penalty_kind"] = _l("Choose a penalty rule.")
    amount = _decimal(values.get("penalty_amount"), "penalty_amount", errors, minimum=Decimal(0),
                      maximum=Decimal(10_000_000))
    cap = _decimal(values.get("penalty_cap"), "penalty_cap", errors, minimum=Decimal(0), maximum=Decimal(10_000_000))
    if kind != PenaltyKind.NONE and amount is None and "penalty_amount" not in errors:
        errors["penalty_amount"] = _l("Give the penalty amount.")
    if kind == PenaltyKind.NONE:
        amount = cap = None
    cleaned.update(penalty_kind=kind, penalty_amount=amount, penalty_cap=cap)
    weight = _decimal(values.get("weight"), "weight", errors, minimum=Decimal("0.1"), maximum=Decimal(100))
    cleaned["weight"] = weight if weight is not None else Decimal(1)

    valid_from, valid_to = values.get("valid_from"), values.get("valid_to")
    for field, value in (("valid_from", valid_from), ("valid_to", valid_to)):
        if value is not None and not isinstance(value, dt.date):
            errors[field] = _l("Enter a date.")
    if valid_from is None and "valid_from" not in errors:
        errors["valid_from"] = _l("Give the first day the SLA applies.")
    if isinstance(valid_from, dt.date) and isinstance(valid_to, dt.date) and valid_to < valid_from:
        errors["valid_to"] = _l("The end is before the start.")
    cleaned["valid_from"], cleaned["valid_to"] = valid_from, valid_to

    if errors:
        raise ValidationFailed(_l("The SLA could not be saved: check the highlighted fields."), fields=errors)
    return cleaned


def create_standard(values: dict, actor, *, supplier: Supplier | None = None, chain_role: str | None = None
                    ) -> ServiceStandard:
    """Agree an SLA with one supplier, or as the default for a chain role."""
    if (supplier is None) == (chain_role is None):
        raise ValidationFailed(_l("An SLA belongs to one supplier or to one chain role."), code="invalid_owner")
    if chain_role is not None and chain_role not in {r.value for r in ChainRole}:
        raise ValidationFailed(_l("Unknown chain role."), fields={"chain_role": _l("Unknown chain role.")})
    cleaned = validate_standard(values)
    attribute_changes(actor)
    standard = ServiceStandard(supplier=supplier, chain_role=chain_role, version=1, **cleaned)
    db.session.add(standard)
    db.session.flush()
    standard.series_id = standard.id
    db.session.flush()
    return standard


def revise_standard(current: ServiceStandard, values: dict, actor, reason: str) -> ServiceStandard:
    """A new version of an agreed SLA from `values["valid_from"]` on; the current version
    ends the day before. Past periods keep being measured against the old terms."""
    if current.valid_to is not None:
        raise ValidationFailed(_l("Only the version in force can be revised."), code="not_current")
    cleaned = validate_standard(values)
    if not reason or not reason.strip():
        raise ValidationFailed(_l("Give the reason for the change."), fields={"reason": _l("Give the reason for the change.")})
    if cleaned["valid_from"] <= current.valid_from:
        raise ValidationFailed(_l("The new version must start after the current one started (%(date)s).",
                                  date=current.valid_from.isoformat()), fields={"valid_from": _l("Too early.")})
    if cleaned["window"] != current.window:
        # Results are periods of one window; a series that changed window could not be shown
        # as one row of periods.
        raise ValidationFailed(_l("A new version keeps the measurement window; agree a new SLA instead."),
                               fields={"window": _l("Cannot change in a revision.")})
    if cleaned["metric"] != current.metric or cleaned["stage"] != current.stage:
        raise ValidationFailed(_l("A new version measures the same metric and stage; agree a new SLA instead."),
                               fields={"metric": _l("Cannot change in a revision.")})
    attribute_changes(actor, reason.strip())
    current.valid_to = cleaned["valid_from"] - dt.timedelta(days=1)
    revised = ServiceStandard(supplier_id=current.supplier_id, chain_role=current.chain_role,
                              series_id=current.series_id, version=current.version + 1, **cleaned)
    db.session.add(revised)
    db.session.flush()
    return revised


def series_for_supplier(supplier: Supplier) -> list[list[ServiceStandard]]:
    """The SLAs that apply to a supplier, each as its list of versions.

    The supplier's own SLAs, then the defaults of its chain roles whose metric and stage the
    supplier's own SLAs do not already cover (a supplier's SLA overrides its role default).
    """
    roles = supplier.role_codes
    rows = db.session.scalars(
        select(ServiceStandard).where(or_(ServiceStandard.supplier_id == supplier.id,
                                          ServiceStandard.chain_role.in_(roles)))
        .order_by(ServiceStandard.series_id, ServiceStandard.version)
    ).all()
    series: dict[int, list[ServiceStandard]] = defaultdict(list)
    for row in rows:
        series[row.series_id].append(row)
    own = [v for v in series.values() if v[0].supplier_id == supplier.id]
    covered = {(v[0].metric, v[0].stage) for v in own}
    defaults = [v for v in series.values() if v[0].chain_role is not None and (v[0].metric, v[0].stage) not in covered]
    return own + defaults


def series_for_role(chain_role: str) -> list[list[ServiceStandard]]:
    rows = db.session.scalars(select(ServiceStandard).where(ServiceStandard.chain_role == chain_role)
                              .order_by(ServiceStandard.series_id, ServiceStandard.version)).all()
    series: dict[int, list[ServiceStandard]] = defaultdict(list)
    for row in rows:
        series[row.series_id].append(row)
    return list(series.values())


def standards_page(*, supplier=None, chain_role=None, current_only=False, cursor=None, limit=50):
    """SLA versions by id, with optional owner filter, one keyset page at a time."""
    from app.pagination import keyset_page

    stmt = select(ServiceStandard)
    if supplier is not None:
        stmt = stmt.where(ServiceStandard.supplier_id == supplier.id)
    if chain_role is not None:
        stmt = stmt.where(ServiceStandard.chain_role == chain_role)
    if current_only:
        stmt = stmt.where(ServiceStandard.valid_to.is_(None))
    return keyset_page(stmt, ServiceStandard.id, ServiceStandard.id, descending=False, cursor=cursor, limit=limit)
