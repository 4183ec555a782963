"""`make load`: 50 users on Catena for 5 minutes, on PostgreSQL, gunicorn and the scheduler
running, all on 127.0.0.1; it stops by itself and fails unless nothing was lost or broken.

    .venv/bin/python -m bench.load [--seconds 300] [--users 50] [--short] [--database-url URL]

1. A database of its own (default `catena_load`, dropped and made again: the URL's database
   name must contain "load"), migrated and filled by `bench.generate --size quick` (80
   suppliers, 55,000 orders, 200,000 legs, 20,000 incidents), plus a viewer and a quality
   manager who can sign in and the quality manager's API token.
2. gunicorn (bench/serve.py settings) and `flask --app app scheduler run`, stopped however the
   run ends.
3. `--users` users, each on a connection of its own, each picking its next request by MIX and
   waiting a random think time (mean `--think-ms`) between requests:
   reads as a signed-in viewer (the incident backlog and the supplier list followed page after
   page by "Next", a supplier search, incident, supplier and order pages, the service
   dashboard), incident intake through the JSON API (`POST /api/v1/incidents`, a new helpdesk
   ticket each time) and leg imports through the JSON API (`POST /api/v1/legs`, 10 new orders
   copied from real chains, about 35 legs).
4. Afterwards, checked in the database: every intake answered 201 is an incident with that id
   and that external id, with its change-log "create" entry; every imported leg is there.

It passes with zero errors (a 5xx or a request with no answer), zero unexpected answers (a 4xx
means the test itself is wrong) and zero lost incidents or legs. The numbers (p50/p99 per
request kind, requests/s) go to the terminal and between the load markers of bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy import create_engine, text

from bench.core import ROOT
from bench.loadgen import (
    KindSummary,
    Request,
    Session,
    format_table,
    login,
    measure_ceiling,
    next_link,
    run_users,
)
from bench.serve import BIN, WORKERS, gunicorn, scheduler

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/catena_load"
RESULTS = ROOT / "bench" / "RESULTS.md"
START, END = "<!-- load:start -->", "<!-- load:end -->"
VIEWER = ("load-viewer@bench.example", "viewer", "load-viewer-2026")
MANAGER = ("load-quality@bench.example", "quality_manager", "load-quality-2026")

#: What a user does next, by weight (per cent): 70 reads, 20 intake, 5 search, 5 imports
#: (shared HOSTILE.md, G1). The dashboard is a manager's page, looked at now and then: it reads
#: months of incidents and legs, and a few seconds each would otherwise be most of the load.
MIX = {
    "incident list": 23, "supplier list": 10, "incident page": 17, "supplier page": 10, "order page": 8,
    "service dashboard": 2, "supplier search": 5, "intake (API)": 20, "legs import (API)": 5,
}
#: A user follows "Next" this many times before starting again from the first page.
PAGES_PER_WALK = 10
#: Orders per leg import call (each with its 2 to 5 legs).
ORDERS_PER_IMPORT = 10
CHANNELS = ["phone", "email", "web", "chat", "social", "store"]
PRIORITIES = ["low", "normal", "normal", "normal", "high", "urgent"]


def log(message: str) -> None:
    print(f"[load] {message}", file=sys.stderr, flush=True)


def flask(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([str(BIN / "flask"), "--app", "app", *args], cwd=ROOT, env=env, input=stdin,
                            capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stdout[-1000:]}{result.stderr[-2000:]}")
    return result.stdout


def prepare_database(url: str, env: dict[str, str]) -> None:
    """Drop and make the database again, then fill it with the benchmark generator."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "load" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: the load test's database name must contain 'load'")
    admin = create_engine(urlunsplit(parts._replace(path="/postgres")), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    log(f"filling {name} with bench.generate --size quick")
    subprocess.run([str(BIN / "python"), "-m", "bench.generate", "--size", "quick", "--database-url", url],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    for email, role, password in (VIEWER, MANAGER):
        flask(env, "users", "create", email, "--role", role, "--password-stdin", stdin=password + "\n")


class World:
    """What the users pick from: real ids, references, codes and delivery chains."""

    def __init__(self, url: str):
        engine = create_engine(url)
        with engine.connect() as c:
            self.incident_ids = c.execute(text("SELECT id FROM incidents ORDER BY random() LIMIT 3000")).scalars().all()
            self.order_refs = c.execute(text("SELECT ref FROM orders ORDER BY random() LIMIT 3000")).scalars().all()
            self.supplier_codes = c.execute(text("SELECT code FROM suppliers WHERE archived_at IS NULL")).scalars().all()
            self.categories = c.execute(text("SELECT code FROM incident_categories WHERE is_active")).scalars().all()
            chains: dict[int, list] = {}
            for order_id, stage, code, sequence in c.execute(text(
                    "SELECT l.order_id, l.stage, s.code, l.sequence FROM legs l JOIN suppliers s ON s.id = l.supplier_id"
                    " WHERE l.order_id IN (SELECT id FROM orders ORDER BY random() LIMIT 500)"
                    " ORDER BY l.order_id, l.sequence")):
                chains.setdefault(order_id, []).append((stage, code, sequence))
            self.chains = list(chains.values())
            self.year = c.execute(text("SELECT extract(year FROM max(reported_at))::int FROM incidents")).scalar()
        engine.dispose()


class Tally:
    """What the server accepted, to look for afterwards."""

    def __init__(self):
        self.incidents: dict[int, str] = {}  # id -> external id, for every 201
        self.legs_created = 0
        self.leg_prefix = ""


def make_user(world: World, tally: Tally, run_id: str, viewer_cookies: list[dict], token: str, think_s: float):
    bearer = (("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"))
    kinds, weights = list(MIX), list(MIX.values())
    counter = iter(range(10**9))

    async def user(session: Session, deadline: float) -> None:
        number = next(counter)
        rng = random.Random(number)
        session.cookies.update(viewer_cookies[number % len(viewer_cookies)])
        walks = {"incident list": ["/incidents/", 0], "supplier list": ["/suppliers/", 0]}
        sent = 0
        # Users start spread over the first think time, not all in the same millisecond.
        await asyncio.sleep(rng.uniform(0, 2 * think_s))
        while time.perf_counter() < deadline:
            kind = rng.choices(kinds, weights)[0]
            sent += 1
            if kind in walks:
                walk = walks[kind]
                response = await session.send(Request(kind, "GET", walk[0]))
                following = next_link(response.text) if response is not None and response.status == 200 else None
                walk[1] += 1
                if following and walk[1] < PAGES_PER_WALK:
                    walk[0] = following
                else:
                    walk[:] = ["/incidents/" if kind == "incident list" else "/suppliers/", 0]
            elif kind == "incident page":
                await session.send(Request(kind, "GET", f"/incidents/{rng.choice(world.incident_ids)}"))
            elif kind == "supplier page":
                await session.send(Request(kind, "GET", f"/suppliers/{quote(rng.choice(world.supplier_codes))}"))
            elif kind == "order page":
                await session.send(Request(kind, "GET", f"/orders/{quote(rng.choice(world.order_refs))}"))
            elif kind == "service dashboard":
                months = rng.choice([(1, 12), (10, 12), (10, 12), (12, 12), (12, 12)])
                await session.send(Request(kind, "GET", f"/service/dashboard?from={world.year}-{months[0]:02d}"
                                                        f"&to={world.year}-{months[1]:02d}"))
            elif kind == "supplier search":
                needle = rng.choice(["trasporti", "logistica", "express", "nord", "it", "sud", "punto"])
                await session.send(Request(kind, "GET", f"/suppliers/?q={needle}"))
            elif kind == "intake (API)":
                external_id = f"LOAD-{run_id}-{number}-{sent}"
                body = {"external_id": external_id, "order_ref": rng.choice(world.order_refs),
                        "category": rng.choice(world.categories), "channel": rng.choice(CHANNELS),
                        "priority": rng.choice(PRIORITIES), "description": "Il pacco non è arrivato (load test).",
                        "reported_at": (dt.datetime.now(dt.timezone.utc)
                                        - dt.timedelta(minutes=rng.randint(1, 600))).isoformat()}
                response = await session.send(Request(kind, "POST", "/api/v1/incidents", bearer,
                                                      json.dumps(body).encode()), expect=(201,))
                if response is not None and response.status == 201:
                    tally.incidents[json.loads(response.body)["id"]] = external_id
            else:
                legs = _legs(world, rng, f"{tally.leg_prefix}{number}-{sent}")
                response = await session.send(Request(kind, "POST", "/api/v1/legs", bearer,
                                                      json.dumps({"legs": legs}).encode()), expect=(201,))
                if response is not None and response.status == 201:
                    tally.legs_created += json.loads(response.body)["created"]
            await asyncio.sleep(rng.uniform(0, 2 * think_s))

    return user


def _legs(world: World, rng: random.Random, prefix: str) -> list[dict]:
    """New orders copying real chains (stage, supplier, sequence), promised in the last days."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    legs = []
    for n in range(ORDERS_PER_IMPORT):
        order_ref = f"{prefix}-{n}"
        promised = now - dt.timedelta(days=rng.randint(3, 20), hours=rng.randint(0, 23))
        for stage, code, sequence in rng.choice(world.chains):
            promised += dt.timedelta(hours=rng.randint(8, 30))
            actual = promised + dt.timedelta(minutes=rng.randint(-120, 600))
            done = actual < now
            legs.append({"external_id": f"{order_ref}-{sequence}", "order_ref": order_ref, "stage": stage,
                         "supplier_code": code, "promised_at": promised.isoformat(), "sequence": sequence,
                         "actual_at": actual.isoformat() if done else None, "outcome": "completed" if done else None})
    return legs


def verify(url: str, tally: Tally) -> dict:
    """Look for every accepted incident (by id and external id, with its change-log entry) and
    every created leg."""
    engine = create_engine(url)
    ids = list(tally.incidents)
    with engine.connect() as c:
        found = dict(c.execute(text("SELECT id, external_id FROM incidents WHERE id = ANY(:ids)"), {"ids": ids}).all())
        logged = set(c.execute(text("SELECT entity_id FROM change_log WHERE entity_type = 'incidents' AND action = 'create'"
                                    " AND entity_id = ANY(:ids)"), {"ids": [str(i) for i in ids]}).scalars())
        legs = c.execute(text("SELECT count(*) FROM legs WHERE external_id LIKE :prefix"),
                         {"prefix": tally.leg_prefix + "%"}).scalar()
    engine.dispose()
    lost = [i for i in ids if found.get(i) != tally.incidents[i]]
    return {"accepted": len(ids), "lost": len(lost), "lost_ids": lost[:20],
            "without_change_log": len([i for i in ids if str(i) not in logged]),
            "legs_accepted": tally.legs_created, "legs_found": legs}


def write_results(section: str) -> None:
    """Replace what is between the load markers of bench/RESULTS.md (or append the section)."""
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{START}\n{section.rstrip()}\n{END}"
    if START in current and END in current:
        before, rest = current.split(START, 1)
        current = before + block + rest.split(END, 1)[1]
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(current)


def report(args, rows: list[KindSummary], checks: dict, generator_rps: float, duration: float, stale: int,
           scheduler_alive: bool) -> str:
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    totals = rows[-1]
    verdict = "passed" if passed(rows, checks, scheduler_alive) else "FAILED"
    return f"""## Load: {args.users} users for {duration / 60:.1f} minutes (`make load`)

{when}, {os.cpu_count()} cores: PostgreSQL, gunicorn {WORKERS} sync workers and the scheduler
on 127.0.0.1, data from `bench.generate --size quick` (20,000 incidents, 200,000 legs). Each user waits a
random think time (mean {args.think_ms} ms) between requests; the mix is {', '.join(f'{k} {v} %' for k, v in MIX.items())}.
Intake and imports go through the JSON API with a bearer token, pages as a signed-in viewer.{args.note}

**{verdict}**: {totals.errors} errors (5xx or no answer), {totals.unexpected} unexpected answers,
{checks['accepted']:,} incidents accepted (201) and {checks['lost']} lost (each looked up by id and external id;
{checks['without_change_log']} without their change-log entry), {checks['legs_accepted']:,} legs imported and
{checks['legs_found']:,} found; scheduler {'running throughout' if scheduler_alive else 'NOT running at the end'}.

{format_table(rows)}

{latency_goals(rows)}

The load generator (`bench/loadgen.py`, one asyncio process) reaches {generator_rps:,.0f} requests/s against a
trivial server on this machine, {generator_rps / max(totals.rps, 1e-9):.0f}× the rate above: it was not the limit.
{stale} requests were resent on a fresh connection after the server had closed a kept-alive one (not errors).
"""


def latency_goals(rows: list[KindSummary]) -> str:
    """Shared HOSTILE.md G1's latency goals, met or not (they are reported; the pass is about
    errors and losses)."""
    by_kind = {r.kind: r for r in rows}
    pages = [r for r in rows if r.kind != "all" and "(API)" not in r.kind]
    goals = [("pages p99 < 300 ms", max(r.p99_ms for r in pages), 300),
             ("list pages p99 < 50 ms", max(by_kind[k].p99_ms for k in ("incident list", "supplier list")
                                            if k in by_kind), 50),
             ("intake p99 < 200 ms", by_kind["intake (API)"].p99_ms if "intake (API)" in by_kind else 0.0, 200)]
    return "Latency goals (shared HOSTILE.md, G1): " + "; ".join(
        f"{name}: {'met' if worst < limit else 'not met'} ({worst:,.0f} ms)" for name, worst, limit in goals) + "."


def passed(rows: list[KindSummary], checks: dict, scheduler_alive: bool) -> bool:
    totals = rows[-1]
    return (totals.errors == 0 and totals.unexpected == 0 and checks["lost"] == 0
            and checks["without_change_log"] == 0 and checks["legs_found"] == checks["legs_accepted"]
            and scheduler_alive)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="measured time (default 5 minutes)")
    parser.add_argument("--short", action="store_true", help="a try: 30 seconds, results not written")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--think-ms", type=int, default=2000, help="mean pause between a user's requests")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--reuse-database", action="store_true", help="skip dropping and filling the database")
    parser.add_argument("--no-results", action="store_true", help="do not write bench/RESULTS.md")
    parser.add_argument("--note", default="", help="a sentence for the results (e.g. the machine was shared)")
    args = parser.parse_args(argv)
    if args.short:
        args.seconds, args.no_results = 30.0, True
    args.note = f" {args.note}" if args.note else ""
    # SIGTERM (and Ctrl+C) end the run through the `finally` blocks that stop gunicorn and the scheduler.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    env = {**os.environ, "DATABASE_URL": args.database_url, "SECRET_KEY": "load-test-only-secret",
           "PYTHONPATH": str(ROOT)}
    if not args.reuse_database:
        prepare_database(args.database_url, env)
    token = flask(env, "tokens", "create", MANAGER[0], "--name", "load test").strip().splitlines()[-1]
    world = World(args.database_url)
    tally = Tally()
    run_id = dt.datetime.now(dt.timezone.utc).strftime("%H%M%S")
    tally.leg_prefix = f"LOADLEG-{run_id}-"
    log("measuring the load generator's own ceiling")
    generator_rps, _ = measure_ceiling(args.users, 5.0)
    workdir = Path(tempfile.mkdtemp(prefix="catena-load-"))
    log(f"gunicorn and scheduler logs in {workdir}")
    with scheduler(env, log=workdir / "scheduler.log") as scheduler_process, \
            gunicorn("app:create_app()", env, log=workdir / "gunicorn.log") as port:
        viewer_cookies = [asyncio.run(login(port, VIEWER[0], VIEWER[2])) for _ in range(5)]
        log(f"{args.users} users for {args.seconds:.0f} s on 127.0.0.1:{port}")
        user = make_user(world, tally, run_id, viewer_cookies, token, args.think_ms / 1000)
        recorder, duration, stale = asyncio.run(run_users(port, user, args.users, args.seconds))
        scheduler_alive = scheduler_process.poll() is None
    rows = recorder.summary(duration)
    checks = verify(args.database_url, tally)
    section = report(args, rows, checks, generator_rps, duration, stale, scheduler_alive)
    print(section)
    for kind, status, body in recorder.unexpected[:10]:
        print(f"unexpected: {kind} {status} {body[:200]!r}")
    for sample in [s for s in recorder.samples if s.is_error][:10]:
        print(f"error: {sample.kind} {sample.status} {sample.error}")
    if not args.no_results:
        write_results(section)
        log(f"written to {RESULTS.relative_to(ROOT)}")
    return 0 if passed(rows, checks, scheduler_alive) else 1


if __name__ == "__main__":
    sys.exit(main())
