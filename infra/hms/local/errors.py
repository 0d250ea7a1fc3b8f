"""What can go wrong when a window is invoked: the worker pool raises these, the gateway maps them.

| error                   | meaning                                                 | gateway answer |
| ----------------------- | ------------------------------------------------------- | -------------- |
| WindowCrashedError      | the worker process died while handling the request     | 502            |
| WindowFailedError       | the handler raised (Lambda's "function error")          | 502            |
| WindowTimeoutError      | no answer within the window's timeout (worker recycled) | 504            |
| WindowUnavailableError  | no worker can take the request (starting, broken)       | 503            |
| WindowThrottledError    | every environment busy at the window's concurrency      | 503            |
| UnknownWindowError      | no window of that name (a manifest ahead of the pool)   | 503            |

Each takes ``(window, message)`` as the pool raises it, or ``(message)`` alone when the window is not
known; ``str()`` is ``"window: message"``, ``message`` the words alone.
"""

from __future__ import annotations

from typing import Any


class WorkerError(Exception):
    """A window could not produce a response. ``window`` names it when known."""

    def __init__(self, *args: str) -> None:
        *named, message = args
        window = named[0] if named else None
        super().__init__(f"{window}: {message}" if window is not None else message)
        self.message = message
        self.window = window


class WindowCrashedError(WorkerError):
    """The worker process exited (segfault, ``os._exit``, OOM) before answering."""


class WindowFailedError(WorkerError):
    """The handler raised; the worker keeps running. ``error_type`` is the exception's type name
    (``KeyError``), ``error_message`` its words, ``trace`` the last lines of its traceback.

    The pool raises ``WindowFailedError(window, error_type, error_message, trace)``; a stand-in may
    raise ``WindowFailedError(message, error_type=...)``."""

    def __init__(self, *args: Any, error_type: str | None = None, trace: list[str] | None = None) -> None:
        if len(args) >= 3:
            window, error_type, error_message, *rest = args
            super().__init__(window, f"{error_type}: {error_message}")
            trace = rest[0] if rest else trace
        else:
            super().__init__(*args)
            error_message = self.message
        self.error_type = error_type
        self.error_message = error_message
        self.trace = list(trace or [])


class WindowTimeoutError(WorkerError):
    """The handler did not answer within the window's timeout; the worker is being recycled."""


class WindowUnavailableError(WorkerError):
    """No worker can take the request now (cannot start, crash loop, stopping); ``retry_after``
    seconds is a fair wait."""

    def __init__(self, *args: str, retry_after: int = 1) -> None:
        super().__init__(*args)
        self.retry_after = retry_after


class WindowThrottledError(WindowUnavailableError):
    """Every environment of the window is busy, it is at its concurrency, and none freed in time."""


class UnknownWindowError(WorkerError, KeyError):
    """No window of that name."""
