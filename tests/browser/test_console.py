"""The developer console in Chromium: a renewal's trace drawn across windows, every view live and clean
under axe-core (WCAG 2.2 AA), peek and redrive, the OpenAPI UI. Screenshots go to
build/console-screenshots/<test>/ (git-ignored)."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import images
import pytest
from conftest import AXE_TAGS, CHROMIUM, CHROMIUM_ARGS
from e2e_support import Stack, copy_project, start_stack, stop_stack
from helpers import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]

CONSOLE_DIST = ROOT / "console" / "dist"
AXE = ROOT / "console" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "build" / "console-screenshots"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not (CONSOLE_DIST / "index.html").is_file() or not AXE.is_file():
        pytest.skip("the console is not built: make console")
    root = copy_project(tmp_path_factory.mktemp("console"))
    shutil.copytree(CONSOLE_DIST, root / "console" / "dist")
    shutil.copytree(ROOT / "docs", root / "docs")
    s = start_stack(root, "--visibility-timeout", "1", "--no-watch")
    try:
        yield s
    finally:
        stop_stack(s)


@pytest.fixture
def page(stack: Stack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        pg.set_default_timeout(20_000)
        problems: list[str] = []
        pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        pg.problems = problems
        try:
            yield pg
        finally:
            browser.close()


class Shots:
    def __init__(self, page: Any, name: str) -> None:
        self.page, self.dir = page, SHOTS / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def take(self, label: str) -> None:
        self.n += 1
        self.page.screenshot(path=str(self.dir / f"{self.n:02d}-{label}.png"), full_page=True)
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.evaluate(AXE.read_text() + "\n;undefined")
        violations = self.page.evaluate(
            """async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations
                .map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))""",
            AXE_TAGS,
        )
        assert not violations, f"axe-core on {label}: {violations}"


def renew(stack: Stack, cid: str) -> str:
    sub = f"ada-{uuid.uuid4().hex[:6]}"
    scopes = ("renewals.write", "renewals.read", "payments.write", "docs.write")
    http = httpx.Client(
        base_url=stack.url,
        headers={"authorization": f"Bearer {stack.token(sub, *scopes)}", "x-correlation-id": cid},
        timeout=20,
    )
    today = date.today()
    renewal = http.post(
        "/api/v1/renewals",
        json={
            "full_name": "Ada Lovelace",
            "date_of_birth": "1990-12-10",
            "passport_number": "X1234567",
            "passport_issued_on": date(today.year - 10, today.month, 1).isoformat(),
            "passport_expires_on": date(today.year, today.month, 1).isoformat(),
            "mailing_address": {
                "line1": "1 Main St",
                "city": "Springfield",
                "state": "IL",
                "postal_code": "62701",
                "country": "US",
            },
            "email": f"{sub}@example.org",
        },
    ).json()
    http.post("/api/v1/payments", json={"amount": "130.00", "purpose": "fee", "renewal_id": renewal["id"]})
    http.post(
        "/api/v1/docs",
        files={"file": ("me.jpg", images.PASSPORT_PHOTO, "image/jpeg")},
        data={"kind": "photo", "renewal_id": renewal["id"]},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        t = httpx.get(f"{stack.url}/_hms/api/traces/{cid}", timeout=5)
        if t.status_code == 200 and t.json()["counts"].get("email", 0) >= 3:
            return str(renewal["id"])
        time.sleep(0.2)
    raise AssertionError("the renewal's trace did not complete")


def open_view(page: Any, hash_: str) -> None:
    page.goto(f"/_hms/{hash_}")
    page.wait_for_selector("body[data-ready=true]")


def test_a_renewals_trace_is_drawn_across_windows_and_every_view_is_accessible(
    page: Any, stack: Stack
) -> None:
    cid = f"renewal-{uuid.uuid4().hex[:10]}"
    renew(stack, cid)
    shots = Shots(page, "renewal-trace")

    open_view(page, "#/requests")
    page.get_by_role("link", name=cid).first.wait_for()
    shots.take("requests")
    page.get_by_role("link", name=cid).first.click()
    page.wait_for_selector(f"[data-trace='{cid}']")
    timeline = page.locator("svg.timeline")
    for lane in ("passport", "eligibility", "payments", "documents", "notifications"):
        assert timeline.locator("text.lane-name", has_text=lane).count() == 1, lane
    assert timeline.locator("g.bar").count() >= 9  # 4 requests and 5 deliveries at least
    assert page.get_by_role("cell", name="RenewalReadyForReview", exact=False).count() >= 1
    shots.take("trace")

    for view, ready in (
        ("#/windows", "table"),
        ("#/routes", "table"),
        ("#/traces", "table"),
        ("#/topology", ".topology img"),
        ("#/dlqs", "table"),
        ("#/emails", "article.email"),
        ("#/metrics", "table"),
        ("#/logs", "table"),
    ):
        open_view(page, view)
        page.wait_for_selector(ready)
        shots.take(view.removeprefix("#/"))
    assert not page.problems, page.problems


def test_the_windows_view_updates_live(page: Any, stack: Stack) -> None:
    open_view(page, "#/requests")
    cid = f"live-{uuid.uuid4().hex[:8]}"
    httpx.get(f"{stack.url}/api/v1/payments", headers={"x-correlation-id": cid}, timeout=5)
    page.get_by_role("link", name=cid).wait_for()  # polled in, no reload


def test_a_dead_letter_is_peeked_and_redriven_from_the_console(page: Any, stack: Stack) -> None:
    import boto3

    sample = json.loads((ROOT / "events" / "samples" / "DocumentUploaded.v1.json").read_text())
    cid = f"poison-{uuid.uuid4().hex[:8]}"
    sample["metadata"] |= {"event_id": uuid.uuid4().hex, "correlation_id": cid}
    sample["data"]["sha256"] = "not a digest"
    events = boto3.client(
        "events",
        endpoint_url=stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    entry = {"Source": "hms.documents", "DetailType": "DocumentUploaded", "Detail": json.dumps(sample)}
    events.put_events(Entries=[{**entry, "EventBusName": "hms"}])
    open_view(page, "#/dlqs")
    redrive = page.get_by_role("button", name="Redrive passport-DocumentUploaded's dead letters")
    redrive.wait_for()
    deadline = time.monotonic() + 40
    while redrive.is_disabled() and time.monotonic() < deadline:
        page.wait_for_timeout(300)
    page.get_by_role("button", name="Peek at passport-DocumentUploaded's dead letters").click()
    page.get_by_role("link", name=cid).wait_for()
    shots = Shots(page, "dlq")
    shots.take("peek")
    redrive.click()
    page.get_by_text("Moved 1 message(s) back").wait_for()
    shots.take("redriven")


def test_the_openapi_document_is_browsable(page: Any, stack: Stack) -> None:
    page.goto("/_hms/openapi/")
    page.wait_for_selector("body[data-ready=true]")
    page.get_by_text("/api/v1/renewals").first.wait_for()
    Shots(page, "openapi").take("openapi")
