"""Serving for the HTTP benchmarks and the load test: gunicorn (Catena or the ceiling app) and
the scheduler as child processes on 127.0.0.1, always stopped when the block ends.

Both Catena and the ceiling app get the same gunicorn settings (GUNICORN_ARGS), so what
separates their numbers is the application, not the server.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench.core import ROOT

BIN = Path(sys.executable).parent
#: Sync workers, one request at a time each: a Flask app doing CPU work under the GIL gains
#: nothing from threads, and every request is accepted by whichever worker is free (no
#: kept-alive connection tied to a busy worker). Four workers on two cores leave room for the
#: time each spends waiting on PostgreSQL. The 300 s timeout lets the slowest page measured (the
#: service dashboard over a year of a million incidents, about a minute) finish instead of having
#: its worker killed, which would hide its time behind a dropped connection.
WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", 4))
GUNICORN_ARGS = ["--worker-class", "sync", "--workers", str(WORKERS), "--timeout", "300",
                 "--backlog", "2048", "--log-level", "warning"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:3]} exited with {process.returncode} before serving")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f} s")


def stop(process: subprocess.Popen, seconds: float = 15.0) -> None:
    """SIGTERM to the process's own group (gunicorn's workers with it), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def gunicorn(app: str, env: dict[str, str], *, port: int | None = None, log: Path | None = None) -> Iterator[int]:
    """Serve `app` ("module:factory()") on 127.0.0.1; yields the port."""
    port = port or free_port()
    out = open(log, "ab") if log else subprocess.DEVNULL
    process = subprocess.Popen([str(BIN / "gunicorn"), *GUNICORN_ARGS, "--bind", f"127.0.0.1:{port}", app],
                               cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        _wait_for_port(port, process)
        yield port
    finally:
        stop(process)
        if log:
            out.close()


@contextlib.contextmanager
def scheduler(env: dict[str, str], *, log: Path | None = None) -> Iterator[subprocess.Popen]:
    """`flask --app app scheduler run` beside the web workers, as in production."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    process = subprocess.Popen([str(BIN / "flask"), "--app", "app", "scheduler", "run"], cwd=ROOT, env=env,
                               stdout=out, stderr=out, start_new_session=True)
    try:
        time.sleep(1.0)
        if process.poll() is not None:
            raise RuntimeError(f"the scheduler exited with {process.returncode} at start")
        yield process
    finally:
        stop(process)
        if log:
            out.close()
