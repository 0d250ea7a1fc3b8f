"""Live manifests under ``hms up``: a changed ``routes/`` is in force for everything it says.

``diff`` compares the running platform with the reloaded one, window by window:

* routes, scopes and ``throttle`` live in the gateway's route table: swapping the table puts them in
  force with the next request (nothing restarts);
* what a window's execution environment is started with (``window.environment``, the rate limit,
  which reaches the window as ``HMS_RATE_LIMIT``, timeout, memory, concurrency, framework, payload,
  bucket, email) restarts that window's environments only, each between two requests;
* a new manifest (with its ``functions/<w>/``) starts the window; a removed one stops it.

``LivePlatform.apply`` does it in the order that never routes a request to a window that is not
there: resources and new windows first, then the route table, then restarts and removals.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hms.model import Platform, Window

Log = Callable[[str], None]


@dataclass(frozen=True)
class ManifestChange:
    added: tuple[Window, ...] = ()
    removed: tuple[str, ...] = ()
    restarted: tuple[Window, ...] = ()  # what its environments start with changed
    rerouted: tuple[Window, ...] = ()  # routes, scopes or throttle only: the route table is enough

    @property
    def changed(self) -> tuple[Window, ...]:
        """Every window whose start-up table rows changed (new, restarted, re-routed)."""
        return self.added + self.restarted + self.rerouted

    @property
    def resources(self) -> bool:
        """Whether local resources may be missing (a new window, a bucket or email turned on)."""
        return bool(self.added) or any(w.bucket or w.email for w in self.restarted)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.restarted or self.rerouted)


def _started_with(w: Window) -> tuple[Any, ...]:
    """What a window's execution environment is started with (its Lambda configuration)."""
    return (
        w.settings,
        w.rate_limit,
        w.timeout,
        w.memory,
        w.concurrency,
        w.framework,
        w.payload_version,
        w.bucket,
        w.email,
        w.code_dir,
    )


def _routed(w: Window) -> tuple[Any, ...]:
    return (w.uri, w.routes, w.throttle, w.scopes, w.manifest_file)


def diff(old: Platform, new: Platform) -> ManifestChange:
    before = {w.name: w for w in old.windows}
    after = {w.name: w for w in new.windows}
    added = tuple(w for name, w in after.items() if name not in before)
    removed = tuple(sorted(name for name in before if name not in after))
    restarted, rerouted = [], []
    for name, w in after.items():
        was = before.get(name)
        if was is None:
            continue
        if _started_with(was) != _started_with(w):
            restarted.append(w)
        elif _routed(was) != _routed(w):
            rerouted.append(w)
    return ManifestChange(added, removed, tuple(restarted), tuple(rerouted))


class Pool(Protocol):
    async def add_window(self, window: Window, *, wait: bool = True) -> None: ...

    async def remove_window(self, name: str) -> None: ...

    async def restart(self, window_name: str, *, wait: bool = True, window: Window | None = None) -> None: ...


class LivePlatform:
    """Applies a reloaded platform to the running workers.

    ``prepare(platform, change)`` creates what a new window needs (its table, bucket, Cloud Map
    entry when ``change.resources``) and makes the environments started from now on the new
    platform's; ``swap(platform)`` puts the new route table in force; ``show(change, platform)``
    prints the start-up table's rows of the windows that changed.
    """

    def __init__(
        self,
        pool: Pool,
        *,
        prepare: Callable[[Platform, ManifestChange], Awaitable[None]],
        swap: Callable[[Platform], None],
        show: Callable[[ManifestChange, Platform], None] | None = None,
        log: Log,
    ) -> None:
        self._pool = pool
        self._prepare = prepare
        self._swap = swap
        self._show = show
        self._log = log

    async def apply(self, old: Platform, new: Platform) -> ManifestChange:
        change = diff(old, new)
        if change:
            await self._prepare(new, change)
        # a new window's route goes live once an environment of it is warm
        await asyncio.gather(*(self._pool.add_window(w) for w in change.added))
        self._swap(new)  # routes, scopes, throttle: in force with the next request
        for w in change.restarted:
            await self._pool.restart(w.name, wait=False, window=w)
        for name in change.removed:
            await self._pool.remove_window(name)
        if change:
            parts = [
                f"{label} {', '.join(names)}"
                for label, names in (
                    ("started", [w.name for w in change.added]),
                    ("restarted (settings)", [w.name for w in change.restarted]),
                    ("re-routed", [w.name for w in change.rerouted]),
                    ("stopped", list(change.removed)),
                )
                if names
            ]
            self._log(f"hms: manifests applied: {'; '.join(parts)}")
            if self._show is not None and change.changed:
                self._show(change, dataclasses.replace(new, windows=change.changed))
        return change
