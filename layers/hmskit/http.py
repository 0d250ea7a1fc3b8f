"""A window's HTTP front on Powertools (payload 2.0): ``hmskit.webcore`` wired into the resolver.

Not ``APIGatewayHttpResolver(enable_validation=True)``: measured here it adds ~90 ms to every cold
start (its OpenAPI machinery); parsing the body with the route's pydantic model gives the same 422s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as _RouteNotFound

from hmskit import jsonbody
from hmskit.idempotency import HEADER as IDEMPOTENCY_HEADER
from hmskit.idempotency import Idempotency
from hmskit.problems import PROBLEM_CONTENT_TYPE, BadRequestError, Problem
from hmskit.webcore import CoreDeps, ErrorMap, RouteSpec, WindowCore, dumps

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")
RouteFn = Callable[..., Any]

__all__ = ["IdempotentDeps", "WindowApp", "WindowDeps", "dumps", "json_response", "problem_response"]

WindowDeps = CoreDeps  # what ``WindowApp`` needs from a window's composition root


class IdempotentDeps(WindowDeps, Protocol):
    """... and from a window with an idempotent POST (``WindowApp.idempotent``): only those."""

    @property
    def idempotency(self) -> Idempotency: ...


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=body if isinstance(body, str) else dumps(body),
        headers=dict(headers or {}),
    )


def problem_response(problem: Problem, instance: str | None = None) -> Response[str]:
    return Response(
        status_code=problem.status,
        content_type=PROBLEM_CONTENT_TYPE,
        body=problem.to_json(instance),
        headers=dict(problem.headers),
    )


class WindowApp(WindowCore):
    def __init__(self, window: str, *, errors: ErrorMap | None = None) -> None:
        super().__init__(window, errors)
        self.resolver = APIGatewayHttpResolver(serializer=dumps)
        self._by_powertools_path: dict[tuple[str, str], RouteSpec] = {}
        self.resolver.exception_handler(Exception)(self._on_error)

        # A plain function, not the bound method: Powertools caches its signature inspection on
        # the middleware object, which a bound method cannot hold (re-inspected: ~120 us a request).
        def rate_limit(
            app: APIGatewayHttpResolver, next_middleware: Callable[..., Response[Any]]
        ) -> Response[Any]:
            return self._rate_limit(app, next_middleware)

        self.resolver.use(middlewares=[rate_limit])

    # -- routes -----------------------------------------------------------------------------------
    def route(
        self, method: str, path: str, *, rate_limited: bool = True, idempotent: bool | None = None
    ) -> Callable[[RouteFn], RouteFn]:
        return self._declare(method, path, rate_limited=rate_limited, idempotent=idempotent)

    def _register(self, spec: RouteSpec, view: RouteFn) -> None:
        powertools_path = re.sub(r"\{([^}+]+)\+?\}", r"<\1>", spec.path)
        self._by_powertools_path[(spec.method, powertools_path)] = spec
        self.resolver.route(powertools_path, spec.method)(view)

    def _current_spec(self) -> RouteSpec | None:
        route = self.resolver.context.get("_route")
        return self._by_powertools_path.get((route.method, route.path)) if route is not None else None

    # -- per-request accessors --------------------------------------------------------------------
    @property
    def event(self) -> Any:
        return self.resolver.current_event

    @property
    def raw_event(self) -> Mapping[str, Any]:
        raw: Mapping[str, Any] = self.event.raw_event
        return raw

    @property
    def deps(self) -> Any:
        return self.resolver.context["deps"]

    def header(self, name: str) -> str | None:
        headers = self.event.headers or {}
        value = headers.get(name.lower())
        if value is None:
            for key, val in headers.items():
                if key.lower() == name.lower():
                    return str(val)
        return value

    def json_body(self, model: type[M]) -> M:
        """Parse the body as ``model``: 415, 413, 400 (malformed, or nested too deep) or 422 (invalid)."""
        return jsonbody.validate(model, self.json_bytes())

    def query(self, model: type[M]) -> M:
        """Parse the query string as ``model``; 400 naming the first bad parameter otherwise."""
        from pydantic import ValidationError

        try:
            return model.model_validate(self.event.query_string_parameters or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise BadRequestError(f"invalid query: {first['loc'][0]}: {first['msg']}") from exc

    def idempotent(self, body: Any, compute: Callable[[], Response[str]]) -> Response[str]:
        """Run a POST once per Idempotency-Key (header optional); a retry replays the answer."""
        spec = self._current_spec()
        route_key = f"{self.event.http_method} {spec.path if spec else self.event.path}"

        def stored() -> dict[str, Any]:
            resp = compute()
            return {"status": resp.status_code, "body": resp.body, "headers": dict(resp.headers)}

        deps: IdempotentDeps = self.deps
        result = deps.idempotency.run(
            key=self.header(IDEMPOTENCY_HEADER),
            principal=self.principal().sub,
            route=route_key,
            body=body,
            compute=stored,
            context=getattr(self.resolver, "lambda_context", None),
        )
        headers = {k: v for k, v in result["headers"].items() if k.lower() != "content-type"}
        return Response(
            status_code=result["status"],
            content_type="application/json",
            body=result["body"],
            headers=headers,
        )

    # -- entry ------------------------------------------------------------------------------------
    def handle(self, event: dict[str, Any], context: Any, deps: WindowDeps) -> dict[str, Any]:
        self.resolver.append_context(deps=deps)  # type: ignore[no-untyped-call]
        try:
            return self.resolver.resolve(event, context)
        finally:
            self.resolver.clear_context()  # type: ignore[no-untyped-call]

    def _on_error(self, exc: Exception) -> Response[str]:
        path = self.event.path
        if isinstance(exc, _RouteNotFound):
            problem = self.no_route(self.event.http_method.upper(), path)
        else:
            problem = self.problem_for(exc)
        return problem_response(problem, path)

    def _rate_limit(
        self, app: APIGatewayHttpResolver, next_middleware: Callable[..., Response[Any]]
    ) -> Response[Any]:
        counted = self.count(self._current_spec())
        response = next_middleware(app)
        response.headers.update(counted)
        return response
