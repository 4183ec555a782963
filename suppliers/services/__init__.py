"""Operations on the supplier register (this module) and on service standards and their
measurement (`standards`, `measurement`).

Each function is one unit of work over domain objects with an explicit actor: it checks the
rules, changes rows, names the actor for the change log, and flushes. The caller commits.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select, text
from sqlalchemy.orm import selectinload
from stdnum import get_cc_module
from stdnum.exceptions import ValidationError as StdnumValidationError

from app.changelog import attribute_changes
from app.db import db, utcnow
from app.errors import Conflict, ValidationFailed
from app.i18n import is_country_code
from app.pagination import Page, keyset_page
from app.uploads import StoredFile, discard
from suppliers.models import (
    LEGAL_NAME_MAX,
    QUALIFIED_STATUSES,
    SUPPLIER_CODE_PATTERN,
    Certificate,
    ChainRole,
    Contact,
    RiskClass,
    StatusChange,
    Supplier,
    SupplierChainRole,
    SupplierStatus,
)

#: Fields a user may set on a supplier (besides status, which has its own operation).
SUPPLIER_FIELDS = ("code", "legal_name", "vat_id", "country", "address", "city", "website",
                   "parent", "risk_class", "chain_roles", "notes")

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: Any, *, multiline: bool = False) -> str | None:
    """Trim a text value and drop control characters; empty becomes None.

    NUL and other control characters are refused by PostgreSQL and by Excel, and accepted by
    SQLite; dropping them at the door keeps both engines and every export alike.
    """
    if value is None:
        return None
    text = str(value)
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = _CONTROL_CHARS.sub("", text)
    else:
        text = _CONTROL_CHARS.sub("", text.replace("\n", " ").replace("\r", " ").replace("\t", " "))
    text = text.strip()
    return text or None


def normalise_vat_id(vat_id: str | None) -> str | None:
    if not vat_id:
        return None
    return re.sub(r"[\s.\-/]", "", vat_id).upper() or None


def _vat_error(vat_id: str | None, country: str | None):
    """Check a VAT id with the country's own algorithm where one is known (e.g. Italian
    partita IVA check digit). A number that starts with another country's prefix is checked
    as that country's."""
    if not vat_id or not country:
        return None
    number = vat_id
    if len(number) > 2 and number[:2].isalpha() and is_country_code(number[:2]):
        country, number = number[:2], number[2:]
    module = get_cc_module(country.lower(), "vat")
    if module is None:
        return None
    try:
        module.validate(number)
    except StdnumValidationError:
        return _l("This is not a valid VAT number for %(country)s.", country=country)
    return None


@dataclass
class SupplierFilters:
    text: str | None = None
    roles: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    risk_classes: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    include_archived: bool = False
    archived_only: bool = False


#: Sortable list columns: name → model column. Each has an index with id.
SORT_COLUMNS = {
    "code": Supplier.code,
    "legal_name": Supplier.legal_name,
    "country": Supplier.country,
    "status": Supplier.status,
    "risk_class": Supplier.risk_class,
    "updated_at": Supplier.updated_at,
}


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def supplier_query(filters: SupplierFilters):
    stmt = select(Supplier)
    if filters.archived_only:
        stmt = stmt.where(Supplier.archived_at.is_not(None))
    elif not filters.include_archived:
        stmt = stmt.where(Supplier.archived_at.is_(None))
    if filters.text:
        needle = "%" + escape_like(filters.text.strip().lower()) + "%"
        stmt = stmt.where(Supplier.search_text.like(needle, escape="\\"))
    if filters.roles:
        stmt = stmt.where(
            exists().where(SupplierChainRole.supplier_id == Supplier.id, SupplierChainRole.role.in_(filters.roles))
        )
    if filters.statuses:
        stmt = stmt.where(Supplier.status.in_(filters.statuses))
    if filters.risk_classes:
        stmt = stmt.where(Supplier.risk_class.in_(filters.risk_classes))
    if filters.countries:
        stmt = stmt.where(Supplier.country.in_(filters.countries))
    return stmt


def list_suppliers(filters: SupplierFilters, *, sort: str = "code", descending: bool = False,
                   cursor: str | None = None, limit: int = 50) -> Page[Supplier]:
    column = SORT_COLUMNS.get(sort, Supplier.code)
    stmt = supplier_query(filters).options(selectinload(Supplier.parent))
    return keyset_page(stmt, column, Supplier.id, descending=descending, cursor=cursor, limit=limit,
                       key=lambda s: [getattr(s, column.key), s.id])


def countries_in_use() -> list[str]:
    """The distinct countries of registered suppliers, for the list's country filter.

    A loose index scan (one index probe per country) instead of DISTINCT over every row:
    a few dozen countries cost the same with 100 suppliers as with a million.
    """
    rows = db.session.execute(text(
        "WITH RECURSIVE c(country) AS ("
        " SELECT MIN(country) FROM suppliers"
        " UNION ALL"
        " SELECT (SELECT MIN(s.country) FROM suppliers s WHERE s.country > c.country) FROM c"
        " WHERE c.country IS NOT NULL)"
        " SELECT country FROM c WHERE country IS NOT NULL"
    ))
    return [row[0] for row in rows]


def get_supplier_by_code(code: str) -> Supplier | None:
    return db.session.scalar(select(Supplier).where(Supplier.code == (code or "").strip().upper()))


def suggest_suppliers(text: str, limit: int = 10) -> list[Supplier]:
    """Suppliers whose code, name or VAT id contains `text`, for type-ahead fields."""
    if not text or not text.strip():
        return []
    page = list_suppliers(SupplierFilters(text=text), limit=limit)
    return page.items


def _ancestors(supplier: Supplier | None, limit: int = 64) -> list[Supplier]:
    chain = []
    seen = set()
    while supplier is not None and supplier.id not in seen and len(chain) < limit:
        chain.append(supplier)
        seen.add(supplier.id)
        supplier = supplier.parent
    return chain


def chain_of(supplier: Supplier) -> list[Supplier]:
    """The supplier's main contractors, nearest last: [top, ..., parent]."""
    return list(reversed(_ancestors(supplier.parent)))


def _validate(values: dict, supplier: Supplier | None) -> dict:
    """Check and normalise supplier fields; raise ValidationFailed listing every problem."""
    errors: dict[str, Any] = {}
    cleaned: dict[str, Any] = {}
    creating = supplier is None

    if creating or "code" in values:
        code = (clean_text(values.get("code")) or "").upper()
        if not code:
            errors["code"] = _l("Enter a supplier code.")
        elif not SUPPLIER_CODE_PATTERN.match(code):
            errors["code"] = _l("Use 1–32 capital letters, digits, dots, dashes or underscores, e.g. CAR-001.")
        else:
            other = get_supplier_by_code(code)
            if other is not None and other is not supplier:
                errors["code"] = _l("Another supplier already has the code %(code)s.", code=code)
        cleaned["code"] = code

    if creating or "legal_name" in values:
        name = clean_text(values.get("legal_name"))
        if not name:
            errors["legal_name"] = _l("Enter the legal name.")
        elif len(name) > LEGAL_NAME_MAX:
            errors["legal_name"] = _l("Use at most %(n)d characters.", n=LEGAL_NAME_MAX)
        cleaned["legal_name"] = name

    country = supplier.country if supplier else None
    if creating or "country" in values:
        country = (clean_text(values.get("country")) or "").upper()
        if not is_country_code(country):
            errors["country"] = _l("Choose a country (ISO 3166 two-letter code).")
        cleaned["country"] = country

    if creating or "vat_id" in values:
        vat_id = normalise_vat_id(clean_text(values.get("vat_id")))
        if vat_id and len(vat_id) > 32:
            errors["vat_id"] = _l("Use at most %(n)d characters.", n=32)
        elif "country" not in errors and (problem := _vat_error(vat_id, country)):
            errors["vat_id"] = problem
        cleaned["vat_id"] = vat_id

    for name, limit in (("address", 300), ("city", 120)):
        if creating or name in values:
            value = clean_text(values.get(name))
            if value and len(value) > limit:
                errors[name] = _l("Use at most %(n)d characters.", n=limit)
            cleaned[name] = value

    if creating or "website" in values:
        website = clean_text(values.get("website"))
        if website and not re.match(r"^https?://[^\s/$.?#][^\s]*$", website, re.IGNORECASE):
            errors["website"] = _l("Enter a web address starting with http:// or https://.")
        elif website and len(website) > 300:
            errors["website"] = _l("Use at most %(n)d characters.", n=300)
        cleaned["website"] = website

    if creating or "notes" in values:
        notes = clean_text(values.get("notes"), multiline=True)
        if notes and len(notes) > 10_000:
            errors["notes"] = _l("Use at most %(n)d characters.", n=10_000)
        cleaned["notes"] = notes

    if creating or "risk_class" in values:
        risk = values.get("risk_class") or RiskClass.MEDIUM.value
        if risk not in {r.value for r in RiskClass}:
            errors["risk_class"] = _l("Choose a risk class.")
        cleaned["risk_class"] = risk

    if creating or "chain_roles" in values:
        roles = list(dict.fromkeys(values.get("chain_roles") or []))
        valid = {r.value for r in ChainRole}
        if not roles:
            errors["chain_roles"] = _l("Choose at least one chain role.")
        elif any(r not in valid for r in roles):
            errors["chain_roles"] = _l("Unknown chain role.")
        cleaned["chain_roles"] = roles

    if creating or "parent" in values:
        parent_code = (clean_text(values.get("parent")) or "").upper()
        parent = None
        if parent_code:
            parent = get_supplier_by_code(parent_code)
            if parent is None:
                errors["parent"] = _l("No supplier has the code %(code)s.", code=parent_code)
            elif supplier is not None and any(a is supplier for a in _ancestors(parent)):
                errors["parent"] = _l(
                    "%(code)s is already a subcontractor of this supplier: the chain would loop.",
                    code=parent_code,
                )
        cleaned["parent"] = parent

    if errors:
        raise ValidationFailed(_l("The supplier could not be saved: check the highlighted fields."),
                               fields=errors)
    return cleaned


def _apply(supplier: Supplier, cleaned: dict) -> None:
    for name, value in cleaned.items():
        if name == "chain_roles":
            current = {r.role: r for r in supplier.chain_roles}
            wanted = set(value)
            for role, link in current.items():
                if role not in wanted:
                    supplier.chain_roles.remove(link)
            for role in value:
                if role not in current:
                    supplier.chain_roles.append(SupplierChainRole(role=role))
        elif name == "parent":
            supplier.parent = value
        else:
            setattr(supplier, name, value)
    supplier.refresh_search_text()


def create_supplier(values: dict, actor) -> Supplier:
    """Register a supplier. It starts as a prospect; the first history entry says so."""
    cleaned = _validate(values, None)
    attribute_changes(actor)
    supplier = Supplier(status=SupplierStatus.PROSPECT.value)
    _apply(supplier, cleaned)
    supplier.status_changes.append(StatusChange(
        from_status=None, to_status=SupplierStatus.PROSPECT.value,
        reason=str(_l("Registered in the supplier register")), changed_by_id=getattr(actor, "id", None),
    ))
    db.session.add(supplier)
    db.session.flush()
    return supplier


def check_version(supplier: Supplier, expected_version: int | None) -> None:
    """Refuse an edit made on an older copy of the record (optimistic locking)."""
    if expected_version is not None and expected_version != supplier.version:
        raise Conflict(
            _l("%(code)s was changed by someone else since you opened it. Reload the page to see "
               "the current values, then make your change again.", code=supplier.code),
            code="stale_record",
        )


def update_supplier(supplier: Supplier, values: dict, actor, expected_version: int | None = None) -> Supplier:
    """Change the given fields of a supplier (only those present in `values`)."""
    check_version(supplier, expected_version)
    cleaned = _validate({k: v for k, v in values.items() if k in SUPPLIER_FIELDS}, supplier)
    attribute_changes(actor)
    _apply(supplier, cleaned)
    db.session.flush()
    return supplier


def change_status(supplier: Supplier, status: str, reason: str, actor,
                  qualified_until: dt.date | None = None, today: dt.date | None = None,
                  expected_version: int | None = None, renewal: bool = False) -> StatusChange:
    """Move a supplier to another qualification status, with the reason kept in its history.

    Approved and conditionally approved need a qualified-until date in the future; the other
    statuses clear it, since the supplier is then not qualified. With `renewal` (a
    requalification decision) a qualified supplier may be confirmed in its own status: the
    history then shows the renewal and the new qualified-until date.
    """
    check_version(supplier, expected_version)
    today = today or dt.date.today()
    errors: dict[str, Any] = {}
    reason = clean_text(reason, multiline=True)
    try:
        target = SupplierStatus(status)
    except ValueError:
        target = None
        errors["status"] = _l("Unknown status.")
    if not reason:
        errors["reason"] = _l("Give the reason for the change: it is kept as qualification evidence.")
    elif len(reason) > 2000:
        errors["reason"] = _l("Use at most %(n)d characters.", n=2000)
    if target is not None:
        if target.value == supplier.status and not (renewal and target in QUALIFIED_STATUSES):
            errors["status"] = _l("The supplier already has this status.")
        elif target.value == supplier.status:
            if qualified_until is None or qualified_until <= today:
                errors["qualified_until"] = _l("The date must be in the future.")
        elif not supplier.can_change_status_to(target):
            errors["status"] = _l("A supplier cannot go from this status to the chosen one.")
        elif target in QUALIFIED_STATUSES:
            if qualified_until is None:
                errors["qualified_until"] = _l("Give the date until which the qualification holds.")
            elif qualified_until <= today:
                errors["qualified_until"] = _l("The date must be in the future.")
    if errors:
        raise ValidationFailed(_l("The status was not changed."), code="invalid_status_change", fields=errors)
    if supplier.is_archived:
        raise ValidationFailed(_l("Restore the supplier before changing its status."), code="archived")
    attribute_changes(actor, reason)
    change = StatusChange(
        from_status=supplier.status, to_status=target.value, reason=reason,
        qualified_until=qualified_until if target in QUALIFIED_STATUSES else None,
        changed_by_id=getattr(actor, "id", None),
    )
    supplier.status_changes.append(change)
    supplier.status = target.value
    supplier.qualified_until = qualified_until if target in QUALIFIED_STATUSES else None
    db.session.flush()
    return change


def archive_supplier(supplier: Supplier, reason: str, actor) -> None:
    """Hide a supplier from lists. Its records stay: a supplier is never deleted."""
    reason = clean_text(reason, multiline=True)
    if not reason:
        raise ValidationFailed(_l("Give the reason for archiving."), fields={"reason": _l("Give the reason for archiving.")})
    if supplier.is_archived:
        return
    active_subcontractors = [s.code for s in supplier.subcontractors if not s.is_archived]
    if active_subcontractors:
        message = _l("Archive or move its subcontractors first: %(codes)s.", codes=", ".join(active_subcontractors))
        raise ValidationFailed(message, code="has_subcontractors", fields={"reason": message})
    attribute_changes(actor, reason)
    supplier.archived_at = utcnow()
    db.session.flush()


def restore_supplier(supplier: Supplier, actor) -> None:
    if not supplier.is_archived:
        return
    attribute_changes(actor, str(_l("Restored from the archive")))
    supplier.archived_at = None
    db.session.flush()


# Contacts -------------------------------------------------------------------------------

def _validate_contact(values: dict) -> dict:
    errors = {}
    name = clean_text(values.get("name"))
    if not name:
        errors["name"] = _l("Enter the contact's name.")
    email = clean_text(values.get("email"))
    if email:
        email = email.lower()
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email) or len(email) > 254:
            errors["email"] = _l("Enter a valid e-mail address.")
    phone = clean_text(values.get("phone"))
    if phone and not re.fullmatch(r"[0-9+()./ -]{3,40}", phone):
        errors["phone"] = _l("Use digits, spaces and + ( ) . / - only.")
    job_title = clean_text(values.get("job_title"))
    for key, value, limit in (("name", name, 120), ("job_title", job_title, 120)):
        if value and len(value) > limit:
            errors[key] = _l("Use at most %(n)d characters.", n=limit)
    if errors:
        raise ValidationFailed(_l("The contact could not be saved."), fields=errors)
    return {"name": name, "email": email, "phone": phone, "job_title": job_title,
            "is_primary": bool(values.get("is_primary"))}


def _make_only_primary(supplier: Supplier, contact: Contact | None) -> None:
    for other in supplier.contacts:
        if other is not contact and other.is_primary:
            other.is_primary = False
    # Clear the old primary before the new one is written: the unique index checks each row.
    db.session.flush()


def add_contact(supplier: Supplier, values: dict, actor) -> Contact:
    """Add a contact; the first one, or one marked primary, becomes the primary contact."""
    cleaned = _validate_contact(values)
    attribute_changes(actor)
    if not supplier.contacts:
        cleaned["is_primary"] = True
    elif cleaned["is_primary"]:
        _make_only_primary(supplier, None)
    contact = Contact(**cleaned)
    supplier.contacts.append(contact)
    db.session.flush()
    return contact


def update_contact(contact: Contact, values: dict, actor) -> Contact:
    cleaned = _validate_contact(values)
    attribute_changes(actor)
    if cleaned["is_primary"] and not contact.is_primary:
        _make_only_primary(contact.supplier, contact)
    for key, value in cleaned.items():
        if key == "is_primary" and not value and contact.is_primary:
            continue  # a supplier keeps a primary contact until another one is chosen
        setattr(contact, key, value)
    db.session.flush()
    return contact


def remove_contact(contact: Contact, actor) -> None:
    supplier = contact.supplier
    attribute_changes(actor)
    was_primary = contact.is_primary
    supplier.contacts.remove(contact)
    db.session.flush()
    if was_primary and supplier.contacts:
        supplier.contacts[0].is_primary = True
        db.session.flush()


# Certificates ---------------------------------------------------------------------------

def add_certificate(supplier: Supplier, values: dict, stored: StoredFile | None, actor) -> Certificate:
    """Record a certificate; `stored` is its already checked and stored file, if any."""
    errors = {}
    standard = clean_text(values.get("standard"))
    if not standard:
        errors["standard"] = _l("Name the standard, e.g. ISO 9001:2015.")
    issued_on, expires_on = values.get("issued_on"), values.get("expires_on")
    if issued_on and expires_on and expires_on < issued_on:
        errors["expires_on"] = _l("The expiry date is before the issue date.")
    if errors:
        discard(stored.stored_name if stored else None)
        raise ValidationFailed(_l("The certificate could not be saved."), fields=errors)
    attribute_changes(actor)
    certificate = Certificate(
        supplier=supplier, standard=standard, number=clean_text(values.get("number")),
        issuer=clean_text(values.get("issuer")), issued_on=issued_on, expires_on=expires_on,
    )
    if stored:
        certificate.file_name = stored.original_name
        certificate.stored_name = stored.stored_name
        certificate.content_type = stored.content_type
        certificate.size_bytes = stored.size_bytes
    db.session.add(certificate)
    db.session.flush()
    return certificate


def remove_certificate(certificate: Certificate, actor) -> str | None:
    """Remove a certificate record; returns its stored file name for the caller to discard
    once the removal is committed."""
    attribute_changes(actor)
    stored_name = certificate.stored_name
    certificate.supplier.certificates.remove(certificate)
    db.session.flush()
    return stored_name


# Overview -------------------------------------------------------------------------------

def register_overview(today: dt.date, horizon_days: int = 60) -> dict:
    """Counts by status and what needs attention soon, aggregated in SQL."""
    from sqlalchemy import func

    by_status = dict(db.session.execute(
        select(Supplier.status, func.count()).where(Supplier.archived_at.is_(None)).group_by(Supplier.status)
    ).all())
    horizon = today + dt.timedelta(days=horizon_days)
    expiring_qualifications = db.session.scalars(
        select(Supplier).where(
            Supplier.archived_at.is_(None), Supplier.qualified_until.is_not(None),
            Supplier.qualified_until <= horizon,
        ).order_by(Supplier.qualified_until, Supplier.id).limit(20)
    ).all()
    expiring_certificates = db.session.scalars(
        select(Certificate).join(Certificate.supplier).where(
            Supplier.archived_at.is_(None), Certificate.expires_on.is_not(None), Certificate.expires_on <= horizon,
        ).options(selectinload(Certificate.supplier)).order_by(Certificate.expires_on, Certificate.id).limit(20)
    ).all()
    return {
        "by_status": {s.value: by_status.get(s.value, 0) for s in SupplierStatus},
        "expiring_qualifications": expiring_qualifications,
        "expiring_certificates": expiring_certificates,
        "horizon_days": horizon_days,
    }
