"""The maintained daily statistics always equal a full recomputation (issue 8, "Tests").

Hypothesis draws sequences of writes over a small pool of leg ids, two suppliers, two stages
and times around the 2026 clock changes in Europe/Rome (where the company day of a time is
easiest to get wrong): file imports (new legs, re-imports that update them, ids repeated in
one file, rows refused with `valid_rows_only`), the API's bulk call (corrections), and
deletions. After every write, each `LegDayStat` row and each `LegDelayMonthStat` bucket must
equal what a plain Python pass over the legs gives, computed here from `promised_at` and the
raw columns, without Catena's SQL.

The examples share the test's database transaction, so legs accumulate across examples; the
invariant holds at every moment, so that only makes the sequences longer.
"""
from __future__ import annotations

import csv
import datetime as dt
import itertools
from collections import defaultdict
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.db import db
from app.i18n import company_zone
from incidents.models import TOLERANCE_CHOICES, Leg, LegDayStat, LegDelayMonthStat
from incidents.services import imports
from incidents.services.legs import delete_legs, ingest_leg_rows
from suppliers.models import Supplier
from tests.factories import Factories

HEADER = ["external_id", "order_ref", "stage", "supplier_code", "promised_at", "actual_at", "outcome", "excluded"]
SUPPLIERS = ("PROP-A", "PROP-B")
IDS = [f"P{n}" for n in range(8)]
#: Naive Rome times: either side of midnight, in the spring gap, in the repeated autumn hour.
PROMISED = ["2026-03-28 23:30", "2026-03-29 00:15", "2026-03-29 02:30", "2026-10-25 02:30",
            "2026-10-25 23:59", "2026-10-26 00:00"]
#: Minutes after the promise, around the tolerances' edges; None leaves the leg open. The
#: seconds land either side of the 18-second edges of the delay buckets.
ACTUAL_AFTER = [None, -60, 0, 15, 16, 60, 61, 1440, 1441, 3000, 0.3, 0.6, 0.65]
OUTCOMES = ["", "completed", "lost", "damaged", "failed_attempt", "returned", "cancelled"]

leg_rows = st.fixed_dictionaries({
    "external_id": st.sampled_from(IDS),
    "order_ref": st.sampled_from(["PO1", "PO2", "PO3"]),
    "stage": st.sampled_from(["last_mile", "hub"]),
    "supplier_code": st.sampled_from(SUPPLIERS),
    "promised_at": st.sampled_from(PROMISED),
    "actual_after": st.sampled_from(ACTUAL_AFTER),
    "outcome": st.sampled_from(OUTCOMES),
    "excluded": st.booleans(),
})
operations = st.lists(st.one_of(
    st.tuples(st.just("file"), st.lists(leg_rows, min_size=1, max_size=6), st.booleans()),
    st.tuples(st.just("api"), st.lists(leg_rows, min_size=1, max_size=4), st.just(False)),
    st.tuples(st.just("delete"), st.lists(st.sampled_from(IDS), min_size=1, max_size=3), st.just(False)),
), min_size=1, max_size=4)

_files = itertools.count()


def _cells(row: dict) -> dict:
    promised = dt.datetime.fromisoformat(row["promised_at"])
    after = row["actual_after"]
    actual = (promised + dt.timedelta(minutes=after)).strftime("%Y-%m-%d %H:%M:%S") if after is not None else ""
    return {**{k: row[k] for k in ("external_id", "order_ref", "stage", "supplier_code", "promised_at", "outcome")},
            "actual_at": actual, "excluded": "yes" if row["excluded"] else "no"}


def _recomputed() -> tuple[dict, dict]:
    """Key → counters and histogram key → legs, by a plain pass over the legs (cancelled legs
    count nowhere)."""
    zone = company_zone()
    stats = defaultdict(lambda: defaultdict(int))
    delays = defaultdict(int)
    for leg in db.session.scalars(select(Leg)):
        if leg.outcome == "cancelled":
            continue
        day = leg.promised_at.astimezone(zone).date()
        assert leg.promised_day == day, leg.external_id
        counters = stats[(leg.supplier_id, leg.stage, day, leg.is_excluded)]
        counters["legs"] += 1
        counters["closed"] += leg.outcome is not None
        for outcome in ("lost", "damaged", "completed", "failed_attempt"):
            counters[outcome] += leg.outcome == outcome
        if leg.actual_at is not None:
            delay = (leg.actual_at - leg.promised_at).total_seconds()
            assert leg.delay_seconds == delay
            counters["with_actual"] += 1
            counters["late_seconds"] += max(delay, 0)
            for minutes in TOLERANCE_CHOICES:
                counters[f"on_time_{minutes}"] += delay <= minutes * 60 and leg.outcome != "lost"
            delays[(leg.supplier_id, leg.stage, day.replace(day=1), leg.is_excluded, int(max(delay, 0)) // 18)] += 1
    names = ["legs", "closed", "lost", "damaged", "completed", "failed_attempt", "with_actual", "late_seconds",
             *(f"on_time_{m}" for m in TOLERANCE_CHOICES)]
    return {key: tuple(int(counters[name]) for name in names) for key, counters in stats.items()}, dict(delays)


def _stored() -> tuple[dict, dict]:
    names = ["legs", "closed", "lost", "damaged", "completed", "failed_attempt", "with_actual", "late_seconds",
             *(f"on_time_{m}" for m in TOLERANCE_CHOICES)]
    days = {(s.supplier_id, s.stage, s.day, s.is_excluded): tuple(getattr(s, name) for name in names)
            for s in db.session.scalars(select(LegDayStat))}
    delays = {(s.supplier_id, s.stage, s.month, s.is_excluded, s.delay_bucket): s.legs
              for s in db.session.scalars(select(LegDelayMonthStat))}
    return days, delays


def _suppliers() -> None:
    known = set(db.session.scalars(select(Supplier.code).where(Supplier.code.in_(SUPPLIERS))))
    for code in SUPPLIERS:
        if code not in known:
            Factories().supplier(code=code, chain_roles=["carrier"])
    db.session.commit()


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=operations)
def test_daily_statistics_equal_a_full_recomputation_after_any_writes(app_ctx, tmp_path, steps):
    _suppliers()
    profile = imports.save_profile("property", {name: name for name in HEADER}, "Europe/Rome")
    db.session.commit()
    for kind, payload, valid_only in steps:
        if kind == "file":
            path = tmp_path / f"legs-{next(_files)}.csv"
            with path.open("w", newline="", encoding="utf-8") as out:
                writer = csv.DictWriter(out, HEADER)
                writer.writeheader()
                writer.writerows(_cells(row) for row in payload)
                if valid_only:
                    writer.writerow({**_cells(payload[0]), "supplier_code": "NOBODY"})  # a refused row
            batch = imports.import_legs_file(path, profile, None, valid_rows_only=valid_only, commit=db.session.commit)
            assert batch.status == "complete"
        elif kind == "api":
            ingest_leg_rows([_cells(row) for row in payload], ZoneInfo("Europe/Rome"))
            db.session.commit()
        else:
            delete_legs(payload)
            db.session.commit()
        assert _stored() == _recomputed(), (kind, payload)
