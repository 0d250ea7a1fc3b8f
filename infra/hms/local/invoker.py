"""What the gateway and the event pump need of whatever runs the windows: the worker pool
(``hms.local.workers``), the relay around it (``hms.local.relay``) or a test's stand-in."""

from __future__ import annotations

from typing import Any, Protocol


class Invoker(Protocol):
    async def invoke(
        self,
        window_name: str,
        event: Any,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        throttle: bool = True,
        calls: dict[str, int] | None = None,
    ) -> Any:
        """The handler's result for ``event``, within ``timeout`` seconds (default: the window's own),
        or an ``hms.local.errors`` error. ``throttle=False`` waits for an execution environment as long
        as it takes (a queue mapping within its reserved concurrency is never throttled); ``calls``, when
        given, receives the invocation's AWS calls (``service.Operation`` -> count)."""
        ...
