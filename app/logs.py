"""Log records as one JSON object per line (HOSTILE.md B32).

Logs carry text from outside: a request path, a file or member name, an e-mail address, a
supplier's exception message. In plain-text logs a newline in that text starts what looks like
a record of its own ("admin\\n2026-11-22 INFO login ok user=root"); as a JSON string it stays
an escaped "\\n" inside its own record, and a log reader parses fields instead of guessing.
"""
from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

FIELDS = "{asctime}{levelname}{name}{message}"


def json_formatter() -> logging.Formatter:
    return JsonFormatter(FIELDS, style="{", rename_fields={"asctime": "time", "levelname": "level"})


#: Catena's own packages log from INFO (jobs started and done, refused files), and so does the
#: development server (its address, its requests); other libraries from WARNING, as without any
#: set-up (WeasyPrint reports every layout step at INFO).
INFO_LOGGERS = ("app", "incidents", "suppliers", "audits", "questionnaires", "reports", "werkzeug")


def configure() -> None:
    """Give the process a JSON handler on stderr, unless something (a test runner, an
    embedding server's own logging set-up) has already given the root logger handlers."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter())
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in INFO_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
