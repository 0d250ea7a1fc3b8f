"""The eligibility window's HTTP routes (Chalice, API Gateway payload 1.0; handler ``eligibility.app.app``).

Parse, call one rule function, answer. The platform's concerns (problem+json, rate limit, identity,
logging) come from ``ChaliceWindow``; the one domain error maps in ``errors`` below.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, Response

from eligibility import bootstrap, rules
from hmskit.chalice import ChaliceWindow, json_response
from hmskit.observability import metrics
from hmskit.problems import Problem, validation_problem

BASE = "/api/v1/eligibility"


def _inconsistent(exc: rules.InconsistentApplicationError) -> Problem:
    return validation_problem({"loc": (e.field,), "msg": e.reason} for e in exc.errors)


app = Chalice(app_name="eligibility")
window = ChaliceWindow(app, deps=bootstrap.deps, errors={rules.InconsistentApplicationError: _inconsistent})


@window.post(f"{BASE}/check")
def check() -> Response:
    from eligibility.models import CheckRequest  # here: health never loads pydantic

    window.principal()  # a verified caller, or 401 before the body is read
    request = window.json_body(CheckRequest)
    deps: bootstrap.Deps = window.deps
    decision = rules.evaluate(request.to_application(), deps.today())
    outcome = "EligibilityAllowed" if decision.allowed else "EligibilityRefused"
    metrics().add_metric(name=outcome, unit="Count", value=1)
    return json_response(200, decision.public())


@window.get(f"{BASE}/health", rate_limited=False)
def health() -> Response:
    return json_response(200, {"window": "eligibility", "status": "ok"})


def handle(event: dict[str, Any], context: Any, deps: bootstrap.Deps) -> dict[str, Any]:
    """``app(event, context)`` with ``deps`` instead of the composition root's (tests, benchmarks)."""
    return window.handle(event, context, deps)
