"""The queue for a window's execution environments: first come, first served, one waiter per release."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from hms.local.workers import _Group


class FakeWorker:
    def __init__(self) -> None:
        self.restart_pending = False
        self.state = "busy"
        self.last_used = 0.0
        self.closed = False
        self.invocations = 0

    def _set(self, state: str) -> None:
        self.state = state


def group() -> _Group:
    pool: Any = SimpleNamespace(clock=lambda: 0.0, stopping=False, queue_wait=1.0)
    window: Any = SimpleNamespace(name="w")
    return _Group(pool, window, limit=1, warm=1)


def test_a_release_wakes_exactly_one_waiter_the_first_in_line() -> None:
    async def scenario() -> None:
        g = group()
        loop = asyncio.get_running_loop()
        waiters = [loop.create_future() for _ in range(3)]
        g.waiters.extend(waiters)
        worker: Any = FakeWorker()
        g.release(worker)
        assert waiters[0].result() is worker and worker.state == "busy"
        assert not waiters[1].done() and not waiters[2].done()
        assert list(g.waiters) == waiters[1:]
        g.release(worker)
        assert waiters[1].result() is worker and not waiters[2].done()

    asyncio.run(scenario())


def test_a_waiter_that_gave_up_is_skipped_and_the_environment_goes_to_the_next() -> None:
    async def scenario() -> None:
        g = group()
        loop = asyncio.get_running_loop()
        gone, waiting = loop.create_future(), loop.create_future()
        gone.cancel()
        g.waiters.extend([gone, waiting])
        worker: Any = FakeWorker()
        g.release(worker)
        assert waiting.result() is worker and not g.waiters

    asyncio.run(scenario())


def test_a_release_with_nobody_waiting_leaves_the_environment_idle() -> None:
    async def scenario() -> None:
        g = group()
        worker: Any = FakeWorker()
        g.release(worker)
        assert worker.state == "ready" and worker.invocations == 1

    asyncio.run(scenario())
