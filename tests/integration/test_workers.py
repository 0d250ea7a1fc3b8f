"""Window workers: each window's handler runs in its own process; failures stay inside their window.

The windows here are throwaway packages written into a temporary project (echo, raise, hang, exit...),
so every failure mode is real: a real exception, a real hang, a real SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hms.local.workers import (
    UnknownWindowError,
    WindowCrashedError,
    WindowFailedError,
    WindowThrottledError,
    WindowTimeoutError,
    WindowUnavailableError,
    WorkerPool,
    watch_code,
)
from hms.model import Platform, Window, load_platform

pytestmark = pytest.mark.integration

T = TypeVar("T")

HANDLERS = {
    "echo": """
import os, sys
print("echo cold start", flush=True)

def lambda_handler(event, context):
    if event.get("log"):
        print(event["log"], flush=True)
    return {
        "event": event,
        "pid": os.getpid(),
        "function_name": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "table": os.environ.get("HMS_TABLE_NAME"),
        "lambda_name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "path0": sys.path[0],
        "cwd": os.getcwd(),
    }
""",
    "boom": """
import os

def lambda_handler(event, context):
    if event.get("ok"):
        return {"pid": os.getpid()}
    raise ValueError(f"cannot do {event.get('what')}")
""",
    "hang": """
import os, time

def lambda_handler(event, context):
    if event.get("hang"):
        time.sleep(3600)
    return {"pid": os.getpid()}
""",
    "sleepy": """
import os, time

def lambda_handler(event, context):
    time.sleep(event.get("sleep", 0))
    if event.get("exit"):
        os._exit(event["exit"])
    return {"pid": os.getpid()}
""",
    "broken": """
import no_such_module_anywhere  # the cold start fails
""",
    "reload": """
VERSION = 1

def lambda_handler(event, context):
    return {"version": VERSION}
""",
}


def write_project(root: Path, handlers: dict[str, str]) -> None:
    (root / "routes").mkdir(parents=True, exist_ok=True)
    for name, code in handlers.items():
        pkg = root / "functions" / name / name
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "handler.py").write_text(code.lstrip())
        (root / "routes" / f"{name}.yaml").write_text(
            f"uri: /api/v1/{name}/**\nupstream: {name}\nwindow: {{timeout: 1}}\n"
        )


class LoopThread:
    """An event loop in a background thread, so one pool serves many synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="workers-test-loop", daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return self.submit(coro).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


def env_for(window: Window) -> dict[str, str]:
    return {"HMS_TABLE_NAME": f"t-{window.name}"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    root = tmp_path_factory.mktemp("project")
    write_project(root, HANDLERS)
    return load_platform(root)


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


class Logs(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)

    def wait_for(self, text: str, timeout: float = 5) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in list(self)):
                return True
            time.sleep(0.02)
        return False


@pytest.fixture(scope="module")
def logs() -> Logs:
    return Logs()


@pytest.fixture(scope="module")
def pool(project: Platform, loop: LoopThread, logs: Logs) -> Iterator[WorkerPool]:
    # one environment per window: these tests follow one environment's life (crash, hang, restart)
    p = WorkerPool(project, env_for, project.root, log=logs, concurrency=1, queue_wait=30)
    loop.run(p.start())
    yield p
    pids = [s.pid for s in p.status() if s.pid]
    loop.run(p.stop())
    assert pids and not [pid for pid in pids if alive(pid)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def pid_of(pool: WorkerPool, name: str) -> int:
    (status,) = [s for s in pool.status() if s.name == name]
    assert status.pid is not None
    return status.pid


def wait_ready(pool: WorkerPool, name: str, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(s.state == "ready" for s in pool.status() if s.name == name):
            return
        time.sleep(0.01)
    raise AssertionError(f"{name} not ready: {pool.status()}")


def test_a_window_answers_with_its_handler_result_in_its_own_lambda_like_process(
    pool: WorkerPool, loop: LoopThread, project: Platform
) -> None:
    result = loop.run(pool.invoke("echo", {"hello": "world", "n": [1, 2.5, None]}))
    assert result["event"] == {"hello": "world", "n": [1, 2.5, None]}
    assert result["pid"] != os.getpid()
    assert result["function_name"] == "echo" and result["lambda_name"] == "echo"
    assert 0 < result["remaining_ms"] <= 1000
    assert result["table"] == "t-echo"
    code_dir = str(project.root / "functions" / "echo")
    assert result["path0"] == code_dir and result["cwd"] == code_dir


def test_the_worker_output_reaches_the_log_with_the_window_prefix(
    pool: WorkerPool, loop: LoopThread, logs: Logs
) -> None:
    assert logs.wait_for("[echo] echo cold start")
    loop.run(pool.invoke("echo", {"log": '{"level":"INFO","message":"hi there"}'}))
    assert logs.wait_for('[echo] {"level":"INFO","message":"hi there"}')


def test_a_handler_exception_is_a_function_error_and_the_worker_survives(
    pool: WorkerPool, loop: LoopThread
) -> None:
    pid = pid_of(pool, "boom")
    with pytest.raises(WindowFailedError) as info:
        loop.run(pool.invoke("boom", {"what": "that"}))
    assert info.value.error_type == "ValueError"
    assert info.value.error_message == "cannot do that"
    assert any("ValueError" in line for line in info.value.trace)
    assert loop.run(pool.invoke("boom", {"ok": True}))["pid"] == pid


def test_a_hung_handler_times_out_is_killed_and_the_next_call_gets_a_fresh_worker(
    pool: WorkerPool, loop: LoopThread
) -> None:
    pid = pid_of(pool, "hang")
    with pytest.raises(WindowTimeoutError, match="1s"):
        loop.run(pool.invoke("hang", {"hang": True}))
    answer = loop.run(pool.invoke("hang", {}))  # waits for the restart instead of failing
    assert answer["pid"] != pid and not alive(pid)
    (status,) = [s for s in pool.status() if s.name == "hang"]
    assert status.restarts >= 1 and status.last_error and "timed out" in status.last_error


def test_a_sigkilled_worker_fails_only_its_own_request_and_comes_back(
    pool: WorkerPool, loop: LoopThread
) -> None:
    victim = pid_of(pool, "sleepy")
    restarts_before = next(s.restarts for s in pool.status() if s.name == "sleepy")
    in_flight = loop.submit(pool.invoke("sleepy", {"sleep": 5}, timeout=10))
    stop = threading.Event()
    echoes: list[int] = []
    failures: list[BaseException] = []
    echoes_after_kill: list[int] = []

    def keep_calling_echo() -> None:
        while not stop.is_set():
            try:
                answer = loop.run(pool.invoke("echo", {"ping": True}), timeout=5)
                echoes.append(answer["pid"])
                if killed.is_set():
                    echoes_after_kill.append(answer["pid"])
            except BaseException as exc:
                failures.append(exc)

    killed = threading.Event()
    other = threading.Thread(target=keep_calling_echo)
    other.start()
    try:
        deadline = time.monotonic() + 5
        while next(s.state for s in pool.status() if s.name == "sleepy") != "busy":
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(victim, signal.SIGKILL)
        killed.set()
        # the crash fails the request in flight (long before its 5 s sleep could end on its own)
        with pytest.raises(WindowCrashedError, match="SIGKILL"):
            in_flight.result(4)
        answer = loop.run(pool.invoke("sleepy", {}, timeout=5))
        assert answer["pid"] != victim
        while len(echoes_after_kill) < 3 and not failures:
            time.sleep(0.01)
    finally:
        stop.set()
        other.join(10)
    assert not failures and len(set(echoes)) == 1  # the other window answered throughout, same process
    assert next(s.restarts for s in pool.status() if s.name == "sleepy") == restarts_before + 1


def test_a_worker_exiting_mid_request_is_a_crash_and_it_is_restarted(
    pool: WorkerPool, loop: LoopThread
) -> None:
    with pytest.raises(WindowCrashedError, match="code 9"):
        loop.run(pool.invoke("sleepy", {"exit": 9}))
    assert loop.run(pool.invoke("sleepy", {}))["pid"]
    (status,) = [s for s in pool.status() if s.name == "sleepy"]
    assert status.last_error is not None and "code 9" in status.last_error


def test_a_request_arriving_while_the_worker_restarts_waits_for_it(
    pool: WorkerPool, loop: LoopThread
) -> None:
    wait_ready(pool, "echo")
    os.kill(pid_of(pool, "echo"), signal.SIGKILL)
    deadline = time.monotonic() + 2
    while next(s.state for s in pool.status() if s.name == "echo") == "ready":  # noticed at once
        assert time.monotonic() < deadline
        time.sleep(0.001)
    assert loop.run(pool.invoke("echo", {"after": "kill"}, timeout=5))["event"] == {"after": "kill"}


def test_a_window_that_cannot_start_is_unavailable_at_once_with_the_reason(
    pool: WorkerPool, loop: LoopThread
) -> None:
    # at once: not after the 30 s queue wait, which would time this run() out
    with pytest.raises(WindowUnavailableError, match="no_such_module_anywhere"):
        loop.run(pool.invoke("broken", {}), timeout=5)
    (status,) = [s for s in pool.status() if s.name == "broken"]
    assert status.state in ("crashed", "restarting", "starting")
    assert status.last_error and "no_such_module_anywhere" in status.last_error


def test_an_unknown_window_is_refused(pool: WorkerPool, loop: LoopThread) -> None:
    with pytest.raises(UnknownWindowError):
        loop.run(pool.invoke("nobody", {}))


def test_a_ten_megabyte_payload_round_trips(pool: WorkerPool, loop: LoopThread) -> None:
    body = "QUJD" * (10 * 1024 * 1024 // 4)  # 10 MiB of base64
    result = loop.run(pool.invoke("echo", {"body": body, "isBase64Encoded": True}, timeout=5))
    assert result["event"]["body"] == body


def test_a_graceful_restart_lets_the_request_in_flight_finish(pool: WorkerPool, loop: LoopThread) -> None:
    wait_ready(pool, "sleepy")
    before = pid_of(pool, "sleepy")
    in_flight = loop.submit(pool.invoke("sleepy", {"sleep": 0.3}))
    time.sleep(0.1)
    loop.run(pool.restart("sleepy"))
    assert in_flight.result(5)["pid"] == before
    assert loop.run(pool.invoke("sleepy", {}))["pid"] != before
    assert not alive(before)


def test_a_code_change_reloads_only_that_window(
    pool: WorkerPool, loop: LoopThread, project: Platform, logs: Logs
) -> None:
    assert loop.run(pool.invoke("reload", {}))["version"] == 1
    echo_pid = pid_of(pool, "echo")
    stop = asyncio.Event()
    watcher = loop.submit(watch_code(pool, project.root, stop_event=stop))
    try:
        time.sleep(0.3)  # the watcher is armed
        handler = project.root / "functions" / "reload" / "reload" / "handler.py"
        handler.write_text(handler.read_text().replace("VERSION = 1", "VERSION = 2"))
        deadline = time.monotonic() + 10
        version = 1
        while version != 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            version = loop.run(pool.invoke("reload", {}))["version"]
        assert version == 2
        assert pid_of(pool, "echo") == echo_pid
    finally:
        loop.loop.call_soon_threadsafe(stop.set)
        watcher.result(5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sleepy_pool(project: Platform, loop: LoopThread, **options: Any) -> WorkerPool:
    p = WorkerPool(project, env_for, project.root, log=lambda line: None, windows=["sleepy"], **options)
    loop.run(p.start())
    return p


def test_environments_are_added_on_demand_up_to_the_window_concurrency(
    project: Platform, loop: LoopThread
) -> None:
    pool = sleepy_pool(project, loop, concurrency=3, queue_wait=30)
    try:
        (before,) = pool.window_stats()
        assert (before.environments, before.concurrency) == (1, 3)  # one warm environment to start with

        async def five_at_once() -> list[Any]:
            return await asyncio.gather(*(pool.invoke("sleepy", {"sleep": 1}, timeout=10) for _ in range(5)))

        answers = loop.run(five_at_once())
        (after,) = pool.window_stats()
        assert after.environments == 3 and after.cold_starts == 3  # two added, never past the limit
        assert 2 <= len({a["pid"] for a in answers}) <= 3
        assert after.throttles == 0 and after.waiting == 0
    finally:
        loop.run(pool.stop())


def test_with_a_scale_out_delay_a_request_takes_the_environment_that_frees_instead_of_a_new_one(
    project: Platform, loop: LoopThread
) -> None:
    pool = sleepy_pool(project, loop, concurrency=3, scale_out_delay=60)
    try:
        busy = loop.submit(pool.invoke("sleepy", {"sleep": 1}, timeout=10))
        while pool.window_stats()[0].busy == 0:
            time.sleep(0.01)
        second = loop.run(pool.invoke("sleepy", {}, timeout=10), timeout=20)

        assert second["pid"] == busy.result(10)["pid"]  # it waited for the busy one
        (stats,) = pool.window_stats()
        assert stats.environments == 1 and stats.cold_starts == 1
    finally:
        loop.run(pool.stop())


def test_with_a_scale_out_delay_a_request_still_waiting_after_it_gets_a_new_environment(
    project: Platform, loop: LoopThread
) -> None:
    pool = sleepy_pool(project, loop, concurrency=3, scale_out_delay=0.05)
    try:
        first_pid = pid_of(pool, "sleepy")
        busy = loop.submit(pool.invoke("sleepy", {"sleep": 600}, timeout=900))  # ends when the pool stops
        while pool.window_stats()[0].busy == 0:
            time.sleep(0.01)
        second = loop.run(pool.invoke("sleepy", {}, timeout=60), timeout=90)

        assert not busy.done()  # served by a new environment while the first is still busy
        assert second["pid"] != first_pid
        (stats,) = pool.window_stats()
        assert stats.cold_starts == 2
    finally:
        loop.run(pool.stop())


def test_with_a_scale_out_delay_a_window_cold_starts_one_environment_at_a_time(
    project: Platform, loop: LoopThread
) -> None:
    pool = sleepy_pool(project, loop, concurrency=3, scale_out_delay=0.01)
    try:
        burst = [loop.submit(pool.invoke("sleepy", {"sleep": 3}, timeout=30)) for _ in range(3)]
        most_starting = 0
        while not all(f.done() for f in burst):
            starting = sum(1 for s in pool.status() if s.state in ("starting", "restarting"))
            most_starting = max(most_starting, starting)
            time.sleep(0.01)

        assert len({f.result()["pid"] for f in burst}) == 3  # it still scaled out to the concurrency
        assert most_starting == 1  # ... one cold start at a time (Lambda's would be two at once)
    finally:
        loop.run(pool.stop())


def test_the_automatic_scale_out_delay_is_the_windows_own_cold_start(
    project: Platform, loop: LoopThread
) -> None:
    from hms.local.workers import AUTO_SCALE_OUT, MAX_AUTO_SCALE_OUT_DELAY

    pool = sleepy_pool(project, loop, scale_out_delay=AUTO_SCALE_OUT)
    try:
        (stats,) = pool.window_stats()
        assert 0 < stats.scale_out_delay_ms <= 1000 * MAX_AUTO_SCALE_OUT_DELAY  # measured at its cold start
    finally:
        loop.run(pool.stop())
    with pytest.raises(ValueError, match="negative"):
        WorkerPool(project, env_for, project.root, scale_out_delay=-0.5)


def test_a_request_at_the_limit_waits_a_bounded_time_then_is_throttled(
    project: Platform, loop: LoopThread
) -> None:
    pool = sleepy_pool(project, loop, concurrency=1, queue_wait=0.2)
    try:
        busy = loop.submit(pool.invoke("sleepy", {"sleep": 3}, timeout=10))
        while pool.window_stats()[0].busy == 0:
            time.sleep(0.01)
        with pytest.raises(WindowThrottledError, match="concurrency") as refused:
            loop.run(pool.invoke("sleepy", {}), timeout=10)
        assert refused.value.retry_after >= 1
        assert busy.result(10)["pid"]  # the request holding the environment is unaffected
        (stats,) = pool.window_stats()
        assert stats.throttles == 1 and stats.waiting == 0 and stats.environments == 1
    finally:
        loop.run(pool.stop())


def test_a_crashing_environment_never_fails_a_request_in_another_one(
    project: Platform, loop: LoopThread
) -> None:
    pool = sleepy_pool(project, loop, concurrency=2, workers_per_window=2, queue_wait=30)
    try:
        first = loop.submit(pool.invoke("sleepy", {"sleep": 3}, timeout=10))
        second = loop.submit(pool.invoke("sleepy", {"sleep": 3}, timeout=10))
        while pool.window_stats()[0].busy < 2:
            time.sleep(0.01)
        victim = next(s.pid for s in pool.status() if s.index == 0)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        outcomes = []
        for request in (first, second):
            try:
                outcomes.append(request.result(10)["pid"])
            except WindowCrashedError:
                outcomes.append("crashed")
        # the request in the killed environment failed; the one in the other environment answered
        assert outcomes.count("crashed") == 1 and victim not in outcomes
    finally:
        loop.run(pool.stop())


def test_idle_environments_are_reaped_down_to_the_warm_ones(project: Platform, loop: LoopThread) -> None:
    clock = FakeClock()
    pool = sleepy_pool(project, loop, concurrency=3, queue_wait=30, idle_timeout=60, clock=clock)
    try:

        async def three_at_once() -> list[Any]:
            return await asyncio.gather(*(pool.invoke("sleepy", {"sleep": 1}, timeout=10) for _ in range(3)))

        loop.run(three_at_once())
        assert pool.window_stats()[0].environments == 3

        async def reap() -> int:  # on the pool's loop, as its reaper task runs it
            return pool.reap_idle()

        clock.now += 59
        assert loop.run(reap()) == 0  # not idle long enough yet
        clock.now += 1
        gone = {s.pid for s in pool.status()}
        assert loop.run(reap()) == 2
        deadline = time.monotonic() + 10
        while pool.window_stats()[0].environments != 1:
            assert time.monotonic() < deadline, pool.status()
            time.sleep(0.02)
        (kept,) = pool.status()
        assert kept.state == "ready" and kept.pid in gone
        assert pool.window_stats()[0].reaped == 2
        assert loop.run(pool.invoke("sleepy", {}))["pid"] == kept.pid  # the warm one still serves
    finally:
        loop.run(pool.stop())


def test_stopping_the_pool_leaves_nothing_running(project: Platform, loop: LoopThread) -> None:
    p = WorkerPool(project, env_for, project.root, log=lambda line: None, windows=["echo", "hang"])
    loop.run(p.start())
    pids = [s.pid for s in p.status() if s.pid]
    in_flight = loop.submit(p.invoke("hang", {"hang": True}))
    time.sleep(0.1)
    loop.run(p.stop())
    assert len(pids) == 2 and not [pid for pid in pids if alive(pid)]
    with pytest.raises((WindowCrashedError, WindowUnavailableError)):
        in_flight.result(5)
    assert {s.state for s in p.status()} == {"stopped"}
