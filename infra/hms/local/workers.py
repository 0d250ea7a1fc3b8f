"""Window workers: each window runs its real Lambda handler in its own processes (its "execution environments").

Lambda's concurrency model, locally:

* a worker process is one execution environment: one request at a time;
* environments are added on demand, up to the window's concurrency (``window.concurrency`` in its
  manifest, its reserved concurrency in the template); ``warm`` of them are started with the pool;
* a request that finds every environment busy waits in a first-come first-served queue, and a
  released environment is handed to exactly one waiter (no thundering herd). When the window is at
  its limit the wait is bounded (``queue_wait``): then the request is throttled
  (``WindowThrottledError``, a 503 with ``Retry-After`` at the gateway);
* an environment idle for ``idle_timeout`` seconds is reaped, down to the ``warm`` ones.

A crash, an exception, a hang or a SIGKILL in one environment never affects another: every worker is
a separate process talking to the pool over two dedicated pipes (frames: 4-byte big-endian length +
JSON), and a supervisor loop per worker restarts it with backoff when it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hms.local.errors import (
    UnknownWindowError,
    WindowCrashedError,
    WindowFailedError,
    WindowThrottledError,
    WindowTimeoutError,
    WindowUnavailableError,
    WorkerError,
)
from hms.local.frames import FrameDecoder, encode_frame
from hms.model import Platform, Window

__all__ = [  # the errors are hms.local.errors', raised here and importable from here too
    "UnknownWindowError",
    "WindowCrashedError",
    "WindowFailedError",
    "WindowStats",
    "WindowThrottledError",
    "WindowTimeoutError",
    "WindowUnavailableError",
    "WorkerError",
    "WorkerPool",
    "WorkerStatus",
    "watch_code",
]

State = Literal["starting", "ready", "busy", "restarting", "crashed", "stopped"]
LogSink = Callable[[str], None]

BACKOFF_START = 0.1
BACKOFF_MAX = 5.0
HEALTHY_AFTER = 10.0  # seconds a worker must live for its crash backoff to reset
STOP_GRACE = 2.0
DEFAULT_QUEUE_WAIT = 5.0  # seconds a request at the window's concurrency waits before it is throttled
DEFAULT_IDLE_TIMEOUT = 300.0  # seconds an extra environment may idle before it is reaped
_F_SETPIPE_SZ = 1031
_PIPE_SIZE = 1 << 20


# ``scale_out_delay``: wait for a busy environment as long as a new one would take to cold-start, and
# cold-start one environment of a window at a time. On a developer's machine a cold start costs about a
# second of the CPU the running windows need, and a request that triggers one waits that long anyway;
# a burst of short requests then reuses the environments it has instead of starting ten at once, which
# would slow every window down and make the queue, and the scale-out, grow further (Lambda, with CPU to
# spare, starts them all at once: ``scale_out_delay=0``).
AUTO_SCALE_OUT = -1.0
MAX_AUTO_SCALE_OUT_DELAY = 2.0


@dataclass(frozen=True)
class WorkerStatus:
    name: str
    index: int
    pid: int | None
    state: State
    restarts: int
    last_error: str | None
    init_ms: float | None
    invocations: int = 0


@dataclass(frozen=True)
class WindowStats:
    """One window's execution environments, as ``/_hms/health`` shows them."""

    name: str
    concurrency: int
    environments: int
    busy: int
    waiting: int
    cold_starts: int
    throttles: int
    reaped: int
    invocations: int = 0
    aws_calls: dict[str, int] = field(default_factory=dict)
    scale_out_delay_ms: float = 0.0  # how long a request waits for a busy environment before a new one


def default_log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _grow_pipe(fd: int) -> None:
    with contextlib.suppress(OSError):  # best effort: fewer wake-ups for multi-MB payloads
        fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_SIZE)


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "worker exited"
    if code < 0:
        try:
            return f"worker killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"worker killed by signal {-code}"
    return f"worker exited with code {code}"


class _FrameReader(asyncio.Protocol):
    """Hands each answer frame from the worker's pipe to ``on_frame``."""

    def __init__(self, on_frame: Callable[[Any], None], on_eof: Callable[[], None]) -> None:
        self._decoder = FrameDecoder()
        self._on_frame = on_frame
        self._on_eof = on_eof

    def data_received(self, data: bytes) -> None:
        for body in self._decoder.feed(data):
            try:
                obj = json.loads(body)
            except ValueError:
                obj = {"protocol_error": "answer frame is not JSON"}
            self._on_frame(obj)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_eof()


class _Worker:
    """One worker slot of a window: a supervisor loop over successive process incarnations."""

    def __init__(self, pool: WorkerPool, group: _Group, index: int) -> None:
        self.pool, self.group, self.index = pool, group, index
        self.window = group.window
        self.state: State = "starting"
        self.restarts = 0
        self.generation = 0
        self.last_error: str | None = None
        self.init_failed = False
        self.init_ms: float | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.restart_pending = False
        self.invocations = 0
        self.last_used = pool.clock()
        self._retiring = False
        self._reaping = False
        self._writer: asyncio.WriteTransport | None = None
        self._reader: asyncio.ReadTransport | None = None
        self._pending: asyncio.Future[Any] | None = None
        self._ready: asyncio.Future[Any] | None = None
        self._closed: asyncio.Event = asyncio.Event()
        self._wake = asyncio.Event()
        self._next_id = 0
        self._task: asyncio.Task[None] | None = None
        self._log_tasks: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.returncode is None else None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def label(self) -> str:
        return self.window.name if self.index == 0 else f"{self.window.name}#{self.index}"

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"hms-worker-{self.label}")

    # -- the supervisor loop -------------------------------------------------------------------

    async def _supervise(self) -> None:
        backoff = BACKOFF_START
        while not self.pool.stopping:
            if self.generation > 0:
                self.restarts += 1
                self._set("restarting")
            self.generation += 1
            born = time.monotonic()
            ok = await self._spawn()
            if ok:
                self.init_failed = False
                self.group.cold_starts += 1
                self.group.offer(self)
                await self._closed.wait()  # the pipe to the worker closed: it exited or was retired
                assert self.proc is not None
                with contextlib.suppress(ProcessLookupError):
                    await self.proc.wait()
            else:
                self.restart_pending = False  # the next start imports the code afresh anyway
                self.group.start_failed()
            if self.pool.stopping:
                break
            if self._reaping:  # idle too long: this environment is gone for good
                self.group.remove(self)
                self._set("stopped")
                return
            if self._retiring:  # a reload: the new code starts at once
                self._retiring = False
                backoff = BACKOFF_START
                continue
            if ok and not self._explained:
                self.last_error = _exit_reason(self.proc.returncode if self.proc else None)
            if time.monotonic() - born >= HEALTHY_AFTER:
                backoff = BACKOFF_START
            self._set("crashed")
            self.pool.log(f"[{self.label}] {self.last_error}; restarting in {backoff:.1f}s")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # a reload (new code) cuts the backoff short
                await asyncio.wait_for(self._wake.wait(), backoff)
            backoff = BACKOFF_START if self._wake.is_set() else min(backoff * 2, BACKOFF_MAX)

    _explained = False  # last_error already says why the process went away (timeout, crash mid-request)

    async def _spawn(self) -> bool:
        """Start a process and wait for its cold start; False (with ``last_error``) when it failed."""
        self._explained = False
        self._closed = asyncio.Event()
        loop = asyncio.get_running_loop()
        spawned = loop.time()
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        _grow_pipe(req_w)
        _grow_pipe(ans_w)
        w = self.window
        root = self.pool.root
        code_dir = str((root / w.code_dir).resolve())
        layers = root / "layers"
        args = [
            sys.executable,
            "-m",
            "hms.local.worker_main",
            w.name,
            code_dir,
            w.handler,
            str(w.timeout),
            "--fds",
            f"{req_r},{ans_w}",
            "--memory",
            str(w.memory),
            "--parent",
            str(os.getpid()),
        ]
        if layers.is_dir():
            args += ["--layers", str(layers.resolve())]
        if self.init_failed:
            args.append("--quiet-init")  # the traceback was shown once; a one-line reason will do
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(req_r, ans_w),
                cwd=code_dir,
                env=self.pool.worker_env(w),
                start_new_session=True,  # Ctrl-C reaches the CLI only; it stops the pool in order
            )
        except OSError as exc:
            for fd in (req_r, req_w, ans_r, ans_w):
                os.close(fd)
            self.last_error = f"cannot start worker: {exc}"
            self.init_failed = True
            return False
        os.close(req_r)
        os.close(ans_w)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._log_tasks = [
            asyncio.create_task(self._forward(self.proc.stdout)),
            asyncio.create_task(self._forward(self.proc.stderr)),
        ]
        self._ready = loop.create_future()
        self._pending = None
        self._reader, _ = await loop.connect_read_pipe(
            lambda: _FrameReader(self._on_frame, self._on_eof), os.fdopen(ans_r, "rb", buffering=0)
        )
        self._writer, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(req_w, "wb", buffering=0))
        try:
            first = await asyncio.wait_for(asyncio.shield(self._ready), self.pool.init_timeout)
        except TimeoutError:
            self.last_error = f"cold start took longer than {self.pool.init_timeout:.0f}s"
            first = None
        except WorkerError:  # the pipe closed before the worker said ready
            await self._reap(1.0)
            self.last_error = f"{_exit_reason(self.proc.returncode)} during cold start"
            first = None
        if first is not None and not isinstance(first, dict):
            self.last_error = "protocol error: the first frame is not an object"
            first = None
        if first is not None and "init_error" in first:
            err = first["init_error"]
            self.last_error = f"cold start failed: {err.get('type')}: {err.get('message')}"
            first = None
        if first is None or not first.get("ready"):
            self.init_failed = True
            await self._kill()
            return False
        self.init_ms = first.get("init_ms")
        self.group.cold_start_s = loop.time() - spawned  # process start to ready: what a new one costs
        self.pool.log(f"[{self.label}] ready: pid {self.proc.pid}, cold start {self.init_ms} ms")
        return True

    async def _forward(self, stream: asyncio.StreamReader) -> None:
        log, prefix = self.pool.log, f"[{self.label}] "
        partial = b""
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                break
            lines = (partial + chunk).split(b"\n")
            partial = lines.pop()
            if len(partial) > 65536:
                lines.append(partial)
                partial = b""
            for line in lines:
                log(prefix + line.decode(errors="replace").rstrip("\r"))
        if partial:
            log(prefix + partial.decode(errors="replace"))

    def _on_frame(self, obj: Any) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(obj)
            return
        fut = self._pending
        if fut is not None and not fut.done():
            fut.set_result(obj)

    def _on_eof(self) -> None:
        err = WindowCrashedError(self.window.name, "worker exited")
        for fut in (self._ready, self._pending):
            if fut is not None and not fut.done():
                fut.set_exception(err)
                fut.exception()  # mark retrieved: the waiter may already be gone
        if self._writer is not None:
            self._writer.close()
        if self.state in ("ready", "busy") and not self.pool.stopping:
            self._set("crashed")
        self._closed.set()

    async def _reap(self, timeout: float) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(TimeoutError, ProcessLookupError):
            await asyncio.wait_for(self.proc.wait(), timeout)

    async def _kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await self._reap(5.0)
        if self._reader is not None:
            self._reader.close()
        if self._writer is not None:
            self._writer.close()
        self._closed.set()

    async def stop(self) -> None:
        """Close the request pipe (a graceful exit), SIGTERM, then SIGKILL after a grace period."""
        if self._writer is not None:
            self._writer.close()
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            await self._reap(STOP_GRACE)
        await self._kill()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for t in self._log_tasks:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(t, 1.0)
        self._set("stopped")

    def wake(self) -> None:
        """End a crash backoff now (the code changed, so the next start may well succeed)."""
        self._wake.set()

    def reap(self) -> None:
        """End this (idle) environment for good: its process exits and its slot is freed."""
        self._reaping = True
        self.retire()

    def retire(self) -> None:
        """Replace this (idle) worker with a fresh process: close its pipe, it exits on EOF."""
        self._retiring = True
        self.restart_pending = False
        self._set("restarting")
        if self._writer is not None:
            self._writer.close()
        proc = self.proc

        async def ensure_exit() -> None:
            if proc is not None:
                try:
                    await asyncio.wait_for(proc.wait(), STOP_GRACE)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()

        asyncio.get_running_loop().create_task(ensure_exit())

    # -- one request ---------------------------------------------------------------------------

    async def call(
        self, event: Any, timeout: float, request_id: str | None, calls: dict[str, int] | None = None
    ) -> Any:
        assert self._writer is not None
        loop = asyncio.get_running_loop()
        self._next_id += 1
        rid = self._next_id
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending = fut
        frame = encode_frame({"id": rid, "event": event, "timeout": timeout, "request_id": request_id})
        self._writer.write(frame)
        try:
            answer = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            self._explained = True
            self.last_error = f"timed out after {timeout:g}s"
            self._set("restarting")
            if self.proc is not None and self.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()  # like Lambda: the sandbox is torn down and re-initialised
            raise WindowTimeoutError(self.window.name, f"no answer within {timeout:g}s") from None
        except WindowCrashedError:
            await self._reap(1.0)
            code = self.proc.returncode if self.proc else None
            self.last_error = f"{_exit_reason(code)} during a request"
            self._explained = True
            raise WindowCrashedError(self.window.name, self.last_error) from None
        finally:
            self._pending = None
        if not isinstance(answer, dict) or answer.get("id") != rid:
            self.last_error = "protocol error: answer for another request"
            await self._kill()
            raise WindowCrashedError(self.window.name, self.last_error)
        for op, n in (answer.get("aws_calls") or {}).items():
            self.group.aws_calls[op] = self.group.aws_calls.get(op, 0) + int(n)
            if calls is not None:
                calls[op] = calls.get(op, 0) + int(n)
        if "error" in answer:
            err = answer["error"]
            raise WindowFailedError(
                self.window.name, str(err.get("type")), str(err.get("message")), list(err.get("trace") or [])
            )
        return answer.get("result")

    def _set(self, state: State) -> None:
        self.state = state
        self.group.notify()


class _Group:
    """The execution environments of one window and the first-come first-served queue for them."""

    def __init__(self, pool: WorkerPool, window: Window, limit: int, warm: int) -> None:
        self.pool = pool
        self.window = window
        self.limit = max(limit, warm)
        self.warm = warm
        self.workers: list[_Worker] = []
        self.waiters: deque[asyncio.Future[_Worker]] = deque()
        self.changed = asyncio.Condition()  # state changes, for whoever waits on them (not requests)
        self.waiting = 0  # tasks waiting on ``changed``: no notification work on the hot path without them
        self._notify_scheduled = False
        self._next_index = 0
        self.cold_starts = 0
        self.cold_start_s: float | None = None  # the last cold start, process start to ready
        self.throttles = 0
        self.reaped = 0
        self.aws_calls: dict[str, int] = {}  # service.Operation -> calls, by every environment
        self.gone_invocations = 0  # those of reaped environments

    # -- state changes, for ``_settled`` -----------------------------------------------------------
    def notify(self) -> None:
        if self._notify_scheduled or not self.waiting:
            return
        self._notify_scheduled = True
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        self._notify_scheduled = False
        async with self.changed:
            self.changed.notify_all()

    # -- environments ------------------------------------------------------------------------------
    def spawn(self) -> _Worker:
        """Add an execution environment (its cold start runs in the background)."""
        worker = _Worker(self.pool, self, self._next_index)
        self._next_index += 1
        self.workers.append(worker)
        worker.start()
        return worker

    def remove(self, worker: _Worker) -> None:
        with contextlib.suppress(ValueError):
            self.workers.remove(worker)
        self.gone_invocations += worker.invocations
        self.reaped += 1
        self.notify()

    def scale_out_delay(self) -> float:
        """Seconds a request waits for a busy environment before another is started: the pool's, or
        with ``AUTO_SCALE_OUT`` the window's own last cold start (a request would wait that long for a
        new environment anyway), at most ``MAX_AUTO_SCALE_OUT_DELAY``."""
        delay = self.pool.scale_out_delay
        if delay != AUTO_SCALE_OUT:
            return delay
        return min(self.cold_start_s or 0.0, MAX_AUTO_SCALE_OUT_DELAY)

    def _starting(self) -> int:
        return sum(1 for w in self.workers if w.state in ("starting", "restarting"))

    def _broken(self) -> bool:
        return bool(self.workers) and all(w.init_failed for w in self.workers)

    def _scale(self) -> None:
        """Start environments for the waiters no starting one will serve, up to the limit."""
        if self._broken() or self.pool.stopping:
            return  # a window that cannot cold-start gets no more attempts than its supervisors make
        starting = self._starting()
        need = sum(1 for f in self.waiters if not f.done()) - starting
        if self.pool.scale_out_delay != 0:  # the local pace: one cold start of a window at a time
            need = min(need, 1 - starting)
        while need > 0 and len(self.workers) < self.limit:
            self.spawn()
            need -= 1

    def offer(self, worker: _Worker) -> None:
        """``worker`` is free (started, restarted or released): hand it to the first waiter, else idle."""
        if worker.restart_pending:
            worker.retire()
            return
        worker.last_used = self.pool.clock()
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                worker._set("busy")
                fut.set_result(worker)
                return
        worker._set("ready")

    def start_failed(self) -> None:
        """A cold start failed: when every environment fails to start, nobody should wait for one."""
        if self._broken():
            reason = "; ".join(sorted({w.last_error for w in self.workers if w.last_error}))
            self._fail_waiters(WindowUnavailableError(self.window.name, reason or "cannot start"))

    def _fail_waiters(self, exc: WorkerError) -> None:
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(exc)

    def _idle(self) -> _Worker | None:
        best: _Worker | None = None
        for w in self.workers:  # the most recently used idle one: its caches are the warmest
            if (
                w.state == "ready"
                and not w.restart_pending
                and (best is None or w.last_used > best.last_used)
            ):
                best = w
        return best

    # -- requests ----------------------------------------------------------------------------------
    async def acquire(self, timeout: float, *, throttle: bool = True) -> _Worker:
        """A free environment for one request: at once, from the queue, or a new one up to the limit.

        Raises ``WindowThrottledError`` when the window is at its concurrency and nothing freed within
        the pool's ``queue_wait``; ``WindowUnavailableError`` when it cannot start or nothing became
        free within ``timeout`` (e.g. environments cold-starting for longer than that).
        """
        name = self.window.name
        if self.pool.stopping:
            raise WindowUnavailableError(name, "the local runtime is stopping")
        if not self.waiters:
            worker = self._idle()
            if worker is not None:
                worker._set("busy")
                return worker
        if self._broken():
            errors = {w.last_error for w in self.workers}
            raise WindowUnavailableError(name, "; ".join(sorted(e for e in errors if e)))
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[_Worker] = loop.create_future()
        self.waiters.append(fut)
        delay = self.scale_out_delay()
        if delay > 0 and any(w.state != "starting" for w in self.workers):
            # a busy environment may free before a new one could cold-start: scale out only for a
            # request still waiting after the delay (never for the first environment)
            loop.call_later(delay, self._scale)
        else:
            self._scale()
        clock = self.pool.clock
        started = clock()
        try:
            while True:
                waited = clock() - started
                at_limit = len(self.workers) >= self.limit and not self._starting()
                if at_limit and not throttle:
                    started, waited = clock(), 0.0  # at the limit: only a free environment ends the wait
                    budget = timeout
                else:
                    budget = (self.pool.queue_wait if at_limit else timeout) - waited
                if budget <= 0:
                    if at_limit:
                        self.throttles += 1
                        raise WindowThrottledError(
                            name,
                            f"all {self.limit} execution environments are busy (its concurrency) and none "
                            f"freed within {self.pool.queue_wait:g}s",
                            retry_after=max(1, round(self.pool.queue_wait)),
                        )
                    raise WindowUnavailableError(name, f"no environment became free within {timeout:g}s")
                try:
                    return await asyncio.wait_for(asyncio.shield(fut), min(budget, 0.5))
                except TimeoutError:
                    if fut.done():
                        return fut.result()
                    if clock() - started >= delay:
                        self._scale()  # an environment may have been reaped or retired meanwhile
        except BaseException:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self.release(fut.result())  # handed over just as we gave up: pass it on
            else:
                fut.cancel()
            raise

    def release(self, worker: _Worker) -> None:
        if worker.state != "busy" or worker.closed:
            return  # crashed or timed out: its supervisor takes over
        worker.invocations += 1
        self.offer(worker)

    def reap_idle(self, now: float, idle_timeout: float) -> int:
        """Reap environments idle for ``idle_timeout`` seconds, keeping ``warm`` of them; how many."""
        reaped = 0
        idle = sorted(
            (w for w in self.workers if w.state == "ready" and now - w.last_used >= idle_timeout),
            key=lambda w: w.last_used,
        )
        for w in idle:
            if len(self.workers) - reaped <= self.warm:
                break
            w.reap()
            reaped += 1
        return reaped

    def stats(self) -> WindowStats:
        return WindowStats(
            name=self.window.name,
            concurrency=self.limit,
            environments=len(self.workers),
            busy=sum(1 for w in self.workers if w.state == "busy"),
            waiting=sum(1 for f in self.waiters if not f.done()),
            cold_starts=self.cold_starts,
            throttles=self.throttles,
            reaped=self.reaped,
            invocations=sum(w.invocations for w in self.workers) + self.gone_invocations,
            aws_calls=dict(self.aws_calls),
            scale_out_delay_ms=round(1000 * self.scale_out_delay(), 1),
        )


class WorkerPool:
    """The window workers of a platform.

    ``env_for(window)`` gives each worker its environment (table, bucket, AWS endpoint...); the pool
    adds the Lambda runtime variables. ``log`` receives every worker output line, ``[window]``-prefixed.
    """

    def __init__(
        self,
        platform: Platform,
        env_for: Callable[[Window], Mapping[str, str]],
        root: Path | None = None,
        log: LogSink = default_log,
        *,
        workers_per_window: int = 1,
        concurrency: int | None = None,
        queue_wait: float = DEFAULT_QUEUE_WAIT,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        scale_out_delay: float = 0.0,
        init_timeout: float = 30.0,
        windows: Iterable[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``workers_per_window`` environments of each window start with the pool and are never reaped;
        more are added on demand up to each window's ``concurrency`` (``concurrency`` here overrides
        every window's). ``queue_wait`` bounds the wait of a request at the limit before it is
        throttled; an extra environment idle for ``idle_timeout`` seconds is reaped. With
        ``scale_out_delay`` (seconds) a new environment is started only for a request that has waited
        that long (Lambda starts one at once: 0, the default); ``AUTO_SCALE_OUT`` waits as long as the
        window's last cold start took."""
        if workers_per_window < 1:
            raise ValueError("workers_per_window must be at least 1")
        if concurrency is not None and concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.platform = platform
        self.env_for = env_for
        self.root = (root or platform.root).resolve()
        self.log = log
        self.workers_per_window = workers_per_window
        self.concurrency = concurrency
        self.queue_wait = queue_wait
        self.idle_timeout = idle_timeout
        if scale_out_delay < 0 and scale_out_delay != AUTO_SCALE_OUT:
            raise ValueError("scale_out_delay must not be negative")
        self.scale_out_delay = scale_out_delay
        self.init_timeout = init_timeout
        self.clock = clock
        names = set(windows) if windows is not None else None
        self._windows = [w for w in platform.windows if names is None or w.name in names]
        self._groups: dict[str, _Group] = {}
        self._reaper: asyncio.Task[None] | None = None
        self.stopping = False
        self._started = False

    def worker_env(self, window: Window) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "HMS_", "POWERTOOLS_", "LAMBDA_", "_HANDLER")) and k != "PYTHONPATH"
        }
        infra = str(Path(__file__).resolve().parents[2])
        env.update(
            {
                "PYTHONPATH": infra,  # only for hms.local.worker_main; removed from the window's sys.path
                "PYTHONUNBUFFERED": "1",
                "AWS_LAMBDA_FUNCTION_NAME": window.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(window.memory),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(window.timeout),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{window.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "local",
                "AWS_LAMBDA_RUNTIME_API": "",
                "LAMBDA_TASK_ROOT": str((self.root / window.code_dir).resolve()),
                "_HANDLER": window.handler,
                "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
                "HMS_LOCAL": "1",
            }
        )
        env.update(self.env_for(window))
        return env

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every worker and wait until each is ready or has failed its cold start."""
        if self._started:
            return
        self._started = True
        for w in self._windows:
            limit = self.concurrency if self.concurrency is not None else w.concurrency
            self._groups[w.name] = _Group(self, w, limit, self.workers_per_window)
        for group in self._groups.values():
            for _ in range(group.warm):
                group.spawn()
        await self._settled({w: 1 for g in self._groups.values() for w in g.workers}, self.init_timeout + 1)
        if self.idle_timeout > 0:
            self._reaper = asyncio.create_task(self._reap_forever(), name="hms-worker-reaper")

    async def _reap_forever(self) -> None:
        period = min(max(self.idle_timeout / 4, 0.05), 30.0)
        while not self.stopping:
            await asyncio.sleep(period)
            self.reap_idle()

    def reap_idle(self) -> int:
        """Reap every environment idle for ``idle_timeout`` beyond the warm ones; how many were reaped."""
        now = self.clock()
        reaped = 0
        for group in self._groups.values():
            n = group.reap_idle(now, self.idle_timeout)
            if n:
                self.log(f"[{group.window.name}] {n} idle execution environment(s) reaped")
            reaped += n
        return reaped

    async def _settled(self, targets: dict[_Worker, int], timeout: float) -> None:
        """Wait until each worker has reached its target generation and finished starting it."""

        def done(w: _Worker) -> bool:
            return w.generation >= targets[w] and w.state in ("ready", "busy", "crashed", "stopped")

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                for group in {w.group for w in targets}:
                    mine = [w for w in group.workers if w in targets]

                    def all_done(mine: list[_Worker] = mine) -> bool:
                        return all(done(w) for w in mine)

                    async with group.changed:
                        group.waiting += 1
                        try:
                            await group.changed.wait_for(all_done)
                        finally:
                            group.waiting -= 1

    async def stop(self) -> None:
        """Stop every worker; nothing is left running."""
        self.stopping = True
        if self._reaper is not None:
            self._reaper.cancel()
        workers = [w for g in self._groups.values() for w in g.workers]
        for g in self._groups.values():
            g._fail_waiters(WindowUnavailableError(g.window.name, "the local runtime is stopping"))
            g.notify()
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)

    async def __aenter__(self) -> WorkerPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- requests ------------------------------------------------------------------------------

    @property
    def windows(self) -> tuple[Window, ...]:
        """The windows this pool runs."""
        return tuple(self._windows)

    def _group(self, name: str) -> _Group:
        if not self._started:
            raise WindowUnavailableError(name, "the worker pool is not started")
        try:
            return self._groups[name]
        except KeyError:
            raise UnknownWindowError(name, "no such window") from None

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
        """Run the window's handler on ``event`` and return its result (``calls``, when given, gets the
        invocation's AWS calls, ``service.Operation`` -> count).

        Takes a free execution environment (or starts one, up to the window's concurrency; waits
        first-come first-served when it is at its limit, see ``_Group.acquire``), then gives the
        handler ``timeout`` seconds (default: the window's own timeout). ``throttle=False`` (the event
        pump) waits for an environment as long as it takes instead of being throttled.
        """
        group = self._group(window_name)
        limit = float(timeout if timeout is not None else group.window.timeout)
        if self.stopping:
            raise WindowUnavailableError(window_name, "the local runtime is stopping")
        worker = await group.acquire(max(limit, self.init_timeout), throttle=throttle)
        try:
            return await worker.call(event, limit, request_id or str(uuid.uuid4()), calls)
        finally:
            group.release(worker)

    def window_stats(self) -> list[WindowStats]:
        """Each window's environments: concurrency, how many exist and are busy, the queue, throttles."""
        return [g.stats() for g in self._groups.values()]

    def status(self) -> list[WorkerStatus]:
        return [
            WorkerStatus(
                name=w.window.name,
                index=w.index,
                pid=w.pid,
                state=w.state,
                restarts=w.restarts,
                last_error=w.last_error,
                init_ms=w.init_ms,
                invocations=w.invocations,
            )
            for g in self._groups.values()
            for w in g.workers
        ]

    async def add_window(self, window: Window, *, wait: bool = True) -> None:
        """Start a window added while the pool runs: its warm environments cold-start (awaited unless
        ``wait`` is False; a request meanwhile waits for one as at start-up)."""
        if not self._started:
            raise WindowUnavailableError(window.name, "the worker pool is not started")
        if window.name in self._groups:
            raise ValueError(f"the window {window.name!r} is already running")
        limit = self.concurrency if self.concurrency is not None else window.concurrency
        group = self._groups[window.name] = _Group(self, window, limit, self.workers_per_window)
        self._windows.append(window)
        started = [group.spawn() for _ in range(group.warm)]
        if wait:
            await self._settled(dict.fromkeys(started, 1), self.init_timeout + 1)

    async def remove_window(self, name: str) -> None:
        """Stop a window for good: no new request reaches it, one in progress ends first (within the
        window's timeout), then its environments stop."""
        group = self._group(name)
        del self._groups[name]
        self._windows = [w for w in self._windows if w.name != name]
        group._fail_waiters(WindowUnavailableError(name, "the window was removed"))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(group.window.timeout), group.changed:
                group.waiting += 1
                try:
                    await group.changed.wait_for(lambda: all(w.state != "busy" for w in group.workers))
                finally:
                    group.waiting -= 1
        workers = list(group.workers)
        for w in workers:
            w._reaping = True  # its supervisor ends instead of restarting it
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)

    async def restart(self, window_name: str, *, wait: bool = True, window: Window | None = None) -> None:
        """Replace the window's workers with fresh processes (new code), each after its request.

        ``window``: its new settings (a changed manifest: environment, rate limit, timeout, memory,
        concurrency), which the fresh processes start with."""
        group = self._group(window_name)
        if window is not None:
            group.window = window
            group.limit = max(self.concurrency or window.concurrency, group.warm)
            for w in group.workers:
                w.window = window
            self._windows = [window if w.name == window.name else w for w in self._windows]
        targets: dict[_Worker, int] = {}
        for w in list(group.workers):
            if w.state == "busy":
                w.restart_pending = True
                targets[w] = w.generation + 1
            elif w.state == "ready":
                w.retire()
                targets[w] = w.generation + 1
            elif w.state == "crashed":
                w.wake()
                targets[w] = w.generation + 1
            else:  # starting / restarting: it may have imported the old code already; start again once up
                w.restart_pending = True
                targets[w] = w.generation + 1
        if wait:
            await self._settled(targets, self.init_timeout + group.window.timeout)

    async def restart_all(self, *, wait: bool = True) -> None:
        await asyncio.gather(*(self.restart(n, wait=wait) for n in self._groups))


async def watch_code(
    pool: WorkerPool, root: Path | None = None, *, stop_event: asyncio.Event | None = None
) -> None:
    """Reload windows on code changes: ``functions/<w>/`` restarts ``w``; ``layers/`` restarts all."""
    from watchfiles import Change, DefaultFilter, awatch

    root = (root or pool.root).resolve()
    layers = (root / "layers").resolve()
    paths = [p for p in [root / "functions", layers] if p.is_dir()]
    if not paths:
        return
    flt = DefaultFilter()

    def accept(change: Change, path: str) -> bool:
        return flt(change, path) and "__pycache__" not in Path(path).parts

    async for changes in awatch(*paths, watch_filter=accept, stop_event=stop_event):
        code_dirs = {w.name: (root / w.code_dir).resolve() for w in pool.windows}  # windows come and go
        touched: set[str] = set()
        everything = False
        for _, raw in changes:
            path = Path(raw).resolve()
            if path.is_relative_to(layers):
                everything = True
                break
            for name, code_dir in code_dirs.items():
                if path.is_relative_to(code_dir):
                    touched.add(name)
        targets = sorted(code_dirs) if everything else sorted(touched)
        if targets:
            pool.log(f"[hms] code changed: reloading {', '.join(targets)}")
            for name in targets:
                await pool.restart(name, wait=False)
