"""`flask --app app demo olist [DIR]`: the real Olist sample, end to end, as a newcomer would
load their own data.

The sample (../shared/data/olist-brazilian-ecommerce by default) goes through the converter in
`examples/olist/` into Catena's leg import format, then through the ordinary file import with a
saved profile named "olist", rows with errors set aside in the import's report. Before that the
sellers and the one carrier are registered and the two role-default SLAs agreed, in one unit of
work; the import commits chunk by chunk. Running it again updates the same legs (they are
keyed by Olist's ids) and leaves the suppliers and SLAs as they are.

Olist's times are Brazil local time, and months are counted in the company's time zone, so the
command refuses to run unless CATENA_TIMEZONE is America/Sao_Paulo: in practice, in a database
of its own.
"""
from __future__ import annotations

import datetime as dt
import tempfile
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask import current_app
from sqlalchemy import func, select

from app.config import ROOT_DIR
from app.auth.models import User
from app.demo.users import DEMO_PASSWORD, DEMO_USERS, load_users
from app.db import db, unit_of_work
from app.errors import ServiceError, ValidationFailed
from examples.olist import convert as olist
from examples.olist import reviews as olist_reviews
from incidents.services.attribution import decide, proposal_parties, propose
from incidents.services.incidents import add_interaction, change_status, record_incident_from_api
from incidents.models import ImportProfile, Leg, LegStage
from incidents.services.imports import ImportRejected, import_legs_file, save_profile
from suppliers.models import ServiceStandard, Supplier
from suppliers.services import create_supplier
from suppliers.services.measurement import month_span, supplier_results
from suppliers.services.standards import create_standard

DEFAULT_DATA_DIR = ROOT_DIR.parent / "shared" / "data" / "olist-brazilian-ecommerce"
PROFILE_NAME = "olist"

#: The role-default SLAs the demo agrees. Olist sellers are small (a few orders a month),
#: hence a minimum sample of 5 for them.
ROLE_STANDARDS = (
    ("seller", {
        "name": "Seller hands over on time", "metric": "on_time_rate", "stage": LegStage.SELLER_HANDOVER.value,
        "comparator": "gte", "target": "0.95", "window": "month", "min_sample": 5,
        "valid_from": dt.date(2016, 1, 1),
    }),
    ("carrier", {
        "name": "Carrier delivers on time", "metric": "on_time_rate", "stage": LegStage.LAST_MILE.value,
        "comparator": "gte", "target": "0.92", "window": "month", "min_sample": 20,
        "valid_from": dt.date(2016, 1, 1),
    }),
    # Complaints attributed to a partner, per 1,000 of its legs: the scorecards show them.
    ("seller", {
        "name": "Complaints per 1,000 handovers", "metric": "incidents_per_1000", "stage": None,
        "comparator": "lte", "target": "20", "window": "month", "min_sample": 5,
        "valid_from": dt.date(2016, 1, 1),
    }),
    ("carrier", {
        "name": "Complaints per 1,000 deliveries", "metric": "incidents_per_1000", "stage": None,
        "comparator": "lte", "target": "15", "window": "month", "min_sample": 20,
        "valid_from": dt.date(2016, 1, 1),
    }),
)

#: The months and the number of sellers shown in the closing summary.
SUMMARY_MONTHS = ("2018-01", "2018-03")
SUMMARY_SELLERS = 5

WRONG_ZONE = (
    "The Olist data is in Brazil local time, and Catena counts months in the company's time zone "
    "({zone} here). Load it into a database of its own with the zone set, e.g.:\n"
    "  export CATENA_TIMEZONE={olist_zone} DATABASE_URL=sqlite:///olist.sqlite\n"
    "  flask --app app db upgrade\n"
    "  flask --app app demo olist\n"
    "(a relative SQLite path is inside instance/)."
)


@click.command("olist")
@click.argument("data_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
def olist_command(data_dir: Path | None):
    """Load the real Olist sample (sellers, carrier, legs, SLAs) from DATA_DIR.

    DATA_DIR defaults to ../shared/data/olist-brazilian-ecommerce next to the repository.
    """
    zone = current_app.config["CATENA_TIMEZONE"]
    if zone != olist.TIMEZONE:
        raise click.ClickException(WRONG_ZONE.format(zone=zone, olist_zone=olist.TIMEZONE))
    data_dir = (data_dir or DEFAULT_DATA_DIR).resolve()
    missing = [name for name in (olist.ORDERS_FILE, olist.ITEMS_FILE, olist.SELLERS_FILE)
               if not (data_dir / name).is_file()]
    if missing:
        raise click.ClickException(f"{data_dir} does not hold the Olist files: {', '.join(missing)} missing.")

    try:
        with unit_of_work():
            # A database of its own needs someone to sign in: the demo accounts, once.
            created_users = db.session.scalar(select(User.id).limit(1)) is None
            if created_users:
                load_users()
            registered = _register_suppliers(data_dir)
            standards = _agree_role_standards()
            profile = _save_profile()
    except ServiceError as exc:
        raise click.ClickException(
            f"The Olist suppliers, SLAs or import profile could not be saved: {exc.message}") from exc

    with tempfile.TemporaryDirectory(prefix="catena-olist-") as scratch:
        legs_csv = Path(scratch) / "olist-legs.csv"
        conversion = olist.convert(data_dir, legs_csv)
        try:
            # Rows with errors are set aside in the batch's report; each chunk commits.
            batch = import_legs_file(legs_csv, profile, None, valid_rows_only=True,
                                     file_name="olist-legs.csv (converted by demo olist)",
                                     commit=db.session.commit)
        except ImportRejected as exc:
            raise click.ClickException(f"The converted file was refused: {exc.message}") from exc

    with unit_of_work():
        complaints = load_review_complaints(data_dir)
    _print_summary(data_dir, registered, standards, conversion, batch)
    click.echo(f"  complaints from 1–2 star reviews about the delivery: {complaints['recorded']} incidents "
               f"({complaints['new']} new), {complaints['attributed']} attributed by Catena's proposal; by "
               "category: " + ", ".join(f"{c} {n}" for c, n in sorted(complaints['by_category'].items())))
    if batch.status != "complete":
        raise click.ClickException("The import did not complete: see the problems above.")


# Complaints ------------------------------------------------------------------------------

def load_review_complaints(data_dir: Path) -> dict:
    """Turn the delivery complaints among the reviews into incidents (examples/olist/reviews):
    reported at the review's date, answered (first response and resolution) when Olist
    answered the review, closed with the review's score as CSAT, and attributed by confirming
    Catena's proposal where its category's rule makes one. Loading again changes nothing."""
    zone = ZoneInfo(olist.TIMEZONE)
    counts = {"recorded": 0, "new": 0, "attributed": 0, "by_category": Counter()}
    if not (data_dir / olist_reviews.REVIEWS_FILE).is_file():
        return counts  # a sample without reviews: no complaints to record
    for complaint in olist_reviews.complaints(data_dir):
        incident, created = record_incident_from_api({
            "external_id": complaint.external_id, "order_ref": complaint.order_ref, "category": complaint.category,
            "channel": "web", "description": complaint.description,
            "reported_at": complaint.reported_at.replace(tzinfo=zone),
        }, None)
        counts["recorded"] += 1
        counts["by_category"][complaint.category] += 1
        if not created:
            continue
        counts["new"] += 1
        answered = complaint.answered_at.replace(tzinfo=zone) if complaint.answered_at else None
        if answered is not None and answered >= incident.reported_at:
            add_interaction(incident, {"channel": "web", "direction": "outbound", "at": answered,
                                       "note": "Olist answered the review."}, None)
            change_status(incident, "resolved", None, at=answered)
            change_status(incident, "closed", None, csat=complaint.csat, at=answered)
        proposal = propose(incident)
        if proposal and not incident.needs_follow_up:
            decide(incident, proposal_parties(proposal), None, note="Catena's proposal, confirmed by the demo loader.")
            counts["attributed"] += 1
    return counts


# Suppliers, SLAs, profile ------------------------------------------------------------------

def _register_suppliers(data_dir: Path) -> dict:
    """Register every seller and the carrier that is not registered yet (matched by code).

    A seller whose fields break a register rule is skipped and named; its legs are then
    rejected by the import as naming an unknown supplier.
    """
    wanted = [olist.CARRIER, *olist.sellers(data_dir)]
    codes = [values["code"] for values in wanted]
    existing = set()
    for start in range(0, len(codes), 500):
        existing.update(db.session.scalars(select(Supplier.code).where(Supplier.code.in_(codes[start:start + 500]))))
    created, refused = 0, []
    for values in wanted:
        if values["code"] in existing:
            continue
        try:
            create_supplier(values, actor=None)
        except ValidationFailed as exc:
            refused.append((values["code"], "; ".join(f"{k}: {v}" for k, v in exc.fields.items()) or exc.message))
            continue
        existing.add(values["code"])
        created += 1
    return {"wanted": len(wanted), "created": created, "refused": refused}


def _agree_role_standards() -> list[tuple[str, str]]:
    """Agree the demo's role-default SLAs unless the role already has one for that metric and
    stage; return (name, "agreed" or "already there")."""
    outcome = []
    for role, values in ROLE_STANDARDS:
        present = db.session.scalar(select(ServiceStandard.id).where(
            ServiceStandard.chain_role == role, ServiceStandard.metric == values["metric"],
            ServiceStandard.stage == values["stage"]).limit(1))
        if present is None:
            create_standard(values, actor=None, chain_role=role)
        outcome.append((values["name"], "agreed" if present is None else "already there"))
    return outcome


def _save_profile() -> ImportProfile:
    """The "olist" import profile: the converter writes Catena's own columns, in Brazil time."""
    return save_profile(PROFILE_NAME, {name: name for name in olist.LEG_FIELDS}, olist.TIMEZONE)


# Summary --------------------------------------------------------------------------------

def _largest_sellers(limit: int) -> list[tuple[Supplier, int]]:
    """The sellers with the most handover legs, with that number."""
    rows = db.session.execute(
        select(Leg.supplier_id, func.count().label("legs"))
        .where(Leg.stage == LegStage.SELLER_HANDOVER.value)
        .group_by(Leg.supplier_id).order_by(func.count().desc(), Leg.supplier_id).limit(limit)
    ).all()
    suppliers = {s.id: s for s in db.session.scalars(select(Supplier).where(Supplier.id.in_([r[0] for r in rows])))}
    return [(suppliers[supplier_id], legs) for supplier_id, legs in rows]


def _print_summary(data_dir: Path, registered: dict, standards, conversion, batch) -> None:
    click.echo(f"Olist sample from {data_dir}:")
    click.echo(f"  {conversion.orders} orders → {conversion.legs} legs ({conversion.handover_legs} seller "
               f"handovers, {conversion.last_mile_legs} last mile); {conversion.cancelled_legs} cancelled, "
               f"{conversion.open_legs} still open.")
    click.echo(f"  suppliers: {registered['wanted'] - 1} sellers and {olist.CARRIER_CODE}; "
               f"{registered['created']} registered now, "
               f"{registered['wanted'] - registered['created'] - len(registered['refused'])} already there.")
    for code, reason in registered["refused"]:
        click.echo(f"    not registered: {code}: {reason}")
    severities = Counter(p.get("severity", "error") for p in batch.problems or [])
    click.echo(f"  import (profile \"{PROFILE_NAME}\", batch {batch.id}, {batch.status}): {batch.rows_created} legs "
               f"created, {batch.rows_updated} updated, {batch.rows_rejected} rows set aside, "
               f"{severities['warning']} warnings.")
    if batch.notes:
        click.echo(f"    {batch.notes}")
    for problem in (batch.problems or [])[:10]:
        click.echo(f"    row {problem['row']} {problem.get('column') or ''}: "
                   f"{problem['message']} ({problem.get('severity', 'error')})")
    problems = conversion.problems()
    if problems:
        click.echo("  data problems found by the converter: "
                   + ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in problems.items()) + ".")
    for name, state in standards:
        click.echo(f"  SLA “{name}”: {state}.")

    first, last = month_span(*SUMMARY_MONTHS)
    click.echo(f"On-time handover of the {SUMMARY_SELLERS} largest sellers, {SUMMARY_MONTHS[0]} to "
               f"{SUMMARY_MONTHS[1]} (rate, legs measured, status):")
    for supplier, legs in _largest_sellers(SUMMARY_SELLERS):
        results = [r for r in supplier_results(supplier, first, last)
                   if r.metric == "on_time_rate" and r.standard.stage == LegStage.SELLER_HANDOVER.value]
        cells = []
        for result in sorted(results, key=lambda r: r.period.start):
            rate = "—" if result.value is None else f"{result.value * 100:.1f} %"
            cells.append(f"{result.period.key} {rate} ({result.sample_size}, {result.status})")
        click.echo(f"  {supplier.code[:8]}… ({legs} legs in all)  " + ("; ".join(cells) or "no SLA applies"))
    click.echo("To look around, start the app (flask --app app run, or make olist) with the same "
               "CATENA_TIMEZONE and DATABASE_URL and sign in with a demo account:")
    click.echo(f"  {', '.join(user.email for user in DEMO_USERS)} — password {DEMO_PASSWORD}")
