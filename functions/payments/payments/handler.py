"""Payments HTTP handler: parse, call one domain function, answer. Errors map in ONE place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hmskit.store  # noqa: F401  # isort: skip  # first: see hmskit's cold-start rules
from hmskit.correlation import correlation_id_of
from hmskit.http import WindowApp, json_response
from hmskit.observability import entrypoint, metrics
from hmskit.problems import BadRequestError, NotFoundError
from payments import bootstrap, domain, v2

BASE = "/api/v1/payments"

app = WindowApp(
    "payments",
    errors={domain.PaymentNotFoundError: NotFoundError, domain.InvalidCursorError: BadRequestError},
)


@app.post(BASE, idempotent=True)
def create_payment() -> Any:
    from payments.models import CreatePayment

    request = app.json_body(CreatePayment)
    body = request.model_dump(mode="json", exclude_none=True)
    return _capture(BASE, request.amount, request.currency, request.purpose, request.renewal_id, body)


@app.post(v2.BASE, idempotent=True)
def create_payment_v2() -> Any:
    from payments.models_v2 import CreatePaymentV2

    request = app.json_body(CreatePaymentV2)
    body = request.model_dump(mode="json", exclude_none=True)
    money = request.amount
    return _capture(
        v2.BASE, money.decimal(), money.currency, request.purpose, request.renewal_id, body, v2.public
    )


def _capture(
    base: str,
    amount: Any,
    currency: str,
    purpose: str,
    renewal_id: str | None,
    body: dict[str, Any],
    render: Callable[[domain.Payment], dict[str, Any]] = domain.Payment.public,
) -> Any:
    """One payment per Idempotency-Key, whichever contract version asked for it."""
    deps: bootstrap.Deps = app.deps
    principal = app.principal()
    correlation_id = correlation_id_of(app.event.raw_event)

    def create() -> Any:
        payment = domain.create_payment(
            deps.payments,
            deps.events,
            owner=principal.sub,
            amount=amount,
            currency=currency,
            purpose=purpose,
            new_id=deps.new_id,
            now_iso=deps.now_iso,
            renewal_id=renewal_id,
            email=principal.email,
            correlation_id=correlation_id,
        )
        metrics().add_metric(name="PaymentCreated", unit="Count", value=1)
        return json_response(201, render(payment), {"Location": f"{base}/{payment.id}"})

    return app.idempotent(body, create)


@app.get(f"{BASE}/{{id}}")
def get_payment(id: str) -> Any:
    payment = domain.get_payment(app.deps.payments, owner=app.principal().sub, payment_id=id)
    return json_response(200, payment.public())


@app.get(BASE)
def list_payments() -> Any:
    from payments.models import ListQuery

    query = app.query(ListQuery)
    page = domain.list_payments(
        app.deps.payments, owner=app.principal().sub, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, {"items": [p.public() for p in page.items], "next_cursor": page.cursor})


@app.get(f"{v2.BASE}/{{id}}")
def get_payment_v2(id: str) -> Any:
    payment = domain.get_payment(app.deps.payments, owner=app.principal().sub, payment_id=id)
    return json_response(200, v2.public(payment))


@app.get(v2.BASE)
def list_payments_v2() -> Any:
    from payments.models import ListQuery

    query = app.query(ListQuery)
    page = domain.list_payments(
        app.deps.payments, owner=app.principal().sub, limit=query.limit, cursor=query.cursor
    )
    return json_response(200, {"items": [v2.public(p) for p in page.items], "next_cursor": page.cursor})


@app.get(f"{BASE}/health", rate_limited=False)
def health() -> Any:
    return json_response(200, {"window": "payments", "status": "ok"})


def handle(event: dict[str, Any], context: Any, deps: bootstrap.Deps) -> dict[str, Any]:
    result = app.handle(event, context, deps)
    if v2.is_v1(event):  # every v1 answer, errors included, says it is deprecated and what replaces it
        result["headers"] = {**(result.get("headers") or {}), **v2.V1_DEPRECATION}
    return result


@entrypoint
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """HTTP requests, and (in AWS) the table stream and the sweep that relay the outbox."""
    from hmskit.entry import dispatch

    deps = bootstrap.deps()
    return dispatch(event, context, http=lambda e, c: handle(e, c, deps), relay=deps.relay)
