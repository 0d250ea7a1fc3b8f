"""Tokens and headers as API Gateway treats them, at the local gateway (ASGI, no sockets).

- ``exp``, ``nbf`` and ``iat`` are JSON numbers (RFC 7519 NumericDate): a string is refused (401)
  even where the verifier (pyjwt) would coerce it, and nothing refused is cached;
- the token cache never outlives a token: an entry lives until the token's ``exp`` and a token
  without ``exp`` is verified on every request;
- the request line and headers together are bounded as API Gateway HTTP API bounds them (10240
  bytes): past it 431 before the token is verified or cached.

Time is the rig's injected clock; nothing here reads the wall clock to decide a result.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from test_gateway import NOW, Rig

from hms.local.devauth import DevIssuer
from hms.local.gateway import MAX_REQUEST_LINE_AND_HEADERS

ROUTE = "/api/v1/payments/p-1"


@pytest.fixture
def rig() -> Rig:
    return Rig()


def with_token(rig: Rig, name: str, **claims: Any) -> str:
    rig.verifier.tokens[name] = {"sub": "alice", "scope": "payments.read", **claims}
    return name


# -- NumericDate claims -----------------------------------------------------------------------------
@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "value",
    [str(int(NOW) + 600), f"{NOW + 600}", True, None, [int(NOW) + 600], {"at": 1}],
    ids=["digits-string", "decimal-string", "bool", "null", "array", "object"],
)
def test_a_date_claim_that_is_not_a_json_number_is_401_and_never_cached(
    rig: Rig, claim: str, value: Any
) -> None:
    claims: dict[str, Any] = {"exp": int(NOW) + 600, claim: value}
    token = with_token(rig, "odd", **claims)
    app = rig.app()

    first = rig.call("GET", ROUTE, token=token, app=app)
    second = rig.call("GET", ROUTE, token=token, app=app)

    assert first.status == second.status == 401
    assert f"the {claim} claim must be a JSON number" in first.json()["detail"]
    assert 'error="invalid_token"' in (first.header("www-authenticate") or "")
    assert rig.verifier.calls == 2  # refused each time, never cached
    assert rig.invoker.events == []


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_exp_is_refused(rig: Rig, value: float) -> None:
    token = with_token(rig, "odd", exp=value)

    assert rig.call("GET", ROUTE, token=token).status == 401


def test_a_string_exp_is_not_cached_past_the_expiry_it_names(rig: Rig) -> None:
    # The audit's case: exp "NOW+5" was accepted and then cached for 60 s.
    token = with_token(rig, "string-exp", exp=str(int(NOW) + 5))
    app = rig.app()

    assert rig.call("GET", ROUTE, token=token, app=app).status == 401
    rig.clock.now = NOW + 30
    assert rig.call("GET", ROUTE, token=token, app=app).status == 401


def test_numeric_date_claims_as_integers_or_fractions_are_accepted(rig: Rig) -> None:
    token = with_token(rig, "fine", exp=NOW + 600.5, nbf=int(NOW) - 1, iat=NOW - 1.25)

    assert rig.call("GET", ROUTE, token=token).status == 200


def test_a_cached_token_is_verified_again_once_its_exp_is_reached(rig: Rig) -> None:
    token = with_token(rig, "brief", exp=int(NOW) + 5)
    app = rig.app()
    assert rig.call("GET", ROUTE, token=token, app=app).status == 200
    rig.clock.now = NOW + 4.999
    assert rig.call("GET", ROUTE, token=token, app=app).status == 200
    assert rig.verifier.calls == 1

    rig.clock.now = NOW + 5  # exp itself: the token is no longer valid (RFC 7519: on or after)
    rig.verifier.tokens.pop(token)  # the verifier now refuses it, as a real one would
    assert rig.call("GET", ROUTE, token=token, app=app).status == 401
    assert rig.verifier.calls == 2


def test_a_token_without_exp_is_verified_on_every_request(rig: Rig) -> None:
    token = with_token(rig, "forever")
    app = rig.app()

    for _ in range(3):
        assert rig.call("GET", ROUTE, token=token, app=app).status == 200

    assert rig.verifier.calls == 3


def test_the_dev_issuer_with_a_string_exp_is_refused_at_the_gateway(tmp_path: Path) -> None:
    issuer = DevIssuer(tmp_path)
    key = issuer._load()
    now = int(time.time())  # pyjwt checks exp against the real clock: a far future keeps it valid
    claims = {"iss": issuer.issuer, "aud": issuer.audience, "sub": "alice", "scope": "payments.read"}
    token = jwt.encode(
        {**claims, "iat": now, "exp": str(now + 3600)}, key, algorithm="RS256", headers={"kid": issuer.kid}
    )
    assert issuer.verify(token)["exp"] == str(now + 3600)  # pyjwt coerces; the gateway must not

    rig = Rig()
    rig.verifier = issuer  # type: ignore[assignment]
    answer = rig.call("GET", ROUTE, token=token)

    assert answer.status == 401
    assert "the exp claim must be a JSON number" in answer.json()["detail"]


# -- request line and header size --------------------------------------------------------------------
def header_filler(size: int) -> list[tuple[str, str]]:
    return [("x-filler", "a" * size)]


def request_size(rig: Rig, method: str, path: str, headers: list[tuple[str, str]], token: str) -> int:
    """What the gateway counts: the request line and every header name and value."""
    line = len(f"{method} {path} HTTP/1.1")
    sent = [*headers, ("host", "localhost:3000"), ("authorization", f"Bearer {token}")]
    return line + sum(len(k) + len(v) for k, v in sent)


def test_a_one_megabyte_header_is_431_before_the_token_is_verified(rig: Rig) -> None:
    app = rig.app()

    answer = rig.call("GET", ROUTE, token="reader", headers=header_filler(1024 * 1024), app=app)

    assert answer.status == 431
    problem = answer.json()
    assert problem["type"].endswith("/request-header-fields-too-large")
    assert str(MAX_REQUEST_LINE_AND_HEADERS) in problem["detail"]
    assert answer.header("content-type") == "application/problem+json"
    assert answer.header("connection") == "close"
    assert rig.verifier.calls == 0
    assert rig.invoker.events == []


def test_an_oversized_token_is_431_and_never_verified_or_cached(rig: Rig) -> None:
    big = with_token(rig, "t" * (MAX_REQUEST_LINE_AND_HEADERS + 1), exp=int(NOW) + 600)
    app = rig.app()

    assert rig.call("GET", ROUTE, token=big, app=app).status == 431
    assert rig.verifier.calls == 0
    assert app._tokens == {}


def test_headers_exactly_at_the_limit_pass_and_one_byte_more_is_431(rig: Rig) -> None:
    base = request_size(rig, "GET", ROUTE, header_filler(0), "reader")
    fits = header_filler(MAX_REQUEST_LINE_AND_HEADERS - base)

    assert request_size(rig, "GET", ROUTE, fits, "reader") == MAX_REQUEST_LINE_AND_HEADERS
    assert rig.call("GET", ROUTE, token="reader", headers=fits).status == 200
    over = header_filler(MAX_REQUEST_LINE_AND_HEADERS - base + 1)
    assert rig.call("GET", ROUTE, token="reader", headers=over).status == 431


def test_a_long_query_string_counts_toward_the_limit(rig: Rig) -> None:
    answer = rig.call("GET", ROUTE, token="reader", query="q=" + "x" * MAX_REQUEST_LINE_AND_HEADERS)

    assert answer.status == 431
    assert rig.verifier.calls == 0


def test_the_limit_applies_before_routing_too(rig: Rig) -> None:
    answer = rig.call("GET", "/api/v1/nowhere", headers=header_filler(20_000))

    assert answer.status == 431


def test_the_limit_is_injectable(rig: Rig) -> None:
    app = rig.app(max_header_bytes=200)

    assert rig.call("GET", ROUTE, token="reader", headers=header_filler(150), app=app).status == 431
    assert rig.call("GET", ROUTE, token="reader", app=app).status == 200
