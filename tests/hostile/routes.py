"""The application's routes, read from `app.url_map` at collection time, so that the hostile
tests are parametrised over every route and a new route is covered without anyone adding it.

Collection needs the routes before any fixture exists: a throw-away application is built
for that (it touches no database).
"""
from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    endpoint: str
    rule: str
    method: str
    arguments: tuple[str, ...]
    #: Arguments converted as integer ids (`<int:…>`).
    id_arguments: tuple[str, ...]

    @property
    def is_api(self) -> bool:
        return self.rule.startswith("/api/")

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


@functools.cache
def all_routes() -> tuple[Route, ...]:
    from werkzeug.routing import IntegerConverter

    from app import create_app
    from app.config import TestConfig

    app = create_app(TestConfig(database_url="sqlite://", instance_dir=tempfile.mkdtemp(prefix="catena-routes-")))
    routes = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        ids = tuple(name for name, converter in rule._converters.items()
                    if isinstance(converter, IntegerConverter))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append(Route(rule.endpoint, rule.rule, method, tuple(sorted(rule.arguments)), ids))
    return tuple(routes)


def routes_with_ids() -> list[Route]:
    return [r for r in all_routes() if r.id_arguments]


def form_posts() -> list[Route]:
    return [r for r in all_routes() if r.method == "POST" and not r.is_api]


def api_writes() -> list[Route]:
    return [r for r in all_routes() if r.is_api and r.method in ("POST", "PUT", "PATCH", "DELETE")]


def ids(routes: list[Route]) -> list[str]:
    return [str(r) for r in routes]
