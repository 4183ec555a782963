"""HTTP rows of the benchmark: Catena's list pages at a deep page and the service dashboard,
under gunicorn on 127.0.0.1 with 10 and 50 connections, beside the keyset ceiling.

- **incident list** (`/incidents/`, the open backlog) and **supplier list** (`/suppliers/`) at a
  deep page, reached as a user reaches it: from the first page, following "Next" (a cursor,
  never an OFFSET) `DEEP_PAGES` times or to the last page. The same request is then sent over and
  over by every connection, as a signed-in viewer.
- **ceiling**: `bench/ceiling_app.py`, a minimal Flask view returning the same 50 rows by the
  same keyset from the same table, at the same cursor, served with the same gunicorn settings;
  as JSON (the issue's ceiling) and as a minimal HTML page (a second ceiling: what any page of
  50 rows costs, without Catena's session, translations and layout).
- **incident list, every status** (`/incidents/?status=all`, the list behind the dashboard's
  figures): the whole million, at 10 connections.
- **service dashboard** for the data's year (12 months): p50/p99 of requests sent one at a time
  (what the issue asks of it); no ceiling row. When one request takes less than
  `DASHBOARD_CONCURRENT_LIMIT_S`, also at 10 connections for `DASHBOARD_SECONDS`. A report
  that takes seconds is not measured at 50 connections: on 2 cores and 4 workers they only
  queue (a run of 2026-11-28 measured 50 connections on a 3.4-second dashboard: every
  request waited past the load generator's 60-second limit).

Each sample is a fixed number of requests; requests/s is that count over the median sample's
wall time, and p50/p99 come from every request of every sample. The load generator
(`bench/loadgen.py`) runs in this process on one core; its own ceiling against a trivial server
is measured first and given in each row's note, so a reader can see it was not the limit.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import signal
import statistics
import subprocess
import sys
import time
from urllib.parse import quote

from sqlalchemy import create_engine, text

from bench.core import BenchContext, Measurement, app_environment, percentile
from bench.loadgen import Recorder, Request, Session, follow_pages, login, measure_ceiling, repeat, run_count, run_users
from bench.serve import BIN, ROOT, WORKERS, gunicorn

#: How deep the list pages are measured (pages of 50 followed by "Next"), full and quick runs.
DEEP_PAGES = {False: 200, True: 20}
CONNECTIONS = (10, 50)
#: Requests per sample of a list page.
REQUESTS = {False: 300, True: 100}
#: A dashboard faster than this alone is measured at 10 connections as well.
DASHBOARD_CONCURRENT_LIMIT_S = 2.0
#: The dashboard reads a year of incidents and legs per request: under load it gets one sample
#: of this many seconds (a request still running at the end is awaited and counted).
DASHBOARD_SECONDS = {False: 60.0, True: 15.0}
#: Requests timed one after the other for the dashboard's p50/p99 (after one untimed).
DASHBOARD_REQUESTS = {False: 5, True: 3}
EMAIL, PASSWORD = "http-pages@bench.example", "bench-http-pages-2026"


def run(ctx: BenchContext) -> list[Measurement]:
    env = app_environment(ctx)
    _ensure_viewer(env)
    year = _data_year(ctx.database_url)
    repeats = max(1, min(ctx.repeats, 3))
    per_sample = REQUESTS[ctx.quick]
    generator_rps, _ = measure_ceiling(50, 3.0 if ctx.quick else 8.0)
    note = f"gunicorn {WORKERS} sync workers; load generator ceiling {generator_rps:,.0f} req/s"
    results: list[Measurement] = []

    def measure(operation, variant, port, path, connections, total, *, cookies=None, ceiling=False, extra=None,
                seconds=None):
        """`repeats` samples of `total` requests; or, with `seconds`, one sample of what
        `connections` users get through in that time (for a page too slow to count out)."""
        log(f"{operation}: {variant}")
        request = Request(operation, "GET", path)
        warm = WORKERS if seconds else max(connections * 2, 20)
        asyncio.run(run_count(port, [request], min(connections, warm), warm, cookies=cookies))
        samples, latencies, errors, unexpected = [], [], 0, 0
        for _ in range(1 if seconds else repeats):
            if seconds:
                recorder, elapsed, _ = asyncio.run(run_users(port, repeat([request]), connections, seconds,
                                                             cookies=cookies))
                total = len(recorder.samples)
            else:
                elapsed, recorder = asyncio.run(run_count(port, [request], connections, total, cookies=cookies))
            samples.append(elapsed)
            latencies += [s.latency_s * 1000 for s in recorder.samples]
            errors += sum(s.is_error for s in recorder.samples)
            unexpected += len(recorder.unexpected)
        row = Measurement(operation=operation, variant=variant, engine=ctx.engine, items=total, samples_s=samples,
                          ceiling=ceiling, unit="requests", note=note, extra={
                              "connections": connections, "p50_ms": round(percentile(latencies, 0.5), 2),
                              "p99_ms": round(percentile(latencies, 0.99), 2), "errors": errors,
                              "unexpected": unexpected, "path": path, **(extra or {})})
        row.extra["rps"] = round(row.per_second, 1)
        if errors or unexpected:
            row.note += f"; {errors} errors (5xx or no answer) and {unexpected} unexpected answers"
            log(f"{operation}, {variant}: {errors} errors, {unexpected} unexpected")
        results.append(row)

    with gunicorn("app:create_app()", env) as catena, gunicorn("bench.ceiling_app:create_app()", env) as ceiling:
        cookies = asyncio.run(login(catena, EMAIL, PASSWORD))
        lists = [("incident list", "/incidents/", "/incidents?status=new,in_progress", CONNECTIONS),
                 ("supplier list", "/suppliers/", "/suppliers", CONNECTIONS),
                 ("incident list, every status", "/incidents/?status=all",
                  "/incidents?status=new,in_progress,resolved,closed", CONNECTIONS[:1])]
        for operation, first, ceiling_path, connection_counts in lists:
            log(f"{operation}: following Next from {first}")
            pages = asyncio.run(follow_pages(catena, cookies, first, DEEP_PAGES[ctx.quick]))
            deep, depth = pages[-1], {"page": len(pages)}
            after = _cursor_key(deep)
            deep_ceiling = f"{ceiling_path}{'&' if '?' in ceiling_path else '?'}after={after}" if after else ceiling_path
            for connections in connection_counts:
                name = f"{operation}, page {len(pages)}, {connections} connections"
                measure(name, "catena", catena, deep, connections, per_sample, cookies=cookies, extra=depth)
                measure(name, "keyset ceiling", ceiling, deep_ceiling, connections, per_sample, ceiling=True,
                        extra=depth)
                measure(name, "keyset ceiling, HTML page", ceiling, f"{deep_ceiling}{'&' if '?' in deep_ceiling else '?'}"
                        "format=html", connections, per_sample, ceiling=True, extra=depth)
        dashboard = f"/service/dashboard?from={year}-01&to={year}-12"
        log("service dashboard: one request at a time")
        asyncio.run(_one_at_a_time(catena, dashboard, cookies, 1))   # warm-up, untimed
        samples = asyncio.run(_one_at_a_time(catena, dashboard, cookies, DASHBOARD_REQUESTS[ctx.quick]))
        latencies = [s * 1000 for s in samples]
        alone = statistics.median(samples)
        results.append(Measurement(
            operation="service dashboard, 12 months, 1 connection", variant="catena", engine=ctx.engine,
            items=1, samples_s=samples, unit="requests",
            note=f"{note}; requests sent one after the other" + (
                "" if alone < DASHBOARD_CONCURRENT_LIMIT_S else
                f"; {alone:.1f} s a request, so not measured under load (more connections only queue)"),
            extra={"connections": 1, "p50_ms": round(percentile(latencies, 0.5), 2),
                   "p99_ms": round(percentile(latencies, 0.99), 2), "errors": 0, "unexpected": 0,
                   "path": dashboard, "rps": round(1 / alone, 3)}))
        if alone < DASHBOARD_CONCURRENT_LIMIT_S:
            measure(f"service dashboard, 12 months, {CONNECTIONS[0]} connections", "catena", catena, dashboard,
                    CONNECTIONS[0], 0, cookies=cookies, seconds=DASHBOARD_SECONDS[ctx.quick])
    return results


async def _one_at_a_time(port: int, path: str, cookies: dict[str, str], count: int) -> list[float]:
    """Seconds of `count` requests sent one after the other (each must answer 200)."""
    session = Session(port, Recorder(), cookies)
    session.connection.timeout_s = 600.0
    seconds = []
    for _ in range(count):
        start = time.perf_counter()
        response = await session.send(Request("dashboard", "GET", path))
        seconds.append(time.perf_counter() - start)
        if response is None or response.status != 200:
            raise RuntimeError(f"GET {path}: {response and response.status}")
    session.close()
    return seconds


def log(message: str) -> None:
    print(f"[http_pages] {message}", file=sys.stderr, flush=True)


def _ensure_viewer(env: dict[str, str]) -> None:
    """A viewer who can sign in (the generator's users have no usable password)."""
    result = subprocess.run([str(BIN / "flask"), "--app", "app", "users", "create", EMAIL, "--role", "viewer",
                             "--name", "HTTP benchmark", "--password-stdin"], cwd=ROOT, env=env,
                            input=PASSWORD + "\n", capture_output=True, text=True)
    if result.returncode and "already" not in (result.stdout + result.stderr).lower():
        raise RuntimeError(f"creating the benchmark viewer failed: {result.stderr[-500:]}")


def _data_year(database_url: str) -> int:
    """The year of the newest incidents (the generator writes one year, 2025)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            newest = connection.execute(text("SELECT max(reported_at) FROM incidents")).scalar()
    finally:
        engine.dispose()
    if newest is None:
        return dt.datetime.now(dt.timezone.utc).year
    return int(str(newest)[:4])  # SQLite answers with text


def _cursor_key(path: str) -> str | None:
    """The ceiling's `after=` for a Catena page path: the (sort value, id) its cursor holds."""
    if "cursor=" not in path:
        return None
    cursor = path.split("cursor=", 1)[1].split("&", 1)[0]
    data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    value, row_id = data["k"]
    return quote(f"{value},{row_id}", safe="")


def main() -> None:
    """`python -m bench.ops.http_pages --database-url URL [--quick]`: these rows alone, as a table."""
    import argparse
    import tempfile
    from pathlib import Path

    from bench.generate import SIZES

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    # SIGTERM ends the run through the `finally` blocks that stop gunicorn.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ctx = BenchContext(engine=args.database_url.split(":", 1)[0].split("+", 1)[0], database_url=args.database_url,
                       size=SIZES["quick" if args.quick else "full"], quick=args.quick, repeats=3,
                       workdir=Path(tempfile.mkdtemp(prefix="http-pages-")))
    print("| operation | variant | p50 ms | p99 ms | req/s | errors |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for row in run(ctx):
        print(f"| {row.operation} | {row.variant} | {row.extra['p50_ms']} | {row.extra['p99_ms']} "
              f"| {row.extra['rps']} | {row.extra['errors'] + row.extra['unexpected']} |")


if __name__ == "__main__":
    main()
