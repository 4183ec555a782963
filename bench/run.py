"""`make bench`: generate the data set on each engine, run every operation beside its ceiling,
write the results as JSON and as `bench/RESULTS.md`.

    python -m bench.run [--quick] [--engines sqlite,postgresql] [--ops sla,xlsx,...]
                        [--postgres-url URL] [--seed N] [--keep]

For each engine — SQLite on a temporary file, PostgreSQL on a database `bench` (dropped and
created again; `--postgres-url` or BENCH_POSTGRES_URL names another) — it generates the data
set (`bench.generate`, full size or `--quick`), then imports each module of `bench/ops/` and
calls its `run(ctx) -> list[Measurement]`. An operation that raises is recorded with its error
and the run goes on. Each Catena variant's ratio to each ceiling of the same operation and
engine is its median time over the ceiling's (1.00 = as fast as the plain tool; below 1 =
faster). Results go to `bench/results/<date>-<mode>.json`; `bench/RESULTS.md` is written again
from them, keeping the section between `<!-- load:start -->` and `<!-- load:end -->` as it is.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import json
import os
import pkgutil
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.core import BenchContext, Measurement  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
LOAD_START, LOAD_END = "<!-- load:start -->", "<!-- load:end -->"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/bench"
PACKAGES = ["Flask", "SQLAlchemy", "psycopg", "alembic", "openpyxl", "weasyprint", "XlsxWriter",
            "rustpy-xlsxwriter", "pyexcelerate", "duckdb", "numpy", "pyarrow", "gunicorn"]


def log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.timezone.utc):%H:%M:%S}] {message}", flush=True)


# The machine and the versions -------------------------------------------------------------

def machine() -> dict:
    info = {"cores": os.cpu_count(), "platform": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def versions(postgres_url: str | None) -> dict:
    found = {"Python": platform.python_version(), "SQLite": sqlite3.sqlite_version}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    if postgres_url:
        try:
            import psycopg

            with psycopg.connect(_admin_dsn(postgres_url), connect_timeout=5) as conn:
                found["PostgreSQL"] = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        except Exception:  # noqa: BLE001 - an absent server is reported, not fatal
            found["PostgreSQL"] = "unreachable"
    return found


# Databases --------------------------------------------------------------------------------

def _admin_dsn(url: str) -> str:
    """The same server's `postgres` database (to drop and create the bench database)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url.replace("postgresql+psycopg://", "postgresql://"))
    return parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)


def recreate_postgres(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    if name in (None, "", "test", "postgres"):
        raise ValueError(f"refusing to recreate database {name!r}")
    with psycopg.connect(_admin_dsn(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# Operations -------------------------------------------------------------------------------

def discover_ops(wanted: list[str] | None) -> list[str]:
    import bench.ops

    names = sorted(m.name for m in pkgutil.iter_modules(bench.ops.__path__) if not m.name.startswith("_"))
    return [n for n in names if not wanted or n in wanted]


def add_ratios(measurements: list[Measurement]) -> None:
    """extra["ratios"]: {ceiling variant: this median / the ceiling's median}, per operation and engine."""
    for m in measurements:
        if m.ceiling or not m.samples_s:
            continue
        ceilings = [c for c in measurements if c.ceiling and c.operation == m.operation and c.engine == m.engine
                    and c.samples_s and c.median_s > 0]
        if ceilings and "ratios" not in m.extra:
            m.extra["ratios"] = {c.variant: m.median_s / c.median_s for c in ceilings}


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run_engine(engine: str, url: str, args, size, ops: list[str], workdir: Path, measurements: list,
               errors: list, generations: list, steps: list, save=lambda: None) -> None:
    from bench import generate

    if args.reuse:
        log(f"== {engine}: reusing the data set already in {url}")
        _run_ops(engine, url, args, size, ops, workdir, measurements, errors, steps, save)
        return
    log(f"== {engine}: generating {size.name} ({size.legs:,} legs, {size.incidents:,} incidents)")
    started, cpu = time.perf_counter(), _cpu()
    try:
        if engine == "postgresql":
            recreate_postgres(url)
        summary = generate.generate(url, size, args.seed, instance_dir=workdir / f"instance-{engine}", log=log)
    except Exception as exc:  # noqa: BLE001
        errors.append({"engine": engine, "operation": "generate", "error": repr(exc),
                       "traceback": traceback.format_exc()})
        log(f"!! {engine}: generation failed: {exc!r}")
        return
    summary["wall_s"] = time.perf_counter() - started
    generations.append(summary)
    steps.append({"engine": engine, "step": "generate", "wall_s": summary["wall_s"], "cpu_s": _cpu() - cpu})
    save()
    measurements.append(Measurement(
        "generate", "bench.generate (bulk path, indexes rebuilt, day stats rebuilt)", engine, summary["counts"]["legs"],
        [summary["wall_s"]], unit="legs", extra={"timings": summary["timings"], "counts": summary["counts"]},
        note="the whole generation: migrate, write, indexes, daily statistics, audits, ANALYZE"))
    _run_ops(engine, url, args, size, ops, workdir, measurements, errors, steps, save)


def _run_ops(engine: str, url: str, args, size, ops: list[str], workdir: Path, measurements: list, errors: list,
             steps: list, save=lambda: None) -> None:
    ctx = BenchContext(engine=engine, database_url=url, size=size, quick=args.quick, repeats=args.repeats,
                       workdir=workdir / engine, seed=args.seed)
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    for name in ops:
        log(f"-- {engine}: {name}")
        mark, cpu = time.perf_counter(), _cpu()
        try:
            module = importlib.import_module(f"bench.ops.{name}")
            produced = module.run(ctx) or []
            measurements.extend(produced)
            for m in produced:
                log(f"   {m.operation} / {m.variant}: {m.median_s:.3f} s" + (" (ceiling)" if m.ceiling else ""))
        except Exception as exc:  # noqa: BLE001 - one failing operation must not stop the others
            errors.append({"engine": engine, "operation": name, "error": repr(exc),
                           "traceback": traceback.format_exc()})
            log(f"!! {engine}: {name} failed: {exc!r}")
        steps.append({"engine": engine, "step": name, "wall_s": time.perf_counter() - mark, "cpu_s": _cpu() - cpu})
        log(f"   ({time.perf_counter() - mark:.1f} s)")
        save()


# Output -----------------------------------------------------------------------------------

def _seconds(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f} s"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1000:.1f} ms"


def _rate(m: dict) -> str:
    rate = m.get("per_second")
    if rate is None or rate == float("inf"):
        return ""
    return f"{rate:,.0f} {m.get('unit', 'rows')}/s" if rate >= 10 else f"{rate:.2f} {m.get('unit', 'rows')}/s"


def _ratio_text(m: dict) -> str:
    if m.get("ceiling"):
        return "ceiling"
    ratios = m.get("extra", {}).get("ratios") or {}
    return "; ".join(f"{value:.2f}× {name}" for name, value in ratios.items())


def markdown(report: dict, load_section: str | None) -> str:
    lines = ["# Benchmark results", ""]
    if not report.get("complete", True):
        lines += ["**This run is still in progress (or was interrupted): the tables hold what it had "
                  "measured when this file was written.**", ""]
    mach, ver = report["machine"], report["versions"]
    lines += [
        f"Generated by `make bench{' QUICK=1' if report['mode'] == 'quick' else ''}` "
        f"(`python -m bench.run{' --quick' if report['mode'] == 'quick' else ''}`) on "
        f"{report['started_at'][:16].replace('T', ' ')} UTC; the whole run took "
        f"{report['wall_s'] / 60:.1f} minutes. Raw numbers: `bench/results/{report['file']}`.",
        "",
        f"**Machine:** {mach.get('cores')} cores ({mach.get('cpu', 'unknown CPU')}), {mach.get('ram_gib')} GiB RAM, "
        f"{mach.get('platform')}.",
        f"Load average at start / end: {report['load_start']} / {report['load_end']}" +
        (f". {report['conditions']}" if report.get("conditions") else "."),
        "",
        "**Versions:** " + ", ".join(f"{k} {v}" for k, v in ver.items()) + ".",
        "",
        "Each line is the median of its samples; each Catena line's ratio is its median over the "
        "ceiling's, measured in the same run on the same engine and data (below 1.00: faster than "
        "the ceiling). What each operation and ceiling is, and the targets: `bench/README.md`.",
        "",
    ]
    size = report["size"]
    lines += [f"**Data set ({report['mode']}):** {size['suppliers']} suppliers, {size['legs']:,} legs, "
              f"{size['incidents']:,} incidents over one year (seed {report['seed']}).", ""]
    if report["generations"]:
        lines += ["## Generation", "", "| engine | legs | orders | incidents | bulk write | indexes | day stats | "
                  "whole generation | legs/s (bulk write) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for g in report["generations"]:
            t, c = g["timings"], g["counts"]
            lines.append(f"| {g['engine']} | {c['legs']:,} | {c['orders']:,} | {c['incidents']:,} | "
                         f"{_seconds(t['bulk_write_s'])} | {_seconds(t['indexes_s'])} | {_seconds(t['day_stats_s'])} | "
                         f"{_seconds(g['wall_s'])} | {g['legs_per_s']:,.0f} |")
        lines.append("")
    if report.get("steps"):
        lines += ["## Where the run's time went", "",
                  "Wall time of each step, and the CPU time of the runner and its children in it (the "
                  "PostgreSQL server's own CPU is not counted): wall far above CPU means the step waited "
                  "for the CPU (other work on the machine) or for the disk.", "",
                  "| engine | step | wall | CPU (runner) |", "| --- | --- | ---: | ---: |"]
        for step in report["steps"]:
            lines.append(f"| {step['engine']} | {step['step']} | {_seconds(step['wall_s'])} | {_seconds(step['cpu_s'])} |")
        lines.append("")
    operations: dict[str, list[dict]] = {}
    for m in report["measurements"]:
        if m["operation"] != "generate":
            operations.setdefault(m["operation"], []).append(m)
    for operation, rows in operations.items():
        lines += [f"## {operation}", "", "| engine | variant | items | median | throughput | peak RSS | p50 / p99 | "
                  "ratio |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
        for m in rows:
            extra = m.get("extra", {})
            latency = (f"{extra['p50_ms']:.1f} / {extra['p99_ms']:.1f} ms"
                       if "p50_ms" in extra and "p99_ms" in extra else "")
            rss = f"{m['peak_rss_mib']:.0f} MiB" if m.get("peak_rss_mib") else ""
            variant = ("ceiling: " if m.get("ceiling") else "") + m["variant"]
            lines.append(f"| {m['engine']} | {variant} | {m['items']:,} {m.get('unit', '')} | {_seconds(m['median_s'])} "
                         f"| {_rate(m)} | {rss} | {latency} | {_ratio_text(m)} |")
        notes = [f"- {m['engine']} / {m['variant']}: {m['note']}" for m in rows if m.get("note")]
        if notes:
            lines += ["", *notes]
        lines.append("")
    if report["errors"]:
        lines += ["## Operations that failed", ""]
        for e in report["errors"]:
            lines.append(f"- {e['engine']} / {e['operation']}: `{e['error'][:300]}`")
        lines.append("")
    if load_section:
        lines += [load_section, ""]
    return "\n".join(lines)


def load_section_of(path: Path) -> str | None:
    if not path.exists():
        return None
    text = path.read_text()
    start, end = text.find(LOAD_START), text.find(LOAD_END)
    if start == -1 or end == -1 or end < start:
        return None
    return text[start:end + len(LOAD_END)]


def write_outputs(report: dict, results_dir: Path = RESULTS_DIR, results_md: Path = RESULTS_MD) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / report["file"]
    path.write_text(json.dumps(report, indent=1, default=str))
    results_md.write_text(markdown(report, load_section_of(results_md)))
    return path


def main(argv: list[str] | None = None) -> int:
    from app.config import normalise_database_url
    from bench.generate import SIZES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick size and fewer repeats (a few minutes)")
    parser.add_argument("--size", choices=sorted(SIZES), help="override the size (default: full, or quick)")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--ops", default="", help="comma-separated operation modules (default: all of bench/ops)")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--conditions", default=os.environ.get("BENCH_CONDITIONS", ""),
                        help="a sentence about the machine's conditions, written into RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (SQLite file, exports)")
    parser.add_argument("--no-markdown", action="store_true", help="write the JSON only")
    parser.add_argument("--sqlite-path", help="the SQLite database file (default: in the scratch directory); kept")
    parser.add_argument("--reuse", action="store_true",
                        help="skip generation: the databases already hold the data set of this size and seed "
                             "(from bench.generate or an earlier run's --sqlite-path); operations that write "
                             "(legs_import) change it for the next reuse")
    parser.add_argument("--tag", default="", help="added to the JSON file's name, so a partial run keeps the full one")
    args = parser.parse_args(argv)
    # Full size: two samples of each heavy measurement keep the run near its 30-minute budget
    # (operations that are cheap take more of their own accord).
    args.repeats = args.repeats or (3 if args.quick else 2)
    size = SIZES[args.size or ("quick" if args.quick else "full")]
    mode = "quick" if args.quick else size.name
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    ops = discover_ops([o.strip() for o in args.ops.split(",") if o.strip()])
    started_at = dt.datetime.now(dt.timezone.utc)
    started = time.perf_counter()
    load_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    workdir = Path(tempfile.mkdtemp(prefix="catena-bench-"))
    log(f"bench: {mode}, engines {engines}, operations {ops}, scratch {workdir}")
    measurements: list[Measurement] = []
    errors: list[dict] = []
    generations: list[dict] = []
    steps: list[dict] = []

    def build(final: bool) -> dict:
        add_ratios(measurements)
        return {
            "mode": mode, "seed": args.seed, "started_at": started_at.isoformat(), "complete": final,
            "file": f"{started_at:%Y-%m-%d}-{mode}{'-' + args.tag if args.tag else ''}.json", "wall_s": time.perf_counter() - started,
            "load_start": load_start, "load_end": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
            "conditions": args.conditions, "machine": machine(), "versions": found_versions,
            "size": {"name": size.name, "suppliers": size.suppliers, "orders": size.orders, "legs": size.legs,
                     "incidents": size.incidents},
            "engines": engines, "operations": ops, "generations": generations, "steps": steps,
            "measurements": [m.as_dict() for m in measurements], "errors": errors,
        }

    def save(final: bool = False) -> Path:
        """Written after every step, so an interrupted run leaves what it measured."""
        report = build(final)
        if args.no_markdown:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            path = RESULTS_DIR / report["file"]
            path.write_text(json.dumps(report, indent=1, default=str))
            return path
        return write_outputs(report)

    found_versions = versions(args.postgres_url if "postgresql" in engines else None)
    finished = False
    try:
        for engine in engines:
            # Normalised (postgresql+psycopg://), so that an operation's own create_engine finds the driver.
            sqlite_path = Path(args.sqlite_path).resolve() if args.sqlite_path else workdir / "bench.sqlite"
            url = (f"sqlite:///{sqlite_path}" if engine == "sqlite" else normalise_database_url(args.postgres_url))
            run_engine(engine, url, args, size, ops, workdir, measurements, errors, generations, steps, save)
            if engine == "sqlite" and not args.keep and not args.sqlite_path:
                for leftover in workdir.glob("bench.sqlite*"):
                    leftover.unlink()
        finished = True
    finally:
        path = save(final=finished)
        report = build(finished)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    log(f"bench: done in {report['wall_s'] / 60:.1f} min; {path.relative_to(ROOT)}"
        + ("" if args.no_markdown else " and bench/RESULTS.md") + (f"; {len(errors)} operation(s) failed" if errors else ""))
    for e in errors:
        log(f"   failed: {e['engine']} / {e['operation']}: {e['error'][:200]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
