"""Bad input gets a 4xx, never a 500: deep JSON and control characters, on every window.

Each window is called through its real handler with the least it needs to parse a body (settings,
no rate limiter): the body is refused before any port is touched.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from helpers import http_event
from support.kit import FakeClock

from hms.apigw import build_v1_event
from hmskit.context import LocalContext
from hmskit.jsonbody import MAX_DEPTH, depth_exceeds, loads
from hmskit.problems import MalformedJSONError
from hmskit.settings import WindowSettings

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

DEEP_ARRAYS = "[" * 2000 + "]" * 2000
DEEP_OBJECTS = '{"a":' * 2000 + "1" + "}" * 2000


def _powertools(window: str) -> Any:
    module = __import__(f"{window}.handler", fromlist=["handle"])
    deps = SimpleNamespace(
        settings=WindowSettings(window=window, table_name="unused", max_body_bytes=64 * 1024),
        rate_limiter=None,
        idempotency=None,
        consumer=None,
        relay=None,
    )
    return lambda event: module.handle(event, LocalContext(), deps)


def _chalice() -> Any:
    from eligibility import bootstrap
    from eligibility.app import handle

    settings = WindowSettings(window="eligibility", table_name="unused", max_body_bytes=64 * 1024)
    deps = bootstrap.build(settings, clock=FakeClock())

    def call(event: dict[str, Any]) -> dict[str, Any]:
        return handle(build_v1_event(event, resource=event["rawPath"]), LocalContext(), deps)

    return call


JSON_ROUTES = {
    "payments": "/api/v1/payments",
    "passport": "/api/v1/renewals",
    "documents": "/api/v1/docs/uploads",
    "eligibility": "/api/v1/eligibility/check",
}


def _post(window: str, body: str) -> dict[str, Any]:
    call = _chalice() if window == "eligibility" else _powertools(window)
    path = JSON_ROUTES[window]
    return call(http_event("POST", path, body=body, content_type="application/json"))  # type: ignore[no-any-return]


def _problem(result: dict[str, Any], status: int) -> dict[str, Any]:
    assert result["statusCode"] == status, result.get("body")
    headers = {k.lower(): v for k, v in result["headers"].items()}
    assert headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(result["body"])
    assert body["status"] == status
    return body


@pytest.mark.parametrize("window", sorted(JSON_ROUTES))
@pytest.mark.parametrize("body", [DEEP_ARRAYS, DEEP_OBJECTS], ids=["arrays", "objects"])
def test_a_body_nested_2000_levels_deep_is_400_problem_json_on_every_window(window: str, body: str) -> None:
    problem = _problem(_post(window, body), 400)

    assert problem["type"].endswith("/malformed-json")
    assert f"more than {MAX_DEPTH} levels deep" in problem["detail"]


@pytest.mark.parametrize("window", sorted(JSON_ROUTES))
def test_a_body_just_over_the_nesting_bound_is_400_on_every_window(window: str) -> None:
    body = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)

    _problem(_post(window, body), 400)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"note": "[" * 500 + "{" * 500, "escaped": '\\"[[[[' * 50}).encode()

    assert not depth_exceeds(text)
    assert loads(text)["note"].startswith("[[[")


def test_nesting_up_to_the_bound_parses_and_one_level_more_is_malformed() -> None:
    at_bound = ("[" * MAX_DEPTH + "]" * MAX_DEPTH).encode()
    over = ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).encode()

    assert loads(at_bound) is not None
    with pytest.raises(MalformedJSONError):
        loads(over)


def test_many_shallow_brackets_are_not_deep() -> None:
    text = json.dumps([[i] for i in range(5000)]).encode()

    assert not depth_exceeds(text)


# -- control characters in text fields -------------------------------------------------------------
PASSPORT_BODY = {
    "full_name": "Jane Doe",
    "date_of_birth": "1990-04-02",
    "passport_number": "AB123456",
    "passport_issued_on": "2017-09-01",
    "passport_expires_on": "2027-03-01",
    "mailing_address": {
        "line1": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
    },
}
ELIGIBILITY_BODY = {k: PASSPORT_BODY[k] for k in ("full_name", "date_of_birth", "passport_issued_on")} | {
    "passport_expires_on": "2027-03-01"
}
TEXT_FIELDS = [
    ("payments", {"amount": "12.50", "currency": "USD", "purpose": "{}"}, "purpose"),
    ("passport", PASSPORT_BODY | {"full_name": "{}"}, "full_name"),
    ("passport", PASSPORT_BODY | {"name_on_passport": "{}"}, "name_on_passport"),
    (
        "passport",
        PASSPORT_BODY | {"mailing_address": PASSPORT_BODY["mailing_address"] | {"line1": "{}"}},  # type: ignore[operator]
        "mailing_address.line1",
    ),
    ("eligibility", ELIGIBILITY_BODY | {"full_name": "{}"}, "full_name"),
    ("documents", {"content_type": "image/jpeg", "size": 10, "filename": "{}"}, "filename"),
]


def _with_text(body: Any, text: str) -> Any:
    if isinstance(body, dict):
        return {k: _with_text(v, text) for k, v in body.items()}
    return text if body == "{}" else body


@pytest.mark.parametrize(
    ("window", "body", "field"), TEXT_FIELDS, ids=lambda v: v if isinstance(v, str) else ""
)
@pytest.mark.parametrize(
    ("char", "name"),
    [("\x00", "NUL"), ("\r", "CR"), ("\n", "LF"), ("\t", "TAB"), ("\x85", "U+0085"), ("\u2028", "U+2028")],
)
def test_a_control_character_in_a_text_field_is_422_naming_the_field(
    window: str, body: dict[str, Any], field: str, char: str, name: str
) -> None:
    result = _post(window, json.dumps(_with_text(body, f"Renewal{char}fee")))

    problem = _problem(result, 422)
    named = {e["field"]: e["reason"] for e in problem["errors"]}
    assert field in named, named
    assert name in named[field]


def test_a_control_character_at_the_end_is_refused_not_stripped() -> None:
    body = {"amount": "12.50", "currency": "USD", "purpose": "Renewal fee\r\n"}

    _problem(_post("payments", json.dumps(body)), 422)


def test_text_without_control_characters_is_still_accepted_and_trimmed() -> None:
    from payments.models import CreatePayment

    payment = CreatePayment.model_validate({"amount": "1.00", "purpose": "  Renewal fee ÉÑ 😀 "})

    assert payment.purpose == "Renewal fee ÉÑ 😀"


def test_multiline_text_allows_lf_and_tab_but_not_nul_or_a_lone_cr() -> None:
    from typing import Annotated

    from pydantic import BaseModel, ValidationError

    from hmskit.text import MULTILINE

    class Note(BaseModel):
        text: Annotated[str, MULTILINE]

    assert Note.model_validate({"text": "a\r\n\tb\nc"}).text == "a\n\tb\nc"
    for bad in ("a\x00b", "a\rb", "\x1b[31m"):
        with pytest.raises(ValidationError):
            Note.model_validate({"text": bad})


def test_the_json_schema_of_a_text_field_says_no_control_characters() -> None:
    import re

    from payments.models import CreatePayment

    pattern = CreatePayment.model_json_schema()["properties"]["purpose"]["pattern"]

    assert re.search(pattern, "Renewal fee")
    assert not re.search(pattern, "Renewal\nfee")
    assert not re.search(pattern, "Renewal\x00fee")
