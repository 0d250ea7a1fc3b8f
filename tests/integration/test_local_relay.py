"""The local outbox relay: outbox rows written to a window's table reach the bus and are deleted,
after an invocation of the window (a kick) or, without one, by the one-second safety net."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from hms.local.provision import Provisioned, provision
from hms.local.relay import LocalRelay, RelayingInvoker
from hms.model import Platform, load_platform
from hmskit.contracts import PaymentCapturedV1, build
from hmskit.outbox import OUTBOX_PK, outbox_item
from hmskit.store import TableStore

pytestmark = pytest.mark.integration


class Logs(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


def project(root: Path) -> tuple[Platform, str, str]:
    pub, con = f"pub{uuid.uuid4().hex[:8]}", f"con{uuid.uuid4().hex[:8]}"
    (root / "routes").mkdir()
    for name in (pub, con):
        pkg = root / "functions" / name / name
        pkg.mkdir(parents=True)
        (pkg / "handler.py").write_text("def lambda_handler(event, context):\n    return {}\n")
        (root / "routes" / f"{name}.yaml").write_text(f"uri: /api/v1/{name}/**\nupstream: {name}\n")
    (root / "events").mkdir()
    (root / "events" / "topology.yaml").write_text(
        f"events:\n  PaymentCaptured:\n    publisher: {pub}\n    consumers: [{con}]\n"
    )
    return load_platform(root), pub, con


@pytest.fixture
def evented(tmp_path: Path, aws_endpoint: str) -> Iterator[tuple[Platform, Provisioned, str, str]]:
    platform, pub, con = project(tmp_path)
    yield platform, provision(platform, aws_endpoint), pub, con


def write_outbox(table: str, pub: str, n: int) -> list[str]:
    """``n`` outbox rows, as a window's transaction writes them (``Outbox.op``)."""
    store = TableStore(boto3.client("dynamodb"), table)
    ids = []
    for i in range(n):
        data = PaymentCapturedV1(
            payment_id=f"pay{i}",
            owner="alice",
            amount="25.00",
            currency="USD",
            purpose="passport renewal fee",
            captured_at=datetime.now(UTC),
        )
        event = build(
            data, event_id=uuid.uuid4().hex, source=pub, time=datetime.now(UTC), correlation_id=None
        )
        store.put_new(outbox_item(event, source=f"hms.{pub}", now=datetime.now(UTC).isoformat()))
        ids.append(event.id)
    return ids


def outbox_left(table: str) -> int:
    items, _more = TableStore(boto3.client("dynamodb"), table).query_page(
        OUTBOX_PK, sk_prefix="EVENT#", limit=100
    )
    return len(items)


def received(url: str, want: int, timeout: float) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            got.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def relay_for(platform: Platform, provisioned: Provisioned, logs: Logs, interval: float) -> LocalRelay:
    return LocalRelay.for_platform(
        platform,
        provisioned,
        dynamodb=boto3.client("dynamodb"),
        events=boto3.client("events"),
        interval=interval,
        log=logs,
    )


class Echo:
    """A pool stand-in whose invocation reports the AWS calls a real worker would (``calls``)."""

    def __init__(self, fail: bool = False, made: dict[str, int] | None = None) -> None:
        self.fail = fail
        self.made = {"dynamodb.TransactWriteItems": 1} if made is None else made

    async def invoke(
        self,
        window_name: str,
        event: Any,
        *,
        timeout: float | None = None,
        calls: dict[str, int] | None = None,
    ) -> Any:
        if self.fail:
            raise RuntimeError("the worker crashed")
        if calls is not None:
            calls.update(self.made)
        return {"ok": window_name}


def test_outbox_rows_are_published_to_the_bus_and_deleted_right_after_an_invocation(
    evented: tuple[Platform, Provisioned, str, str],
) -> None:
    platform, provisioned, pub, con = evented
    assert provisioned.event_bus == "hms"
    table = provisioned.table_name(pub)
    ids = write_outbox(table, pub, 3)
    logs = Logs()
    relay = relay_for(platform, provisioned, logs, interval=30)  # no timer in this test: the kick does it
    assert relay.windows == (pub,)  # only publishers get a relay
    invoker = RelayingInvoker(Echo(), relay.kick)

    async def scenario() -> None:
        async with relay:
            assert await invoker.invoke(pub, {}, timeout=1) == {"ok": pub}
            for _ in range(100):
                if relay.published[pub] == 3:
                    break
                await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert relay.published[pub] == 3 and outbox_left(table) == 0
    events = received(provisioned.subscriptions[f"{con}-PaymentCaptured"].queue_url, 3, timeout=5)
    assert sorted(e["detail"]["metadata"]["event_id"] for e in events) == sorted(ids)
    assert {(e["source"], e["detail-type"]) for e in events} == {(f"hms.{pub}", "PaymentCaptured")}
    assert any(f"[outbox] {pub}: 3 event(s) published" in line for line in logs), logs


def test_without_any_invocation_the_timer_still_relays_what_a_crashed_window_left(
    evented: tuple[Platform, Provisioned, str, str],
) -> None:
    platform, provisioned, pub, con = evented
    table = provisioned.table_name(pub)
    relay = relay_for(platform, provisioned, Logs(), interval=0.2)
    invoker = RelayingInvoker(Echo(fail=True), relay.kick)

    async def scenario() -> None:
        async with relay:
            with pytest.raises(RuntimeError):  # the window "crashed" after its write: still a kick
                await invoker.invoke(pub, {}, timeout=1)
            write_outbox(table, pub, 1)  # ... and its row lands only now: the timer finds it
            for _ in range(100):
                if relay.published[pub] == 1:
                    break
                await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert relay.published[pub] == 1 and outbox_left(table) == 0
    assert len(received(provisioned.subscriptions[f"{con}-PaymentCaptured"].queue_url, 1, timeout=5)) == 1


def test_an_invocation_that_wrote_nothing_does_not_run_the_relay(
    evented: tuple[Platform, Provisioned, str, str],
) -> None:
    platform, provisioned, pub, _con = evented
    relay = relay_for(platform, provisioned, Logs(), interval=30)  # no timer in this test
    reader = RelayingInvoker(Echo(made={"dynamodb.Query": 1, "dynamodb.GetItem": 1}), relay.kick)
    writer = RelayingInvoker(Echo(), relay.kick)

    async def scenario() -> tuple[int, int]:
        async with relay:
            await reader.invoke(pub, {}, timeout=1)
            await asyncio.sleep(0.3)
            after_read = relay.runs[pub]
            await writer.invoke(pub, {}, timeout=1)
            for _ in range(100):
                if relay.runs[pub] > after_read:
                    break
                await asyncio.sleep(0.05)
            return after_read, relay.runs[pub]

    after_read, after_write = asyncio.run(scenario())
    assert after_read == 0 and after_write == 1


class Broken:
    def __init__(self) -> None:
        self.calls = 0

    def relay_pending(self, *, limit: int = 100) -> Any:
        self.calls += 1
        raise ConnectionError("the endpoint went away")


def test_a_failing_relay_is_retried_and_logged_once_per_reason() -> None:
    logs = Logs()
    broken = Broken()
    relay = LocalRelay({"pub": broken}, interval=0.05, log=logs)

    async def scenario() -> None:
        async with relay:
            relay.kick("pub")
            relay.kick("unknown")  # not a publisher: nothing happens
            await asyncio.sleep(0.4)

    asyncio.run(scenario())
    assert broken.calls >= 3  # retried on every tick
    failures = [line for line in logs if "outbox relay failed" in line]
    assert len(failures) == 1 and "ConnectionError: the endpoint went away" in failures[0]
