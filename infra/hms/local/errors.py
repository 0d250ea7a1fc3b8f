"""What can go wrong when the gateway invokes a window: the worker pool raises these, the gateway maps them.

| error                   | meaning                                                 | gateway answer |
| ----------------------- | ------------------------------------------------------- | -------------- |
| WindowCrashedError      | the worker process died while handling the request     | 502            |
| WindowFailedError       | the handler raised (Lambda's "function error")          | 502            |
| WindowTimeoutError      | no answer within the window's timeout (worker recycled) | 504            |
| WindowUnavailableError  | no worker can take the request (starting, broken)       | 503            |
"""

from __future__ import annotations


class WorkerError(Exception):
    """A window could not produce a response. ``window`` names it when known."""

    def __init__(self, message: str, *, window: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.window = window


class WindowCrashedError(WorkerError):
    """The worker process exited (segfault, ``os._exit``, OOM) before answering."""


class WindowFailedError(WorkerError):
    """The handler raised; ``error_type`` is the exception's type name (``KeyError``)."""

    def __init__(self, message: str, *, window: str | None = None, error_type: str | None = None) -> None:
        super().__init__(message, window=window)
        self.error_type = error_type


class WindowTimeoutError(WorkerError):
    """The handler did not answer within the window's timeout; the worker is being recycled."""


class WindowUnavailableError(WorkerError):
    """No worker can take the request now; ``retry_after`` seconds is a fair wait."""

    def __init__(self, message: str, *, window: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, window=window)
        self.retry_after = retry_after
