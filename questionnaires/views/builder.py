"""Pages of the questionnaire builder: templates, their versions, sections and questions.

Routes (the blueprint has no prefix of its own):

    /questionnaires/                                        templates, filtered by status
    /questionnaires/templates/new                           a new template (its draft v1)
    /questionnaires/templates/<id>                          versions and the current structure
    /questionnaires/templates/<id>/new-draft                POST: the draft to edit (copy of the latest)
    /questionnaires/versions/<id>                           any version, read-only when frozen
    /questionnaires/versions/<id>/settings                  title, introduction, marks, validity
    /questionnaires/versions/<id>/publish | discard         POST
    /questionnaires/versions/<id>/sections/new
    /questionnaires/versions/<id>/sections/<sid>            edit; …/delete, …/move (POST)
    /questionnaires/versions/<id>/sections/<sid>/questions/new
    /questionnaires/versions/<id>/questions/<qid>           edit; …/delete, …/move (POST)

A section or question is looked up under its version: one of another version is a 404. A
frozen (published or retired) version is shown read-only; its edit pages answer 409 with the
version page, which says why.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from app.auth.access import permission_required
from app.db import db, unit_of_work
from app.errors import ServiceError
from app.forms import show_service_errors
from questionnaires.forms import (
    ActionForm,
    MoveForm,
    QuestionForm,
    SectionForm,
    TemplateFilterForm,
    TemplateForm,
    VersionForm,
)
from questionnaires.models import (
    QUESTION_TYPE_LABELS,
    VERSION_STATUS_LABELS,
    Question,
    QuestionnaireTemplate,
    Section,
    TemplateVersion,
)
from questionnaires.services import templates as services
from questionnaires.views import bp

#: Bootstrap colour of each version status badge.
VERSION_STATUS_COLOURS = {"draft": "secondary", "published": "success", "retired": "light"}


@bp.record_once
def _share_labels(state):
    # Globals, not context: macros imported by templates see globals only.
    state.app.jinja_env.globals.update(
        VERSION_STATUS_LABELS=VERSION_STATUS_LABELS,
        VERSION_STATUS_COLOURS=VERSION_STATUS_COLOURS,
        QUESTION_TYPE_LABELS=QUESTION_TYPE_LABELS,
    )


def _actor():
    return current_user._get_current_object()


def _template_or_404(template_id: int) -> QuestionnaireTemplate:
    template = db.session.get(QuestionnaireTemplate, template_id,
                              options=[selectinload(QuestionnaireTemplate.versions)])
    if template is None:
        abort(404)
    return template


def _version_or_404(version_id: int) -> TemplateVersion:
    version = db.session.get(TemplateVersion, version_id, options=[
        selectinload(TemplateVersion.sections).selectinload(Section.questions)])
    if version is None:
        abort(404)
    return version


def _section_of(version: TemplateVersion, section_id: int) -> Section:
    """A section of this version; 404 for another version's (the URL must name its parent)."""
    section = next((s for s in version.sections if s.id == section_id), None)
    if section is None:
        abort(404)
    return section


def _question_of(version: TemplateVersion, question_id: int) -> Question:
    question = next((q for q in version.questions() if q.id == question_id), None)
    if question is None:
        abort(404)
    return question


def _version_url(version: TemplateVersion, anchor: str | None = None) -> str:
    return url_for("questionnaires.version", version_id=version.id, _anchor=anchor)


def _render_version(version: TemplateVersion, status: int = 200):
    return render_template(
        "questionnaires/builder/version.html", version=version, template=version.template,
        problems=services.check_publishable(version) if not version.is_frozen else [],
        action_form=ActionForm(), move_form=MoveForm(),
    ), status


def _frozen(version: TemplateVersion):
    """The answer to an edit page of a frozen version: the version page, saying why."""
    flash(_("Version %(number)d is published and frozen: create a new draft to change it.",
            number=version.number), "warning")
    return _render_version(version, 409)


# Templates ------------------------------------------------------------------------------

@bp.route("/questionnaires/")
@permission_required("questionnaires.view")
def templates():
    form = TemplateFilterForm(request.args)
    status = form.status.data if form.status.data in ("published", "draft") else None
    return render_template("questionnaires/builder/templates.html", form=form, status=status,
                           summaries=services.template_summaries(status))


@bp.route("/questionnaires/templates/new", methods=["GET", "POST"])
@permission_required("questionnaires.design")
def template_new():
    form = TemplateForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                template = services.create_template(form.values(), _actor())
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Template “%(name)s” created. Add its sections and questions.", name=template.name), "success")
            return redirect(_version_url(template.versions[0]))
    return render_template("questionnaires/builder/template_form.html", form=form
                           ), 422 if form.is_submitted() else 200


@bp.route("/questionnaires/templates/<int:template_id>")
@permission_required("questionnaires.view")
def template(template_id: int):
    template = _template_or_404(template_id)
    current = template.draft or template.published or template.latest
    current = _version_or_404(current.id) if current is not None else None
    return render_template(
        "questionnaires/builder/template.html", template=template, version=current,
        sent=services.assignments_by_version(template.versions),
        problems=services.check_publishable(current) if current is not None and not current.is_frozen else [],
        action_form=ActionForm(), move_form=MoveForm(),
    )


@bp.route("/questionnaires/templates/<int:template_id>/new-draft", methods=["POST"])
@permission_required("questionnaires.design")
def template_new_draft(template_id: int):
    template = _template_or_404(template_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    had_draft = template.draft is not None
    try:
        with unit_of_work():
            draft = services.new_draft(template, _actor())
    except ServiceError as exc:
        flash(str(exc.message), "danger")
        return redirect(url_for("questionnaires.template", template_id=template.id))
    if not had_draft:
        flash(_("Draft version %(number)d created from the latest version. Version %(previous)d stays as it was.",
                number=draft.number, previous=draft.number - 1), "success")
    return redirect(_version_url(draft))


# Versions -------------------------------------------------------------------------------

@bp.route("/questionnaires/versions/<int:version_id>")
@permission_required("questionnaires.view")
def version(version_id: int):
    return _render_version(_version_or_404(version_id))


@bp.route("/questionnaires/versions/<int:version_id>/settings", methods=["GET", "POST"])
@permission_required("questionnaires.design")
def version_settings(version_id: int):
    version = _version_or_404(version_id)
    if version.is_frozen:
        return _frozen(version)
    form = VersionForm()
    if request.method == "GET":
        form.load_version(version)
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.update_version(version, form.values(), _actor())
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Settings of version %(number)d saved.", number=version.number), "success")
            return redirect(_version_url(version))
    return render_template("questionnaires/builder/version_form.html", form=form, version=version,
                           template=version.template), 422 if form.is_submitted() else 200


@bp.route("/questionnaires/versions/<int:version_id>/publish", methods=["POST"])
@permission_required("questionnaires.design")
def version_publish(version_id: int):
    version = _version_or_404(version_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        with unit_of_work():
            services.publish(version, _actor())
    except ServiceError as exc:
        problems = exc.fields.get("version") or []
        flash(" ".join([str(exc.message), *map(str, problems)]), "danger")
        return redirect(_version_url(version))
    flash(_("Version %(number)d is published: new assignments are sent with it.", number=version.number), "success")
    return redirect(url_for("questionnaires.template", template_id=version.template_id))


@bp.route("/questionnaires/versions/<int:version_id>/discard", methods=["POST"])
@permission_required("questionnaires.design")
def version_discard(version_id: int):
    version = _version_or_404(version_id)
    template_id, number = version.template_id, version.number
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        with unit_of_work():
            services.discard_draft(version, _actor())
    except ServiceError as exc:
        flash(str(exc.message), "danger")
        return redirect(_version_url(version))
    flash(_("Draft version %(number)d discarded.", number=number), "success")
    return redirect(url_for("questionnaires.template", template_id=template_id))


# Sections -------------------------------------------------------------------------------

@bp.route("/questionnaires/versions/<int:version_id>/sections/new", methods=["GET", "POST"])
@permission_required("questionnaires.design")
def section_new(version_id: int):
    version = _version_or_404(version_id)
    if version.is_frozen:
        return _frozen(version)
    form = SectionForm()
    if form.validate_on_submit():
        try:
            with unit_of_work():
                section = services.add_section(version, form.title.data, form.description.data, _actor())
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Section “%(title)s” added.", title=section.title), "success")
            return redirect(_version_url(version, f"section-{section.id}"))
    return render_template("questionnaires/builder/section_form.html", form=form, version=version,
                           template=version.template, section=None), 422 if form.is_submitted() else 200


@bp.route("/questionnaires/versions/<int:version_id>/sections/<int:section_id>", methods=["GET", "POST"])
@permission_required("questionnaires.design")
def section_edit(version_id: int, section_id: int):
    version = _version_or_404(version_id)
    section = _section_of(version, section_id)
    if version.is_frozen:
        return _frozen(version)
    form = SectionForm() if request.method == "POST" else SectionForm(obj=section)
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.update_section(section, form.title.data, form.description.data, _actor())
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Section “%(title)s” saved.", title=section.title), "success")
            return redirect(_version_url(version, f"section-{section.id}"))
    return render_template("questionnaires/builder/section_form.html", form=form, version=version,
                           template=version.template, section=section), 422 if form.is_submitted() else 200


@bp.route("/questionnaires/versions/<int:version_id>/sections/<int:section_id>/delete", methods=["POST"])
@permission_required("questionnaires.design")
def section_delete(version_id: int, section_id: int):
    version = _version_or_404(version_id)
    section = _section_of(version, section_id)
    title = section.title
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        with unit_of_work():
            services.remove_section(section, _actor())
    except ServiceError as exc:
        flash(str(exc.message), "danger")
        return redirect(_version_url(version, f"section-{section_id}"))
    flash(_("Section “%(title)s” and its questions deleted.", title=title), "success")
    return redirect(_version_url(version))


@bp.route("/questionnaires/versions/<int:version_id>/sections/<int:section_id>/move", methods=["POST"])
@permission_required("questionnaires.design")
def section_move(version_id: int, section_id: int):
    version = _version_or_404(version_id)
    section = _section_of(version, section_id)
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        with unit_of_work():
            services.move_section(section, -1 if form.direction.data == "up" else 1, _actor())
    except ServiceError as exc:
        flash(str(exc.message), "danger")
    return redirect(_version_url(version, f"section-{section_id}"))


# Questions ------------------------------------------------------------------------------

def _question_page(form: QuestionForm, version: TemplateVersion, section: Section, question: Question | None):
    form.fill_rows()
    return render_template("questionnaires/builder/question_form.html", form=form, version=version,
                           template=version.template, section=section, question=question
                           ), 422 if form.is_submitted() else 200


@bp.route("/questionnaires/versions/<int:version_id>/sections/<int:section_id>/questions/new",
          methods=["GET", "POST"])
@permission_required("questionnaires.design")
def question_new(version_id: int, section_id: int):
    version = _version_or_404(version_id)
    section = _section_of(version, section_id)
    if version.is_frozen:
        return _frozen(version)
    form = QuestionForm()
    form.set_condition_choices(services.questions_before(version, None, section))
    if form.validate_on_submit():
        try:
            with unit_of_work():
                question = services.add_question(section, form.values(), _actor())
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Question %(key)s added.", key=question.key), "success")
            return redirect(_version_url(version, f"question-{question.id}"))
    return _question_page(form, version, section, None)


@bp.route("/questionnaires/versions/<int:version_id>/questions/<int:question_id>", methods=["GET", "POST"])
@permission_required("questionnaires.design")
def question_edit(version_id: int, question_id: int):
    version = _version_or_404(version_id)
    question = _question_of(version, question_id)
    if version.is_frozen:
        return _frozen(version)
    form = QuestionForm()
    if request.method == "GET":
        form.load(question)
    form.set_condition_choices(services.questions_before(version, question, None))
    if form.validate_on_submit():
        try:
            with unit_of_work():
                services.update_question(question, form.values(), _actor())
        except ServiceError as exc:
            show_service_errors(form, exc)
        else:
            flash(_("Question %(key)s saved.", key=question.key), "success")
            return redirect(_version_url(version, f"question-{question.id}"))
    return _question_page(form, version, question.section, question)


@bp.route("/questionnaires/versions/<int:version_id>/questions/<int:question_id>/delete", methods=["POST"])
@permission_required("questionnaires.design")
def question_delete(version_id: int, question_id: int):
    version = _version_or_404(version_id)
    question = _question_of(version, question_id)
    key, section_id = question.key, question.section_id
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        with unit_of_work():
            services.remove_question(question, _actor())
    except ServiceError as exc:
        flash(str(exc.message), "danger")
        return redirect(_version_url(version, f"question-{question_id}"))
    flash(_("Question %(key)s deleted.", key=key), "success")
    return redirect(_version_url(version, f"section-{section_id}"))


@bp.route("/questionnaires/versions/<int:version_id>/questions/<int:question_id>/move", methods=["POST"])
@permission_required("questionnaires.design")
def question_move(version_id: int, question_id: int):
    version = _version_or_404(version_id)
    question = _question_of(version, question_id)
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        with unit_of_work():
            services.move_question(question, -1 if form.direction.data == "up" else 1, _actor())
    except ServiceError as exc:
        flash(str(exc.message), "danger")
    return redirect(_version_url(version, f"question-{question_id}"))
