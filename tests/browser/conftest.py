"""The browser suite: Debian's Chromium driven by Playwright against a locally started `hms up`.

`make test` builds the portal (`make web`) and installs Chromium (`make browser`) first. Run alone,
without them, the suite is skipped with the command to run (or fails when HMS_REQUIRE_BROWSER=1, as
the Makefile sets it).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))

from e2e_support import Stack, copy_project, start_stack, stop_stack
from helpers import ROOT

CHROMIUM = Path("/usr/bin/chromium")
DIST = ROOT / "web" / "dist"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "build" / "portal-screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# WCAG 2.0, 2.1 and 2.2, levels A and AA
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _missing() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (make venv)"
    if not CHROMIUM.exists():
        return "Chromium is not installed: make browser (apt-get install chromium)"
    if not (DIST / "index.html").is_file() or not AXE.is_file():
        return "the portal is not built: make web (npm ci and the esbuild build)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("HMS_REQUIRE_BROWSER") == "1":
        raise pytest.UsageError(f"browser tests cannot run: {reason}")
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = copy_project(tmp_path_factory.mktemp("project"))
    shutil.copytree(DIST, root / "web" / "dist")
    s = start_stack(root)
    try:
        yield s
    finally:
        stop_stack(s)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    violations: list[str] = []
    # the CSP must not block anything the portal itself does
    pg.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    pg.csp_violations = violations
    try:
        yield pg
    finally:
        context.close()


class Steps:
    """Times each step, takes its screenshot and checks it with axe-core; writes timings.json."""

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.name = name
        self.dir = SCREENSHOTS / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.records: list[dict[str, Any]] = []
        self._started = time.perf_counter()
        self._axe_loaded_for: object = None

    def done(self, label: str, *, axe: bool = True) -> None:
        ms = (time.perf_counter() - self._started) * 1000
        n = len(self.records) + 1
        shot = self.dir / f"{n:02d}-{label}.png"
        self.page.screenshot(path=str(shot), full_page=True)
        violations = self.axe() if axe else None
        self.records.append(
            {
                "step": label,
                "ms": round(ms),
                "axe_violations": violations,
                "screenshot": str(shot.relative_to(ROOT)),
            }
        )
        (self.dir / "timings.json").write_text(json.dumps(self.records, indent=2))
        assert not violations, f"axe-core found violations on step {label!r}: {violations}"
        self._started = time.perf_counter()

    def axe(self) -> list[dict[str, Any]]:
        # evaluated through the DevTools protocol, so the page's CSP (no inline scripts) still applies
        # to the portal itself
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.evaluate(AXE.read_text() + "\n;undefined")
        result: list[dict[str, Any]] = self.page.evaluate(
            """async (tags) => {
                const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
                return r.violations.map(v => ({id: v.id, impact: v.impact,
                    nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
            }""",
            AXE_TAGS,
        )
        return result


@pytest.fixture
def steps(page: Any, request: pytest.FixtureRequest) -> Iterator[Steps]:
    s = Steps(page, request.node.name)
    yield s
    for r in s.records:
        print(f"{s.name}: {r['step']:<28} {r['ms']:>6} ms  axe violations: {len(r['axe_violations'] or [])}")
