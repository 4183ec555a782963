"""Catena served on 127.0.0.1 for the browser tests, on a database of its own.

The rest of the suite runs each test inside an outer transaction that is rolled back; a server
answering a browser from another thread cannot see inside that transaction. So the browser
session gets a database of its own, built by the same Alembic migrations as the suite's:

- on SQLite, a file next to the suite's;
- on PostgreSQL, a database `<test database>_browser` on TEST_DATABASE_URL's server, created
  for the session and dropped after it.

The tests seed what a journey needs (users, a published questionnaire…) in that database with
`server.seeded()`, which commits for real: nothing is rolled back, so every test uses names of
its own.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from app import create_app
from app.config import TestConfig
from app.db import db


class _QuietRequestHandler(WSGIRequestHandler):
    """No access log: a failing test's output should show the test, not every request."""

    def log_request(self, code="-", size="-") -> None:
        pass


class LiveServer:
    """A werkzeug server in a daemon thread, serving one application on a free port."""

    def __init__(self, database_url: str, instance_dir: Path) -> None:
        from flask_migrate import upgrade

        self.app = create_app(TestConfig(database_url=database_url, instance_dir=instance_dir))
        # Mail goes to the .eml sink in instance/mail/, whatever the environment says about SMTP.
        self.app.config["MAIL_SERVER"] = ""
        with self.app.app_context():
            upgrade()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True,
                                   request_handler=_QuietRequestHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # Links in e-mails (questionnaire and corrective-action portals) point here.
        self.app.config["CATENA_BASE_URL"] = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, name="catena-browser-server",
                                        daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()
        with self.app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()

    @property
    def mail_dir(self) -> Path:
        return Path(self.app.instance_path) / "mail"

    @contextlib.contextmanager
    def seeded(self) -> Iterator[None]:
        """An application context on the server's database: what is committed in it is what
        the browser will see. Objects made in it keep the values they had when it ended."""
        with self.app.app_context():
            # What the test made stays readable after the commit and after the context ends.
            db.session().expire_on_commit = False
            try:
                yield
            finally:
                db.session.remove()
