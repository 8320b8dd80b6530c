"""Accessibility checks of pages in the browser: axe-core's WCAG 2.1 AA rules on every page, and
44 px touch targets on the citizen's (phone) pages."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import ARTIFACTS

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

SMALL_TARGETS = """() => {
  const seen = new Set(), small = [];
  for (const el of document.querySelectorAll('a[href], button, input, textarea, select')) {
    // A radio or checkbox is reached through the whole option label around it.
    const target = el.matches('[type=radio], [type=checkbox]') ? el.closest('label') || el : el;
    if (seen.has(target) || !target.getClientRects().length) continue;
    seen.add(target);
    const box = target.getBoundingClientRect();
    if (box.width < 44 || box.height < 44) {
      small.push(`${target.tagName.toLowerCase()} "${target.textContent.trim().slice(0, 30)}" `
        + `${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  return small;
}"""


def axe(page: Any, name: str, axe_source: str) -> None:
    """Photograph the page, then require zero axe-core violations (WCAG 2.1 AA). Console pages
    are used on office PCs: no touch-target rule for them."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    _no_violations(page, name, axe_source)


def check_page(page: Any, name: str, axe_source: str, audit: Any = None) -> None:
    """A citizen's page: photographed, zero axe-core violations and 44 px touch targets.

    axe-core needs timers, which do not run in a page with JavaScript off: such a page is
    audited as a copy of its DOM (without the script) in ``audit``, a page that runs scripts.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert page.evaluate(SMALL_TARGETS) == [], name
    if audit is not None:
        audit.goto(page.url.split("/r/")[0] + "/healthz")  # same origin, so /static/ resolves
        audit.set_content(re.sub(r"<script[^>]*></script>", "", page.content()))
        page = audit
    _no_violations(page, name, axe_source)


def _no_violations(page: Any, name: str, axe_source: str) -> None:
    # Evaluated through the DevTools protocol: the page's CSP (no inline script) stays in force
    # for the application's own script.
    page.evaluate("(source) => { (0, eval)(source); }", axe_source)
    violations = page.evaluate(
        """(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(r =>
             r.violations.map(v => `${v.id}: ${v.help} at ${v.nodes.map(n => n.target)}`))""",
        WCAG_21_AA,
    )
    assert violations == [], f"{name}: {violations}"
