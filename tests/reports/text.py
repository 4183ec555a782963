"""A PDF as a person reads it: its text, from poppler's pdftotext (the independent reader the
reports issue asks for). Where poppler is missing, pypdf stands in, with a warning, so the
suite still runs on a machine without it; CI installs poppler-utils (.ci/run)."""
from __future__ import annotations

import io
import shutil
import subprocess
import warnings


def pdf_text(data: bytes) -> str:
    """The text of every page, in reading order (`-layout` keeps table rows on one line)."""
    if shutil.which("pdftotext"):
        result = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", "-", "-"], input=data,
                                capture_output=True, check=True, timeout=60)
        return result.stdout.decode("utf-8")
    warnings.warn("pdftotext not found (install poppler-utils): reading the PDF with pypdf", stacklevel=2)
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def pdf_pages(data: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(data)).pages)
