"""A window's worker process (its Lambda "container"): cold start once, then serve frames.

Started by ``WorkerPool`` as ``python -m hms.local.worker_main WINDOW CODE_DIR HANDLER TIMEOUT
--fds IN,OUT [--layers DIR] [--memory MB]``. Requests and answers travel as frames (``hms.local.frames``)
over the two inherited pipe fds, so the window's own stdout/stderr stay free for logs.

Frames, parent -> worker: ``{"id": n, "event": {...}, "timeout": s, "request_id": "..."}``.
Worker -> parent: first ``{"ready": true, "pid": ..., "init_ms": ...}`` or ``{"init_error": {...}}``,
then per request ``{"id": n, "result": ...}`` or ``{"id": n, "error": {"type", "message", "trace"}}``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from hms.local.frames import encode_frame, read_frame, write_all


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "trace": traceback.format_exception(exc)[-12:],
    }


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this worker when the supervising process dies (no orphans after a crash)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)


def _context_factory(window: str, timeout: float, memory: int) -> Callable[[float, str], Any]:
    try:
        from hmskit.context import LocalContext
    except ImportError:  # a project without the hmskit layer: a minimal stand-in
        LocalContext = None  # type: ignore[assignment,misc]

    def make(seconds: float, request_id: str) -> Any:
        if LocalContext is not None:
            return LocalContext(
                function_name=window,
                timeout_seconds=seconds,
                memory_limit_in_mb=memory,
                aws_request_id=request_id,
                log_group_name=f"/aws/lambda/{window}",
            )
        return _MinimalContext(window, seconds, memory, request_id)

    return make


class _MinimalContext:
    def __init__(self, name: str, timeout: float, memory: int, request_id: str) -> None:
        self.function_name = name
        self.memory_limit_in_mb = memory
        self.aws_request_id = request_id
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _AwsCalls:
    """Counts this process's AWS API calls (``service.Operation``), each invocation's reported with its
    answer: the pool adds them up per window (``/_hms/health``, ``make bench``). A patch of botocore's
    one call path, so a client built before it (at import) counts too; nothing else changes."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.installed = False

    def install(self) -> None:
        if self.installed or "botocore.client" not in sys.modules:
            return  # not imported yet (or never): tried again before the next invocation
        from botocore.client import BaseClient

        shipped = BaseClient._make_api_call
        counts = self.counts

        def counted(client: Any, operation_name: str, api_params: Any) -> Any:
            key = f"{client.meta.service_model.service_name}.{operation_name}"
            counts[key] = counts.get(key, 0) + 1
            return shipped(client, operation_name, api_params)

        setattr(BaseClient, "_make_api_call", counted)  # noqa: B010 - botocore has no stubs here
        self.installed = True

    def take(self) -> dict[str, int]:
        taken = dict(self.counts)
        self.counts.clear()
        return taken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hms.local.worker_main")
    parser.add_argument("window")
    parser.add_argument("code_dir")
    parser.add_argument("handler", help="module.path.function, e.g. payments.handler.lambda_handler")
    parser.add_argument("timeout", type=float)
    parser.add_argument("--fds", required=True, help="IN,OUT: the request and answer pipe fds")
    parser.add_argument("--layers", action="append", default=[])
    parser.add_argument("--memory", type=int, default=256)
    parser.add_argument("--parent", type=int, default=0)
    parser.add_argument("--quiet-init", action="store_true", help="no traceback for a failed cold start")
    args = parser.parse_args(argv)
    fd_in, fd_out = (int(x) for x in args.fds.split(","))
    if args.parent:
        _die_with_parent(args.parent)

    # Lambda's search path: /var/task (the window's code), then /opt/python (the layers)
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.path[:] = [args.code_dir, *args.layers] + [p for p in sys.path if p and os.path.abspath(p) != here]

    started = time.perf_counter()
    try:
        module_name, _, attr = args.handler.rpartition(".")
        handler = getattr(importlib.import_module(module_name), attr)
        if not callable(handler):
            raise TypeError(f"{args.handler} is not callable")
        make_context = _context_factory(args.window, args.timeout, args.memory)
    except BaseException as exc:
        if not args.quiet_init:
            traceback.print_exc()
        write_all(fd_out, encode_frame({"init_error": _error(exc)}))
        return 3
    init_ms = (time.perf_counter() - started) * 1000
    write_all(fd_out, encode_frame({"ready": True, "pid": os.getpid(), "init_ms": round(init_ms, 1)}))
    calls = _AwsCalls()
    calls.install()

    while True:
        try:
            request = read_frame(fd_in)
        except EOFError:
            return 0  # the pool closed our pipe: a graceful stop
        rid = request.get("id")
        context = make_context(
            float(request.get("timeout") or args.timeout), request.get("request_id") or str(uuid.uuid4())
        )
        calls.install()
        try:
            result = handler(request.get("event"), context)
        except Exception as exc:
            tb = traceback.format_exception(exc)
            sys.stderr.write(f"[ERROR] {type(exc).__name__}: {exc}\n{''.join(tb)}")
            sys.stderr.flush()
            answer = {"id": rid, "error": _error(exc)}
        else:
            answer = {"id": rid, "result": result}
        calls.install()  # boto3 imported during the first invocation: its calls are counted from now on
        if calls.counts:
            answer["aws_calls"] = calls.take()
        try:
            frame = encode_frame(answer, allow_nan=False)
        except (TypeError, ValueError) as exc:  # Lambda: Runtime.MarshalError
            frame = encode_frame(
                {"id": rid, "error": {"type": "Runtime.MarshalError", "message": str(exc), "trace": []}}
            )
        sys.stdout.flush()
        write_all(fd_out, frame)


if __name__ == "__main__":
    sys.exit(main())
