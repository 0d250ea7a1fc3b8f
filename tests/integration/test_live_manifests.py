"""Live manifests: a changed manifest is applied to the running workers for everything it says.

Real worker processes (throwaway windows that answer with their pid and environment); the manifest
changes are applied by ``hms.local.live.LivePlatform`` as ``hms up`` applies them. Every wait is on
a state (a pid, an answer), never on the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hms.local.live import LivePlatform, ManifestChange, diff
from hms.local.workers import UnknownWindowError, WorkerPool
from hms.model import Platform, Window, load_platform

pytestmark = pytest.mark.integration

HANDLER = """
import os, time

def lambda_handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {
        "pid": os.getpid(),
        "rate_limit": os.environ.get("HMS_RATE_LIMIT"),
        "colour": os.environ.get("HMS_COLOUR"),
        "timeout": os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT"),
    }
"""


def manifest(name: str, *, limit: int = 30, colour: str = "blue", scopes: str = "[a.read]") -> str:
    return (
        f"uri: /api/v1/{name}/**\nupstream: {name}\n"
        f"plugins:\n  - auth: {{scopes: {scopes}}}\n  - rate-limit: {{limit: {limit}, window: 60}}\n"
        f"window: {{timeout: 5, environment: {{HMS_COLOUR: {colour}}}}}\n"
    )


def add_window(root: Path, name: str, text: str | None = None) -> None:
    pkg = root / "functions" / name / name
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "handler.py").write_text(HANDLER)
    (root / "routes").mkdir(exist_ok=True)
    (root / "routes" / f"{name}.yaml").write_text(text or manifest(name))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    add_window(tmp_path, "alpha")
    add_window(tmp_path, "beta")
    return tmp_path


def env_for(window: Window) -> dict[str, str]:
    return window.environment(table_name=f"t-{window.name}", bucket_name=None)


class Running:
    """A pool and the live applier, as ``hms up`` wires them (``swap`` records the installed platform)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.pool = WorkerPool(platform, env_for=env_for, idle_timeout=0)
        self.prepared: list[ManifestChange] = []
        self.shown: list[tuple[str, ...]] = []
        self.live = LivePlatform(
            self.pool, prepare=self._prepare, swap=self._swap, show=self._show, log=lambda _line: None
        )

    async def _prepare(self, platform: Platform, change: ManifestChange) -> None:
        self.prepared.append(change)

    def _swap(self, platform: Platform) -> None:
        self.platform = platform

    def _show(self, change: ManifestChange, changed: Platform) -> None:
        self.shown.append(tuple(w.name for w in changed.windows))

    async def reload(self, root: Path) -> ManifestChange:
        return await self.live.apply(self.platform, load_platform(root))

    async def call(self, name: str, **event: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.pool.invoke(name, event)
        return result


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))


@pytest.fixture
def running(root: Path) -> Iterator[Running]:
    yield Running(load_platform(root))


def test_a_changed_rate_limit_restarts_only_that_window_and_the_next_request_has_it(
    root: Path, running: Running
) -> None:
    async def scenario() -> None:
        async with running.pool:
            alpha, beta = await running.call("alpha"), await running.call("beta")
            assert alpha["rate_limit"] == "30/60"
            (root / "routes" / "alpha.yaml").write_text(manifest("alpha", limit=5))

            change = await running.reload(root)

            assert [w.name for w in change.restarted] == ["alpha"] and not change.rerouted
            after = await running.call("alpha")
            assert (after["rate_limit"], after["pid"] != alpha["pid"]) == ("5/60", True)
            assert (await running.call("beta"))["pid"] == beta["pid"]
            assert running.shown == [("alpha",)]

    run(scenario())


def test_a_request_in_progress_finishes_with_the_old_settings_the_next_gets_the_new(
    root: Path, running: Running
) -> None:
    async def scenario() -> None:
        async with running.pool:
            (root / "routes" / "alpha.yaml").write_text(manifest("alpha", colour="green"))
            slow = asyncio.create_task(running.call("alpha", sleep=0.5))
            while not any(s.state == "busy" for s in running.pool.status() if s.name == "alpha"):
                await asyncio.sleep(0.01)

            await running.reload(root)

            assert (await slow)["colour"] == "blue"
            assert (await running.call("alpha"))["colour"] == "green"

    run(scenario())


def test_scopes_routes_and_throttle_change_the_routes_only_nothing_restarts(
    root: Path, running: Running
) -> None:
    async def scenario() -> None:
        async with running.pool:
            before = await running.call("alpha")
            text = manifest("alpha", scopes="[a.read, a.write]") + "throttle: {rate: 1, burst: 2}\n"
            (root / "routes" / "alpha.yaml").write_text(text)

            change = await running.reload(root)

            assert [w.name for w in change.rerouted] == ["alpha"] and not change.restarted
            assert running.platform.window("alpha").scopes == ("a.read", "a.write")
            assert (await running.call("alpha"))["pid"] == before["pid"]

    run(scenario())


def test_a_new_window_is_started_and_a_removed_one_stopped_without_a_restart(
    root: Path, running: Running
) -> None:
    async def scenario() -> None:
        async with running.pool:
            alpha = await running.call("alpha")
            add_window(root, "gamma")

            change = await running.reload(root)

            assert [w.name for w in change.added] == ["gamma"] and change.resources
            assert (await running.call("gamma"))["rate_limit"] == "30/60"
            gamma_pids = {s.pid for s in running.pool.status() if s.name == "gamma"}
            (root / "routes" / "gamma.yaml").unlink()

            change = await running.reload(root)

            assert change.removed == ("gamma",)
            with pytest.raises(UnknownWindowError):
                await running.call("gamma")
            assert all(s.name != "gamma" for s in running.pool.status())
            assert gamma_pids and not any(Path(f"/proc/{pid}").exists() for pid in gamma_pids)
            assert (await running.call("alpha"))["pid"] == alpha["pid"]

    run(scenario())


def test_diff_names_each_kind_of_change(root: Path) -> None:
    old = load_platform(root)
    (root / "routes" / "alpha.yaml").write_text(manifest("alpha", limit=7))
    (root / "routes" / "beta.yaml").write_text(manifest("beta", scopes="[b.read]"))

    change = diff(old, load_platform(root))

    assert ([w.name for w in change.restarted], [w.name for w in change.rerouted]) == (["alpha"], ["beta"])
    assert not diff(old, old)
