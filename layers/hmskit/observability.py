"""Powertools Logger (JSON) and Metrics (EMF), built once per process; Tracer only when enabled.

The Tracer's import alone costs about 0.4 s of cold start, so it is imported only when
``HMS_TRACING`` is on. The correlation id of an HTTP invocation is the client's valid
``X-Correlation-Id``, else the API Gateway request id (``hmskit.correlation``); a consumer sets each
event's own while it handles it.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from hmskit.correlation import correlation_id_of

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

# Most invocations record no metric (a GET, a health check); Powertools warns on every such flush.
warnings.filterwarnings("ignore", message="No application metrics to publish")


@functools.cache
def logger() -> Logger:
    return Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or os.environ.get("HMS_WINDOW"))


@functools.cache
def metrics() -> Metrics:
    return Metrics(
        namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "HMS"),
        service=os.environ.get("POWERTOOLS_SERVICE_NAME") or os.environ.get("HMS_WINDOW"),
    )


def _tracing_enabled() -> bool:
    return os.environ.get("HMS_TRACING", "false").lower() in ("1", "true", "yes")


def entrypoint(handler: Handler) -> Handler:
    """Wrap a Lambda handler: request-scoped JSON logs with a correlation id, EMF metrics flushed
    per invocation, and X-Ray tracing when enabled."""
    log = logger()
    injected = log.inject_lambda_context(handler)

    def with_correlation(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # None for an event batch: the previous request's id must not leak into it
        log.set_correlation_id(correlation_id_of(event) if isinstance(event, dict) else None)
        return injected(event, context)

    wrapped: Handler = with_correlation
    wrapped = metrics().log_metrics(raise_on_empty_metrics=False)(wrapped)
    if _tracing_enabled():
        from aws_lambda_powertools import Tracer

        wrapped = Tracer().capture_lambda_handler(wrapped)
    return functools.wraps(handler)(wrapped)
