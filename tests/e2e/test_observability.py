"""One trace per request, across windows, events, retries, the DLQ and emails, on the real local stack;
and the CLI verbs that read it (`hms logs`, `hms events tail|put`, `hms invoke`, `hms openapi`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import httpx
import images
import pytest
from e2e_support import Stack, copy_project, start_stack, stop_stack
from helpers import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

SCOPES = ("renewals.write", "renewals.read", "payments.write", "docs.write", "notifications.read")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    import shutil

    root = copy_project(tmp_path_factory.mktemp("observe"))
    shutil.copytree(ROOT / "docs", root / "docs")
    s = start_stack(root, "--visibility-timeout", "1", "--no-watch")
    try:
        yield s
    finally:
        stop_stack(s)


def eventually(check: Callable[[], Any], *, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {within}s (last: {last!r})")


def trace(stack: Stack, cid: str) -> dict[str, Any] | None:
    r = httpx.get(f"{stack.url}/_hms/api/traces/{cid}", timeout=5)
    return r.json() if r.status_code == 200 else None


def kinds(t: dict[str, Any] | None, kind: str, **match: Any) -> list[dict[str, Any]]:
    if not t:
        return []
    return [e for e in t["entries"] if e["kind"] == kind and all(e.get(k) == v for k, v in match.items())]


def hms(
    stack: Stack, *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HMS_"))}
    return subprocess.run(
        [sys.executable, "-m", "hms.cli", "--root", str(stack.root), *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=timeout,
    )


def renewal_body(sub: str) -> dict[str, Any]:
    today = date.today()
    return {
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
    }


def test_one_correlation_id_follows_a_renewal_through_every_window_event_and_email(stack: Stack) -> None:
    sub = f"ada-{uuid.uuid4().hex[:6]}"
    cid = f"renewal-{uuid.uuid4().hex[:12]}"
    http = httpx.Client(
        base_url=stack.url,
        headers={"authorization": f"Bearer {stack.token(sub, *SCOPES)}", "x-correlation-id": cid},
        timeout=20,
    )
    submitted = http.post("/api/v1/renewals", json=renewal_body(sub))
    assert submitted.status_code == 202, submitted.text
    assert submitted.headers["x-correlation-id"] == cid
    renewal_id = submitted.json()["id"]
    paid = http.post(
        "/api/v1/payments",
        json={"amount": "130.00", "purpose": "passport renewal fee", "renewal_id": renewal_id},
    )
    assert paid.status_code == 201, paid.text
    photo = http.post(
        "/api/v1/docs",
        files={"file": ("me.jpg", images.PASSPORT_PHOTO, "image/jpeg")},
        data={"kind": "photo", "renewal_id": renewal_id},
    )
    assert photo.status_code == 201, photo.text

    # RenewalReadyForReview is published by passport's consumer: an event caused by an event
    done = eventually(
        lambda: (
            (t := trace(stack, cid))
            and len(kinds(t, "email")) >= 3
            and kinds(t, "published", type="RenewalReadyForReview")
            and t
        ),
        within=30,
        what="the whole renewal in one trace",
    )
    windows = {e["window"] for e in kinds(done, "request")}
    assert {"passport", "eligibility", "payments", "documents"} <= windows
    (request,) = kinds(done, "request", route="POST /api/v1/renewals")
    assert request["sub"] == sub and request["status"] == 202 and request["ms"] > 0
    published = {e["type"] for e in kinds(done, "published")}
    assert published == {"RenewalSubmitted", "PaymentCaptured", "DocumentUploaded", "RenewalReadyForReview"}
    delivered = {(e["subscription"], e["result"]) for e in kinds(done, "delivery")}
    for name in (
        "notifications-RenewalSubmitted",
        "passport-PaymentCaptured",
        "notifications-PaymentCaptured",
        "passport-DocumentUploaded",
        "notifications-RenewalReadyForReview",
    ):
        assert (name, "ok") in delivered, name
    assert all(e["receive_count"] >= 1 and e["ms"] >= 0 for e in kinds(done, "delivery"))
    assert all(e["window"] == "notifications" and e["message_id"] for e in kinds(done, "email"))

    # the windows' log lines carry it too, and the captured emails are tied to it
    logs = httpx.get(
        f"{stack.url}/_hms/api/logs", params={"correlation_id": cid, "limit": 500}, timeout=5
    ).json()
    assert {"passport", "notifications"} <= {r["window"] for r in logs["records"] if r["window"]}
    emails = httpx.get(f"{stack.url}/_hms/api/emails", timeout=10).json()["emails"]
    mine = [m for m in emails if m["correlation_id"] == cid]
    assert len(mine) >= 3 and all(m["to"] == [f"{sub}@example.org"] for m in mine)


def test_an_invalid_client_correlation_id_is_replaced_by_the_request_id(stack: Stack) -> None:
    r = httpx.get(
        f"{stack.url}/api/v1/payments/health", headers={"x-correlation-id": "not valid!"}, timeout=5
    )
    assert r.headers["x-correlation-id"] == r.headers["x-request-id"]
    t = eventually(lambda: trace(stack, r.headers["x-request-id"]), within=5, what="the request's trace")
    assert kinds(t, "request")[0]["path"] == "/api/v1/payments/health"


def test_a_poison_event_is_traced_to_the_dlq_and_through_its_redrive(stack: Stack) -> None:
    cid = f"poison-{uuid.uuid4().hex[:8]}"
    sample = json.loads((ROOT / "events" / "samples" / "PaymentCaptured.v1.json").read_text())
    sample["metadata"] |= {"event_id": uuid.uuid4().hex, "correlation_id": cid}
    sample["data"]["amount"] = "not money"  # fails the contract in every consumer
    import boto3

    events = boto3.client(
        "events",
        endpoint_url=stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    entry = {
        "Source": "hms.payments",
        "DetailType": "PaymentCaptured",
        "Detail": json.dumps(sample),
        "EventBusName": "hms",
    }
    assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0

    t = eventually(
        lambda: (t := trace(stack, cid)) and len(kinds(t, "dead_letter")) >= 2 and t,
        within=40,
        what="two DLQ arrivals",
    )
    failed = kinds(t, "delivery", subscription="passport-PaymentCaptured", result="failed")
    assert [e["receive_count"] for e in failed][:3] == [1, 2, 3]
    assert {e["subscription"] for e in kinds(t, "dead_letter")} == {
        "passport-PaymentCaptured",
        "notifications-PaymentCaptured",
    }

    moved = httpx.post(
        f"{stack.url}/_hms/api/dlqs/passport-PaymentCaptured/redrive",
        headers={"x-hms-console": "1"},
        timeout=20,
    )
    assert moved.status_code == 200 and moved.json()["moved"] == 1, moved.text
    eventually(
        lambda: kinds(trace(stack, cid), "redrive", subscription="passport-PaymentCaptured"),
        within=20,
        what="the redrive",
    )


def test_hms_events_put_validates_a_sample_then_the_trace_shows_its_deliveries(stack: Stack) -> None:
    bad = hms(stack, "events", "put", "PaymentCaptured", "--version", "9", "--url", stack.url)
    assert bad.returncode == 2 and "PaymentCaptured" in bad.stderr
    put = hms(
        stack, "events", "put", "RenewalSubmitted", "--url", stack.url, "--correlation-id", "cli-sample-1"
    )
    assert put.returncode == 0, put.stderr
    assert "/_hms/#/trace/cli-sample-1" in put.stdout
    t = eventually(
        lambda: (
            kinds(trace(stack, "cli-sample-1"), "delivery", subscription="notifications-RenewalSubmitted")
            and trace(stack, "cli-sample-1")
        ),
        within=20,
        what="the sample's delivery",
    )
    assert kinds(t, "published")[0]["via"] == "hms events put"


def test_hms_logs_filters_by_window_and_correlation_id(stack: Stack) -> None:
    cid = f"logs-{uuid.uuid4().hex[:8]}"
    httpx.get(f"{stack.url}/api/v1/payments/health", headers={"x-correlation-id": cid}, timeout=5)
    got = eventually(
        lambda: (
            (r := hms(stack, "logs", "--url", stack.url, "--correlation-id", cid, "--json")).stdout.strip()
            and r
        ),
        within=10,
        what="the request's log line",
    )
    records = [json.loads(line) for line in got.stdout.splitlines()]
    assert records and all(r["correlation_id"] == cid for r in records)
    only = hms(stack, "logs", "payments", "--url", stack.url, "--json", "-n", "20")
    assert only.returncode == 0 and all(
        json.loads(line)["window"] == "payments" for line in only.stdout.splitlines()
    )
    readable = hms(stack, "logs", "gateway", "--url", stack.url, "-n", "5")
    assert readable.returncode == 0 and "[gateway]" in readable.stdout


def test_hms_invoke_runs_a_window_once_and_prints_its_result(stack: Stack) -> None:
    event = {
        "version": "2.0",
        "routeKey": "GET /api/v1/payments/health",
        "rawPath": "/api/v1/payments/health",
        "rawQueryString": "",
        "headers": {"host": "127.0.0.1"},
        "requestContext": {
            "http": {
                "method": "GET",
                "path": "/api/v1/payments/health",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
            },
            "requestId": "invoke-1",
            "routeKey": "GET /api/v1/payments/health",
            "stage": "$default",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }
    out = hms(
        stack, "invoke", "payments", "--event", "-", "--endpoint", stack.aws_endpoint, stdin=json.dumps(event)
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["statusCode"] == 200
    unknown = hms(stack, "invoke", "nope", "--event", "-", stdin="{}")
    assert unknown.returncode == 2 and "payments" in unknown.stderr


def test_the_openapi_document_is_served_at_a_stable_url(stack: Stack) -> None:
    served = httpx.get(f"{stack.url}/_hms/openapi.json", timeout=5)
    assert served.status_code == 200 and served.json() == json.loads(
        (stack.root / "docs" / "openapi.json").read_text()
    )
    out = hms(stack, "openapi", "--url", stack.url)
    assert out.returncode == 0 and f"{stack.url}/_hms/openapi/" in out.stdout
