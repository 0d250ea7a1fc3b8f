"""Passport HTTP handler: parse, call one domain function, answer. Errors map in ONE place.

One Lambda entry point for everything the window is invoked with (``hmskit.entry.dispatch``):
HTTP requests, SQS batches of the events it consumes (the renewal saga, ``passport.consumers``),
its table stream (outbox relay) and the scheduled sweep (``relay_pending``).
"""

from __future__ import annotations

from typing import Any

import hmskit.store  # noqa: F401  # isort: skip  # first: see hmskit's cold-start rules
from hmskit.correlation import correlation_id_of
from hmskit.http import WindowApp, json_response
from hmskit.observability import entrypoint, metrics
from hmskit.problems import (
    BadGatewayError,
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    Problem,
    UnprocessableError,
)
from passport import bootstrap, domain

BASE = "/api/v1/renewals"
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR = 512

app = WindowApp(
    "passport",
    errors={domain.RenewalNotFoundError: NotFoundError, domain.InvalidCursorError: BadRequestError},
)


def _refused(exc: domain.NotEligibleError | domain.EligibilityError) -> Problem:
    """The submission's refusals, with their extensions (the ``errors`` table carries none)."""
    if isinstance(exc, domain.NotEligibleError):
        return ForbiddenError(
            str(exc), slug="renewal-not-eligible", reasons=[r.public() for r in exc.reasons]
        )
    if isinstance(exc, domain.EligibilityForbiddenError):
        return ForbiddenError(str(exc), slug="eligibility-forbidden", upstream_window="eligibility")
    if isinstance(exc, domain.EligibilityInvalidError):
        return UnprocessableError(str(exc), slug="renewal-invalid", errors=exc.errors)
    return BadGatewayError(str(exc), slug="eligibility-answer-invalid", upstream_window="eligibility")


@app.post(BASE, idempotent=True)
def submit_renewal() -> Any:
    """Submit a renewal: 202 + ``Location``. The body is ``passport.models.SubmitRenewal``; unknown
    fields are refused (422). Eligibility is asked first with the caller's own token: not eligible
    is 403 (``reasons``), eligibility down or slow is its 503/504; nothing is stored then."""
    from hmskit.a2a import bearer_token
    from passport.models import SubmitRenewal

    principal = app.principal()  # a verified caller, or 401 before the body is read
    request = app.json_body(SubmitRenewal)
    deps: bootstrap.Deps = app.deps
    token = bearer_token(app.event.raw_event)
    correlation_id = correlation_id_of(app.event.raw_event)
    email = request.email or principal.email

    def submit() -> Any:
        try:
            renewal = domain.submit_renewal(
                deps.renewals,
                deps.eligibility,
                deps.renewal_events,
                owner=principal.sub,
                application=request.to_application(),
                passport_number=request.passport_number,
                mailing_address=request.mailing_address.to_address(),
                email=email,
                token=token,
                correlation_id=correlation_id,
                new_id=deps.new_id,
                now_iso=deps.now_iso,
            )
        except (domain.NotEligibleError, domain.EligibilityError) as exc:
            metrics().add_metric(name="RenewalRefused", unit="Count", value=1)
            raise _refused(exc) from exc
        metrics().add_metric(name="RenewalSubmitted", unit="Count", value=1)
        return json_response(202, renewal.public(deps.renewal_fee), {"Location": f"{BASE}/{renewal.id}"})

    return app.idempotent(request.model_dump(mode="json"), submit)


@app.get(f"{BASE}/{{id}}")
def get_renewal(id: str) -> Any:
    """The caller's renewal, with the ``fee`` to pay (a payment of exactly it, naming the renewal)."""
    deps: bootstrap.Deps = app.deps
    renewal = domain.get_renewal(deps.renewals, owner=app.principal().sub, renewal_id=id)
    return json_response(200, renewal.public(deps.renewal_fee))


@app.get(BASE)
def list_renewals() -> Any:
    """The caller's renewals, newest first: ``?limit=1..100`` (20), ``&cursor=`` from ``next_cursor``.
    Parsed by hand, not with pydantic: a GET never pays its import."""
    query = app.event.query_string_parameters or {}
    raw_limit = query.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise BadRequestError(f"invalid query: limit: must be a whole number from 1 to {MAX_LIMIT}")
        limit = int(raw_limit)
    cursor = query.get("cursor") or None
    if cursor is not None and len(cursor) > MAX_CURSOR:
        raise BadRequestError(f"invalid query: cursor: at most {MAX_CURSOR} characters")
    deps: bootstrap.Deps = app.deps
    page = domain.list_renewals(deps.renewals, owner=app.principal().sub, limit=limit, cursor=cursor)
    items = [r.public(deps.renewal_fee) for r in page.items]
    return json_response(200, {"items": items, "next_cursor": page.cursor})


@app.get(f"{BASE}/health", rate_limited=False)
def health() -> Any:
    return json_response(200, {"window": "passport", "status": "ok"})


def handle(event: dict[str, Any], context: Any, deps: bootstrap.Deps) -> dict[str, Any]:
    """Any invocation with ``deps`` instead of the composition root's (tests, benchmarks)."""
    from hmskit.entry import dispatch

    return dispatch(
        event,
        context,
        http=lambda e, c: app.handle(e, c, deps),
        consumer=deps.consumer,
        relay=deps.relay,
    )


@entrypoint
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """HTTP requests, SQS batches (the saga), and (in AWS) the table stream and the outbox sweep."""
    return handle(event, context, bootstrap.deps())
