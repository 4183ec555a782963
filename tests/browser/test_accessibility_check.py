"""The accessibility check itself: a page with serious violations fails its step, so that a
journey passing the check means something."""
from __future__ import annotations

import pytest

#: A form field without a label (critical), an image without a text alternative (critical) and
#: grey text on white at 2.3:1 (serious); the heading's level skip is only "moderate".
BROKEN_PAGE = """<!doctype html><html lang="en"><head><title>Broken</title></head><body>
<main><h1>Broken</h1><h4>Skipped levels</h4>
<input type="text" name="nameless"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<p style="color:#aaa">Hard to read</p></main></body></html>"""


def test_a_page_with_serious_violations_fails_its_step(journey):
    journey.page.route("**/broken-page", lambda route: route.fulfill(body=BROKEN_PAGE, content_type="text/html"))
    journey.goto("/broken-page")
    with pytest.raises(AssertionError) as failure:
        journey.step("broken page")
    message = str(failure.value)
    assert "[critical] label:" in message and "[critical] image-alt:" in message
    assert "[serious] color-contrast:" in message
    assert "heading-order" not in message  # moderate: recorded, not failing
    assert "heading-order" in (journey.artefacts / "axe.json").read_text()


def test_a_script_refused_by_the_content_security_policy_fails_its_step(journey):
    page = """<!doctype html><html lang="en"><head><title>Inline</title></head><body><main>
<h1>Inline script</h1><script>document.title = "ran";</script></main></body></html>"""
    journey.page.route("**/inline-script", lambda route: route.fulfill(
        body=page, content_type="text/html", headers={"Content-Security-Policy": "script-src 'self'"}))
    journey.goto("/inline-script")
    with pytest.raises(AssertionError) as failure:
        journey.step("inline script")
    message = str(failure.value)  # Chromium's wording changes between versions; these words stay
    assert "CSP: " in message and "inline script" in message and "Content Security Policy" in message


def test_a_stylesheet_that_does_not_load_fails_its_step(journey):
    page = """<!doctype html><html lang="en"><head><title>Missing</title>
<link rel="stylesheet" href="/static/css/missing.css"></head><body><main><h1>Missing</h1></main></body></html>"""
    journey.page.route("**/missing-stylesheet", lambda route: route.fulfill(body=page, content_type="text/html"))
    journey.goto("/missing-stylesheet")
    with pytest.raises(AssertionError) as failure:
        journey.step("missing stylesheet")
    assert journey.url("/static/css/missing.css") + " answered 404" in str(failure.value)
