"""Catena: keep the partners of the delivery chain to the service promised to customers.

`create_app()` wires configuration, extensions, blueprints, commands and error handling. It
never writes data and nothing here creates an application at import time.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from app.config import ROOT_DIR, STATIC_DIR, Config


def create_app(config: Config | None = None) -> Flask:
    config = config or Config()
    app = Flask(
        __name__,
        instance_path=str(config.INSTANCE_DIR),
        template_folder=str(ROOT_DIR / "templates"),
        static_folder=str(STATIC_DIR),
    )
    app.config.from_object(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    from app import logs

    logs.configure()

    from app import extensions

    extensions.db.init_app(app)
    extensions.migrate.init_app(
        app, extensions.db, directory=str(ROOT_DIR / "migrations"),
        render_as_batch=True, compare_type=True,  # batch mode lets SQLite alter tables
    )
    extensions.csrf.init_app(app)

    from app import i18n, security
    from app.auth import sessions

    # Order matters: the write transaction opens before anything (the session loader) reads.
    security.init_app(app)
    i18n.init_app(app)
    sessions.init_app(app)

    # Before any route is added: ids in URLs bounded to what the database stores (see IdConverter).
    from app.api import IdConverter
    app.url_map.converters["int"] = IdConverter
    _register_blueprints(app)

    from app.errors import register_error_handlers

    register_error_handlers(app)

    from app.cli import register_commands

    register_commands(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from app import api as api_core
    from app.auth.views import bp as auth_bp
    from app.auth.admin_views import bp as admin_bp
    from app.views import bp as core_bp
    from incidents.views import bp as incidents_bp
    from app import outbox  # noqa: F401  (its table belongs to the schema)
    from questionnaires import models as questionnaire_models  # noqa: F401
    from audits import models as audit_models  # noqa: F401
    from reports import models as report_models  # noqa: F401
    from reports.views import bp as reports_bp
    from reports.api import blp as exports_api
    from audits.views import bp as audits_bp
    from audits.plans_api import blp as audit_plans_api
    from audits.audits_api import blp as audits_api
    from audits.actions_api import blp as actions_api
    from incidents.api import blp as incidents_api
    from incidents.chargebacks_api import blp as chargebacks_api
    from suppliers.api import blp as suppliers_api
    from suppliers.api import slas_blp as slas_api
    from suppliers.views import bp as suppliers_bp
    from questionnaires.views import bp as questionnaires_bp
    from questionnaires.api import blp as questionnaire_templates_api
    from questionnaires.import_api import blp as questionnaire_import_api
    from questionnaires.assignments_api import blp as assignments_api

    app.register_blueprint(core_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(suppliers_bp)
    app.register_blueprint(incidents_bp)
    app.register_blueprint(questionnaires_bp)
    app.register_blueprint(audits_bp)
    app.register_blueprint(reports_bp)

    api_core.init_app(app)
    api_core.register(suppliers_api)
    api_core.register(incidents_api)
    api_core.register(slas_api)
    api_core.register(chargebacks_api)
    api_core.register(questionnaire_templates_api)
    api_core.register(questionnaire_import_api)
    api_core.register(assignments_api)
    api_core.register(audit_plans_api)
    api_core.register(audits_api)
    api_core.register(actions_api)
    api_core.register(exports_api)
