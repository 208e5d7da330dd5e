"""Run axe-core in a page and keep the violations that block readers (serious, critical)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

BLOCKING = ("serious", "critical")
RUN = """async () => await axe.run(document, {
    resultTypes: ["violations"],
    iframes: false  // frames are our own pages, checked on their own
})"""


def blocking_violations(page: Page, axe_source: str) -> list[str]:
    """Return one line per serious or critical axe violation on the page."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: our pages' CSP allows no inline script.
        page.evaluate(f"() => {{ {axe_source}\n }}")
    results: dict[str, Any] = page.evaluate(RUN)
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            f"{[node['target'] for node in v['nodes']]}"
            for v in results["violations"] if v["impact"] in BLOCKING]
