"""Pages of the supplier register: list, detail, forms, status, contacts, certificates."""
from __future__ import annotations

import functools

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.auth.access import permission_required
from app.changelog import history_for
from app.db import db, unit_of_work
from app.errors import Conflict, ServiceError
from app.forms import choices, show_service_errors
from app.i18n import today
from app.pagination import BadCursor
from app.uploads import discard, send_stored, store_upload
from suppliers import services
from suppliers.forms import (
    ArchiveForm,
    CertificateForm,
    ConfirmForm,
    ContactForm,
    StatusForm,
    SupplierForm,
    supplier_filters_from_args,
)
from suppliers.models import (
    CHAIN_ROLE_LABELS,
    RISK_CLASS_LABELS,
    STATUS_COLOURS,
    STATUS_LABELS,
    STATUS_TRANSITIONS,
    Certificate,
    Contact,
    Supplier,
    SupplierStatus,
)

from suppliers.views import bp


@bp.record_once
def _share_labels(state):
    # Globals, not context: macros imported by templates see globals only.
    state.app.jinja_env.globals.update(
        CHAIN_ROLE_LABELS=CHAIN_ROLE_LABELS,
        RISK_CLASS_LABELS=RISK_CLASS_LABELS,
        STATUS_LABELS=STATUS_LABELS,
        STATUS_COLOURS=STATUS_COLOURS,
    )


def with_supplier(permission: str):
    """Load the supplier named by <code> (404 if none) after checking `permission`."""

    def decorator(view):
        @functools.wraps(view)
        @permission_required(permission)
        def wrapped(code, *args, **kwargs):
            supplier = services.get_supplier_by_code(code)
            if supplier is None:
                abort(404)
            return view(supplier, *args, **kwargs)

        return wrapped

    return decorator


def _actor():
    return current_user._get_current_object()


@bp.route("/")
@permission_required("suppliers.view")
def index():
    form, filters = supplier_filters_from_args(request.args)
    sort = request.args.get("sort", "code")
    if sort not in services.SORT_COLUMNS:
        sort = "code"
    descending = request.args.get("dir") == "desc"
    try:
        page = services.list_suppliers(filters, sort=sort, descending=descending,
                                       cursor=request.args.get("cursor"), limit=current_app.config["PAGE_SIZE"])
    except BadCursor:
        abort(400)
    args = request.args.to_dict(flat=False)
    args.pop("cursor", None)
    return render_template("suppliers/index.html", form=form, page=page, sort=sort, descending=descending,
                           args=args, today=today())


@bp.route("/suggest")
@permission_required("suppliers.view")
def suggest():
    """Type-ahead for supplier fields: code and name of up to 10 matches."""
    suppliers = services.suggest_suppliers(request.args.get("q", "")[:100])
    return jsonify([{"code": s.code, "legal_name": s.legal_name} for s in suppliers])


@bp.route("/new", methods=["GET", "POST"])
@permission_required("suppliers.edit")
def create():
    form = SupplierForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                supplier = services.create_supplier(form.values(), _actor())
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Supplier %(code)s registered.", code=supplier.code), "success")
            return redirect(url_for("suppliers.detail", code=supplier.code))
    return render_template("suppliers/form.html", form=form, supplier=None)


@bp.route("/<code>")
@with_supplier("suppliers.view")
def detail(supplier: Supplier):
    status_form = StatusForm(version=supplier.version)
    allowed = STATUS_TRANSITIONS[SupplierStatus(supplier.status)]
    status_form.status.choices = choices((s.value, STATUS_LABELS[s]) for s in SupplierStatus if s in allowed)
    history = history_for("suppliers", supplier.id) if current_user.can("changelog.view") else None
    return render_template(
        "suppliers/detail.html", supplier=supplier, chain=services.chain_of(supplier),
        status_form=status_form, archive_form=ArchiveForm(), confirm_form=ConfirmForm(),
        contact_form=ContactForm(), certificate_form=CertificateForm(), history=history, today=today(),
    )


@bp.route("/<code>/edit", methods=["GET", "POST"])
@with_supplier("suppliers.edit")
def edit(supplier: Supplier):
    form = SupplierForm(obj=supplier) if request.method == "GET" else SupplierForm()
    if request.method == "GET":
        form.chain_roles.data = supplier.role_codes
        form.parent.data = supplier.parent.code if supplier.parent else ""
        form.version.data = supplier.version
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.update_supplier(supplier, form.values(), _actor(),
                                         expected_version=_int_or_none(form.version.data))
        except Conflict as exc:
            flash(str(exc.message), "danger")
            return render_template("suppliers/form.html", form=form, supplier=supplier), 409
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Changes to %(code)s saved.", code=supplier.code), "success")
            return redirect(url_for("suppliers.detail", code=supplier.code))
    return render_template("suppliers/form.html", form=form, supplier=supplier)


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@bp.route("/<code>/status", methods=["POST"])
@with_supplier("suppliers.change_status")
def change_status(supplier: Supplier):
    form = StatusForm()
    form.status.choices = choices((s.value, STATUS_LABELS[s]) for s in SupplierStatus)
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.change_status(supplier, form.status.data, form.reason.data, _actor(),
                                       qualified_until=form.qualified_until.data, today=today(),
                                       expected_version=_int_or_none(form.version.data))
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Status of %(code)s changed to %(status)s.", code=supplier.code,
                    status=STATUS_LABELS[SupplierStatus(supplier.status)]), "success")
            return redirect(url_for("suppliers.detail", code=supplier.code))
    return render_template("suppliers/status.html", supplier=supplier, form=form), 422


@bp.route("/<code>/archive", methods=["POST"])
@with_supplier("suppliers.archive")
def archive(supplier: Supplier):
    form = ArchiveForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.archive_supplier(supplier, form.reason.data, _actor())
        except ServiceError as exc:
            flash(str(exc.fields.get("reason") or exc.message), "danger")
        else:
            flash(_("%(code)s archived. It is hidden from lists but kept with its history.", code=supplier.code), "success")
    else:
        flash(_("Give the reason for archiving."), "danger")
    return redirect(url_for("suppliers.detail", code=supplier.code))


@bp.route("/<code>/restore", methods=["POST"])
@with_supplier("suppliers.archive")
def restore(supplier: Supplier):
    if ConfirmForm().validate_on_submit():
        with unit_of_work():
            services.restore_supplier(supplier, _actor())
        flash(_("%(code)s restored.", code=supplier.code), "success")
    return redirect(url_for("suppliers.detail", code=supplier.code))


# Contacts -------------------------------------------------------------------------------

def _record_of(supplier: Supplier, model, record_id: int):
    """A contact or certificate of this supplier; 404 for another supplier's (no IDOR)."""
    record = db.session.get(model, record_id)
    if record is None or record.supplier_id != supplier.id:
        abort(404)
    return record


@bp.route("/<code>/contacts/new", methods=["GET", "POST"])
@with_supplier("suppliers.edit")
def add_contact(supplier: Supplier):
    form = ContactForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.add_contact(supplier, form.data, _actor())
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Contact added."), "success")
            return redirect(url_for("suppliers.detail", code=supplier.code, _anchor="contacts"))
    return render_template("suppliers/contact_form.html", supplier=supplier, form=form, contact=None)


@bp.route("/<code>/contacts/<int:contact_id>", methods=["GET", "POST"])
@with_supplier("suppliers.edit")
def edit_contact(supplier: Supplier, contact_id: int):
    contact = _record_of(supplier, Contact, contact_id)
    form = ContactForm(obj=contact)
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.update_contact(contact, form.data, _actor())
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Contact saved."), "success")
            return redirect(url_for("suppliers.detail", code=supplier.code, _anchor="contacts"))
    return render_template("suppliers/contact_form.html", supplier=supplier, form=form, contact=contact,
                           confirm_form=ConfirmForm())


@bp.route("/<code>/contacts/<int:contact_id>/delete", methods=["POST"])
@with_supplier("suppliers.edit")
def remove_contact(supplier: Supplier, contact_id: int):
    contact = _record_of(supplier, Contact, contact_id)
    if ConfirmForm().validate_on_submit():
        with unit_of_work():
            services.remove_contact(contact, _actor())
        flash(_("Contact removed."), "success")
    return redirect(url_for("suppliers.detail", code=supplier.code, _anchor="contacts"))


# Certificates ---------------------------------------------------------------------------

@bp.route("/<code>/certificates/new", methods=["GET", "POST"])
@with_supplier("suppliers.edit")
def add_certificate(supplier: Supplier):
    form = CertificateForm()
    status = 200
    if form.validate_on_submit():
        stored = None
        try:
            if form.file.data and form.file.data.filename:
                stored = store_upload(form.file.data, ("pdf", "png", "jpeg"),
                                      current_app.config["CERTIFICATE_MAX_BYTES"], field="file")
            with unit_of_work():
                services.add_certificate(supplier, form.data, stored, _actor())
        except ServiceError as exc:
            discard(stored.stored_name if stored else None)
            show_service_errors(form, exc)
            status = 422
        except BaseException:
            discard(stored.stored_name if stored else None)
            raise
        else:
            flash(_("Certificate added."), "success")
            return redirect(url_for("suppliers.detail", code=supplier.code, _anchor="certificates"))
    elif form.is_submitted():
        status = 422
    return render_template("suppliers/certificate_form.html", supplier=supplier, form=form), status


@bp.route("/<code>/certificates/<int:certificate_id>/file")
@with_supplier("suppliers.view_certificates")
def certificate_file(supplier: Supplier, certificate_id: int):
    certificate = _record_of(supplier, Certificate, certificate_id)
    return send_stored(certificate.stored_name, certificate.content_type, certificate.file_name)


@bp.route("/<code>/certificates/<int:certificate_id>/delete", methods=["POST"])
@with_supplier("suppliers.edit")
def remove_certificate(supplier: Supplier, certificate_id: int):
    certificate = _record_of(supplier, Certificate, certificate_id)
    if ConfirmForm().validate_on_submit():
        with unit_of_work():
            stored_name = services.remove_certificate(certificate, _actor())
        discard(stored_name)
        flash(_("Certificate removed."), "success")
    return redirect(url_for("suppliers.detail", code=supplier.code, _anchor="certificates"))
