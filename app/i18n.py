"""Languages, time zones and the formatting of dates and numbers in templates.

The interface speaks English and Italian. A signed-in user's choice is stored on the user;
before signing in the choice is kept in the session; otherwise the browser's preference wins.
Times are stored in UTC and shown in the company's time zone (CATENA_TIMEZONE).
"""
from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

from babel import Locale
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import format_date, format_datetime, format_decimal, get_locale
from flask_login import current_user

from app.extensions import babel


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        # Commands and jobs write records in the default language.
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return current_user.locale
    chosen = session.get("locale")
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(list(languages)) or current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["CATENA_TIMEZONE"]


def company_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["CATENA_TIMEZONE"])


def today() -> dt.date:
    """Today's date in the company's time zone."""
    return dt.datetime.now(company_zone()).date()


def country_names() -> dict[str, str]:
    """ISO 3166 alpha-2 code → country name in the current language, sorted by name."""
    return _country_names(str(get_locale()))


@functools.lru_cache(maxsize=8)
def _country_names(locale_name: str) -> dict[str, str]:
    locale = Locale.parse(locale_name)
    names = {
        code: name for code, name in locale.territories.items()
        if len(code) == 2 and code.isalpha() and code not in {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB", "XK"}
    }
    return dict(sorted(names.items(), key=lambda item: item[1]))


def is_country_code(code: str) -> bool:
    return code in Locale.parse("en").territories and len(code) == 2 and code.isalpha()


def _date(value, format="medium"):
    return format_date(value, format) if value else ""


def _datetime(value, format="medium"):
    return format_datetime(value, format) if value else ""


def _number(value):
    return format_decimal(value) if value is not None else ""


def _country(code):
    if not code:
        return ""
    return Locale.parse(str(get_locale())).territories.get(code, code)


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters.update(date=_date, datetime=_datetime, number=_number, country=_country)
    from app.changelog import readable_changes

    app.jinja_env.globals.update(get_locale=get_locale, LANGUAGES=app.config["LANGUAGES"],
                                 readable_changes=readable_changes)
