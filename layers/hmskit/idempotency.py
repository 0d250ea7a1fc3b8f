"""Idempotency-Key for POST, on Powertools idempotency and the window's own table.

A client that retries a POST with the same ``Idempotency-Key`` gets the first response again and no
second effect. The key is scoped to the principal and the route, so two citizens never collide; a
reused key with a different body is refused (422), and a retry while the first attempt still runs
gets 409.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hmskit.problems import BadRequestError, ConflictError, ServiceUnavailableError, UnprocessableError

HEADER = "idempotency-key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

StoredResponse = dict[str, Any]


class IdempotencyError(Exception):
    """The idempotency record could not be read or written."""


def window_table_layer(client: Any, table_name: str, partition: str) -> Any:
    """Powertools' DynamoDB persistence on the window's own single table: one partition per use,
    records expiring through the table's TTL attribute."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=partition,
        expiry_attr="expires_at",
        boto3_client=client,
    )


class Idempotency:
    def __init__(self, client: Any, table_name: str, *, ttl_seconds: int, scope: str) -> None:
        self._client = client
        self._table_name = table_name
        self._ttl = ttl_seconds
        self._scope = scope
        self._layer: Any = None
        self._config: Any = None

    def _persistence(self) -> tuple[Any, Any]:
        if self._layer is None:
            from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

            self._layer = window_table_layer(self._client, self._table_name, f"IDEMPOTENCY#{self._scope}")
            self._config = IdempotencyConfig(
                event_key_jmespath="[principal, route, key]",
                payload_validation_jmespath="body",
                expires_after_seconds=self._ttl,
            )
        return self._layer, self._config

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

        ``context`` (the Lambda context) bounds the in-progress record by the invocation's remaining
        time: if the function dies mid-request, a retry may proceed once that time has passed instead
        of getting 409 until the record expires.
        """
        if key is None:
            return compute()
        if not _KEY.match(key):
            raise BadRequestError(
                "Idempotency-Key must be 1 to 255 visible ASCII characters", slug="bad-idempotency-key"
            )
        from aws_lambda_powertools.utilities.idempotency import idempotent_function
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        layer, config = self._persistence()
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            config.register_lambda_context(context)

        def idempotent_post(request: dict[str, Any]) -> StoredResponse:
            return compute()

        guarded = idempotent_function(
            data_keyword_argument="request", persistence_store=layer, config=config
        )(idempotent_post)
        try:
            result: StoredResponse = guarded(
                request={"principal": principal, "route": route, "key": key, "body": body}
            )
        except IdempotencyValidationError as exc:
            raise UnprocessableError(
                "this Idempotency-Key was already used with a different request body",
                slug="idempotency-key-reused",
            ) from exc
        except IdempotencyAlreadyInProgressError as exc:
            raise ConflictError(
                "a request with this Idempotency-Key is still in progress; retry shortly",
                slug="idempotency-in-progress",
                headers={"Retry-After": "1"},
            ) from exc
        except IdempotencyPersistenceLayerError as exc:
            raise ServiceUnavailableError(
                "the idempotency record could not be stored; retry with the same key",
                slug="idempotency-unavailable",
            ) from exc
        return result
