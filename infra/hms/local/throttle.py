"""API Gateway's route throttling, locally: the manifest's ``throttle: {rate, burst}``.

A token bucket per route (API Gateway applies a route's ``ThrottlingRateLimit`` and
``ThrottlingBurstLimit`` to all callers together): ``burst`` requests at once, refilled at ``rate``
per second. Past it the gateway answers 429 before the token is verified or the window invoked.
Routes of a manifest without ``throttle`` are not throttled locally (in AWS the stage default
applies: 500 rps, burst 1000). A bucket is keyed by the route *and* its settings, so a manifest
whose throttle changed is in force with the next request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from hms.model import Route, Window


class RouteThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, float, int], tuple[float, float]] = {}  # -> (tokens, at)

    def retry_after(self, window: Window, route: Route) -> int | None:
        """Take one token for a request on ``route``: None when allowed, else seconds to wait."""
        throttle = window.throttle
        if throttle is None:
            return None
        key = (route.key, throttle.rate, throttle.burst)
        now = self._clock()
        tokens, at = self._buckets.get(key, (float(throttle.burst), now))
        tokens = min(float(throttle.burst), tokens + (now - at) * throttle.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / throttle.rate))
        self._buckets[key] = (tokens - 1.0, now)
        return None
