"""Demo data: `flask --app app demo load` fills an empty database with a realistic Italian
e-commerce delivery chain and one user per role, so that a newcomer sees every screen with
something in it, in every state.

It grows with every domain (DESIGN.md, "Demo data"): a domain adds a module here with a
`load_*` function, and `load` calls them in dependency order inside one unit of work, so the
demo is loaded whole or not at all. It is what `make run` loads on first start.
"""
from __future__ import annotations

import contextlib
import datetime as dt

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale
from sqlalchemy import func, select

from app import i18n
from app.auth.models import User
from app.auth.roles import Role
from app.db import db, unit_of_work, utcnow
from app.demo.audits import load_audits
from app.demo.chain import load_chain
from app.demo.questionnaires import load_questionnaires
from app.demo.service import load_service
from app.demo.suppliers import load_suppliers
from app.demo.users import DEMO_EMAILS, DEMO_PASSWORD, DEMO_USERS, load_users
from app.errors import ServiceError
from suppliers.models import Certificate, Contact, Supplier, SupplierChainRole

__all__ = ("DEMO_PASSWORD", "DEMO_USERS", "demo_cli")

demo_cli = AppGroup("demo", help="Load demonstration data.")

ALREADY_LOADED = "Demo data is already loaded in this database."

#: Language of the texts the services write into the records (e.g. the first history entry):
#: the quality office works in Italian, as do the demo's own reasons and notes. Forcing it also
#: means no locale is looked up from a request, which a command does not have.
RECORDS_LOCALE = "it"


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True,
              help="Do nothing (and succeed) if the database already has data; used by `make run`.")
def load(if_empty: bool):
    """Fill an empty database with the demo delivery chain and one user per role."""
    today = i18n.today()
    try:
        with force_locale(RECORDS_LOCALE), _mail_to_sink(), unit_of_work():
            # Checked inside the write transaction: two loads started together cannot both pass.
            if _is_loaded():
                if if_empty:
                    click.echo("The database already has data: demo not loaded again.")
                    return
                raise click.ClickException(ALREADY_LOADED)
            users = load_users()
            load_suppliers(users[Role.QUALITY_MANAGER], today)
            chain = load_chain(users[Role.QUALITY_MANAGER], today)
            # Incidents may not be reported in the future: the real clock, not noon of today.
            service = load_service(users[Role.OPERATOR], utcnow())
            questionnaires = load_questionnaires(users[Role.QUALITY_MANAGER], today)
            audits = load_audits(users[Role.QUALITY_MANAGER], users[Role.AUDITOR], today)
            summary = _summary(today)
            summary.update(chain)
            summary.update(service)
            summary.update(questionnaires)
            summary.update(audits)
    except ServiceError as exc:
        # The demo data broke a rule of the services: nothing was written.
        with force_locale("en"):
            details = "; ".join(f"{name}: {message}" for name, message in exc.fields.items())
            message = f"The demo data could not be loaded: {exc.message} {details}".strip()
        raise click.ClickException(message) from exc
    _print_summary(summary)


@demo_cli.command("logins")
def logins():
    """Print the demo accounts and their password."""
    _print_logins()


@contextlib.contextmanager
def _mail_to_sink():
    """Keep the demo's e-mails (to invented .example addresses) in instance/mail, even when
    an SMTP server is configured."""
    config = current_app.config
    saved, config["MAIL_SERVER"] = config.get("MAIL_SERVER"), ""
    try:
        yield
    finally:
        config["MAIL_SERVER"] = saved


def _is_loaded() -> bool:
    """Whether the database already has suppliers or any of the demo accounts."""
    has_suppliers = db.session.scalar(select(Supplier.id).limit(1)) is not None
    has_demo_users = db.session.scalar(select(User.id).where(User.email.in_(DEMO_EMAILS)).limit(1)) is not None
    return has_suppliers or has_demo_users


def _summary(today: dt.date) -> dict:
    """What was loaded, counted in SQL."""
    def count(stmt) -> int:
        return db.session.scalar(stmt) or 0

    return {
        "suppliers": count(select(func.count()).select_from(Supplier)),
        "archived": count(select(func.count()).select_from(Supplier).where(Supplier.archived_at.is_not(None))),
        "by_status": dict(db.session.execute(
            select(Supplier.status, func.count()).group_by(Supplier.status).order_by(Supplier.status)
        ).all()),
        "by_role": dict(db.session.execute(
            select(SupplierChainRole.role, func.count()).group_by(SupplierChainRole.role)
            .order_by(SupplierChainRole.role)
        ).all()),
        "subcontractors": count(select(func.count()).select_from(Supplier).where(Supplier.parent_id.is_not(None))),
        "contacts": count(select(func.count()).select_from(Contact)),
        "certificates": count(select(func.count()).select_from(Certificate)),
        "certificates_expired": count(
            select(func.count()).select_from(Certificate).where(Certificate.expires_on < today)
        ),
        "users": count(select(func.count()).select_from(User)),
    }


def _print_summary(summary: dict) -> None:
    click.echo(f"Loaded {summary['suppliers']} suppliers ({summary['archived']} archived, "
               f"{summary['subcontractors']} subcontractors), {summary['contacts']} contacts, "
               f"{summary['certificates']} certificates ({summary['certificates_expired']} expired).")
    click.echo("  by status: " + ", ".join(f"{status} {n}" for status, n in summary["by_status"].items()))
    click.echo("  by chain role: " + ", ".join(f"{role} {n}" for role, n in summary["by_role"].items()))
    click.echo(f"{summary['orders']} orders with {summary['legs']} legs over the last year, and their SLAs; "
               f"{summary['incidents']} customer incidents ({summary['attributed']} attributed), "
               "chargeback policies and last month's statements.")
    click.echo(f"{summary['questionnaire_templates']} questionnaire templates and {summary['assignments']} "
               "questionnaire assignments in every state (their e-mails are in instance/mail).")
    click.echo(f"{summary['audit_plans']} audit plans fired over the past year: {summary['audits']} audits ("
               + ", ".join(f"{status} {n}" for status, n in summary["audits_by_status"].items())
               + f"), {summary['findings']} findings and {summary['corrective_actions']} corrective actions "
               "in every state.")
    _print_logins()


def _print_logins() -> None:
    click.echo(f"Demo logins (password {DEMO_PASSWORD}):")
    for user in DEMO_USERS:
        click.echo(f"  {user.email:<26} {user.role.value}")


from app.demo.olist import olist_command  # noqa: E402

demo_cli.add_command(olist_command, "olist")
