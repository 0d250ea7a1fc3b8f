"""The window's own DynamoDB table (single-table design: ``pk``/``sk``).

The store speaks plain Python values (``Decimal`` for numbers, never ``float``) and translates AWS
errors into its own: adapters above it decide what they mean for the domain. The boto3 client is
injected; this module never builds one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

_SER = TypeSerializer()
_DE = TypeDeserializer()

Item = dict[str, Any]


BATCH_WRITE_MAX = 25  # DynamoDB's limit of requests per BatchWriteItem


class StoreError(Exception):
    """The table could not be read or written."""


class AlreadyExistsError(StoreError):
    """A conditional create found the key taken."""


class ConditionFailedError(StoreError):
    """A write's condition did not hold."""


class TransactionConflictError(StoreError):
    """A transaction was cancelled (a condition failed or it conflicted with another)."""

    def __init__(self, message: str, *, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or []

    @property
    def condition_failed(self) -> bool:
        return "ConditionalCheckFailed" in self.reasons


def to_dynamo(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _SER.serialize(v) for k, v in item.items() if v is not None}


def from_dynamo(raw: Mapping[str, Any]) -> Item:
    return {k: _DE.deserialize(v) for k, v in raw.items()}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class TableStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    @property
    def client(self) -> Any:
        return self._client

    def put_new(self, item: Mapping[str, Any]) -> None:
        """Create an item; ``AlreadyExistsError`` if its key is taken."""
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=to_dynamo(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise AlreadyExistsError(f"{item['pk']}/{item['sk']} already exists") from exc
            raise StoreError(f"put_item failed: {_code(exc)}") from exc

    def put(
        self,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Item": to_dynamo(item)}
        if condition:
            kwargs["ConditionExpression"] = condition
        if values:
            kwargs["ExpressionAttributeValues"] = to_dynamo(values)
        try:
            self._client.put_item(**kwargs)
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise ConditionFailedError(f"condition failed for {item['pk']}/{item['sk']}") from exc
            raise StoreError(f"put_item failed: {_code(exc)}") from exc

    def get(self, pk: str, sk: str) -> Item | None:
        try:
            resp = self._client.get_item(
                TableName=self.table_name,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise StoreError(f"get_item failed: {_code(exc)}") from exc
        raw = resp.get("Item")
        return from_dynamo(raw) if raw else None

    def delete(self, pk: str, sk: str) -> None:
        try:
            self._client.delete_item(TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}})
        except ClientError as exc:
            raise StoreError(f"delete_item failed: {_code(exc)}") from exc

    def delete_many(
        self,
        keys: Iterable[tuple[str, str]],
        *,
        attempts: int = 3,
        backoff: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[tuple[str, str]]:
        """Delete items by (pk, sk), 25 per ``BatchWriteItem``; the keys still not deleted after
        ``attempts`` rounds of the unprocessed ones (throttling), or of a round that failed. Rounds
        after the first wait ``backoff`` seconds, doubling, as AWS asks for unprocessed items."""
        left = list(dict.fromkeys(keys))
        for attempt in range(attempts):
            if not left:
                break
            if attempt:
                sleep(backoff * 2 ** (attempt - 1))
            retry: list[tuple[str, str]] = []
            for start in range(0, len(left), BATCH_WRITE_MAX):
                chunk = left[start : start + BATCH_WRITE_MAX]
                requests = [
                    {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}} for pk, sk in chunk
                ]
                try:
                    resp = self._client.batch_write_item(RequestItems={self.table_name: requests})
                except ClientError:
                    retry.extend(chunk)
                    continue
                for req in (resp.get("UnprocessedItems") or {}).get(self.table_name, []):
                    key = req["DeleteRequest"]["Key"]
                    retry.append((key["pk"]["S"], key["sk"]["S"]))
            left = retry
        return left

    def query_page(
        self,
        pk: str,
        *,
        sk_prefix: str,
        limit: int,
        after_sk: str | None = None,
        newest_first: bool = True,
    ) -> tuple[list[Item], str | None]:
        """One page of a partition, and the sort key to continue after (``None`` at the end).

        DynamoDB reports a last key whenever it stops at ``Limit``, even with nothing after it (moto
        does not): one item more is asked for, so ``None`` means the end on both. It may also stop a
        page early (1 MB); the caller only ever sees an opaque continuation, never the key shape.
        """
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
            "ScanIndexForward": not newest_first,
            "Limit": limit + 1,
        }
        if after_sk is not None:
            kwargs["ExclusiveStartKey"] = {"pk": {"S": pk}, "sk": {"S": after_sk}}
        try:
            resp = self._client.query(**kwargs)
        except ClientError as exc:
            if _code(exc) == "ValidationException":
                raise ConditionFailedError(f"invalid continuation: {exc}") from exc
            raise StoreError(f"query failed: {_code(exc)}") from exc
        raw_items = resp.get("Items", [])
        if len(raw_items) > limit:  # more follow: continue after the last one answered
            raw_items = raw_items[:limit]
            return [from_dynamo(raw) for raw in raw_items], raw_items[-1]["sk"]["S"]
        last = resp.get("LastEvaluatedKey")
        return [from_dynamo(raw) for raw in raw_items], (last["sk"]["S"] if last else None)

    def increment(self, pk: str, sk: str, *, attr: str, expires_at: int) -> int:
        """Atomically add one to a counter and return its new value (one round trip)."""
        try:
            resp = self._client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                UpdateExpression="ADD #n :one SET expires_at = if_not_exists(expires_at, :exp)",
                ExpressionAttributeNames={"#n": attr},
                ExpressionAttributeValues={":one": {"N": "1"}, ":exp": {"N": str(expires_at)}},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            raise StoreError(f"update_item failed: {_code(exc)}") from exc
        return int(resp["Attributes"][attr]["N"])

    def transact_put(self, items: Iterable[Mapping[str, Any]], *, new_keys: bool = True) -> None:
        """Write several new items atomically: all or none (the outbox's primitive)."""
        self.transact(self.put_op(item, new=new_keys) for item in items)

    def update(
        self,
        pk: str,
        sk: str,
        changes: Mapping[str, Any],
        *,
        expect: Mapping[str, Any] | None = None,
        expect_absent: tuple[str, ...] = (),
    ) -> Item:
        """Change attributes of an existing item (``None`` removes one) and return it as written.

        The write happens only if the item exists, every ``expect`` attribute equals its value and
        no ``expect_absent`` attribute is set; otherwise ``ConditionFailedError``. Attribute names
        are always placeholders, so reserved words such as ``status`` are safe.
        """
        kwargs = self.update_op(pk, sk, changes, expect=expect, expect_absent=expect_absent)["Update"]
        kwargs["ReturnValues"] = "ALL_NEW"
        try:
            resp = self._client.update_item(**kwargs)
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise ConditionFailedError(f"condition failed for {pk}/{sk}") from exc
            raise StoreError(f"update_item failed: {_code(exc)}") from exc
        return from_dynamo(resp.get("Attributes", {}))

    def set_if(
        self,
        pk: str,
        sk: str,
        changes: Mapping[str, Any],
        *,
        condition: str,
        values: Mapping[str, Any] | None = None,
    ) -> tuple[bool, Item]:
        """Set ``changes`` on an item (created when absent) if ``condition`` holds (its values named
        ``:...`` in ``values``). One round trip either way: (True, the item as written), or (False,
        the item as stored, which DynamoDB returns with the refusal)."""
        names = {f"#a{i}": name for i, name in enumerate(changes)}
        sets = {f":a{i}": value for i, value in enumerate(changes.values())}
        try:
            resp = self._client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                UpdateExpression="SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(changes))),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_dynamo({**sets, **(values or {})}),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False, from_dynamo(exc.response.get("Item") or {})
            raise StoreError(f"update_item failed: {_code(exc)}") from exc
        return True, from_dynamo(resp.get("Attributes", {}))

    # -- transactions: several items of this table, all or none ----------------------------------------
    def put_op(self, item: Mapping[str, Any], *, new: bool = True) -> dict[str, Any]:
        """A transaction Put; ``new`` makes it fail when the key exists (never overwrite)."""
        put: dict[str, Any] = {"TableName": self.table_name, "Item": to_dynamo(item)}
        if new:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        return {"Put": put}

    def update_op(
        self,
        pk: str,
        sk: str,
        changes: Mapping[str, Any],
        *,
        expect: Mapping[str, Any] | None = None,
        expect_absent: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """A transaction Update of an existing item (see ``update``); ``expect_absent`` names
        attributes that must not be set yet (a saga step that may happen once)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets: list[str] = []
        removes: list[str] = []
        for i, (attr, value) in enumerate(changes.items()):
            names[f"#u{i}"] = attr
            if value is None:
                removes.append(f"#u{i}")
            else:
                values[f":u{i}"] = value
                sets.append(f"#u{i} = :u{i}")
        conditions = ["attribute_exists(pk)"]
        for i, (attr, value) in enumerate((expect or {}).items()):
            names[f"#c{i}"] = attr
            values[f":c{i}"] = value
            conditions.append(f"#c{i} = :c{i}")
        for i, attr in enumerate(expect_absent):
            names[f"#a{i}"] = attr
            conditions.append(f"attribute_not_exists(#a{i})")
        expression = " ".join(
            part
            for part in (
                f"SET {', '.join(sets)}" if sets else "",
                f"REMOVE {', '.join(removes)}" if removes else "",
            )
            if part
        )
        if not expression:
            raise ValueError("update needs at least one change")
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
            "UpdateExpression": expression,
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
        }
        if values:
            update["ExpressionAttributeValues"] = to_dynamo(values)
        return {"Update": update}

    def delete_op(self, pk: str, sk: str) -> dict[str, Any]:
        return {"Delete": {"TableName": self.table_name, "Key": {"pk": {"S": pk}, "sk": {"S": sk}}}}

    def transact(self, ops: Iterable[Mapping[str, Any]]) -> None:
        """Run ``put_op``/``update_op``/``delete_op`` operations atomically: all or none.

        ``TransactionConflictError`` carries the cancellation reasons (one per operation, in order;
        ``"ConditionalCheckFailed"`` or ``"None"``) so the caller can tell which condition failed.
        """
        items = list(ops)
        if not items:
            return
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _code(exc) == "TransactionCanceledException":
                reasons = [str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])]
                raise TransactionConflictError(str(exc), reasons=reasons) from exc
            raise StoreError(f"transact_write_items failed: {_code(exc)}") from exc
