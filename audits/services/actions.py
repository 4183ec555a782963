"""Corrective actions (SCAR): a nonconformity's request to the supplier, answered through a
private link, reviewed by the quality office, and closed only when its effectiveness is verified.

Life of a corrective action::

    requested ─(supplier submits)→ responded ─(accept)→ accepted ─(verified)→ closed
        ↑                            │  ↑                         └─(not effective)→ ineffective
        └──── (draft saves keep it)  ↓  │ (supplier submits again)
                                   returned

The link follows the questionnaire portal's rules (app.links): HMAC(SECRET_KEY, nonce) is the
secret, only the nonce and the secret's digest are stored, renewing draws a new nonce and
revoking stamps `revoked_at`. Every lookup goes through the digest, so a link reaches one
action only.

Effectiveness (README glossary, "corrective action effectiveness"):

- SLA method: the finding's SLA series is measured, with the same measurement as every
  scorecard (suppliers.services.measurement), over the first N periods of the SLA's window
  that *begin after the day of acceptance* (accepted on 20 March, monthly SLA, N = 2 → April
  and May). Until the last of them has ended the answer is "not yet". Then: met (or warning,
  which still meets the target) in every one → closed, effective; breached in any → ineffective;
  otherwise (a period without enough data) the computation cannot decide and the action waits
  for a manual verification.
- Manual method: a person verifies, effective or not, with a note and optional evidence.

The daily step (`run_daily`) sends each reminder and escalation once and applies the status
consequence once: every step is claimed with a conditional UPDATE (`… IS NULL`) before its
effect is written in the same transaction, so concurrent or repeated runs do nothing twice.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale, format_decimal
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update
from sqlalchemy.orm import joinedload, selectinload

from app import links, outbox
from app.changelog import attribute_changes
from app.db import db, utcnow
from app.errors import Conflict, ServiceError, ValidationFailed
from app.i18n import company_zone
from app.pagination import Page, keyset_page
from app.uploads import discard, discard_after_commit, remember_stored, store_upload
from audits.models import (
    ACTION_FINAL,
    ACTION_OPEN_FOR_SUPPLIER,
    FINDING_GRADE_LABELS,
    ActionStatus,
    Audit,
    AuditEvent,
    AuditEvidence,
    CorrectiveAction,
    CorrectiveActionFile,
    EffectivenessMethod,
    Finding,
    FindingGrade,
)
from suppliers.metrics import METRICS
from suppliers.models import Contact, Supplier, SupplierStatus
from suppliers.services import change_status, clean_text

log = logging.getLogger(__name__)

#: The portal's path; the view serves `/ca/<secret>`.
PORTAL_PATH = "/ca/"
#: The HMAC purpose of corrective-action links: a questionnaire nonce opens nothing here.
LINK_PURPOSE = "corrective-action-link"
MAX_TEXT_LENGTH = 5000
MAX_FILES = 5
EVIDENCE_KINDS = ("pdf", "png", "jpeg")
#: Why-analysis methods the supplier chooses between (`why_analysis["method"]`).
FIVE_WHYS = "five_whys"
EIGHT_D = "8d"
WHY_COUNT = 5
#: The 8D disciplines, in order (labels in audits.views.portal).
EIGHT_D_FIELDS = ("d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8")
MIN_PERIODS, MAX_PERIODS = 1, 12
#: Statuses in which the action is still open (the consequence looks at these).
STILL_OPEN = frozenset({ActionStatus.REQUESTED, ActionStatus.RETURNED, ActionStatus.RESPONDED})

# Effectiveness states, as `effectiveness()` computes them.
NOT_YET = "not_yet"
MET = "met"
NOT_MET = "not_met"
NO_DATA = "no_data"
NOT_APPLICABLE = "not_applicable"


class LinkClosed(ServiceError):
    """The link expired, was revoked, or the action is no longer open to the supplier."""

    status = 410
    code = "link_closed"


# Configuration read with defaults, so the domain works before app.config names them.

def _config(name: str, default):
    return current_app.config.get(name, default)


def _link_grace_days() -> int:
    return int(_config("CORRECTIVE_ACTION_LINK_GRACE_DAYS", 30))


def _remind_days() -> int:
    return int(_config("CORRECTIVE_ACTION_REMIND_DAYS", 3))


def _grace_days() -> int:
    return int(_config("CORRECTIVE_ACTION_GRACE_DAYS", 0))


def _consequence_status() -> str | None:
    """The status an overdue major nonconformity's supplier is moved to; empty = no consequence."""
    value = _config("CORRECTIVE_ACTION_CONSEQUENCE", SupplierStatus.SUSPENDED.value)
    return value or None


def _file_max_bytes() -> int:
    return int(_config("CORRECTIVE_ACTION_FILE_MAX_BYTES", _config("QUESTIONNAIRE_FILE_MAX_BYTES", 10 * 1024 * 1024)))


# The link ----------------------------------------------------------------------------------

def _new_link(action: CorrectiveAction) -> None:
    link = links.new_link(LINK_PURPOSE)
    action.token_nonce, action.token_hash, action.token_prefix = link.nonce, link.digest, link.prefix


def portal_url(action: CorrectiveAction) -> str:
    """The supplier's private link, absolute (it leaves the application in e-mails)."""
    return (current_app.config["CATENA_BASE_URL"].rstrip("/") + PORTAL_PATH
            + links.secret_for(action.token_nonce, LINK_PURPOSE))


def action_for_token(secret: str | None) -> CorrectiveAction | None:
    """The action whose link carries `secret`, whatever its state; None when unknown."""
    digest = links.digest_of(secret)
    if digest is None:
        return None
    return db.session.scalar(
        select(CorrectiveAction).where(CorrectiveAction.token_hash == digest)
        .options(joinedload(CorrectiveAction.finding).joinedload(Finding.audit),
                 joinedload(CorrectiveAction.supplier), selectinload(CorrectiveAction.files)))


def _link_expiry(last_day: dt.date) -> dt.datetime:
    return links.link_expiry(last_day, _link_grace_days())


def link_state(action: CorrectiveAction, now: dt.datetime) -> str:
    """"revoked", "expired", "closed" (nothing left for the supplier to do) or "active"."""
    if action.revoked_at is not None:
        return "revoked"
    if now >= action.expires_at:
        return "expired"
    if action.state not in ACTION_OPEN_FOR_SUPPLIER:
        return "closed"
    return "active"


def renew_link(action: CorrectiveAction, actor, *, today: dt.date, due_date: dt.date | None = None,
               expected_version: int | None = None) -> CorrectiveAction:
    """A new link (the old one stops working), optionally with a new due date, mailed again."""
    _check_version(action, expected_version)
    if action.state not in ACTION_OPEN_FOR_SUPPLIER:
        raise Conflict(_l("This corrective action is not waiting for the supplier."), code="not_open")
    if due_date is not None:
        if due_date < today or due_date > today + dt.timedelta(days=365):
            raise ValidationFailed(_l("The link was not renewed."), code="invalid_due_date",
                                   fields={"due_date": _l("The due date must be between today and a year from now.")})
        action.due_date = due_date
        # A new due date is a new promise: its reminder and escalation may happen again.
        action.reminded_due_at = action.escalated_at = None
    attribute_changes(actor, _l("Link renewed"))
    _new_link(action)
    action.revoked_at = None
    action.expires_at = max(_link_expiry(action.due_date), _link_expiry(today))
    _event(action, "link_renewed", actor)
    db.session.flush()
    _mail_supplier(action, "action_requested", _l("corrective action request"), kind="action_requested")
    return action


def revoke_link(action: CorrectiveAction, actor, *, expected_version: int | None = None) -> CorrectiveAction:
    """Stop the link working at once (a wrong recipient, a leak); renew it to reopen."""
    _check_version(action, expected_version)
    if action.revoked_at is None:
        action.revoked_at = utcnow()
        _event(action, "link_revoked", actor)
        db.session.flush()
    return action


# Events and e-mails -------------------------------------------------------------------------

def _event(action: CorrectiveAction, kind: str, actor=None, note: str | None = None) -> None:
    db.session.add(AuditEvent(action_id=action.id, kind=kind, actor_id=getattr(actor, "id", None),
                              note=note, at=utcnow()))


def history_of(action: CorrectiveAction) -> list[AuditEvent]:
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.action_id == action.id)
        .options(joinedload(AuditEvent.actor)).order_by(AuditEvent.at, AuditEvent.id)))


def _company() -> str:
    return current_app.config["CATENA_COMPANY_NAME"]


def _mail_supplier(action: CorrectiveAction, template: str, subject, kind: str, **context) -> None:
    """Queue an e-mail to the action's recipient, in the action's language, with its link."""
    if not action.recipient_email:
        return
    with force_locale(action.language):
        company = _company()
        body = render_template(f"emails/audits/{template}.txt", action=action, finding=action.finding,
                               company=company, url=portal_url(action), **context)
        subject_text = f"{company}: {subject} {action}"
    outbox.enqueue(action.recipient_email, subject_text.replace("\n", " ")[:200], body, kind=kind)


def _staff_url(action: CorrectiveAction) -> str:
    return current_app.config["CATENA_BASE_URL"].rstrip("/") + f"/audits/actions/{action.id}"


def quality_managers() -> list:
    from app.auth.models import User
    from app.auth.roles import Role

    return list(db.session.scalars(
        select(User).where(User.role == Role.QUALITY_MANAGER.value, User.is_active.is_(True)).order_by(User.id)))


def _mail_staff(users, action: CorrectiveAction, template: str, subject, kind: str, **context) -> None:
    """Queue an e-mail to each of `users`, each in their own language."""
    for user in users:
        if not getattr(user, "email", None):
            continue
        with force_locale(getattr(user, "locale", None) or current_app.config["BABEL_DEFAULT_LOCALE"]):
            body = render_template(f"emails/audits/{template}.txt", action=action, finding=action.finding,
                                   company=_company(), url=_staff_url(action), user=user, **context)
            subject_text = str(subject)
        outbox.enqueue(user.email, subject_text.replace("\n", " ")[:200], body, kind=kind)


# Requesting -------------------------------------------------------------------------------

def _recipient(supplier: Supplier, contact: Contact | None) -> Contact | None:
    if contact is not None:
        return contact if contact.supplier_id == supplier.id else None
    return db.session.scalar(
        select(Contact).where(Contact.supplier_id == supplier.id, Contact.email.is_not(None))
        .order_by(Contact.is_primary.desc(), Contact.id).limit(1))


def open_action_of(finding: Finding) -> CorrectiveAction | None:
    return db.session.scalar(
        select(CorrectiveAction).where(CorrectiveAction.finding_id == finding.id,
                                       CorrectiveAction.status.not_in([s.value for s in ACTION_FINAL]))
        .limit(1))


def request_action(finding: Finding, actor, *, due_date: dt.date | None, today: dt.date,
                   request_text: str | None = None, contact: Contact | None = None, language: str | None = None,
                   effectiveness_method: str = EffectivenessMethod.SLA.value,
                   effectiveness_periods: int | None = 2) -> CorrectiveAction:
    """Ask the supplier for a corrective action on a nonconformity: the action, its link, and an
    e-mail to the supplier's contact.

    One open action per finding (an ineffective one is final: a new one may follow it). The SLA
    method checks the finding's SLA series, so it needs a finding that came from one.
    """
    errors: dict[str, Any] = {}
    if finding is None:
        raise ValidationFailed(_l("Choose a finding."), code="invalid_action", fields={"finding_id": _l("Choose a finding.")})
    if not finding.is_nonconformity:
        raise ValidationFailed(_l("Only a nonconformity calls for a corrective action."), code="not_a_nonconformity")
    supplier = finding.audit.supplier
    if supplier.is_archived:
        errors["supplier"] = _l("This supplier is archived.")
    if due_date is None:
        errors["due_date"] = _l("Give the due date.")
    elif due_date < today:
        errors["due_date"] = _l("The due date cannot be in the past.")
    elif due_date > today + dt.timedelta(days=365):
        errors["due_date"] = _l("The due date must be within a year.")
    request_text = clean_text(request_text, multiline=True)
    if request_text and len(request_text) > MAX_TEXT_LENGTH:
        errors["request_text"] = _l("Use at most %(n)d characters.", n=MAX_TEXT_LENGTH)
    if language and language not in current_app.config["LANGUAGES"]:
        errors["language"] = _l("Unknown language.")
    if effectiveness_method not in EffectivenessMethod._value2member_map_:
        errors["effectiveness_method"] = _l("Choose how effectiveness is verified.")
    elif effectiveness_method == EffectivenessMethod.SLA and finding.series_id is None:
        errors["effectiveness_method"] = _l(
            "This finding does not come from an SLA: choose a manual verification.")
    periods = effectiveness_periods if effectiveness_periods is not None else 2
    if effectiveness_method == EffectivenessMethod.SLA and not (MIN_PERIODS <= periods <= MAX_PERIODS):
        errors["effectiveness_periods"] = _l("Between %(low)d and %(high)d periods.", low=MIN_PERIODS, high=MAX_PERIODS)
    recipient = None
    if "supplier" not in errors:
        recipient = _recipient(supplier, contact)
        if recipient is None or not recipient.email:
            errors["contact"] = _l("The supplier needs a contact with an e-mail address to receive the link.")
    if errors:
        raise ValidationFailed(_l("The corrective action was not requested."), code="invalid_action", fields=errors)
    # Serialise concurrent requests for one finding (SQLite already holds the write lock).
    db.session.execute(select(Finding.id).where(Finding.id == finding.id).with_for_update())
    already = open_action_of(finding)
    if already is not None:
        raise Conflict(_l("This finding already has an open corrective action (%(action)s).", action=str(already)),
                       code="action_open")
    attribute_changes(actor, _l("Corrective action requested"))
    action = CorrectiveAction(
        finding_id=finding.id, supplier_id=supplier.id, status=ActionStatus.REQUESTED.value, due_date=due_date,
        request_text=request_text, recipient_name=recipient.name, recipient_email=recipient.email,
        language=language or current_app.config["BABEL_DEFAULT_LOCALE"], expires_at=_link_expiry(due_date),
        effectiveness_method=effectiveness_method,
        effectiveness_periods=periods if effectiveness_method == EffectivenessMethod.SLA else 0,
        series_id=finding.series_id if effectiveness_method == EffectivenessMethod.SLA else None,
        created_by_id=getattr(actor, "id", None))
    action.finding = finding
    action.supplier = supplier
    _new_link(action)
    db.session.add(action)
    db.session.flush()
    _event(action, "action_requested", actor, recipient.email)
    _mail_supplier(action, "action_requested", _l("corrective action request"), kind="action_requested")
    db.session.flush()
    return action


# The supplier's side ------------------------------------------------------------------------

@dataclass
class Answer:
    """The supplier's answer as the form shows it (stored values, or what was just posted)."""

    containment: str | None = None
    method: str = FIVE_WHYS
    whys: list[str] = field(default_factory=lambda: [""] * WHY_COUNT)
    eight_d: dict[str, str] = field(default_factory=lambda: {k: "" for k in EIGHT_D_FIELDS})
    root_cause: str | None = None
    action_plan: str | None = None
    action_due_date: str | None = None


def answer_of(action: CorrectiveAction) -> Answer:
    analysis = action.why_analysis or {}
    answer = Answer(containment=action.containment, root_cause=action.root_cause, action_plan=action.action_plan,
                    action_due_date=action.action_due_date.isoformat() if action.action_due_date else None)
    if analysis.get("method") == EIGHT_D:
        answer.method = EIGHT_D
        answer.eight_d.update({k: analysis.get(k) or "" for k in EIGHT_D_FIELDS})
    else:
        whys = list(analysis.get("whys") or [])[:WHY_COUNT]
        answer.whys = whys + [""] * (WHY_COUNT - len(whys))
    return answer


def answer_from_form(values: Mapping) -> Answer:
    """The posted answer, unchecked (to show it again beside its errors)."""
    def get(name):
        value = values.get(name)
        return value if isinstance(value, str) else None

    method = EIGHT_D if get("method") == EIGHT_D else FIVE_WHYS
    return Answer(containment=get("containment"), method=method,
                  whys=[get(f"why{i}") or "" for i in range(1, WHY_COUNT + 1)],
                  eight_d={k: get(k) or "" for k in EIGHT_D_FIELDS}, root_cause=get("root_cause"),
                  action_plan=get("action_plan"), action_due_date=get("action_due_date"))


def respond(action: CorrectiveAction, values: Mapping, uploads: list | None = None,
            remove_files: set[int] | None = None, *, submit: bool, today: dt.date | None = None,
            now: dt.datetime | None = None) -> CorrectiveAction:
    """Store the supplier's answer: a draft, or the submission when `submit`.

    Only the answer's own fields are read from `values` (containment, method, why1…why5 or
    d1…d8, root_cause, action_plan, action_due_date); anything else is ignored. Nothing is
    stored unless every value is valid; to submit, containment, root cause, corrective action
    and a planned completion date not in the past are needed. `remove_files` names files of
    this action to drop (others' ids are ignored). After submitting the answer is read-only.
    """
    from app.i18n import today as company_today

    now = now or utcnow()
    today = today or company_today()
    if not action.is_open_for_supplier(now):
        raise LinkClosed(_l("This corrective action can no longer be changed through this link."))
    posted = answer_from_form(values)
    errors: dict[str, Any] = {}

    def text(name: str, value: str | None) -> str | None:
        cleaned = clean_text(value, multiline=True)
        if cleaned and len(cleaned) > MAX_TEXT_LENGTH:
            errors[name] = _l("Use at most %(n)d characters.", n=MAX_TEXT_LENGTH)
        return cleaned

    containment = text("containment", posted.containment)
    root_cause = text("root_cause", posted.root_cause)
    action_plan = text("action_plan", posted.action_plan)
    if posted.method == EIGHT_D:
        analysis: dict[str, Any] = {"method": EIGHT_D}
        for key in EIGHT_D_FIELDS:
            analysis[key] = text(key, posted.eight_d.get(key))
    else:
        whys = [text(f"why{i}", w) for i, w in enumerate(posted.whys, start=1)]
        analysis = {"method": FIVE_WHYS, "whys": [w for w in whys if w]}
    due = None
    raw_due = (posted.action_due_date or "").strip()
    if raw_due:
        try:
            due = dt.date.fromisoformat(raw_due)
        except ValueError:
            errors["action_due_date"] = _l("Give the date as YYYY-MM-DD.")
        else:
            if due < today:
                errors["action_due_date"] = _l("The date cannot be in the past.")
            elif due > today + dt.timedelta(days=3 * 365):
                errors["action_due_date"] = _l("The date must be within three years.")
    files = [f for f in (uploads or []) if f and getattr(f, "filename", None)]
    removing = [f for f in action.files if f.id in (remove_files or ())]
    if len(action.files) - len(removing) + len(files) > MAX_FILES:
        errors["files"] = _l("Attach at most %(n)d files.", n=MAX_FILES)
    if submit:
        required = {"containment": containment, "root_cause": root_cause, "action_plan": action_plan}
        for name, value in required.items():
            if not value:
                errors.setdefault(name, _l("This field is required to submit."))
        if due is None:
            errors.setdefault("action_due_date", _l("This field is required to submit."))
    if errors:
        raise ValidationFailed(_l("Your answer was not saved: please check the marked fields."),
                               code="invalid_answer", fields=errors)
    stored_now: list[str] = []
    try:
        for file_storage in files:
            stored = store_upload(file_storage, EVIDENCE_KINDS, _file_max_bytes(), field="files")
            stored_now.append(stored.stored_name)
            remember_stored(stored.stored_name)
            action.files.append(CorrectiveActionFile(
                stored_name=stored.stored_name, file_name=stored.original_name, content_type=stored.content_type,
                size_bytes=stored.size_bytes, uploaded_at=now))
    except ValidationFailed:
        for name in stored_now:
            discard(name)
        raise
    for stored in removing:
        action.files.remove(stored)
    action.containment = containment
    action.why_analysis = analysis
    action.root_cause = root_cause
    action.action_plan = action_plan
    action.action_due_date = due
    if submit:
        resubmission = action.state == ActionStatus.RETURNED
        action.status = ActionStatus.RESPONDED.value
        action.responded_at = now
        _event(action, "action_resubmitted" if resubmission else "action_responded")
        _notify_requester(action)
    else:
        _event(action, "action_draft_saved")
    db.session.flush()
    for stored in removing:
        discard_after_commit(stored.stored_name)
    return action


def _notify_requester(action: CorrectiveAction) -> None:
    requester = action.created_by
    if requester is None or not getattr(requester, "is_active", True):
        return
    _mail_staff([requester], action, "action_responded",
                _l("Corrective action answered: %(supplier)s", supplier=action.supplier.legal_name),
                kind="action_responded")


def file_of(action: CorrectiveAction, file_id: int) -> CorrectiveActionFile | None:
    """An evidence file of this action (None for another action's file)."""
    return db.session.scalar(select(CorrectiveActionFile).where(
        CorrectiveActionFile.id == file_id, CorrectiveActionFile.action_id == action.id))


# The quality office's review ---------------------------------------------------------------

def _check_version(action: CorrectiveAction, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != action.version:
        raise Conflict(_l("Someone else changed this corrective action meanwhile: reload the page to see it."),
                       code="stale")


def _review_note(note: str | None, *, required: bool) -> str | None:
    note = clean_text(note, multiline=True)
    if required and not note:
        raise ValidationFailed(_l("Say what the supplier needs to change."), code="note_required",
                               fields={"note": _l("Say what the supplier needs to change.")})
    if note and len(note) > MAX_TEXT_LENGTH:
        raise ValidationFailed(_l("The note is too long."), code="invalid_note",
                               fields={"note": _l("Use at most %(n)d characters.", n=MAX_TEXT_LENGTH)})
    return note


def accept(action: CorrectiveAction, note: str | None, actor, expected_version: int | None = None) -> CorrectiveAction:
    """Accept the supplier's answer: the action is carried out and its effectiveness awaited."""
    _check_version(action, expected_version)
    if action.state != ActionStatus.RESPONDED:
        raise Conflict(_l("Only an answered corrective action can be accepted."), code="not_responded")
    note = _review_note(note, required=False)
    attribute_changes(actor, note or _l("Corrective action accepted"))
    action.status = ActionStatus.ACCEPTED.value
    action.review_note = note
    action.reviewed_at = utcnow()
    action.reviewed_by_id = getattr(actor, "id", None)
    _event(action, "action_accepted", actor, note)
    db.session.flush()
    _mail_supplier(action, "action_accepted", _l("corrective action accepted"), kind="action_accepted")
    return action


def send_back(action: CorrectiveAction, note: str | None, actor, expected_version: int | None = None, *,
              today: dt.date | None = None) -> CorrectiveAction:
    """Send the answer back with what is missing: the link reopens and the supplier is mailed."""
    from app.i18n import today as company_today

    _check_version(action, expected_version)
    if action.state != ActionStatus.RESPONDED:
        raise Conflict(_l("Only an answered corrective action can be sent back."), code="not_responded")
    note = _review_note(note, required=True)
    today = today or company_today()
    attribute_changes(actor, note)
    action.status = ActionStatus.RETURNED.value
    action.review_note = note
    action.reviewed_at = utcnow()
    action.reviewed_by_id = getattr(actor, "id", None)
    action.revoked_at = None
    action.expires_at = max(action.expires_at, _link_expiry(max(today, action.due_date)))
    _event(action, "action_sent_back", actor, note)
    db.session.flush()
    _mail_supplier(action, "action_sent_back", _l("corrective action sent back"), kind="action_sent_back", note=note)
    return action


# Effectiveness -------------------------------------------------------------------------------

@dataclass
class PeriodCheck:
    key: str
    start: dt.date
    end: dt.date
    value: Decimal | None = None
    status: str | None = None  # met, warning, breached, no_data; None while not over
    target: Decimal | None = None
    comparator: str | None = None

    @property
    def is_met(self) -> bool:
        return self.status in ("met", "warning")


@dataclass
class Effectiveness:
    """What the SLA method says now: `state` is not_yet, met, not_met, no_data or not_applicable."""

    state: str
    periods: list[PeriodCheck] = field(default_factory=list)
    sla_name: str | None = None
    metric: str | None = None
    #: The day after which the last period ends (when the answer will be known).
    known_after: dt.date | None = None


def start_of(day: dt.date) -> dt.datetime:
    """Midnight at the start of `day` in the company's zone, as UTC."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=company_zone()).astimezone(dt.timezone.utc)


def acceptance_day(action: CorrectiveAction) -> dt.date | None:
    if action.reviewed_at is None:
        return None
    return action.reviewed_at.astimezone(company_zone()).date()


def _series_versions(action: CorrectiveAction):
    from suppliers.models import ServiceStandard

    return list(db.session.scalars(select(ServiceStandard).where(ServiceStandard.series_id == action.series_id)
                                   .order_by(ServiceStandard.version)))


def effectiveness_periods(action: CorrectiveAction, window: str) -> list:
    """The first N periods of `window` that begin after the day of acceptance."""
    from suppliers.services.measurement import periods_between

    accepted = acceptance_day(action)
    if accepted is None:
        return []
    count = action.effectiveness_periods
    candidates = periods_between(window, accepted, accepted + dt.timedelta(days=93 * (count + 1)))
    return [p for p in candidates if p.start > accepted][:count]


def effectiveness(action: CorrectiveAction, today: dt.date) -> Effectiveness:
    """The SLA method's answer for `action` as of `today` (nothing is changed).

    A period counts once it has ended (its last day is before `today`). Measured with
    suppliers.services.measurement.supplier_results, as of the start of `today`.
    """
    from suppliers.services.measurement import supplier_results

    if action.effectiveness_method != EffectivenessMethod.SLA or action.series_id is None:
        return Effectiveness(NOT_APPLICABLE)
    versions = _series_versions(action)
    if not versions:
        return Effectiveness(NO_DATA)
    latest = versions[-1]
    periods = effectiveness_periods(action, latest.window)
    result = Effectiveness(NOT_YET, [PeriodCheck(p.key, p.start, p.end) for p in periods], latest.name,
                           latest.metric, periods[-1].end if periods else None)
    if not periods or periods[-1].end >= today:
        return result
    measured = {r.period.key: r for r in supplier_results(action.supplier, periods[0].start, periods[-1].end,
                                                           now=start_of(today))
                if r.standard.series_id == action.series_id}
    for check in result.periods:
        found = measured.get(check.key)
        check.status = found.status if found else "no_data"
        if found is not None:
            check.value, check.target, check.comparator = found.value, found.standard.target, found.standard.comparator
    if any(c.status == "breached" for c in result.periods):
        result.state = NOT_MET
    elif all(c.is_met for c in result.periods):
        result.state = MET
    else:
        result.state = NO_DATA
    return result


def format_value(metric: str | None, value: Decimal | None) -> str:
    """A measured value in words: rates as "96.1 %", hours as "12.5 h" (in the current language)."""
    if value is None:
        return "—"
    unit = METRICS[metric].unit if metric in METRICS else "count"
    if unit == "rate":
        return f"{format_decimal(Decimal(value) * 100, format='0.0')} %"
    if unit == "hours":
        return f"{format_decimal(Decimal(value), format='0.0#')} h"
    return format_decimal(Decimal(value), format="0.0#")


def _in_words(result: Effectiveness) -> str:
    """"On-time delivery met in 2026-04 (96.1 %) and 2026-05 (97.0 %)", or what was not met."""
    def listed(checks):
        parts = [f"{c.key} ({format_value(result.metric, c.value)})" for c in checks]
        if len(parts) == 1:
            return parts[0]
        return str(_l("%(first)s and %(last)s", first=", ".join(parts[:-1]), last=parts[-1]))

    met = [c for c in result.periods if c.is_met]
    missed = [c for c in result.periods if c.status == "breached"]
    if result.state == MET:
        return str(_l("%(sla)s met in %(periods)s", sla=result.sla_name, periods=listed(met)))
    text = str(_l("%(sla)s not met in %(periods)s", sla=result.sla_name, periods=listed(missed)))
    if met:
        text += "; " + str(_l("met in %(periods)s", periods=listed(met)))
    return text


def _claim_verification(action: CorrectiveAction) -> None:
    """Mark the action verified unless another request or run did it first (then 409)."""
    claimed = db.session.execute(
        update(CorrectiveAction)
        .where(CorrectiveAction.id == action.id, CorrectiveAction.status == ActionStatus.ACCEPTED.value,
               CorrectiveAction.verified_at.is_(None))
        .values({CorrectiveAction.verified_at: utcnow(), CorrectiveAction.version: CorrectiveAction.version + 1})
        .execution_options(synchronize_session=False)).rowcount == 1
    db.session.refresh(action)
    if not claimed:
        raise Conflict(_l("This corrective action was verified meanwhile."), code="already_verified")


def _close(action: CorrectiveAction, effective: bool, result_text: str, actor, note: str | None = None) -> None:
    action.status = (ActionStatus.CLOSED if effective else ActionStatus.INEFFECTIVE).value
    action.effectiveness_result = result_text
    action.verified_by_id = getattr(actor, "id", None)
    _event(action, "action_closed" if effective else "action_ineffective", actor, note or result_text)
    db.session.flush()
    _mail_supplier(action, "action_closed", _l("corrective action closed"), kind="action_closed", effective=effective)


def verify(action: CorrectiveAction, actor, *, today: dt.date,
           expected_version: int | None = None) -> Effectiveness:
    """Verify an accepted SLA-method action from the data: closed when met in every period,
    ineffective when breached in any; unchanged (and the answer returned) when the periods
    are not over yet or lack data."""
    _check_version(action, expected_version)
    if action.state != ActionStatus.ACCEPTED:
        raise Conflict(_l("Only an accepted corrective action can be verified."), code="not_accepted")
    if action.effectiveness_method != EffectivenessMethod.SLA:
        raise ValidationFailed(_l("This action is verified by a person: use the manual verification."),
                               code="manual_method")
    result = effectiveness(action, today)
    if result.state not in (MET, NOT_MET):
        return result
    _claim_verification(action)
    attribute_changes(actor, _l("Effectiveness verified from the SLA data"))
    _close(action, result.state == MET, _in_words(result), actor)
    return result


def verify_manually(action: CorrectiveAction, effective: bool, note: str | None, evidence, actor, *,
                    expected_version: int | None = None) -> CorrectiveAction:
    """A person's verdict on an accepted action, with the note that justifies it and optional
    evidence (files kept with the audit's evidence). Allowed for either method: a person may
    decide when the data cannot (an SLA period without enough data)."""
    _check_version(action, expected_version)
    if action.state != ActionStatus.ACCEPTED:
        raise Conflict(_l("Only an accepted corrective action can be verified."), code="not_accepted")
    note = clean_text(note, multiline=True)
    if not note:
        raise ValidationFailed(_l("Say how effectiveness was verified."), code="note_required",
                               fields={"note": _l("Say how effectiveness was verified.")})
    if len(note) > MAX_TEXT_LENGTH:
        raise ValidationFailed(_l("The note is too long."), code="invalid_note",
                               fields={"note": _l("Use at most %(n)d characters.", n=MAX_TEXT_LENGTH)})
    files = [f for f in (evidence or []) if f and getattr(f, "filename", None)]
    stored_now: list[str] = []
    try:
        for file_storage in files[:MAX_FILES]:
            stored = store_upload(file_storage, EVIDENCE_KINDS, _file_max_bytes(), field="evidence")
            stored_now.append(stored.stored_name)
            remember_stored(stored.stored_name)
            db.session.add(AuditEvidence(
                audit_id=action.finding.audit_id, stored_name=stored.stored_name, file_name=stored.original_name,
                content_type=stored.content_type, size_bytes=stored.size_bytes, added_by_id=getattr(actor, "id", None),
                description=str(_l("%(action)s: effectiveness evidence", action=str(action)))[:500]))
    except ValidationFailed:
        for name in stored_now:
            discard(name)
        raise
    _claim_verification(action)
    attribute_changes(actor, note)
    verdict = _l("Verified effective: %(note)s", note=note) if effective else _l("Verified not effective: %(note)s", note=note)
    _close(action, effective, str(verdict), actor, note)
    return action


# The daily step ------------------------------------------------------------------------------

@dataclass
class DailyRun:
    reminded: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    consequences: list[int] = field(default_factory=list)
    verified: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.reminded)} due-date reminders, {len(self.escalated)} overdue escalations, "
                f"{len(self.consequences)} status consequences, {len(self.verified)} effectiveness verifications")


def _claim(action_id: int, column, *conditions) -> bool:
    """Stamp `column` on one action unless another run did it first."""
    result = db.session.execute(
        update(CorrectiveAction).where(CorrectiveAction.id == action_id, column.is_(None), *conditions)
        .values({column: utcnow(), CorrectiveAction.version: CorrectiveAction.version + 1})
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def _load(action_id: int) -> CorrectiveAction:
    action = db.session.get(CorrectiveAction, action_id)
    db.session.refresh(action)
    return action


def _waiting():
    return CorrectiveAction.status.in_([s.value for s in ACTION_OPEN_FOR_SUPPLIER])


def send_due_reminders(today: dt.date, run: DailyRun) -> None:
    """(a) Remind the supplier a few days before the due date, once."""
    horizon = today + dt.timedelta(days=_remind_days())
    ids = db.session.scalars(
        select(CorrectiveAction.id).where(_waiting(), CorrectiveAction.reminded_due_at.is_(None),
                                          CorrectiveAction.revoked_at.is_(None),
                                          CorrectiveAction.due_date >= today, CorrectiveAction.due_date <= horizon)
        .order_by(CorrectiveAction.id)).all()
    for action_id in ids:
        if not _claim(action_id, CorrectiveAction.reminded_due_at, _waiting()):
            continue
        action = _load(action_id)
        _mail_supplier(action, "action_due_soon", _l("corrective action due soon"), kind="action_due_soon")
        _event(action, "reminded_due")
        run.reminded.append(action_id)


def escalate_overdue(today: dt.date, run: DailyRun) -> None:
    """(b) Past the due date and still waiting for the supplier: tell the supplier and the
    quality managers, once per action."""
    ids = db.session.scalars(
        select(CorrectiveAction.id).where(_waiting(), CorrectiveAction.escalated_at.is_(None),
                                          CorrectiveAction.due_date < today)
        .order_by(CorrectiveAction.id)).all()
    managers = quality_managers() if ids else []
    for action_id in ids:
        if not _claim(action_id, CorrectiveAction.escalated_at, _waiting(), CorrectiveAction.due_date < today):
            continue
        action = _load(action_id)
        if action.is_open_for_supplier(start_of(today)):
            _mail_supplier(action, "action_overdue", _l("overdue corrective action"), kind="action_overdue")
        _mail_staff(managers, action, "action_escalated",
                    _l("Overdue corrective action %(action)s: %(supplier)s", action=str(action),
                       supplier=action.supplier.legal_name),
                    kind="action_escalated", days=(today - action.due_date).days,
                    grade_label=FINDING_GRADE_LABELS[FindingGrade(action.finding.grade)])
        _event(action, "escalated", None, ", ".join(m.email for m in managers) or None)
        run.escalated.append(action_id)


def consequence_reason(action: CorrectiveAction) -> str:
    finding = action.finding
    return str(_l("Corrective action %(action)s for major nonconformity %(finding)s of audit %(audit)s overdue "
                  "since %(date)s.", action=str(action), finding=str(finding), audit=str(finding.audit),
                  date=action.due_date.isoformat()))


def apply_consequences(today: dt.date, run: DailyRun) -> None:
    """(c) A major nonconformity's action still open past due date + grace days: the supplier
    moves to the configured status (suspended by default), with the reason in its history.

    Each action is considered once (`consequence_applied_at`); the status changes only if the
    supplier's current status allows the move (an event records a skip and why)."""
    target = _consequence_status()
    if target is None:
        return
    limit = today - dt.timedelta(days=_grace_days())
    still_open = CorrectiveAction.status.in_([s.value for s in STILL_OPEN])
    ids = db.session.scalars(
        select(CorrectiveAction.id).join(CorrectiveAction.finding)
        .where(still_open, Finding.grade == FindingGrade.MAJOR_NC.value,
               CorrectiveAction.consequence_applied_at.is_(None), CorrectiveAction.due_date < limit)
        .order_by(CorrectiveAction.id)).all()
    for action_id in ids:
        if not _claim(action_id, CorrectiveAction.consequence_applied_at, still_open,
                      CorrectiveAction.due_date < limit):
            continue
        action = _load(action_id)
        supplier = action.supplier
        reason = consequence_reason(action)
        if supplier.is_archived or not supplier.can_change_status_to(SupplierStatus(target)):
            _event(action, "consequence_skipped", None, str(_l("The supplier's status (%(status)s) does not allow it.",
                                                                status=supplier.status)))
            continue
        change_status(supplier, target, reason, None, today=today)
        _event(action, "consequence_applied", None, reason)
        run.consequences.append(action_id)


def verify_due(today: dt.date, run: DailyRun) -> None:
    """(d) Accepted SLA-method actions whose periods are over are verified from the data."""
    candidates = db.session.scalars(
        select(CorrectiveAction).where(CorrectiveAction.status == ActionStatus.ACCEPTED.value,
                                       CorrectiveAction.effectiveness_method == EffectivenessMethod.SLA.value,
                                       CorrectiveAction.verified_at.is_(None))
        .options(joinedload(CorrectiveAction.supplier)).order_by(CorrectiveAction.id)).all()
    for action in candidates:
        try:
            result = verify(action, None, today=today)
        except Conflict:
            continue  # another run verified it first
        if result.state in (MET, NOT_MET):
            run.verified.append(action.id)


def run_daily(today: dt.date) -> DailyRun:
    """Everything the daily job does; one unit of work around it is the caller's."""
    run = DailyRun()
    send_due_reminders(today, run)
    escalate_overdue(today, run)
    apply_consequences(today, run)
    verify_due(today, run)
    db.session.flush()
    return run


# Lists ------------------------------------------------------------------------------------

@dataclass
class ActionFilters:
    statuses: list[str] = field(default_factory=list)
    #: A supplier's code, or its numeric id.
    supplier: str | None = None
    overdue_only: bool = False


def action_query(filters: ActionFilters, *, today: dt.date):
    stmt = select(CorrectiveAction)
    statuses = [s for s in filters.statuses if s in ActionStatus._value2member_map_]
    if statuses:
        stmt = stmt.where(CorrectiveAction.status.in_(statuses))
    if filters.supplier and filters.supplier.strip():
        value = filters.supplier.strip()[:40]
        wanted = select(Supplier.id).where(Supplier.code == value.upper())
        if value.isdigit():
            wanted = select(Supplier.id).where(or_(Supplier.code == value.upper(), Supplier.id == int(value)))
        stmt = stmt.where(CorrectiveAction.supplier_id.in_(wanted))
    if filters.overdue_only:
        stmt = stmt.where(_waiting(), CorrectiveAction.due_date < today)
    return stmt


def list_actions(filters: ActionFilters, *, today: dt.date, cursor: str | None = None,
                 limit: int = 50) -> Page[CorrectiveAction]:
    """One page of actions, earliest due first. Raises BadCursor for an altered cursor."""
    stmt = action_query(filters, today=today).options(
        joinedload(CorrectiveAction.supplier), joinedload(CorrectiveAction.finding).joinedload(Finding.audit))
    return keyset_page(stmt, CorrectiveAction.due_date, CorrectiveAction.id, descending=False, cursor=cursor,
                       limit=limit, key=lambda a: [a.due_date, a.id])


def overdue_actions(today: dt.date, limit: int = 10) -> list[CorrectiveAction]:
    """Actions waiting for the supplier past their due date, most overdue first."""
    return list(db.session.scalars(
        action_query(ActionFilters(overdue_only=True), today=today)
        .options(joinedload(CorrectiveAction.supplier), joinedload(CorrectiveAction.finding))
        .order_by(CorrectiveAction.due_date, CorrectiveAction.id).limit(limit)))


def actions_of_finding(finding: Finding) -> list[CorrectiveAction]:
    return list(db.session.scalars(select(CorrectiveAction).where(CorrectiveAction.finding_id == finding.id)
                                   .order_by(CorrectiveAction.id)))


def get_action(action_id: int) -> CorrectiveAction | None:
    return db.session.scalar(
        select(CorrectiveAction).where(CorrectiveAction.id == action_id)
        .options(joinedload(CorrectiveAction.finding).joinedload(Finding.audit),
                 joinedload(CorrectiveAction.supplier), selectinload(CorrectiveAction.files)))


def get_finding(finding_id: int) -> Finding | None:
    return db.session.scalar(select(Finding).where(Finding.id == finding_id)
                             .options(joinedload(Finding.audit).joinedload(Audit.supplier)))


def is_overdue(action: CorrectiveAction, today: dt.date) -> bool:
    return action.is_overdue(today)

