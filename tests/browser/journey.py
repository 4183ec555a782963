"""A user's walk through Catena in the browser, recorded step by step.

`journey.step("supplier saved")` takes a full-page screenshot
(test-artifacts/browser/<test>/NN-supplier-saved.png), checks the page with axe and fails on a
serious or critical violation; it also fails on a script error, a refusal by the
Content-Security-Policy or a failed load of a stylesheet, script, font, image or fetch since the
last step. Everything axe found, of any impact, and every console error are written to axe.json
and console.log beside the pictures.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from tests.browser import accessibility
from tests.factories import DEFAULT_PASSWORD


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


class Journey:
    def __init__(self, page, base_url: str, artefacts: Path) -> None:
        self.page = page
        self.base_url = base_url
        self.artefacts = artefacts
        self._steps = 0
        self._violations: list[dict] = []
        self._console: list[str] = []
        self._errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self._errors.append(f"script error: {error}"))
        page.on("response", self._on_response)

    def _on_console(self, message) -> None:
        if message.type != "error":
            return
        self._console.append(f"{self.page.url}: {message.text}")
        # A refused script, style or image is a page that looks or works differently than meant.
        if "Content Security Policy" in message.text:
            self._errors.append(f"CSP: {message.text}")

    def _on_response(self, response) -> None:
        # A page may answer 4xx on purpose (a form with errors is 422); what it loads may not.
        if response.status >= 400 and response.request.resource_type != "document":
            self._errors.append(f"{response.request.resource_type} {response.url} answered {response.status}")

    def url(self, path: str) -> str:
        return self.base_url + path

    def goto(self, path: str):
        return self.page.goto(self.url(path))

    def step(self, name: str) -> None:
        """Record the page as it is now, and fail if it is not usable by everyone."""
        self._steps += 1
        self.page.wait_for_load_state()
        self.artefacts.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(self.artefacts / f"{self._steps:02d}-{_slug(name)}.png"), full_page=True,
                             animations="disabled")
        found = accessibility.check(self.page)
        self._violations.extend({"step": name, **v.as_json()} for v in found)
        self._write_logs()
        failing = [v for v in found if v.is_failing]
        assert not failing, (f"step {self._steps} ({name}): accessibility violations\n"
                             + "\n".join(v.describe() for v in failing))
        errors, self._errors = self._errors, []
        assert not errors, f"step {self._steps} ({name}): " + "\n".join(errors)

    def _write_logs(self) -> None:
        (self.artefacts / "axe.json").write_text(json.dumps(
            {"axe_version": accessibility.AXE_VERSION, "violations": self._violations}, indent=1))
        (self.artefacts / "console.log").write_text("".join(line + "\n" for line in self._console))

    # Shared moves -----------------------------------------------------------------------------

    def sign_in(self, email: str, password: str = DEFAULT_PASSWORD) -> None:
        self.goto("/login")
        self.page.get_by_label("E-mail").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(lambda url: not url.startswith(self.url("/login")))

    def focused(self) -> str:
        """What has the keyboard focus: its id, else its text."""
        return self.page.evaluate("() => document.activeElement.id || document.activeElement.innerText.trim()")

    def expect_message(self, text: str) -> None:
        """Wait for the message shown after a form was sent (a flash or an alert) to say `text`."""
        self.page.locator("[role=alert], [role=status]", has_text=text).first.wait_for()
