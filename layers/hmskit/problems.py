"""RFC 9457 problem details.

Every error a window answers is a ``Problem``: raise one of the subclasses below (or map a domain
error to a status in the window's ``errors`` table) and ``hmskit.webcore`` renders it as
``application/problem+json`` with a useful ``detail``. Nothing else in a window builds error
responses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://hms.example.gov/problems/"


class Problem(Exception):
    """An error with an HTTP status, rendered as problem+json."""

    status: int = 500
    slug: str = "internal-error"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if slug is not None:
            self.slug = slug
        self.headers = headers or {}
        self.extensions = extensions

    @property
    def title(self) -> str:
        return HTTPStatus(self.status).phrase

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body

    def to_json(self, instance: str | None = None) -> str:
        return json.dumps(self.to_dict(instance), default=str)


class BadRequestError(Problem):
    status, slug = 400, "bad-request"


class MalformedJSONError(Problem):
    status, slug = 400, "malformed-json"


class UnauthorizedError(Problem):
    status, slug = 401, "unauthorized"


class ForbiddenError(Problem):
    status, slug = 403, "forbidden"


class NotFoundError(Problem):
    status, slug = 404, "not-found"


class MethodNotAllowedError(Problem):
    status, slug = 405, "method-not-allowed"


class ConflictError(Problem):
    status, slug = 409, "conflict"


class PayloadTooLargeError(Problem):
    status, slug = 413, "payload-too-large"


class UnsupportedMediaTypeError(Problem):
    status, slug = 415, "unsupported-media-type"


class UnprocessableError(Problem):
    status, slug = 422, "validation-error"


class RequestHeaderFieldsTooLargeError(Problem):
    status, slug = 431, "request-header-fields-too-large"


class TooManyRequestsError(Problem):
    status, slug = 429, "rate-limited"


class InternalError(Problem):
    status, slug = 500, "internal-error"


class BadGatewayError(Problem):
    status, slug = 502, "bad-gateway"


class ServiceUnavailableError(Problem):
    status, slug = 503, "service-unavailable"


class GatewayTimeoutError(Problem):
    status, slug = 504, "gateway-timeout"


def validation_problem(errors: Iterable[Mapping[str, Any]]) -> UnprocessableError:
    """A 422 naming every invalid field, built from pydantic's ``errors()``."""
    fields = []
    for err in errors:
        loc = ".".join(str(part) for part in err.get("loc", ()) if part != "body") or "body"
        fields.append({"field": loc, "reason": err.get("msg", "invalid")})
    summary = "; ".join(f"{f['field']}: {f['reason']}" for f in fields)
    return UnprocessableError(f"request body is invalid: {summary}", errors=fields)
