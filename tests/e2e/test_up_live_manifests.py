"""Live means live: under a running `hms up`, a changed manifest is in force for everything it says.

Each test edits one manifest of the stack's copy of the project, waits for the reload (the
manifests' generation in ``/_hms/health``), and checks the next requests. No wall-clock asserts.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from e2e_support import Stack, copy_project, start_stack, stop_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(copy_project(tmp_path_factory.mktemp("live")))
    try:
        yield stack
    finally:
        stop_stack(stack)


def generation(stack: Stack) -> int:
    return int(stack.health()["manifests"]["generation"])


def edit(stack: Stack, manifest: str, old: str, new: str) -> None:
    """Rewrite ``routes/<manifest>`` and wait until `hms up` has applied it."""
    path: Path = stack.root / "routes" / manifest
    text = path.read_text()
    assert old in text
    before = generation(stack)
    path.write_text(text.replace(old, new))
    deadline = time.monotonic() + 30
    while generation(stack) == before:
        assert time.monotonic() < deadline, stack.log()[-3000:]
        time.sleep(0.05)


def pids(stack: Stack) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for w in stack.health()["windows"]:
        out.setdefault(w["name"], set()).add(w["pid"])
    return out


def restarted(stack: Stack, window: str, old: set[int]) -> dict[str, set[int]]:
    """Every window's pids once ``window``'s environments are all fresh and ready."""
    deadline = time.monotonic() + 60
    while True:
        mine = [w for w in stack.health()["windows"] if w["name"] == window]
        if all(w["state"] == "ready" and w["pid"] not in old for w in mine):
            return pids(stack)
        assert time.monotonic() < deadline, stack.log()[-3000:]
        time.sleep(0.05)


def pay(stack: Stack, token: str) -> httpx.Response:
    return httpx.post(
        f"{stack.url}/api/v1/payments",
        json={"amount": "1.00", "purpose": "live"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_a_changed_rate_limit_is_in_force_and_restarts_that_window_only(live: Stack) -> None:
    before = pids(live)
    v2 = live.root / "routes" / "payments-v2.yaml"  # a window's manifests give one rate limit
    v2.write_text(v2.read_text().replace("limit: 30", "limit: 2"))

    edit(live, "payments.yaml", "limit: 30", "limit: 2")

    token = live.token(f"rate-{uuid.uuid4().hex[:8]}", "payments.write")
    answers = [pay(live, token) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[0].headers["x-ratelimit-limit"] == "2"
    after = restarted(live, "payments", before["payments"])
    assert all(after[w] == before[w] for w in before if w != "payments")
    assert "restarted (settings) payments" in live.log()


def test_changed_scopes_are_in_force_with_the_next_request(live: Stack) -> None:
    reader = live.token("scopes-reader", "payments.read")
    assert (
        httpx.get(f"{live.url}/api/v1/payments", headers={"Authorization": f"Bearer {reader}"}).status_code
        == 200
    )
    before = pids(live)

    edit(
        live,
        "payments.yaml",
        "{method: GET, path: /api/v1/payments, scopes: [payments.read]}",
        "{method: GET, path: /api/v1/payments, scopes: [payments.write]}",
    )

    answer = httpx.get(f"{live.url}/api/v1/payments", headers={"Authorization": f"Bearer {reader}"})
    assert answer.status_code == 403
    assert pids(live) == before  # routes and scopes: nothing restarts


def test_an_added_throttle_is_in_force_with_the_next_request(live: Stack) -> None:
    edit(live, "eligibility.yaml", "window:\n", "throttle: {rate: 0.001, burst: 1}\nwindow:\n")

    first = httpx.get(f"{live.url}/api/v1/eligibility/health", headers=auth(live))
    second = httpx.get(f"{live.url}/api/v1/eligibility/health", headers=auth(live))

    assert (first.status_code, second.status_code) == (200, 429)
    assert second.json()["type"].endswith("/throttled")


def auth(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token('throttle', 'eligibility.check')}"}


def test_a_changed_window_setting_restarts_that_window_only_and_prints_its_table(live: Stack) -> None:
    before = pids(live)

    edit(live, "passport.yaml", '"130.00 USD"', '"140.00 USD"')

    after = restarted(live, "passport", before["passport"])
    assert all(after[w] == before[w] for w in before if w != "passport")
    log = live.log()
    assert "restarted (settings) passport" in log
    assert log.count("HMS windows") >= 2  # the start-up table, then the changed window's rows


def test_hms_new_window_is_served_by_the_running_stack_and_a_removed_manifest_stops_it(live: Stack) -> None:
    created = subprocess.run(
        [sys.executable, "-m", "hms.cli", "--root", str(live.root), "new", "window", "permits"],
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    headers = {"Authorization": f"Bearer {live.token('ada', 'permits.read')}"}

    answer = until(live, lambda: httpx.get(f"{live.url}/api/v1/permits/hello", headers=headers), 200)

    assert answer.json()["greeting"] == "Hello, ada"
    assert "started permits" in live.log()
    served = {w["pid"] for w in live.health()["windows"] if w["name"] == "permits"}

    (live.root / "routes" / "permits.yaml").unlink()

    until(live, lambda: httpx.get(f"{live.url}/api/v1/permits/hello", headers=headers), 404)
    gone = until_true(live, lambda: all(w["name"] != "permits" for w in live.health()["windows"]))
    assert gone and not any(Path(f"/proc/{pid}").exists() for pid in served)


def until(stack: Stack, request: Callable[[], httpx.Response], status: int) -> httpx.Response:
    """The first answer with ``status`` (a state to reach, never a time to meet)."""
    deadline = time.monotonic() + 60
    while True:
        answer = request()
        if answer.status_code == status:
            return answer
        assert time.monotonic() < deadline, f"{answer.status_code} {answer.text}\n{stack.log()[-3000:]}"
        time.sleep(0.05)


def until_true(stack: Stack, check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, stack.log()[-3000:]
        time.sleep(0.05)
    return True
