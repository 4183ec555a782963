"""The accessibility check of every page the browser tests visit: axe-core, vendored.

axe-core (tests/browser/vendor/axe-core/, version below) is added to each browser context as an
init script, so it is present in every page before the page's own scripts run. A script added
that way is not subject to the page's Content-Security-Policy, which allows no inline script.

`check(page)` runs every rule axe enables by default (WCAG 2.0–2.2 A and AA and its best
practices). A violation whose impact is "serious" or "critical" fails the journey; the others
are kept in the test's axe.json for whoever improves the pages next.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

AXE_VERSION = "4.14.1"
AXE_SCRIPT = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"

#: Impacts that fail a test.
FAILING_IMPACTS = frozenset({"serious", "critical"})

_RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary || ""})),
  }));
}"""


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    nodes: tuple[tuple[str, str], ...]
    url: str

    @property
    def is_failing(self) -> bool:
        return self.impact in FAILING_IMPACTS

    def describe(self) -> str:
        lines = [f"[{self.impact}] {self.rule}: {self.help} ({self.url})"]
        for target, summary in self.nodes[:5]:
            lines.append(f"    {target}: {' '.join(summary.split())[:300]}")
        if len(self.nodes) > 5:
            lines.append(f"    … and {len(self.nodes) - 5} more")
        return "\n".join(lines)

    def as_json(self) -> dict:
        return {"rule": self.rule, "impact": self.impact, "help": self.help, "url": self.url,
                "nodes": [{"target": t, "summary": s} for t, s in self.nodes]}


def install(context) -> None:
    """Make axe available in every page of a Playwright browser context."""
    context.add_init_script(path=str(AXE_SCRIPT))


def check(page) -> list[Violation]:
    """Every axe violation on the page as it is now."""
    found = page.evaluate(_RUN_AXE)
    return [Violation(v["id"], v["impact"] or "minor", v["help"],
                      tuple((n["target"], n["summary"]) for n in v["nodes"]), page.url)
            for v in found]
