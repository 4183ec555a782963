"""A bounded HTTP load generator for 127.0.0.1: a fixed number of connections, each driven by
one asyncio task (a "user") until a deadline, every request timed and kept.

    .venv/bin/python -m bench.loadgen ceiling [--connections 50] [--seconds 10]
    .venv/bin/python -m bench.loadgen get http://127.0.0.1:8000/path [--connections 10] [--seconds 10]

`ceiling` measures the generator's own limit: it serves a fixed 200 response from a trivial
asyncio server in a child process and drives it as hard as it can. Catena's pages run at a small
fraction of that, so the numbers the load test and the page benchmark report are the server's,
not the generator's.

The client speaks the little HTTP/1.1 that Catena's server needs (Content-Length or chunked
bodies, keep-alive unless the server says `Connection: close`, as gunicorn's sync workers do)
and nothing more: it is not a general HTTP client. It only connects to 127.0.0.1, so a typo
cannot point it at a real host. It is closed-loop: a user sends its next request when the
previous answer has arrived (plus any think time), so latencies are per request as a user
sees them, and a slow server gets fewer requests rather than an unbounded queue.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from html import unescape
from urllib.parse import urlencode, urlsplit

from bench.core import percentile

HOST = "127.0.0.1"
#: Seconds one request may take before it counts as an error (the server never answered).
REQUEST_TIMEOUT_S = 60.0


class ConnectionFailed(Exception):
    """The connection broke or timed out before a whole response arrived."""


@dataclasses.dataclass(frozen=True)
class Request:
    kind: str  # what the report groups by: "incident_list", "intake", ...
    method: str
    path: str  # path and query string
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclasses.dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    set_cookies: list[str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Connection:
    """One HTTP/1.1 connection to 127.0.0.1:port, reopened when the server closes it."""

    def __init__(self, port: int, timeout_s: float = REQUEST_TIMEOUT_S):
        self.port = port
        self.timeout_s = timeout_s
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        #: Requests resent because a kept-alive connection had been closed by the server before
        #: the request reached it (what every HTTP client does); never counted as served.
        self.stale_retries = 0

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, request: Request, extra_headers: tuple[tuple[str, str], ...] = ()) -> Response:
        reused = self.writer is not None
        try:
            return await asyncio.wait_for(self._exchange(request, extra_headers), self.timeout_s)
        except _StaleConnection:
            if not reused:
                raise ConnectionFailed("connection closed before any response") from None
            self.stale_retries += 1
            return await asyncio.wait_for(self._exchange(request, extra_headers), self.timeout_s)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ValueError) as exc:
            self.close()
            raise ConnectionFailed(f"{type(exc).__name__}: {exc}") from None

    async def _exchange(self, request: Request, extra_headers) -> Response:
        if self.writer is None:
            await self._open()
        lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in request.headers + extra_headers]
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(request.body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body)
        try:
            await self.writer.drain()
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError) as exc:
            # Nothing of a response came back: on a reused connection the server had closed it.
            if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                raise
            self.close()
            raise _StaleConnection() from None
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        version, status, *_ = status_line.split(" ", 2)
        headers, cookies = {}, []
        for line in header_lines:
            if not line:
                continue
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            headers[name] = value
            if name == "set-cookie":
                cookies.append(value)
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked()
        else:
            body = await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close" or version == "HTTP/1.0":
            self.close()
        return Response(int(status), headers, cookies, body)

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await self.reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


class _StaleConnection(Exception):
    pass


@dataclasses.dataclass
class Sample:
    kind: str
    ended_s: float  # seconds since the run started
    latency_s: float
    status: int  # 0: no response (connection error or timeout)
    error: str | None = None

    @property
    def is_error(self) -> bool:
        """A server error or no answer: what the load test must never see."""
        return self.status == 0 or self.status >= 500


@dataclasses.dataclass
class KindSummary:
    kind: str
    requests: int
    errors: int  # 5xx or connection errors
    unexpected: int  # answered, but not with a status the scenario expects (e.g. 4xx)
    p50_ms: float
    p99_ms: float
    max_ms: float
    rps: float


class Recorder:
    """Every sample of a run; the summary is computed once the run is over."""

    def __init__(self):
        self.started = time.perf_counter()
        self.samples: list[Sample] = []
        self.unexpected: list[tuple[str, int, str]] = []  # kind, status, first bytes of the body
        self.measure_from_s = 0.0  # samples ending before this (warm-up) are left out

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)

    def measured(self) -> list[Sample]:
        return [s for s in self.samples if s.ended_s >= self.measure_from_s]

    def summary(self, duration_s: float) -> list[KindSummary]:
        by_kind: dict[str, list[Sample]] = defaultdict(list)
        for sample in self.measured():
            by_kind[sample.kind].append(sample)
        unexpected = defaultdict(int)
        for kind, _status, _body in self.unexpected:
            unexpected[kind] += 1
        rows = []
        for kind in sorted(by_kind):
            samples = by_kind[kind]
            latencies = [s.latency_s * 1000 for s in samples]
            rows.append(KindSummary(kind, len(samples), sum(s.is_error for s in samples), unexpected[kind],
                                    percentile(latencies, 0.50), percentile(latencies, 0.99), max(latencies),
                                    len(samples) / duration_s))
        every = self.measured()
        if every:
            latencies = [s.latency_s * 1000 for s in every]
            rows.append(KindSummary("all", len(every), sum(s.is_error for s in every), sum(unexpected.values()),
                                    percentile(latencies, 0.50), percentile(latencies, 0.99), max(latencies),
                                    len(every) / duration_s))
        return rows


class Session:
    """A user's connection, its cookies and its recorder: `send` times one request."""

    def __init__(self, port: int, recorder: Recorder, cookies: dict[str, str] | None = None):
        self.connection = Connection(port)
        self.recorder = recorder
        self.cookies = dict(cookies or {})

    async def send(self, request: Request, expect: tuple[int, ...] = (200,)) -> Response | None:
        """The response, or None after a connection error; both recorded, with `expect`ed
        statuses telling an answered-but-wrong request (4xx, a redirect to the login page)."""
        extra = (("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items())),) if self.cookies else ()
        start = time.perf_counter()
        try:
            response = await self.connection.send(request, extra)
        except ConnectionFailed as exc:
            end = time.perf_counter()
            self.recorder.add(Sample(request.kind, end - self.recorder.started, end - start, 0, str(exc)))
            return None
        end = time.perf_counter()
        self.recorder.add(Sample(request.kind, end - self.recorder.started, end - start, response.status))
        for cookie in response.set_cookies:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()
        if response.status not in expect:
            self.recorder.unexpected.append((request.kind, response.status, response.text[:300]))
        return response

    def close(self) -> None:
        self.connection.close()


User = Callable[[Session, float], Awaitable[None]]


async def run_users(port: int, user: User, users: int, seconds: float, *, warmup_s: float = 0.0,
                    cookies: dict[str, str] | None = None) -> tuple[Recorder, float, int]:
    """Run `users` copies of `user(session, deadline)` for warm-up plus `seconds`.

    Returns the recorder (warm-up samples left out of its summary), the measured duration and
    the stale-connection retries. Each user must return once `time.perf_counter()` passes the
    deadline; a request in flight then is still awaited and recorded.
    """
    recorder = Recorder()
    recorder.measure_from_s = warmup_s
    deadline = recorder.started + warmup_s + seconds
    sessions = [Session(port, recorder, cookies) for _ in range(users)]
    await asyncio.gather(*(user(session, deadline) for session in sessions))
    for session in sessions:
        session.close()
    duration = max(time.perf_counter() - recorder.started - warmup_s, 1e-9)
    return recorder, duration, sum(s.connection.stale_retries for s in sessions)


def repeat(requests: list[Request], expect: tuple[int, ...] = (200,)) -> User:
    """A user that sends `requests` in turn, over and over, without pause (a benchmark user)."""

    async def user(session: Session, deadline: float) -> None:
        i = 0
        while time.perf_counter() < deadline:
            await session.send(requests[i % len(requests)], expect)
            i += 1

    return user


async def run_count(port: int, requests: list[Request], connections: int, total: int, *,
                    cookies: dict[str, str] | None = None) -> tuple[float, Recorder]:
    """Send `total` requests (cycling through `requests`) over `connections` connections as
    fast as they are answered: (wall seconds, recorder). A fixed count, so the throughput of
    two servers is compared over the same work."""
    recorder = Recorder()
    sent = 0

    async def user(session: Session) -> None:
        nonlocal sent
        while sent < total:
            request = requests[sent % len(requests)]
            sent += 1
            await session.send(request)

    sessions = [Session(port, recorder, cookies) for _ in range(connections)]
    start = time.perf_counter()
    await asyncio.gather(*(user(session) for session in sessions))
    elapsed = time.perf_counter() - start
    for session in sessions:
        session.close()
    return elapsed, recorder


# Pages ------------------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_NEXT = re.compile(r'<a class="page-link" href="([^"]+)" rel="next">')


def form_body(fields: dict[str, str]) -> tuple[tuple[tuple[str, str], ...], bytes]:
    return (("Content-Type", "application/x-www-form-urlencoded"),), urlencode(fields).encode()


def next_link(html: str) -> str | None:
    """The pager's "Next" link of a list page (templates/macros/ui.html), or None on the last page."""
    match = _NEXT.search(html)
    return unescape(match.group(1)) if match else None


async def login(port: int, email: str, password: str) -> dict[str, str]:
    """Sign in through the login form as a browser does; the session cookies."""
    recorder = Recorder()
    session = Session(port, recorder)
    page = await session.send(Request("login", "GET", "/login"))
    if page is None or page.status != 200:
        raise RuntimeError(f"GET /login failed: {page and page.status}")
    token = _CSRF.search(page.text)
    headers, body = form_body({"csrf_token": unescape(token.group(1)) if token else "",
                               "email": email, "password": password, "next": ""})
    answer = await session.send(Request("login", "POST", "/login", headers, body), expect=(302, 303))
    session.close()
    if answer is None or answer.status not in (302, 303):
        raise RuntimeError(f"signing in as {email} failed: {answer and answer.status} {answer and answer.text[:200]}")
    return session.cookies


async def follow_pages(port: int, cookies: dict[str, str], first: str, pages: int) -> list[str]:
    """The paths of list pages 1..`pages`, reached as a user does: following "Next" each time.

    Fewer when the list ends sooner."""
    session = Session(port, Recorder(), cookies)
    paths, path = [], first
    while path and len(paths) < pages:
        paths.append(path)
        response = await session.send(Request("follow", "GET", path))
        if response is None or response.status != 200:
            raise RuntimeError(f"GET {path} failed: {response and response.status}")
        path = next_link(response.text)
    session.close()
    return paths


def format_table(rows: list[KindSummary]) -> str:
    lines = ["| request | requests | errors | unexpected | p50 ms | p99 ms | max ms | req/s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r.kind} | {r.requests:,} | {r.errors} | {r.unexpected} | {r.p50_ms:.1f} | {r.p99_ms:.1f} "
                     f"| {r.max_ms:.1f} | {r.rps:.1f} |")
    return "\n".join(lines)


# The generator's own ceiling ----------------------------------------------------------------

_FIXED = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")


class _TrivialProtocol(asyncio.Protocol):
    """Answers every request with the same 200, keep-alive: about the cheapest server there is."""

    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.transport.write(_FIXED)


def _serve_trivial(port: int, ready) -> None:
    async def main():
        server = await asyncio.get_running_loop().create_server(_TrivialProtocol, HOST, port, backlog=1024)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def measure_ceiling(connections: int = 50, seconds: float = 10.0, port: int = 18999) -> tuple[float, float]:
    """(requests/s, p99 ms) the generator reaches against a trivial server on another core."""
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    server = context.Process(target=_serve_trivial, args=(port, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(10):
            raise RuntimeError("the trivial server did not start")
        recorder, duration, _ = asyncio.run(run_users(port, repeat([Request("trivial", "GET", "/")]),
                                                      connections, seconds, warmup_s=1.0))
        row = recorder.summary(duration)[-1]
        if row.errors:
            raise RuntimeError(f"{row.errors} errors against the trivial server")
        return row.rps, row.p99_ms
    finally:
        server.terminate()
        server.join()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ceiling = sub.add_parser("ceiling", help="the generator's own requests/s against a trivial server")
    get = sub.add_parser("get", help="GET one URL on 127.0.0.1 over and over")
    get.add_argument("url")
    for p in (ceiling, get):
        p.add_argument("--connections", type=int, default=50)
        p.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.command == "ceiling":
        rps, p99 = measure_ceiling(args.connections, args.seconds)
        print(f"load generator ceiling: {rps:,.0f} requests/s with {args.connections} connections "
              f"(p99 {p99:.1f} ms) against a trivial server")
        return
    url = urlsplit(args.url)
    if url.hostname != HOST:
        parser.error("only http://127.0.0.1:PORT/... (the generator never leaves this machine)")
    path = url.path + (f"?{url.query}" if url.query else "")
    recorder, duration, _ = asyncio.run(run_users(url.port or 80, repeat([Request("get", "GET", path or "/")]),
                                                  args.connections, args.seconds, warmup_s=1.0))
    print(format_table(recorder.summary(duration)))


if __name__ == "__main__":
    main()
