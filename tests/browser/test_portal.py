"""A citizen in Chromium: sign in through the dev provider's page, renew, pay, upload the photo, watch
the status reach ready_for_review, read the three notifications, list payments and documents, sign
out. axe-core checks every page (WCAG 2.2 AA); a renewal is also done with the keyboard alone."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from conftest import Steps  # tests/browser/conftest.py (this directory is first on sys.path)
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]

TODAY = date.today()
VALID = {
    "full_name": "Ada Lovelace",
    "date_of_birth": "1990-04-28",
    "passport_number": "X1234567",
    "passport_issued_on": (TODAY - timedelta(days=9 * 365)).isoformat(),
    "passport_expires_on": (TODAY + timedelta(days=200)).isoformat(),
    "mailing_address.line1": "1 Main St",
    "mailing_address.city": "Springfield",
    "mailing_address.state": "IL",
    "mailing_address.postal_code": "62701",
    "mailing_address.country": "US",
}


def field(name: str) -> str:
    return "#f-" + name.replace(".", "-")


def jpeg(page: Any, width: int, height: int) -> dict[str, Any]:
    """A JPEG the browser itself encodes (no image library needed)."""
    data_url = page.evaluate(
        """([w, h]) => { const c = document.createElement('canvas'); c.width = w; c.height = h;
            const g = c.getContext('2d'); g.fillStyle = '#dfe8f0'; g.fillRect(0, 0, w, h);
            g.fillStyle = '#1a4480'; g.beginPath(); g.arc(w / 2, h / 2.4, w / 5, 0, 7); g.fill();
            return c.toDataURL('image/jpeg', 0.9); }""",
        [width, height],
    )
    return {
        "name": f"photo-{width}x{height}.jpg",
        "mimeType": "image/jpeg",
        "buffer": base64.b64decode(data_url.split(",")[1]),
    }


def sign_in(page: Any, steps: Steps | None, sub: str) -> None:
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")
    if steps:
        # time to interactive: navigation start to the shell's first render, handlers attached
        ready = page.evaluate("performance.getEntriesByName('portal-ready')[0].startTime")
        print(f"portal interactive after {ready:.0f} ms")
        steps.done("home")
    page.get_by_role("button", name="Sign in to start").click()
    page.wait_for_url(re.compile(r"/dev-issuer/authorize\?"))
    if steps:
        steps.done("authorization-page")
    page.get_by_label("Another citizen (type below)").check()
    page.get_by_label("Subject (sub)", exact=True).fill(sub)
    page.get_by_label("Full name", exact=True).fill("Ada Lovelace")
    page.get_by_label("Email", exact=True).fill(f"{sub}@example.org")
    page.get_by_role("button", name="Approve and sign in").click()
    page.wait_for_url(re.compile(r"#/renewals$"))
    page.get_by_role("heading", name="Your passport renewals").wait_for()


def fill(page: Any, values: dict[str, str]) -> None:
    for name, value in values.items():
        page.fill(field(name), value)


def test_a_citizen_renews_pays_uploads_and_follows_the_renewal_to_review(page: Any, steps: Steps) -> None:
    sub = f"citizen-{uuid.uuid4().hex[:8]}"
    sign_in(page, steps, sub)
    assert "Ada Lovelace" in page.locator("#account").inner_text()
    steps.done("signed-in-renewals")

    page.get_by_role("link", name="Start a renewal").click()
    page.get_by_role("heading", name="Renew your passport").wait_for()
    steps.done("renewal-form")

    # nothing typed: each missing answer is named beside its field and in a focused summary
    page.fill(field("full_name"), "")
    page.get_by_role("button", name="Submit renewal").click()
    page.locator("#f-date_of_birth-error").wait_for()
    assert page.locator(field("date_of_birth")).get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.closest('.portal-error-summary') !== null")
    steps.done("renewal-missing-answers")

    # the server's problem+json field errors land beside the fields they name
    fill(page, {**VALID, "passport_number": "12", "date_of_birth": "28/04/1990"})
    page.get_by_role("button", name="Submit renewal").click()
    expect(page.locator("#f-passport_number-error")).to_contain_text("6 to 9 letters or digits")
    expect(page.locator("#f-date_of_birth-error")).to_contain_text("YYYY-MM-DD")
    assert page.input_value(field("passport_number")) == "12"  # the input is kept
    steps.done("renewal-server-field-errors")

    fill(page, VALID)
    page.get_by_role("button", name="Submit renewal").click()
    page.wait_for_url(re.compile(r"#/renewals/[0-9A-Z]{26}$"))
    page.locator("#renewal-status[data-status=submitted]").wait_for()
    assert "$130.00" in page.locator("main").inner_text()
    steps.done("renewal-submitted")

    # a double click pays once (one Idempotency-Key per attempt; the button ignores the second click)
    page.locator("#pay-fee").dblclick()
    page.get_by_text(re.compile(r"^Paid: \$130\.00\.")).wait_for()
    steps.done("fee-paid")

    # the photo rules are explained before the upload, and a photo that breaks them is refused here
    assert "between 600 \u00d7 600 and 1200 \u00d7 1200 pixels" in page.locator("#photo-rules").inner_text()
    page.set_input_files("#photo", jpeg(page, 800, 600))
    page.get_by_role("button", name="Upload photo").click()
    page.get_by_text("The photo must be square. This one is 800 \u00d7 600 pixels.").wait_for()
    steps.done("photo-refused-not-square")
    page.set_input_files("#photo", jpeg(page, 600, 600))
    page.get_by_role("button", name="Upload photo").click()
    page.get_by_text(re.compile(r"^Photo received\.")).wait_for()

    # the status moves on without a reload
    page.locator("#renewal-status[data-status=ready_for_review]").wait_for(timeout=60_000)
    steps.done("ready-for-review")

    page.get_by_role("link", name="Notifications").click()
    page.locator("#notifications[data-count='3']").wait_for(timeout=60_000)
    assert page.locator("#notifications li").count() == 3
    steps.done("three-notifications")

    page.get_by_role("link", name="Payments").click()
    page.locator("#payments tbody tr").first.wait_for()
    assert page.locator("#payments tbody tr").count() == 1  # the double click paid once
    assert "$130.00" in page.locator("#payments").inner_text()
    steps.done("payments")

    page.get_by_role("link", name="Documents").click()
    page.locator("#documents tbody tr").first.wait_for()
    assert "Photo" in page.locator("#documents").inner_text()
    steps.done("documents")

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="You are signed out").wait_for()
    storage = page.evaluate("[localStorage.length, sessionStorage.length]")
    assert storage == [0, 0]  # tokens lived in memory only
    steps.done("signed-out")
    page.goto("/#/payments")
    page.get_by_role("button", name="Sign in to start").wait_for()  # nothing of the session is left
    assert page.csp_violations == []


def test_an_ineligible_renewal_shows_the_reasons_and_keeps_the_answers(page: Any, steps: Steps) -> None:
    sign_in(page, None, f"lost-{uuid.uuid4().hex[:8]}")
    page.get_by_role("link", name="Start a renewal").click()
    fill(page, VALID)
    page.locator("label[for=f-passport_lost_or_stolen]").click()  # USWDS draws the box on the label
    page.get_by_role("button", name="Submit renewal").click()
    alert = page.get_by_role("alert").filter(has_text="You cannot renew your passport online")
    alert.wait_for()
    assert "lost or stolen" in alert.inner_text().lower()
    assert page.input_value(field("passport_number")) == VALID["passport_number"]
    steps.done("not-eligible")


def test_a_server_failure_or_lost_connection_keeps_the_form_and_says_so(page: Any, steps: Steps) -> None:
    sign_in(page, None, f"flaky-{uuid.uuid4().hex[:8]}")
    page.get_by_role("link", name="Start a renewal").click()
    fill(page, VALID)
    page.route(
        "**/api/v1/renewals",
        lambda route: route.fulfill(
            status=503, content_type="application/problem+json", body='{"status":503}'
        ),
    )
    page.get_by_role("button", name="Submit renewal").click()
    page.get_by_text("The service is not available right now. Your answers are kept").wait_for()
    assert page.input_value(field("full_name")) == VALID["full_name"]
    steps.done("server-unavailable")
    page.unroute("**/api/v1/renewals")
    page.route("**/api/v1/renewals", lambda route: route.abort("internetdisconnected"))
    page.get_by_role("button", name="Submit renewal").click()
    page.get_by_text("We could not reach the service.").wait_for()
    assert page.input_value(field("mailing_address.postal_code")) == VALID["mailing_address.postal_code"]
    page.unroute("**/api/v1/renewals")
    page.get_by_role("button", name="Submit renewal").click()  # the same answers go through now
    page.locator("#renewal-status[data-status=submitted]").wait_for()


def test_the_whole_renewal_can_be_done_with_the_keyboard_alone(page: Any, steps: Steps) -> None:
    kb = page.keyboard
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")

    def tab_to(selector: str, limit: int = 60) -> None:
        for _ in range(limit):
            kb.press("Tab")
            if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("#sign-in")
    kb.press("Enter")
    page.wait_for_url(re.compile(r"/dev-issuer/authorize\?"))
    tab_to("input[name=citizen][value=ada]")
    kb.press("ArrowDown")  # radio groups move with the arrow keys
    kb.press("ArrowDown")
    kb.press("ArrowDown")  # "Another citizen"
    tab_to("#sub")
    kb.type(f"kbd-{uuid.uuid4().hex[:8]}")
    tab_to("#name")
    kb.type("Kay Board")
    tab_to("#email")
    kb.type("kay@example.org")
    tab_to("button[value=approve]")
    kb.press("Enter")
    page.wait_for_url(re.compile(r"#/renewals$"))
    page.get_by_role("heading", name="Your passport renewals").wait_for()

    tab_to("a[href='#/renew']")
    kb.press("Enter")
    page.get_by_role("heading", name="Renew your passport").wait_for()
    for name, value in {**VALID, "full_name": "Kay Board"}.items():
        tab_to(field(name))
        kb.press("Control+A")
        kb.type(value)
    kb.press("Enter")  # submits the form from its last field
    page.locator("#renewal-status[data-status=submitted]").wait_for()
    tab_to("#pay-fee")
    kb.press("Enter")
    page.get_by_text(re.compile(r"^Paid: ")).wait_for()
    steps.done("keyboard-renewal-paid")
