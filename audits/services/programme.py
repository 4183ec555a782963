"""The audit programme: plans, their recurrence, and firing them exactly once.

A plan *fires* on each of its scheduled days (README glossary: audit plan, firing, period).
A firing creates one audit per supplier the plan covers that day, for the period that the
firing day closes (e.g. the previous calendar month). Dates are calendar days in the company's
time zone (CATENA_TIMEZONE); the hour of a cron expression is ignored.

Exactly once (shared HOSTILE.md, decision 1): a firing is claimed by inserting its
(plan, scheduled day) row with INSERT … ON CONFLICT DO NOTHING, and each audit is inserted the
same way on (plan, supplier, period start). A second firing of the same day, a second scheduler
process or a retry therefore creates nothing. On SQLite the write transaction is BEGIN
IMMEDIATE (app.db), so two processes queue; on PostgreSQL the second insert waits on the
unique index until the first commits, then does nothing.

Catch-up: `run_due(at)` fires, for every active plan, each scheduled day from the later of
its `starts_on` and the day after its latest firing up to `at`, oldest first, once each.
Days missed while the scheduler was down are therefore fired late, not dropped; the audits'
history says "late". Functions here flush and never commit: the caller's unit of work does.
"""
from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from babel.dates import get_month_names
from flask import current_app, render_template
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select
from sqlalchemy.dialects import postgresql, sqlite

from app import outbox
from app.auth.models import User
from app.auth.roles import PERMISSIONS
from app.changelog import ChangeLogEntry, attribute_changes
from app.db import db, utcnow
from app.errors import Conflict, ServiceError, ValidationFailed
from audits.models import (
    AUDIT_TYPE_LABELS,
    RECURRENCE_LABELS,
    Audit,
    AuditEvent,
    AuditPlan,
    AuditPlanFiring,
    AuditStatus,
    AuditType,
    PeriodBasis,
    Recurrence,
    SupplierScope,
)
from suppliers.models import (
    RISK_CLASS_LABELS,
    ChainRole,
    Contact,
    RiskClass,
    Supplier,
    SupplierChainRole,
    SupplierStatus,
)
from suppliers.services import clean_text, get_supplier_by_code

log = logging.getLogger(__name__)

#: Months each recurrence and each period basis spans; a shorter one audits more often.
RECURRENCE_MONTHS = {Recurrence.MONTHLY: 1, Recurrence.QUARTERLY: 3, Recurrence.YEARLY: 12}
BASIS_MONTHS = {PeriodBasis.PREVIOUS_MONTH: 1, PeriodBasis.PREVIOUS_QUARTER: 3, PeriodBasis.PREVIOUS_YEAR: 12}
_BASIS_BY_MONTHS = {months: basis for basis, months in BASIS_MONTHS.items()}

#: Most days a catch-up looks back, whatever `starts_on` says (about 10 years).
CATCH_UP_LIMIT_DAYS = 3700

PLAN_FIELDS = ("name", "objectives", "criteria", "audit_type", "metrics", "checklist_template_id",
               "supplier_scope", "rule", "suppliers", "recurrence", "day_of_month", "month", "cron",
               "risk_recurrence", "period_basis", "lead_auditor_id", "lead_time_days", "major_margin",
               "starts_on")
RULE_KEYS = {"chain_roles": ChainRole, "statuses": SupplierStatus, "risk_classes": RiskClass}
_CRON_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


# Recurrence ---------------------------------------------------------------------------------

def _crontab_weekdays(field_text: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday, names allowed) as APScheduler 3 reads it.

    APScheduler 3 counts 0 as Monday (its issue 286); translating to names keeps the crontab
    meaning users expect.
    """
    if field_text == "*":
        return "*"
    names = {name: n for n, name in enumerate(_CRON_DAYS)}

    def number(token: str) -> int:
        token = token.strip().lower()
        if token in names:
            return names[token]
        value = int(token)
        if not 0 <= value <= 7:
            raise ValueError(f"day of week {value} out of range")
        return value % 7 if value == 7 else value

    days: set[int] = set()
    for part in field_text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError("step must be positive")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            a, b = span.split("-", 1)
            first, last = number(a), int(b) if b.strip().isdigit() else number(b)
            if last == 7 and first > 0:
                last = 7
        else:
            first = last = number(span)
        if last < first or last > 7:
            raise ValueError("day of week range out of order or out of range")
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def cron_trigger(expression: str) -> CronTrigger:
    """A trigger for the days a five-field crontab expression names (hour and minute ignored).

    Raises ValueError for an invalid expression. When both day of month and day of week are
    restricted, a day must match both (APScheduler's rule, unlike classic cron's "either").
    """
    fields = (expression or "").split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, weekday = fields
    weekday = _crontab_weekdays(weekday)
    # The library's own check of every field (minute and hour included).
    CronTrigger.from_crontab(" ".join((minute, hour, day, month, weekday)), timezone=dt.timezone.utc)
    # Days only: enumerate calendar dates at midnight UTC, where no DST gap can skip a day.
    return CronTrigger(day=day, month=month, day_of_week=weekday, hour=0, minute=0, timezone=dt.timezone.utc)


def _month_days(first: dt.date, last: dt.date, day: int, months: Iterable[int]) -> list[dt.date]:
    wanted = set(months)
    days = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        if month in wanted:
            candidate = dt.date(year, month, day)
            if first <= candidate <= last:
                days.append(candidate)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return days


def recurrence_days(plan: AuditPlan, recurrence: str, first: dt.date, last: dt.date) -> list[dt.date]:
    """The days one recurrence of the plan names between `first` and `last` (inclusive)."""
    if last < first:
        return []
    recurrence = Recurrence(recurrence)
    if recurrence is Recurrence.MONTHLY:
        return _month_days(first, last, plan.day_of_month, range(1, 13))
    if recurrence is Recurrence.QUARTERLY:
        return _month_days(first, last, plan.day_of_month, (1, 4, 7, 10))
    if recurrence is Recurrence.YEARLY:
        return _month_days(first, last, plan.day_of_month, (plan.month or 1,))
    trigger = cron_trigger(plan.cron)
    days = []
    moment = dt.datetime.combine(first, dt.time(), dt.timezone.utc)
    while True:
        fire = trigger.get_next_fire_time(None, moment)
        if fire is None or fire.date() > last:
            return days
        days.append(fire.date())
        moment = dt.datetime.combine(fire.date() + dt.timedelta(days=1), dt.time(), dt.timezone.utc)


def _recurrences(plan: AuditPlan) -> set[str]:
    return {plan.recurrence, *(plan.risk_recurrence or {}).values()}


def firing_days(plan: AuditPlan, first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day the plan fires between `first` and `last` (inclusive), in order: the days of
    its recurrence and of any shorter recurrence a risk class gives its suppliers."""
    first = max(first, plan.starts_on)
    days: set[dt.date] = set()
    for recurrence in _recurrences(plan):
        days.update(recurrence_days(plan, recurrence, first, last))
    return sorted(days)


def next_firing_days(plan: AuditPlan, after: dt.date, count: int = 12) -> list[dt.date]:
    """The plan's next `count` firing days from `after` (inclusive)."""
    days: list[dt.date] = []
    start = max(after, plan.starts_on)
    # Yearly plans need the longest look-ahead; stop after 30 years of nothing (a cron for 30 Feb).
    for _ in range(30):
        end = _add_months(start, 12)
        days.extend(firing_days(plan, start, end))
        if len(days) >= count:
            break
        start = end + dt.timedelta(days=1)
    return days[:count]


def supplier_recurrence(plan: AuditPlan, supplier: Supplier) -> str:
    """The recurrence that applies to one supplier: its risk class's if the plan shortens it."""
    return (plan.risk_recurrence or {}).get(supplier.risk_class) or plan.recurrence


def _add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def period_for(plan: AuditPlan, scheduled_for: dt.date, recurrence: str | None = None) -> tuple[dt.date, dt.date]:
    """The calendar period (first day, last day) an audit fired on `scheduled_for` covers.

    The plan's period basis, relative to the firing day: the calendar month, quarter or year
    before the one the firing day is in. A risk class audited more often than the plan's
    recurrence covers the shorter period matching its own recurrence (a monthly audit of a
    critical supplier on a quarterly plan covers the previous month).
    """
    months = BASIS_MONTHS[PeriodBasis(plan.period_basis)]
    if recurrence and recurrence != plan.recurrence and recurrence in RECURRENCE_MONTHS:
        months = min(months, RECURRENCE_MONTHS[Recurrence(recurrence)])
    basis = _BASIS_BY_MONTHS[months]
    if basis is PeriodBasis.PREVIOUS_MONTH:
        end = scheduled_for.replace(day=1) - dt.timedelta(days=1)
        return end.replace(day=1), end
    if basis is PeriodBasis.PREVIOUS_QUARTER:
        quarter_start = dt.date(scheduled_for.year, 3 * ((scheduled_for.month - 1) // 3) + 1, 1)
        end = quarter_start - dt.timedelta(days=1)
        return _add_months(quarter_start, -3), end
    return dt.date(scheduled_for.year - 1, 1, 1), dt.date(scheduled_for.year - 1, 12, 31)


def describe_recurrence(plan: AuditPlan) -> str:
    """The plan's recurrence in words, in the current language."""
    if plan.recurrence == Recurrence.MONTHLY:
        text = _l("Every month on day %(day)d", day=plan.day_of_month)
    elif plan.recurrence == Recurrence.QUARTERLY:
        text = _l("Every quarter on day %(day)d of January, April, July and October", day=plan.day_of_month)
    elif plan.recurrence == Recurrence.YEARLY:
        month = get_month_names("wide", locale=get_locale())[plan.month or 1]
        text = _l("Every year on %(day)d %(month)s", day=plan.day_of_month, month=month)
    else:
        text = _l("On the days of the cron expression %(cron)s", cron=plan.cron)
    parts = [str(text)]
    for risk, recurrence in sorted((plan.risk_recurrence or {}).items()):
        parts.append(str(_l("%(risk)s risk: %(recurrence)s", risk=RISK_CLASS_LABELS.get(risk, risk),
                            recurrence=str(RECURRENCE_LABELS.get(recurrence, recurrence)).lower())))
    return "; ".join(parts)


# Suppliers ----------------------------------------------------------------------------------

def suppliers_for(plan: AuditPlan, on: dt.date | None = None) -> list[Supplier]:
    """The suppliers the plan covers when it fires: its list, or its rule evaluated now.

    Archived suppliers never match. The rule is read at every firing, so a supplier that took
    on a chain role or changed risk class since the last one is picked up, and one that lost
    it is dropped. (`on` is the firing day; supplier state has no history to read it at.)
    """
    stmt = select(Supplier).where(Supplier.archived_at.is_(None)).order_by(Supplier.code)
    if plan.supplier_scope == SupplierScope.LIST:
        from audits.models import audit_plan_suppliers as link

        stmt = stmt.where(exists().where(link.c.plan_id == plan.id, link.c.supplier_id == Supplier.id))
    else:
        rule = plan.rule or {}
        if rule.get("chain_roles"):
            stmt = stmt.where(exists().where(SupplierChainRole.supplier_id == Supplier.id,
                                             SupplierChainRole.role.in_(rule["chain_roles"])))
        if rule.get("statuses"):
            stmt = stmt.where(Supplier.status.in_(rule["statuses"]))
        if rule.get("risk_classes"):
            stmt = stmt.where(Supplier.risk_class.in_(rule["risk_classes"]))
    return list(db.session.scalars(stmt))


# Plans --------------------------------------------------------------------------------------

def eligible_lead_auditors() -> list[User]:
    """Active users whose role may conduct audits."""
    roles = [r.value for r in PERMISSIONS["audits.conduct"]]
    return list(db.session.scalars(select(User).where(User.is_active.is_(True), User.role.in_(roles))
                                   .order_by(User.name, User.id)))


def _int(value, errors: dict, name: str, message, low: int, high: int) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[name] = message
        return None
    if not low <= number <= high or isinstance(value, bool):
        errors[name] = message
        return None
    return number


def _codes(value, enum, errors: dict, name: str, message) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        errors[name] = message
        return []
    codes = list(dict.fromkeys(str(v) for v in value))
    if any(code not in {e.value for e in enum} for code in codes):
        errors[name] = message
    return codes


def _validate(values: dict, plan: AuditPlan | None) -> dict:
    """Check and normalise plan fields; raise ValidationFailed naming every problem."""
    from questionnaires.models import QuestionnaireTemplate
    from suppliers.metrics import METRICS

    def current(name, default=None):
        if name in values:
            return values[name]
        if plan is not None:
            return [s.code for s in plan.suppliers] if name == "suppliers" else getattr(plan, name)
        return default

    errors: dict[str, Any] = {}
    cleaned: dict[str, Any] = {}

    name = clean_text(current("name"))
    if not name:
        errors["name"] = _l("Give the plan a name.")
    elif len(name) > 200:
        errors["name"] = _l("Use at most %(n)d characters.", n=200)
    cleaned["name"] = name
    for key in ("objectives", "criteria"):
        text = clean_text(current(key), multiline=True)
        if text and len(text) > 10_000:
            errors[key] = _l("Use at most %(n)d characters.", n=10_000)
        cleaned[key] = text

    audit_type = current("audit_type", AuditType.REMOTE.value) or AuditType.REMOTE.value
    if audit_type not in {t.value for t in AuditType}:
        errors["audit_type"] = _l("Choose an audit type.")
    cleaned["audit_type"] = audit_type

    metrics = current("metrics") or []
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)) \
            or any(str(m) not in METRICS for m in metrics):
        errors["metrics"] = _l("Unknown SLA metric.")
        metrics = []
    cleaned["metrics"] = list(dict.fromkeys(str(m) for m in metrics)) or None

    template_id = current("checklist_template_id")
    template = None
    if template_id not in (None, ""):
        try:
            template = db.session.get(QuestionnaireTemplate, int(template_id))
        except (TypeError, ValueError):
            template = None
        if template is None:
            errors["checklist_template_id"] = _l("Choose a questionnaire template.")
        elif template.published is None:
            errors["checklist_template_id"] = _l("This questionnaire has no published version.")
    if audit_type == AuditType.ON_SITE and template is None and "checklist_template_id" not in errors:
        errors["checklist_template_id"] = _l("An on-site audit needs a checklist (a published questionnaire).")
    cleaned["checklist_template_id"] = template.id if template is not None else None

    scope = current("supplier_scope", SupplierScope.RULE.value) or SupplierScope.RULE.value
    if scope not in {s.value for s in SupplierScope}:
        errors["supplier_scope"] = _l("Choose a list of suppliers or a rule.")
    cleaned["supplier_scope"] = scope
    rule_in = current("rule") or {}
    if not isinstance(rule_in, dict) or set(rule_in) - set(RULE_KEYS):
        errors["rule"] = _l("The rule may name chain roles, statuses and risk classes only.")
        rule_in = {}
    messages = {"chain_roles": _l("Unknown chain role."), "statuses": _l("Unknown supplier status."),
                "risk_classes": _l("Unknown risk class.")}
    rule = {key: _codes(rule_in.get(key), enum, errors, f"rule_{key}", messages[key])
            for key, enum in RULE_KEYS.items()}
    cleaned["rule"] = rule if scope == SupplierScope.RULE else None
    suppliers: list[Supplier] = []
    if scope == SupplierScope.LIST:
        codes = current("suppliers") or []
        if isinstance(codes, str):
            codes = [c for c in codes.replace(",", " ").split() if c]
        missing = []
        for code in dict.fromkeys(str(c).strip().upper() for c in codes if str(c).strip()):
            supplier = get_supplier_by_code(code)
            if supplier is None or supplier.is_archived:
                missing.append(code)
            else:
                suppliers.append(supplier)
        if missing:
            errors["suppliers"] = _l("No active supplier has the code %(codes)s.", codes=", ".join(missing))
        elif not suppliers:
            errors["suppliers"] = _l("Choose at least one supplier.")
    cleaned["suppliers"] = suppliers

    recurrence = current("recurrence", Recurrence.MONTHLY.value) or Recurrence.MONTHLY.value
    if recurrence not in {r.value for r in Recurrence}:
        errors["recurrence"] = _l("Choose a recurrence.")
        recurrence = None
    cleaned["recurrence"] = recurrence
    day = _int(current("day_of_month", 1), errors, "day_of_month",
               _l("Choose a day from 1 to 28 (every month has it)."), 1, 28)
    if day is None and recurrence in (Recurrence.MONTHLY, Recurrence.QUARTERLY, Recurrence.YEARLY) \
            and "day_of_month" not in errors:
        errors["day_of_month"] = _l("Choose a day from 1 to 28 (every month has it).")
    cleaned["day_of_month"] = day or 1
    month = _int(current("month"), errors, "month", _l("Choose a month."), 1, 12)
    if recurrence == Recurrence.YEARLY and month is None and "month" not in errors:
        errors["month"] = _l("A yearly plan needs the month it fires in.")
    cleaned["month"] = month if recurrence == Recurrence.YEARLY else None
    cron = clean_text(current("cron"))
    if recurrence == Recurrence.CRON:
        if not cron:
            errors["cron"] = _l("Give a cron expression, e.g. 0 2 1 */2 * (day 1 of every other month).")
        elif len(cron) > 100:
            errors["cron"] = _l("Use at most %(n)d characters.", n=100)
        else:
            try:
                cron_trigger(cron)
            except (ValueError, TypeError) as exc:
                errors["cron"] = _l("Not a valid cron expression (minute hour day month weekday): %(why)s",
                                    why=str(exc))
    cleaned["cron"] = cron if recurrence == Recurrence.CRON else None

    risk_in = current("risk_recurrence") or {}
    risk_recurrence: dict[str, str] = {}
    if not isinstance(risk_in, dict):
        errors["risk_recurrence"] = _l("Give a recurrence per risk class.")
    else:
        for risk, shorter in risk_in.items():
            if not shorter:
                continue
            if risk not in {r.value for r in RiskClass}:
                errors["risk_recurrence"] = _l("Unknown risk class.")
            elif shorter not in RECURRENCE_MONTHS:
                errors["risk_recurrence"] = _l("A risk class may be audited monthly, quarterly or yearly.")
            elif recurrence not in RECURRENCE_MONTHS or \
                    RECURRENCE_MONTHS[Recurrence(shorter)] >= RECURRENCE_MONTHS[Recurrence(recurrence)]:
                errors["risk_recurrence"] = _l(
                    "A risk class may only shorten a monthly, quarterly or yearly recurrence.")
            else:
                risk_recurrence[risk] = shorter
    cleaned["risk_recurrence"] = risk_recurrence or None

    basis = current("period_basis", PeriodBasis.PREVIOUS_MONTH.value) or PeriodBasis.PREVIOUS_MONTH.value
    if basis not in {b.value for b in PeriodBasis}:
        errors["period_basis"] = _l("Choose the period each audit covers.")
    cleaned["period_basis"] = basis

    lead_id = current("lead_auditor_id")
    lead = None
    if lead_id not in (None, ""):
        try:
            lead = db.session.get(User, int(lead_id))
        except (TypeError, ValueError):
            lead = None
        if lead is None or not lead.can("audits.conduct"):
            errors["lead_auditor_id"] = _l("The lead auditor must be an active user who may conduct audits.")
            lead = None
    cleaned["lead_auditor_id"] = lead.id if lead else None

    lead_time = _int(current("lead_time_days", 7), errors, "lead_time_days",
                     _l("Give 0 to 90 days."), 0, 90)
    cleaned["lead_time_days"] = 7 if lead_time is None else lead_time

    margin = current("major_margin", Decimal("0.10"))
    try:
        margin = Decimal(str(margin)) if margin not in (None, "") else Decimal("0.10")
        if not margin.is_finite() or not Decimal(0) <= margin <= Decimal(1):
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["major_margin"] = _l("Give a share from 0 to 1 (0.10 = 10 %).")
        margin = Decimal("0.10")
    cleaned["major_margin"] = margin.quantize(Decimal("0.0001"))

    starts_on = current("starts_on")
    if isinstance(starts_on, str):
        try:
            starts_on = dt.date.fromisoformat(starts_on)
        except ValueError:
            starts_on = None
    if not isinstance(starts_on, dt.date):
        errors["starts_on"] = _l("Give the day from which the plan fires (YYYY-MM-DD).")
    cleaned["starts_on"] = starts_on

    if errors:
        raise ValidationFailed(_l("The audit plan could not be saved: check the highlighted fields."),
                               code="invalid_plan", fields=errors)
    return cleaned


def _apply(plan: AuditPlan, cleaned: dict) -> None:
    for key, value in cleaned.items():
        if key == "suppliers":
            plan.suppliers = value
        else:
            setattr(plan, key, value)


def create_plan(values: dict, actor) -> AuditPlan:
    """Add a plan to the programme. It fires from `starts_on` (days before today included:
    see `run_due`)."""
    cleaned = _validate(values, None)
    attribute_changes(actor)
    plan = AuditPlan(is_active=True, created_by_id=getattr(actor, "id", None))
    _apply(plan, cleaned)
    db.session.add(plan)
    db.session.flush()
    return plan


def check_version(plan: AuditPlan, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != plan.version:
        raise Conflict(_l("The plan “%(name)s” was changed by someone else since you opened it. Reload the "
                          "page to see the current values, then make your change again.", name=plan.name),
                       code="stale_record")


def update_plan(plan: AuditPlan, values: dict, actor, expected_version: int | None = None) -> AuditPlan:
    """Change the given fields of a plan. Audits already created keep their dates and period;
    the next firings follow the new settings."""
    check_version(plan, expected_version)
    cleaned = _validate({k: v for k, v in values.items() if k in PLAN_FIELDS}, plan)
    attribute_changes(actor)
    _apply(plan, cleaned)
    db.session.flush()
    return plan


def deactivate_plan(plan: AuditPlan, actor, expected_version: int | None = None) -> AuditPlan:
    """Stop a plan firing. Its audits stay; days passed while inactive are never caught up."""
    check_version(plan, expected_version)
    if plan.is_active:
        attribute_changes(actor)
        plan.is_active = False
        db.session.flush()
    return plan


def activate_plan(plan: AuditPlan, actor, today: dt.date, expected_version: int | None = None) -> AuditPlan:
    """Let a plan fire again, from `today` on: the days it was inactive are not caught up
    (they are recorded as skipped firings with no audits)."""
    check_version(plan, expected_version)
    if plan.is_active:
        return plan
    attribute_changes(actor)
    plan.is_active = True
    # Mark the days missed while inactive as fired with nothing, so that run_due does not
    # catch them up: deactivating a plan means "do not audit in this time".
    for day in firing_days(plan, _catch_up_start(plan), today - dt.timedelta(days=1)):
        _claim_firing(plan.id, day)
    db.session.flush()
    return plan


def get_plan(plan_id: int) -> AuditPlan | None:
    return db.session.get(AuditPlan, plan_id)


def list_plans(*, cursor: str | None = None, limit: int = 50):
    from app.pagination import keyset_page

    return keyset_page(select(AuditPlan), AuditPlan.name, AuditPlan.id, descending=False, cursor=cursor,
                       limit=limit)


def last_firing(plan: AuditPlan) -> dt.date | None:
    return db.session.scalar(select(func.max(AuditPlanFiring.scheduled_for))
                             .where(AuditPlanFiring.plan_id == plan.id))


# Firing -------------------------------------------------------------------------------------

def _insert(table):
    """INSERT … ON CONFLICT DO NOTHING in the session's dialect."""
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table)


def _claim_firing(plan_id: int, scheduled_for: dt.date) -> int | None:
    """Insert the firing row; its id, or None when this day was fired already."""
    stmt = (_insert(AuditPlanFiring.__table__)
            .values(plan_id=plan_id, scheduled_for=scheduled_for, fired_at=utcnow(), audits_created=0)
            .on_conflict_do_nothing(index_elements=["plan_id", "scheduled_for"])
            .returning(AuditPlanFiring.__table__.c.id))
    return db.session.execute(stmt).scalar()


def _mail(recipient: str | None, template: str, audit_values: dict, plan: AuditPlan, supplier: Supplier,
          lead: User | None, name: str | None) -> None:
    """Queue the "audit coming up" e-mail, in the company's default language. An address the
    outbox refuses is logged and skipped: it must not stop the firing."""
    if not recipient:
        return
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        company = current_app.config["CATENA_COMPANY_NAME"]
        plan_url = current_app.config["CATENA_BASE_URL"].rstrip("/") + f"/audits/plans/{plan.id}"
        body = render_template(f"emails/audits/{template}.txt", company=company, plan=plan, supplier=supplier,
                               lead=lead, name=name, plan_url=plan_url, AUDIT_TYPE_LABELS=AUDIT_TYPE_LABELS,
                               **audit_values)
        subject = f"{company}: " + str(_l("audit of %(supplier)s planned on %(date)s", supplier=supplier.code,
                                          date=audit_values["planned_date"].isoformat()))
    try:
        outbox.enqueue(recipient, subject.replace("\n", " ")[:200], body, kind="audit_planned")
    except ServiceError as exc:
        log.warning("audit e-mail to %r not queued: %s", recipient, exc.message)


def fire(plan: AuditPlan, scheduled_for: dt.date, *, today: dt.date | None = None) -> int:
    """Fire the plan for one scheduled day: one audit per supplier it covers, for the period
    that day closes. Returns how many audits were created (0 when the day was fired already).

    `today` (the day it actually runs) marks a catch-up of a past day as late in the history.
    """
    return _fire(plan, scheduled_for, today) or 0


def _fire(plan: AuditPlan, scheduled_for: dt.date, today: dt.date | None) -> int | None:
    """As `fire`; None when this day had been fired already (by this or another process)."""
    firing_id = _claim_firing(plan.id, scheduled_for)
    if firing_id is None:
        return None
    checklist_version_id = None
    if plan.audit_type == AuditType.ON_SITE and plan.checklist_template is not None:
        published = plan.checklist_template.published
        checklist_version_id = published.id if published is not None else None
    planned_date = scheduled_for + dt.timedelta(days=plan.lead_time_days)
    lead = plan.lead_auditor
    is_late = today is not None and scheduled_for < today
    note = (str(_l("Created late by the catch-up on %(today)s for the firing of %(day)s.", today=today.isoformat(),
                   day=scheduled_for.isoformat()))
            if is_late else str(_l("Created by the audit plan “%(plan)s”.", plan=plan.name)))
    created = 0
    table = Audit.__table__
    several = len(_recurrences(plan)) > 1
    for supplier in suppliers_for(plan, scheduled_for):
        recurrence = supplier_recurrence(plan, supplier)
        # A day of another recurrence of the plan (a risk class's, or the plan's own) is not
        # this supplier's day.
        if several and not recurrence_days(plan, recurrence, scheduled_for, scheduled_for):
            continue
        start, end = period_for(plan, scheduled_for, recurrence)
        values = dict(plan_id=plan.id, supplier_id=supplier.id, audit_type=plan.audit_type, period_start=start,
                      period_end=end, scheduled_for=scheduled_for, planned_date=planned_date,
                      status=AuditStatus.PLANNED.value, lead_auditor_id=plan.lead_auditor_id,
                      checklist_version_id=checklist_version_id, created_at=utcnow(), version=1)
        values = {k: v for k, v in values.items() if k in table.c}
        audit_id = db.session.execute(
            _insert(table).values(**values)
            .on_conflict_do_nothing(index_elements=["plan_id", "supplier_id", "period_start"])
            .returning(table.c.id)).scalar()
        if audit_id is None:
            continue
        created += 1
        db.session.add(AuditEvent(audit_id=audit_id, kind="created", actor_id=None, note=note))
        # The core insert bypasses the ORM's change log; record the creation as it would.
        db.session.add(ChangeLogEntry(
            actor_id=None, actor_label="system", action="create", entity_type="suppliers",
            entity_id=str(supplier.id), entity_label=supplier.code[:255],
            changes={f"audits[{audit_id}].status": [None, AuditStatus.PLANNED.value],
                     f"audits[{audit_id}].planned_date": [None, planned_date.isoformat()]},
            reason=note))
        audit_values = dict(audit_id=audit_id, period_start=start, period_end=end, planned_date=planned_date,
                            audit_type=plan.audit_type)
        contact = db.session.scalar(select(Contact).where(Contact.supplier_id == supplier.id,
                                                          Contact.email.is_not(None))
                                    .order_by(Contact.is_primary.desc(), Contact.id).limit(1))
        if contact is not None:
            _mail(contact.email, "audit_planned", audit_values, plan, supplier, lead, contact.name)
        if lead is not None and lead.is_active:
            _mail(lead.email, "audit_planned_auditor", audit_values, plan, supplier, lead, lead.name)
    db.session.execute(AuditPlanFiring.__table__.update().where(AuditPlanFiring.__table__.c.id == firing_id)
                       .values(audits_created=created))
    db.session.flush()
    return created


# Running what is due ------------------------------------------------------------------------

@dataclass
class DueRun:
    """What one `run_due` did: (plan id, scheduled day, audits created) per firing."""

    at: dt.date
    firings: list[tuple[int, dt.date, int]] = field(default_factory=list)
    #: Firings that failed (plan id, day, error); the others went ahead.
    failed: list[tuple[int, dt.date, str]] = field(default_factory=list)

    @property
    def audits_created(self) -> int:
        return sum(n for _, _, n in self.firings)

    @property
    def late(self) -> int:
        return sum(1 for _, day, _ in self.firings if day < self.at)

    def summary(self) -> str:
        text = (f"{len(self.firings)} firings, {self.audits_created} audits created"
                f" ({self.late} late firings caught up) as of {self.at.isoformat()}")
        if self.failed:
            text += "; failed: " + ", ".join(f"plan {p} on {d.isoformat()} ({e})" for p, d, e in self.failed)
        return text


def _catch_up_start(plan: AuditPlan) -> dt.date:
    latest = last_firing(plan)
    start = plan.starts_on if latest is None else max(plan.starts_on, latest + dt.timedelta(days=1))
    return start


def due_firings(at: dt.date, plan_ids: Iterable[int] | None = None) -> list[tuple[int, dt.date]]:
    """(plan id, day) of every firing due by `at` and not done yet, oldest first per plan.

    The catch-up rule: from the later of the plan's `starts_on` and the day after its latest
    firing, every scheduled day up to `at` (at most CATCH_UP_LIMIT_DAYS back).
    """
    stmt = select(AuditPlan).where(AuditPlan.is_active.is_(True)).order_by(AuditPlan.id)
    if plan_ids is not None:
        stmt = stmt.where(AuditPlan.id.in_(list(plan_ids)))
    due = []
    floor = at - dt.timedelta(days=CATCH_UP_LIMIT_DAYS)
    for plan in db.session.scalars(stmt):
        due.extend((plan.id, day) for day in firing_days(plan, max(_catch_up_start(plan), floor), at))
    return due


def fire_due(plan_id: int, day: dt.date, at: dt.date) -> int | None:
    """Fire one due firing by ids; None if the plan is gone or inactive, or the day was
    fired already (by another process, since the list of due firings was read)."""
    plan = db.session.get(AuditPlan, plan_id)
    if plan is None or not plan.is_active:
        return None
    return _fire(plan, day, at)


def run_due(at: dt.date, *, unit: Callable[[], contextlib.AbstractContextManager] | None = None,
            plan_ids: Iterable[int] | None = None) -> DueRun:
    """Fire every firing due by `at` (see `due_firings` for the catch-up rule).

    Without `unit`, everything happens in the caller's transaction. With `unit` (the job and
    the command pass `app.db.unit_of_work`), each firing is its own unit of work: a crash
    mid-run keeps the firings committed so far, and a rerun continues with the rest. A firing
    that fails is rolled back alone, logged and reported; the run goes on.
    """
    run = DueRun(at=at)
    if unit is None:
        for plan_id, day in due_firings(at, plan_ids):
            created = fire_due(plan_id, day, at)
            if created is not None:
                run.firings.append((plan_id, day, created))
        return run
    with unit():
        due = due_firings(at, plan_ids)
    for plan_id, day in due:
        try:
            with unit():
                created = fire_due(plan_id, day, at)
        except Exception as exc:  # noqa: BLE001 (one plan's failure must not stop the others)
            log.exception("audit plan %s: firing of %s failed", plan_id, day)
            run.failed.append((plan_id, day, type(exc).__name__))
            continue
        if created is not None:
            run.firings.append((plan_id, day, created))
    return run
