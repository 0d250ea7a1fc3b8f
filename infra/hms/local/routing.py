"""Route matching for the local gateway, with API Gateway HTTP API's precedence.

A request goes to the most specific route that matches it:

1. a path made only of literal segments (a dict lookup, tried first);
2. otherwise, segment by segment from the left, a literal segment beats a ``{param}``, which beats a
   greedy ``{proxy+}`` (one or more segments);
3. for the same path, a route naming the method beats ``ANY``.

A path is more important than a method: ``ANY /a/b`` wins over ``GET /a/{id}`` for ``GET /a/b``, but
when the most specific path does not accept the method, a less specific path that does is used
(``POST /a/b`` and ``GET /a/{id}``: ``GET /a/b`` goes to the second).

The table is compiled once from the platform model; matching walks a per-segment trie with
backtracking, so no regular expression is run per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

from hms.model import Platform, Route, Window

ANY = "ANY"


@dataclass(frozen=True, slots=True)
class Match:
    window: Window
    route: Route
    path_parameters: dict[str, str]


@dataclass(slots=True)
class _Node:
    static: dict[str, _Node] = field(default_factory=dict)
    params: list[tuple[str, _Node]] = field(default_factory=list)
    # a route ending here: method -> (window, route)
    methods: dict[str, tuple[Window, Route]] = field(default_factory=dict)
    # a greedy {name+} below this node: its name and method -> (window, route)
    greedy_name: str | None = None
    greedy: dict[str, tuple[Window, Route]] = field(default_factory=dict)


def _segments(path: str) -> list[str]:
    if not path.startswith("/"):
        raise ValueError(f"route path {path!r} must start with '/'")
    return path[1:].split("/")


def _param_name(segment: str) -> str | None:
    if len(segment) > 2 and segment[0] == "{" and segment[-1] == "}":
        return segment[1:-1]
    return None


class RouteTable:
    """Every route of every window, compiled for matching. Immutable once built."""

    __slots__ = ("_root", "_routes", "_static", "windows")

    def __init__(self, entries: Iterable[tuple[Window, Route]]) -> None:
        self._static: dict[str, dict[str, tuple[Window, Route]]] = {}
        self._root = _Node()
        self._routes: list[tuple[Window, Route]] = []
        owners: dict[str, str] = {}
        windows: dict[str, Window] = {}
        for window, route in entries:
            key = f"{route.method.upper()} {route.path}"
            if key in owners:
                raise ValueError(f"route {key!r} is declared twice ({owners[key]} and {window.name})")
            owners[key] = window.name
            windows[window.name] = window
            self._routes.append((window, route))
            self._add(window, route)
        self.windows: dict[str, Window] = windows

    @classmethod
    def from_platform(cls, platform: Platform) -> RouteTable:
        return cls((w, r) for w in platform.windows for r in w.routes)

    @property
    def routes(self) -> list[tuple[Window, Route]]:
        """(window, route) in declaration order, e.g. for a start-up table."""
        return list(self._routes)

    def _add(self, window: Window, route: Route) -> None:
        method = route.method.upper()
        segments = _segments(route.path)
        names = [_param_name(s) for s in segments]
        if not any(names):
            self._static.setdefault(route.path, {})[method] = (window, route)
            return
        node = self._root
        last = len(segments) - 1
        for i, (segment, name) in enumerate(zip(segments, names, strict=True)):
            if name is not None and name.endswith("+"):
                if i != last:
                    raise ValueError(f"route {route.key!r}: a greedy {segment} must be the last segment")
                greedy_name = name[:-1]
                if node.greedy_name not in (None, greedy_name):
                    raise ValueError(f"route {route.key!r}: {segment} clashes with {{{node.greedy_name}+}}")
                node.greedy_name = greedy_name
                node.greedy[method] = (window, route)
                return
            if name is not None:
                child = next((n for p, n in node.params if p == name), None)
                if child is None:
                    child = _Node()
                    node.params.append((name, child))
                node = child
            else:
                node = node.static.setdefault(segment, _Node())
        node.methods[method] = (window, route)

    # -- matching ----------------------------------------------------------------------------------
    def match(self, method: str, path: str) -> Match | None:
        """The route for ``method path`` (``path`` as sent, percent-encoded), or None."""
        if "%" in path:
            return self._match_encoded(method, path)
        by_method = self._static.get(path)
        if by_method is not None:
            hit = by_method.get(method) or by_method.get(ANY)
            if hit is not None:
                return Match(hit[0], hit[1], {})
        if not path.startswith("/"):
            return None
        segments = path[1:].split("/")
        found = _walk(self._root, segments, 0, method, [], None)
        if found is None:
            return None
        (window, route), params = found
        return Match(window, route, dict(params))

    def _match_encoded(self, method: str, path: str) -> Match | None:
        if not path.startswith("/"):
            return None
        segments = [unquote(s) for s in path[1:].split("/")]
        decoded = "/" + "/".join(segments)
        by_method = self._static.get(decoded)
        if by_method is not None:
            hit = by_method.get(method) or by_method.get(ANY)
            if hit is not None:
                return Match(hit[0], hit[1], {})
        found = _walk(self._root, segments, 0, method, [], None)
        if found is None:
            return None
        (window, route), params = found
        return Match(window, route, dict(params))

    def allowed_methods(self, path: str) -> tuple[str, ...]:
        """The methods of the most specific route path matching ``path`` (sorted); empty when none.

        The resource a 405's ``Allow`` speaks of is the one the OpenAPI document lists at that path:
        ``/docs/uploads`` (POST) is not ``/docs/{id}`` (GET), although a GET there falls through to
        ``/docs/{id}`` by precedence (and is that window's 404). Meant for the miss path only.
        """
        segments = [unquote(s) for s in path[1:].split("/")] if path.startswith("/") else []
        decoded = "/" + "/".join(segments)
        static = self._static.get(decoded)
        if static:
            return tuple(sorted(static))
        if not segments:
            return ()
        return tuple(sorted(_most_specific_methods(self._root, segments, 0)))


def _most_specific_methods(node: _Node, segments: list[str], i: int) -> set[str]:
    """The methods of the first route path, in precedence order, that matches ``segments[i:]``."""
    if i == len(segments):
        return set(node.methods)
    segment = segments[i]
    child = node.static.get(segment)
    if child is not None:
        found = _most_specific_methods(child, segments, i + 1)
        if found:
            return found
    if segment:
        for _, sub in node.params:
            found = _most_specific_methods(sub, segments, i + 1)
            if found:
                return found
    if node.greedy_name is not None and "/".join(segments[i:]):
        return set(node.greedy)
    return set()


def _walk(
    node: _Node,
    segments: list[str],
    i: int,
    method: str,
    params: list[tuple[str, str]],
    allowed: set[str] | None,
) -> tuple[tuple[Window, Route], list[tuple[str, str]]] | None:
    """Depth-first, most specific first; ``allowed`` (when given) collects the methods seen."""
    if i == len(segments):
        if node.methods:
            if allowed is not None:
                allowed.update(node.methods)
            hit = node.methods.get(method) or node.methods.get(ANY)
            if hit is not None:
                return hit, params
        return None
    segment = segments[i]
    child = node.static.get(segment)
    if child is not None:
        found = _walk(child, segments, i + 1, method, params, allowed)
        if found is not None:
            return found
    if segment and node.params:
        for name, sub in node.params:
            found = _walk(sub, segments, i + 1, method, [*params, (name, segment)], allowed)
            if found is not None:
                return found
    if node.greedy_name is not None:
        rest = "/".join(segments[i:])
        if rest:
            if allowed is not None:
                allowed.update(node.greedy)
            hit = node.greedy.get(method) or node.greedy.get(ANY)
            if hit is not None:
                return hit, [*params, (node.greedy_name, rest)]
    return None
