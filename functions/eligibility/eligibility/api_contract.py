"""The eligibility window's HTTP contract, for ``docs/openapi.json`` (``hms template``).

The request body is the window's own model (``eligibility.models.CheckRequest``); the answer is
described here, field for field what ``eligibility.rules.Decision.public`` returns. The app never
imports this module.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from eligibility.models import CheckRequest
from eligibility.rules import ReasonCode
from hmskit.apidoc import Operation, health

BASE = "/api/v1/eligibility"
DESCRIPTION = (
    "Whether a passport may be renewed online (a Chalice app). The passport window asks it with the "
    "citizen's own token before it stores a renewal."
)


class Reason(BaseModel):
    """One rule the application fails, and what the citizen must do instead."""

    code: ReasonCode
    message: str


class Decision(BaseModel):
    """Every failing rule, in a fixed order; allowed when none fails."""

    allowed: bool
    reasons: list[Reason] = Field(description="empty when allowed")
    checked_on: date = Field(
        description="the day the rules were applied: today's date in the service time zone "
        "(the window's setting, UTC by default)"
    )


OPERATIONS = {
    ("POST", f"{BASE}/check"): Operation(
        operation_id="checkEligibility",
        summary="Check whether a passport may be renewed online",
        description=(
            "Strict: exactly these fields, JSON types as declared (a boolean is `true`/`false`), "
            "dates as `YYYY-MM-DD` strings. A refusal is an answer (200, `allowed: false`, with "
            "`reasons`), not an error. Dates that contradict each other or today are 422: "
            "`date_of_birth` and `passport_issued_on` are not in the future, `passport_issued_on` is "
            "not before `date_of_birth`, and `passport_expires_on` is after `passport_issued_on` "
            "(JSON Schema cannot compare two fields, so this is said here)."
        ),
        request=CheckRequest,
        examples={
            "adult renewal": {
                "full_name": "Jane Doe",
                "date_of_birth": "1990-04-02",
                "passport_issued_on": "2017-09-01",
                "passport_expires_on": "2027-03-01",
            }
        },
        response=Decision,
        response_description="The decision.",
        errors={422: "Dates contradict each other or today (each named in `errors`)."},
    ),
    ("GET", f"{BASE}/health"): health("eligibility"),
}
