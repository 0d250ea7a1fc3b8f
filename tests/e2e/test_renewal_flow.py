"""A passport renewal across windows, over HTTP, against the real local stack (`hms up`).

passport -> eligibility (synchronous, found through Cloud Map) -> outbox -> bus -> notifications;
payments and documents move the renewal on by events. Nothing here calls a window's code directly:
only the gateway, the emulator (as an operator would, for the DLQ) and `hms dlq`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import images
import pytest
from e2e_support import Stack, copy_project, start_stack, stop_stack
from helpers import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

SCOPES = (
    "renewals.write",
    "renewals.read",
    "payments.write",
    "payments.read",
    "docs.write",
    "docs.read",
    "notifications.read",
)
PHOTO = images.PASSPORT_PHOTO  # a JPEG that meets the passport photo rules


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = copy_project(tmp_path_factory.mktemp("renewals"))
    if not (root / "events").exists():
        import shutil

        shutil.copytree(ROOT / "events", root / "events")
    s = start_stack(root, "--visibility-timeout", "1")
    try:
        yield s
    finally:
        stop_stack(s)


class Citizen:
    def __init__(self, stack: Stack, sub: str | None = None) -> None:
        self.sub = sub or f"citizen-{uuid.uuid4().hex[:8]}"
        self.stack = stack
        self.http = httpx.Client(
            base_url=stack.url,
            headers={"authorization": f"Bearer {stack.token(self.sub, *SCOPES)}"},
            timeout=20,
        )

    def apply(self, **overrides: Any) -> httpx.Response:
        today = date.today()
        body: dict[str, Any] = {
            "full_name": "Ada Lovelace",
            "date_of_birth": "1990-12-10",
            "passport_number": "X1234567",
            "passport_issued_on": date(today.year - 10, today.month, 1).isoformat(),
            "passport_expires_on": date(today.year, today.month, 1).isoformat(),
            "mailing_address": {
                "line1": "12 St James's Square",
                "city": "Springfield",
                "state": "IL",
                "postal_code": "62701",
                "country": "US",
            },
            "email": f"{self.sub}@example.org",
        }
        body.update(overrides)
        return self.http.post("/api/v1/renewals", json=body)

    def notifications(self) -> list[dict[str, Any]]:
        r = self.http.get("/api/v1/notifications")
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    def renewal(self, renewal_id: str) -> dict[str, Any]:
        r = self.http.get(f"/api/v1/renewals/{renewal_id}")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


def eventually(check: Callable[[], Any], *, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {within}s (last: {last!r})")


def types_of(items: list[dict[str, Any]], renewal_id: str | None = None) -> list[str]:
    return [n["type"] for n in items if renewal_id is None or n.get("renewal_id") == renewal_id]


def test_a_submitted_renewal_is_confirmed_by_notification_within_seconds(stack: Stack) -> None:
    ada = Citizen(stack)
    started = time.monotonic()

    r = ada.apply()

    assert r.status_code == 202, r.text
    renewal = r.json()
    assert renewal["status"] == "submitted"
    assert r.headers["location"] == f"/api/v1/renewals/{renewal['id']}"
    found = eventually(
        lambda: "RenewalSubmitted" in types_of(ada.notifications(), renewal["id"]),
        within=5,
        what="the RenewalSubmitted notification",
    )
    assert found
    print(f"POST /renewals -> RenewalSubmitted notification: {(time.monotonic() - started) * 1000:.0f} ms")
    # owner only: another citizen sees neither the renewal nor the notification
    eve = Citizen(stack)
    assert eve.http.get(f"/api/v1/renewals/{renewal['id']}").status_code == 404
    assert eve.notifications() == []


def test_payment_and_photo_bring_the_renewal_to_review_and_its_notification(stack: Stack) -> None:
    ada = Citizen(stack)
    renewal = ada.apply().json()

    paid = ada.http.post(
        "/api/v1/payments",
        json={"amount": "130.00", "purpose": "passport renewal fee", "renewal_id": renewal["id"]},
    )
    assert paid.status_code == 201, paid.text
    eventually(lambda: ada.renewal(renewal["id"])["status"] == "paid", within=10, what="status paid")

    photo = ada.http.post(
        "/api/v1/docs",
        files={"file": ("me.jpg", PHOTO, "image/jpeg")},
        data={"kind": "photo", "renewal_id": renewal["id"]},
    )
    assert photo.status_code == 201, photo.text

    ready = eventually(
        lambda: (r := ada.renewal(renewal["id"]))["status"] == "ready_for_review" and r,
        within=10,
        what="status ready_for_review",
    )
    assert ready["payment_id"] == paid.json()["id"]
    assert ready["photo_document_id"] == photo.json()["id"]
    eventually(
        lambda: (
            {"RenewalSubmitted", "PaymentCaptured", "RenewalReadyForReview"}
            <= set(types_of(ada.notifications()))
        ),
        within=10,
        what="the payment and ready-for-review notifications",
    )
    kinds = types_of(ada.notifications())
    assert kinds.count("RenewalReadyForReview") == 1  # once, however events were delivered
    assert kinds[0] == "RenewalReadyForReview"  # newest first


def test_an_ineligible_applicant_gets_403_with_the_reasons(stack: Stack) -> None:
    kid = Citizen(stack)
    today = date.today()

    r = kid.apply(date_of_birth=date(today.year - 12, 1, 1).isoformat())

    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    codes = {reason["code"] for reason in problem["reasons"]}
    assert "UNDER_16" in codes
    assert "UNDER_16" in problem["detail"] or "16" in problem["detail"]
    assert kid.http.get("/api/v1/renewals").json()["items"] == []  # nothing stored
    time.sleep(1.0)
    assert kid.notifications() == []  # nothing emitted


def test_killing_the_notifications_worker_loses_nothing(stack: Stack) -> None:
    ada = Citizen(stack)
    before = stack.worker("notifications")

    os.kill(before["pid"], signal.SIGKILL)  # the consumer dies; its messages wait in the queue
    r = ada.apply()
    assert r.status_code == 202, r.text

    eventually(
        lambda: "RenewalSubmitted" in types_of(ada.notifications(), r.json()["id"]),
        within=15,
        what="the notification after the worker's restart",
    )
    after = stack.worker("notifications")
    assert after["pid"] != before["pid"] and after["restarts"] > before["restarts"]
    assert types_of(ada.notifications(), r.json()["id"]).count("RenewalSubmitted") == 1


def _aws(stack: Stack, service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{stack.aws_port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def _dlq_depth(stack: Stack, name: str) -> int:
    sqs = _aws(stack, "sqs")
    url = sqs.get_queue_url(QueueName=f"hms-{name}-dlq")["QueueUrl"]
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def _hms(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hms.cli", "--root", str(stack.root), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _submitted(owner: str, full_name: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "metadata": {
            "event_id": uuid.uuid4().hex,
            "type": "RenewalSubmitted",
            "version": 1,
            "source": "passport",
            "time": now,
            "correlation_id": "e2e",
        },
        "data": {
            "renewal_id": uuid.uuid4().hex,
            "owner": owner,
            "full_name": full_name,
            "email": f"{owner}@example.org",
            "submitted_at": now,
        },
    }


# A consumer bug that only one message triggers, deployed into the stack's copy of the platform layer
# (test-only: the copy is the e2e stack's own project folder).
BUG = """

import os as _os

_shipped_process = EventConsumer.process


def _process_with_a_bug(self, body, **kw):  # type: ignore[no-untyped-def]
    if "POISON-E2E" in body and _os.environ.get("HMS_WINDOW") == "notifications":
        raise RuntimeError("a bug that only this message triggers")
    return _shipped_process(self, body, **kw)


EventConsumer.process = _process_with_a_bug  # type: ignore[method-assign]
"""


def _reloaded(stack: Stack, window: str, restarts: int) -> bool:
    w = stack.worker(window)
    return bool(w["restarts"] > restarts and w["state"] == "ready")


def test_a_message_the_consumer_cannot_handle_goes_alone_to_the_dlq_and_redrive_completes_it(
    stack: Stack,
) -> None:
    """A consumer bug that one message triggers: that message fails its retries and waits in the
    DLQ while other traffic flows; once the fix is deployed, `hms dlq redrive` completes it."""
    consumer = stack.root / "layers" / "hmskit" / "consumer.py"
    shipped = consumer.read_text()
    restarts = stack.worker("notifications")["restarts"]
    consumer.write_text(shipped + BUG)  # deploy the bug (every worker reloads)
    eventually(lambda: _reloaded(stack, "notifications", restarts), within=30, what="the buggy deploy")

    grace = Citizen(stack)
    poison, fine = _submitted(grace.sub, "POISON-E2E"), _submitted(grace.sub, "Grace Hopper")
    events = _aws(stack, "events")
    for detail in (poison, fine):
        entry = {"Source": "hms.passport", "DetailType": "RenewalSubmitted", "Detail": json.dumps(detail)}
        out = events.put_events(Entries=[{**entry, "EventBusName": "hms"}])
        assert out["FailedEntryCount"] == 0

    eventually(
        lambda: _dlq_depth(stack, "notifications-RenewalSubmitted") == 1, within=30, what="one DLQ message"
    )
    delivered = {n.get("renewal_id") for n in grace.notifications()}
    assert fine["data"]["renewal_id"] in delivered and poison["data"]["renewal_id"] not in delivered

    listed = _hms(stack, "dlq", "list", "notifications-RenewalSubmitted", "--endpoint", stack_endpoint(stack))
    assert listed.returncode == 0, listed.stderr
    assert poison["metadata"]["event_id"] in listed.stdout

    restarts = stack.worker("notifications")["restarts"]
    consumer.write_text(shipped)  # deploy the fix
    eventually(lambda: _reloaded(stack, "notifications", restarts), within=30, what="the fixed deploy")

    redriven = _hms(
        stack, "dlq", "redrive", "notifications-RenewalSubmitted", "--endpoint", stack_endpoint(stack)
    )
    assert redriven.returncode == 0, redriven.stderr

    eventually(
        lambda: poison["data"]["renewal_id"] in {n.get("renewal_id") for n in grace.notifications()},
        within=15,
        what="the redriven message's notification",
    )
    assert _dlq_depth(stack, "notifications-RenewalSubmitted") == 0
    assert [n.get("renewal_id") for n in grace.notifications()].count(poison["data"]["renewal_id"]) == 1


def stack_endpoint(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.aws_port}"
