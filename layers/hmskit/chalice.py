"""A window's HTTP front on Chalice (payload 1.0): ``hmskit.webcore`` around Chalice's routing.

Chalice routes on ``requestContext.resourcePath`` + ``httpMethod`` and answers its own errors with
``{"Code": ..., "Message": ...}`` bodies. ``ChaliceWindow`` keeps its routing and adds one ``http``
middleware, which sees every request, matched or not, under ``hmskit.observability.entrypoint``:

- it answers an unknown route 404 and a known path with another method 405 before Chalice looks
  (Chalice would answer 405 with an empty ``Allow``, and add the path to ``app.routes``);
- it counts the rate limit of rate-limited routes;
- it turns any Chalice error answer that still gets through into problem+json.

Every view is wrapped, so whatever it raises becomes problem+json before Chalice's own error handler
sees it. Chalice is packaged with a window that uses it (its requirements.txt), not in the layer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from chalice.app import Chalice, Request, Response

from hmskit import jsonbody, problems
from hmskit.observability import entrypoint, logger
from hmskit.problems import PROBLEM_CONTENT_TYPE, InternalError, Problem
from hmskit.webcore import CoreDeps, ErrorMap, RouteSpec, WindowCore, dumps

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")
View = Callable[..., Response]
GetResponse = Callable[[Request | None], Response]
ChaliceDeps = CoreDeps

__all__ = ["ChaliceDeps", "ChaliceWindow", "json_response", "problem_response"]

# Chalice's own error answers, by status, as the platform's problems.
_CHALICE_ERRORS: dict[int, type[Problem]] = {
    400: problems.BadRequestError,
    401: problems.UnauthorizedError,
    404: problems.NotFoundError,
    405: problems.MethodNotAllowedError,
    413: problems.PayloadTooLargeError,
    415: problems.UnsupportedMediaTypeError,
    429: problems.TooManyRequestsError,
    500: problems.InternalError,
    503: problems.ServiceUnavailableError,
}


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    text = body if isinstance(body, str) else dumps(body)
    return Response(
        body=text, status_code=status, headers={"Content-Type": "application/json", **(headers or {})}
    )


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    return Response(
        body=problem.to_json(instance),
        status_code=problem.status,
        headers={**problem.headers, "Content-Type": PROBLEM_CONTENT_TYPE},
    )


class ChaliceWindow(WindowCore):
    """Registers a Chalice app's routes and wraps them with the platform's concerns.

    ``deps`` is the composition root's factory, called on the first request that needs deps (cache
    it there).
    """

    def __init__(
        self, app: Chalice, *, deps: Callable[[], ChaliceDeps], errors: ErrorMap | None = None
    ) -> None:
        super().__init__(app.app_name, errors)
        self.app = app
        self._deps_factory = deps
        self._injected: ChaliceDeps | None = None
        self._next: GetResponse | None = None
        app.register_middleware(self._middleware, "http")

    # -- routes -----------------------------------------------------------------------------------
    def route(
        self, path: str, *, method: str, rate_limited: bool = True, idempotent: bool | None = None
    ) -> Callable[[View], View]:
        return self._declare(method, path, rate_limited=rate_limited, idempotent=idempotent)

    def _register(self, spec: RouteSpec, view: View) -> None:
        @functools.wraps(view)
        def answer(**params: Any) -> Response:
            try:
                return view(**params)
            except Exception as exc:
                return self._problem_answer(exc, self.event)

        # content_types */*: the body's type is checked by json_body (415 problem+json)
        self.app.route(spec.path, methods=[spec.method], content_types=["*/*"])(answer)

    # -- per-request accessors --------------------------------------------------------------------
    @property
    def request(self) -> Request:
        request = self.app.current_request
        if request is None:
            raise RuntimeError("no request is being handled")
        return request

    @property
    def event(self) -> dict[str, Any]:
        """The payload 1.0 event as API Gateway sent it."""
        event: dict[str, Any] = self.request.to_original_event()
        return event

    @property
    def raw_event(self) -> Mapping[str, Any]:
        return self.event

    @property
    def deps(self) -> Any:
        return self._injected if self._injected is not None else self._deps_factory()

    def header(self, name: str) -> str | None:
        value = self.request.headers.get(name)
        return None if value is None else str(value)

    def json_body(self, model: type[M]) -> M:
        """The body validated as ``model`` from its JSON text: 415, 413, 400 (malformed), 422."""
        return jsonbody.validate_text(model, self.json_bytes())

    # -- entry ------------------------------------------------------------------------------------
    def handle(self, event: dict[str, Any], context: Any, deps: ChaliceDeps) -> dict[str, Any]:
        """Answer one event with ``deps`` instead of the composition root's (tests, benchmarks)."""
        self._injected = deps
        try:
            result: dict[str, Any] = self.app(event, context)
            return result
        finally:
            self._injected = None

    @functools.cached_property
    def _entry(self) -> Callable[[dict[str, Any], Any], Any]:
        # Built on the first request, not at import: the Logger reads the environment.
        return entrypoint(self._respond)

    def _middleware(self, request: Request | None, get_response: GetResponse) -> Response:
        if request is None:  # no requestContext.resourcePath: not a payload 1.0 event
            logger().error("the window received an event that is not API Gateway payload 1.0")
            return problem_response(
                InternalError(
                    "the window expects API Gateway payload 1.0 events (requestContext.resourcePath)",
                    slug="unsupported-event",
                )
            )
        self._next = get_response
        try:
            response: Response = self._entry(request.to_original_event(), request.lambda_context)
            return response
        finally:
            self._next = None

    def _respond(self, event: dict[str, Any], context: Any) -> Any:
        try:
            return self._dispatch(event)
        except Exception as exc:
            return self._problem_answer(exc, event)

    def _dispatch(self, event: dict[str, Any]) -> Response:
        ctx = event.get("requestContext") or {}
        method = str(ctx.get("httpMethod") or event.get("httpMethod") or "").upper()
        resource = str(ctx.get("resourcePath") or "")
        spec = self._spec(method, resource)
        if spec is None:
            raise self.no_route(method, str(event.get("path") or ""), resource)
        counted = self.count(spec)
        if self._next is None:
            raise RuntimeError("_dispatch runs only inside the middleware")
        response = self._from_chalice_error(self._next(self.app.current_request), event)
        response.headers.update(counted)
        return response

    def _problem_answer(self, exc: Exception, event: Mapping[str, Any]) -> Response:
        return problem_response(self.problem_for(exc), event.get("path"))

    def _from_chalice_error(self, response: Response, event: Mapping[str, Any]) -> Response:
        """Chalice's own error answer (``{"Code", "Message"}``), if any, as problem+json."""
        if response.status_code < 400:
            return response
        headers = {
            k: ", ".join(v) if isinstance(v, list) else str(v)
            for k, v in response.headers.items()
            if k.lower() != "content-type"
        }
        ctype = next((str(v) for k, v in response.headers.items() if k.lower() == "content-type"), "")
        if ctype.startswith(PROBLEM_CONTENT_TYPE):
            return response
        body = response.body
        message = body.get("Message") if isinstance(body, dict) else None
        status = response.status_code
        detail = str(message or f"the window answered {status}")
        klass = _CHALICE_ERRORS.get(status)
        problem = (
            klass(detail, headers=headers)
            if klass
            else Problem(detail, status=status, slug=f"http-{status}", headers=headers)
        )
        if status >= 500:
            logger().error("chalice answered %s: %s", status, detail)
        return problem_response(problem, event.get("path"))
