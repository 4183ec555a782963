"""What every benchmark operation shares: the run's context, a measurement, and how to time one.

`bench/run.py` generates a database per engine with `bench/generate.py`, then calls each
operation module under `bench/ops/` as `run(ctx) -> list[Measurement]`. An operation measures
Catena's way *and* its ceiling (the fastest plain tool doing the same work) in the same run, so
the ratio between them means something on whatever machine runs it. A benchmark, never a test.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Size:
    """Counts the generator writes; `bench.generate.SIZES` names the presets."""

    name: str
    suppliers: int
    orders: int
    legs: int
    incidents: int


@dataclasses.dataclass
class BenchContext:
    engine: str  # "sqlite" or "postgresql"
    database_url: str  # already migrated and filled by bench.generate at `size`
    size: Size
    quick: bool  # a few minutes in all: smaller row counts, fewer repeats
    repeats: int  # samples per measurement; the median is reported
    workdir: Path  # scratch files (CSV to import, exported workbooks, PDFs)
    seed: int = 2026


@dataclasses.dataclass
class Measurement:
    """One timed thing. Lower seconds is better; `ratio` is filled by the runner.

    operation groups a Catena variant with its ceilings (same operation name, `ceiling=True`);
    items is what was processed per sample (rows, legs, pages, requests) for the throughput.
    """

    operation: str
    variant: str
    engine: str
    items: int
    samples_s: list[float]
    ceiling: bool = False
    unit: str = "rows"
    peak_rss_mib: float | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. p50_ms, p99_ms, rps, pages
    note: str = ""

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples_s)

    @property
    def per_second(self) -> float:
        return self.items / self.median_s if self.median_s else float("inf")

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(median_s=self.median_s, per_second=self.per_second)
        return data


def timed(fn: Callable[[], Any], repeats: int, *, setup: Callable[[], Any] | None = None) -> list[float]:
    """Wall-clock seconds of `fn()` over `repeats` runs, `setup()` (untimed) before each."""
    samples = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _child(target, args, queue):
    start = time.perf_counter()
    result = target(*args)
    elapsed = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((elapsed, peak_kib / 1024, result))


def in_child(target: Callable[..., Any], *args) -> tuple[float, float, Any]:
    """Run `target(*args)` in a fresh process: (seconds, peak RSS in MiB, its return value).

    A child of its own (forked) gives each writer or renderer an honest peak RSS, not the
    high-water mark of whatever ran before it in the runner.
    """
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_child, args=(target, args, queue))
    process.start()
    elapsed, peak_mib, result = queue.get()
    process.join()
    if process.exitcode:
        raise RuntimeError(f"{getattr(target, '__name__', target)} exited with {process.exitcode}")
    return elapsed, peak_mib, result


def timed_in_child(target: Callable[..., Any], *args, repeats: int) -> tuple[list[float], float]:
    """`in_child` `repeats` times: the samples and the largest peak RSS seen."""
    samples, peaks = [], []
    for _ in range(repeats):
        elapsed, peak, _result = in_child(target, *args)
        samples.append(elapsed)
        peaks.append(peak)
    return samples, max(peaks)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 1,000 latencies is the 990th smallest)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5 - 1e-9)))
    return ordered[rank - 1]


def app_environment(ctx: BenchContext) -> dict[str, str]:
    """Environment for a child process (flask command, gunicorn) that runs Catena on ctx's database."""
    env = dict(os.environ)
    env.update(DATABASE_URL=ctx.database_url, SECRET_KEY="bench-only-secret-key", PYTHONPATH=str(ROOT))
    return env
