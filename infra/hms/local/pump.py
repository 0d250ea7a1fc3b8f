"""The local event source mappings: each subscription queue pumped into its consumer's worker.

In AWS an SQS event source mapping long-polls the queue, invokes the consumer's function with a
batch, and (with ``ReportBatchItemFailures``) deletes every message the function did not list in
``batchItemFailures``. The failed ones stay in the queue: they come back once their visibility
timeout runs out, and after ``maxReceiveCount`` receives SQS moves them to the DLQ. ``EventPump``
does exactly that against the emulator, one asyncio task per subscription:

* ``ReceiveMessage`` (batch size from the topology, ``WaitTimeSeconds=1`` so a stop is quick, every
  system attribute) in a thread of the pump's own executor (boto3 is blocking; the long polls never
  starve the event loop's default executor);
* several batches of a subscription at once, up to its concurrency (``concurrency_of``: the
  template's ``ScalingConfig.MaximumConcurrency``): one poller always, and another for as long as
  the last receive found a backlog (more than one message), as Lambda adds pollers for a busy queue;
* a batch in progress keeps its messages invisible (``ChangeMessageVisibility`` every
  ``hold / 2`` seconds, while it waits for an execution environment and while it runs), so a busy
  consumer never sees a healthy message come back and use up its receives; a failed message is made
  visible again after the queue's own visibility timeout, counted from the failure;
* the SQS event exactly as Lambda builds it (``sqs_event``), invoked through the worker pool with the
  consumer's timeout;
* the answer honoured as Lambda does (``batch_failures``): nothing listed, or ``None``, deletes the
  whole batch; listed ids stay; an invalid answer (an id not in the batch, an empty id, not an
  object...) or a failed invocation (crash, timeout, handler error) deletes nothing.

One log line per delivery; counters per subscription (``stats``) for ``/_hms/health`` and the
start-up table; an ``observer`` (the trace recorder's, ``hms.local.traces``) told of each delivered
batch and of each DLQ that grew.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hms.local.emulator import DEFAULT_REGION
from hms.local.invoker import Invoker

RECEIVE_WAIT_SECONDS = 1  # long poll; also the longest a stop waits for a pump
HOLD_SECONDS = 20  # how long a batch in progress stays invisible between two extensions (at least)
DLQ_REFRESH_SECONDS = 2.0
ERROR_BACKOFF_START = 0.2
ERROR_BACKOFF_MAX = 5.0
# what Lambda passes through in a record's ``attributes`` (FIFO ones only appear on FIFO queues)
_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "DeadLetterQueueSourceArn",
)

Log = Callable[[str], None]


class InvalidBatchResponseError(Exception):
    """The consumer's answer is not a valid partial batch response: the whole batch failed."""


@dataclass(frozen=True)
class QueueBinding:
    """One subscription as the pump sees it: its consumer and its queues."""

    name: str  # <consumer>-<EventType>
    consumer: str
    queue_url: str
    queue_arn: str
    dlq_url: str | None = None
    event_type: str = ""
    publisher: str = ""
    queue_name: str = ""
    dlq_name: str = ""


@dataclass
class SubscriptionStats:
    name: str
    consumer: str
    invocations: int = 0  # batches handed to the consumer
    delivered: int = 0  # messages the consumer processed (deleted from the queue)
    failed: int = 0  # message deliveries that failed (they are retried, then dead-lettered)
    in_dlq: int | None = None  # approximate messages in the DLQ, in flight included (None: not known)
    last_error: str | None = None
    last_delivery_ms: float | None = None
    in_flight: int = 0  # batches being handled now
    peak_in_flight: int = 0  # the most batches handled at once

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "consumer": self.consumer,
            "invocations": self.invocations,
            "delivered": self.delivered,
            "failed": self.failed,
            "in_dlq": self.in_dlq,
            "last_error": self.last_error,
            "last_delivery_ms": self.last_delivery_ms,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
        }


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """An SQS API message attribute in the Lambda record's spelling (binary values in base64)."""

    def b64(raw: Any) -> str:
        return base64.b64encode(raw if isinstance(raw, bytes) else str(raw).encode()).decode()

    out: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [b64(v) for v in value.get("BinaryListValues") or []],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = b64(value["BinaryValue"])
    return out


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str = DEFAULT_REGION) -> dict[str, Any]:
    """One record of Lambda's SQS event from a ``ReceiveMessage`` message."""
    attributes = message.get("Attributes") or {}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: str(attributes[k]) for k in _RECORD_ATTRIBUTES if k in attributes},
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region})
    return record


def sqs_event(
    messages: Iterable[Mapping[str, Any]], queue_arn: str, region: str = DEFAULT_REGION
) -> dict[str, Any]:
    """Lambda's SQS event for a batch of ``ReceiveMessage`` messages."""
    return {"Records": [sqs_record(m, queue_arn, region) for m in messages]}


def batch_failures(response: Any, message_ids: Sequence[str]) -> set[str]:
    """The ids of the messages that failed, from a ``ReportBatchItemFailures`` answer.

    As Lambda: ``None``, ``{}``, and a null or empty ``batchItemFailures`` mean every message
    succeeded (an answer without the key too); ``InvalidBatchResponseError`` (the whole batch failed)
    when the answer is not an object, the list is not a list, or an entry has no, an empty, or an
    unknown ``itemIdentifier``.
    """
    if response is None:
        return set()
    if not isinstance(response, Mapping):
        raise InvalidBatchResponseError(f"the answer is a {type(response).__name__}, not an object")
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise InvalidBatchResponseError("batchItemFailures is not a list")
    known = set(message_ids)
    failed: set[str] = set()
    for entry in failures:
        if not isinstance(entry, Mapping) or "itemIdentifier" not in entry:
            raise InvalidBatchResponseError(f"batchItemFailures entry {entry!r} has no itemIdentifier")
        item = entry["itemIdentifier"]
        if not isinstance(item, str) or not item:
            raise InvalidBatchResponseError(f"batchItemFailures entry {entry!r}: empty itemIdentifier")
        if item not in known:
            raise InvalidBatchResponseError(f"itemIdentifier {item!r} is not a message of this batch")
        failed.add(item)
    return failed


@dataclass
class _Pumped:
    binding: QueueBinding
    stats: SubscriptionStats
    timeout: float
    concurrency: int = 1  # pollers (batches in progress) at most
    pollers: int = 0
    visibility: int | None = None  # the queue's visibility timeout: when a failed message comes back
    task: asyncio.Task[None] | None = None
    error: str | None = field(default=None)  # the last receive error logged (logged once per streak)


class EventPump:
    """Pumps every subscription queue into its consumer; see the module docstring.

    ``sqs`` is a boto3 SQS client (thread-safe, shared); ``invoker`` the worker pool (or anything with
    its ``invoke``); ``timeout_of(consumer)`` the consumer's Lambda timeout in seconds.
    """

    def __init__(
        self,
        bindings: Iterable[QueueBinding],
        invoker: Invoker,
        sqs: Any,
        *,
        batch_size: int = 10,
        timeout_of: Callable[[str], float] = lambda _consumer: 30.0,
        concurrency_of: Callable[[QueueBinding], int] = lambda _binding: 1,
        visibility_timeout: int | None = None,
        hold_seconds: int = HOLD_SECONDS,
        wait_seconds: int = RECEIVE_WAIT_SECONDS,
        dlq_refresh_seconds: float = DLQ_REFRESH_SECONDS,
        region: str = DEFAULT_REGION,
        log: Log | None = None,
        observer: Any = None,
    ) -> None:
        self._observer = observer  # .delivered(binding, messages, failed, why, ms), .dlq_grew(binding)
        self._subs = [
            _Pumped(
                binding=b,
                stats=SubscriptionStats(b.name, b.consumer),
                timeout=float(timeout_of(b.consumer)),
                concurrency=max(1, concurrency_of(b)),
            )
            for b in bindings
        ]
        for sub in self._subs:  # the queues' own visibility timeout; None: read from each queue
            sub.visibility = visibility_timeout
        self.hold_seconds = max(2, hold_seconds)
        self._invoker = invoker
        self._sqs = sqs
        self.batch_size = batch_size
        self._wait = wait_seconds
        self._dlq_refresh = dlq_refresh_seconds
        self._region = region
        self._log = log if log is not None else (lambda _line: None)
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._held: dict[int, tuple[_Pumped, list[Mapping[str, Any]]]] = {}  # batches received, not settled
        self._stopping = False

    @property
    def bindings(self) -> list[QueueBinding]:
        return [s.binding for s in self._subs]

    def stats(self) -> list[SubscriptionStats]:
        return [s.stats for s in self._subs]

    async def _call(self, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        assert self._executor is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(**kwargs))

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks or not self._subs:
            return
        # per poller: one thread for its long poll, one for its batch's visibility and deletes; one for the DLQs
        threads = 2 * sum(s.concurrency for s in self._subs) + 1
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hms-pump")
        self._stopping = False
        self._tasks = [self._poller(s) for s in self._subs]
        self._tasks.append(asyncio.create_task(self._watch_dlqs(), name="hms-pump-dlqs"))

    async def stop(self) -> None:
        """Stop pumping at once. A batch being handled is abandoned undeleted: SQS redelivers it after
        the queue's visibility timeout, as it would a failed one (not after the longer hold)."""
        self._stopping = True
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        held, self._held = list(self._held.values()), {}
        for sub, messages in held:
            if sub.visibility is not None and self._executor is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._set_visibility(sub.binding, messages, sub.visibility), 5)
        if self._executor is not None:
            # a long poll in flight ends within WaitTimeSeconds; nothing waits for it
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def __aenter__(self) -> EventPump:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def threads_needed(self) -> int:
        """Connections the SQS client should allow: one per thread of the pump."""
        return 2 * sum(s.concurrency for s in self._subs) + 1

    # -- one subscription ----------------------------------------------------------------------

    def _poller(self, sub: _Pumped, *, extra: bool = False) -> asyncio.Task[None]:
        sub.pollers += 1
        task = asyncio.create_task(
            self._pump(sub, extra=extra), name=f"hms-pump-{sub.binding.name}-{sub.pollers}"
        )
        task.add_done_callback(lambda _t: self._poller_done(sub, task))
        return task

    def _poller_done(self, sub: _Pumped, task: asyncio.Task[None]) -> None:
        sub.pollers -= 1
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    async def _pump(self, sub: _Pumped, *, extra: bool = False) -> None:
        """Receive and deliver batches; an ``extra`` poller ends when the queue has no backlog left."""
        backoff = ERROR_BACKOFF_START
        while sub.visibility is None and not self._stopping:
            try:
                attrs = await self._call(
                    self._sqs.get_queue_attributes,
                    QueueUrl=sub.binding.queue_url,
                    AttributeNames=["VisibilityTimeout"],
                )
                sub.visibility = int(attrs["Attributes"]["VisibilityTimeout"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                sub.error = sub.stats.last_error = f"cannot read the queue's visibility timeout: {exc}"
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX)
        while not self._stopping:
            try:
                resp = await self._call(self._receive, sub=sub, wait=0 if extra else self._wait)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the endpoint went away, throttled...: back off, keep trying
                reason = f"receive failed: {type(exc).__name__}: {exc}"
                if reason != sub.error:
                    self._log(f"[events] {sub.binding.name}: {reason}; retrying")
                sub.error = sub.stats.last_error = reason
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX)
                continue
            if sub.error is not None:
                self._log(f"[events] {sub.binding.name}: receiving again")
                sub.error = None
            backoff = ERROR_BACKOFF_START
            messages = resp.get("Messages") or []
            if not messages:
                if extra:
                    return
                continue
            if len(messages) > 1 and sub.pollers < sub.concurrency and not self._stopping:
                self._tasks.append(self._poller(sub, extra=True))  # a backlog: one more batch at once
            self._held[id(messages)] = (sub, messages)
            try:
                await self.deliver(sub, messages)
            finally:
                self._held.pop(id(messages), None)

    async def deliver(self, sub: _Pumped, messages: list[Mapping[str, Any]]) -> set[str]:
        """Invoke the consumer with one batch and settle it; returns the ids that failed."""
        binding, stats = sub.binding, sub.stats
        ids = [str(m["MessageId"]) for m in messages]
        event = sqs_event(messages, binding.queue_arn, self._region)
        started = time.perf_counter()
        why: str | None = None
        stats.invocations += 1
        stats.in_flight += 1
        stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
        holding = asyncio.create_task(self._hold(binding, messages))
        try:
            response = await self._invoker.invoke(
                binding.consumer, event, timeout=sub.timeout, throttle=False
            )
            failed = batch_failures(response, ids)
        except asyncio.CancelledError:
            raise
        except InvalidBatchResponseError as exc:
            failed, why = set(ids), f"invalid batch response: {exc}"
        except Exception as exc:  # crashed, timed out, raised, unavailable: Lambda deletes nothing
            failed, why = set(ids), f"{type(exc).__name__}: {exc}"
        finally:
            holding.cancel()
            stats.in_flight -= 1
        ms = (time.perf_counter() - started) * 1000
        done = [m for m in messages if str(m["MessageId"]) not in failed]
        undeleted = await self._delete(binding, done) if done else 0
        if failed and sub.visibility is not None:
            # the retry comes after the queue's visibility timeout, as if the batch had just been received
            await self._set_visibility(
                binding, [m for m in messages if str(m["MessageId"]) in failed], sub.visibility
            )
        stats.delivered += len(done)
        stats.failed += len(failed)
        stats.last_delivery_ms = round(ms, 1)
        if why is not None:
            stats.last_error = why
        elif failed:
            stats.last_error = f"{len(failed)} message(s) reported in batchItemFailures"
        line = (
            f"[events] {binding.name}: {len(messages)} message(s) -> {binding.consumer}, "
            f"{len(failed)} failed, {ms:.0f} ms"
        )
        if why is not None:
            line += f" ({why}; the batch comes back after the visibility timeout)"
        if undeleted:
            line += f"; {undeleted} could not be deleted (they will be delivered again)"
        self._log(line)
        if self._observer is not None:
            self._observer.delivered(binding, messages, failed, why, ms)
        return failed

    def _receive(self, sub: _Pumped, wait: int) -> Any:
        """One long poll (in a pump thread). Messages it brings back after a stop began have nobody to
        handle them: they are released at once to the queue's visibility timeout, not held."""
        resp = self._sqs.receive_message(
            QueueUrl=sub.binding.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait,
            VisibilityTimeout=self.hold_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = resp.get("Messages") or []
        if messages and self._stopping and sub.visibility is not None:
            with contextlib.suppress(Exception):
                self._sqs.change_message_visibility_batch(
                    QueueUrl=sub.binding.queue_url,
                    Entries=[
                        {
                            "Id": str(i),
                            "ReceiptHandle": m["ReceiptHandle"],
                            "VisibilityTimeout": sub.visibility,
                        }
                        for i, m in enumerate(messages[:10])
                    ],
                )
            return {}
        return resp

    async def _hold(self, binding: QueueBinding, messages: list[Mapping[str, Any]]) -> None:
        """Keep a batch in progress invisible: extend it every ``hold / 2`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.hold_seconds / 2)
            await self._set_visibility(binding, messages, self.hold_seconds)

    async def _set_visibility(
        self, binding: QueueBinding, messages: list[Mapping[str, Any]], seconds: int
    ) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
                for i, m in enumerate(chunk)
            ]
            try:
                await self._call(
                    self._sqs.change_message_visibility_batch, QueueUrl=binding.queue_url, Entries=entries
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the message comes back a little early or late: no harm done
                self._log(f"[events] {binding.name}: visibility change failed: {exc}")

    async def _delete(self, binding: QueueBinding, messages: list[Mapping[str, Any]]) -> int:
        """Delete the processed messages (batches of 10); returns how many could not be deleted."""
        left = 0
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
            try:
                resp = await self._call(
                    self._sqs.delete_message_batch, QueueUrl=binding.queue_url, Entries=entries
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._log(f"[events] {binding.name}: delete failed: {exc}")
                left += len(chunk)
                continue
            left += len(resp.get("Failed") or [])
        return left

    # -- DLQ counts ----------------------------------------------------------------------------

    async def refresh_dlq_counts(self) -> None:
        """Read each DLQ's approximate message count; log when one grows."""
        for sub in self._subs:
            url = sub.binding.dlq_url
            if url is None:
                continue
            try:
                attrs = await self._call(
                    self._sqs.get_queue_attributes,
                    QueueUrl=url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )
                # in flight too: a message being peeked (`hms dlq list`) is still a dead letter
                count = sum(int(v) for v in attrs["Attributes"].values())
            except asyncio.CancelledError:
                raise
            except (BotoCoreError, ClientError, KeyError, ValueError):  # the receive loop reports it
                continue
            before = sub.stats.in_dlq
            sub.stats.in_dlq = count
            if before is not None and count > before:
                if self._observer is not None:
                    self._observer.dlq_grew(sub.binding)
                self._log(
                    f"[events] {sub.binding.name}: {count - before} message(s) moved to the DLQ "
                    f"{sub.binding.dlq_name or url} ({count} there; see `hms dlq list {sub.binding.name}`)"
                )

    async def _watch_dlqs(self) -> None:
        while not self._stopping:
            await self.refresh_dlq_counts()
            await asyncio.sleep(self._dlq_refresh)


def bindings_of(subscriptions: Iterable[Any]) -> list[QueueBinding]:
    """Queue bindings from ``Provisioned.subscriptions`` values (``SubscriptionResources``)."""
    out = []
    for res in subscriptions:
        sub = res.subscription
        out.append(
            QueueBinding(
                name=sub.name,
                consumer=sub.consumer,
                queue_url=res.queue_url,
                queue_arn=res.queue_arn,
                dlq_url=res.dlq_url,
                event_type=sub.event_type,
                publisher=sub.publisher,
                queue_name=res.queue_name,
                dlq_name=res.dlq_name,
            )
        )
    return out
