"""The audit pages: the list, one audit (status and actions, SLA snapshot with its chart and
the differences of the last recompute, findings by grade with the auditee's responses,
participants, evidence, history), and the POST endpoints of each operation in
audits.services.conduct.

Each view loads, authorises, validates, makes one service call inside `unit_of_work()`,
flashes and redirects; a refusal re-renders the page with the message beside the fields
(422, or 409 for a conflict). Forms that change the audit record carry its `version`: a page
loaded before someone else's change is answered 409 and nothing is overwritten.
"""
from __future__ import annotations

import functools
from collections import OrderedDict

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from app.auth.access import permission_required
from app.db import unit_of_work
from app.errors import Conflict, ServiceError
from app.forms import show_service_errors
from app.pagination import BadCursor
from app.uploads import send_stored
from audits.audit_forms import (
    audit_filters_from_args,
    PARTICIPANT_ROLE_LABELS,
    ChecklistForm,
    DeleteForm,
    DetailsForm,
    EvidenceForm,
    FindingForm,
    ParticipantForm,
    ResponseForm,
    VersionForm,
    version_of,
)
from audits.models import (
    AUDIT_STATUS_LABELS,
    AUDIT_TYPE_LABELS,
    AUDITEE_RESPONSE_LABELS,
    FINDING_GRADE_LABELS,
    Audit,
    AuditStatus,
    FindingGrade,
)
from audits.services import conduct as service
from audits.views import bp
from questionnaires.models import QuestionType
from questionnaires.services.question_types import LONG_TEXT_MAX, SHORT_TEXT_MAX, kind_of
from questionnaires.views.portal import PortalQuestion, option_label
from suppliers.metrics import METRICS

#: Badge colours, the same everywhere; each badge also carries its word.
AUDIT_STATUS_COLOURS = {"planned": "secondary", "in_progress": "info", "report_issued": "primary",
                        "closed": "success"}
FINDING_GRADE_COLOURS = {"major_nc": "danger", "minor_nc": "warning", "observation": "info",
                         "improvement": "secondary", "good_practice": "success"}
AUDIT_EVENT_LABELS = {
    "created": _l("Created by the audit programme"),
    "started": _l("Audit started"),
    "snapshot": _l("SLA snapshot computed"),
    "findings_proposed": _l("Findings proposed from the snapshot"),
    "finding_added": _l("Finding added"),
    "finding_removed": _l("Finding removed"),
    "participant_added": _l("Participant added"),
    "participant_removed": _l("Participant removed"),
    "evidence_added": _l("Evidence added"),
    "evidence_removed": _l("Evidence removed"),
    "checklist_saved": _l("Checklist saved"),
    "report_issued": _l("Report issued"),
    "requalification_started": _l("Requalification questionnaire sent (major nonconformity)"),
    "closed": _l("Audit closed"),
}
_STALE = _l("Someone else changed this audit meanwhile: reload the page to see it.")


@bp.record_once
def _share_labels(state):
    # Globals, not context: macros see globals only.
    state.app.jinja_env.globals.update(
        AUDIT_STATUS_LABELS={s.value: label for s, label in AUDIT_STATUS_LABELS.items()},
        AUDIT_STATUS_COLOURS=AUDIT_STATUS_COLOURS,
        FINDING_GRADE_LABELS={g.value: label for g, label in FINDING_GRADE_LABELS.items()},
        FINDING_GRADE_COLOURS=FINDING_GRADE_COLOURS,
    )


def _actor():
    return current_user._get_current_object()


def with_audit(permission: str):
    """Load the audit named by <audit_id> (404 if none) after checking `permission`."""

    def decorator(view):
        @functools.wraps(view)
        @permission_required(permission)
        def wrapped(audit_id, *args, **kwargs):
            audit = service.get_audit(audit_id)
            if audit is None:
                abort(404)
            return view(audit, *args, **kwargs)

        return wrapped

    return decorator


def _audit_url(audit_id: int, anchor: str | None = None) -> str:
    return url_for("audits.audit", audit_id=audit_id, _anchor=anchor)


# The list --------------------------------------------------------------------------------

@bp.route("/audits")
@permission_required("audits.view")
def audits():
    form, filters = audit_filters_from_args(request.args)
    try:
        page = service.list_audits(filters, cursor=request.args.get("cursor"),
                                   limit=current_app.config["PAGE_SIZE"])
    except BadCursor:
        abort(400)
    args = request.args.to_dict(flat=False)
    args.pop("cursor", None)
    return render_template("audits/audits/list.html", form=form, page=page, args=args)


# One audit -------------------------------------------------------------------------------

def _findings_by_grade(audit: Audit) -> OrderedDict:
    groups = OrderedDict((g.value, []) for g in FindingGrade)
    for finding in audit.findings:
        groups.setdefault(finding.grade, []).append(finding)
    return groups


def _chart_rows(results) -> list[dict]:
    """Bars of the snapshot chart: each result's attainment against its target, as a share of
    the chart width (0–100), so SLAs of different units sit on one scale.

    For an at-least SLA the bar is value / target; for an at-most one, target / value (capped
    at 150 % of the target, the right edge)."""
    rows = []
    for r in results:
        share = None
        if r.value is not None and r.target:
            value, target = float(r.value), float(r.target)
            if r.comparator == "gte":
                share = value / target if target else None
            else:
                share = (target / value) if value else 1.5
        if share is not None:
            share = max(0.0, min(share, 1.5))
        rows.append({"result": r, "share": share})
    return rows


def _render_audit(audit: Audit, status: int = 200, **forms):
    version = audit.version
    results = sorted(audit.current_results(), key=lambda r: (r.name, r.series_id, r.period_start))
    response_forms = forms.pop("response_forms", {})
    for finding in audit.findings:
        if finding.id not in response_forms:
            response_forms[finding.id] = ResponseForm(formdata=None, response=finding.auditee_response,
                                                      comment=finding.auditee_comment)
    context = {
        "audit": audit, "supplier": audit.supplier, "results": results, "chart_rows": _chart_rows(results),
        "differences": service.snapshot_differences(audit), "groups": _findings_by_grade(audit),
        "diverging": service.diverging_opinions(audit), "history": service.history_of(audit),
        "blocking": service.unclosed_nonconformities(audit) if audit.state == AuditStatus.REPORT_ISSUED else [],
        "card": service.checklist_scorecard(audit), "METRICS": METRICS,
        "AUDIT_TYPE_LABELS": {t.value: label for t, label in AUDIT_TYPE_LABELS.items()},
        "AUDITEE_RESPONSE_LABELS": {r.value: label for r, label in AUDITEE_RESPONSE_LABELS.items()},
        "AUDIT_EVENT_LABELS": AUDIT_EVENT_LABELS, "PARTICIPANT_ROLE_LABELS": PARTICIPANT_ROLE_LABELS,
        "is_untouched": service.is_untouched, "format_level": service.format_level,
        "response_forms": response_forms,
        "action_form": forms.pop("action_form", None) or VersionForm(formdata=None, version=version),
        "participant_form": forms.pop("participant_form", None) or ParticipantForm(formdata=None),
        "evidence_form": forms.pop("evidence_form", None) or EvidenceForm(formdata=None),
        "delete_form": DeleteForm(formdata=None),
    }
    return render_template("audits/audits/audit.html", **context), status


@bp.route("/audits/<int:audit_id>")
@with_audit("audits.view")
def audit(audit: Audit):
    return _render_audit(audit)


def _refused(audit_id: int, error: ServiceError, form=None, render=None):
    """The unit of work rolled back: show the audit as it now stands, with the refusal."""
    if form is not None:
        show_service_errors(form, error)
    else:
        flash(str(error.message), "danger")
    fresh = service.get_audit(audit_id)
    if fresh is None:
        abort(404)
    if render is not None:
        return render(fresh, error.status)
    return _render_audit(fresh, error.status, **({"action_form": form} if form is not None else {}))


def _run(action):
    """Run one service call as a unit of work; a concurrent save of the same audit (the
    version column caught it) becomes the same Conflict as a stale form."""
    try:
        with unit_of_work():
            return action()
    except StaleDataError:
        raise Conflict(_STALE, code="stale") from None


def _perform(audit: Audit, form, action, success, *, form_name: str = "action_form", anchor=None, render=None):
    """Validate `form`, run `action()`, redirect to the audit; a refusal re-renders (422/409)."""
    audit_id = audit.id
    if not form.validate_on_submit():
        if getattr(form, "csrf_token", None) is not None and form.csrf_token.errors:
            abort(400)
        if render is not None:
            return render(audit, 422)
        return _render_audit(audit, 422, **{form_name: form})
    try:
        _run(action)
    except ServiceError as exc:
        if render is not None:
            return _refused(audit_id, exc, form, render)
        show_service_errors(form, exc)
        fresh = service.get_audit(audit_id)
        if fresh is None:
            abort(404)
        return _render_audit(fresh, exc.status, **{form_name: form})
    flash(success() if callable(success) else success, "success")
    return redirect(_audit_url(audit_id, anchor))


@bp.route("/audits/<int:audit_id>/start", methods=["POST"])
@with_audit("audits.conduct")
def audit_start(audit: Audit):
    form = VersionForm()
    return _perform(audit, form, lambda: service.start(audit, _actor(), expected_version=version_of(form)),
                    _l("The audit is in progress."))


@bp.route("/audits/<int:audit_id>/snapshot", methods=["POST"])
@with_audit("audits.conduct")
def audit_snapshot(audit: Audit):
    form = VersionForm()
    done = {}
    return _perform(audit, form,
                    lambda: done.setdefault("revision", service.compute_snapshot(
                        audit, _actor(), expected_version=version_of(form))),
                    lambda: _("SLA snapshot computed: revision %(n)d.", n=done["revision"]), anchor="snapshot")


@bp.route("/audits/<int:audit_id>/propose", methods=["POST"])
@with_audit("audits.conduct")
def audit_propose(audit: Audit):
    form = VersionForm()
    done = {}
    return _perform(audit, form, lambda: done.setdefault("counts", service.propose_findings(audit, _actor())),
                    lambda: _("Findings proposed: %(added)d added, %(updated)d updated, %(removed)d removed.",
                              **done["counts"]), anchor="findings")


@bp.route("/audits/<int:audit_id>/issue", methods=["POST"])
@with_audit("audits.issue")
def audit_issue(audit: Audit):
    form = VersionForm()
    return _perform(audit, form, lambda: service.issue_report(audit, _actor(), version_of(form)),
                    _l("The audit report is issued; the supplier and the lead auditor are notified."))


@bp.route("/audits/<int:audit_id>/close", methods=["POST"])
@with_audit("audits.issue")
def audit_close(audit: Audit):
    form = VersionForm()
    return _perform(audit, form, lambda: service.close(audit, _actor(), version_of(form)), _l("The audit is closed."))


# Details -----------------------------------------------------------------------------------

def _render_details(audit: Audit, form: DetailsForm, status: int = 200):
    return render_template("audits/audits/details_form.html", audit=audit, form=form), status


@bp.route("/audits/<int:audit_id>/details", methods=["GET", "POST"])
@with_audit("audits.conduct")
def audit_details(audit: Audit):
    if request.method == "GET":
        form = DetailsForm(formdata=None, obj=audit)
        form.version.data = audit.version
        return _render_details(audit, form)
    form = DetailsForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _render_details(audit, form, 422)
    audit_id = audit.id
    try:
        _run(lambda: service.update_details(audit, form.values(), _actor(), version_of(form)))
    except ServiceError as exc:
        show_service_errors(form, exc)
        fresh = service.get_audit(audit_id)
        if fresh is None:
            abort(404)
        # The form keeps what this user typed, but against the audit as it now stands.
        return _render_details(fresh, form, exc.status)
    flash(_("The audit details are saved."), "success")
    return redirect(_audit_url(audit_id))


# Findings ----------------------------------------------------------------------------------

def _finding_or_404(audit: Audit, finding_id: int):
    finding = service.finding_of(audit, finding_id)
    if finding is None:
        abort(404)
    return finding


def _render_finding_form(audit: Audit, form: FindingForm, finding=None, status: int = 200):
    return render_template("audits/audits/finding_form.html", audit=audit, form=form, finding=finding), status


@bp.route("/audits/<int:audit_id>/findings/new", methods=["GET", "POST"])
@with_audit("audits.conduct")
def finding_new(audit: Audit):
    if request.method == "GET":
        form = FindingForm(formdata=None, grade=request.args.get("grade", FindingGrade.OBSERVATION.value))
        return _render_finding_form(audit, form)
    form = FindingForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _render_finding_form(audit, form, status=422)
    audit_id = audit.id
    try:
        finding = _run(lambda: service.add_finding(audit, form.values(), _actor()))
    except ServiceError as exc:
        show_service_errors(form, exc)
        return _render_finding_form(service.get_audit(audit_id) or abort(404), form, status=exc.status)
    flash(_("Finding %(finding)s added.", finding=str(finding)), "success")
    return redirect(_audit_url(audit_id, f"finding-{finding.id}"))


@bp.route("/audits/<int:audit_id>/findings/<int:finding_id>/edit", methods=["GET", "POST"])
@with_audit("audits.conduct")
def finding_edit(audit: Audit, finding_id: int):
    finding = _finding_or_404(audit, finding_id)
    if request.method == "GET":
        return _render_finding_form(audit, FindingForm(formdata=None, obj=finding), finding)
    form = FindingForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _render_finding_form(audit, form, finding, 422)
    audit_id = audit.id
    try:
        _run(lambda: service.update_finding(finding, form.values(), _actor()))
    except ServiceError as exc:
        show_service_errors(form, exc)
        fresh = service.get_audit(audit_id) or abort(404)
        return _render_finding_form(fresh, form, service.finding_of(fresh, finding_id), exc.status)
    flash(_("Finding %(finding)s saved.", finding=f"F{finding.number}"), "success")
    return redirect(_audit_url(audit_id, f"finding-{finding_id}"))


@bp.route("/audits/<int:audit_id>/findings/<int:finding_id>/delete", methods=["POST"])
@with_audit("audits.conduct")
def finding_delete(audit: Audit, finding_id: int):
    finding = _finding_or_404(audit, finding_id)
    form = DeleteForm()
    label = str(finding)
    return _perform(audit, form, lambda: service.remove_finding(finding, _actor()),
                    _l("Finding %(finding)s removed.", finding=label), anchor="findings")


@bp.route("/audits/<int:audit_id>/findings/<int:finding_id>/response", methods=["POST"])
@with_audit("audits.conduct")
def finding_response(audit: Audit, finding_id: int):
    finding = _finding_or_404(audit, finding_id)
    form = ResponseForm()

    def render(fresh, status):
        return _render_audit(fresh, status, response_forms={finding_id: form})

    return _perform(audit, form,
                    lambda: service.record_auditee_response(finding, form.response.data, form.comment.data, _actor()),
                    _l("The auditee's response to %(finding)s is recorded.", finding=str(finding)),
                    anchor=f"finding-{finding_id}", render=render)


# Participants and evidence -------------------------------------------------------------------

@bp.route("/audits/<int:audit_id>/participants", methods=["POST"])
@with_audit("audits.conduct")
def participant_add(audit: Audit):
    form = ParticipantForm()
    return _perform(audit, form, lambda: service.add_participant(audit, form.values(), _actor()),
                    _l("Participant added."), form_name="participant_form", anchor="participants")


@bp.route("/audits/<int:audit_id>/participants/<int:participant_id>/delete", methods=["POST"])
@with_audit("audits.conduct")
def participant_delete(audit: Audit, participant_id: int):
    participant = service.participant_of(audit, participant_id)
    if participant is None:
        abort(404)
    form = DeleteForm()
    return _perform(audit, form, lambda: service.remove_participant(participant, _actor()),
                    _l("Participant removed."), anchor="participants")


@bp.route("/audits/<int:audit_id>/evidence", methods=["POST"])
@with_audit("audits.conduct")
def evidence_add(audit: Audit):
    form = EvidenceForm()
    return _perform(audit, form,
                    lambda: service.add_evidence(audit, form.file.data, form.description.data, _actor()),
                    _l("Evidence added."), form_name="evidence_form", anchor="evidence")


@bp.route("/audits/<int:audit_id>/evidence/<int:evidence_id>")
@with_audit("audits.view")
def evidence_file(audit: Audit, evidence_id: int):
    evidence = service.evidence_of(audit, evidence_id)
    if evidence is None:
        abort(404)
    return send_stored(evidence.stored_name, evidence.content_type, evidence.file_name)


# The checklist -------------------------------------------------------------------------------

def _as_raw(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _checklist_sections(audit: Audit, errors: dict | None = None, posted=None):
    values = service.checklist_values(audit)
    notes = {a.question_id: a.note for a in audit.checklist_answers}
    wanted = {q.id for q in service.checklist_questions(audit)}
    sections = []
    for section in audit.checklist_version.sections:
        items = []
        for index, question in enumerate(section.questions, start=1):
            if question.id not in wanted:
                continue
            raw = posted.getlist(f"q{question.id}") if posted is not None else _as_raw(values.get(question.id))
            item = PortalQuestion(question=question, number=f"{section.position}.{index}", editable=True, raw=raw,
                                  value=values.get(question.id), error=(errors or {}).get(f"q{question.id}"))
            note = posted.get(f"note{question.id}", "") if posted is not None else (notes.get(question.id) or "")
            items.append((item, note, (errors or {}).get(f"note{question.id}")))
        if items:
            sections.append((section, items))
    return sections


def _render_checklist(audit: Audit, form, status: int = 200, errors: dict | None = None, posted=None):
    return render_template(
        "audits/audits/checklist.html", audit=audit, form=form, card=service.checklist_scorecard(audit),
        sections=_checklist_sections(audit, errors, posted), option_label=option_label, QuestionType=QuestionType,
        kind_of=kind_of, SHORT_TEXT_MAX=SHORT_TEXT_MAX, LONG_TEXT_MAX=LONG_TEXT_MAX,
        company=current_app.config["CATENA_COMPANY_NAME"], token=None,
        editable=not audit.is_issued and current_user.can("audits.conduct")), status


@bp.route("/audits/<int:audit_id>/checklist", methods=["GET", "POST"])
@with_audit("audits.conduct")
def audit_checklist(audit: Audit):
    if audit.checklist_version_id is None:
        abort(404)
    form = ChecklistForm()
    if request.method == "GET":
        return _render_checklist(audit, form)
    if not form.validate_on_submit():
        abort(400)  # only the CSRF token is validated here
    questions = service.checklist_questions(audit)
    values = {q.id: request.form.getlist(f"q{q.id}") for q in questions}
    notes = {q.id: request.form.get(f"note{q.id}", "") for q in questions}
    audit_id = audit.id
    try:
        _run(lambda: service.save_checklist(audit, values, notes, _actor()))
    except ServiceError as exc:
        flash(str(exc.message), "danger")
        fresh = service.get_audit(audit_id) or abort(404)
        return _render_checklist(fresh, form, exc.status, errors=exc.fields, posted=request.form)
    flash(_("The checklist is saved."), "success")
    return redirect(url_for("audits.audit_checklist", audit_id=audit_id))

