"""Idempotency-Key for POST: the key's record is written in the same transaction as the effect.

A client that retries a POST with the same ``Idempotency-Key`` gets the first response again and no
second effect. The key is scoped to the principal and the route, so two citizens never collide; a
reused key with a different body is refused (422).

Why not a record beside the effect (Powertools idempotency, as before): the effect's transaction
and the record were two writes, so a process killed between them left the effect stored and the key
free, and a retry ran the effect again. Here the record is one more item of the effect's own
``TransactWriteItems`` (``Idempotency.transact``): a crash leaves both or neither. So a retry finds

- a completed record: the first response, replayed as it was sent;
- a record without a response (the process died after the commit, before answering): the effect is
  stored, and the window answers from it (``recorded()`` names it) instead of producing it again;
- no record: nothing happened; the request runs.

``compute()`` (``WindowApp.idempotent``) takes no arguments, so the request's claim reaches the
adapter that writes the effect through a context variable set for the duration of ``compute()``.

Records are spread over the table: one partition key per (principal, route, key) digest, never one
partition per window, so DynamoDB spreads them over its partitions like the citizens' own items.

``EventMarks`` is the same idea for a consumed event: a marker keyed on the event id, written as one
more item of the effect's transaction, so a redelivered event finds it and applies nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from hmskit.clock import Clock, SystemClock
from hmskit.consumer import EVENT_IDEMPOTENCY_TTL_SECONDS, AlreadyAppliedError, IdempotentEffects
from hmskit.problems import BadRequestError, ConflictError, ServiceUnavailableError, UnprocessableError
from hmskit.store import ConditionFailedError, StoreError, TableStore, TransactionConflictError

HEADER = "idempotency-key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
PK_PREFIX = "IDEMPOTENCY#"
RECORD_SK = "IDEMPOTENCY"
MAX_ROUNDS = 3  # reads of a record another attempt is writing at the same moment, before 409

StoredResponse = dict[str, Any]


class IdempotencyError(Exception):
    """The idempotency record could not be read or written."""


class KeyClaimedError(Exception):
    """Another attempt with the same Idempotency-Key committed its effect first (this one wrote
    nothing): the caller answers with that attempt's result."""


def record_key(scope: str, principal: str, route: str, key: str) -> tuple[str, str]:
    """(pk, sk) of a key's record: a partition of its own, named by a digest (no citizen id in it)."""
    digest = hashlib.sha256(f"{principal}\n{route}\n{key}".encode()).hexdigest()[:32]
    return f"{PK_PREFIX}{scope}#{digest}", RECORD_SK


def fingerprint(body: Any) -> str:
    """The request body's digest: the same request is the same canonical JSON."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Claim:
    """The Idempotency-Key of the request being computed."""

    pk: str
    sk: str
    fingerprint: str
    now: int
    expires_at: int
    resource: str | None = None  # the effect a first attempt committed, when this is its retry
    written: bool = False  # the record went into the effect's transaction


class EventMarks(IdempotentEffects):
    """A consumer's event dedupe carried by its effect: the event id's marker in the same
    ``TransactWriteItems`` as the effect (``transact``), conditioned on not being there yet.

    The marker and the effect commit together or not at all, so a redelivery of an applied event
    (a crash after the commit, before the message was acknowledged; a re-published event) has its
    transaction cancelled by the marker's condition: ``AlreadyAppliedError``, and the consumer
    acknowledges it as a duplicate. A handler that writes nothing for an event (its state check
    found the step recorded, or the event is not for it) needs no marker: reading is idempotent.

    The marker lives ``ttl_seconds`` (15 days, beyond SQS's longest retention, DLQ included), in a
    partition of its own per event.
    """

    def __init__(
        self,
        store: TableStore,
        *,
        scope: str,
        ttl_seconds: int = EVENT_IDEMPOTENCY_TTL_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._scope = scope
        self._ttl = ttl_seconds
        self._clock = clock or SystemClock()
        self._current: ContextVar[str | None] = ContextVar(f"event-marks-{scope}", default=None)

    def once(self, event_id: str, effect: Callable[[], object], context: Any = None) -> bool:
        with self.applying(event_id):
            return super().once(event_id, effect, context)

    @contextmanager
    def applying(self, event_id: str) -> Iterator[None]:
        """``transact`` marks ``event_id`` while this lasts (the consumer's handler runs inside)."""
        token = self._current.set(event_id)
        try:
            yield
        finally:
            self._current.reset(token)

    def key(self, event_id: str) -> tuple[str, str]:
        return f"{PK_PREFIX}{self._scope}#event#{event_id}", "EVENT"

    def transact(self, store: TableStore, ops: Sequence[dict[str, Any]]) -> None:
        """The effect's transaction, with the consumed event's marker as its last item when an event
        is being applied. ``AlreadyAppliedError`` when the marker was there (nothing was written);
        other cancellations propagate as they are."""
        event_id = self._current.get()
        if event_id is None:
            store.transact(ops)
            return
        now = int(self._clock.now())
        pk, sk = self.key(event_id)
        item = {"pk": pk, "sk": sk, "type": "event", "event_id": event_id, "expires_at": now + self._ttl}
        marker = self._store.put_op(item, new=False)
        marker["Put"]["ConditionExpression"] = "attribute_not_exists(pk) OR expires_at < :now"
        marker["Put"]["ExpressionAttributeValues"] = {":now": {"N": str(now)}}
        try:
            store.transact([*ops, marker])
        except TransactionConflictError as exc:
            if exc.reasons and exc.reasons[-1] == "ConditionalCheckFailed":
                raise AlreadyAppliedError(f"event {event_id} was applied already") from exc
            raise


def window_table_layer(client: Any, table_name: str, partition: str) -> Any:
    """Powertools' DynamoDB persistence on the window's own single table (the event deduplicator's):
    each record in a partition of its own (``<partition>#<digest>``), expiring through the table's
    TTL attribute. One static partition per window would put every record on one partition key."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

    class SpreadLayer(DynamoDBPersistenceLayer):
        def _get_key(self, idempotency_key: str) -> dict[str, Any]:
            digest = idempotency_key.rsplit("#", 1)[-1]
            return {"pk": {"S": f"{partition}#{digest}"}, "sk": {"S": idempotency_key}}

        def _item_to_data_record(self, item: dict[str, Any]) -> DataRecord:
            record: DataRecord = super()._item_to_data_record(item)
            record.idempotency_key = str(item["sk"]["S"])
            return record

    return SpreadLayer(
        table_name=table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=partition,
        expiry_attr="expires_at",
        boto3_client=client,
    )


class Idempotency:
    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        ttl_seconds: int,
        scope: str,
        clock: Clock | None = None,
    ) -> None:
        self._store = TableStore(client, table_name)
        self._ttl = ttl_seconds
        self._scope = scope
        self._clock = clock or SystemClock()
        self._current: ContextVar[Claim | None] = ContextVar(f"idempotency-{scope}", default=None)

    # -- for the adapter that writes the effect ----------------------------------------------------
    def recorded(self) -> str | None:
        """The resource a first attempt of this very request committed (its answer was lost), if any:
        the window answers with it instead of producing the effect again."""
        claim = self._current.get()
        return claim.resource if claim is not None else None

    def transact(self, store: TableStore, ops: Sequence[dict[str, Any]], *, resource: str) -> None:
        """The effect's transaction, with the request's idempotency record as its last item when
        the request carries an Idempotency-Key. ``KeyClaimedError`` when another attempt with the
        same key committed first (nothing was written); other cancellations propagate as they are."""
        claim = self._current.get()
        if claim is None:
            store.transact(ops)
            return
        try:
            store.transact([*ops, self._claim_op(claim, resource)])
        except TransactionConflictError as exc:
            if exc.reasons and exc.reasons[-1] == "ConditionalCheckFailed":
                raise KeyClaimedError("another attempt with this Idempotency-Key came first") from exc
            raise
        claim.written = True
        claim.resource = resource

    def _claim_op(self, claim: Claim, resource: str) -> dict[str, Any]:
        item = {
            "pk": claim.pk,
            "sk": claim.sk,
            "type": "idempotency",
            "fingerprint": claim.fingerprint,
            "resource": resource,
            "expires_at": claim.expires_at,
        }
        put = self._store.put_op(item, new=False)
        put["Put"]["ConditionExpression"] = "attribute_not_exists(pk) OR expires_at < :now"
        put["Put"]["ExpressionAttributeValues"] = {":now": {"N": str(claim.now)}}
        return put

    # -- for WindowApp.idempotent ------------------------------------------------------------------
    def run(
        self,
        *,
        key: str | None,
        principal: str,
        route: str,
        body: Any,
        compute: Callable[[], StoredResponse],
        context: Any = None,
    ) -> StoredResponse:
        """``compute()`` once per (principal, route, key); later calls replay its result.

        ``context`` (the Lambda context) is accepted for the caller's sake and not needed: no record
        is ever left "in progress", so a retry never waits for one to expire.
        """
        if key is None:
            return compute()
        if not _KEY.match(key):
            raise BadRequestError(
                "Idempotency-Key must be 1 to 255 visible ASCII characters", slug="bad-idempotency-key"
            )
        pk, sk = record_key(self._scope, principal, route, key)
        digest = fingerprint(body)
        for _round in range(MAX_ROUNDS):
            now = int(self._clock.now())
            record = self._read(pk, sk, now)
            if record is not None:
                if record.get("fingerprint") != digest:
                    raise UnprocessableError(
                        "this Idempotency-Key was already used with a different request body",
                        slug="idempotency-key-reused",
                    )
                if record.get("response"):
                    return dict(json.loads(str(record["response"])))
            claim = Claim(
                pk,
                sk,
                digest,
                now,
                now + self._ttl,
                resource=str(record["resource"]) if record and record.get("resource") else None,
                written=record is not None,
            )
            token = self._current.set(claim)
            try:
                response = compute()
            except KeyClaimedError:
                continue  # another attempt committed first: its record answers on the next round
            finally:
                self._current.reset(token)
            stored = self._complete(claim, response)
            if stored is not None:
                return stored
        raise ConflictError(
            "a request with this Idempotency-Key is still in progress; retry shortly",
            slug="idempotency-in-progress",
            headers={"Retry-After": "1"},
        )

    def _read(self, pk: str, sk: str, now: int) -> dict[str, Any] | None:
        try:
            record = self._store.get(pk, sk)
        except StoreError as exc:
            raise ServiceUnavailableError(
                "the idempotency record could not be read; retry with the same key",
                slug="idempotency-unavailable",
            ) from exc
        if record is None or int(record.get("expires_at", 0)) < now:
            return None  # TTL deletes late (moto never): an expired record is no record
        return record

    def _complete(self, claim: Claim, response: StoredResponse) -> StoredResponse | None:
        """Store the answer on the record; the answer to give (``None``: read the record again).

        The effect is committed already, so a failure to store its answer never fails the request:
        a retry finds the record without a response and answers from the stored effect."""
        text = json.dumps(response, separators=(",", ":"), default=str)
        try:
            if claim.written:
                self._store.update(
                    claim.pk,
                    claim.sk,
                    {"response": text},
                    expect={"fingerprint": claim.fingerprint},
                    expect_absent=("response",),
                )
            else:  # an effect that needed no transaction of its own (already idempotent by state)
                self._store.put(
                    {
                        "pk": claim.pk,
                        "sk": claim.sk,
                        "type": "idempotency",
                        "fingerprint": claim.fingerprint,
                        "response": text,
                        "expires_at": claim.expires_at,
                    },
                    condition="attribute_not_exists(pk) OR expires_at < :now",
                    values={":now": claim.now},
                )
        except ConditionFailedError:
            return None  # another attempt answered first: replay its answer
        except StoreError:
            from hmskit.observability import logger

            logger().exception("the idempotency record's answer could not be stored")
        return response
