"""Rendering a report template (`templates/reports/*.html`) to PDF with WeasyPrint.

A report is an ISO-style controlled document: A4, the company's name (and logo) at the top of
every page, the document number, revision, issue date and "page x of y" at the bottom
(`templates/reports/base.html`, `static/css/report.css`). Domain services fill a template
and call `render_pdf`; they never call WeasyPrint themselves.

What a report may reach. Every URL the document asks for — stylesheet, image, font,
attachment, whether written by us or slipped into user text — goes through
`StaticOnlyFetcher`, which serves only `data:` URIs and files that, once symlinks are resolved,
lie under the application's `static/` folder. Anything else (http, https, ftp, a `file://` path
elsewhere, a relative path that climbs out of static/) raises `FetchRefused`; WeasyPrint logs
it and renders the document without that resource. Jinja escapes user text anyway, so the
fetcher is the second lock, not the only one (shared HOSTILE.md decision 3, row B21/B22).

Bounded rendering. The HTML is refused above `CATENA_PDF_MAX_HTML_BYTES` and the laid-out
document above `CATENA_PDF_MAX_PAGES`, each with `ReportTooLarge` ("narrow your selection").
The work is split so that it can move to a child process: `render_html` needs the
application (templates, translations, the database through its context), `html_to_pdf`
needs only its arguments. To bound memory and time, a caller would run `html_to_pdf` in a
`multiprocessing` "spawn" worker that first sets `resource.setrlimit(RLIMIT_AS, …)` and
`RLIMIT_CPU`, wait for it with `join(timeout)`, kill it when the time is up, and turn a
killed or failed worker into `ReportTooLarge`; very large reports would be queued as jobs.
"""
from __future__ import annotations

import datetime as dt
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from flask import current_app, render_template
from flask_babel import lazy_gettext as _l
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from app.errors import ServiceError

#: Defaults for the two bounds; a deployment sets CATENA_PDF_MAX_HTML_BYTES / _PAGES.
DEFAULT_MAX_HTML_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_PAGES = 400
#: The PDF variants a caller may ask for (WeasyPrint names).
PDF_VARIANTS = frozenset({"pdf/a-3b"})


class FetchRefused(ValueError):
    """A report asked for a resource outside the application's static files."""


class ReportTooLarge(ServiceError):
    code = "report_too_large"


@dataclass(frozen=True)
class ReportDocument:
    """What the header and footer of every page say about the document."""

    title: str
    #: The document's reference, e.g. "QA-42" (the record's id with a prefix).
    number: str
    revision: str
    issued_on: dt.date
    subject: str | None = None


class StaticOnlyFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that serves `data:` URIs and files under `static_root`, and
    refuses everything else by raising `FetchRefused`.

    Files are checked after resolving symlinks and `..`, so neither a link inside static/ nor
    a percent-encoded climb reaches outside it. `data:` URIs are handed to WeasyPrint's own
    fetcher, which is built to allow no other protocol.
    """

    def __init__(self, static_root: Path | str):
        super().__init__(allowed_protocols=("data",), allow_redirects=False, timeout=5)
        self.static_root = Path(static_root).resolve()

    def fetch(self, url, headers=None):
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            path = self.static_path(url)
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": content_type})
        raise FetchRefused(f"refused to fetch {url[:200]!r}: only the application's static files")

    def static_path(self, url: str) -> Path:
        """The file a `file:` URL names, if it lies under static/; FetchRefused otherwise."""
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise FetchRefused(f"refused to fetch {url[:200]!r}: remote file URL")
        try:
            path = Path(url2pathname(parts.path)).resolve(strict=True)
        except (OSError, RuntimeError, ValueError):
            raise FetchRefused(f"refused to fetch {url[:200]!r}: no such static file") from None
        if not path.is_relative_to(self.static_root) or not path.is_file():
            raise FetchRefused(f"refused to fetch {url[:200]!r}: outside the static folder")
        return path


def static_root() -> Path:
    return Path(current_app.static_folder).resolve()


def base_url() -> str:
    """Relative URLs in report templates (`css/report.css`) are relative to static/."""
    return static_root().as_uri() + "/"


def report_logo() -> str | None:
    """The configured logo (CATENA_REPORT_LOGO, a path under static/) if it exists there."""
    configured = current_app.config.get("CATENA_REPORT_LOGO")
    if not configured:
        return None
    try:
        StaticOnlyFetcher(static_root()).static_path((static_root() / str(configured).lstrip("/")).as_uri())
    except FetchRefused:
        current_app.logger.warning("CATENA_REPORT_LOGO %r is not a file under static/", configured)
        return None
    return str(configured).lstrip("/")


def render_html(template_name: str, document: ReportDocument, **context) -> str:
    """The report's HTML: the template with the company, the logo and `document` in context."""
    if not template_name.startswith("reports/"):
        raise ValueError("report templates live under templates/reports/")
    return render_template(template_name, document=document,
                           company_name=current_app.config.get("CATENA_COMPANY_NAME", "Catena"),
                           report_logo=report_logo(), **context)


def html_to_pdf(html: str, *, static_folder: Path | str, pdf_variant: str | None = None,
                max_html_bytes: int = DEFAULT_MAX_HTML_BYTES, max_pages: int = DEFAULT_MAX_PAGES,
                uncompressed: bool = False) -> bytes:
    """Lay out `html` and write it as PDF. Needs no application: the unit a child process
    would run (see the module docstring)."""
    if pdf_variant is not None and pdf_variant not in PDF_VARIANTS:
        raise ValueError(f"unknown PDF variant {pdf_variant!r}")
    if len(html.encode("utf-8")) > max_html_bytes:
        raise ReportTooLarge(_l("This report is too large to print. Narrow your selection and try again."))
    root = Path(static_folder).resolve()
    fetcher = StaticOnlyFetcher(root)
    document = HTML(string=html, base_url=root.as_uri() + "/", url_fetcher=fetcher).render(
        pdf_variant=pdf_variant)
    if len(document.pages) > max_pages:
        raise ReportTooLarge(_l("This report is too large to print. Narrow your selection and try again."))
    return document.write_pdf(pdf_variant=pdf_variant, uncompressed_pdf=uncompressed)


def render_pdf(template_name: str, document: ReportDocument, *, pdf_variant: str | None = None,
               uncompressed: bool = False, **context) -> bytes:
    """Render `templates/<template_name>` (which extends `reports/base.html`) to PDF bytes.

    `pdf_variant="pdf/a-3b"` makes an archivable PDF/A-3b. The PDF's title is the
    document's title and its author the company (CATENA_COMPANY_NAME).
    """
    html = render_html(template_name, document, pdf_variant=pdf_variant, **context)
    config = current_app.config
    return html_to_pdf(html, static_folder=static_root(), pdf_variant=pdf_variant,
                       max_html_bytes=int(config.get("CATENA_PDF_MAX_HTML_BYTES", DEFAULT_MAX_HTML_BYTES)),
                       max_pages=int(config.get("CATENA_PDF_MAX_PAGES", DEFAULT_MAX_PAGES)),
                       uncompressed=uncompressed)


# Downloads -----------------------------------------------------------------------------------

#: The query parameter value (`?pdfa=1`) that asks a PDF route for PDF/A-3b.
PDFA_VARIANT = "pdf/a-3b"


def variant_from(args) -> str | None:
    """The PDF variant a download route's query string asks for: `?pdfa=1` → PDF/A-3b."""
    return PDFA_VARIANT if args.get("pdfa") == "1" else None


def attachment(body: bytes, filename: str, mimetype: str):
    """`body` as a download named `filename`, reduced to letters, digits, dot, dash and
    underscore (codes and references are user text: no quotes, slashes or control characters
    reach the header). Never shown inline, never cached by shared caches."""
    import re

    from flask import Response

    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).strip("._") or "download"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{safe[:120]}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
