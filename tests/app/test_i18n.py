"""English and Italian are complete: every user-facing string has its Italian translation."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
METHOD_MAP = [("**/.venv/**", "ignore"), ("tests/**", "ignore"), ("**.py", "python"), ("templates/**.html", "jinja2"),
              ("templates/**.txt", "jinja2")]


def _source_messages() -> set[str]:
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), METHOD_MAP, keywords=KEYWORDS,
        options_map={"templates/**.html": {}, "templates/**.txt": {}}, directory_filter=lambda d: not Path(d).name.startswith(".")):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


@pytest.fixture(scope="module")
def italian():
    with open(ROOT / "translations/it/LC_MESSAGES/messages.po", "rb") as handle:
        return read_po(handle)


@pytest.mark.no_db
def test_every_source_string_has_an_italian_translation(italian):
    def translated(message) -> bool:
        entry = italian.get(message)
        if entry is None or entry.fuzzy:
            return False
        return all(entry.string) if isinstance(entry.string, (tuple, list)) else bool(entry.string)

    missing = sorted(str(m) for m in _source_messages() if not translated(m))
    assert missing == [], f"{len(missing)} strings lack Italian: run `make translations` and translate"


@pytest.mark.no_db
def test_translations_keep_every_placeholder(italian):
    placeholder = re.compile(r"%\(\w+\)[sd]")

    def found(text) -> list[str]:
        # Plural entries hold a tuple of forms; each form must carry the same placeholders.
        texts = text if isinstance(text, (tuple, list)) else (text,)
        return sorted({p for t in texts if t for p in placeholder.findall(t)})

    wrong = [m.id for m in italian if m.id and not m.fuzzy and m.string and any(m.string)
             and found(m.id) != found(m.string)]
    assert wrong == []


PAGES = ["/", "/suppliers/", "/suppliers/new", "/suppliers/IT-1", "/suppliers/IT-1/edit",
         "/suppliers/IT-1/contacts/new", "/suppliers/IT-1/certificates/new", "/account/password",
         "/admin/users", "/admin/users/new"]


def test_pages_render_in_italian(login_as, make_supplier):
    make_supplier(code="IT-1", status="approved")
    client = login_as("admin", locale="it")
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert '<html lang="it">' in page, url
        # Words that only appear in the English interface.
        for english in ("Suppliers</a>", "Sign out", "Overview</a>", ">Save<", "Cancel</a>"):
            assert english not in page, (url, english)
    assert "Qualificato" in client.get("/suppliers/IT-1").get_data(as_text=True)
